import { describe, expect, test } from "vitest";
import { fieldBit, maskedSize } from "../src/codec.js";
import { LayoutError, type SchemaJson, SchemaLayout, type StructJson, shortestF32 } from "../src/layout.js";
import { fixture, hex } from "./helpers.js";

type HttpRow = { key: string; owner?: string | null; values: Record<string, unknown> };

const gameJson = fixture("game-schema.json");
const showcaseJson = fixture("showcase-schema.json");
const validate = fixture<{ structs: StructJson[]; row_order: Record<string, string[]> }>("showcase-validate.json");
const showcaseRows = fixture<Record<string, HttpRow[]>>("showcase-rows.json");
const typesJson = fixture("types-schema.json");
const typesRows = fixture<Record<string, HttpRow[]>>("types-rows.json");

describe("the game schema", () => {
  const game = new SchemaLayout(gameJson);

  test("tables, strides, fields", () => {
    expect(game.layoutHashHex).toBe(gameJson.layout_hash);
    expect(game.tables.map((t) => [t.id, t.name, t.stride, t.many, t.isEntityTable])).toEqual([
      [0, "entities", 0, false, true],
      [1, "transform", 12, false, false],
      [2, "health", 8, false, false],
    ]);
    expect(game.rowTables.map((t) => t.name)).toEqual(["transform", "health"]);
    const transform = game.table("transform");
    expect(transform.rowOrder.map((f) => [f.name, f.id, f.offset])).toEqual([
      ["position_x", 1, 0],
      ["position_y", 2, 4],
      ["position_z", 3, 8],
    ]);
    expect(transform.ownerKey?.name).toBe("entity_id");
    expect(() => game.table("helth")).toThrow(/unknown table 'helth'/);
  });

  test("health {40, 100} is the worked example's row bytes", () => {
    const health = game.table("health");
    const row = health.encodeRow({ hp: 40, max_hp: 100 });
    expect(hex(row)).toBe("28 00 00 00 64 00 00 00");
    expect(health.decodeRow(row)).toEqual({ hp: 40, max_hp: 100 });
    expect(health.encodeRow({ hp: 7 }, row)).toEqual(health.encodeRow({ hp: 7, max_hp: 100 }));
  });

  test("updates: masks and masked bytes in row order", () => {
    const transform = game.table("transform");
    const u = transform.encodeUpdate({ position_z: 1, position_x: 2.5 });
    expect(u.mask).toBe(0b1010n);
    expect(hex(u.bytes)).toBe("00 00 20 40 00 00 80 3f"); // position_x (offset 0) before position_z (offset 8)
    expect(transform.decodeMasked(u.mask, u.bytes)).toEqual({ position_x: 2.5, position_z: 1 });
    const row = transform.encodeRow({ position_y: 9 });
    expect(transform.decodeRow(transform.applyMasked(row, u.mask, u.bytes))).toEqual({ position_x: 2.5, position_y: 9, position_z: 1 });
    expect(transform.packFields(transform.applyMasked(row, u.mask, u.bytes), u.mask)).toEqual(u.bytes);
    expect(transform.fieldsOf(transform.allFieldsMask).map((f) => f.name)).toEqual(["position_x", "position_y", "position_z"]);
  });

  test("bad values are refused, naming the table and field", () => {
    const health = game.table("health");
    expect(() => health.encodeRow({ hp: -1 })).toThrow("table 'health', field 'hp': -1 is out of range for u32 (0..4294967295)");
    expect(() => health.encodeRow({ hp: 1.5 })).toThrow(/field 'hp': expected u32, got number 1.5/);
    expect(() => health.encodeRow({ hp: "x" })).toThrow(/expected u32, got the string "x"/);
    expect(() => health.encodeRow({ mana: 1 })).toThrow("table 'health' has no field 'mana'");
    expect(() => health.encodeRow({ entity_id: "0:1" })).toThrow(/not stored in the row/);
    expect(() => game.table("transform").encodeRow({ position_x: 1e39 })).toThrow(/out of range for f32/);
    expect(() => game.table("transform").encodeRow({ position_x: true })).toThrow(LayoutError);
    // Integers as the HTTP API takes them: decimal strings, integral floats.
    expect(health.decodeRow(health.encodeRow({ hp: "42", max_hp: 5.0 }))).toEqual({ hp: 42, max_hp: 5 });
  });
});

