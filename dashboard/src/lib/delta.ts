// Applying the change stream's messages to the rows a view shows. The Data view holds one table's
// loaded pages (server-side filter and sort), so inserted rows are only counted (their place in the
// server's order is unknown), updated rows are merged in place, removed rows are reported.
import type { DeltaMessage, Row, StateMessage } from "../api/types";
import { sameValue } from "./fieldType";

/** The identity of one cell, for highlighting. */
export function cellKey(rowKey: string, field: string): string {
  return `${rowKey}\u0000${field}`;
}

export interface Applied {
  /** The rows, with changed rows replaced by new objects (the others are the same objects). */
  rows: Row[];
  /** Cells whose value changed (cellKey). */
  changed: string[];
  /** Keys of loaded rows that were removed. */
  removed: string[];
  /** Rows inserted into the table (not placed in `rows`). */
  inserted: number;
}

function indexOf(rows: readonly Row[]): Map<string, number> {
  const index = new Map<string, number>();
  rows.forEach((r, i) => index.set(r.key, i));
  return index;
}

function merge(rows: Row[], index: Map<string, number>, key: string, values: Record<string, unknown>, changed: string[], copied: Set<number>): void {
  const i = index.get(key);
  if (i === undefined) return;
  const row = rows[i];
  if (row === undefined) return;
  let next: Row | null = null;
  for (const [field, value] of Object.entries(values)) {
    if (!(field in row.values) || sameValue(row.values[field], value)) continue;
    if (next === null) {
      next = copied.has(i) ? row : { ...row, values: { ...row.values } };
      copied.add(i);
    }
    next.values[field] = value;
    changed.push(cellKey(key, field));
  }
  if (next !== null) rows[i] = next;
}

/** Applies a delta of `table` to its loaded rows. */
export function applyDelta(rows: readonly Row[], table: string, delta: DeltaMessage): Applied {
  const d = delta.tables[table];
  if (d === undefined) return { rows: rows as Row[], changed: [], removed: [], inserted: 0 };
  const out = rows.slice();
  const index = indexOf(out);
  const changed: string[] = [];
  const copied = new Set<number>();
  for (const u of d.updated) merge(out, index, u.key, u.values, changed, copied);
  const removed = d.removed.filter((k) => index.has(k));
  // A row removed then inserted again in one coalesced delta comes back whole: merge it too.
  for (const r of d.inserted) merge(out, index, r.key, r.values, changed, copied);
  const inserted = d.inserted.filter((r) => !index.has(r.key)).length;
  return { rows: out, changed, removed, inserted };
}

/** Applies a state chunk: loaded rows whose values differ take the state's values. */
export function applyState(rows: readonly Row[], table: string, state: StateMessage): Applied {
  const chunk = state.tables[table];
  if (chunk === undefined) return { rows: rows as Row[], changed: [], removed: [], inserted: 0 };
  const out = rows.slice();
  const index = indexOf(out);
  const changed: string[] = [];
  const copied = new Set<number>();
  for (const r of chunk) merge(out, index, r.key, r.values, changed, copied);
  return { rows: out, changed, removed: [], inserted: 0 };
}
