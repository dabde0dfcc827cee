// Table layouts from GET /api/schema (docs/openapi.yaml, SchemaDocument), and row bytes <-> JS values.
//
// A row is `stride` bytes; each stored field sits at its `offset` with its `size` (docs/schema.md, "Layout").
// Values in JS, per type:
//   bool                 boolean
//   i8..i32, u8..u32     number
//   i64, u64             bigint (input: bigint, a safe integer, or a decimal string)
//   f32, f64             number (an f32 as the exact double of its bits; input also "NaN", "Infinity", "-Infinity")
//   entity references    "index:generation", or null for the null entity (input also a bigint key)
//   str<N>               string (UTF-8, at most N bytes; stored zero padded)
//   enums                the variant's name (the first declared one for aliases); a stored value no variant has
//                        stays its integer. Input: a name or an integer
//   [T; N]               an array of exactly N values
//   structs              an object with every member (input: every member, no others)
// GET /api/schema does not describe the members of structs: they are laid out here from the schema's TOML text
// (its `toml` member) by the rules of docs/schema.md, and checked against the sizes the server reports. A
// `structs` list in the shape of `ecsdb validate --json` is used instead when the document has one. A struct
// whose members cannot be known that way is read and written as a Uint8Array of its bytes.

import { parse as parseToml } from "smol-toml";
import {
  type CodecField,
  type CodecSchema,
  type CodecTable,
  fieldBit,
  parseKey,
  storedFieldsMask,
} from "./codec.js";

// ---- the JSON of GET /api/schema ----

export interface FieldJson {
  name: string;
  id: number;
  type: string;
  kind?: "scalar" | "array" | "enum" | "struct" | "string" | "entity_ref";
  offset: number;
  size: number;
  align: number;
  stored: boolean;
  owner_key: boolean;
  unique?: boolean;
  deprecated?: boolean;
  foreign_key?: string | null;
  default?: unknown;
}

export interface TableJson {
  name: string;
  id: number;
  cardinality: "one" | "many";
  parent_table: string | null;
  stride: number;
  align: number;
  fields: FieldJson[];
  /** `ecsdb validate --json` has these; GET /api/schema does not (row order is then by offset). */
  row_order?: string[];
  is_entity_table?: boolean;
}

export interface EnumJson {
  name: string;
  underlying: string;
  variants: { name: string; value: number }[];
}

export interface StructJson {
  name: string;
  size: number;
  align: number;
  fields: { name: string; type: string; offset: number; size: number; align: number }[];
}

export interface SchemaJson {
  name: string;
  version: string;
  /** 16 hex digits. */
  layout_hash: string;
  toml?: string;
  tables: TableJson[];
  enums?: EnumJson[];
  structs?: StructJson[];
}

// ---- values ----

export type Value = boolean | number | bigint | string | null | Uint8Array | readonly Value[] | { readonly [name: string]: Value };
export type RowValues = { readonly [field: string]: Value };
/**
 * What encoders accept: Values, plus the HTTP API's JSON spellings (decimal strings for integers, "NaN",
 * "Infinity"), checked at run time; `undefined` fields are skipped.
 */
export type ValueInput = unknown;
export type RowValuesInput = { readonly [field: string]: ValueInput };

// ---- types ----

export type IntName = "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64";
export type ScalarName = IntName | "f32" | "f64" | "bool";

export type FieldType =
  | { readonly kind: "scalar"; readonly name: ScalarName; readonly size: number; readonly align: number; readonly spelling: string }
  | { readonly kind: "entity"; readonly size: 8; readonly align: 8; readonly spelling: string }
  | { readonly kind: "string"; readonly size: number; readonly align: 1; readonly spelling: string }
  | { readonly kind: "enum"; readonly enum: EnumType; readonly size: number; readonly align: number; readonly spelling: string }
  | {
      readonly kind: "array";
      readonly element: FieldType;
      readonly count: number;
      readonly size: number;
      readonly align: number;
      readonly spelling: string;
    }
  | { readonly kind: "struct"; readonly struct: StructType; readonly size: number; readonly align: number; readonly spelling: string }
  | { readonly kind: "bytes"; readonly size: number; readonly align: number; readonly spelling: string; readonly why: string };

