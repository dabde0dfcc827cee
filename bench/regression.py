"""The regression decision of `make bench-check` (bench/check.py), and the calibration of its thresholds from
repeated runs. Pure functions over figures.Run; the reasoning behind the numbers is in check.py's header and
docs/benchmarks.md, "Regression check".

What is compared, per figure:
- a figure with an in-run baseline: its relative cost (figures.relative_cost: value/baseline for costs,
  baseline/value for throughputs, so larger is always worse) in the old run against the new one. A machine
  that is busier or slower slows the figure and its baseline alike; their ratio is what ECSDb controls.
- a figure without a baseline whose unit is a count (bytes, pages, records, %): its value. Those come from
  the code, not the clock (page copies, bytes in use), so they are comparable between runs as they are.
- a time or a rate without a baseline (create_ns, queue_tps_4): not checked. An absolute time on a shared VM
  says more about the neighbours than about ECSDb; these figures are reported as unchecked, by name, so
  nobody mistakes silence for a pass.
"""
from __future__ import annotations

import itertools
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from figures import Run, is_rate_unit, relative_cost

# Units measured by the clock. Without a baseline such a figure is not checked (see above).
_TIME_UNITS = {"ns", "us", "µs", "ms", "s", "ns/row", "us/row"}


def is_clock_unit(unit: str) -> bool:
    return unit.strip().lower() in _TIME_UNITS or is_rate_unit(unit)


@dataclass(frozen=True)
class Thresholds:
    """A figure regresses when its compared quantity grows by more than threshold(name) (0.30 = 30%).

    threshold(name) = max(floor, margin × spread[name]), where spread is how far apart the medians of
    `repetitions` runs of one build came out (calibrate); `count_floor` instead of `floor` for counts
    (their spread is zero or nearly: they do not depend on the clock); `uncalibrated` for a figure that
    the calibration never saw."""

    floor: float = 0.25
    count_floor: float = 0.02
    margin: float = 1.5
    uncalibrated: float = 1.0
    spread: dict | None = None

    def threshold(self, name: str, is_count: bool = False) -> float:
        s = (self.spread or {}).get(name)
        floor = self.count_floor if is_count else self.floor
        if s is None:
            return max(floor, self.uncalibrated)
        return max(floor, self.margin * s)

    @classmethod
    def load(cls, path: str | Path) -> "Thresholds":
        with open(path) as f:
            doc = json.load(f)
        d = cls()
        return cls(doc.get("floor", d.floor), doc.get("count_floor", d.count_floor), doc.get("margin", d.margin),
                   doc.get("uncalibrated", d.uncalibrated), doc.get("spread", {}))


@dataclass(frozen=True)
class Verdict:
    """One figure's comparison. status: "ok", "improved", "regressed", "missing" (in the old results only),
    "new" (in the new results only) or "unchecked" (reason says why). old/new are the compared quantities,
    medians over the repetitions: the ratio to the baseline as the suite states it (value/baseline) for
    figures with a baseline, the value otherwise; change is the relative worsening (+0.30 = 30% worse),
    None when not compared."""

    name: str
    status: str
    old: float | None = None
    new: float | None = None
    change: float | None = None
    threshold: float | None = None
    basis: str = ""  # "ratio to raw_read_ns", "value (pages)"
    reason: str = ""


def compared_quantity(run: Run, name: str) -> tuple[float | None, float | None, str]:
    """(shown, cost, basis) for one figure of one run: `shown` as a reader expects it (the suite's ratio
    value/baseline, or the value), `cost` oriented so larger is worse, or (None, None, reason) when the
    figure is not compared."""
    fig = run.figures[name]
    if fig.baseline is not None:
        cost = relative_cost(run, name)
        if cost is None:
            return None, None, f"baseline {fig.baseline} missing or not positive"
        shown = 1.0 / cost if fig.higher_is_better else cost
        return shown, cost, f"ratio to {fig.baseline}"
    if is_clock_unit(fig.unit):
        return None, None, "time or rate without an in-run baseline"
    if fig.value <= 0:
        return None, None, "value not positive"
    # Counts are costs (bytes, pages, % overhead); none of the suites reports a count where more is better.
    return fig.value, fig.value, f"value ({fig.unit})"


