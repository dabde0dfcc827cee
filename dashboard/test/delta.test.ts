// Applying stream messages to loaded rows; the metrics history.
import { describe, expect, test } from "vitest";
import { applyDelta, applyState, cellKey } from "../src/lib/delta";
import { charts, MetricsHistory } from "../src/lib/metricsHistory";
import type { DeltaMessage, Metrics, Row } from "../src/api/types";

const rows: Row[] = [
  { key: "0:1", values: { hp: 40, max_hp: 100 } },
  { key: "1:1", values: { hp: 10, max_hp: 100 } },
];

function delta(tables: DeltaMessage["tables"]): DeltaMessage {
  return { type: "delta", from: 5, version: 6, created: [], destroyed: [], tables };
}

describe("applyDelta", () => {
  test("merges updated fields and reports changed cells; other rows keep their identity", () => {
    const a = applyDelta(rows, "health", delta({ health: { inserted: [], updated: [{ key: "0:1", values: { hp: 7 } }], removed: [] } }));
    expect(a.rows[0]).toEqual({ key: "0:1", values: { hp: 7, max_hp: 100 } });
    expect(a.rows[1]).toBe(rows[1]);
    expect(rows[0]?.values["hp"]).toBe(40); // the input is not mutated
    expect(a.changed).toEqual([cellKey("0:1", "hp")]);
  });
  test("an unchanged value, an unloaded row, or a field not shown is no change", () => {
    const a = applyDelta(rows, "health", delta({ health: { inserted: [], updated: [{ key: "0:1", values: { hp: 40 } }, { key: "9:1", values: { hp: 1 } }], removed: [] } }));
    expect(a.changed).toEqual([]);
    const b = applyDelta([{ key: "0:1", values: { hp: 1 } }], "health", delta({ health: { inserted: [], updated: [{ key: "0:1", values: { max_hp: 5 } }], removed: [] } }));
    expect(b.changed).toEqual([]);
  });
  test("removed loaded rows are reported; inserted rows are counted", () => {
    const a = applyDelta(rows, "health", delta({ health: { inserted: [{ key: "5:1", values: { hp: 1, max_hp: 1 } }], updated: [], removed: ["1:1", "8:1"] } }));
    expect(a.removed).toEqual(["1:1"]);
    expect(a.inserted).toBe(1);
  });
  test("other tables are ignored", () => {
    const a = applyDelta(rows, "health", delta({ transform: { inserted: [], updated: [{ key: "0:1", values: { hp: 1 } }], removed: [] } }));
    expect(a.rows).toBe(rows);
    expect(a.changed).toEqual([]);
  });
  test("a state chunk updates loaded rows that differ", () => {
    const a = applyState(rows, "health", { type: "state", version: 9, last: true, tables: { health: [{ key: "1:1", values: { hp: 11, max_hp: 100 } }] } });
    expect(a.changed).toEqual([cellKey("1:1", "hp")]);
    expect(a.rows[1]?.values["hp"]).toBe(11);
  });
});

function metrics(uptime: number, commits: number, o: Partial<Metrics> = {}): Metrics {
  const q = { count: 0, p50: 0.001, p99: 0.004 };
  return {
    uptime_seconds: uptime, committed_version: commits, durable_version: commits, commits_total: commits, rollbacks_total: 0, queue_depth: 0,
    entities: 0, pinned_versions: 0, oldest_pinned_version: 0, retired_bytes: 0, bytes_in_use: 4096, wal_bytes_total: 0, wal_fsyncs_total: 0,
    snapshots_total: 0, snapshot_failures_total: 0, retention_failures_total: 0, snapshot_failing: false, retention_failing: false, last_snapshot_seconds: 0, stream_clients: 0, replication: null, http_requests_total: 0, tables: {},
    commit_latency_seconds: q, wal_fsync_seconds: q, http_request_seconds: q, queue_latency_seconds: q, stream_lag_seconds: q,
    pages_copied_total: 0, pages_replayed_total: 0, bytes_copied_total: 0, bytes_pooled: 0, bytes_parked: 0,
    writer_scratch_bytes: 0, ...o,
  };
}

describe("MetricsHistory", () => {
  test("rates from counters over the server's uptime", () => {
    const h = new MetricsHistory(10);
    expect(h.rate((m) => m.commits_total)).toBeNull();
    h.push({ t: 100, m: metrics(10, 100) });
    h.push({ t: 101, m: metrics(12, 300) });
    expect(h.rate((m) => m.commits_total)).toBe(100);
  });
  test("bounded; a restart clears it; windows by time", () => {
    const h = new MetricsHistory(3);
    for (let i = 0; i < 5; i++) h.push({ t: i, m: metrics(i + 1, i) });
    expect(h.size).toBe(3);
    expect(h.window(1).map((s) => s.t)).toEqual([3, 4]);
    h.push({ t: 5, m: metrics(0.5, 0) });
    expect(h.size).toBe(1);
  });
  test("charts: rates start with a gap, latencies in ms", () => {
    const samples = [{ t: 1, m: metrics(1, 0) }, { t: 2, m: metrics(2, 50) }];
    const c = charts(samples);
    const commits = c.find((x) => x.id === "commits");
    expect(commits?.xs).toEqual([1, 2]);
    expect(commits?.series[0]?.values).toEqual([null, 50]);
    expect(c.find((x) => x.id === "commit-latency")?.series[1]?.values).toEqual([4, 4]);
  });
  test("charts: queue latency and stream lag p50/p99 in ms, copy-on-write pages copied per second", () => {
    const slow = { count: 10, p50: 0.002, p99: 0.008 };
    const samples = [
      { t: 1, m: metrics(1, 0, { queue_latency_seconds: slow, stream_lag_seconds: { count: 3, p50: 0.0005, p99: 0.003 }, pages_copied_total: 100 }) },
      { t: 2, m: metrics(3, 40, { queue_latency_seconds: slow, stream_lag_seconds: { count: 5, p50: 0.001, p99: 0.006 }, pages_copied_total: 700 }) },
    ];
    const c = charts(samples);
    const queue = c.find((x) => x.id === "queue-latency");
    expect(queue?.unit).toBe("ms");
    expect(queue?.series.map((s) => s.label)).toEqual(["p50", "p99"]);
    expect(queue?.series.map((s) => s.values)).toEqual([[2, 2], [8, 8]]);
    const lag = c.find((x) => x.id === "stream-lag");
    expect(lag?.series[0]?.values).toEqual([0.5, 1]);
    expect(lag?.series[1]?.values).toEqual([3, 6]);
    const pages = c.find((x) => x.id === "pages-copied");
    expect(pages?.unit).toBe("/s");
    expect(pages?.series[0]?.values).toEqual([null, 300]); // 600 pages over 2 s of uptime
    expect(c[0]?.id).toBe("commits"); // the first chart stays commits/s (the e2e test reads its pixels)
    expect(new Set(c.map((x) => x.id)).size).toBe(c.length);
  });
});