export interface EnumType {
  readonly name: string;
  readonly underlying: IntName;
  /** value -> the first variant declared with it. */
  readonly byValue: ReadonlyMap<bigint, string>;
  readonly byName: ReadonlyMap<string, bigint>;
}

export interface StructMember {
  readonly name: string;
  readonly type: FieldType;
  readonly offset: number;
}

export interface StructType {
  readonly name: string;
  readonly size: number;
  readonly align: number;
  /** In declaration order (how values are written), each with its offset inside the struct. */
  readonly members: readonly StructMember[];
}

const INT_INFO: Record<IntName, { size: number; signed: boolean }> = {
  u8: { size: 1, signed: false },
  u16: { size: 2, signed: false },
  u32: { size: 4, signed: false },
  u64: { size: 8, signed: false },
  i8: { size: 1, signed: true },
  i16: { size: 2, signed: true },
  i32: { size: 4, signed: true },
  i64: { size: 8, signed: true },
};

function isIntName(s: string): s is IntName {
  return Object.hasOwn(INT_INFO, s);
}

function intRange(name: IntName): [bigint, bigint] {
  const { size, signed } = INT_INFO[name];
  const bits = BigInt(size * 8);
  return signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
}

/** Thrown for a value that does not fit its field, an unknown field, or a schema this module cannot read. */
export class LayoutError extends Error {
  override name = "LayoutError";
}

// ---- reading and writing one value ----

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "bigint") return `${v}n`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

function readInt(view: DataView, at: number, name: IntName): number | bigint {
  switch (name) {
    case "u8":
      return view.getUint8(at);
    case "i8":
      return view.getInt8(at);
    case "u16":
      return view.getUint16(at, true);
    case "i16":
      return view.getInt16(at, true);
    case "u32":
      return view.getUint32(at, true);
    case "i32":
      return view.getInt32(at, true);
    case "u64":
      return view.getBigUint64(at, true);
    case "i64":
      return view.getBigInt64(at, true);
  }
}

export function readValue(type: FieldType, view: DataView, at: number): Value {
  switch (type.kind) {
    case "scalar":
      switch (type.name) {
        case "bool":
          return view.getUint8(at) !== 0;
        case "f32":
          return view.getFloat32(at, true);
        case "f64":
          return view.getFloat64(at, true);
        default:
          return readInt(view, at, type.name);
      }
    case "entity": {
      const index = view.getUint32(at, true);
      const generation = view.getUint32(at + 4, true);
      return index === 0 && generation === 0 ? null : `${index}:${generation}`;
    }
    case "string": {
      const bytes = new Uint8Array(view.buffer, view.byteOffset + at, type.size);
      const end = bytes.indexOf(0);
      return utf8Decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
    }
    case "enum": {
      const raw = readInt(view, at, type.enum.underlying);
      const name = type.enum.byValue.get(BigInt(raw));
      return name ?? raw;
    }
    case "array": {
      const out = new Array<Value>(type.count);
      for (let i = 0; i < type.count; i++) out[i] = readValue(type.element, view, at + i * type.element.size);
      return out;
    }
    case "struct": {
      const out: { [name: string]: Value } = {};
      for (const m of type.struct.members) out[m.name] = readValue(m.type, view, at + m.offset);
      return out;
    }
    case "bytes":
      return new Uint8Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + type.size));
  }
}

function toBigInt(v: unknown): bigint | undefined {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return Number.isInteger(v) ? BigInt(v) : undefined;
  if (typeof v === "string" && /^\s*-?\d+(\.0*)?\s*$/.test(v)) return BigInt(v.trim().replace(/\.0*$/, ""));
  return undefined;
}

function writeInt(view: DataView, at: number, name: IntName, v: unknown, path: string, spelling: string = name): void {
  const b = toBigInt(v);
  if (b === undefined) throw new LayoutError(`${path}: expected ${spelling}, got ${describe(v)}`);
  const [lo, hi] = intRange(name);
  if (b < lo || b > hi) throw new LayoutError(`${path}: ${b} is out of range for ${spelling} (${lo}..${hi})`);
  switch (name) {
    case "u8":
      return view.setUint8(at, Number(b));
    case "i8":
      return view.setInt8(at, Number(b));
    case "u16":
      return view.setUint16(at, Number(b), true);
    case "i16":
      return view.setInt16(at, Number(b), true);
    case "u32":
      return view.setUint32(at, Number(b), true);
    case "i32":
      return view.setInt32(at, Number(b), true);
    case "u64":
      return view.setBigUint64(at, b, true);
    case "i64":
      return view.setBigInt64(at, b, true);
  }
}