def median_quantity(runs: list[Run], name: str) -> tuple[float | None, float | None, str]:
    """compared_quantity over repetitions of one build: the medians of `shown` and of `cost` over the runs
    that have the figure (one descheduled run does not move a median of three). The basis of the first run
    that has it; (None, None, reason) when no run compares it."""
    shown, costs, basis, reason = [], [], "", "not in any run"
    for run in runs:
        if name not in run.figures:
            continue
        s, c, b = compared_quantity(run, name)
        if c is None:
            reason = b
            continue
        if basis and b != basis:
            return None, None, f"compared {basis} in one run, {b} in another"
        basis = b
        shown.append(s)
        costs.append(c)
    if not costs:
        return None, None, reason
    return statistics.median(shown), statistics.median(costs), basis


def worsening(old_cost: float, new_cost: float) -> float:
    """Relative growth of a cost: 0.25 when the new one is 25% larger; negative for an improvement."""
    return new_cost / old_cost - 1.0


def compare(old: list[Run], new: list[Run], thresholds: Thresholds) -> list[Verdict]:
    """Every figure of either side, in name order, with its verdict. Each side is the repetitions of one
    build (a single run is a list of one)."""
    old_names = {n for r in old for n in r.figures}
    new_names = {n for r in new for n in r.figures}
    out = []
    for name in sorted(old_names | new_names):
        if name not in new_names:
            out.append(Verdict(name, "missing", reason="in the previous results, not in this run"))
            continue
        if name not in old_names:
            out.append(Verdict(name, "new", reason="not in the previous results"))
            continue
        old_shown, old_cost, basis = median_quantity(old, name)
        new_shown, new_cost, new_basis = median_quantity(new, name)
        if old_cost is None or new_cost is None:
            out.append(Verdict(name, "unchecked", old_shown, new_shown,
                               reason=basis if old_cost is None else new_basis))
            continue
        if basis != new_basis:  # the figure's baseline changed between runs: the ratios mean different things
            out.append(Verdict(name, "unchecked", old_shown, new_shown,
                               reason=f"compared {basis} before, {new_basis} now"))
            continue
        change = worsening(old_cost, new_cost)
        limit = thresholds.threshold(name, is_count=basis.startswith("value"))
        if change > limit:
            status = "regressed"
        elif change < -limit / (1.0 + limit):  # the same factor the other way: 1/(1+limit) of the old cost
            status = "improved"
        else:
            status = "ok"
        out.append(Verdict(name, status, old_shown, new_shown, change, limit, basis))
    return out


def config_mismatches(old: Run, new: Run) -> list[str]:
    """Settings that make the two runs incomparable even by ratio: the entity count (a random read over
    200k entities stays in the L3, over 1M it does not) and the page size of ADR 0015's experiment."""
    out = []
    for key in ("entities", "page_bytes"):
        a, b = old.config_value(key), new.config_value(key)
        if a is not None and b is not None and a != b:
            out.append(f"{key}: {a} before, {b} now")
    return out


def calibrate(runs: list[Run], repetitions: int = 3) -> dict[str, float]:
    """{figure: spread} from n repeated runs of one build, for a check that compares medians of
    `repetitions` runs: the largest max/min − 1 between the medians of any two `repetitions`-subsets of the
    runs. With fewer than repetitions + 2 runs there are too few distinct subsets, and the spread of the
    single runs (larger, so safer) is used instead. Figures compared in fewer than two runs are left out
    (they get Thresholds.uncalibrated)."""
    costs: dict[str, list[float]] = {}
    for run in runs:
        for name in run.figures:
            _, cost, _ = compared_quantity(run, name)
            if cost is not None and cost > 0 and math.isfinite(cost):
                costs.setdefault(name, []).append(cost)
    out = {}
    for name, c in sorted(costs.items()):
        if len(c) < 2:
            continue
        if len(c) >= repetitions + 2:
            c = [statistics.median(s) for s in itertools.combinations(c, repetitions)]
        out[name] = round(max(c) / min(c) - 1.0, 4)
    return out
