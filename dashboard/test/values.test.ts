// Typed field values: parsing schema types, checking input before it is sent.
import { describe, expect, test } from "vitest";
import { checkValue, fieldType, parseInput, parseType, sameValue, toInputText } from "../src/lib/fieldType";
import type { Enum } from "../src/api/types";

const enums: Enum[] = [{ name: "Faction", underlying: "u8", variants: [{ name: "neutral", value: 0 }, { name: "player", value: 1 }] }];

describe("parseType", () => {
  test("built-in, strings, arrays, enums, structs", () => {
    expect(parseType("u8")).toMatchObject({ kind: "int", min: 0n, max: 255n });
    expect(parseType("i64")).toMatchObject({ kind: "int", min: -9223372036854775808n });
    expect(parseType("f32")).toEqual({ kind: "float", bits: 32 });
    expect(parseType("str<24>")).toEqual({ kind: "string", maxBytes: 24 });
    expect(parseType("[[u8; 4]; 3]")).toMatchObject({ kind: "array", length: 3, element: { kind: "array", length: 4, element: { kind: "int", name: "u8" } } });
    expect(parseType("[ DamageRoll ; 2 ]")).toMatchObject({ kind: "array", length: 2, element: { kind: "struct", name: "DamageRoll" } });
    expect(parseType("Faction", enums)).toMatchObject({ kind: "enum", name: "Faction", max: 255n });
    expect(parseType("Vec3", enums)).toEqual({ kind: "struct", name: "Vec3" });
    expect(fieldType({ type: "u64", kind: "entity_ref" })).toEqual({ kind: "entity" });
  });
});

describe("parseInput refuses wrong types before sending", () => {
  const u8 = parseType("u8");
  const i32 = parseType("i32");
  const u64 = parseType("u64");
  test("integers: syntax and range", () => {
    expect(parseInput(u8, "255")).toEqual({ ok: true, value: 255 });
    expect(parseInput(u8, "256")).toMatchObject({ ok: false, error: expect.stringContaining("out of range for u8") });
    expect(parseInput(u8, "-1").ok).toBe(false);
    expect(parseInput(u8, "1.5")).toMatchObject({ ok: false, error: "expected an integer (u8)" });
    expect(parseInput(u8, "abc").ok).toBe(false);
    expect(parseInput(i32, " -7 ")).toEqual({ ok: true, value: -7 });
    expect(parseInput(i32, "+7")).toEqual({ ok: true, value: 7 });
  });
  test("64-bit integers past 2^53 become strings", () => {
    expect(parseInput(u64, "18446744073709551615")).toEqual({ ok: true, value: "18446744073709551615" });
    expect(parseInput(u64, "9007199254740992")).toEqual({ ok: true, value: 9007199254740992 });
    expect(parseInput(u64, "18446744073709551616").ok).toBe(false);
  });
  test("floats", () => {
    const f32 = parseType("f32");
    expect(parseInput(f32, "0.5")).toEqual({ ok: true, value: 0.5 });
    expect(parseInput(f32, "1e3")).toEqual({ ok: true, value: 1000 });
    expect(parseInput(f32, "NaN")).toEqual({ ok: true, value: "NaN" });
    expect(parseInput(f32, "-Infinity")).toEqual({ ok: true, value: "-Infinity" });
    expect(parseInput(f32, "1e39").ok).toBe(false);
    expect(parseInput(parseType("f64"), "1e39")).toEqual({ ok: true, value: 1e39 });
    expect(parseInput(f32, "12abc").ok).toBe(false);
    expect(parseInput(f32, "").ok).toBe(false);
  });
  test("bool, strings by UTF-8 bytes, entity ids", () => {
    expect(parseInput(parseType("bool"), "true")).toEqual({ ok: true, value: true });
    expect(parseInput(parseType("bool"), "yes").ok).toBe(false);
    const s4 = parseType("str<4>");
    expect(parseInput(s4, "abcd")).toEqual({ ok: true, value: "abcd" });
    expect(parseInput(s4, "abcde").ok).toBe(false);
    expect(parseInput(s4, "ééé")).toMatchObject({ ok: false, error: expect.stringContaining("6 bytes") });
    const e = parseType("entity");
    expect(parseInput(e, "12:1")).toEqual({ ok: true, value: "12:1" });
    expect(parseInput(e, "")).toEqual({ ok: true, value: null });
    expect(parseInput(e, "null")).toEqual({ ok: true, value: null });
    expect(parseInput(e, "12").ok).toBe(false);
  });
  test("enums by name or value", () => {
    const f = parseType("Faction", enums);
    expect(parseInput(f, "player")).toEqual({ ok: true, value: "player" });
    expect(parseInput(f, "1")).toEqual({ ok: true, value: "player" });
    expect(parseInput(f, "7")).toEqual({ ok: true, value: 7 });
    expect(parseInput(f, "monsters")).toMatchObject({ ok: false, error: expect.stringContaining("not a variant of Faction") });
    expect(parseInput(f, "300").ok).toBe(false);
  });
  test("arrays: JSON of the exact length and element type", () => {
    const a = parseType("[u8; 3]");
    expect(parseInput(a, "[1,2,3]")).toEqual({ ok: true, value: [1, 2, 3] });
    expect(parseInput(a, "[1,2]")).toMatchObject({ ok: false, error: expect.stringContaining("exactly 3") });
    expect(parseInput(a, "[1,2,300]")).toMatchObject({ ok: false, error: expect.stringContaining("value[2]") });
    expect(parseInput(a, "[1,2")).toEqual({ ok: false, error: "expected JSON" });
  });
  test("structs keep the shape of the current value", () => {
    const v = parseType("Vec3");
    const like = { x: 0, y: 0, z: 0 };
    expect(parseInput(v, '{"x":1,"y":2,"z":3}', like)).toEqual({ ok: true, value: { x: 1, y: 2, z: 3 } });
    expect(parseInput(v, '{"x":1,"y":2}', like)).toMatchObject({ ok: false, error: expect.stringContaining("missing member z") });
    expect(parseInput(v, '{"x":1,"y":2,"z":3,"w":4}', like)).toMatchObject({ ok: false, error: expect.stringContaining("unknown member w") });
    expect(parseInput(v, '{"x":true,"y":2,"z":3}', like)).toMatchObject({ ok: false, error: expect.stringContaining("value.x") });
    const roll = parseType("[DamageRoll; 1]");
    expect(parseInput(roll, '[{"kind":"fire","amount":1,"critical":true}]', [{ kind: 0, amount: 0, critical: false }]).ok).toBe(true);
  });
});

describe("helpers", () => {
  test("checkValue, toInputText, sameValue", () => {
    expect(checkValue(parseType("u32"), "42")).toEqual({ ok: true, value: 42 });
    expect(toInputText(parseType("Vec3"), { x: 1 })).toBe('{"x":1}');
    expect(toInputText(parseType("entity"), null)).toBe("");
    expect(sameValue({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(sameValue({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameValue([1], { 0: 1 })).toBe(false);
  });
});
