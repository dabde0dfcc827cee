// Field types as the schema spells them (`u32`, `f32`, `str<16>`, `[f32; 3]`, an enum's or a struct's
// name, `entity`), and the checking of values typed by a person before they are sent: a wrong type or an
// out-of-range value is refused here with a message, never sent. The rules are those of docs/server.md
// "Values in JSON".
import type { Enum, Field } from "../api/types";

export type FieldType =
  | { kind: "int"; name: string; min: bigint; max: bigint }
  | { kind: "float"; bits: 32 | 64 }
  | { kind: "bool" }
  | { kind: "string"; maxBytes: number }
  | { kind: "entity" }
  | { kind: "enum"; name: string; variants: { name: string; value: number }[]; min: bigint; max: bigint }
  | { kind: "array"; element: FieldType; length: number }
  | { kind: "struct"; name: string };

const INT_RANGES: Record<string, [bigint, bigint]> = {
  u8: [0n, 255n],
  u16: [0n, 65535n],
  u32: [0n, 4294967295n],
  u64: [0n, 18446744073709551615n],
  i8: [-128n, 127n],
  i16: [-32768n, 32767n],
  i32: [-2147483648n, 2147483647n],
  i64: [-9223372036854775808n, 9223372036854775807n],
};
const MAX_SAFE = 9007199254740992n; // 2^53: past it, 64-bit integers travel as strings
const F32_MAX = 3.4028234663852886e38;

/** Parses a type as spelled in the schema. Names that are neither built in nor enums are structs. */
export function parseType(spelled: string, enums: readonly Enum[] = []): FieldType {
  const t = spelled.trim();
  const array = /^\[\s*(.+)\s*;\s*(\d+)\s*\]$/.exec(t);
  if (array !== null) return { kind: "array", element: parseType(array[1] ?? "", enums), length: Number(array[2]) };
  const range = INT_RANGES[t];
  if (range !== undefined) return { kind: "int", name: t, min: range[0], max: range[1] };
  if (t === "f32") return { kind: "float", bits: 32 };
  if (t === "f64") return { kind: "float", bits: 64 };
  if (t === "bool") return { kind: "bool" };
  if (t === "entity") return { kind: "entity" };
  const str = /^str\s*<\s*(\d+)\s*>$/.exec(t);
  if (str !== null) return { kind: "string", maxBytes: Number(str[1]) };
  const e = enums.find((x) => x.name === t);
  if (e !== undefined) {
    const r = INT_RANGES[e.underlying] ?? INT_RANGES["u32"] ?? [0n, 0n];
    return { kind: "enum", name: e.name, variants: e.variants, min: r[0], max: r[1] };
  }
  return { kind: "struct", name: t };
}

/** The type of a schema field (an entity reference spelled `u64` with a foreign key is an entity). */
export function fieldType(field: Pick<Field, "type" | "kind">, enums: readonly Enum[] = []): FieldType {
  if (field.kind === "entity_ref") return { kind: "entity" };
  return parseType(field.type, enums);
}

export type Checked = { ok: true; value: unknown } | { ok: false; error: string };

const utf8 = new TextEncoder();

function intValue(v: bigint): number | string {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v.toString();
}

/**
 * Checks a JSON value against a type. `like` is the field's current value: structs are checked against
 * its shape (the API does not describe struct members), so their members must keep their names and JSON
 * kinds. The returned value is normalised (64-bit integers past 2^53 as strings).
 */
export function checkValue(type: FieldType, value: unknown, like?: unknown, path = "value"): Checked {
  switch (type.kind) {
    case "int": {
      let v: bigint;
      if (typeof value === "number" && Number.isInteger(value)) v = BigInt(value);
      else if (typeof value === "string" && /^-?\d+$/.test(value.trim())) v = BigInt(value.trim());
      else return { ok: false, error: `${path}: expected an integer (${type.name})` };
      if (v < type.min || v > type.max) return { ok: false, error: `${path}: ${v} is out of range for ${type.name} (${type.min}..${type.max})` };
      return { ok: true, value: intValue(v) };
    }
    case "float": {
      if (value === "NaN" || value === "Infinity" || value === "-Infinity") return { ok: true, value };
      if (typeof value !== "number" || !Number.isFinite(value)) return { ok: false, error: `${path}: expected a number (f${type.bits})` };
      if (type.bits === 32 && Math.abs(value) > F32_MAX) return { ok: false, error: `${path}: ${value} is out of range for f32` };
      return { ok: true, value };
    }
    case "bool":
      return typeof value === "boolean" ? { ok: true, value } : { ok: false, error: `${path}: expected true or false` };
    case "string": {
      if (typeof value !== "string") return { ok: false, error: `${path}: expected a string` };
      const bytes = utf8.encode(value).length;
      if (bytes > type.maxBytes) return { ok: false, error: `${path}: ${bytes} bytes of UTF-8, at most ${type.maxBytes} allowed (str<${type.maxBytes}>)` };
      return { ok: true, value };
    }
    case "entity":
      if (value === null) return { ok: true, value: null };
      if (typeof value === "string" && /^\d+:\d+$/.test(value)) return { ok: true, value };
      return { ok: false, error: `${path}: expected an entity id "index:generation" (e.g. 12:1) or null` };
    case "enum": {
      if (typeof value === "string") {
        if (type.variants.some((x) => x.name === value)) return { ok: true, value };
        return { ok: false, error: `${path}: '${value}' is not a variant of ${type.name} (${type.variants.map((x) => x.name).join(", ")})` };
      }
      if (typeof value === "number" && Number.isInteger(value)) {
        const v = BigInt(value);
        if (v < type.min || v > type.max) return { ok: false, error: `${path}: ${value} is out of range for ${type.name}` };
        const named = type.variants.find((x) => x.value === value);
        return { ok: true, value: named !== undefined ? named.name : value };
      }
      return { ok: false, error: `${path}: expected a variant of ${type.name}` };
    }
    case "array": {
      if (!Array.isArray(value)) return { ok: false, error: `${path}: expected an array of ${type.length}` };
      if (value.length !== type.length) return { ok: false, error: `${path}: expected exactly ${type.length} elements, got ${value.length}` };
      const out: unknown[] = [];
      for (let i = 0; i < value.length; i++) {
        const likeItem: unknown = Array.isArray(like) ? like[i] : undefined;
        const r = checkValue(type.element, value[i], likeItem, `${path}[${i}]`);
        if (!r.ok) return r;
        out.push(r.value);
      }
      return { ok: true, value: out };
    }
    case "struct":
      return checkLike(value, like, path, type.name);
  }
}

