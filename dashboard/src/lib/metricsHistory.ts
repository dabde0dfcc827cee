// A bounded history of /api/metrics samples and the series the charts draw from it (rates from
// counters, latencies in milliseconds). Pure: the metrics store pushes samples, the views read series.
import type { Metrics } from "../api/types";

export interface Sample {
  /** Seconds since the epoch, when the sample was taken. */
  t: number;
  m: Metrics;
}

export interface Series {
  label: string;
  unit: string;
  values: (number | null)[];
}

export interface Chart {
  id: string;
  title: string;
  unit: string;
  xs: number[];
  series: Series[];
}

export class MetricsHistory {
  private readonly buffer: Sample[] = [];

  constructor(readonly capacity = 3600) {}

  push(sample: Sample): void {
    const last = this.buffer[this.buffer.length - 1];
    // A restarted server (uptime going back) starts a new history: its counters began again at zero.
    if (last !== undefined && sample.m.uptime_seconds < last.m.uptime_seconds) this.buffer.length = 0;
    this.buffer.push(sample);
    if (this.buffer.length > this.capacity) this.buffer.splice(0, this.buffer.length - this.capacity);
  }

  get size(): number {
    return this.buffer.length;
  }

  latest(): Sample | undefined {
    return this.buffer[this.buffer.length - 1];
  }

  /** The samples of the last `seconds` before `now` (the newest sample's time by default). */
  window(seconds: number, now?: number): Sample[] {
    const end = now ?? this.latest()?.t ?? 0;
    return this.buffer.filter((s) => s.t >= end - seconds && s.t <= end);
  }

  /** Per-second rate of a counter over the last two samples (null with fewer than two). */
  rate(counter: (m: Metrics) => number): number | null {
    const n = this.buffer.length;
    const a = this.buffer[n - 2];
    const b = this.buffer[n - 1];
    if (a === undefined || b === undefined) return null;
    return rateBetween(a, b, counter);
  }
}

function rateBetween(a: Sample, b: Sample, counter: (m: Metrics) => number): number | null {
  const dt = b.m.uptime_seconds - a.m.uptime_seconds;
  if (dt <= 0) return null;
  return Math.max(0, (counter(b.m) - counter(a.m)) / dt);
}

function rates(samples: readonly Sample[], counter: (m: Metrics) => number): (number | null)[] {
  return samples.map((s, i) => {
    const prev = samples[i - 1];
    return prev === undefined ? null : rateBetween(prev, s, counter);
  });
}

const ms = (seconds: number): number => seconds * 1e3;

/** The charts of the Metrics view over some samples. */
export function charts(samples: readonly Sample[]): Chart[] {
  const xs = samples.map((s) => s.t);
  const gauge = (f: (m: Metrics) => number): number[] => samples.map((s) => f(s.m));
  return [
    {
      id: "commits",
      title: "Commits",
      unit: "/s",
      xs,
      series: [
        { label: "commits/s", unit: "/s", values: rates(samples, (m) => m.commits_total) },
        { label: "rollbacks/s", unit: "/s", values: rates(samples, (m) => m.rollbacks_total) },
      ],
    },
    {
      id: "queue-latency",
      title: "Commit latency (queue: submitted → visible)",
      unit: "ms",
      xs,
      series: [
        { label: "p50", unit: "ms", values: gauge((m) => ms(m.queue_latency_seconds.p50)) },
        { label: "p99", unit: "ms", values: gauge((m) => ms(m.queue_latency_seconds.p99)) },
      ],
    },
    {
      id: "commit-latency",
      title: "Commit latency (HTTP POST /api/transactions)",
      unit: "ms",
      xs,
      series: [
        { label: "p50", unit: "ms", values: gauge((m) => ms(m.commit_latency_seconds.p50)) },
        { label: "p99", unit: "ms", values: gauge((m) => ms(m.commit_latency_seconds.p99)) },
      ],
    },
    {
      id: "queue",
      title: "Queue depth",
      unit: "",
      xs,
      series: [{ label: "queue depth", unit: "", values: gauge((m) => m.queue_depth) }],
    },
    {
      id: "fsync",
      title: "WAL fsync latency",
      unit: "ms",
      xs,
      series: [
        { label: "p50", unit: "ms", values: gauge((m) => ms(m.wal_fsync_seconds.p50)) },
        { label: "p99", unit: "ms", values: gauge((m) => ms(m.wal_fsync_seconds.p99)) },
      ],
    },
    {
      id: "stream-lag",
      title: "Stream lag (published → message written)",
      unit: "ms",
      xs,
      series: [
        { label: "p50", unit: "ms", values: gauge((m) => ms(m.stream_lag_seconds.p50)) },
        { label: "p99", unit: "ms", values: gauge((m) => ms(m.stream_lag_seconds.p99)) },
      ],
    },
    {
      id: "http",
      title: "HTTP",
      unit: "",
      xs,
      series: [
        { label: "requests/s", unit: "/s", values: rates(samples, (m) => m.http_requests_total) },
        { label: "p99 ms", unit: "ms", values: gauge((m) => ms(m.http_request_seconds.p99)) },
      ],
    },
    {
      id: "memory",
      title: "Memory",
      unit: "bytes",
      xs,
      series: [
        { label: "in use", unit: "bytes", values: gauge((m) => m.bytes_in_use) },
        { label: "retired", unit: "bytes", values: gauge((m) => m.retired_bytes) },
      ],
    },
    {
      id: "pages-copied",
      title: "Copy-on-write pages copied",
      unit: "/s",
      xs,
      series: [{ label: "pages/s", unit: "/s", values: rates(samples, (m) => m.pages_copied_total) }],
    },
    {
      id: "wal",
      title: "WAL written",
      unit: "bytes/s",
      xs,
      series: [{ label: "WAL bytes/s", unit: "bytes/s", values: rates(samples, (m) => m.wal_bytes_total) }],
    },
    {
      id: "clients",
      title: "Clients",
      unit: "",
      xs,
      series: [
        { label: "stream", unit: "", values: gauge((m) => m.stream_clients) },
        { label: "replication", unit: "", values: gauge((m) => m.replication?.clients ?? 0) },
        { label: "pinned versions", unit: "", values: gauge((m) => m.pinned_versions) },
      ],
    },
  ];
}
