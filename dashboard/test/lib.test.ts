// Pure logic: formatting, CSV/JSON export, predicates, URL state, curl, layout, schema lint positions.
import { describe, expect, test } from "vitest";
import { Text } from "@codemirror/state";
import { formatBytes, formatCount, formatDuration, formatNumber, formatRate, formatSeconds, formatValue } from "../src/lib/format";
import { csvField, rowsToCsv, rowsToJson } from "../src/lib/export";
import { parsePredicate, formatPredicate } from "../src/lib/predicate";
import { dataStateQuery, parseDataState, parseQueryState, parseWindow, queryStateQuery, DATA_DEFAULTS } from "../src/lib/urlState";
import { curlCommand, shellQuote } from "../src/lib/curl";
import { layoutSegments, paddingBytes, referenceEdges, structLayout, structMembers, structMembersText } from "../src/lib/layout";
import { diagnosticMessage, toDiagnostics } from "../src/lib/schemaLint";
import { healthSummary } from "../src/lib/health";
import type { Field, Row, Struct, Table } from "../src/api/types";

describe("format", () => {
  test("values", () => {
    expect(formatValue(null)).toBe("null");
    expect(formatValue("orc")).toBe("orc");
    expect(formatValue(0.10000000149011612)).toBe("0.1");
    expect(formatValue(true)).toBe("true");
    expect(formatValue({ x: 0.5, y: [1, 2] })).toBe('{"x":0.5,"y":[1,2]}');
    expect(formatValue("18446744073709551615")).toBe("18446744073709551615");
  });
  test("numbers and units", () => {
    expect(formatNumber(3)).toBe("3");
    expect(formatNumber(1 / 3)).toBe("0.3333333");
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(256 * 1024 * 1024)).toBe("256 MiB");
    expect(formatSeconds(0.000213)).toBe("213 µs");
    expect(formatSeconds(0.0042)).toBe("4.2 ms");
    expect(formatSeconds(1.5)).toBe("1.50 s");
    expect(formatSeconds(0)).toBe("0");
    expect(formatDuration(3725)).toBe("1h 2m 5s");
    expect(formatDuration(59)).toBe("59s");
    expect(formatRate(12.345)).toBe("12.3/s");
    expect(formatRate(12345)).toBe("12,345/s");
  });
});

describe("health", () => {
  test("ok, ok with warnings (their reasons as the detail), degraded with its reason", () => {
    expect(healthSummary({ status: "ok", version: 3 })).toEqual({ text: "ok", level: "ok", detail: "" });
    expect(healthSummary({ status: "ok", version: 3, warnings: ["snapshot failed: disk full"] }))
      .toEqual({ text: "ok · 1 warning", level: "warn", detail: "snapshot failed: disk full" });
    expect(healthSummary({ status: "ok", version: 3, warnings: ["a", "b"] })).toEqual({ text: "ok · 2 warnings", level: "warn", detail: "a\nb" });
    expect(healthSummary({ status: "degraded", version: 3, reason: "write-ahead log failed" }))
      .toEqual({ text: "degraded", level: "warn", detail: "write-ahead log failed" });
  });
});

describe("export", () => {
  const rows: Row[] = [
    { key: "0:1", values: { hp: 40, name: 'say "hi", ok', pos: { x: 1 } } },
    { key: "1:1", values: { hp: 7, name: "line\nbreak", pos: { x: 2 } } },
  ];
  test("CSV quotes commas, quotes and line breaks, JSON-encodes nested values", () => {
    expect(rowsToCsv(rows, ["hp", "name", "pos"])).toBe(
      'key,hp,name,pos\r\n0:1,40,"say ""hi"", ok","{""x"":1}"\r\n1:1,7,"line\nbreak","{""x"":2}"\r\n',
    );
  });
  test("CSV has an owner column for many tables, empty for null", () => {
    const many: Row[] = [{ key: "3:1", owner: "0:1", values: { slot: 2, crafted_by: null } }];
    expect(rowsToCsv(many, ["slot", "crafted_by"])).toBe("key,owner,slot,crafted_by\r\n3:1,0:1,2,\r\n");
  });
  test("CSV defuses formulas", () => {
    expect(csvField("=SUM(A1)")).toBe("'=SUM(A1)");
    expect(csvField("-12")).toBe("-12");
  });
  test("JSON keeps only the chosen columns", () => {
    expect(JSON.parse(rowsToJson(rows, ["hp"]))).toEqual([{ key: "0:1", values: { hp: 40 } }, { key: "1:1", values: { hp: 7 } }]);
  });
});