const F32_MAX = 3.4028234663852886e38;

function toFloat(v: unknown, path: string, name: "f32" | "f64"): number {
  let x: number | undefined;
  if (typeof v === "number") x = v;
  else if (typeof v === "bigint") x = Number(v);
  else if (v === "NaN") x = NaN;
  else if (v === "Infinity") x = Infinity;
  else if (v === "-Infinity") x = -Infinity;
  if (x === undefined) throw new LayoutError(`${path}: expected ${name}, got ${describe(v)}`);
  if (name === "f32" && Number.isFinite(x) && Math.abs(x) > F32_MAX) {
    // Values that round to the largest finite f32 are fine; beyond it an f32 would be infinite.
    if (!Number.isFinite(Math.fround(x))) throw new LayoutError(`${path}: ${x} is out of range for f32`);
  }
  return x;
}

export function writeValue(type: FieldType, view: DataView, at: number, v: unknown, path: string): void {
  switch (type.kind) {
    case "scalar":
      switch (type.name) {
        case "bool":
          if (typeof v !== "boolean") throw new LayoutError(`${path}: expected bool, got ${describe(v)}`);
          return view.setUint8(at, v ? 1 : 0);
        case "f32":
          return view.setFloat32(at, toFloat(v, path, "f32"), true);
        case "f64":
          return view.setFloat64(at, toFloat(v, path, "f64"), true);
        default:
          return writeInt(view, at, type.name, v, path);
      }
    case "entity": {
      let key: bigint;
      if (v === null) key = 0n;
      else if (typeof v === "string" || typeof v === "bigint") {
        try {
          key = parseKey(v);
        } catch (e) {
          throw new LayoutError(`${path}: ${(e as Error).message}`);
        }
      } else throw new LayoutError(`${path}: expected an entity id ("index:generation") or null, got ${describe(v)}`);
      return view.setBigUint64(at, key, true);
    }
    case "string": {
      if (typeof v !== "string") throw new LayoutError(`${path}: expected ${type.spelling}, got ${describe(v)}`);
      const bytes = utf8Encoder.encode(v);
      if (bytes.length > type.size) {
        throw new LayoutError(`${path}: string of ${bytes.length} bytes does not fit ${type.spelling}`);
      }
      const dst = new Uint8Array(view.buffer, view.byteOffset + at, type.size);
      dst.fill(0);
      dst.set(bytes);
      return;
    }
    case "enum": {
      if (typeof v === "string" && !/^\s*-?\d+\s*$/.test(v)) {
        const value = type.enum.byName.get(v);
        if (value === undefined) {
          throw new LayoutError(`${path}: '${v}' is not a variant of ${type.enum.name} (${[...type.enum.byName.keys()].join(", ")})`);
        }
        return writeInt(view, at, type.enum.underlying, value, path);
      }
      return writeInt(view, at, type.enum.underlying, v, path, `${type.enum.name} (${type.enum.underlying})`);
    }
    case "array": {
      if (!Array.isArray(v) || v.length !== type.count) {
        throw new LayoutError(`${path}: expected ${type.spelling} (an array of ${type.count}), got ${describe(v)}`);
      }
      for (let i = 0; i < type.count; i++) writeValue(type.element, view, at + i * type.element.size, v[i], `${path}[${i}]`);
      return;
    }
    case "struct": {
      if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) {
        throw new LayoutError(`${path}: expected ${type.struct.name} (an object), got ${describe(v)}`);
      }
      const obj = v as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        if (!type.struct.members.some((m) => m.name === k)) {
          throw new LayoutError(`${path}: ${type.struct.name} has no member '${k}'`);
        }
      }
      for (const m of type.struct.members) {
        if (!Object.hasOwn(obj, m.name)) throw new LayoutError(`${path}: ${type.struct.name} member '${m.name}' is missing`);
        writeValue(m.type, view, at + m.offset, obj[m.name], `${path}.${m.name}`);
      }
      return;
    }
    case "bytes": {
      if (!(v instanceof Uint8Array) || v.length !== type.size) {
        throw new LayoutError(`${path}: expected ${type.size} bytes (a Uint8Array: ${type.why}), got ${describe(v)}`);
      }
      new Uint8Array(view.buffer, view.byteOffset + at, type.size).set(v);
      return;
    }
  }
}

