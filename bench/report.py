#!/usr/bin/env python3
"""Records `ecsdb bench` runs and turns them into BENCHMARKS.md and its plots (`make bench`).

    bench/report.py run --ecsdb build/ecsdb --out FILE [--suite all] [--entities N] [--seconds S]
                        [--repetitions R] [--note TEXT] [-- EXTRA ECSDB BENCH ARGS]
        Runs `ecsdb bench SUITE --json` R times and writes one results file: the median of each figure over
        the repetitions in "results" (the shape every suite prints), each repetition's own results under
        "repetitions", and under "run" the date, host, kernel, git revision, command, note and the load
        average before and after each repetition (the machine may be shared; the load says how much).
    bench/report.py render FILE [--save] [--markdown BENCHMARKS.md] [--img-dir docs/img/bench]
        Writes the markdown report and its PNG plots from a results file; --save first copies the file to
        bench/results/<YYYY-MM-DD>-<host>.json, the file the report then names and `make bench-check`
        compares against once committed.

The figures are not listed anywhere here: the report takes whatever the run has (bench/figures.py derives
groups and series from names, units and baselines), so a new suite or peer shows up without code changes.
Plots need Debian's python3-matplotlib (scripts/install-bench-deps.sh); the rest is the standard library.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # run from the source tree: leave no __pycache__ beside the scripts
sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import (Figure, Run, churn_series, comparison_groups, latency_series,  # noqa: E402
                     pages_copied_per_write, reader_scaling_series, role, thread_series)

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"


# ---------------------------------------------------------------------------------------------- results files

def runs_of(doc: dict) -> list[Run]:
    """The repetitions of a results file as runs (sharing its machine and config); a file written by the
    CLI itself, without repetitions, is one run."""
    reps = doc.get("repetitions")
    if not reps:
        return [Run.from_json(doc)]
    return [Run.from_json({"machine": doc.get("machine", {}), "config": doc.get("config", {}),
                           "results": rep.get("results", {}), "run": doc.get("run", {})}) for rep in reps]


def median_results(results: list[dict]) -> dict:
    """{"name": {"value": median, "unit": .., "baseline": ..}} over repetitions' "results" objects; a figure
    missing from some repetitions is the median of those that have it."""
    out: dict[str, dict] = {}
    for name in sorted({n for r in results for n in r}):
        values = [r[name]["value"] for r in results if name in r and isinstance(r[name].get("value"), (int, float))]
        if not values:
            continue
        first = next(r[name] for r in results if name in r)
        out[name] = {"value": round(statistics.median(values), 3), "unit": first.get("unit", ""),
                     "baseline": first.get("baseline")}
    return out


def load_average() -> list[float]:
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return []


def git_revision() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record(args: argparse.Namespace) -> int:
    command = [args.ecsdb, "bench", args.suite, "--json", "--entities", str(args.entities),
               "--seconds", str(args.seconds), *args.extra]
    reps, loads = [], []
    for i in range(args.repetitions):
        print(f"report.py: repetition {i + 1}/{args.repetitions}: {' '.join(command)}", file=sys.stderr)
        before = load_average()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            print(f"report.py: {command[0]} exited {done.returncode}", file=sys.stderr)
            return 1
        reps.append(json.loads(done.stdout))
        loads.append({"before": before, "after": load_average()})
    first = reps[0]
    doc = {
        "machine": {**first.get("machine", {}), "host": socket.gethostname(), "kernel": platform.release()},
        "config": first.get("config", {}),
        "results": median_results([r.get("results", {}) for r in reps]),
        "run": {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "git": git_revision(),
                "command": " ".join(command[1:]), "repetitions": len(reps), "load_average": loads,
                "note": args.note},
        "repetitions": [{"results": r.get("results", {})} for r in reps],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"report.py: wrote {args.out}", file=sys.stderr)
    return 0


def saved_name(doc: dict) -> str:
    date = str(doc.get("run", {}).get("date", ""))[:10] or dt.date.today().isoformat()
    host = doc.get("machine", {}).get("host") or socket.gethostname()
    safe_host = "".join(c if c.isalnum() or c in "-_" else "-" for c in host)
    return f"{date}-{safe_host}.json"


# ---------------------------------------------------------------------------------------------- markdown

def fmt(v: float | None) -> str:
    """Values at the precision the noise allows: integers with separators from 1,000 up, 3 significant
    digits below."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.3g}"


