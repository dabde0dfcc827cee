"""Small results objects in the shape `ecsdb bench --json` prints, for the tests."""
from figures import Run


def fig(value, unit="ns", baseline=None):
    return {"value": value, "unit": unit, "baseline": baseline}


def run(results, config=None, machine=None):
    return Run.from_json({"machine": machine or {"cpus": 2}, "config": config or {"entities": 1000},
                          "results": results})


def txn_like(read=20.0, raw=2.0, queue1=1e6, pages=98.0):
    return run({
        "read_ns": fig(read, baseline="raw_read_ns"),
        "read_many_ns": fig(8.0, baseline="raw_read_ns"),
        "raw_read_ns": fig(raw),
        "sqlite_read_ns": fig(700.0),
        "durable_tps": fig(60000.0, "tps", "sqlite_wal_full_tps"),
        "sqlite_wal_full_tps": fig(1000.0, "tps"),
        "queue_tps_1": fig(queue1, "tps"),
        "queue_tps_4": fig(1.5e6, "tps"),
        "create_ns": fig(40.0),
        "churn_1pct_pages_copied": fig(pages, "pages"),
        "churn_100pct_pages_copied": fig(pages, "pages"),
        "repl_lag_p50_us": fig(100.0, "us"),
        "repl_lag_p999_us": fig(900.0, "us"),
        "repl_lag_max_us": fig(2000.0, "us"),
    }, config={"entities": 10000, "suite": "txn"})
