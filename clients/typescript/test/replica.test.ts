// Replica against a scripted stand-in server (test/fake-server.ts): no ecsdb binary needed.
import { afterEach, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { ByteWriter, StatusCode, type WireFilter, formatKey, parseKey } from "../src/codec.js";
import { SchemaLayout } from "../src/layout.js";
import {
  type ChangeEvent,
  type DisconnectEvent,
  type OverwrittenEvent,
  Replica,
  ReplicaError,
  SubscriptionFilter,
  WriteError,
  compileFilters,
  replicationUrls,
} from "../src/replica.js";
import { FakeConnection, FakeServer, type RowSpec, body } from "./fake-server.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { probeReplication } from "./ecsdb-server.js";
import { fixture, hex, sleep, until } from "./helpers.js";

const gameSchema = fixture("game-schema.json");
const k = parseKey;

let servers: FakeServer[] = [];
let replicas: Replica[] = [];

afterEach(async () => {
  for (const r of replicas) r.close();
  for (const s of servers) await s.close();
  servers = [];
  replicas = [];
});

async function server(o: { token?: string } = {}): Promise<FakeServer> {
  const s = await FakeServer.start(gameSchema, o);
  servers.push(s);
  return s;
}

const initial = {
  entities: ["0:1", "1:1", "2:1"],
  tables: {
    health: [
      { key: "0:1", values: { hp: 10, max_hp: 100 } },
      { key: "1:1", values: { hp: 20, max_hp: 100 } },
    ] as RowSpec[],
    transform: [{ key: "0:1", values: { position_x: 1, position_y: 2, position_z: 3 } }] as RowSpec[],
  },
};

/** Connects a replica, answering its HELLO with WELCOME (epoch 5) and a full sync of `state` at `version`. */
async function connected(
  s: FakeServer,
  o: { version?: bigint; state?: typeof initial; tables?: string[]; filters?: SubscriptionFilter[]; token?: string } = {},
): Promise<{ replica: Replica; conn: FakeConnection }> {
  const version = o.version ?? 3n;
  const pending = Replica.connect({
    url: s.url,
    WebSocket,
    tables: o.tables,
    filters: o.filters,
    token: o.token,
    reconnectMinMs: 10,
    reconnectMaxMs: 50,
    connectTimeoutMs: 5000,
  });
  const conn = await s.nextConnection();
  await conn.expect("HELLO");
  conn.welcome({ epoch: 5n, version });
  conn.fullSync(version, o.state ?? initial);
  const replica = await pending;
  replicas.push(replica);
  expect(await conn.expect("ACK")).toEqual({ type: "ACK", version });
  return { replica, conn };
}

function values(r: Replica, table: string) {
  return Object.fromEntries([...r.table(table)].map(([key, row]) => [formatKey(key), row.values]));
}

function events<T>(r: Replica, name: "change" | "overwritten" | "disconnect" | "stop"): T[] {
  const out: T[] = [];
  r.on(name, (e) => out.push(e as T));
  return out;
}

test("replication URLs", () => {
  expect(replicationUrls("ws://127.0.0.1:8080/api/replication")).toEqual({ ws: "ws://127.0.0.1:8080/api/replication", schema: "http://127.0.0.1:8080/api/schema" });
  expect(replicationUrls("http://h:1")).toEqual({ ws: "ws://h:1/api/replication", schema: "http://h:1/api/schema" });
  expect(replicationUrls("wss://h/")).toEqual({ ws: "wss://h/api/replication", schema: "https://h/api/schema" });
  expect(() => replicationUrls("ftp://h")).toThrow(ReplicaError);
});

describe("connecting", () => {
  test("GET /api/schema with the token, HELLO, WELCOME, the full sync applied at SYNC_END, ACK", async () => {
    const s = await server({ token: "sekret" });
    const pending = Replica.connect({ url: s.url, token: "sekret", tables: ["health", "transform"], WebSocket });
    const conn = await s.nextConnection();
    expect(conn.request.headers["sec-websocket-protocol"]).toBe("ecsdb-repl");
    expect(await conn.expect("HELLO")).toEqual({
      type: "HELLO",
      protocol: 1,
      flags: 0,
      layoutHash: 0n,
      lastVersion: 0n,
      epoch: 0n,
      token: "sekret",
      tables: ["health", "transform"],
    });
    expect(s.lastSchemaAuthorization).toBe("Bearer sekret");
    conn.welcome({ epoch: 5n, version: 3n, tables: ["transform", "health"] });
    conn.fullSync(3n, initial, { chunk: 1 });
    const replica = await pending;
    replicas.push(replica);
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 3n });
    expect(replica.version).toBe(3n);
    expect(replica.epoch).toBe(5n);
    expect(replica.tables).toEqual(["transform", "health"]);
    expect([...replica.entities].map(formatKey).sort()).toEqual(["0:1", "1:1", "2:1"]);
    expect(values(replica, "health")).toEqual({ "0:1": { hp: 10, max_hp: 100 }, "1:1": { hp: 20, max_hp: 100 } });
    expect(replica.get("transform", "0:1")).toEqual({ key: k("0:1"), values: { position_x: 1, position_y: 2, position_z: 3 } });
    expect(replica.get("transform", k("1:1"))).toBeUndefined();
    expect(replica.isAlive("2:1")).toBe(true);
    expect(hex(replica.rowBytes("health", "1:1")!)).toBe("14 00 00 00 64 00 00 00");
    expect(replica.stats).toMatchObject({ version: 3n, fullSyncs: 1, frames: 0, connected: true });
    expect(() => replica.table("entities")).toThrow(/unknown table/);
  });

  test("the server's refusal (CLOSE 15) rejects connect and is not retried", async () => {
    const s = await server();
    const pending = Replica.connect({ url: s.url, WebSocket, reconnectMinMs: 10 });
    const conn = await s.nextConnection();
    await conn.expect("HELLO");
    conn.send({ type: "CLOSE", code: StatusCode.PermissionDenied, reason: "unknown token" });
    const e = await pending.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ReplicaError);
    expect((e as ReplicaError).code).toBe(15);
    expect((e as ReplicaError).codeName).toBe("PermissionDenied");
    expect((e as ReplicaError).message).toBe("the server closed the connection: unknown token");
    await sleep(150);
    expect(s.connections).toHaveLength(1);
  });

  test("an unknown table is refused before connecting; a schema the server answers 401 for is PermissionDenied", async () => {
    const s = await server({ token: "t" });
    await expect(Replica.connect({ url: s.url, WebSocket, token: "t", tables: ["helth"] })).rejects.toMatchObject({ code: 2, message: "unknown table 'helth'" });
    await expect(Replica.connect({ url: s.url, WebSocket, token: "wrong" })).rejects.toMatchObject({ code: 15, message: expect.stringContaining("401 a token is required") });
    expect(s.connections).toHaveLength(0);
  });

  test("a WELCOME with another layout hash is a schema mismatch (FailedPrecondition)", async () => {
    const s = await server();
    const pending = Replica.connect({ url: s.url, WebSocket });
    const conn = await s.nextConnection();
    await conn.expect("HELLO");
    conn.send({ type: "WELCOME", protocol: 1, layoutHash: 1234n, serverVersion: 1n, durableVersion: 1n, epoch: 1n, resume: false, schemaText: "", tables: [] });
    await expect(pending).rejects.toMatchObject({ code: 16, message: expect.stringContaining("schema mismatch") });
  });

  test("a frame before WELCOME is a protocol error", async () => {
    const s = await server();
    const pending = Replica.connect({ url: s.url, WebSocket });
    const conn = await s.nextConnection();
    await conn.expect("HELLO");
    conn.send({ type: "SYNC_END", version: 3n });
    await expect(pending).rejects.toMatchObject({ code: 1, message: "from the server: expected WELCOME, got SYNC_END" });
  });

  test("no sync in time: DeadlineExceeded; lost connections are retried with back-off meanwhile", async () => {
    const s = await server();
    let accepted = 0;
    const dropper = setInterval(() => {
      for (const c of s.connections.slice(accepted)) c.drop();
      accepted = s.connections.length;
    }, 5);
    try {
      const started = Date.now();
      const e = await Replica.connect({ url: s.url, WebSocket, connectTimeoutMs: 800, reconnectMinMs: 20, reconnectMaxMs: 160 }).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: StatusCode.DeadlineExceeded, message: expect.stringContaining("no full sync from ws://127.0.0.1") });
      expect(Date.now() - started).toBeGreaterThanOrEqual(750);
      // 20, 40, 80, 160, 160... ms apart: a handful of attempts, not hundreds.
      expect(s.connections.length).toBeGreaterThanOrEqual(3);
      expect(s.connections.length).toBeLessThanOrEqual(12);
      const n = s.connections.length;
      await sleep(300);
      expect(s.connections.length).toBe(n); // closed: no more attempts
    } finally {
      clearInterval(dropper);
    }
  });
});