// ---- JSON as the HTTP API writes it ----

const TWO_53 = 2n ** 53n;

/** The shortest decimal that reads back as the same f32 (as the server writes f32 values). */
export function shortestF32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

/**
 * A value in the HTTP API's JSON form (docs/server.md, "Values in JSON"): 64-bit integers beyond ±2^53 as
 * decimal strings, NaN and the infinities as strings, f32 as its shortest decimal, bytes as an array of numbers.
 */
export function valueToJson(type: FieldType, v: Value): unknown {
  if (typeof v === "bigint") return v > TWO_53 || v < -TWO_53 ? v.toString() : Number(v);
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "NaN";
    if (v === Infinity) return "Infinity";
    if (v === -Infinity) return "-Infinity";
    return type.kind === "scalar" && type.name === "f32" ? shortestF32(v) : v;
  }
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v) && type.kind === "array") return v.map((e: Value) => valueToJson(type.element, e));
  if (v !== null && typeof v === "object" && type.kind === "struct") {
    const out: Record<string, unknown> = {};
    const obj = v as { readonly [name: string]: Value };
    for (const m of type.struct.members) out[m.name] = valueToJson(m.type, obj[m.name] ?? null);
    return out;
  }
  return v;
}

// ---- type spellings ----

interface TypeContext {
  enums: ReadonlyMap<string, EnumType>;
  structs: (name: string) => StructType | { why: string } | undefined;
}

function splitArray(spelling: string): [string, number] | undefined {
  const s = spelling.trim();
  if (!s.startsWith("[") || !s.endsWith("]")) return undefined;
  const inner = s.slice(1, -1);
  let depth = 0;
  for (let i = inner.length - 1; i >= 0; i--) {
    const c = inner[i];
    if (c === "]") depth++;
    else if (c === "[") depth--;
    else if (c === ";" && depth === 0) {
      const count = Number(inner.slice(i + 1).trim());
      if (!Number.isInteger(count) || count < 1) return undefined;
      return [inner.slice(0, i).trim(), count];
    }
  }
  return undefined;
}

function normalise(spelling: string): string {
  const a = splitArray(spelling);
  return a === undefined ? spelling.trim().replace(/\s+/g, "") : `[${normalise(a[0])}; ${a[1]}]`;
}

function parseType(spelling: string, ctx: TypeContext): FieldType {
  const s = spelling.trim();
  const arr = splitArray(s);
  if (arr !== undefined) {
    const element = parseType(arr[0], ctx);
    return { kind: "array", element, count: arr[1], size: element.size * arr[1], align: element.align, spelling: normalise(s) };
  }
  const str = /^str\s*<\s*(\d+)\s*>$/.exec(s);
  if (str !== null) return { kind: "string", size: Number(str[1]), align: 1, spelling: `str<${str[1]}>` };
  if (s === "bool") return { kind: "scalar", name: "bool", size: 1, align: 1, spelling: s };
  if (s === "f32" || s === "f64") return { kind: "scalar", name: s, size: s === "f32" ? 4 : 8, align: s === "f32" ? 4 : 8, spelling: s };
  if (isIntName(s)) return { kind: "scalar", name: s, size: INT_INFO[s].size, align: INT_INFO[s].size, spelling: s };
  if (s === "entity") return { kind: "entity", size: 8, align: 8, spelling: s };
  const e = ctx.enums.get(s);
  if (e !== undefined) {
    const size = INT_INFO[e.underlying].size;
    return { kind: "enum", enum: e, size, align: size, spelling: s };
  }
  const st = ctx.structs(s);
  if (st !== undefined) {
    if ("why" in st) return { kind: "bytes", size: -1, align: 1, spelling: s, why: st.why };
    return { kind: "struct", struct: st, size: st.size, align: st.align, spelling: s };
  }
  throw new LayoutError(`unknown type '${spelling}'`);
}

