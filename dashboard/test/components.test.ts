// Components mounted in happy-dom: the row editor refuses wrong input and saves changed fields only; the
// login form; the layout diagram (tables and structs); the nav's role badge.
import { describe, expect, test, vi } from "vitest";
import { flushPromises, mount } from "@vue/test-utils";
import RowEditor from "../src/components/RowEditor.vue";
import LoginForm from "../src/components/LoginForm.vue";
import LayoutDiagram from "../src/components/LayoutDiagram.vue";
import AppNav from "../src/components/AppNav.vue";
import type { Field, Struct, Table, WhoAmI } from "../src/api/types";

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
    expect(w.findAll("button")).toHaveLength(0);
    expect(w.text()).toContain("orc");
  });
  test("read-only with a reason: each value explains it in its tooltip", () => {
    const reason = "Your token has the read role: editing is off.";
    const w = mount(RowEditor, { props: { idPrefix: "t", fields, values: { hp: 40, name: "orc", online: false }, enums: [], readOnly: true, readOnlyReason: reason, save: async () => {} } });
    expect(w.find("#t-hp").element.tagName).toBe("SPAN");
    expect(w.find("#t-hp").attributes("title")).toBe(reason);
    expect(w.findAll("label")).toHaveLength(0);
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

describe("LayoutDiagram with structs", () => {
  const f32 = (name: string, offset: number) => ({ ...field(name, "f32", "scalar", offset, 4) });
  const vec3: Struct = { name: "Vec3", size: 12, align: 4, fields: [f32("x", 0), f32("y", 4), f32("z", 8)] };
  const roll: Struct = { name: "DamageRoll", size: 8, align: 4, fields: [{ ...field("kind", "DamageKind", "enum", 4, 2), align: 2 }, f32("amount", 0)] };
  test("a struct's own layout: members by offset, its padding", () => {
    const w = mount(LayoutDiagram, { props: { struct: roll, structs: [vec3, roll] } });
    expect(w.find("h3").text()).toContain("DamageRoll");
    expect(w.find("h3").text()).toContain("size 8 B");
    expect(w.text()).toContain("2 B padding");
    expect(w.findAll(".seg").map((s) => (s.classes().includes("padding") ? "pad" : s.text()))).toEqual(["amount", "kind", "pad"]);
    expect(w.find("[role=img]").attributes("aria-label")).toMatch(/^Layout of struct DamageRoll: amount 4 bytes at 0/);
  });
  test("a struct-typed field of a table lists its members in a tooltip and expands to them with row offsets", async () => {
    const table: Table = { name: "transform", id: 1, cardinality: "one", parent_table: "entities", stride: 16, align: 4, fields: [field("id", "u32", "scalar", 0, 4), { ...field("position", "Vec3", "struct", 4, 12), align: 4 }] };
    const w = mount(LayoutDiagram, { props: { table, structs: [vec3] } });
    const seg = w.findAll(".seg").find((s) => s.text() === "position");
    expect(seg?.attributes("title")).toBe("position Vec3 @4 (12 B)\nx f32 @+0 (4 B)\ny f32 @+4 (4 B)\nz f32 @+8 (4 B)");
    const button = w.find("button.expand");
    expect(button.text()).toContain("position");
    expect(button.attributes("aria-expanded")).toBe("false");
    expect(w.findAll("tr.member")).toHaveLength(0);
    await button.trigger("click");
    expect(button.attributes("aria-expanded")).toBe("true");
    const members = w.findAll("tr.member");
    expect(members.map((m) => m.attributes("data-member"))).toEqual(["position.x", "position.y", "position.z"]);
    expect(members[1]?.findAll("td")[3]?.text()).toBe("8 (+4)"); // the row offset, and the member's in the struct
    await button.trigger("click");
    expect(w.findAll("tr.member")).toHaveLength(0);
    // a scalar field has no button
    expect(w.findAll("button.expand")).toHaveLength(1);
  });
});

describe("AppNav health", () => {
  const stubs = { RouterLink: { template: "<a><slot /></a>" } };
  const nav = (health: { status: "ok" | "degraded"; version: number; reason?: string; warnings?: string[] }) =>
    mount(AppNav, { props: { health, healthError: null, info: null, theme: "light" as const, hasToken: false, whoami: null }, global: { stubs } });
  test("ok, a warning while background durability work fails, degraded with its reason", () => {
    const ok = nav({ status: "ok", version: 3 }).find(".status");
    expect(ok.text()).toContain("ok");
    expect(ok.classes()).toContain("ok");
    const warned = nav({ status: "ok", version: 3, warnings: ["retention after the latest snapshot failed: covered log segments stay on disk"] }).find(".status");
    expect(warned.text()).toContain("ok · 1 warning");
    expect(warned.classes()).toContain("warn");
    expect(warned.attributes("title")).toContain("retention after the latest snapshot failed");
    const degraded = nav({ status: "degraded", version: 3, reason: "fsync failed" }).find(".status");
    expect(degraded.text()).toContain("degraded");
    expect(degraded.attributes("title")).toBe("fsync failed");
  });
});

describe("AppNav role badge", () => {
  const props = (whoami: WhoAmI | null) => ({ health: null, healthError: null, info: null, theme: "light" as const, hasToken: true, whoami });
  test("read-only for a read token, with the explanation", () => {
    const w = mount(AppNav, { props: props({ role: "read", token: "reader", auth_required: true }), global: { stubs: { RouterLink: { template: "<a><slot /></a>" } } } });
    const badge = w.find(".role");
    expect(badge.text()).toBe("read-only");
    expect(badge.attributes("title")).toContain('"reader" has the read role: editing is off');
  });
  test("the role for other tokens; nothing when the server needs no token", () => {
    const stubs = { RouterLink: { template: "<a><slot /></a>" } };
    expect(mount(AppNav, { props: props({ role: "write", token: "w", auth_required: true }), global: { stubs } }).find(".role").text()).toBe("write");
    expect(mount(AppNav, { props: props({ role: "admin", token: null, auth_required: false }), global: { stubs } }).find(".role").exists()).toBe(false);
    expect(mount(AppNav, { props: props(null), global: { stubs } }).find(".role").exists()).toBe(false);
  });
});
