// The query builder's request and result (POST /api/query).
import { defineStore } from "pinia";
import { ref, shallowRef } from "vue";
import type { QueryRequest, QueryResult } from "../api/types";
import { toApiError } from "../api/errors";
import type { QueryState } from "../lib/urlState";
import { useAuthStore } from "./auth";

/** The API request of a query builder state. */
export function queryRequest(s: QueryState, after: string | null = null, version: number | null = null): QueryRequest {
  const r: QueryRequest = { limit: s.limit, desc: s.orderBy !== null && s.desc };
  if (s.with.length > 0) r.with = s.with;
  if (s.without.length > 0) r.without = s.without;
  if (s.where.length > 0) r.where = s.where;
  if (s.orderBy !== null) r.order_by = s.orderBy;
  if (after !== null) r.after = after;
  if (version !== null) r.version = version;
  return r;
}

export const useQueryStore = defineStore("query", () => {
  const auth = useAuthStore();
  const result = shallowRef<QueryResult | null>(null);
  const loading = ref(false);
  const error = ref<string | null>(null);
  /** Something to tell about the last paging (a version gone), not an error. */
  const notice = ref<string | null>(null);
  /** The index (0-based) of the first entity of the page shown among all the matches. */
  const start = ref(0);

  async function run(s: QueryState): Promise<void> {
    loading.value = true;
    error.value = null;
    notice.value = null;
    try {
      result.value = await auth.api.query(queryRequest(s));
      start.value = 0;
    } catch (e) {
      result.value = null;
      error.value = toApiError(e).describe();
    } finally {
      loading.value = false;
    }
  }

  /**
   * Reads the page after (`next`) or before (`prev`) the one shown, with its cursor at the same version, so
   * the pages stay consistent with each other. A version the server no longer holds starts again at the
   * first page of the current version, and says so.
   */
  async function page(s: QueryState, direction: "next" | "prev"): Promise<void> {
    const current = result.value;
    const cursor = current === null ? null : direction === "next" ? current.next : current.prev;
    if (current === null || cursor === null || loading.value) return;
    loading.value = true;
    error.value = null;
    notice.value = null;
    try {
      const p = await auth.api.query(queryRequest(s, cursor, current.version));
      start.value = direction === "next" ? start.value + current.entities.length : p.prev === null ? 0 : Math.max(0, start.value - p.entities.length);
      result.value = p;
    } catch (e) {
      const err = toApiError(e);
      if (err.code === "version_gone") {
        loading.value = false;
        await run(s);
        notice.value = `Version ${current.version} is no longer held by the server: back to the first page, at version ${result.value?.version ?? "?"}.`;
        return;
      }
      error.value = err.describe();
    } finally {
      loading.value = false;
    }
  }

  return { result, start, loading, error, notice, run, page };
});
