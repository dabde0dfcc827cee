// The row layout of a table as a sequence of byte ranges (fields and padding), for the layout diagram.
import type { Table } from "../api/types";

export interface Segment {
  kind: "field" | "padding";
  name: string;
  type: string;
  offset: number;
  size: number;
}

/** The stored fields of a table in offset order, with the padding between them and up to the stride. */
export function layoutSegments(table: Pick<Table, "stride" | "fields">): Segment[] {
  const fields = table.fields.filter((f) => f.stored && f.size > 0).sort((a, b) => a.offset - b.offset);
  const out: Segment[] = [];
  let at = 0;
  for (const f of fields) {
    if (f.offset > at) out.push({ kind: "padding", name: "padding", type: "", offset: at, size: f.offset - at });
    out.push({ kind: "field", name: f.name, type: f.type, offset: f.offset, size: f.size });
    at = Math.max(at, f.offset + f.size);
  }
  if (table.stride > at) out.push({ kind: "padding", name: "padding", type: "", offset: at, size: table.stride - at });
  return out;
}

/** Bytes of padding in a row. */
export function paddingBytes(table: Pick<Table, "stride" | "fields">): number {
  return layoutSegments(table).filter((s) => s.kind === "padding").reduce((n, s) => n + s.size, 0);
}

/** Edges "table.field → table" of the entity references between tables, for the reference list. */
export function referenceEdges(tables: readonly Pick<Table, "name" | "fields" | "parent_table">[]): { from: string; field: string; to: string; ownerKey: boolean }[] {
  const edges: { from: string; field: string; to: string; ownerKey: boolean }[] = [];
  for (const t of tables) {
    for (const f of t.fields) {
      if (f.kind === "entity_ref" || f.foreign_key !== null) {
        const to = f.foreign_key !== null ? (f.foreign_key.split(".")[0] ?? "entities") : "entities";
        edges.push({ from: t.name, field: f.name, to, ownerKey: f.owner_key });
      }
    }
  }
  return edges;
}