def percentile_label(p: float) -> str:
    return "max" if p >= 100 else f"p{p:g}"


def median_ratio(runs: list[Run], name: str) -> float | None:
    """The median over repetitions of value ÷ baseline (a median of ratios, as bench-check compares)."""
    from figures import ratio
    rs = [r for r in (ratio(run, name) for run in runs if name in run.figures) if r is not None]
    return statistics.median(rs) if rs else None


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub table; pipes inside cells are escaped so a figure name cannot break the layout."""
    def cell(s: str) -> str:
        return str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def figure_row(summary: Run, runs: list[Run], name: str) -> list[str]:
    fig: Figure = summary.figures[name]
    r = median_ratio(runs, name)
    vs = f"{r:.3g}× `{fig.baseline}`" if r is not None else ""
    return [f"`{name}`", role(summary, name), fmt(fig.value), fig.unit, vs]


def describe_load(run_info: dict) -> str:
    loads = run_info.get("load_average") or []
    ones = [x for ld in loads for x in (ld.get("before", [None])[:1] + ld.get("after", [None])[:1]) if x is not None]
    if not ones:
        return "not recorded"
    return f"{min(ones):.1f}–{max(ones):.1f} (1-minute load average before and after each repetition)"


def render_markdown(doc: dict, source: str, images: dict[str, str]) -> str:
    """BENCHMARKS.md from a results file. `images` maps a section ("peers", "latency", "threads",
    "readers", "churn") to the image's path relative to the markdown file; a section whose plot was not
    drawn (matplotlib missing, nothing measured) gets its table alone or a "not measured" line."""
    summary = Run.from_json(doc)
    runs = runs_of(doc)
    machine, info = doc.get("machine", {}), doc.get("run", {})
    cpus = machine.get("cpus", "?")
    out = ["# ECSDb benchmarks", "",
           f"<!-- Generated by bench/report.py from {source} (`make bench`); edit the generator, not this file. -->",
           "",
           "The numbers of the latest `make bench` run on the machine below, each figure beside its in-run "
           "baseline and peers (docs/benchmarks.md defines every figure and how it is measured). Read the "
           "ratios, not the absolute times: the baseline runs in the same process, seconds apart, on the same "
           "machine, so a busy neighbour moves both.", ""]

    out += ["## Machine and run", ""]
    rows = [["date", str(info.get("date", "?"))],
            ["machine", f"{machine.get('model', '?')}, {cpus} CPUs, host `{machine.get('host', '?')}`, "
                        f"Linux {machine.get('kernel', '?')}"],
            ["compiler", str(machine.get("compiler", "?"))],
            ["revision", f"`{info.get('git', '?')}`"],
            ["load", describe_load(info)]]
    if info.get("note"):
        rows.append(["note", str(info["note"])])
    entities, seconds = summary.config_value("entities"), summary.config_value("seconds")
    config = f"{entities:,} entities, {seconds} s per suite" if isinstance(entities, int) else json.dumps(doc.get("config", {}))
    page_bytes = summary.config_value("page_bytes")
    if page_bytes is not None:
        config += f", page_bytes = {page_bytes}"
    rows.append(["config", config])
    reps = info.get("repetitions", len(runs))
    rows.append(["repetitions", f"{reps} (each value is the median over them; each ratio the median of the "
                                f"per-repetition ratios)"])
    rows.append(["results file", f"`{source}`"])
    out += [markdown_table(["", ""], rows), ""]

    out += ["To reproduce (Debian 12; `make` installs what is missing):", "", "```sh",
            f"make bench BENCH_ENTITIES={entities} BENCH_SECONDS={seconds} BENCH_RUNS={reps}"
            "   # runs the suites, saves bench/results/<date>-<host>.json, rewrites this file",
            f"./build/ecsdb bench {info.get('command', 'bench all --json').removeprefix('bench ')}"
            "   # one repetition by hand",
            "make bench-check   # compares a fresh run with the newest committed results (docs/benchmarks.md)",
            "```", ""]

    groups = comparison_groups(summary)
    grouped = {n for g in groups for n in g}
    out += ["## ECSDb beside its baselines and peers", ""]
    if "peers" in images:
        out += [f"![Each ECSDb figure beside its baseline and peers, log scale]({images['peers']})", ""]
    table = []
    for g in groups:
        table += [figure_row(summary, runs, n) for n in g]
    out += [markdown_table(["figure", "who", "value", "unit", "vs baseline"], table) if table
            else "No figure of this run has a baseline or a peer.", ""]

    out += ["## Latency percentiles", ""]
    lat = latency_series(summary)
    if lat:
        if "latency" in images:
            out += [f"![Latency percentiles]({images['latency']})", ""]
        out += [markdown_table(["series", "percentiles"],
                               [[f"`{k}`", ", ".join(f"{percentile_label(p)}: {fmt(v)}" for p, v in pts)] for k, pts in lat.items()]), ""]
    else:
        out += ["Not measured in this run (no `*_pNN_*` figures).", ""]

    out += ["## Throughput against producer threads", ""]
    thr = thread_series(summary)
    if thr:
        if "threads" in images:
            out += [f"![Throughput against producer threads]({images['threads']})", ""]
        out += [markdown_table(["series", "threads: value"],
                               [[f"`{k}`", ", ".join(f"{n}: {fmt(v)}" for n, v in pts)] for k, pts in thr.items()]), ""]
    else:
        out += ["Not measured in this run (no `*_tps_N` figures).", ""]

    out += ["## Reader scaling", ""]
    rd = reader_scaling_series(summary)
    if rd:
        if "readers" in images:
            out += [f"![Reader scaling]({images['readers']})", ""]
        out += [markdown_table(["series", "threads: value"],
                               [[f"`{k}`", ", ".join(f"{n}: {fmt(v)}" for n, v in pts)] for k, pts in rd.items()]), ""]
    else:
        out += ["Not measured yet: no suite reports reads or scans from several reader threads "
                "(`read_ns_threads_N`, `scan_ns_per_row_threads_N`); the plot appears once one does.", ""]

    out += ["## Page copies per write", ""]
    churn = churn_series(summary)
    if churn:
        if "churn" in images:
            out += [f"![Copy-on-write page copies]({images['churn']})", ""]
        per_write = dict(pages_copied_per_write(summary))
        rows = []
        for pct, pages in churn.get("pages_copied", []):
            extra = dict(churn.get("extra_memory_pct", [])).get(pct)
            rows.append([f"{pct:g}%", fmt(pages), fmt(per_write.get(pct)), fmt(extra) + (" %" if extra is not None else "")])
        note = (f" Pages of {page_bytes} bytes." if page_bytes is not None else "")
        out += ["One commit writes a field of the given share of the entities, chosen at random, while a view "
                "pinned before it is held: the page copies it makes, per commit and per written row, and the "
                f"memory kept for the held view.{note}", "",
                markdown_table(["rows written", "pages copied", "copies per written row", "extra memory"], rows), ""]
    else:
        out += ["Not measured in this run (no `churn_*` figures).", ""]

    shown = grouped | {n for n in summary.figures if n.startswith("churn_")}
    rest = [n for n in summary.figures if n not in shown]
    out += ["## Other figures", "", "Figures with neither a baseline nor a peer in this run.", ""]
    out += [markdown_table(["figure", "value", "unit"],
                           [[f"`{n}`", fmt(summary.figures[n].value), summary.figures[n].unit] for n in rest]), ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- plots

ROLE_COLOURS = {"ECSDb": "#1f77b4", "in-run baseline": "#7f7f7f"}
PEER_COLOURS = ["#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
DPI = 80  # small PNGs: they are committed with every results file


def colour_for(role_name: str, peers: list[str]) -> str:
    if role_name in ROLE_COLOURS:
        return ROLE_COLOURS[role_name]
    if role_name not in peers:
        peers.append(role_name)
    return PEER_COLOURS[peers.index(role_name) % len(PEER_COLOURS)]


def plot_peers(plt, run: Run, path: Path) -> bool:
    groups = comparison_groups(run)
    if not groups:
        return False
    cols = 3
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(13, 1.9 * rows + 0.6), squeeze=False)
    peers: list[str] = []
    used_roles: dict[str, str] = {}
    for ax, g in zip(axes.flat, groups):
        values = [run.figures[n].value for n in g]
        roles = [role(run, n) for n in g]
        colours = [colour_for(r, peers) for r in roles]
        for r, c in zip(roles, colours):
            used_roles.setdefault(r, c)
        y = range(len(g))[::-1]
        ax.barh(list(y), values, color=colours)
        ax.set_yticks(list(y), g, fontsize=8)
        ax.set_xscale("log")  # ratios of 20× and more sit beside ratios near 1
        units = sorted({run.figures[n].unit for n in g})
        ax.set_title(f"{g[0]} ({', '.join(units)})", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        for yi, v in zip(y, values):
            ax.text(v, yi, f" {fmt(v)}", va="center", fontsize=7)
        ax.set_xlim(min(values) / 2, max(values) * 6)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in used_roles.values()]
    fig.legend(handles, list(used_roles), loc="upper center", ncol=len(used_roles), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (1.9 * rows + 0.6)))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def nines(p: float) -> float:
    """The percentile axis in "nines" (p50, p90, p99, p99.9 evenly apart), as bench/plot_lag.py draws it;
    the maximum is drawn at p99.99."""
    return math.log10(100 / (100 - min(p, 99.99)))


def plot_latency(plt, run: Run, path: Path) -> bool:
    series = latency_series(run)
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for i, (name, pts) in enumerate(series.items()):
        ax.plot([nines(p) for p, _ in pts], [v for _, v in pts], marker="o",
                color=(PEER_COLOURS + ["#1f77b4", "#17becf", "#bcbd22"])[i % 9], label=name)
    ticks = [50, 90, 99, 99.9, 100]
    ax.set_xticks([nines(p) for p in ticks], ["p50", "p90", "p99", "p99.9", "max"])
    ax.set_yscale("log")
    ax.set_ylabel("latency (unit in the series name)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def plot_threads(plt, series: dict, path: Path, ylabel: str) -> bool:
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, pts in series.items():
        ax.plot([n for n, _ in pts], [v for _, v in pts], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ns = sorted({n for pts in series.values() for n, _ in pts})
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("threads")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def plot_readers(plt, series: dict, path: Path) -> bool:
    """Reader scaling in four panels, one unit each: time per read or row, aggregate reads/s, the writer's
    tick, and the bytes its page copies moved per tick (those two series start at 0 readers, the writer
    alone). Thread counts on a linear axis: 0 has no place on a log one."""
    if not series:
        return False
    panels = [
        ("ns per read or row", [k for k in series if k.endswith("_ns") or k.endswith("_ns_per_row")]),
        ("Mops/s, all readers", [k for k in series if k.endswith("_mops")]),
        ("writer tick (µs)", [k for k in series if k.startswith("writer_tick_us")]),
        ("writer's copies (KB per tick)", [k for k in series if k.startswith("writer_tick_kb")]),
    ]
    panels = [(label, names) for label, names in panels if names]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.4), squeeze=False)
    for ax, (label, names) in zip(axes[0], panels):
        for name in names:
            pts = series[name]
            ax.plot([n for n, _ in pts], [v for _, v in pts], marker="o", label=name)
        ns = sorted({n for name in names for n, _ in series[name]})
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.set_xlabel("reader threads")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def plot_churn(plt, run: Run, path: Path) -> bool:
    churn = churn_series(run)
    pages = churn.get("pages_copied", [])
    if not pages:
        return False
    per_write = pages_copied_per_write(run)
    fig, axes = plt.subplots(1, 2 if per_write else 1, figsize=(10 if per_write else 5.5, 3.6), squeeze=False)
    ax = axes[0][0]
    ax.plot([p for p, _ in pages], [v for _, v in pages], marker="o")
    ax.set_xscale("log")
    ax.set_xlabel("rows written by one commit (% of entities)")
    ax.set_ylabel("pages copied by the commit")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if per_write:
        ax = axes[0][1]
        ax.plot([p for p, _ in per_write], [v for _, v in per_write], marker="o", color="#ff7f0e")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows written by one commit (% of entities)")
        ax.set_ylabel("page copies per written row")
        ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def draw_plots(run: Run, img_dir: Path) -> dict[str, Path]:
    """The PNGs this run has data for, {section: path}; none (with a note on stderr) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display on a build machine
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: matplotlib is missing (scripts/install-bench-deps.sh): the report has no plots",
              file=sys.stderr)
        return {}
    img_dir.mkdir(parents=True, exist_ok=True)
    drawn = {}
    todo = {
        "peers": lambda p: plot_peers(plt, run, p),
        "latency": lambda p: plot_latency(plt, run, p),
        "threads": lambda p: plot_threads(plt, thread_series(run), p, "transactions/s"),
        "readers": lambda p: plot_readers(plt, reader_scaling_series(run), p),
        "churn": lambda p: plot_churn(plt, run, p),
    }
    for section, draw in todo.items():
        path = img_dir / f"{section}.png"
        if draw(path):
            drawn[section] = path
        elif path.exists():
            path.unlink()  # a plot of an earlier run that this one cannot redraw would be stale
    return drawn