describe("DELTA frames", () => {
  test("applied in order as change events, each ACKed; duplicates ignored", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const changes = events<ChangeEvent>(replica, "change");
    const before = replica.get("health", "0:1")!;

    conn.delta(3n, 4n, {
      created: ["3:1"],
      tables: {
        health: { inserted: [{ key: "3:1", values: { hp: 5, max_hp: 50 } }], updated: [{ key: "0:1", values: { hp: 11 } }] },
        transform: { updated: [{ key: "0:1", values: { position_z: -1 } }] },
      },
    });
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 4n });
    expect(replica.version).toBe(4n);
    expect(changes).toHaveLength(1);
    const c = changes[0]!;
    expect(c).toMatchObject({ kind: "delta", fromVersion: 3n, toVersion: 4n, created: [k("3:1")], destroyed: [] });
    expect(c.publishedAtNs).toBeTypeOf("bigint");
    expect(c.tables["health"]!.inserted).toEqual([{ key: k("3:1"), values: { hp: 5, max_hp: 50 } }]);
    expect(c.tables["health"]!.updated).toEqual([
      { key: k("0:1"), changed: { hp: 11 }, row: { key: k("0:1"), values: { hp: 11, max_hp: 100 } }, previous: before },
    ]);
    expect(c.tables["transform"]!.updated[0]!.changed).toEqual({ position_z: -1 });
    expect(replica.get("transform", "0:1")!.values).toEqual({ position_x: 1, position_y: 2, position_z: -1 });
    expect(before.values).toEqual({ hp: 10, max_hp: 100 }); // rows are replaced, never changed in place

    conn.delta(4n, 5n, { destroyed: ["1:1"], tables: { health: { deleted: ["1:1"] } } });
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 5n });
    expect(replica.isAlive("1:1")).toBe(false);
    expect(changes[1]!.tables["health"]!.deleted).toEqual([{ key: k("1:1"), values: { hp: 20, max_hp: 100 } }]);
    expect(changes[1]!.destroyed).toEqual([k("1:1")]);

    conn.delta(4n, 5n, { tables: { health: { updated: [{ key: "0:1", values: { hp: 999 } }] } } }); // a duplicate
    conn.delta(3n, 4n, {});
    conn.delta(5n, 6n, {}); // an empty version
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 6n });
    conn.delta(6n, 9n, { tables: { health: { updated: [{ key: "0:1", values: { max_hp: 7 } }] } } }); // coalesced
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 9n });
    expect(replica.get("health", "0:1")!.values).toEqual({ hp: 11, max_hp: 7 });
    expect(replica.stats).toMatchObject({ version: 9n, frames: 4, duplicates: 2 });
    expect(changes.map((e) => [e.fromVersion, e.toVersion])).toEqual([
      [3n, 4n],
      [4n, 5n],
      [5n, 6n],
      [6n, 9n],
    ]);
    expect(changes[2]!.tables).toEqual({});
  });

  test("a gap closes the connection; the replica resumes with its version and epoch", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const disconnects = events<DisconnectEvent>(replica, "disconnect");
    conn.delta(4n, 5n, {});
    await conn.closedPromise;
    expect(disconnects[0]!.error).toMatchObject({ code: StatusCode.Aborted, message: "gap: a frame from version 4 while this replica is at 3" });
    expect(disconnects[0]!.willReconnect).toBe(true);
    const again = await s.nextConnection();
    expect(await again.expect("HELLO")).toMatchObject({ lastVersion: 3n, epoch: 5n, layoutHash: s.layout.layoutHash });
    again.welcome({ epoch: 5n, resume: true, version: 5n });
    again.delta(3n, 5n, { tables: { health: { updated: [{ key: "1:1", values: { hp: 21 } }] } } });
    expect(await again.expect("ACK")).toEqual({ type: "ACK", version: 5n });
    expect(replica.get("health", "1:1")!.values).toEqual({ hp: 21, max_hp: 100 });
    expect(replica.stats).toMatchObject({ resumes: 1, reconnects: 1, fullSyncs: 1, connected: true });
  });

  test("a frame that cannot be applied stops the replica and leaves its state", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const stops = events<ReplicaError | null>(replica, "stop");
    conn.delta(3n, 4n, { created: ["7:1"], tables: { health: { deleted: ["5:1"] } } });
    await conn.closedPromise;
    expect(stops).toHaveLength(1);
    expect(replica.status).toMatchObject({ code: StatusCode.Corruption, message: "applying version 4: delete of a row table 'health' does not have (5:1)" });
    expect(replica.version).toBe(3n);
    expect(replica.isAlive("7:1")).toBe(false);
    expect(replica.table("health").size).toBe(2);
    await sleep(100);
    expect(s.connections).toHaveLength(1);
  });

  test("creating an entity whose index is alive, or updating a missing row, cannot be applied", async () => {
    for (const spec of [{ created: ["0:2"] }, { tables: { transform: { updated: [{ key: "1:1", values: { position_x: 1 } }] } } }]) {
      const s = await server();
      const { replica, conn } = await connected(s);
      conn.delta(3n, 4n, spec);
      await conn.closedPromise;
      expect(replica.status?.code).toBe(StatusCode.Corruption);
    }
  });
});

