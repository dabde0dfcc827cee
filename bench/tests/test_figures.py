import json

import pytest

from figures import (Run, churn_series, comparison_groups, is_rate_unit, latency_series, load_run,
                     pages_copied_per_write, percentile_of, ratio, reader_scaling_series, relative_cost, role,
                     thread_series, vendor)
from helpers import fig, run, txn_like


def test_ratio_is_value_over_its_in_run_baseline():
    r = txn_like(read=20.0, raw=2.0)
    assert ratio(r, "read_ns") == pytest.approx(10.0)
    assert ratio(r, "raw_read_ns") is None  # no baseline of its own
    assert ratio(r, "not_a_figure") is None


def test_ratio_is_none_when_the_baseline_is_missing_or_zero():
    assert ratio(run({"read_ns": fig(20.0, baseline="raw_read_ns")}), "read_ns") is None
    assert ratio(run({"read_ns": fig(20.0, baseline="raw_read_ns"), "raw_read_ns": fig(0.0)}), "read_ns") is None


def test_relative_cost_is_larger_when_worse_for_times_and_for_throughputs():
    r = txn_like()
    assert relative_cost(r, "read_ns") == pytest.approx(10.0)  # 10x the raw loop's time
    assert relative_cost(r, "durable_tps") == pytest.approx(1000.0 / 60000.0)  # 60x SQLite's rate: small cost


def test_rate_units():
    assert is_rate_unit("tps") and is_rate_unit("req/s") and is_rate_unit("tx/s")
    assert not is_rate_unit("ns") and not is_rate_unit("pages") and not is_rate_unit("%")


def test_figures_without_a_numeric_value_are_left_out():
    r = Run.from_json({"results": {"a_ns": {"value": None, "unit": "ns"}, "b_ns": fig(1.0), "c": "junk"}})
    assert list(r.figures) == ["b_ns"]


def test_vendor_knows_listed_prefixes_and_recognises_unlisted_peers_by_name():
    names = {"read_ns", "raw_read_ns", "acmedb_read_ns", "repl_lag_p50_us"}
    assert vendor("read_ns", names) == "ECSDb"
    assert vendor("raw_read_ns", names) == "raw"
    assert vendor("acmedb_read_ns", names) == "acmedb"  # peer of read_ns though not in PEER_LABELS
    assert vendor("repl_lag_p50_us", names) == "ECSDb"  # "lag_p50_us" is no figure: not a peer


def test_groups_join_baselines_and_peers_transitively_with_ecsdb_first():
    r = txn_like()
    r.figures.update(run({"flecs_read_ns": fig(5.0)}).figures)
    groups = comparison_groups(r)
    read = next(g for g in groups if "read_ns" in g)
    assert set(read) == {"read_ns", "read_many_ns", "raw_read_ns", "sqlite_read_ns", "flecs_read_ns"}
    assert read[:2] == ["read_many_ns", "read_ns"]  # ECSDb figures first
    assert ["durable_tps", "sqlite_wal_full_tps"] in groups
    assert not any("create_ns" in g for g in groups)  # no baseline, no peer: no group


def test_role_marks_ecsdb_side_baselines():
    r = run({"reverse_ref_us": fig(2.0, "us", "reverse_ref_scan_us"), "reverse_ref_scan_us": fig(50.0, "us"),
             "sqlite_read_ns": fig(1.0), "read_ns": fig(1.0)})
    assert role(r, "reverse_ref_us") == "ECSDb"
    assert role(r, "reverse_ref_scan_us") == "in-run baseline"
    assert role(r, "sqlite_read_ns") == "SQLite"


@pytest.mark.parametrize("token,p", [("p50", 50), ("p99", 99), ("p999", 99.9), ("p9999", 99.99), ("max", 100)])
def test_percentile_tokens(token, p):
    assert percentile_of(token) == pytest.approx(p)


def test_latency_series_by_stem_sorted_by_percentile():
    r = txn_like()
    r.figures.update(run({"commit_publish_us": fig(3.0, "us"), "commit_publish_p99_us": fig(5.0, "us")}).figures)
    s = latency_series(r)
    assert s["repl_lag_us"] == [(50.0, 100.0), (99.9, 900.0), (100.0, 2000.0)]
    assert s["commit_publish_us"] == [(50.0, 3.0), (99.0, 5.0)]


def test_thread_series_takes_rates_only_and_the_bare_durable_tps_as_4_threads():
    r = txn_like()
    r.figures.update(run({"durable_tps_1": fig(50.0, "tps"), "scan_ns_8": fig(1.0)}).figures)
    s = thread_series(r)
    assert s["queue_tps"] == [(1, 1e6), (4, 1.5e6)]
    assert s["durable_tps"] == [(1, 50.0), (4, 60000.0)]
    assert "scan_ns" not in s


def test_reader_scaling_is_empty_until_measured():
    assert reader_scaling_series(txn_like()) == {}
    r = run({"read_ns_threads_1": fig(30.0), "read_ns_threads_2": fig(31.0)})
    assert reader_scaling_series(r) == {"read_ns": [(1, 30.0), (2, 31.0)]}
    assert thread_series(r) == {}


def test_churn_and_copies_per_written_row():
    r = txn_like(pages=98.0)
    assert churn_series(r)["pages_copied"] == [(1.0, 98.0), (100.0, 98.0)]
    # 1% of 10,000 entities = 100 rows for 98 copies; 100% = 10,000 rows.
    assert pages_copied_per_write(r) == [(1.0, pytest.approx(0.98)), (100.0, pytest.approx(0.0098))]


def test_config_of_all_is_read_from_the_txn_suite(tmp_path):
    doc = {"config": {"suite": "all", "txn": {"entities": 5, "page_bytes": 4096}, "durability": {"entities": 5}},
           "results": {"churn_1pct_pages_copied": fig(1.0, "pages")}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    r = load_run(path)
    assert r.config_value("entities") == 5 and r.config_value("page_bytes") == 4096
    assert r.config_value("nope") is None
    assert pages_copied_per_write(r) == []  # 1% of 5 entities is less than one row
