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

  async function run(s: QueryState): Promise<void> {
    loading.value = true;
    error.value = null;
    try {
      result.value = await auth.api.query(queryRequest(s));
    } catch (e) {
      result.value = null;
      error.value = toApiError(e).describe();
    } finally {
      loading.value = false;
    }
  }

  async function more(s: QueryState): Promise<void> {
    const current = result.value;
    if (current === null || current.next === null) return;
    loading.value = true;
    try {
      const page = await auth.api.query(queryRequest(s, current.next, current.version));
      result.value = { ...page, entities: [...current.entities, ...page.entities] };
    } catch (e) {
      error.value = toApiError(e).describe();
    } finally {
      loading.value = false;
    }
  }

  return { result, loading, error, run, more };
});
