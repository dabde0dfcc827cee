import json

from helpers import fig
from report import fmt, markdown_table, median_results, render_markdown, runs_of, saved_name


def doc_with_repetitions():
    reps = [{"read_ns": fig(r, baseline="raw_read_ns"), "raw_read_ns": fig(2.0), "queue_tps_1": fig(1e6, "tps"),
             "churn_1pct_pages_copied": fig(98.0, "pages")} for r in (20.0, 30.0, 100.0)]
    return {"machine": {"cpus": 2, "model": "AMD EPYC", "host": "dev vm", "compiler": "g++ 12.2.0"},
            "config": {"suite": "txn", "entities": 200000, "seconds": 3.0, "page_bytes": 16384},
            "results": median_results(reps),
            "run": {"date": "2026-12-01T20:50:00Z", "git": "abc123", "command": "bench txn --json",
                    "repetitions": 3, "note": "shared VM",
                    "load_average": [{"before": [6.1, 5, 4], "after": [8.3, 5, 4]}]},
            "repetitions": [{"results": r} for r in reps]}


def test_median_results_per_figure():
    doc = doc_with_repetitions()
    assert doc["results"]["read_ns"] == {"value": 30.0, "unit": "ns", "baseline": "raw_read_ns"}
    partial = median_results([{"a": fig(1.0)}, {"a": fig(3.0), "b": fig(5.0)}])
    assert partial["a"]["value"] == 2.0 and partial["b"]["value"] == 5.0


def test_runs_of_a_results_file_and_of_plain_cli_output():
    assert len(runs_of(doc_with_repetitions())) == 3
    assert len(runs_of({"results": {"a": fig(1.0)}})) == 1


def test_saved_name_is_date_and_host():
    assert saved_name(doc_with_repetitions()) == "2026-12-01-dev-vm.json"


def test_fmt():
    assert fmt(1234567.0) == "1,234,567"
    assert fmt(123.456) == "123.5"
    assert fmt(0.012345) == "0.0123"
    assert fmt(None) == "—"


def test_markdown_table_escapes_pipes():
    t = markdown_table(["a", "b"], [["x|y", "1"]])
    assert t.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |"]


def test_render_markdown_sections_and_skips():
    md = render_markdown(doc_with_repetitions(), "bench/results/x.json", {"peers": "docs/img/bench/peers.png"})
    # The median value (30) and the median of the per-repetition ratios (10, 15, 50).
    assert "| `read_ns` | ECSDb | 30 | ns | 15× `raw_read_ns` |" in md
    assert "page_bytes = 16384" in md
    assert "6.1–8.3" in md and "shared VM" in md
    assert "![Each ECSDb figure beside its baseline and peers, log scale](docs/img/bench/peers.png)" in md
    assert "## Reader scaling\n\nNot measured yet" in md
    assert "Not measured in this run (no `*_pNN_*` figures)." in md
    assert "| `queue_tps_1` | 1,000,000 | tps |" in md  # under "Other figures"
    assert "| 1% | 98 | 0.049 |" in md  # 98 copies for 2,000 rows
    json.dumps(md)  # plain text, nothing unserialisable slipped in
