// The API client, the change stream and the dashboard's own transaction shapes against a real
// `ecsdb serve` ($ECSDB_BIN, default ../build/ecsdb), started per file on a free port, in memory.
// @vitest-environment node
import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { ApiClient } from "../src/api/client";
import { ApiError } from "../src/api/errors";
import { ChangeStream, type WebSocketLike } from "../src/api/stream";
import type { StreamMessage } from "../src/api/types";
import { saveOps } from "../src/stores/entity";
import { queryRequest } from "../src/stores/query";
import { REPO_DIR, EcsdbServer, schemaPath } from "./ecsdb-server";

const wsFactory = (url: string, protocols: string[]): WebSocketLike => new WebSocket(url, protocols) as unknown as WebSocketLike;

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("live: showcase schema, no tokens", () => {
  let server: EcsdbServer;
  let api: ApiClient;
  beforeAll(async () => {
    server = await EcsdbServer.start(schemaPath("showcase.toml"));
    api = new ApiClient({ baseUrl: server.http });
  });
  afterAll(async () => server?.stop());

  test("status routes", async () => {
    expect((await api.health()).status).toBe("ok");
    const info = await api.info();
    expect(info.schema.name).toBe("showcase");
    expect(info.durability).toBe("memory");
    const m = await api.metrics();
    expect(m.commit_latency_seconds).toHaveProperty("p99");
    expect(Object.keys(m.tables)).toContain("health");
    expect((await api.replicationClients()).clients).toEqual([]);
    expect(await api.prometheus()).toContain("ecsdb_commits_total");
  });

  test("schema and validation with positions", async () => {
    const s = await api.schema();
    expect(s.tables.map((t) => t.name)).toContain("inventory_item");
    expect(s.toml).toContain("[database]");
    const ok = await api.validateSchema(s.toml);
    expect(ok.valid).toBe(true);
    const bad = await api.validateSchema('[database]\nname = "x"\nversion = "1"\n[tables.a]\nfoo = 1\n');
    expect(bad.valid).toBe(false);
    if (!bad.valid) expect(bad.errors[0]).toMatchObject({ line: 5, table: "a" });
  });

  test("rows: pages at one version with the cursor, filter and sort", async () => {
    const ops = [];
    for (let i = 0; i < 25; i++) ops.push({ op: "create" as const }, { op: "add" as const, table: "health", entity: `$${i * 2}`, values: { hp: i } });
    const tx = await api.transaction(ops);
    expect(tx.created).toHaveLength(25);
    const first = await api.rows("health", { limit: 10, where: ["hp<20"], sort: "-hp" });
    expect(first.total).toBe(20);
    expect(first.rows[0]?.values["hp"]).toBe(19);
    expect(first.next).not.toBeNull();
    await api.transaction([{ op: "set", table: "health", entity: tx.created[0]!, field: "hp", value: 3 }]);
    const second = await api.rows("health", { limit: 10, where: ["hp<20"], sort: "-hp", after: first.next, version: first.version });
    expect(second.version).toBe(first.version);
    expect(second.rows.map((r) => r.values["hp"])).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    const projected = await api.rows("health", { limit: 1, fields: ["hp"] });
    expect(Object.keys(projected.rows[0]?.values ?? {})).toEqual(["hp"]);
    await expect(api.rows("helth")).rejects.toMatchObject({ status: 404, code: "not_found" });
    await expect(api.rows("health", { where: ["hp<"] })).rejects.toMatchObject({ status: 400 });
  });

  test("pages both ways: prev is the cursor of the page before, null on the first (rows and queries)", async () => {
    const first = await api.rows("health", { limit: 5, sort: "hp" });
    expect(first.prev).toBeNull();
    const second = await api.rows("health", { limit: 5, sort: "hp", after: first.next, version: first.version });
    expect(second.prev).not.toBeNull();
    const back = await api.rows("health", { limit: 5, sort: "hp", after: second.prev, version: first.version });
    expect(back.rows).toEqual(first.rows);
    expect(back.prev).toBeNull();
    const state = { with: ["health"], without: [], where: [], orderBy: "health.hp", desc: false, limit: 4 };
    const q1 = await api.query(queryRequest(state));
    expect(q1.prev).toBeNull();
    const q2 = await api.query(queryRequest(state, q1.next, q1.version));
    const q1again = await api.query(queryRequest(state, q2.prev, q1.version));
    expect(q1again.entities.map((e) => e.entity)).toEqual(q1.entities.map((e) => e.entity));
  });

  test("schema: the structs with their members' offsets (showcase: Vec3, Quat, Aabb, DamageRoll), also from validate", async () => {
    const s = await api.schema();
    const names = s.structs.map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(["Vec3", "Quat", "Aabb", "DamageRoll"]));
    const aabb = s.structs.find((x) => x.name === "Aabb");
    expect(aabb?.fields.map((f) => [f.name, f.type, f.kind, f.offset])).toEqual([["min", "Vec3", "struct", 0], ["max", "Vec3", "struct", 12]]);
    expect(aabb?.size).toBe(24);
    const bounds = s.tables.find((t) => t.name === "transform")?.fields.find((f) => f.name === "bounds");
    expect(bounds).toMatchObject({ kind: "struct", type: "Aabb", size: 24 });
    const v = await api.validateSchema(s.toml);
    expect(v.valid && v.structs.map((x) => x.name)).toEqual(names);
  });

  test("metrics: queue latency counts every transaction; pages copied", async () => {
    const m = await api.metrics();
    expect(m.queue_latency_seconds.count).toBeGreaterThan(0);
    expect(m.queue_latency_seconds.p99).toBeGreaterThanOrEqual(m.queue_latency_seconds.p50);
    expect(m.stream_lag_seconds).toHaveProperty("p99");
    expect(m.pages_copied_total).toBeGreaterThanOrEqual(0);
    expect((await api.whoami())).toEqual({ role: "admin", token: null, auth_required: false });
  });

  test("entity inspector: references both ways, a save with expect, a conflict", async () => {
    const tx = await api.transaction([
      { op: "create" },
      { op: "create" },
      { op: "add", table: "character", entity: "$0", values: { name: "bob" } },
      { op: "add", table: "ai_brain", entity: "$1", values: {} },
    ]);
    const [bob, brain] = tx.created as [string, string];
    await api.transaction([{ op: "set", table: "ai_brain", entity: brain, field: "target", value: bob }]);
    const e = await api.entity(bob);
    expect(e.components["character"]).toMatchObject({ name: "bob", faction: "player" });
    expect(e.referenced_by).toContainEqual({ table: "ai_brain", field: "target", key: brain, owner: null });
    expect((await api.entity(brain)).references).toContainEqual({ table: "ai_brain", field: "target", entity: bob });

    await api.transaction(saveOps({ table: "character", entity: bob }, { level: 1 }, { level: 5 }));
    expect((await api.entity(bob)).components["character"]?.["level"]).toBe(5);
    const conflict = await api.transaction(saveOps({ table: "character", entity: bob }, { level: 1 }, { level: 9 })).catch((x: unknown) => x);
    expect(conflict).toBeInstanceOf(ApiError);
    expect(conflict).toMatchObject({ status: 409, code: "precondition_failed" });
    expect((await api.entity(bob)).components["character"]?.["level"]).toBe(5);
    await expect(api.entity("999:1")).rejects.toMatchObject({ status: 404 });
  });

  test("query builder's request", async () => {
    const r = await api.query(queryRequest({ with: ["character"], without: ["is_boss"], where: ["character.name=bob"], orderBy: "character.level", desc: true, limit: 10 }));
    expect(r.total).toBe(1);
    expect(r.entities[0]?.components["character"]).toMatchObject({ name: "bob" });
  });

  test("change stream: state, then deltas; resume with since", async () => {
    const got: StreamMessage[] = [];
    const stream = new ChangeStream({ baseUrl: server.http, tables: ["health"], onMessage: (m) => got.push(m), createSocket: wsFactory });
    try {
      await until(() => got.some((m) => m.type === "state" && m.last));
      const page = await api.rows("health", { limit: 1 });
      const key = page.rows[0]!.key;
      await api.transaction([{ op: "set", table: "health", entity: key, field: "hp", value: 77 }]);
      await until(() => got.some((m) => m.type === "delta" && m.tables["health"]?.updated.some((u) => u.key === key && u.values["hp"] === 77) === true));
      expect(stream.lastVersion).toBe((await api.health()).version);
    } finally {
      stream.close();
    }
  });

  test("change stream with state=none: a row-less state naming the version, then deltas; a since no longer held starts later", async () => {
    const key = (await api.rows("health", { limit: 1 })).rows[0]!.key;
    const got: StreamMessage[] = [];
    const stream = new ChangeStream({ baseUrl: server.http, tables: ["health"], state: "none", onMessage: (m) => got.push(m), createSocket: wsFactory });
    const start = (await api.health()).version;
    try {
      await until(() => got.length > 0);
      expect(got[0]).toEqual({ type: "state", version: expect.any(Number), last: true, tables: {} });
      expect((got[0] as { version: number }).version).toBeGreaterThanOrEqual(start);
      await api.transaction([{ op: "set", table: "health", entity: key, field: "hp", value: 55 }]);
      await until(() => got.some((m) => m.type === "delta"));
      expect(got.filter((m) => m.type === "state")).toHaveLength(1);
    } finally {
      stream.close();
    }
    // more versions than the server keeps (256): resuming from `start` is no longer possible
    for (let i = 0; i < 300; i++) await api.transaction([{ op: "set", table: "health", entity: key, field: "hp", value: i % 100 }]);
    const now = (await api.health()).version;
    const late: StreamMessage[] = [];
    const resumed = new ChangeStream({ baseUrl: server.http, tables: ["health"], since: start, state: "none", onMessage: (m) => late.push(m), createSocket: wsFactory });
    try {
      await until(() => late.length > 0);
      expect(late[0]).toMatchObject({ type: "state", tables: {}, last: true });
      expect((late[0] as { version: number }).version).toBeGreaterThanOrEqual(now);
    } finally {
      resumed.close();
    }
  });
});

