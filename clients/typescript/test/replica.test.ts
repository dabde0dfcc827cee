// Replica against a scripted stand-in server (test/fake-server.ts): no ecsdb binary needed.
import { afterEach, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { StatusCode, formatKey, parseKey } from "../src/codec.js";
import { type ChangeEvent, type DisconnectEvent, type OverwrittenEvent, Replica, ReplicaError, WriteError, replicationUrls } from "../src/replica.js";
import { FakeConnection, FakeServer, type RowSpec } from "./fake-server.js";
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
  o: { version?: bigint; state?: typeof initial; tables?: string[]; token?: string } = {},
): Promise<{ replica: Replica; conn: FakeConnection }> {
  const version = o.version ?? 3n;
  const pending = Replica.connect({ url: s.url, WebSocket, tables: o.tables, token: o.token, reconnectMinMs: 10, reconnectMaxMs: 50, connectTimeoutMs: 5000 });
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

  test("setTables sends SUBSCRIBE; the resync empties the tables no longer subscribed", async () => {
    const s = await server();
    const { replica, conn } = await connected(s);
    const applied = replica.setTables(["health"]);
    expect(await conn.expect("SUBSCRIBE")).toEqual({ type: "SUBSCRIBE", tables: ["health"] });
    conn.fullSync(3n, { entities: initial.entities, tables: { health: initial.tables.health } }, { reset: true });
    await applied;
    expect(replica.table("transform").size).toBe(0);
    expect(replica.table("health").size).toBe(2);
    expect(await conn.expect("ACK")).toEqual({ type: "ACK", version: 3n });
    await expect(replica.setTables(["nope"])).rejects.toMatchObject({ code: StatusCode.NotFound });
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