/** The same type with any struct of unknown members given its size from the server (arrays included). */
function sized(type: FieldType, size: number, align: number): FieldType {
  if (type.kind === "bytes") return { ...type, size, align };
  if (type.kind === "array" && size % type.count === 0) {
    const element = sized(type.element, size / type.count, align);
    return { ...type, element, size: element.size * type.count, align: element.align };
  }
  return type;
}

function hasBytes(type: FieldType): boolean {
  return type.kind === "bytes" || (type.kind === "array" && hasBytes(type.element));
}

// ---- structs: from `structs` (validate --json) or from the TOML text ----

interface StructDecl {
  name: string;
  members: { name: string; type: string; offset?: number }[];
  size?: number;
  align?: number;
}

function structDeclsFromToml(toml: string): Map<string, StructDecl> {
  const doc = parseToml(toml) as Record<string, unknown>;
  const out = new Map<string, StructDecl>();
  const structs = doc["structs"];
  if (structs === undefined) return out;
  if (structs === null || typeof structs !== "object") throw new LayoutError("'structs' is not a table");
  for (const [name, def] of Object.entries(structs as Record<string, unknown>)) {
    const fields = (def as Record<string, unknown> | null)?.["fields"];
    if (!Array.isArray(fields)) throw new LayoutError(`struct '${name}' has no fields array`);
    const members = fields.map((f: unknown, i: number) => {
      const m = f as Record<string, unknown> | null;
      if (typeof m?.["name"] !== "string" || typeof m["type"] !== "string") {
        throw new LayoutError(`struct '${name}', field ${i}: needs a name and a type`);
      }
      return { name: m["name"], type: m["type"] };
    });
    out.set(name, { name, members });
  }
  return out;
}

function resolveStructs(decls: Map<string, StructDecl>, enums: ReadonlyMap<string, EnumType>, why: string | undefined) {
  const done = new Map<string, StructType | { why: string }>();
  const visiting = new Set<string>();
  const lookup = (name: string): StructType | { why: string } | undefined => {
    const got = done.get(name);
    if (got !== undefined) return got;
    const decl = decls.get(name);
    if (decl === undefined) return why === undefined ? undefined : { why };
    if (visiting.has(name)) throw new LayoutError(`recursive struct '${name}'`);
    visiting.add(name);
    const ctx: TypeContext = { enums, structs: lookup };
    let result: StructType | { why: string };
    try {
      const types = decl.members.map((m) => ({ name: m.name, type: parseType(m.type, ctx), offset: m.offset }));
      const unknown = types.find((t) => hasBytes(t.type));
      if (unknown !== undefined) {
        result = { why: `member '${unknown.name}' of struct '${name}' has unknown members` };
      } else if (decl.members.every((m) => m.offset !== undefined)) {
        // Offsets as the server laid them out (validate --json).
        result = {
          name,
          size: decl.size ?? Math.max(0, ...types.map((t) => t.offset! + t.type.size)),
          align: decl.align ?? Math.max(1, ...types.map((t) => t.type.align)),
          members: types.map((t) => ({ name: t.name, type: t.type, offset: t.offset! })),
        };
      } else {
        // docs/schema.md "Layout": stable-sorted by alignment, largest first; back to back; stride rounded up.
        const order = types.map((t, i) => ({ t, i })).sort((a, b) => b.t.type.align - a.t.type.align || a.i - b.i);
        let at = 0;
        const offsets = new Map<string, number>();
        for (const { t } of order) {
          offsets.set(t.name, at);
          at += t.type.size;
        }
        const align = Math.max(1, ...types.map((t) => t.type.align));
        result = {
          name,
          size: Math.ceil(at / align) * align,
          align,
          members: types.map((t) => ({ name: t.name, type: t.type, offset: offsets.get(t.name)! })),
        };
      }
    } finally {
      visiting.delete(name);
    }
    done.set(name, result);
    return result;
  };
  return lookup;
}

// ---- tables ----

export interface FieldLayout extends CodecField {
  readonly id: number;
  readonly name: string;
  readonly type: FieldType;
  readonly offset: number;
  readonly size: number;
  readonly stored: boolean;
  readonly ownerKey: boolean;
  readonly deprecated: boolean;
  /** The schema default as the server reports it (null when none). */
  readonly default: unknown;
}