describe("full syncs", () => {
  test("a resync after a reconnect applies only the difference, all at SYNC_END", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const changes = events<ChangeEvent>(replica, "change");
    const unchanged = replica.get("health", "0:1");
    conn.drop();
    const again = await s.nextConnection();
    expect(await again.expect("HELLO")).toMatchObject({ lastVersion: 3n, epoch: 5n });
    again.welcome({ epoch: 6n, resume: false, version: 10n });
    again.send({ type: "SYNC_BEGIN", version: 10n, reset: true, tables: ["transform", "health"] });
    // 1:1 is gone (destroyed, its index reused with generation 2), 2:1 gone, 3:1 new; transform 0:1 changed.
    const state = {
      entities: ["0:1", "1:2", "3:1"],
      tables: {
        health: [
          { key: "0:1", values: { hp: 10, max_hp: 100 } },
          { key: "1:2", values: { hp: 1, max_hp: 1 } },
        ],
        transform: [{ key: "0:1", values: { position_x: 9, position_y: 2, position_z: 3 } }],
      },
    };
    const { body } = await import("./fake-server.js");
    again.send({ type: "SYNC_CHUNK", body: body(s.layout, { created: state.entities, tables: { health: { inserted: state.tables.health } } }) });
    again.send({ type: "SYNC_CHUNK", body: body(s.layout, { tables: { transform: { inserted: state.tables.transform } } }) });
    await sleep(50);
    expect(replica.version).toBe(3n); // nothing applied before SYNC_END
    expect(replica.isAlive("1:1")).toBe(true);
    expect(changes).toHaveLength(0);
    again.send({ type: "SYNC_END", version: 10n });
    expect(await again.expect("ACK")).toEqual({ type: "ACK", version: 10n });
    expect(replica.version).toBe(10n);
    expect(replica.epoch).toBe(6n);
    expect(changes).toHaveLength(1);
    const c = changes[0]!;
    expect(c.kind).toBe("sync");
    expect([c.fromVersion, c.toVersion]).toEqual([3n, 10n]);
    expect(c.destroyed.map(formatKey).sort()).toEqual(["1:1", "2:1"]);
    expect(c.created.map(formatKey).sort()).toEqual(["1:2", "3:1"]);
    expect(c.tables["health"]!.deleted.map((r) => formatKey(r.key))).toEqual(["1:1"]);
    expect(c.tables["health"]!.inserted.map((r) => formatKey(r.key))).toEqual(["1:2"]);
    expect(c.tables["health"]!.updated).toEqual([]);
    expect(c.tables["transform"]!.updated.map((u) => u.changed)).toEqual([{ position_x: 9 }]);
    expect(replica.get("health", "0:1")).toBe(unchanged); // equal rows are left alone
    expect(values(replica, "health")).toEqual({ "0:1": { hp: 10, max_hp: 100 }, "1:2": { hp: 1, max_hp: 1 } });
    expect([...replica.entities].map(formatKey).sort()).toEqual(["0:1", "1:2", "3:1"]);
  });

  test("a SUBSCRIBE sent during a full sync: the sync starts again with the new subscription", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const changes = events<ChangeEvent>(replica, "change");
    conn.drop();
    const again = await s.nextConnection();
    expect(await again.expect("HELLO")).toMatchObject({ lastVersion: 3n, tables: [] });
    again.welcome({ epoch: 6n, resume: false, version: 5n });
    again.send({ type: "SYNC_BEGIN", version: 5n, reset: true, tables: ["transform", "health"] });
    again.send({ type: "SYNC_CHUNK", body: body(s.layout, { created: ["0:1"], tables: { transform: { inserted: initial.tables.transform } } }) });
    await until(() => replica.connected);
    await sleep(30);
    const applied = replica.setTables(["health"]);
    expect(await again.expect("SUBSCRIBE")).toStrictEqual({ type: "SUBSCRIBE", tables: ["health"] });
    // The server was still syncing: it starts again (what the first sync sent is dropped).
    again.send({ type: "SYNC_BEGIN", version: 6n, reset: true, tables: ["health"] });
    again.send({ type: "SYNC_CHUNK", body: body(s.layout, { created: ["0:1", "1:1"], tables: { health: { inserted: initial.tables.health } } }) });
    again.send({ type: "SYNC_END", version: 6n });
    await applied;
    expect(await again.expect("ACK")).toEqual({ type: "ACK", version: 6n });
    expect(replica.tables).toEqual(["health"]);
    expect(replica.table("transform").size).toBe(0); // a full sync: tables outside it lose their rows
    expect(values(replica, "health")).toEqual({ "0:1": { hp: 10, max_hp: 100 }, "1:1": { hp: 20, max_hp: 100 } });
    expect([...replica.entities].map(formatKey).sort()).toEqual(["0:1", "1:1"]);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kind: "sync", fromVersion: 3n, toVersion: 6n, destroyed: [k("2:1")] });
    expect(replica.stats.fullSyncs).toBe(2);
  });
});