describe("the showcase schema: every type", () => {
  const showcase = new SchemaLayout(showcaseJson);

  test("struct layouts from the TOML text equal ecsdb validate --json", () => {
    expect(showcase.structsProblem).toBeUndefined();
    for (const s of validate.structs) {
      const mine = showcase.structs.get(s.name)!;
      expect(mine, s.name).toBeDefined();
      expect([mine.size, mine.align]).toEqual([s.size, s.align]);
      expect(mine.members.map((m) => [m.name, m.offset, m.type.size])).toEqual(s.fields.map((f) => [f.name, f.offset, f.size]));
    }
  });

  test("row order equals ecsdb validate --json's row_order", () => {
    for (const t of showcase.tables) expect(t.rowOrder.map((f) => f.name), t.name).toEqual(validate.row_order[t.name]);
  });

  test("the server's rows in JSON round trip through row bytes (structs, arrays, enums, strings, 64-bit, NaN)", () => {
    let n = 0;
    for (const [name, rows] of Object.entries(showcaseRows)) {
      const t = showcase.table(name);
      for (const row of rows) {
        const bytes = t.encodeRow(row.values);
        expect(bytes.length).toBe(t.stride);
        expect(t.toJson(t.decodeRow(bytes)), `${name} ${row.key}`).toEqual(row.values);
        n++;
      }
    }
    expect(n).toBe(12);
  });

  test("values in JS form", () => {
    const character = showcase.table("character");
    const values = character.decodeRow(character.encodeRow(showcaseRows["character"]![0]!.values));
    expect(values).toEqual({
      name: "Ann",
      title: "Wanderer",
      faction: "monsters",
      level: 1,
      experience: 18446744073709551615n,
      hotbar: [1, 2, 3, 4, 5, 6, 7, 8],
      skill_levels: [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9, 10, 11, 12],
      ],
      is_online: true,
    });
    const item = showcase.table("inventory_item");
    expect(item.decodeRow(item.encodeRow(showcaseRows["inventory_item"]![0]!.values))).toMatchObject({
      serial: 1n,
      crafted_by: "1:1",
      rarity: "legendary",
      enchantments: [
        { kind: "frost", amount: 1, critical: false },
        { kind: "poison", amount: 2, critical: true },
      ],
    });
    const brain = showcase.table("ai_brain");
    expect(brain.decodeRow(brain.encodeRow({}))).toMatchObject({ target: null, aggro_radius: 12, state: 0 });
    expect(showcase.table("is_boss").decodeRow(new Uint8Array(0))).toEqual({});
  });

  test("bytes where docs/schema.md puts them", () => {
    const character = showcase.table("character");
    const row = character.encodeRow({ experience: 0x0102030405060708n, faction: "merchants", name: "Zoë", is_online: true, skill_levels: [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]] });
    expect(hex(row.subarray(0, 8))).toBe("08 07 06 05 04 03 02 01");
    expect(hex(row.subarray(40, 45))).toBe("5a 6f c3 ab 00"); // "Zoë", zero padded
    expect(hex(row.subarray(64, 73))).toBe("57 61 6e 64 65 72 65 72 00"); // the default title "Wanderer"
    expect(row[80]).toBe(3); // faction merchants
    expect(row[81]).toBe(1); // level's default
    expect(hex(row.subarray(82, 94))).toBe("01 02 03 04 05 06 07 08 09 0a 0b 0c");
    expect(row[94]).toBe(1);
    const health = showcase.table("health");
    // last_hit: DamageRoll at 12 = amount f32 (+0), kind u16 (+4), critical bool (+6)
    const h = health.encodeRow({ last_hit: { kind: "poison", amount: 2, critical: true } });
    expect(hex(h.subarray(12, 20))).toBe("00 00 00 40 0a 00 01 00");
    // hp (id 1) and last_hit (id 5): masked bytes in row order, hp at 0 then last_hit at 12
    const u = health.encodeUpdate({ last_hit: { kind: "fire", amount: 0, critical: false }, hp: 1 });
    expect(u.mask).toBe(fieldBit(1) | fieldBit(5));
    expect(hex(u.bytes)).toBe("01 00 00 00 00 00 00 00 02 00 00 00");
    expect(maskedSize(health, u.mask)).toBe(12);
  });

  test("struct, array and enum input errors", () => {
    const transform = showcase.table("transform");
    expect(() => transform.encodeRow({ position: { x: 1, y: 2 } })).toThrow("table 'transform', field 'position': Vec3 member 'z' is missing");
    expect(() => transform.encodeRow({ position: { x: 1, y: 2, z: 3, w: 4 } })).toThrow(/Vec3 has no member 'w'/);
    expect(() => transform.encodeRow({ position: [1, 2, 3] })).toThrow(/expected Vec3 \(an object\)/);
    const character = showcase.table("character");
    expect(() => character.encodeRow({ hotbar: [1, 2] })).toThrow(/field 'hotbar': expected \[u32; 8\] \(an array of 8\), got an array of 2/);
    expect(() => character.encodeRow({ skill_levels: [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 256]] })).toThrow("table 'character', field 'skill_levels'[2][3]: 256 is out of range for u8 (0..255)");
    expect(() => character.encodeRow({ faction: "pirates" })).toThrow(/'pirates' is not a variant of Faction \(neutral, player, monsters, merchants\)/);
    expect(() => character.encodeRow({ faction: 256 })).toThrow(/out of range for Faction \(u8\)/);
    expect(() => character.encodeRow({ name: "x".repeat(25) })).toThrow("table 'character', field 'name': string of 25 bytes does not fit str<24>");
    expect(() => showcase.table("buff").encodeRow({ source: "1" })).toThrow(/not an id/);
    expect(character.decodeRow(character.encodeRow({ faction: 2 })).faction).toBe("monsters");
  });

  test("structs described by the document (validate --json shape) are used as given", () => {
    const { toml: _toml, ...rest } = showcaseJson;
    const withStructs = new SchemaLayout({ ...rest, structs: validate.structs } as SchemaJson);
    for (const [name, rows] of Object.entries(showcaseRows)) {
      const t = withStructs.table(name);
      const reference = showcase.table(name);
      for (const row of rows) expect(hex(t.encodeRow(row.values))).toBe(hex(reference.encodeRow(row.values)));
    }
  });

  test("without struct members, structs are their bytes", () => {
    const { toml: _toml, ...rest } = showcaseJson;
    const bare = new SchemaLayout(rest as SchemaJson);
    expect(bare.structsProblem).toMatch(/neither 'structs' nor 'toml'/);
    const brain = bare.table("ai_brain");
    const row = showcase.table("ai_brain").encodeRow(showcaseRows["ai_brain"]![0]!.values);
    const values = brain.decodeRow(row);
    expect(values["home"]).toBeInstanceOf(Uint8Array);
    expect((values["home"] as Uint8Array).length).toBe(12);
    expect(values["patrol_path"]).toHaveLength(4);
    expect(values["target"]).toBe("0:1");
    expect(brain.encodeRow(values)).toEqual(row);
    expect(() => brain.encodeRow({ home: { x: 1, y: 2, z: 3 } })).toThrow(/expected 12 bytes \(a Uint8Array/);
  });

  test("a TOML whose structs do not match the server's sizes falls back to bytes", () => {
    const changed = { ...showcaseJson, toml: showcaseJson.toml!.replace('[[structs.Vec3.fields]]\nname = "z"\ntype = "f32"', '[[structs.Vec3.fields]]\nname = "z"\ntype = "f64"') };
    expect(changed.toml).not.toBe(showcaseJson.toml);
    const layout = new SchemaLayout(changed);
    expect(layout.table("ai_brain").field("home")!.type.kind).toBe("bytes");
    expect(layout.table("health").field("last_hit")!.type.kind).toBe("struct");
  });
});