export class TableLayout implements CodecTable {
  readonly id: number;
  readonly name: string;
  readonly cardinality: "one" | "many";
  readonly many: boolean;
  readonly parentTable: string | null;
  /** The entity registry table: no rows, its rows are the entities. */
  readonly isEntityTable: boolean;
  readonly stride: number;
  /** Every field, by id (the owner key included). */
  readonly fields: readonly FieldLayout[];
  /** The stored fields in row order (by offset). */
  readonly rowOrder: readonly FieldLayout[];
  /** The stored fields by id (the order of values objects). */
  readonly stored: readonly FieldLayout[];
  readonly ownerKey: FieldLayout | undefined;
  private readonly byName: ReadonlyMap<string, FieldLayout>;
  private defaults: Uint8Array | undefined;

  constructor(json: TableJson, ctx: TypeContext) {
    this.id = json.id;
    this.name = json.name;
    this.cardinality = json.cardinality;
    this.many = json.cardinality === "many";
    this.parentTable = json.parent_table;
    this.isEntityTable = json.is_entity_table ?? (json.cardinality === "one" && json.parent_table === null);
    this.stride = json.stride;
    this.fields = [...json.fields]
      .sort((a, b) => a.id - b.id)
      .map((f) => {
        const where = `table '${json.name}', field '${f.name}'`;
        let type: FieldType;
        if (f.kind === "entity_ref") type = { kind: "entity", size: 8, align: 8, spelling: f.type };
        else {
          try {
            type = sized(parseType(f.type, ctx), f.size, f.align);
          } catch (e) {
            throw new LayoutError(`${where}: ${(e as Error).message}`);
          }
        }
        if (type.size !== f.size) {
          if (!f.stored) type = { kind: "bytes", size: f.size, align: f.align, spelling: f.type, why: "not stored" };
          else if (type.kind === "struct" || (type.kind === "array" && !hasBytes(type))) {
            // The members worked out here do not match the server's layout: keep the bytes whole.
            type = { kind: "bytes", size: f.size, align: f.align, spelling: f.type, why: `its layout here (${type.size} bytes) differs from the server's` };
          } else {
            throw new LayoutError(`${where}: type ${f.type} is ${type.size} bytes here, the server says ${f.size}`);
          }
        }
        if (f.stored && f.offset + f.size > json.stride) {
          throw new LayoutError(`${where}: bytes ${f.offset}..${f.offset + f.size} are past the stride ${json.stride}`);
        }
        return {
          id: f.id,
          name: f.name,
          type,
          offset: f.offset,
          size: f.size,
          stored: f.stored,
          ownerKey: f.owner_key,
          deprecated: f.deprecated ?? false,
          default: f.default ?? null,
        };
      });
    this.byName = new Map(this.fields.map((f) => [f.name, f]));
    this.stored = this.fields.filter((f) => f.stored);
    if (json.row_order !== undefined) {
      this.rowOrder = json.row_order.map((n) => {
        const f = this.byName.get(n);
        if (f === undefined || !f.stored) throw new LayoutError(`table '${json.name}': row_order names '${n}', not a stored field`);
        return f;
      });
    } else {
      this.rowOrder = [...this.stored].sort((a, b) => a.offset - b.offset || a.id - b.id);
    }
    this.ownerKey = this.fields.find((f) => f.ownerKey);
  }

  field(name: string): FieldLayout | undefined {
    return this.byName.get(name);
  }

  private storedField(name: string): FieldLayout {
    const f = this.byName.get(name);
    if (f === undefined) throw new LayoutError(`table '${this.name}' has no field '${name}'`);
    if (!f.stored) {
      throw new LayoutError(`table '${this.name}', field '${name}' is not stored in the row (the owner key is the row's key or owner)`);
    }
    return f;
  }

  /** The values of a row's stored fields, by field id order. */
  decodeRow(row: Uint8Array): RowValues {
    if (row.length !== this.stride) throw new LayoutError(`table '${this.name}': a row of ${row.length} bytes, not ${this.stride}`);
    const view = new DataView(row.buffer, row.byteOffset, row.byteLength);
    const out: { [name: string]: Value } = {};
    for (const f of this.stored) out[f.name] = readValue(f.type, view, f.offset);
    return out;
  }

  /** One field of a row. */
  decodeField(row: Uint8Array, name: string): Value {
    const f = this.storedField(name);
    return readValue(f.type, new DataView(row.buffer, row.byteOffset, row.byteLength), f.offset);
  }

