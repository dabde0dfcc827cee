// Pinia stores with a stubbed fetch: auth, rows (paging, version_gone, live deltas), entity saves,
// notices, the query request.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { createPinia, setActivePinia } from "pinia";
import { TOKEN_KEY, useAuthStore } from "../src/stores/auth";
import { useRowsStore } from "../src/stores/rows";
import { saveOps, useEntityStore } from "../src/stores/entity";
import { useNoticesStore } from "../src/stores/notices";
import { queryRequest, useQueryStore } from "../src/stores/query";
import { registryTable } from "../src/stores/schema";
import { ApiError } from "../src/api/errors";
import { cellKey } from "../src/lib/delta";
import type { Table } from "../src/api/types";

type Handler = (url: URL, init: RequestInit) => { status: number; body: unknown };
let handler: Handler = () => ({ status: 500, body: {} });
const seen: { url: URL; init: RequestInit }[] = [];

beforeEach(() => {
  setActivePinia(createPinia());
  sessionStorage.clear();
  seen.length = 0;
  vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://dash");
    seen.push({ url, init: init ?? {} });
    const r = handler(url, init ?? {});
    return new Response(JSON.stringify(r.body), { status: r.status });
  });
});
afterEach(() => vi.unstubAllGlobals());

const unauthorized = { status: 401, body: { error: { code: "unauthorized", message: "missing token", details: {} } } };

describe("auth store", () => {
  test("a refused token is not kept; an accepted one is, in sessionStorage only when asked", async () => {
    const auth = useAuthStore();
    handler = (_u, init) => ((init.headers as Record<string, string>)["Authorization"] === "Bearer good" ? { status: 200, body: {} } : unauthorized);
    expect(await auth.login("bad", true)).toBe(false);
    expect(auth.token).toBeNull();
    expect(auth.needsLogin).toBe(true);
    expect(auth.loginError).toBe("The server refused this token.");
    expect(sessionStorage.getItem(TOKEN_KEY)).toBeNull();
    expect(await auth.login("good", true)).toBe(true);
    expect(auth.needsLogin).toBe(false);
    expect(sessionStorage.getItem(TOKEN_KEY)).toBe("good");
    expect(localStorage.getItem(TOKEN_KEY)).toBeNull();
    auth.setToken("other", false);
    expect(sessionStorage.getItem(TOKEN_KEY)).toBeNull();
    auth.logout();
    expect(auth.token).toBeNull();
  });
  test("whoami: the role is read on demand and after a login; a read token cannot write; another token forgets it", async () => {
    const auth = useAuthStore();
    expect(auth.role).toBeNull();
    expect(auth.canWrite).toBe(true); // unknown: nothing hidden, the server decides
    handler = (u, init) => {
      const bearer = (init.headers as Record<string, string>)["Authorization"];
      if (u.pathname === "/api/whoami") return { status: 200, body: { role: bearer === "Bearer r" ? "read" : "write", token: bearer === "Bearer r" ? "reader" : "writer", auth_required: true } };
      return { status: 200, body: {} };
    };
    expect(await auth.login("r", false)).toBe(true);
    expect(auth.role).toBe("read");
    expect(auth.whoami?.token).toBe("reader");
    expect(auth.canWrite).toBe(false);
    auth.setToken("w", false);
    expect(auth.role).toBeNull();
    await auth.refreshRole();
    expect(auth.role).toBe("write");
    expect(auth.canWrite).toBe(true);
    auth.logout();
    expect(auth.whoami).toBeNull();
  });
  test("whoami unavailable (an older server): the role stays unknown", async () => {
    const auth = useAuthStore();
    handler = () => ({ status: 404, body: { error: { code: "not_found", message: "no route", details: {} } } });
    await auth.refreshRole();
    expect(auth.role).toBeNull();
    expect(auth.canWrite).toBe(true);
  });
  test("any 401 shows the login", async () => {
    const auth = useAuthStore();
    handler = () => unauthorized;
    await expect(auth.api.metrics()).rejects.toBeInstanceOf(ApiError);
    expect(auth.needsLogin).toBe(true);
  });
});