describe("predicates", () => {
  test("field OP value", () => {
    const p = parsePredicate(" hp < 50 ", false);
    expect(p).toMatchObject({ ok: true, text: "hp<50", field: "hp", op: "<", value: "50", table: null });
    expect(parsePredicate("name=orc chief", false)).toMatchObject({ ok: true, text: "name=orc chief" });
    expect(parsePredicate("faction!=monsters", false)).toMatchObject({ ok: true, op: "!=" });
  });
  test("qualified", () => {
    expect(parsePredicate("health.hp>=10", true)).toMatchObject({ ok: true, table: "health", op: ">=" });
    expect(parsePredicate("hp>=10", true).ok).toBe(false);
    expect(parsePredicate("health.hp>=10", false).ok).toBe(false);
  });
  test("refuses what is not a predicate", () => {
    expect(parsePredicate("hp", false).ok).toBe(false);
    expect(parsePredicate("hp<", false).ok).toBe(false);
    expect(parsePredicate("1x<3", false).ok).toBe(false);
  });
  test("format", () => {
    expect(formatPredicate({ table: "health", field: "hp", op: "<", value: "5" })).toBe("health.hp<5");
  });
});

describe("URL state", () => {
  test("data view round trip, defaults left out", () => {
    const s = { ...DATA_DEFAULTS, table: "health", where: ["hp<50", "max_hp>=10"], sort: "-hp", cols: ["hp"], limit: 500, live: false };
    const q = dataStateQuery(s);
    expect(q).toEqual({ where: ["hp<50", "max_hp>=10"], sort: "-hp", cols: "hp", limit: "500", live: "0" });
    expect(parseDataState(q as Record<string, string | string[]>, "health")).toEqual(s);
    expect(dataStateQuery({ ...DATA_DEFAULTS, table: "x" })).toEqual({});
  });
  test("bad values fall back to defaults or are clamped", () => {
    const s = parseDataState({ limit: "abc", live: "nope", where: "" }, null);
    expect(s.limit).toBe(200);
    expect(s.live).toBe(false);
    expect(s.where).toEqual([]);
    expect(parseDataState({ limit: "5000" }, null).limit).toBe(1000);
  });
  test("query view round trip", () => {
    const s = { with: ["health", "character"], without: ["is_boss"], where: ["health.hp<5"], orderBy: "health.hp", desc: true, limit: 100 };
    expect(parseQueryState(queryStateQuery(s) as Record<string, string | string[]>)).toEqual(s);
  });
  test("metrics window", () => {
    expect(parseWindow({ window: "60" })).toBe(60);
    expect(parseWindow({ window: "61" })).toBe(300);
    expect(parseWindow({})).toBe(300);
  });
});

describe("curl", () => {
  test("quotes and never holds the token", () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    const c = curlCommand({ origin: "http://127.0.0.1:8080", method: "POST", path: "/api/query", body: { where: ["character.name=o'neil"] }, withToken: true });
    expect(c).toContain("-X POST 'http://127.0.0.1:8080/api/query'");
    expect(c).toContain('-H "Authorization: Bearer $ECSDB_TOKEN"');
    expect(c).toContain(`-d '{"where":["character.name=o'\\''neil"]}'`);
    expect(curlCommand({ origin: "http://h", method: "GET", path: "/api/info", withToken: false })).toBe("curl -s 'http://h/api/info'");
  });
});

function field(name: string, offset: number, size: number, o: Partial<Field> = {}): Field {
  return { name, id: 0, type: "u32", kind: "scalar", offset, size, align: size, stored: true, owner_key: false, unique: false, deprecated: false, foreign_key: null, default: null, ...o };
}