  /** A row of the schema's defaults (zero where there is none), as the server fills fields not given. */
  defaultRow(): Uint8Array {
    if (this.defaults === undefined) {
      const row = new Uint8Array(this.stride);
      const view = new DataView(row.buffer);
      for (const f of this.stored) {
        if (f.default === null || f.default === undefined) continue;
        try {
          writeValue(f.type, view, f.offset, f.default, `table '${this.name}', field '${f.name}' (default)`);
        } catch {
          // A default this module cannot write stays zero.
        }
      }
      this.defaults = row;
    }
    return this.defaults.slice();
  }

  /**
   * A whole row: the given fields over `base` (default: the schema's defaults). Unknown fields, and the owner
   * key, are refused.
   */
  encodeRow(values: RowValuesInput, base?: Uint8Array): Uint8Array {
    const row = base === undefined ? this.defaultRow() : base.slice();
    if (row.length !== this.stride) throw new LayoutError(`table '${this.name}': a base row of ${row.length} bytes, not ${this.stride}`);
    const view = new DataView(row.buffer);
    for (const [name, v] of Object.entries(values)) {
      if (v === undefined) continue;
      const f = this.storedField(name);
      writeValue(f.type, view, f.offset, v, `table '${this.name}', field '${name}'`);
    }
    return row;
  }

  /** The field mask naming these fields. */
  maskOf(names: Iterable<string>): bigint {
    let m = 0n;
    for (const n of names) m |= fieldBit(this.storedField(n).id);
    return m;
  }

  /** The stored fields a mask names, in row order (bit 63 names every field with id 63 or more). */
  fieldsOf(mask: bigint): FieldLayout[] {
    return this.rowOrder.filter((f) => (mask & fieldBit(f.id)) !== 0n);
  }

  /** The masked bytes of `mask` taken from a whole row. */
  packFields(row: Uint8Array, mask: bigint): Uint8Array {
    const fields = this.fieldsOf(mask);
    const out = new Uint8Array(fields.reduce((n, f) => n + f.size, 0));
    let at = 0;
    for (const f of fields) {
      out.set(row.subarray(f.offset, f.offset + f.size), at);
      at += f.size;
    }
    return out;
  }

  /** A copy of `row` with the masked bytes of `mask` written over it. */
  applyMasked(row: Uint8Array, mask: bigint, bytes: Uint8Array): Uint8Array {
    const out = row.slice();
    let at = 0;
    for (const f of this.fieldsOf(mask)) {
      if (at + f.size > bytes.length) throw new LayoutError(`table '${this.name}': masked bytes too short for mask ${mask}`);
      out.set(bytes.subarray(at, at + f.size), f.offset);
      at += f.size;
    }
    if (at !== bytes.length) throw new LayoutError(`table '${this.name}': ${bytes.length} masked bytes for mask ${mask}, not ${at}`);
    return out;
  }

  /** The values of the fields a mask names, from masked bytes. */
  decodeMasked(mask: bigint, bytes: Uint8Array): RowValues {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: { [name: string]: Value } = {};
    let at = 0;
    for (const f of this.fieldsOf(mask)) {
      if (at + f.size > bytes.length) throw new LayoutError(`table '${this.name}': masked bytes too short for mask ${mask}`);
      out[f.name] = readValue(f.type, view, at);
      at += f.size;
    }
    return out;
  }

  /**
   * An update of some fields: their mask and masked bytes. `base` (the row as it is, or the defaults) supplies
   * the other fields that bit 63 stands for when a field with id 63 or more is named.
   */
  encodeUpdate(values: RowValuesInput, base?: Uint8Array): { mask: bigint; bytes: Uint8Array } {
    const names = Object.keys(values).filter((k) => values[k] !== undefined);
    const mask = this.maskOf(names);
    return { mask, bytes: this.packFields(this.encodeRow(values, base), mask) };
  }

  /** A row's values in the HTTP API's JSON form (what GET /api/tables/{table}/rows has in `values`). */
  toJson(values: RowValues): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of this.stored) if (Object.hasOwn(values, f.name)) out[f.name] = valueToJson(f.type, values[f.name]!);
    return out;
  }

  /** Every stored field's bit. */
  get allFieldsMask(): bigint {
    return storedFieldsMask(this);
  }
}