describe("subscriptions: SUBSCRIBE answered by the difference", () => {
  test("setTables: the next DELTA (from = to at the replica's version) deletes the dropped table's rows; nothing is emptied locally", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const changes = events<ChangeEvent>(replica, "change");
    let done = false;
    const applied = replica.setTables(["health"]).then(() => {
      done = true;
    });
    expect(await conn.expect("SUBSCRIBE")).toStrictEqual({ type: "SUBSCRIBE", tables: ["health"] }); // no filter section
    await sleep(30);
    expect(done).toBe(false);
    expect(replica.table("transform").size).toBe(1); // kept until the server's deletes arrive
    expect(replica.tables).toEqual(["transform", "health"]);

    conn.delta(3n, 3n, { tables: { transform: { deleted: ["0:1"] } } });
    await applied;
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 3n });
    expect(replica.table("transform").size).toBe(0);
    expect(replica.tables).toEqual(["health"]);
    expect(replica.version).toBe(3n);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kind: "delta", fromVersion: 3n, toVersion: 3n, created: [], destroyed: [] });
    expect(changes[0]!.tables).toEqual({ transform: { inserted: [], updated: [], deleted: [{ key: k("0:1"), values: { position_x: 1, position_y: 2, position_z: 3 } }] } });
    expect(replica.stats).toMatchObject({ version: 3n, frames: 1, duplicates: 0, fullSyncs: 1 });

    // Every table again: transform's rows arrive, together with what changed meanwhile (a new version).
    const all = replica.setTables([]);
    expect(await conn.expect("SUBSCRIBE")).toStrictEqual({ type: "SUBSCRIBE", tables: [] });
    conn.delta(3n, 4n, {
      tables: { health: { updated: [{ key: "0:1", values: { hp: 9 } }] }, transform: { inserted: initial.tables.transform } },
    });
    await all;
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 4n });
    expect(replica.tables).toEqual(["transform", "health"]);
    expect(values(replica, "transform")).toEqual({ "0:1": { position_x: 1, position_y: 2, position_z: 3 } });
    expect(replica.get("health", "0:1")!.values).toEqual({ hp: 9, max_hp: 100 });
    await expect(replica.setTables(["nope"])).rejects.toMatchObject({ code: StatusCode.NotFound, message: "unknown table 'nope'" });
    expect(replica.stats).toMatchObject({ fullSyncs: 1, reconnects: 0 });
  });

  test("a DELTA from = to at the replica's version is applied and ACKed; from = to at an older version is a duplicate; to < from stops it", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const changes = events<ChangeEvent>(replica, "change");
    conn.delta(2n, 2n, { tables: { health: { updated: [{ key: "0:1", values: { hp: 999 } }] } } }); // older: a duplicate
    conn.delta(3n, 3n, { tables: { health: { deleted: ["1:1"] } } });
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 3n });
    conn.delta(3n, 3n, { tables: { health: { inserted: [{ key: "1:1", values: { hp: 1, max_hp: 2 } }] } } }); // again at 3: applied
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 3n });
    conn.delta(3n, 4n, {});
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 4n });
    conn.delta(3n, 3n, {}); // behind now: a duplicate
    conn.delta(4n, 5n, {});
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 5n });
    expect(replica.stats).toMatchObject({ version: 5n, frames: 4, duplicates: 2 });
    expect(changes.map((c) => [c.fromVersion, c.toVersion])).toEqual([
      [3n, 3n],
      [3n, 3n],
      [3n, 4n],
      [4n, 5n],
    ]);
    expect(values(replica, "health")).toEqual({ "0:1": { hp: 10, max_hp: 100 }, "1:1": { hp: 1, max_hp: 2 } });

    const backwards = new ByteWriter().u32(0).u8(0x85).u64(5n).u64(4n).u64(0n).u8(0).u8(0).u8(0);
    backwards.patchU32(0, backwards.length - 4);
    conn.sendRaw(backwards.finish());
    await conn.closedPromise;
    expect(replica.status).toMatchObject({ code: StatusCode.InvalidArgument, message: "from the server: malformed DELTA frame: to_version 4 is before from_version 5" });
  });

  test("filters: HELLO carries them; setSubscription sends SUBSCRIBE with the new ones; rows leave and arrive in the difference", async () => {
    const s = await server();
    const { replica, conn } = await (async () => {
      const pending = Replica.connect({ url: s.url, WebSocket, tables: ["health"], filters: [SubscriptionFilter.where("health", "hp", "<", 15)], reconnectMinMs: 10 });
      const c = await s.nextConnection();
      expect(await c.expect("HELLO")).toMatchObject({
        tables: ["health"],
        filters: [{ kind: "field", table: "health", field: "hp", op: "<", value: { kind: "uint", value: 15n } }],
      });
      c.welcome({ epoch: 5n, version: 3n, tables: ["health"] });
      c.fullSync(3n, { entities: initial.entities, tables: { health: [initial.tables.health[0]!] } });
      const r = await pending;
      replicas.push(r);
      await c.expect("ACK");
      return { replica: r, conn: c };
    })();
    expect(values(replica, "health")).toEqual({ "0:1": { hp: 10, max_hp: 100 } });
    expect(replica.tables).toEqual(["health"]);
    expect(replica.filters).toEqual([{ kind: "field", table: "health", field: "hp", op: "<", value: 15 }]);

    const changes = events<ChangeEvent>(replica, "change");
    const filters = [SubscriptionFilter.where("health", "hp", ">=", 15n), SubscriptionFilter.ofEntities(["0:1"], "transform")];
    const applied = replica.setSubscription(["health", "transform"], filters);
    const expected: WireFilter[] = [
      { kind: "field", table: "health", field: "hp", op: ">=", value: { kind: "uint", value: 15n } },
      { kind: "entities", table: "transform", entities: [k("0:1")] },
    ];
    expect(await conn.expect("SUBSCRIBE")).toEqual({ type: "SUBSCRIBE", tables: ["health", "transform"], filters: expected });
    conn.delta(3n, 3n, {
      tables: { health: { deleted: ["0:1"], inserted: [initial.tables.health[1]!] }, transform: { inserted: initial.tables.transform } },
    });
    await applied;
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 3n });
    expect(values(replica, "health")).toEqual({ "1:1": { hp: 20, max_hp: 100 } });
    expect(values(replica, "transform")).toEqual({ "0:1": { position_x: 1, position_y: 2, position_z: 3 } });
    expect(replica.tables).toEqual(["transform", "health"]);
    expect(replica.filters).toEqual(filters);
    expect(changes).toHaveLength(1);
    expect(changes[0]!.tables["health"]!.deleted.map((r) => formatKey(r.key))).toEqual(["0:1"]);
    expect(changes[0]!.tables["health"]!.inserted.map((r) => formatKey(r.key))).toEqual(["1:1"]);

    // setTables keeps the filters; a reconnect sends them again in HELLO.
    conn.drop();
    const again = await s.nextConnection();
    expect(await again.expect("HELLO")).toMatchObject({ lastVersion: 3n, tables: ["health", "transform"], filters: expected });
  });

  test("filters the server would refuse are refused locally, naming the filter; nothing is sent", async () => {
    const s = await server();
    await expect(
      Replica.connect({ url: s.url, WebSocket, filters: [SubscriptionFilter.where("helth", "hp", "<", 1)] }),
    ).rejects.toMatchObject({ code: StatusCode.NotFound, message: "filter 0: unknown table 'helth'" });
    expect(s.connections).toHaveLength(0);
    const { replica, conn } = await connected(s, { tables: ["health"], filters: [SubscriptionFilter.ofEntities(["0:1"])] });
    const refused = async (p: Promise<void>, code: number, message: string) => {
      const e = await p.catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ReplicaError);
      expect(e).toMatchObject({ code, message });
    };
    await refused(replica.setSubscription(["health"], [SubscriptionFilter.where("transform", "position_x", "<", 1)]), 1, "filter 0: table 'transform' is not subscribed");
    await refused(replica.setSubscription(["health"], [SubscriptionFilter.ofEntities([]), SubscriptionFilter.where("health", "nope", "==", 1)]), 2, "filter 1: table 'health' has no field 'nope'");
    await refused(replica.setSubscription([], [SubscriptionFilter.where("health", "hp", "==", "x")]), 1, "filter 0: field 'health.hp' (u32) compared with a string");
    await refused(replica.setSubscription([], [SubscriptionFilter.where("health", "hp", "~" as never, 1)]), 1, "filter 0: unknown comparison '~' (==, !=, <, <=, >, >=)");
    await refused(replica.setSubscription([], [{ kind: "field", table: "", field: "hp", op: "==", value: 1 }]), 1, "filter 0: a field comparison must name its table");
    await refused(
      replica.setSubscription([], [SubscriptionFilter.where("health", "entity_id", "==", "0:1")]),
      1,
      "filter 0: field 'health.entity_id' is the row's key or owner, not stored in the row: use an entity-set filter",
    );
    await refused(replica.setSubscription([], [SubscriptionFilter.ofEntities(["x"])]), 1, "filter 0: 'x' is not an id (\"index:generation\", e.g. \"12:1\")");
    // setTables keeps the filters: one naming a table no longer subscribed is refused.
    const accepted = replica.setSubscription(["health"], [SubscriptionFilter.where("health", "hp", ">", 1)]);
    expect(await conn.expect("SUBSCRIBE")).toMatchObject({ tables: ["health"] });
    conn.delta(3n, 3n, { tables: { health: { deleted: ["0:1"] } } });
    await accepted;
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 3n });
    await refused(replica.setTables(["transform"]), 1, "filter 0: table 'health' is not subscribed");
    await sleep(30);
    expect(conn.pending).toEqual([]);
    expect(replica.connected).toBe(true);
    expect(replica.filters).toEqual([SubscriptionFilter.where("health", "hp", ">", 1)]);
  });

  test("a SUBSCRIBE asked for before WELCOME is sent once the connection is resumed", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    conn.drop();
    const again = await s.nextConnection();
    expect(await again.expect("HELLO")).toMatchObject({ lastVersion: 3n, tables: [] });
    const applied = replica.setTables(["health"]);
    await sleep(30);
    expect(again.pending).toEqual([]); // not before WELCOME: the server may be resuming or syncing
    again.welcome({ epoch: 5n, resume: true, version: 3n });
    expect(await again.expect("SUBSCRIBE")).toStrictEqual({ type: "SUBSCRIBE", tables: ["health"] });
    again.delta(3n, 3n, { tables: { transform: { deleted: ["0:1"] } } });
    await applied;
    expect(replica.tables).toEqual(["health"]);
    expect(replica.table("transform").size).toBe(0);
  });

  test("a subscription changed while disconnected: the next HELLO carries it with last_version 0 (a full sync, not a resume)", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    let applied: Promise<void> | undefined;
    replica.on("disconnect", () => {
      applied ??= replica.setTables(["health"]);
    });
    conn.drop();
    const again = await s.nextConnection();
    expect(await again.expect("HELLO")).toMatchObject({ tables: ["health"], lastVersion: 0n, epoch: 0n, layoutHash: s.layout.layoutHash });
    const changes = events<ChangeEvent>(replica, "change");
    const kept = replica.get("health", "0:1");
    again.welcome({ epoch: 5n, version: 3n, tables: ["health"] });
    again.fullSync(3n, { entities: initial.entities, tables: { health: initial.tables.health } });
    await applied;
    expect(await again.expect("ACK")).toEqual({ type: "ACK", version: 3n });
    expect(replica.tables).toEqual(["health"]);
    expect(replica.table("transform").size).toBe(0);
    expect(replica.get("health", "0:1")).toBe(kept);
    expect(changes).toHaveLength(1);
    expect(Object.keys(changes[0]!.tables)).toEqual(["transform"]);
    expect(again.pending).toEqual([]);
  });

  test("a SUBSCRIBE whose difference was lost with the connection: the next HELLO asks for a full sync", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const applied = replica.setTables(["health"]);
    await conn.expect("SUBSCRIBE");
    conn.drop();
    const again = await s.nextConnection();
    expect(await again.expect("HELLO")).toMatchObject({ tables: ["health"], lastVersion: 0n });
    again.welcome({ epoch: 5n, version: 4n, tables: ["health"] });
    again.fullSync(4n, { entities: initial.entities, tables: { health: initial.tables.health } });
    await applied;
    expect(replica.version).toBe(4n);
    expect(replica.table("transform").size).toBe(0);
    // Now in step: a later reconnect resumes.
    again.drop();
    const third = await s.nextConnection();
    expect(await third.expect("HELLO")).toMatchObject({ tables: ["health"], lastVersion: 4n, epoch: 5n });
  });

  test("close() rejects a subscription change still waiting for its difference", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const applied = replica.setTables(["health"]);
    await conn.expect("SUBSCRIBE");
    replica.close();
    await expect(applied).rejects.toMatchObject({ code: StatusCode.Unavailable, message: "the replica was closed" });
    await expect(replica.setTables([])).rejects.toMatchObject({ code: StatusCode.Unavailable });
  });
});

