// The Data view's rows: one table's pages read at one pinned version with the server's cursor (filter and
// sort run on the server), appended as the user scrolls, and kept live from the change stream with the
// changed cells remembered for a moment so the grid can highlight them. The stream is opened with
// `state=none`: the rows come from the pages, the stream only brings changes. When it cannot resume where
// the rows were read (the server no longer holds those versions) it starts at a newer version, and the
// changes in between were missed: `missed` says so, and the view offers to reload.
import { defineStore } from "pinia";
import { ref, shallowRef } from "vue";
import { serverBaseUrl } from "../api/endpoint";
import { ChangeStream, type StreamStatus } from "../api/stream";
import type { Row, StreamMessage } from "../api/types";
import { toApiError } from "../api/errors";
import { applyDelta, applyState } from "../lib/delta";
import { useAuthStore } from "./auth";

export const HIGHLIGHT_MS = 1500;

export interface RowsQuery {
  table: string;
  where: string[];
  sort: string | null;
  limit: number;
}

export const useRowsStore = defineStore("rows", () => {
  const auth = useAuthStore();

  const query = shallowRef<RowsQuery | null>(null);
  const rows = shallowRef<Row[]>([]);
  const total = ref(0);
  const version = ref<number | null>(null);
  const next = ref<string | null>(null);
  const loading = ref(false);
  const error = ref<string | null>(null);
  /**
   * Cells changed recently: cellKey → time (ms) of the change. Changed in place, and `flashVersion` counts
   * the changes: at 10k rows/s the map holds tens of thousands of cells, and copying it for every delta
   * (20 a second) cost the grid a third of its frames while scrolling (docs/benchmarks.md, Dashboard).
   */
  const flashes = shallowRef<Map<string, number>>(new Map());
  const flashVersion = ref(0);
  const removed = shallowRef<Set<string>>(new Set());
  const insertedSince = ref(0);
  const liveVersion = ref<number | null>(null);
  const streamStatus = ref<StreamStatus | "paused" | "off">("off");
  const streamDetail = ref<string | null>(null);
  /**
   * Set when the stream started at a newer version than the one the rows are up to (from: what they were
   * up to; to: where the stream starts): the changes in between were missed, the loaded rows may be stale.
   */
  const missed = ref<{ from: number; to: number } | null>(null);

  let stream: ChangeStream | null = null;
  let generation = 0; // bumped on every reload, so answers of an older query are dropped
  let pruneTimer: ReturnType<typeof setInterval> | null = null;

  function resetLive(): void {
    flashes.value = new Map();
    removed.value = new Set();
    insertedSince.value = 0;
  }

  /** Loads the first page of a query (and forgets the previous rows). */
  async function open(q: RowsQuery): Promise<void> {
    const gen = ++generation;
    query.value = q;
    rows.value = [];
    total.value = 0;
    next.value = null;
    version.value = null;
    error.value = null;
    liveVersion.value = null;
    missed.value = null;
    resetLive();
    loading.value = true;
    try {
      const page = await auth.api.rows(q.table, { limit: q.limit, where: q.where, sort: q.sort });
      if (gen !== generation) return;
      rows.value = page.rows;
      total.value = page.total;
      next.value = page.next;
      version.value = page.version;
    } catch (e) {
      if (gen === generation) error.value = toApiError(e).describe();
    } finally {
      if (gen === generation) loading.value = false;
    }
  }

  /** Appends the next page (same version, same filter and sort). A version gone starts again. */
  async function loadMore(): Promise<void> {
    const q = query.value;
    if (q === null || next.value === null || loading.value) return;
    const gen = generation;
    loading.value = true;
    try {
      const page = await auth.api.rows(q.table, { limit: q.limit, where: q.where, sort: q.sort, after: next.value, version: version.value });
      if (gen !== generation) return;
      rows.value = [...rows.value, ...page.rows];
      next.value = page.next;
      total.value = page.total;
    } catch (e) {
      if (gen !== generation) return;
      const err = toApiError(e);
      if (err.code === "version_gone") {
        loading.value = false;
        await open(q);
        return;
      }
      error.value = err.describe();
    } finally {
      if (gen === generation) loading.value = false;
    }
  }

  function flash(keys: string[]): void {
    if (keys.length === 0) return;
    const now = Date.now();
    const map = flashes.value;
    for (const k of keys) {
      map.delete(k); // re-inserted at the end: the map stays in time order, which prune relies on
      map.set(k, now);
    }
    flashVersion.value++;
  }

  function prune(): void {
    const map = flashes.value;
    const cutoff = Date.now() - HIGHLIGHT_MS;
    let dropped = false;
    // oldest first (insertion order): stop at the first cell still inside the highlight
    for (const [k, t] of map) {
      if (t >= cutoff) break;
      map.delete(k);
      dropped = true;
    }
    if (dropped) flashVersion.value++;
  }

  /** Applies one stream message to the loaded rows. */
  function onMessage(m: StreamMessage): void {
    const q = query.value;
    if (q === null) return;
    if (m.type === "error") {
      streamDetail.value = m.error.message;
      return;
    }
    if (m.type === "state" && Object.keys(m.tables).length === 0) {
      // A row-less state (state=none): "the stream now starts at version m.version". Newer than what the
      // rows are up to means the versions in between are gone from the server: their changes were missed.
      const upTo = liveVersion.value ?? version.value;
      if (upTo !== null && m.version > upTo) missed.value = { from: missed.value?.from ?? upTo, to: m.version };
      liveVersion.value = m.version;
      return;
    }
    liveVersion.value = m.version;
    const applied = m.type === "delta" ? applyDelta(rows.value, q.table, m) : applyState(rows.value, q.table, m);
    if (applied.rows !== rows.value && applied.changed.length > 0) rows.value = applied.rows;
    flash(applied.changed);
    if (applied.removed.length > 0) removed.value = new Set([...removed.value, ...applied.removed]);
    insertedSince.value += applied.inserted;
  }

  /** Follows the table's changes (resuming after the page's version). */
  function startLive(): void {
    const q = query.value;
    if (q === null) return;
    stopLive();
    stream = new ChangeStream({
      baseUrl: serverBaseUrl(),
      token: () => auth.token,
      tables: [q.table],
      where: q.where.map((w) => `${q.table}.${w}`),
      since: liveVersion.value ?? version.value,
      state: "none", // the rows are read page by page: the stream brings only the changes
      onMessage,
      onStatus: (s, detail) => {
        streamStatus.value = s;
        if (detail !== undefined) streamDetail.value = detail;
        else if (s === "open") streamDetail.value = null;
      },
    });
    if (pruneTimer === null) pruneTimer = setInterval(prune, 250);
  }

  function stopLive(paused = false): void {
    stream?.close();
    stream = null;
    streamStatus.value = paused ? "paused" : "off";
    if (pruneTimer !== null) clearInterval(pruneTimer);
    pruneTimer = null;
  }

  function close(): void {
    stopLive();
    generation++;
    query.value = null;
    rows.value = [];
    liveVersion.value = null;
    missed.value = null;
  }

  return {
    query, rows, total, version, next, loading, error, flashes, flashVersion, removed, insertedSince, liveVersion, streamStatus, streamDetail, missed,
    open, loadMore, startLive, stopLive, close, onMessage, prune,
  };
});