def render(args: argparse.Namespace) -> int:
    with open(args.file) as f:
        doc = json.load(f)
    source = Path(args.file).resolve()
    if args.save:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        dest = RESULTS_DIR / saved_name(doc)
        if dest.resolve() != source:
            shutil.copyfile(source, dest)
        source = dest.resolve()
        print(f"report.py: saved {dest.relative_to(REPO)}", file=sys.stderr)
    markdown = Path(args.markdown).resolve()
    drawn = draw_plots(Run.from_json(doc), Path(args.img_dir).resolve())
    images = {k: os.path.relpath(p, markdown.parent) for k, p in drawn.items()}
    try:
        shown_source = str(source.relative_to(REPO))
    except ValueError:
        shown_source = str(source)
    markdown.write_text(render_markdown(doc, shown_source, images) + "\n")
    print(f"report.py: wrote {markdown} and {len(drawn)} plots", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the suites and write one results file")
    run_p.add_argument("--ecsdb", default=str(REPO / "build" / "ecsdb"))
    run_p.add_argument("--suite", default="all")
    run_p.add_argument("--entities", type=int, default=200000)
    run_p.add_argument("--seconds", type=float, default=3.0)
    run_p.add_argument("--repetitions", type=int, default=3)
    run_p.add_argument("--note", default="")
    run_p.add_argument("--out", required=True)
    run_p.add_argument("extra", nargs="*", help="more `ecsdb bench` options, after --")
    render_p = sub.add_parser("render", help="write BENCHMARKS.md and its plots from a results file")
    render_p.add_argument("file")
    render_p.add_argument("--save", action="store_true", help="copy FILE to bench/results/<date>-<host>.json first")
    render_p.add_argument("--markdown", default=str(REPO / "BENCHMARKS.md"))
    render_p.add_argument("--img-dir", default=str(REPO / "docs" / "img" / "bench"))
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.repetitions < 1:
            parser.error("--repetitions must be at least 1")
        return record(args)
    return render(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