describe("compileFilters: values by the field's type, refusals as the server's", () => {
  const showcase = new SchemaLayout(fixture("showcase-schema.json"));
  const W = SubscriptionFilter.where;

  test("values", () => {
    const params = Uint8Array.from([1, 2, 3]);
    expect(
      compileFilters(showcase, [], [
        W("health", "hp", "<", -5),
        W("health", "regen_per_s", ">=", 0.5),
        W("health", "armor", "==", 65535n),
        W("health", "regen_per_s", "!=", "NaN"),
        W("health", "hp", ">", 2 ** 60),
        W("character", "experience", "==", "18446744073709551615"),
        W("character", "is_online", "==", true),
        W("character", "name", "!=", "Ann"),
        W("character", "faction", "==", "monsters"),
        W("character", "faction", ">", 1),
        W("ai_brain", "target", "==", "0:1"),
        W("ai_brain", "target", "!=", null),
        W("inventory_item", "crafted_by", "==", k("1:1")),
        W("health", "hp", "<", { kind: "float", value: 1.5 }),
        SubscriptionFilter.ofEntities(["0:1", k("1:1")]),
        SubscriptionFilter.ofEntities([], "buff"),
        SubscriptionFilter.custom(undefined, "near", params),
        SubscriptionFilter.custom("buff", "mine"),
      ]).map((f) => (f.kind === "field" ? [f.table, f.field, f.op, f.value.kind, f.value.value] : f)),
    ).toEqual([
      ["health", "hp", "<", "int", -5n],
      ["health", "regen_per_s", ">=", "float", 0.5],
      ["health", "armor", "==", "uint", 65535n],
      ["health", "regen_per_s", "!=", "float", NaN],
      ["health", "hp", ">", "float", 2 ** 60],
      ["character", "experience", "==", "uint", 18446744073709551615n],
      ["character", "is_online", "==", "bool", true],
      ["character", "name", "!=", "string", "Ann"],
      ["character", "faction", "==", "string", "monsters"],
      ["character", "faction", ">", "uint", 1n],
      ["ai_brain", "target", "==", "entity", k("0:1")],
      ["ai_brain", "target", "!=", "entity", 0n],
      ["inventory_item", "crafted_by", "==", "entity", k("1:1")],
      ["health", "hp", "<", "float", 1.5],
      { kind: "entities", table: "", entities: [k("0:1"), k("1:1")] },
      { kind: "entities", table: "buff", entities: [] },
      { kind: "custom", table: "", name: "near", params },
      { kind: "custom", table: "buff", name: "mine", params: new Uint8Array(0) },
    ]);
  });

  test("refusals", () => {
    const refused = (f: SubscriptionFilter, message: string, tables: string[] = []) => {
      let error: unknown;
      try {
        compileFilters(showcase, tables, [f]);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ReplicaError);
      expect((error as Error).message).toBe(message);
    };
    refused(W("transform", "position", "==", 1), "filter 0: field 'transform.position' is a Vec3: only scalar fields can be filtered on");
    refused(W("character", "hotbar", "==", 1), "filter 0: field 'character.hotbar' is a [u32; 8]: only scalar fields can be filtered on");
    refused(W("character", "name", "<", "Ann"), "filter 0: field 'character.name' (str<24>) takes only == and !=");
    refused(W("character", "faction", "<", "player"), "filter 0: field 'character.faction' (Faction) takes only == and !=");
    refused(W("character", "faction", "==", "nope"), "filter 0: field 'character.faction' (Faction): 'nope' is not a variant of Faction (neutral, player, monsters, merchants)");
    refused(W("character", "is_online", "==", 1), "filter 0: field 'character.is_online' (bool) compared with a number");
    refused(W("character", "is_online", "<", true), "filter 0: field 'character.is_online' (bool) takes only == and !=");
    refused(W("ai_brain", "target", "==", 5), "filter 0: field 'ai_brain.target' (entity) compared with a number");
    refused(W("ai_brain", "target", ">", "0:1"), "filter 0: field 'ai_brain.target' (entity) takes only == and !=");
    refused(W("health", "hp", "==", 2n ** 64n), "filter 0: 18446744073709551616 is outside the i64 and u64 ranges");
    refused(W("health", "hp", "==", true), "filter 0: field 'health.hp' (i32) compared with a bool");
    refused(W("health", "hp", "==", { kind: "entity", value: 1n }), "filter 0: field 'health.hp' (i32) compared with an entity");
    refused(SubscriptionFilter.ofEntities([], "entities"), "filter 0: table 'entities' is not subscribed");
    refused(SubscriptionFilter.ofEntities([], "buff"), "filter 0: table 'buff' is not subscribed", ["health"]);
    refused({ kind: "nope" } as never, "filter 0: unknown kind 'nope' (entities, field, custom)");
    refused(SubscriptionFilter.custom("", ""), "filter 0: a custom filter needs its name");
  });
});

