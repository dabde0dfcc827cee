// One entity (GET /api/entities/{id}) and the saving of edits to its rows: each save is one transaction
// that first `expect`s the values the user saw, so a change made meanwhile by someone else is refused as
// a conflict (409 precondition_failed) instead of being overwritten.
import { defineStore } from "pinia";
import { ref, shallowRef } from "vue";
import type { EntityView, Op, TransactionResult } from "../api/types";
import { toApiError } from "../api/errors";
import { useAuthStore } from "./auth";

/** Which row a save targets: a component row by its entity, a child row by its RowId. */
export type RowRef = { table: string; entity: string } | { table: string; key: string };

/** The transaction of a save: expect the old values of the changed fields, then update them. */
export function saveOps(row: RowRef, before: Record<string, unknown>, after: Record<string, unknown>): Op[] {
  const target = "entity" in row ? { entity: row.entity } : { key: row.key };
  return [
    { op: "expect", table: row.table, ...target, values: before },
    { op: "update", table: row.table, ...target, values: after },
  ];
}

export const useEntityStore = defineStore("entity", () => {
  const auth = useAuthStore();
  const entity = shallowRef<EntityView | null>(null);
  const loading = ref(false);
  const error = ref<string | null>(null);
  const errorCode = ref<string | null>(null);
  let generation = 0;

  async function load(id: string): Promise<void> {
    const gen = ++generation;
    loading.value = true;
    error.value = null;
    errorCode.value = null;
    try {
      const e = await auth.api.entity(id);
      if (gen === generation) entity.value = e;
    } catch (e) {
      if (gen !== generation) return;
      const err = toApiError(e);
      entity.value = null;
      error.value = err.describe();
      errorCode.value = err.code;
    } finally {
      if (gen === generation) loading.value = false;
    }
  }

  /**
   * Saves the changed fields of one row. Resolves to the transaction's answer; rejects with an ApiError
   * whose message says what failed (a conflict: the row changed since it was loaded).
   */
  async function save(row: RowRef, before: Record<string, unknown>, after: Record<string, unknown>): Promise<TransactionResult> {
    try {
      return await auth.api.transaction(saveOps(row, before, after));
    } catch (e) {
      const err = toApiError(e);
      if (err.code === "precondition_failed") {
        const field = err.details.field !== undefined ? ` (${err.details.field})` : "";
        throw Object.assign(err, { message: `Conflict: the row changed since it was loaded${field}. Reload to see its current values, then edit again.` });
      }
      throw err;
    }
  }

  return { entity, loading, error, errorCode, load, save };
});
