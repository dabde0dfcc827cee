// Components mounted in happy-dom: the row editor refuses wrong input and saves changed fields only; the
// login form; the layout diagram.
import { describe, expect, test, vi } from "vitest";
import { flushPromises, mount } from "@vue/test-utils";
import RowEditor from "../src/components/RowEditor.vue";
import LoginForm from "../src/components/LoginForm.vue";
import LayoutDiagram from "../src/components/LayoutDiagram.vue";
import type { Field, Table } from "../src/api/types";

function field(name: string, type: string, kind: Field["kind"], offset: number, size: number): Field {
  return { name, id: 0, type, kind, offset, size, align: Math.min(size, 8) || 1, stored: true, owner_key: false, unique: false, deprecated: false, foreign_key: null, default: null };
}

const fields = [field("hp", "u8", "scalar", 0, 1), field("name", "str<4>", "string", 1, 4), field("online", "bool", "scalar", 5, 1)];

describe("RowEditor", () => {
  test("a wrong value is refused before sending; a good one is saved with its old value", async () => {
    const save = vi.fn(async () => {});
    const w = mount(RowEditor, { props: { idPrefix: "t", fields, values: { hp: 40, name: "orc", online: false }, enums: [], save } });
    const submit = () => w.find("button[type=submit]");
    expect(submit().attributes("disabled")).toBeDefined();
    await w.find("#t-hp").setValue("300");
    expect(w.text()).toContain("out of range for u8");
    expect(w.find("#t-hp").attributes("aria-invalid")).toBe("true");
    expect(submit().attributes("disabled")).toBeDefined();
    await w.find("form").trigger("submit");
    expect(save).not.toHaveBeenCalled();
    await w.find("#t-hp").setValue("7");
    await w.find("#t-online").setValue(true);
    expect(submit().attributes("disabled")).toBeUndefined();
    await w.find("form").trigger("submit");
    await flushPromises();
    expect(save).toHaveBeenCalledWith({ hp: 40, online: false }, { hp: 7, online: true });
    expect(w.text()).toContain("Saved hp, online.");
  });
  test("a failed save shows the server's message", async () => {
    const { ApiError } = await import("../src/api/errors");
    const save = vi.fn(async () => {
      throw new ApiError(409, "precondition_failed", "Conflict: the row changed since it was loaded (hp).");
    });
    const w = mount(RowEditor, { props: { idPrefix: "t", fields, values: { hp: 40, name: "orc", online: false }, enums: [], save } });
    await w.find("#t-name").setValue("ogre");
    await w.find("form").trigger("submit");
    await flushPromises();
    expect(w.text()).toContain("Conflict: the row changed since it was loaded (hp). (precondition_failed, HTTP 409)");
  });
  test("read-only shows values without inputs", () => {
    const w = mount(RowEditor, { props: { idPrefix: "t", fields, values: { hp: 40, name: "orc", online: false }, enums: [], readOnly: true, save: async () => {} } });
    expect(w.findAll("input")).toHaveLength(0);
    expect(w.text()).toContain("orc");
  });
});

describe("LoginForm", () => {
  test("emits the trimmed token and the keep choice; shows the error", async () => {
    const w = mount(LoginForm, { props: { error: "The server refused this token.", checking: false } });
    expect(w.text()).toContain("The server refused this token.");
    await w.find("#login-token").setValue("  tok  ");
    await w.find("form").trigger("submit");
    expect(w.emitted("submit")?.[0]).toEqual(["tok", true]);
    expect(w.find("#login-token").attributes("type")).toBe("password");
  });
});

describe("LayoutDiagram", () => {
  test("draws fields and padding", () => {
    const table: Table = { name: "t", id: 1, cardinality: "one", parent_table: "entities", stride: 8, align: 4, fields: [field("a", "u8", "scalar", 0, 1), field("b", "u32", "scalar", 4, 4)] };
    const w = mount(LayoutDiagram, { props: { table } });
    const segs = w.findAll(".seg");
    expect(segs.map((s) => s.classes().includes("padding") ? "pad" : s.text())).toEqual(["a", "pad", "b"]);
    expect(w.text()).toContain("3 B padding");
    expect(w.find("[role=img]").attributes("aria-label")).toContain("b 4 bytes at 4");
  });
});