describe("layout", () => {
  const health: Pick<Table, "stride" | "fields" | "name" | "parent_table"> = {
    name: "health",
    parent_table: "entities",
    stride: 24,
    fields: [
      field("entity_id", 0, 8, { stored: false, owner_key: true, kind: "entity_ref", foreign_key: "entities.id" }),
      field("hp", 0, 4),
      field("max_hp", 4, 4),
      field("regen", 8, 4),
      field("armor", 20, 2),
      field("last_hit", 12, 8, { kind: "struct" }),
    ],
  };
  test("segments in offset order with padding", () => {
    expect(layoutSegments(health).map((s) => [s.kind, s.name, s.offset, s.size])).toEqual([
      ["field", "hp", 0, 4],
      ["field", "max_hp", 4, 4],
      ["field", "regen", 8, 4],
      ["field", "last_hit", 12, 8],
      ["field", "armor", 20, 2],
      ["padding", "padding", 22, 2],
    ]);
    expect(paddingBytes(health)).toBe(2);
    expect(layoutSegments({ stride: 0, fields: [] })).toEqual([]);
  });
  test("reference edges", () => {
    expect(referenceEdges([health])).toEqual([{ from: "health", field: "entity_id", to: "entities", ownerKey: true }]);
  });
  // as examples/schemas/showcase.toml declares them (GET /api/schema's `structs`)
  const f32 = (name: string, offset: number) => field(name, offset, 4, { type: "f32" });
  const structs: Struct[] = [
    { name: "Vec3", size: 12, align: 4, fields: [f32("x", 0), f32("y", 4), f32("z", 8)] },
    { name: "Aabb", size: 24, align: 4, fields: [field("min", 0, 12, { type: "Vec3", kind: "struct", align: 4 }), field("max", 12, 12, { type: "Vec3", kind: "struct", align: 4 })] },
    { name: "DamageRoll", size: 8, align: 4, fields: [field("kind", 4, 2, { type: "DamageKind", kind: "enum" }), f32("amount", 0)] },
  ];
  test("struct members: in offset order, nested structs flattened with offsets from the field's start", () => {
    const bounds = { kind: "struct" as const, type: "Aabb" };
    expect(structMembers(bounds, structs).map((m) => [m.path, m.type, m.offset, m.size, m.depth])).toEqual([
      ["min", "Vec3", 0, 12, 1],
      ["min.x", "f32", 0, 4, 2],
      ["min.y", "f32", 4, 4, 2],
      ["min.z", "f32", 8, 4, 2],
      ["max", "Vec3", 12, 12, 1],
      ["max.x", "f32", 12, 4, 2],
      ["max.y", "f32", 16, 4, 2],
      ["max.z", "f32", 20, 4, 2],
    ]);
    expect(structMembers({ kind: "struct", type: "DamageRoll" }, structs).map((m) => m.path)).toEqual(["amount", "kind"]);
    expect(structMembersText({ kind: "struct", type: "DamageRoll" }, structs)).toBe("amount f32 @+0 (4 B)\nkind DamageKind @+4 (2 B)");
    expect(structMembers({ kind: "scalar", type: "u32" }, structs)).toEqual([]);
    expect(structMembers({ kind: "struct", type: "Unknown" }, structs)).toEqual([]);
  });
  test("a struct's layout: its size is the stride, padding included", () => {
    const s = structs[2]!;
    expect(layoutSegments(structLayout(s)).map((x) => [x.kind, x.name, x.offset, x.size])).toEqual([
      ["field", "amount", 0, 4],
      ["field", "kind", 4, 2],
      ["padding", "padding", 6, 2],
    ]);
  });
});

describe("schema lint", () => {
  const doc = Text.of(["[database]", 'name = "x"', "[tables.a]", "foo = 1"]);
  test("marks from the column to the end of the line", () => {
    const [d] = toDiagnostics(doc, [{ line: 4, column: 1, table: "a", field: "", message: "unknown key 'foo' in a table", hint: "" }]);
    expect(d).toMatchObject({ from: doc.line(4).from, to: doc.line(4).to, severity: "error" });
    expect(d?.message).toBe("table 'a': unknown key 'foo' in a table");
  });
  test("unknown positions mark the first line; lines past the end are clamped", () => {
    const [a, b] = toDiagnostics(doc, [
      { line: 0, column: 0, table: "", field: "", message: "no tables", hint: "add one" },
      { line: 99, column: 3, table: "", field: "", message: "late", hint: "" },
    ]);
    expect(a).toMatchObject({ from: 0, to: doc.line(1).to });
    expect(b?.from).toBe(doc.line(4).from + 2);
    expect(diagnosticMessage({ line: 0, column: 0, table: "t", field: "f", message: "bad", hint: "fix" })).toBe("table 't', field 'f': bad (fix)");
  });
});