describe("rows store", () => {
  const page = (keys: string[], next: string | null, version = 7) => ({
    status: 200,
    body: { table: "health", version, total: 3, next, rows: keys.map((k) => ({ key: k, values: { hp: 1, max_hp: 9 } })) },
  });
  test("pages with the cursor at the first page's version", async () => {
    const rows = useRowsStore();
    handler = (u) => (u.searchParams.get("after") === null ? page(["0:1", "1:1"], "c1") : page(["2:1"], null));
    await rows.open({ table: "health", where: ["hp<5"], sort: "-hp", limit: 2 });
    expect(rows.rows.map((r) => r.key)).toEqual(["0:1", "1:1"]);
    await rows.loadMore();
    expect(rows.rows.map((r) => r.key)).toEqual(["0:1", "1:1", "2:1"]);
    expect(rows.next).toBeNull();
    const second = seen[1]!.url.searchParams;
    expect(second.get("after")).toBe("c1");
    expect(second.get("version")).toBe("7");
    expect(second.getAll("where")).toEqual(["hp<5"]);
    expect(second.get("sort")).toBe("-hp");
  });
  test("a version gone starts again from the first page", async () => {
    const rows = useRowsStore();
    let calls = 0;
    handler = (u) => {
      calls++;
      if (u.searchParams.get("after") !== null) return { status: 410, body: { error: { code: "version_gone", message: "gone", details: { version: 9 } } } };
      return page(["0:1"], "c1", calls === 1 ? 7 : 9);
    };
    await rows.open({ table: "health", where: [], sort: null, limit: 1 });
    await rows.loadMore();
    expect(rows.version).toBe(9);
    expect(rows.error).toBeNull();
  });
  test("errors are kept with the server's message", async () => {
    const rows = useRowsStore();
    handler = () => ({ status: 400, body: { error: { code: "bad_request", message: "cannot parse predicate 'hp<'", details: {} } } });
    await rows.open({ table: "health", where: ["hp<"], sort: null, limit: 10 });
    expect(rows.error).toBe("cannot parse predicate 'hp<' (bad_request, HTTP 400)");
  });
  test("deltas update cells, flash them, and count removals and inserts", async () => {
    const rows = useRowsStore();
    handler = () => page(["0:1", "1:1"], null);
    await rows.open({ table: "health", where: [], sort: null, limit: 10 });
    rows.onMessage({ type: "delta", from: 7, version: 8, created: [], destroyed: [], tables: { health: { inserted: [{ key: "5:1", values: { hp: 3, max_hp: 3 } }], updated: [{ key: "0:1", values: { hp: 2 } }], removed: ["1:1"] } } });
    expect(rows.rows[0]?.values["hp"]).toBe(2);
    expect(rows.flashes.has(cellKey("0:1", "hp"))).toBe(true);
    expect(rows.removed.has("1:1")).toBe(true);
    expect(rows.insertedSince).toBe(1);
    expect(rows.liveVersion).toBe(8);
    vi.useFakeTimers();
    vi.setSystemTime(Date.now() + 5000);
    rows.prune();
    expect(rows.flashes.size).toBe(0);
    vi.useRealTimers();
  });
});

