// The row layout of a table (or a struct) as a sequence of byte ranges (fields and padding), and the members
// of struct-typed fields, for the layout diagram.
import type { Field, Struct, Table } from "../api/types";

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

/** A struct's layout in the shape of a table's: its size is the stride, its members the fields. */
export function structLayout(s: Struct): Pick<Table, "stride" | "fields"> {
  return { stride: s.size, fields: s.fields };
}

/** One member of a struct-typed field, nested structs flattened (`bounds.min.x`). */
export interface StructMember {
  /** The path below the field: `min.x`. */
  path: string;
  name: string;
  type: string;
  kind: Field["kind"];
  /** Offset from the start of the enclosing struct-typed field (the struct's own member offsets added up). */
  offset: number;
  size: number;
  align: number;
  /** 1 for the field's own members, 2 for the members of those, … */
  depth: number;
}

/**
 * The members of a struct-typed field (`kind: "struct"`, `type` naming the struct), in offset order, with
 * the members of nested structs after theirs; [] for other fields or an unknown struct. Offsets are from the
 * start of the field: add the field's offset for the row's.
 */
export function structMembers(field: Pick<Field, "kind" | "type">, structs: readonly Struct[], depth = 1, base = 0, prefix = ""): StructMember[] {
  if (field.kind !== "struct" || depth > 8) return [];
  const s = structs.find((x) => x.name === field.type);
  if (s === undefined) return [];
  const out: StructMember[] = [];
  for (const m of [...s.fields].sort((a, b) => a.offset - b.offset)) {
    const path = `${prefix}${m.name}`;
    out.push({ path, name: m.name, type: m.type, kind: m.kind, offset: base + m.offset, size: m.size, align: m.align, depth });
    out.push(...structMembers(m, structs, depth + 1, base + m.offset, `${path}.`));
  }
  return out;
}

/** A struct-typed field's members as one line per member (`x f32 @+0 (4 B)`), for a tooltip; "" for others. */
export function structMembersText(field: Pick<Field, "kind" | "type">, structs: readonly Struct[]): string {
  return structMembers(field, structs)
    .map((m) => `${"  ".repeat(m.depth - 1)}${m.path} ${m.type} @+${m.offset} (${m.size} B)`)
    .join("\n");
}