describe("live: a server with tokens", () => {
  let server: EcsdbServer;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "ecsdb-dash-"));
    const config = join(dir, "serve.toml");
    writeFileSync(config, '[[tokens]]\nname = "dash"\nrole = "read"\ntoken = "read-secret"\n');
    const args = ["--config", config];
    const dist = resolve(REPO_DIR, "dashboard/dist");
    if (existsSync(join(dist, "index.html"))) args.push("--dashboard", dist);
    server = await EcsdbServer.start(schemaPath("game.toml"), args);
  });
  afterAll(async () => server?.stop());

  test("401 without a token or with a wrong one, health stays public; a read token cannot write", async () => {
    let unauthorized = 0;
    const none = new ApiClient({ baseUrl: server.http, onUnauthorized: () => unauthorized++ });
    expect((await none.health()).status).toBe("ok");
    await expect(none.info()).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    const wrong = new ApiClient({ baseUrl: server.http, token: () => "nope", onUnauthorized: () => unauthorized++ });
    await expect(wrong.metrics()).rejects.toMatchObject({ status: 401 });
    expect(unauthorized).toBe(2);
    const reader = new ApiClient({ baseUrl: server.http, token: () => "read-secret" });
    expect((await reader.info()).schema.name).toBe("game_db");
    expect(await reader.whoami()).toEqual({ role: "read", token: "dash", auth_required: true });
    await expect(none.whoami()).rejects.toMatchObject({ status: 401 });
    await expect(reader.transaction([{ op: "create" }])).rejects.toMatchObject({ status: 403, code: "forbidden" });
  });

  test("the stream takes the token as a subprotocol", async () => {
    const got: StreamMessage[] = [];
    const statuses: string[] = [];
    const ok = new ChangeStream({ baseUrl: server.http, token: () => "read-secret", onMessage: (m) => got.push(m), onStatus: (s) => statuses.push(s), createSocket: wsFactory });
    try {
      await until(() => got.some((m) => m.type === "state"));
    } finally {
      ok.close();
    }
    const refused: string[] = [];
    const bad = new ChangeStream({ baseUrl: server.http, token: () => "nope", onMessage: () => {}, onStatus: (s) => refused.push(s), createSocket: wsFactory, reconnectMinMs: 10_000 });
    try {
      await until(() => refused.includes("closed"));
      expect(refused).not.toContain("open");
    } finally {
      bad.close();
    }
  });

  test("the built dashboard is served at / and for its routes (when dist/ exists)", async (ctx) => {
    if (!existsSync(resolve(REPO_DIR, "dashboard/dist/index.html"))) ctx.skip();
    for (const path of ["/", "/data/health", "/charts?window=60"]) {
      const r = await fetch(`${server.http}${path}`);
      expect(r.status, path).toBe(200);
      expect(await r.text()).toContain('<div id="app"></div>');
    }
  });
});
