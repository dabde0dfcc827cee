// The server's status: health, info, metrics (polled, with a bounded history for the charts) and the
// table list. Polling runs while the app is open and the server does not ask for a login.
import { defineStore } from "pinia";
import { markRaw, ref, shallowRef } from "vue";
import type { Health, Info, Metrics, TableList } from "../api/types";
import { MetricsHistory } from "../lib/metricsHistory";
import { useAuthStore } from "./auth";
import { useNoticesStore } from "./notices";
import { toApiError } from "../api/errors";

export const POLL_MS = 1000;

export const useServerStore = defineStore("server", () => {
  const auth = useAuthStore();
  const notices = useNoticesStore();

  const health = shallowRef<Health | null>(null);
  const healthError = ref<string | null>(null);
  const info = shallowRef<Info | null>(null);
  const metrics = shallowRef<Metrics | null>(null);
  const tables = shallowRef<TableList | null>(null);
  const history = markRaw(new MetricsHistory(3600));
  /** Bumped at each new sample, so views that read `history` recompute. */
  const historyTick = ref(0);
  const commitsPerSecond = ref<number | null>(null);

  let timer: ReturnType<typeof setInterval> | null = null;
  let ticks = 0;
  let busy = false;

  async function refreshHealth(): Promise<void> {
    try {
      health.value = await auth.api.health();
      healthError.value = null;
    } catch (e) {
      healthError.value = toApiError(e).describe();
      health.value = null;
    }
  }

  async function refreshMetrics(): Promise<void> {
    const m = await auth.api.metrics();
    metrics.value = m;
    history.push({ t: Date.now() / 1000, m });
    commitsPerSecond.value = history.rate((x) => x.commits_total);
    historyTick.value++;
  }

  async function refreshInfo(): Promise<void> {
    info.value = await auth.api.info();
  }

  async function refreshTables(): Promise<void> {
    tables.value = await auth.api.tables();
  }

  /** One polling round: health and metrics every time, info and tables every fifth. */
  async function poll(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      await refreshHealth();
      if (auth.needsLogin) return;
      const jobs: Promise<void>[] = [refreshMetrics()];
      if (ticks % 5 === 0 || info.value === null) jobs.push(refreshInfo());
      if (ticks % 5 === 0 || tables.value === null) jobs.push(refreshTables());
      ticks++;
      const results = await Promise.allSettled(jobs);
      for (const r of results) if (r.status === "rejected") notices.error(r.reason);
    } finally {
      busy = false;
    }
  }

  function start(): void {
    if (timer !== null) return;
    void poll();
    timer = setInterval(() => void poll(), POLL_MS);
  }

  function stop(): void {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  return { health, healthError, info, metrics, tables, history, historyTick, commitsPerSecond, poll, start, stop, refreshTables };
});