describe("edge values (a schema with entity ids in structs, 64-bit extremes, NaN, enum aliases)", () => {
  const types = new SchemaLayout(typesJson);
  const c = types.table("c");

  test("the server's JSON round trips", () => {
    for (const row of typesRows["c"]!) expect(c.toJson(c.decodeRow(c.encodeRow(row.values)))).toEqual(row.values);
  });

  test("JS values", () => {
    const v = c.decodeRow(c.encodeRow(typesRows["c"]![0]!.values));
    expect(v["s"]).toEqual({ who: "0:1", big: 9007199254740993n, e: "c" });
    expect(v["es"]).toEqual(["0:1", null]);
    expect(v["i"]).toBe(-9007199254740993n);
    expect(v["f"]).toBeNaN();
    expect(v["g"]).toBe(-Infinity);
    expect(v["name"]).toBe("hé");
    expect(v["ee"]).toBe("a"); // -1 is both 'a' and 'b': the first declared
    const w = c.decodeRow(c.encodeRow(typesRows["c"]![1]!.values));
    expect(w["i"]).toBe(9223372036854775807n);
    expect((w["s"] as { big: bigint }).big).toBe(18446744073709551615n);
    expect(w["name"]).toBe("abcd"); // exactly N bytes: no terminator
  });

  test("a stored enum value no variant has stays its integer", () => {
    const row = c.encodeRow({ ee: 5 });
    expect(c.decodeRow(row)["ee"]).toBe(5);
  });

  test("f32 shortest decimals", () => {
    expect(shortestF32(Math.fround(0.1))).toBe(0.1);
    expect(shortestF32(Math.fround(3.4e38))).toBe(3.4e38);
    expect(shortestF32(Math.fround(1e-45))).toBe(1e-45);
    expect(shortestF32(Math.fround(16777217))).toBe(16777216);
  });

  test("documents that are not schemas are refused", () => {
    expect(() => new SchemaLayout({} as SchemaJson)).toThrow(/no 'tables' array/);
    expect(() => new SchemaLayout({ ...typesJson, layout_hash: "xyz" })).toThrow(/layout_hash/);
    const broken = structuredClone(typesJson);
    broken.tables[1]!.fields[3]!.size = 4;
    expect(() => new SchemaLayout(broken)).toThrow(/table 'c', field 'i': type i64 is 8 bytes here, the server says 4/);
  });
});
