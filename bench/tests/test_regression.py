import pytest

from helpers import fig, run, txn_like
from regression import Thresholds, calibrate, compare, config_mismatches, worsening


def by_name(verdicts):
    return {v.name: v for v in verdicts}


def test_worsening():
    assert worsening(10.0, 13.0) == pytest.approx(0.3)
    assert worsening(10.0, 5.0) == pytest.approx(-0.5)


def test_a_slower_machine_is_not_a_regression_when_the_baseline_slowed_alike():
    old = txn_like(read=20.0, raw=2.0)
    new = txn_like(read=60.0, raw=6.0)
    v = by_name(compare([old], [new], Thresholds()))
    assert v["read_ns"].status == "ok" and v["read_ns"].change == pytest.approx(0.0)


def test_a_ratio_beyond_the_threshold_regresses_and_names_its_ratios():
    old = txn_like(read=20.0, raw=2.0)
    new = txn_like(read=50.0, raw=2.0)
    v = by_name(compare([old], [new], Thresholds(floor=0.25, spread={})))["read_ns"]
    assert v.status == "regressed"
    assert (v.old, v.new) == (pytest.approx(10.0), pytest.approx(25.0))
    assert v.change == pytest.approx(1.5) and v.threshold == pytest.approx(1.0)  # uncalibrated: 100%
    at_limit = txn_like(read=40.0, raw=2.0)  # exactly 100% worse: not beyond the threshold
    assert by_name(compare([old], [at_limit], Thresholds()))["read_ns"].status == "ok"
    assert v.basis == "ratio to raw_read_ns"


def test_threshold_is_the_floor_or_the_calibrated_spread_with_margin():
    t = Thresholds(floor=0.25, count_floor=0.02, margin=1.5, uncalibrated=1.0, spread={"a": 0.1, "b": 0.4, "c": 0.0})
    assert t.threshold("a") == pytest.approx(0.25)
    assert t.threshold("b") == pytest.approx(0.6)
    assert t.threshold("c", is_count=True) == pytest.approx(0.02)
    assert t.threshold("unknown") == pytest.approx(1.0)


def test_throughput_ratios_regress_when_they_fall():
    old = txn_like()
    new = txn_like()
    new.figures.update(run({"durable_tps": fig(30000.0, "tps", "sqlite_wal_full_tps")}).figures)
    v = by_name(compare([old], [new], Thresholds(spread={"durable_tps": 0.1})))["durable_tps"]
    assert v.status == "regressed"
    assert (v.old, v.new) == (pytest.approx(60.0), pytest.approx(30.0))  # shown as the suite states them
    assert v.change == pytest.approx(1.0)


def test_improvement_is_reported_not_failed():
    old = txn_like(read=40.0)
    new = txn_like(read=20.0)
    assert by_name(compare([old], [new], Thresholds(spread={"read_ns": 0.1})))["read_ns"].status == "improved"


def test_counts_are_compared_by_value_times_without_baseline_are_unchecked():
    old = txn_like(pages=98.0, queue1=1e6)
    new = txn_like(pages=120.0, queue1=1e3)
    v = by_name(compare([old], [new], Thresholds(spread={"churn_1pct_pages_copied": 0.0})))
    assert v["churn_1pct_pages_copied"].status == "regressed"
    assert v["churn_1pct_pages_copied"].threshold == pytest.approx(0.02)
    assert v["queue_tps_1"].status == "unchecked"  # a 1000x drop, yet an absolute rate proves nothing here
    assert v["raw_read_ns"].status == "unchecked"


def test_missing_and_new_figures_are_listed_not_failed():
    old = txn_like()
    new = txn_like()
    del new.figures["read_many_ns"]
    new.figures.update(run({"flecs_read_ns": fig(3.0, baseline="raw_read_ns")}).figures)
    v = by_name(compare([old], [new], Thresholds()))
    assert v["read_many_ns"].status == "missing"
    assert v["flecs_read_ns"].status == "new"
    assert not any(x.status == "regressed" for x in v.values())


def test_a_vanished_baseline_or_a_changed_one_is_unchecked():
    old = txn_like()
    new = txn_like()
    del new.figures["raw_read_ns"]
    assert by_name(compare([old], [new], Thresholds()))["read_ns"].status == "unchecked"
    new = txn_like()
    new.figures.update(run({"read_ns": fig(20.0, baseline="sqlite_read_ns")}).figures)
    v = by_name(compare([old], [new], Thresholds()))["read_ns"]
    assert v.status == "unchecked" and "raw_read_ns" in v.reason


def test_medians_of_repetitions_ignore_one_descheduled_run():
    old = [txn_like(read=20.0)] * 3
    new = [txn_like(read=20.0), txn_like(read=200.0), txn_like(read=21.0)]
    assert by_name(compare(old, new, Thresholds()))["read_ns"].status == "ok"


def test_config_mismatch_on_entities_or_page_size():
    a = run({}, config={"entities": 1000})
    b = run({}, config={"suite": "all", "txn": {"entities": 2000, "page_bytes": 4096}})
    assert config_mismatches(a, b) == ["entities: 1000 before, 2000 now"]
    assert config_mismatches(a, a) == []


def test_calibrate_spread_of_single_runs_and_of_medians():
    runs = [txn_like(read=r) for r in (20.0, 40.0)]
    spread = calibrate(runs, repetitions=3)
    assert spread["read_ns"] == pytest.approx(1.0)  # two runs: the single-run spread
    assert spread["churn_1pct_pages_copied"] == 0.0
    assert "queue_tps_1" not in spread  # not compared, so not calibrated
    runs = [txn_like(read=r) for r in (20.0, 20.0, 22.0, 22.0, 200.0)]
    # Medians of three out of five: the outlier never becomes a median; 20 and 22 do.
    assert calibrate(runs, repetitions=3)["read_ns"] == pytest.approx(0.1)