/** Checks a value against the shape of an example: same JSON kinds, same object members. */
function checkLike(value: unknown, like: unknown, path: string, what: string): Checked {
  if (like === undefined) {
    return typeof value === "object" && value !== null && !Array.isArray(value) ? { ok: true, value } : { ok: false, error: `${path}: expected an object (${what})` };
  }
  if (like === null) return { ok: true, value };
  if (Array.isArray(like)) {
    if (!Array.isArray(value) || value.length !== like.length) return { ok: false, error: `${path}: expected an array of ${like.length}` };
    const out: unknown[] = [];
    for (let i = 0; i < like.length; i++) {
      const r = checkLike(value[i], like[i], `${path}[${i}]`, what);
      if (!r.ok) return r;
      out.push(r.value);
    }
    return { ok: true, value: out };
  }
  if (typeof like === "object") {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, error: `${path}: expected an object (${what})` };
    const expected = Object.keys(like);
    const given = Object.keys(value);
    const missing = expected.filter((k) => !given.includes(k));
    const extra = given.filter((k) => !expected.includes(k));
    if (missing.length > 0) return { ok: false, error: `${path}: missing member ${missing.join(", ")}` };
    if (extra.length > 0) return { ok: false, error: `${path}: unknown member ${extra.join(", ")}` };
    const out: Record<string, unknown> = {};
    for (const k of expected) {
      const r = checkLike((value as Record<string, unknown>)[k], (like as Record<string, unknown>)[k], `${path}.${k}`, what);
      if (!r.ok) return r;
      out[k] = r.value;
    }
    return { ok: true, value: out };
  }
  if (typeof like === "number") {
    // A string may be an enum variant's name or a 64-bit integer: the server checks those.
    if (typeof value === "number" || typeof value === "string") return { ok: true, value };
    return { ok: false, error: `${path}: expected a number` };
  }
  if (typeof like === "string") return typeof value === "string" || typeof value === "number" ? { ok: true, value } : { ok: false, error: `${path}: expected a string` };
  if (typeof like === "boolean") return typeof value === "boolean" ? { ok: true, value } : { ok: false, error: `${path}: expected true or false` };
  return { ok: true, value };
}

/** How a value is shown in a text input of its type. */
export function toInputText(type: FieldType, value: unknown): string {
  if (type.kind === "array" || type.kind === "struct") return JSON.stringify(value);
  if (value === null || value === undefined) return "";
  return String(value);
}

/** Parses what a person typed into a field's input, then checks it. */
export function parseInput(type: FieldType, text: string, like?: unknown): Checked {
  const t = text.trim();
  switch (type.kind) {
    case "int":
      if (!/^[-+]?\d+$/.test(t)) return { ok: false, error: `expected an integer (${type.name})` };
      return checkValue(type, t.replace(/^\+/, ""), like);
    case "float": {
      if (t === "NaN" || t === "Infinity" || t === "-Infinity") return { ok: true, value: t };
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return { ok: false, error: `expected a number (f${type.bits})` };
      return checkValue(type, Number(t), like);
    }
    case "bool":
      if (t === "true" || t === "false") return { ok: true, value: t === "true" };
      return { ok: false, error: "expected true or false" };
    case "string":
      return checkValue(type, text, like);
    case "entity":
      return checkValue(type, t === "" || t === "null" ? null : t, like);
    case "enum":
      return checkValue(type, /^-?\d+$/.test(t) ? Number(t) : t, like);
    case "array":
    case "struct": {
      let parsed: unknown;
      try {
        parsed = JSON.parse(t);
      } catch {
        return { ok: false, error: "expected JSON" };
      }
      return checkValue(type, parsed, like);
    }
  }
}

/** Whether two JSON values are equal (deep). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
