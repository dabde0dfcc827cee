"""The figures of one `ecsdb bench SUITE --json` run and what the report and the regression check derive
from them: each figure's ratio to its in-run baseline, which figures belong beside which (baseline and
peers), and the series that the plots draw (latency percentiles, throughput against producer threads, reader
scaling, copy-on-write churn).

Nothing here knows the list of figures: suites and peers (flecs_*, lmdb_*, ...) come and go, so everything is
derived from the names, units and `baseline` fields of the run itself. The few tables below only make the
labels nicer or say what a bare name means.

Pure functions over plain data (no matplotlib, no I/O beyond `load_run`), unit-tested in bench/tests.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# Name prefixes of figures that are not ECSDb: the in-run baselines and the peers measured on the same
# workload. A prefix not listed here is still recognised as a peer when stripping it leaves the name of
# another figure of the run (flecs_read_ns beside read_ns); the table only gives it a nicer label.
PEER_LABELS = {
    "raw": "raw",  # a std::vector loop or the bare syscalls: what the operation costs without a database
    "sqlite": "SQLite",
    "redis": "Redis",
    "flecs": "flecs",
    "entt": "EnTT",
    "lmdb": "LMDB",
    "rocksdb": "RocksDB",
    "leveldb": "LevelDB",
    "duckdb": "DuckDB",
    # the bytes a scan reads at the machine's measured memory bandwidth (membw_gbps): a floor, not a peer
    "membw": "memory bandwidth",
}

# Bare names that are one point of a series whose other points carry a suffix: durable_tps runs 4 producer
# threads beside durable_tps_1 and durable_tps_16; commit_publish_us is the p50 beside commit_publish_p99_us
# (docs/benchmarks.md).
BARE_THREAD_COUNT = {"durable_tps": 4}
BARE_PERCENTILE = {"commit_publish_us": ("commit_publish_us", 50.0)}


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    baseline: str | None = None

    @property
    def higher_is_better(self) -> bool:
        return is_rate_unit(self.unit)


@dataclass
class Run:
    """One results object: {"machine": {...}, "config": {...}, "results": {...}} plus, for runs recorded by
    bench/report.py, "run" (date, host, load average, git revision, note)."""

    machine: dict
    config: dict
    figures: dict[str, Figure]
    run: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: dict) -> "Run":
        figures = {}
        for name, r in doc.get("results", {}).items():
            # A figure without a numeric value (a suite that failed half-way) is left out rather than
            # plotted as zero.
            if not isinstance(r, dict) or not isinstance(r.get("value"), (int, float)):
                continue
            baseline = r.get("baseline")
            figures[name] = Figure(name, float(r["value"]), str(r.get("unit", "")),
                                   baseline if isinstance(baseline, str) and baseline else None)
        return cls(doc.get("machine", {}), doc.get("config", {}), figures, doc.get("run", {}))

    def config_value(self, key: str):
        """A setting of the run: at the top of `config` for one suite, under each suite's name for `all`
        (the txn suite's first, since entities and page_bytes are the txn suite's)."""
        if key in self.config:
            return self.config[key]
        for suite in ("txn", "durability", "server", "replication"):
            sub = self.config.get(suite)
            if isinstance(sub, dict) and key in sub:
                return sub[key]
        return None


def load_run(path: str | Path) -> Run:
    with open(path) as f:
        return Run.from_json(json.load(f))


def is_rate_unit(unit: str) -> bool:
    """Throughputs (tps, req/s, tx/s, ...) improve upwards; every other unit (time, bytes, pages, %) is a cost."""
    u = unit.strip().lower()
    return u in {"tps", "qps", "rps", "ops"} or u.endswith("/s")


def ratio(run: Run, name: str) -> float | None:
    """value ÷ its baseline's value, both from the same run; None when the figure has no baseline, the
    baseline is not in the run, or either value is not positive (a ratio of zeros says nothing)."""
    fig = run.figures.get(name)
    if fig is None or fig.baseline is None:
        return None
    base = run.figures.get(fig.baseline)
    if base is None or fig.value <= 0 or base.value <= 0:
        return None
    return fig.value / base.value


def relative_cost(run: Run, name: str) -> float | None:
    """The ratio oriented so that larger is always worse: value/baseline for costs (ns, ms, bytes),
    baseline/value for throughputs. The regression check compares these between runs."""
    r = ratio(run, name)
    if r is None:
        return None
    return 1.0 / r if run.figures[name].higher_is_better else r


def vendor(name: str, names: set[str] | dict) -> str:
    """Who a figure measures: "ECSDb", or the prefix of a baseline/peer ("raw", "sqlite", "flecs", ...)."""
    prefix, sep, rest = name.partition("_")
    if sep and prefix in PEER_LABELS:
        return prefix
    if sep and rest in names:
        return prefix  # an unlisted peer measuring an ECSDb figure's workload
    return "ECSDb"


def vendor_label(vendor_name: str) -> str:
    return "ECSDb" if vendor_name == "ECSDb" else PEER_LABELS.get(vendor_name, vendor_name)


def role(run: Run, name: str) -> str:
    """What a figure is beside the others of its group: "ECSDb", "in-run baseline" (an ECSDb-side reference
    such as reverse_ref_scan_us, named as a baseline and without one of its own), or a peer's label."""
    v = vendor(name, run.figures)
    if v != "ECSDb":
        return vendor_label(v)
    is_baseline = any(f.baseline == name for f in run.figures.values())
    if is_baseline and run.figures[name].baseline is None:
        return "in-run baseline"
    return "ECSDb"