describe("rows store: the stream with state=none", () => {
  const page = { status: 200, body: { table: "health", version: 7, total: 2, next: null, prev: null, rows: [{ key: "0:1", values: { hp: 1 } }, { key: "1:1", values: { hp: 2 } }] } };
  test("a row-less state at the page's version: nothing missed, nothing changed", async () => {
    const rows = useRowsStore();
    handler = () => page;
    await rows.open({ table: "health", where: [], sort: null, limit: 10 });
    const before = rows.rows;
    rows.onMessage({ type: "state", version: 7, last: true, tables: {} });
    expect(rows.missed).toBeNull();
    expect(rows.liveVersion).toBe(7);
    expect(rows.rows).toBe(before);
  });
  test("a row-less state newer than the rows: the changes in between were missed; deltas still apply; a reload clears it", async () => {
    const rows = useRowsStore();
    handler = () => page;
    await rows.open({ table: "health", where: [], sort: null, limit: 10 });
    rows.onMessage({ type: "delta", from: 7, version: 8, created: [], destroyed: [], tables: { health: { inserted: [], updated: [{ key: "0:1", values: { hp: 5 } }], removed: [] } } });
    rows.onMessage({ type: "state", version: 400, last: true, tables: {} });
    expect(rows.missed).toEqual({ from: 8, to: 400 });
    expect(rows.liveVersion).toBe(400);
    expect(rows.rows[0]?.values["hp"]).toBe(5); // the rows are kept, flagged as stale, not cleared
    rows.onMessage({ type: "delta", from: 400, version: 401, created: [], destroyed: [], tables: { health: { inserted: [], updated: [{ key: "1:1", values: { hp: 9 } }], removed: [] } } });
    expect(rows.rows[1]?.values["hp"]).toBe(9);
    expect(rows.flashes.has(cellKey("1:1", "hp"))).toBe(true); // highlights as before
    // a second restart keeps where the gap began
    rows.onMessage({ type: "state", version: 900, last: true, tables: {} });
    expect(rows.missed).toEqual({ from: 8, to: 900 });
    await rows.open({ table: "health", where: [], sort: null, limit: 10 });
    expect(rows.missed).toBeNull();
  });
  test("startLive asks for state=none and resumes after the page's version", async () => {
    const rows = useRowsStore();
    handler = () => page;
    const urls: string[] = [];
    class Socket {
      readyState = 0;
      onopen = null;
      onmessage = null;
      onclose = null;
      onerror = null;
      constructor(url: string) {
        urls.push(url);
      }
      send(): void {}
      close(): void {}
    }
    vi.stubGlobal("WebSocket", Socket);
    await rows.open({ table: "health", where: ["hp<5"], sort: null, limit: 10 });
    rows.startLive();
    rows.stopLive();
    const u = new URL(urls[0] ?? "");
    expect(u.pathname).toBe("/api/stream");
    expect(u.searchParams.get("state")).toBe("none");
    expect(u.searchParams.get("since")).toBe("7");
    expect(u.searchParams.getAll("where")).toEqual(["health.hp<5"]);
  });
});

describe("query store: pages both ways", () => {
  const entities = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ entity: `${from + i}:1`, components: {} }));
  const state = { with: ["health"], without: [], where: [], orderBy: null, desc: false, limit: 2 };
  test("next and previous pages with the cursors, at the first page's version; the position follows", async () => {
    const q = useQueryStore();
    handler = (_u, init) => {
      const body = JSON.parse(String(init.body)) as { after?: string; version?: number };
      const at = body.after === undefined ? 0 : Number(body.after.slice(1));
      return { status: 200, body: { version: 5, total: 5, entities: entities(at, Math.min(2, 5 - at)), next: at + 2 < 5 ? `o${at + 2}` : null, prev: at === 0 ? null : `o${Math.max(0, at - 2)}` } };
    };
    await q.run(state);
    expect(q.start).toBe(0);
    expect(q.result?.prev).toBeNull();
    await q.page(state, "prev"); // nothing before the first page: no request
    expect(seen).toHaveLength(1);
    await q.page(state, "next");
    expect(q.result?.entities.map((e) => e.entity)).toEqual(["2:1", "3:1"]);
    expect(q.start).toBe(2);
    expect(JSON.parse(String(seen[1]?.init.body))).toMatchObject({ after: "o2", version: 5 });
    await q.page(state, "next");
    expect(q.result?.entities.map((e) => e.entity)).toEqual(["4:1"]);
    expect(q.start).toBe(4);
    expect(q.result?.next).toBeNull();
    await q.page(state, "prev");
    expect(JSON.parse(String(seen[3]?.init.body))).toMatchObject({ after: "o2", version: 5 });
    expect(q.result?.entities.map((e) => e.entity)).toEqual(["2:1", "3:1"]);
    expect(q.start).toBe(2);
    await q.page(state, "prev");
    expect(q.start).toBe(0);
    expect(q.result?.entities.map((e) => e.entity)).toEqual(["0:1", "1:1"]);
  });
  test("a version gone goes back to the first page, with a notice", async () => {
    const q = useQueryStore();
    let calls = 0;
    handler = (_u, init) => {
      calls++;
      const body = JSON.parse(String(init.body)) as { after?: string };
      if (body.after !== undefined) return { status: 410, body: { error: { code: "version_gone", message: "gone", details: {} } } };
      return { status: 200, body: { version: calls === 1 ? 5 : 9, total: 5, entities: entities(0, 2), next: "o2", prev: null } };
    };
    await q.run(state);
    await q.page(state, "next");
    expect(q.result?.version).toBe(9);
    expect(q.start).toBe(0);
    expect(q.error).toBeNull();
    expect(q.notice).toContain("Version 5 is no longer held");
  });
});