describe("closing frames", () => {
  test("CLOSE 14 reconnects; CLOSE 2 stops for good", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const disconnects = events<DisconnectEvent>(replica, "disconnect");
    conn.send({ type: "CLOSE", code: StatusCode.Unavailable, reason: "server shutting down" });
    const again = await s.nextConnection();
    expect(disconnects[0]).toMatchObject({ willReconnect: true, error: { code: 14, message: "the server closed the connection: server shutting down" } });
    expect(await again.expect("HELLO")).toMatchObject({ lastVersion: 3n });
    again.welcome({ epoch: 5n, resume: true });
    await until(() => replica.connected);
    const stops = events<ReplicaError | null>(replica, "stop");
    again.send({ type: "CLOSE", code: StatusCode.NotFound, reason: "unknown table 'x'" });
    await again.closedPromise;
    expect(stops[0]).toMatchObject({ code: 2 });
    expect(replica.status).toMatchObject({ code: 2, message: "the server closed the connection: unknown table 'x'" });
    expect(replica.connected).toBe(false);
    await sleep(100);
    expect(s.connections).toHaveLength(2);
    expect(replica.get("health", "0:1")!.values).toEqual({ hp: 10, max_hp: 100 }); // still readable
  });

  test("a malformed frame stops the replica with the codec's reason", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    conn.sendRaw(Uint8Array.from([9, 0, 0, 0, 0x84, 3, 0, 0, 0, 0, 0, 0]));
    await conn.closedPromise;
    expect(replica.status).toMatchObject({
      code: StatusCode.InvalidArgument,
      message: "from the server: frame length 9 does not match the message: 8 bytes follow the length",
    });
    const s2 = await server();
    const second = await connected(s2);
    second.conn.sendRaw("hello");
    await second.conn.closedPromise;
    expect(second.replica.status?.message).toBe("from the server: a message that is not binary");
  });

  test("close() ends the connection; the copy stays readable", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const stops = events<ReplicaError | null>(replica, "stop");
    replica.close();
    await conn.closedPromise;
    expect(stops).toEqual([null]);
    expect(replica.status).toBeNull();
    expect(replica.table("health").size).toBe(2);
    expect(await replica.waitForVersion(4n, 10)).toBe(false);
  });
});