def comparison_groups(run: Run) -> list[list[str]]:
    """Figures that belong beside each other: a figure and its baseline, and a peer's figure and the ECSDb
    figure of the same name without the peer's prefix, joined transitively (read_ns, read_many_ns and
    sqlite_read_ns all meet at raw_read_ns). Only groups of two or more; ECSDb figures first within a group,
    groups in the order of their first ECSDb figure's name."""
    names = list(run.figures)
    parent = {n: n for n in names}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    for n, fig in run.figures.items():
        if fig.baseline in parent:
            union(n, fig.baseline)
        prefix, sep, rest = n.partition("_")
        if sep and rest in parent and vendor(n, parent) != "ECSDb":
            union(n, rest)
    members: dict[str, list[str]] = {}
    for n in names:
        members.setdefault(find(n), []).append(n)

    def member_key(n: str):
        return (role(run, n) != "ECSDb", n)

    groups = [sorted(g, key=member_key) for g in members.values() if len(g) > 1]
    return sorted(groups, key=lambda g: g[0])


_PERCENTILE = re.compile(r"^(?P<stem>.+)_(?P<p>p\d+|max)_(?P<unit>[a-z]+)$")


def percentile_of(token: str) -> float:
    """"p50" → 50, "p99" → 99, "p999" → 99.9, "p9999" → 99.99, "max" → 100."""
    if token == "max":
        return 100.0
    digits = token[1:]
    if len(digits) > 2 and digits.startswith("99"):
        return float("99." + digits[2:])
    return float(digits)


def latency_series(run: Run) -> dict[str, list[tuple[float, float]]]:
    """{series: [(percentile, value), ...]} for figures named STEM_pNN_UNIT or STEM_max_UNIT (and the bare
    names of BARE_PERCENTILE), sorted by percentile. The series is named STEM_UNIT, e.g. repl_lag_us."""
    series: dict[str, list[tuple[float, float]]] = {}
    for name, fig in run.figures.items():
        if name in BARE_PERCENTILE:
            stem, p = BARE_PERCENTILE[name]
            series.setdefault(stem, []).append((p, fig.value))
            continue
        m = _PERCENTILE.match(name)
        if m:
            series.setdefault(f"{m['stem']}_{m['unit']}", []).append((percentile_of(m["p"]), fig.value))
    return {k: sorted(v) for k, v in sorted(series.items())}


_THREADS = re.compile(r"^(?P<stem>.+)_(?P<n>\d+)$")


def thread_series(run: Run) -> dict[str, list[tuple[int, float]]]:
    """Throughput against producer threads: {stem: [(threads, value)]} for rate figures named STEM_N
    (queue_tps_1, queue_tps_4, durable_tps_16) plus the bare names of BARE_THREAD_COUNT. Series of a single
    point are dropped: a line needs two."""
    series: dict[str, list[tuple[int, float]]] = {}
    for name, fig in run.figures.items():
        if not fig.higher_is_better:
            continue
        if name in BARE_THREAD_COUNT:
            series.setdefault(name, []).append((BARE_THREAD_COUNT[name], fig.value))
            continue
        m = _THREADS.match(name)
        if m and "_threads_" not in name:
            series.setdefault(m["stem"], []).append((int(m["n"]), fig.value))
    return {k: sorted(v) for k, v in sorted(series.items()) if len(v) > 1}


_READER_THREADS = re.compile(r"^(?P<stem>.+)_threads_(?P<n>\d+)$")


def reader_scaling_series(run: Run) -> dict[str, list[tuple[int, float]]]:
    """Reads or scans from N reader threads: {stem: [(threads, value)]} for figures named STEM_threads_N
    (read_ns_threads_4, scan_ns_per_row_threads_2). Empty when the run did not measure it."""
    series: dict[str, list[tuple[int, float]]] = {}
    for name, fig in run.figures.items():
        m = _READER_THREADS.match(name)
        if m:
            series.setdefault(m["stem"], []).append((int(m["n"]), fig.value))
    return {k: sorted(v) for k, v in sorted(series.items())}


_CHURN = re.compile(r"^churn_(?P<pct>\d+(?:\.\d+)?)pct_(?P<what>.+)$")


def churn_series(run: Run) -> dict[str, list[tuple[float, float]]]:
    """{"pages_copied": [(percent of entities written, pages)], "extra_memory_pct": [...]} from the
    churn_<P>pct_<what> figures of the txn suite."""
    series: dict[str, list[tuple[float, float]]] = {}
    for name, fig in run.figures.items():
        m = _CHURN.match(name)
        if m:
            series.setdefault(m["what"], []).append((float(m["pct"]), fig.value))
    return {k: sorted(v) for k, v in sorted(series.items())}


def pages_copied_per_write(run: Run) -> list[tuple[float, float]]:
    """[(percent written, page copies per written row)]: one commit writes pct% of the txn suite's entities,
    so its page copies divided by that row count is what one write cost in copies. Empty without the
    entity count or the churn figures."""
    entities = run.config_value("entities")
    if not isinstance(entities, (int, float)) or entities <= 0:
        return []
    out = []
    for pct, pages in churn_series(run).get("pages_copied", []):
        rows = entities * pct / 100.0
        if rows >= 1:
            out.append((pct, pages / rows))
    return out
