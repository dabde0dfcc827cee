// A stand-in for `ecsdb serve`'s replication endpoint, speaking the protocol with this package's codec:
// GET /api/schema and a WebSocket at /api/replication (subprotocol ecsdb-repl). Tests script it frame by frame.
import { type IncomingMessage, type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import {
  type ClientFrame,
  type DeltaBody,
  type Frame,
  type TableDelta,
  WEBSOCKET_SUBPROTOCOL,
  decodeFrame,
  encodeFrame,
  parseKey,
} from "../src/codec.js";
import { type SchemaJson, SchemaLayout } from "../src/layout.js";

export type RowSpec = { key: string; owner?: string; values?: Record<string, unknown> };
export type UpdateSpec = { key: string; values: Record<string, unknown> };
export interface BodySpec {
  created?: string[];
  destroyed?: string[];
  tables?: Record<string, { inserted?: RowSpec[]; updated?: UpdateSpec[]; deleted?: string[] }>;
}

/** A delta body from names and values. */
export function body(layout: SchemaLayout, spec: BodySpec): DeltaBody {
  const tables: TableDelta[] = Object.entries(spec.tables ?? {})
    .map(([name, t]) => {
      const table = layout.table(name);
      const inserted = t.inserted ?? [];
      return {
        table: table.id,
        inserted: inserted.map((r) => parseKey(r.key)),
        owners: table.many ? inserted.map((r) => parseKey(r.owner ?? "0:0")) : null,
        rows: inserted.map((r) => table.encodeRow(r.values ?? {})),
        updates: (t.updated ?? []).map((u) => {
          const { mask, bytes } = table.encodeUpdate(u.values);
          return { key: parseKey(u.key), mask, bytes };
        }),
        deleted: (t.deleted ?? []).map((k) => parseKey(k)),
      };
    })
    .sort((a, b) => a.table - b.table);
  return { created: (spec.created ?? []).map((k) => parseKey(k)), destroyed: (spec.destroyed ?? []).map((k) => parseKey(k)), tables };
}

export class FakeConnection {
  private readonly queue: ClientFrame[] = [];
  private waiters: ((f: ClientFrame | null) => void)[] = [];
  closed = false;
  readonly closedPromise: Promise<void>;
  readonly request: IncomingMessage;

  constructor(
    readonly ws: WebSocket,
    readonly layout: SchemaLayout,
    request: IncomingMessage,
  ) {
    this.request = request;
    let done: () => void = () => {};
    this.closedPromise = new Promise((resolve) => (done = resolve));
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) throw new Error("the client sent a text message");
      const frame = decodeFrame(new Uint8Array(data), layout, { maxFrameBytes: 1 << 20 }) as ClientFrame;
      const w = this.waiters.shift();
      if (w !== undefined) w(frame);
      else this.queue.push(frame);
    });
    ws.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(null);
      done();
    });
  }

  /** The next frame from the client (null when it closed), failing after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<ClientFrame | null> {
    const f = this.queue.shift();
    if (f !== undefined) return Promise.resolve(f);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no frame from the client in time")), timeoutMs);
      this.waiters.push((frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  async expect<T extends ClientFrame["type"]>(type: T, timeoutMs = 5000): Promise<Extract<ClientFrame, { type: T }>> {
    const f = await this.next(timeoutMs);
    if (f === null) throw new Error(`the client closed while a ${type} was expected`);
    if (f.type !== type) throw new Error(`expected ${type}, got ${f.type}`);
    return f as Extract<ClientFrame, { type: T }>;
  }

  /** Frames the client sent that nobody took yet. */
  get pending(): readonly ClientFrame[] {
    return this.queue;
  }

  send(frame: Frame): void {
    this.ws.send(encodeFrame(frame, this.layout));
  }

  sendRaw(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  welcome(o: { epoch?: bigint; resume?: boolean; version?: bigint; tables?: string[] } = {}): void {
    this.send({
      type: "WELCOME",
      protocol: 1,
      layoutHash: this.layout.layoutHash,
      serverVersion: o.version ?? 0n,
      durableVersion: o.version ?? 0n,
      epoch: o.epoch ?? 77n,
      resume: o.resume ?? false,
      schemaText: this.layout.toml ?? "",
      tables: o.tables ?? this.layout.rowTables.map((t) => t.name),
    });
  }

  /** SYNC_BEGIN, the state in chunks of `chunk` entities/rows, SYNC_END. */
  fullSync(version: bigint, state: { entities: string[]; tables?: Record<string, RowSpec[]> }, o: { reset?: boolean; chunk?: number; tables?: string[] } = {}): void {
    const chunk = o.chunk ?? 2;
    this.send({ type: "SYNC_BEGIN", version, reset: o.reset ?? false, tables: o.tables ?? this.layout.rowTables.map((t) => t.name).filter((n) => state.tables?.[n] !== undefined) });
    for (let i = 0; i < state.entities.length; i += chunk) {
      this.send({ type: "SYNC_CHUNK", body: body(this.layout, { created: state.entities.slice(i, i + chunk) }) });
    }
    for (const [name, rows] of Object.entries(state.tables ?? {})) {
      for (let i = 0; i < rows.length; i += chunk) {
        this.send({ type: "SYNC_CHUNK", body: body(this.layout, { tables: { [name]: { inserted: rows.slice(i, i + chunk) } } }) });
      }
    }
    this.send({ type: "SYNC_END", version });
  }

  delta(from: bigint, to: bigint, spec: BodySpec = {}): void {
    this.send({ type: "DELTA", fromVersion: from, toVersion: to, publishedAtNs: BigInt(Date.now()) * 1_000_000n, body: body(this.layout, spec) });
  }

  /** Drops the TCP connection without a close handshake. */
  drop(): void {
    this.ws.terminate();
  }
}

export class FakeServer {
  readonly layout: SchemaLayout;
  readonly connections: FakeConnection[] = [];
  schemaRequests = 0;
  lastSchemaAuthorization: string | undefined;
  private waiters: ((c: FakeConnection) => void)[] = [];
  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    readonly schema: SchemaJson,
  ) {
    this.layout = new SchemaLayout(schema);
  }

  static async start(schema: SchemaJson, o: { token?: string } = {}): Promise<FakeServer> {
    const http = createServer((req, res) => {
      if (req.url === "/api/schema") {
        server.schemaRequests++;
        server.lastSchemaAuthorization = req.headers.authorization;
        if (o.token !== undefined && req.headers.authorization !== `Bearer ${o.token}`) {
          res.writeHead(401, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ error: { code: "unauthorized", message: "a token is required", details: {} } }));
          return;
        }
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify(schema));
        return;
      }
      res.writeHead(404, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: { code: "not_found", message: `no route ${req.url}`, details: {} } }));
    });
    const wss = new WebSocketServer({
      server: http,
      path: "/api/replication",
      handleProtocols: (protocols) => (protocols.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false),
    });
    const server = new FakeServer(http, wss, schema);
    wss.on("connection", (ws, req) => {
      const c = new FakeConnection(ws, server.layout, req);
      server.connections.push(c);
      const w = server.waiters.shift();
      if (w !== undefined) w(c);
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    return server;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/api/replication`;
  }

  /** The next connection not yet taken (waits for one). */
  private taken = 0;
  nextConnection(timeoutMs = 5000): Promise<FakeConnection> {
    const c = this.connections[this.taken];
    if (c !== undefined) {
      this.taken++;
      return Promise.resolve(c);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no connection in time")), timeoutMs);
      this.waiters.push((conn) => {
        clearTimeout(timer);
        this.taken++;
        resolve(conn);
      });
    });
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

export { WebSocket };