describe("writes", () => {
  test("WRITE frames, committed and rejected answers", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const committed = replica.submit([
      { op: "put", table: "health", entity: "0:1", values: { hp: 1, max_hp: 2 } },
      { op: "update", table: "transform", entity: k("0:1"), values: { position_x: 2.5 } },
      { op: "remove", table: "health", entity: "1:1" },
      { op: "destroy", entity: "2:1" },
    ]);
    const w = await conn.expect("WRITE");
    expect(w.requestId).toBe(1n);
    expect(w.baseVersion).toBe(3n);
    expect(w.ops.map((o) => [o.kind, o.table, formatKey(o.key), o.fieldMask, hex(o.bytes)])).toEqual([
      [1, 2, "0:1", 0n, "01 00 00 00 02 00 00 00"],
      [2, 1, "0:1", 2n, "00 00 20 40"],
      [3, 2, "1:1", 0n, ""],
      [4, 0, "2:1", 0n, ""],
    ]);
    conn.send({ type: "WRITE_RESULT", requestId: 1n, committed: true, version: 4n, code: 0, message: "" });
    expect(await committed).toEqual({ version: 4n, requestId: 1n });

    const rejected = replica.submit([{ op: "update", table: "health", entity: "9:1", values: { hp: 1 } }]);
    const w2 = await conn.expect("WRITE");
    conn.send({ type: "WRITE_RESULT", requestId: w2.requestId, committed: false, version: 0n, code: 3, message: "operation 0: entity 9:1 is not alive" });
    const e = await rejected.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WriteError);
    expect(e).toMatchObject({ code: 3, codeName: "StaleEntity", message: "operation 0: entity 9:1 is not alive", requestId: 2n });
  });

  test("writes refused locally name the operation and send nothing", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    await expect(replica.submit([{ op: "put", table: "helth", entity: "0:1" }])).rejects.toMatchObject({ code: 2, message: "operation 0: unknown table 'helth'" });
    await expect(replica.submit([{ op: "destroy", entity: "0:1" }, { op: "put", table: "health", entity: "0:1", values: { hp: -1 } }])).rejects.toMatchObject({
      code: 1,
      message: "operation 1: table 'health', field 'hp': -1 is out of range for u32 (0..4294967295)",
    });
    await expect(replica.submit([{ op: "insert", table: "health", entity: "0:1" }])).rejects.toMatchObject({ code: 1, message: expect.stringContaining("insert is for 'many' tables") });
    await expect(replica.submit([{ op: "remove", table: "health" }])).rejects.toMatchObject({ code: 1, message: "operation 0: 'entity' is required" });
    await sleep(50);
    expect(conn.pending).toEqual([]);
  });

  test("a write whose connection is lost rejects with Unavailable; so does one made while disconnected", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const lost = replica.submit([{ op: "update", table: "health", entity: "0:1", values: { hp: 3 } }]);
    await conn.expect("WRITE");
    conn.drop();
    const e = await lost.catch((x: unknown) => x);
    expect(e).toMatchObject({ code: StatusCode.Unavailable, message: expect.stringContaining("may or may not have committed") });
    await expect(replica.submit([{ op: "destroy", entity: "0:1" }])).rejects.toMatchObject({ code: 14, message: "not connected to the server" });
  });

  test("a WRITE frame above the server's 1 MiB limit is refused locally (the server would disconnect)", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const ops = Array.from({ length: 90_000 }, () => ({ op: "put" as const, table: "health", entity: "0:1", values: { hp: 1 } }));
    await expect(replica.submit(ops)).rejects.toMatchObject({ code: 1, message: expect.stringContaining("above the server's limit of 1048576") });
    await sleep(50);
    expect(conn.pending).toEqual([]);
    expect(replica.connected).toBe(true);
  });

  test("OVERWRITTEN notices are events", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const notices = events<OverwrittenEvent>(replica, "overwritten");
    conn.send({ type: "OVERWRITTEN", requestId: 7n, version: 5n, table: 2, key: k("0:1"), fieldMask: 0b110n });
    await until(() => notices.length > 0);
    expect(notices).toEqual([{ requestId: 7n, version: 5n, table: "health", key: k("0:1"), fieldMask: 6n, fields: ["hp", "max_hp"] }]);
  });
});

test("waitForVersion", async () => {
  const s = await server();
  const { replica, conn } = await connected(s);
  expect(await replica.waitForVersion(3n)).toBe(true);
  const waiting = replica.waitForVersion(5n, 5000);
  conn.delta(3n, 4n);
  conn.delta(4n, 5n);
  expect(await waiting).toBe(true);
  expect(await replica.waitForVersion(6n, 20)).toBe(false);
});

test("the live tests' probe tells a server without the endpoint (404) from one with it", async () => {
  const plain = createServer((_req, res) => {
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end('{"error":{"code":"not_found","message":"no route /api/replication","details":{}}}');
  });
  await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
  try {
    const port = (plain.address() as AddressInfo).port;
    expect(await probeReplication(`ws://127.0.0.1:${port}/api/replication`)).toMatchObject({ open: false, status: 404 });
  } finally {
    await new Promise<void>((resolve) => plain.close(() => resolve()));
  }
  const s = await server();
  expect(await probeReplication(s.url)).toEqual({ open: true, protocol: "ecsdb-repl" });
});