export class SchemaLayout implements CodecSchema {
  readonly name: string;
  readonly version: string;
  readonly layoutHash: bigint;
  readonly toml: string | undefined;
  /** By table id. */
  readonly tables: readonly TableLayout[];
  readonly enums: ReadonlyMap<string, EnumType>;
  /** The structs whose members are known. */
  readonly structs: ReadonlyMap<string, StructType>;
  /** Why struct members could not be worked out (undefined when they could, or there are none). */
  readonly structsProblem: string | undefined;
  private readonly byName: ReadonlyMap<string, TableLayout>;

  constructor(json: SchemaJson) {
    if (json === null || typeof json !== "object" || !Array.isArray(json.tables)) {
      throw new LayoutError("not a schema document (GET /api/schema): no 'tables' array");
    }
    this.name = json.name;
    this.version = json.version;
    if (typeof json.layout_hash !== "string" || !/^[0-9a-fA-F]{1,16}$/.test(json.layout_hash)) {
      throw new LayoutError(`layout_hash ${JSON.stringify(json.layout_hash)} is not 16 hex digits`);
    }
    this.layoutHash = BigInt(`0x${json.layout_hash}`);
    this.toml = json.toml;
    const enums = new Map<string, EnumType>();
    for (const e of json.enums ?? []) {
      const underlying = e.underlying.trim();
      if (!isIntName(underlying)) throw new LayoutError(`enum '${e.name}': underlying type '${e.underlying}' is not an integer type`);
      const byValue = new Map<bigint, string>();
      const byName = new Map<string, bigint>();
      for (const v of e.variants) {
        const value = BigInt(v.value);
        if (!byValue.has(value)) byValue.set(value, v.name);
        byName.set(v.name, value);
      }
      enums.set(e.name, { name: e.name, underlying, byValue, byName });
    }
    this.enums = enums;
    let decls: Map<string, StructDecl>;
    let problem: string | undefined;
    if (json.structs !== undefined) {
      decls = new Map(
        json.structs.map((s) => [
          s.name,
          { name: s.name, size: s.size, align: s.align, members: s.fields.map((f) => ({ name: f.name, type: f.type, offset: f.offset })) },
        ]),
      );
    } else if (json.toml !== undefined) {
      try {
        decls = structDeclsFromToml(json.toml);
      } catch (e) {
        decls = new Map();
        problem = `the schema's TOML could not be read for its structs: ${(e as Error).message}`;
      }
    } else {
      decls = new Map();
      problem = "the schema document has neither 'structs' nor 'toml'";
    }
    const lookup = resolveStructs(decls, enums, problem);
    const ctx: TypeContext = { enums, structs: lookup };
    const tables = [...json.tables].sort((a, b) => a.id - b.id);
    tables.forEach((t, i) => {
      if (t.id !== i) throw new LayoutError(`table ids must be 0..${tables.length - 1}: table '${t.name}' has id ${t.id}`);
    });
    this.tables = tables.map((t) => new TableLayout(t, ctx));
    this.byName = new Map(this.tables.map((t) => [t.name, t]));
    const structs = new Map<string, StructType>();
    const problems: string[] = problem === undefined ? [] : [problem];
    for (const name of decls.keys()) {
      const s = lookup(name);
      if (s !== undefined && !("why" in s)) structs.set(name, s);
      else if (s !== undefined) problems.push(s.why);
    }
    this.structs = structs;
    this.structsProblem = problems.length === 0 ? undefined : problems.join("; ");
  }

  /** The layout of a table, or undefined. */
  find(name: string): TableLayout | undefined {
    return this.byName.get(name);
  }

  /** The layout of a table; throws for an unknown name. */
  table(name: string): TableLayout {
    const t = this.byName.get(name);
    if (t === undefined) throw new LayoutError(`unknown table '${name}'`);
    return t;
  }

  /** The tables that can have rows (all but the entity registry). */
  get rowTables(): TableLayout[] {
    return this.tables.filter((t) => !t.isEntityTable);
  }

  /** The layout hash as the server writes it: 16 hex digits. */
  get layoutHashHex(): string {
    return this.layoutHash.toString(16).padStart(16, "0");
  }
}