describe("entity store", () => {
  test("a save is one transaction: expect the old values, then update", () => {
    expect(saveOps({ table: "health", entity: "0:1" }, { hp: 40 }, { hp: 7 })).toEqual([
      { op: "expect", table: "health", entity: "0:1", values: { hp: 40 } },
      { op: "update", table: "health", entity: "0:1", values: { hp: 7 } },
    ]);
    expect(saveOps({ table: "buff", key: "3:1" }, { stacks: 1 }, { stacks: 2 })[1]).toEqual({ op: "update", table: "buff", key: "3:1", values: { stacks: 2 } });
  });
  test("a conflict says the row changed", async () => {
    const entity = useEntityStore();
    handler = () => ({ status: 409, body: { error: { code: "precondition_failed", message: "operation 0: hp differs", details: { op: 0, field: "hp" } } } });
    await expect(entity.save({ table: "health", entity: "0:1" }, { hp: 40 }, { hp: 7 })).rejects.toMatchObject({
      code: "precondition_failed",
      message: expect.stringContaining("changed since it was loaded (hp)"),
    });
    expect(JSON.parse(String(seen[0]?.init.body)).ops).toHaveLength(2);
  });
  test("a missing entity is an error, not a blank page", async () => {
    const entity = useEntityStore();
    handler = () => ({ status: 404, body: { error: { code: "not_found", message: "entity 9:1 is not alive at version 3", details: { entity: "9:1" } } } });
    await entity.load("9:1");
    expect(entity.entity).toBeNull();
    expect(entity.errorCode).toBe("not_found");
    expect(entity.error).toContain("not alive");
  });
});

describe("notices and query", () => {
  test("notices dedupe, skip 401s, keep the last five", () => {
    const n = useNoticesStore();
    n.error(new ApiError(500, "internal", "boom"));
    n.error(new ApiError(500, "internal", "boom"));
    n.error(new ApiError(401, "unauthorized", "token"));
    expect(n.notices).toHaveLength(1);
    for (let i = 0; i < 10; i++) n.info(`i${i}`);
    expect(n.notices).toHaveLength(5);
    n.dismiss(n.notices[0]!.id);
    expect(n.notices).toHaveLength(4);
  });
  test("queryRequest", () => {
    expect(queryRequest({ with: ["health"], without: [], where: ["health.hp<5"], orderBy: "health.hp", desc: true, limit: 10 }, "c", 4)).toEqual({
      with: ["health"], where: ["health.hp<5"], order_by: "health.hp", desc: true, limit: 10, after: "c", version: 4,
    });
    expect(queryRequest({ with: [], without: ["x"], where: [], orderBy: null, desc: true, limit: 100 })).toEqual({ without: ["x"], desc: false, limit: 100 });
  });
  test("the registry is the root table the others hang from", () => {
    const t = (name: string, parent: string | null, cardinality: "one" | "many" = "one") => ({ name, parent_table: parent, cardinality }) as Table;
    expect(registryTable([t("item_template", null, "many"), t("entities", null), t("health", "entities")])?.name).toBe("entities");
  });
});
