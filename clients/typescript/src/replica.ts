// Replica: a live, read-only local copy of an ECSDb server's tables over the WebSocket form of the
// replication protocol (`ws://HOST:PORT/api/replication`, subprotocol `ecsdb-repl`, one frame per binary
// message), following docs/protocol.md and the C++ client (src/replication/replica.cpp):
//
//   - connect: GET /api/schema for the table layouts, then HELLO (layout hash 0: take the server's), WELCOME,
//     a full sync (applied at SYNC_END as the difference with the local state), then one DELTA per version;
//   - a DELTA is applied only when it starts at the local version; one that ends at or before it is a
//     duplicate (ignored); anything else is a gap: the replica closes and reconnects with its version and
//     epoch, to be resumed or resynced;
//   - a DELTA from the local version to itself (from = to) is a subscription change at that version: it is
//     applied, not a duplicate;
//   - ACK after each applied sync and DELTA;
//   - SUBSCRIBE (setTables, setSubscription) is answered with the difference in the next DELTA (rows that
//     arrive, deleted keys of rows that leave), or, sent during a full sync, by that sync starting again;
//   - CLOSE with code 1, 2, 15 or 16 stops the replica for good; other codes, and lost connections,
//     reconnect with exponential back-off;
//   - writes (WRITE / WRITE_RESULT) as Promises, OVERWRITTEN notices as events.

import {
  type CodecSchema,
  type DeltaBody,
  type FilterOpName,
  type FilterValue,
  type Frame,
  FrameType,
  HELLO_DURABLE_ONLY,
  Limits,
  PROTOCOL_VERSION,
  ProtocolError,
  StatusCode,
  WEBSOCKET_SUBPROTOCOL,
  type WireFilter,
  type WireWriteOp,
  WriteOpKind,
  decodeFrame,
  encodeFrame,
  formatKey,
  keyGeneration,
  keyIndex,
  parseKey,
  statusCodeName,
} from "./codec.js";
import { type FieldLayout, LayoutError, type RowValues, type RowValuesInput, type SchemaJson, SchemaLayout, type TableLayout } from "./layout.js";

// ---- WebSocket, as browsers and the `ws` package both provide it ----

export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly protocol: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/**
 * A WebSocket class: `globalThis.WebSocket` in browsers, `WebSocket` from the `ws` package in Node. Its
 * instances must behave as WebSocketLike (typed loosely so that both fit without casts).
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

const WS_OPEN = 1;

// ---- public types ----

export type EntityLike = bigint | string;

/**
 * A field filter's value. A plain JS value is converted by the field's type: a boolean for `bool`; a number
 * or bigint (or "NaN", "Infinity", "-Infinity", or a decimal integer string) for numbers; an id
 * ("index:generation"), bigint or null for entities (`entity`, and `u64` with a foreign key); a string for
 * `str<N>`; a variant name for enums, as docs/protocol.md has it, or a number, sent as a number (the server
 * as built compares enums by value and refuses names). An explicit wire value (`{kind: "uint", value: 5n}`)
 * is sent as it is.
 */
export type FilterValueInput = boolean | number | bigint | string | null | FilterValue;

/**
 * Which rows of the subscribed tables reach the replica (docs/protocol.md, "Filters"). A table's rows arrive
 * when every filter naming it (or naming no table) admits them; a table no filter names sends every row.
 *
 * - `entities`: the rows of these entities (of a `many` table: the rows they own); `table` absent: every
 *   subscribed table.
 * - `field`: a comparison of one scalar field of `table` with a value. Numbers take every `op` and compare by
 *   value; bools, entities, enums and strings take `==` and `!=` only.
 * - `custom`: a filter the server registered under `name` (ReplicationOptions::custom_filters), with its
 *   parameters in the form it defines; `table` absent: every subscribed table.
 */
export type SubscriptionFilter =
  | { readonly kind: "entities"; readonly entities: readonly EntityLike[]; readonly table?: string }
  | { readonly kind: "field"; readonly table: string; readonly field: string; readonly op: FilterOpName; readonly value: FilterValueInput }
  | { readonly kind: "custom"; readonly name: string; readonly params?: Uint8Array; readonly table?: string };

/** Builders of SubscriptionFilter values (as ecsdb::SubscriptionFilter's of_entities, where, custom). */
export const SubscriptionFilter = {
  ofEntities(entities: readonly EntityLike[], table?: string): SubscriptionFilter {
    return table === undefined ? { kind: "entities", entities } : { kind: "entities", entities, table };
  },
  where(table: string, field: string, op: FilterOpName, value: FilterValueInput): SubscriptionFilter {
    return { kind: "field", table, field, op, value };
  },
  custom(table: string | undefined, name: string, params?: Uint8Array): SubscriptionFilter {
    return { kind: "custom", name, ...(params === undefined ? {} : { params }), ...(table === undefined || table === "" ? {} : { table }) };
  },
} as const;

export interface ReplicaOptions {
  /** `ws://HOST:PORT/api/replication` (or wss://). A URL without a path gets `/api/replication`; http(s) becomes ws(s). */
  url: string;
  /** The server's token (empty or absent when it has none). Sent in HELLO, and as a Bearer token to GET /api/schema. */
  token?: string;
  /** The tables to replicate; empty or absent: every table the token may read. */
  tables?: readonly string[];
  /**
   * Which rows of those tables (SubscriptionFilter); empty or absent: all. A filtered replica is never
   * resumed: each connection brings a full sync of what its filters select (applied as the difference).
   */
  filters?: readonly SubscriptionFilter[];
  /** Receive a version only once it is durable on the server. */
  durableOnly?: boolean;
  /** The WebSocket class: the global one in browsers; in Node 20 pass `WebSocket` from the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** fetch for GET /api/schema (default: the global fetch). */
  fetch?: typeof fetch;
  /** The schema document, instead of fetching it (what GET /api/schema answers). */
  schema?: SchemaJson;
  /** Where GET /api/schema is (default: the same host as `url`, over http(s)). */
  schemaUrl?: string;
  /** connect() gives up when the first full sync has not arrived within this (default 10000 ms). */
  connectTimeoutMs?: number;
  /** Reconnect after a lost connection (default true); false stops at the first one. */
  reconnect?: boolean;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** The largest server frame accepted (default 256 MiB); a larger one stops the replica. */
  maxFrameBytes?: number;
}

/** A replicated row. `owner` is set for rows of `many` tables (0n for root tables). */
export interface Row {
  readonly key: bigint;
  readonly owner?: bigint;
  readonly values: RowValues;
}

export interface RowChange {
  readonly key: bigint;
  /** The fields that changed, with their new values. */
  readonly changed: RowValues;
  readonly row: Row;
  readonly previous: Row;
}

export interface TableChange {
  readonly inserted: readonly Row[];
  readonly updated: readonly RowChange[];
  /** The rows as they were before their deletion. */
  readonly deleted: readonly Row[];
}

/** One applied frame (a DELTA, or a full sync's difference), in object form. */
export interface ChangeEvent {
  readonly kind: "delta" | "sync";
  /** The local version before (0n before the first sync). */
  readonly fromVersion: bigint;
  readonly toVersion: bigint;
  /** DELTA only: when the server's hub received the oldest version the frame carries (CLOCK_REALTIME ns). */
  readonly publishedAtNs: bigint | null;
  readonly created: readonly bigint[];
  readonly destroyed: readonly bigint[];
  /** The tables that changed, by name. */
  readonly tables: { readonly [table: string]: TableChange };
}

export interface OverwrittenEvent {
  readonly requestId: bigint;
  readonly version: bigint;
  readonly table: string;
  readonly key: bigint;
  readonly fieldMask: bigint;
  /** The names of the fields the mask names. */
  readonly fields: readonly string[];
}

export interface ConnectEvent {
  /** The server resumed from the replica's version (DELTA frames follow) rather than sending a full sync. */
  readonly resume: boolean;
  readonly epoch: bigint;
  readonly serverVersion: bigint;
  readonly tables: readonly string[];
}

export interface DisconnectEvent {
  readonly error: ReplicaError;
  /** True when the replica will reconnect. */
  readonly willReconnect: boolean;
}

export interface ReplicaEvents {
  change: ChangeEvent;
  overwritten: OverwrittenEvent;
  connect: ConnectEvent;
  disconnect: DisconnectEvent;
  /** The replica stopped for good (refused by the server, a frame it could not apply, or close()). */
  stop: ReplicaError | null;
}

export type WriteOp =
  | { op: "put"; table: string; entity: EntityLike; values?: RowValuesInput }
  | { op: "update"; table: string; entity?: EntityLike; key?: EntityLike; values: RowValuesInput }
  | { op: "remove"; table: string; entity?: EntityLike; key?: EntityLike }
  | { op: "destroy"; entity: EntityLike }
  | { op: "insert"; table: string; entity: EntityLike; values?: RowValuesInput };

export interface WriteCommitted {
  /** The published version that holds the write; it reaches the replica through DELTA like any other. */
  readonly version: bigint;
  readonly requestId: bigint;
}

export interface ReplicaStats {
  readonly version: bigint;
  readonly frames: number;
  readonly duplicates: number;
  readonly bytesReceived: number;
  readonly fullSyncs: number;
  readonly resumes: number;
  readonly reconnects: number;
  readonly connected: boolean;
}

/** An error with a StatusCode: the server's (CLOSE, WRITE_RESULT), or the replica's own. */
export class ReplicaError extends Error {
  override name = "ReplicaError";
  readonly codeName: string;
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.codeName = statusCodeName(code);
  }
}

/** A rejected write: the server's StatusCode and message (which names the operation), or a local refusal. */
export class WriteError extends ReplicaError {
  override name = "WriteError";
  constructor(
    code: number,
    message: string,
    readonly requestId: bigint,
  ) {
    super(code, message);
  }
}

// ---- helpers ----

const FILTER_OPS: ReadonlySet<string> = new Set(["==", "!=", "<", "<=", ">", ">="]);

function refuseFilter(code: number, at: string, what: string): never {
  throw new ReplicaError(code, `${at}${what}`);
}

function describeValue(v: unknown): string {
  if (typeof v === "boolean") return "a bool";
  if (typeof v === "number" || typeof v === "bigint") return "a number";
  if (typeof v === "string") return "a string";
  if (v === null) return "null";
  return `a ${typeof v}`;
}

type FieldCategory = "number" | "bool" | "entity" | "string" | "enum";

/** What a field compares as on the server, or undefined when it cannot be filtered on. */
function fieldCategory(f: FieldLayout): FieldCategory | undefined {
  const t = f.type;
  if (t.kind === "scalar") return t.name === "bool" ? "bool" : "number";
  if (t.kind === "entity") return "entity"; // `entity`, and `u64` with a foreign key
  if (t.kind === "string") return "string";
  if (t.kind === "enum") return "enum";
  return undefined;
}

function valueCategory(v: FilterValue): Exclude<FieldCategory, "enum"> {
  return v.kind === "int" || v.kind === "uint" || v.kind === "float" ? "number" : v.kind;
}

const I64_MIN = -(1n << 63n);
const U64_MAX = (1n << 64n) - 1n;

function integerValue(b: bigint, at: string): FilterValue {
  if (b < I64_MIN || b > U64_MAX) refuseFilter(StatusCode.InvalidArgument, at, `${b} is outside the i64 and u64 ranges`);
  return b < 0n ? { kind: "int", value: b } : { kind: "uint", value: b };
}

/** A JS value as the wire value of a comparison with field `f` (docs/protocol.md, "Filters"). */
function filterValue(table: TableLayout, f: FieldLayout, category: FieldCategory, v: FilterValueInput, at: string): FilterValue {
  const spelled = `field '${table.name}.${f.name}' (${f.type.spelling})`;
  const wrong = (): never => refuseFilter(StatusCode.InvalidArgument, at, `${spelled} compared with ${describeValue(v)}`);
  if (v !== null && typeof v === "object") {
    if (typeof v.kind !== "string" || !("value" in v)) return wrong();
    return v; // explicit: its kind is checked against the field's by the caller
  }
  switch (category) {
    case "bool":
      return typeof v === "boolean" ? { kind: "bool", value: v } : wrong();
    case "number":
      if (typeof v === "bigint") return integerValue(v, at);
      if (typeof v === "number") return Number.isSafeInteger(v) ? integerValue(BigInt(v), at) : { kind: "float", value: v };
      if (v === "NaN" || v === "Infinity" || v === "-Infinity") return { kind: "float", value: Number(v) };
      if (typeof v === "string" && /^-?\d+$/.test(v)) return integerValue(BigInt(v), at);
      return wrong();
    case "entity":
      if (v === null) return { kind: "entity", value: 0n };
      if (typeof v === "string" || typeof v === "bigint") {
        try {
          return { kind: "entity", value: toKey(v) };
        } catch (e) {
          return refuseFilter(StatusCode.InvalidArgument, at, `${spelled}: ${(e as Error).message}`);
        }
      }
      return wrong();
    case "string":
      return typeof v === "string" ? { kind: "string", value: v } : wrong();
    case "enum": {
      // A variant name, as docs/protocol.md has it; a number is sent as a number (the server as built
      // compares enums by their numeric value).
      if (typeof v === "number" || typeof v === "bigint") {
        if (typeof v === "number" && !Number.isSafeInteger(v)) return refuseFilter(StatusCode.InvalidArgument, at, `${spelled}: ${v} is not an integer`);
        return integerValue(BigInt(v), at);
      }
      if (typeof v !== "string") return wrong();
      const e = f.type.kind === "enum" ? f.type.enum : undefined;
      if (e !== undefined && !e.byName.has(v)) {
        return refuseFilter(StatusCode.InvalidArgument, at, `${spelled}: '${v}' is not a variant of ${e.name} (${[...e.byName.keys()].join(", ")})`);
      }
      return { kind: "string", value: v };
    }
  }
}

/**
 * Filters in their wire form, checked as the server checks them (CLOSE 1 or 2 there, which would stop the
 * replica for good): known tables that are subscribed, stored scalar fields, values of the field's kind,
 * orderings on numbers only. Custom filters are the server's to check. Throws a ReplicaError naming the
 * filter ("filter 1: ...").
 */
export function compileFilters(
  layout: SchemaLayout,
  tables: readonly string[],
  filters: readonly SubscriptionFilter[],
  readable?: readonly string[],
): WireFilter[] {
  const subscribed = (name: string): boolean => {
    const t = layout.find(name);
    if (t === undefined || t.isEntityTable) return false;
    if (tables.length > 0) return tables.includes(name);
    return readable === undefined || readable.includes(name);
  };
  return filters.map((f, i): WireFilter => {
    const at = `filter ${i}: `;
    if (f === null || typeof f !== "object") return refuseFilter(StatusCode.InvalidArgument, at, "not a filter object");
    const table = f.table ?? "";
    if (typeof table !== "string") return refuseFilter(StatusCode.InvalidArgument, at, "'table' must be a string");
    let t: TableLayout | undefined;
    if (table !== "") {
      t = layout.find(table);
      if (t === undefined) refuseFilter(StatusCode.NotFound, at, `unknown table '${table}'`);
      if (!subscribed(table)) refuseFilter(StatusCode.InvalidArgument, at, `table '${table}' is not subscribed`);
    }
    switch (f.kind) {
      case "entities": {
        if (!Array.isArray(f.entities)) return refuseFilter(StatusCode.InvalidArgument, at, "'entities' must be an array");
        const entities = f.entities.map((e) => {
          try {
            return toKey(e);
          } catch (x) {
            return refuseFilter(StatusCode.InvalidArgument, at, (x as Error).message);
          }
        });
        return { kind: "entities", table, entities };
      }
      case "field": {
        if (t === undefined) return refuseFilter(StatusCode.InvalidArgument, at, "a field comparison must name its table");
        if (!FILTER_OPS.has(f.op)) return refuseFilter(StatusCode.InvalidArgument, at, `unknown comparison '${String(f.op)}' (==, !=, <, <=, >, >=)`);
        const field = t.field(f.field);
        if (field === undefined) return refuseFilter(StatusCode.NotFound, at, `table '${t.name}' has no field '${f.field}'`);
        if (!field.stored) {
          return refuseFilter(StatusCode.InvalidArgument, at, `field '${t.name}.${f.field}' is the row's key or owner, not stored in the row: use an entity-set filter`);
        }
        const category = fieldCategory(field);
        if (category === undefined) {
          return refuseFilter(StatusCode.InvalidArgument, at, `field '${t.name}.${f.field}' is a ${field.type.spelling}: only scalar fields can be filtered on`);
        }
        const value = filterValue(t, field, category, f.value, at);
        const given = valueCategory(value);
        if (given !== category && !(category === "enum" && (given === "string" || given === "number"))) {
          const what = given === "number" ? "a number" : given === "bool" ? "a bool" : given === "entity" ? "an entity" : "a string";
          return refuseFilter(StatusCode.InvalidArgument, at, `field '${t.name}.${f.field}' (${field.type.spelling}) compared with ${what}`);
        }
        if (given !== "number" && f.op !== "==" && f.op !== "!=") {
          return refuseFilter(StatusCode.InvalidArgument, at, `field '${t.name}.${f.field}' (${field.type.spelling}) takes only == and !=`);
        }
        return { kind: "field", table, field: f.field, op: f.op, value };
      }
      case "custom":
        if (typeof f.name !== "string" || f.name === "") return refuseFilter(StatusCode.InvalidArgument, at, "a custom filter needs its name");
        return { kind: "custom", table, name: f.name, params: f.params ?? new Uint8Array(0) };
      default:
        return refuseFilter(StatusCode.InvalidArgument, at, `unknown kind '${String((f as { kind: unknown }).kind)}' (entities, field, custom)`);
    }
  });
}

/** A key from "index:generation" or a bigint. */
export function toKey(id: EntityLike): bigint {
  return parseKey(id);
}

/** The replication WebSocket URL and the schema URL for a server URL. */
export function replicationUrls(url: string): { ws: string; schema: string } {
  const u = new URL(url);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new ReplicaError(StatusCode.InvalidArgument, `'${url}' is not a ws(s) or http(s) URL`);
  if (u.pathname === "" || u.pathname === "/") u.pathname = "/api/replication";
  const s = new URL(u.toString());
  s.protocol = u.protocol === "wss:" ? "https:" : "http:";
  s.pathname = "/api/schema";
  s.search = "";
  s.hash = "";
  return { ws: u.toString(), schema: s.toString() };
}

function isFatalClose(code: number): boolean {
  return (
    code === StatusCode.InvalidArgument ||
    code === StatusCode.NotFound ||
    code === StatusCode.PermissionDenied ||
    code === StatusCode.FailedPrecondition
  );
}

function messageBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data) && data.every((d) => ArrayBuffer.isView(d))) {
    // ws with binaryType "fragments".
    const parts = data as ArrayBufferView[];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
      at += p.byteLength;
    }
    return out;
  }
  return undefined;
}

function bytesEqual(a: Uint8Array, b: Uint8Array, from = 0, to = a.length): boolean {
  if (a.length !== b.length) return false;
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface StoredTable {
  readonly layout: TableLayout;
  readonly rows: Map<bigint, Row>;
  readonly bytes: Map<bigint, Uint8Array>;
}

interface SyncState {
  version: bigint;
  /** The subscribed tables the sync covers, as the server granted them (SYNC_BEGIN). */
  tables: string[];
  /** The subscription (its sequence number) the sync was begun under: the last one sent on the session. */
  seq: number;
  /** The tables that subscription asked for (none: every table the token may read). */
  asked: readonly string[];
  created: bigint[];
  /** By table id: keys, owners, rows. */
  rows: Map<number, { keys: bigint[]; owners: bigint[]; rows: Uint8Array[] }>;
}

interface Session {
  readonly ws: WebSocketLike;
  welcomed: boolean;
  /** WELCOME said resume (DELTA frames follow), or a SYNC_BEGIN arrived: a SUBSCRIBE may be sent. */
  streaming: boolean;
  sync: SyncState | undefined;
  ended: boolean;
  lastError: string | undefined;
  /** The sequence number of the last subscription sent on this connection (in HELLO or SUBSCRIBE). */
  sentSeq: number;
  /** The tables it asked for. */
  sentTables: readonly string[];
  /** A SUBSCRIBE sent whose difference has not been applied yet: its sequence number and granted tables. */
  awaiting: { seq: number; granted: string[] } | undefined;
}

interface PendingWrite {
  resolve(v: WriteCommitted): void;
  reject(e: WriteError): void;
}

type Listener<T> = (event: T) => void;

/** Applies a body to the local state; `failure` names what cannot be applied (checked before anything changes). */
interface Plan {
  created: bigint[];
  destroyed: bigint[];
  tables: {
    table: StoredTable;
    deleted: bigint[];
    inserted: { key: bigint; owner: bigint | undefined; bytes: Uint8Array }[];
    updated: { key: bigint; bytes: Uint8Array; mask: bigint | undefined }[];
  }[];
}

export class Replica {
  readonly layout: SchemaLayout;
  private readonly options: Required<
    Pick<ReplicaOptions, "connectTimeoutMs" | "reconnect" | "reconnectMinMs" | "reconnectMaxMs" | "maxFrameBytes" | "durableOnly">
  > & { token: string };
  private readonly wsUrl: string;
  private readonly WS: WebSocketConstructor;
  private readonly stored: Map<string, StoredTable>;
  private readonly storedById: StoredTable[];
  /** index -> generation of every live entity. */
  private readonly alive = new Map<number, number>();
  private readonly aliveKeys = new Set<bigint>();
  private readonly listeners = new Map<keyof ReplicaEvents, Set<Listener<never>>>();
  private readonly writes = new Map<bigint, PendingWrite>();
  private subscription: string[];
  private filterSpecs: SubscriptionFilter[];
  private wireFilters: WireFilter[];
  /** Sequence numbers of subscriptions: the newest set, and the newest whose rows the local state holds. */
  private subSeq = 0;
  private appliedSeq = 0;
  private subWaiters: { seq: number; resolve(): void; reject(e: ReplicaError): void }[] = [];
  private granted: string[] = [];
  /** The tables the token may read, once the server listed them for a subscription that named none. */
  private readable: string[] | undefined;
  private versionValue = 0n;
  private epochValue = 0n;
  private synced = false;
  private session: Session | undefined;
  private backoff: number;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private stopError: ReplicaError | null = null;
  private nextRequest = 1n;
  private syncWaiters: { resolve(): void; reject(e: ReplicaError): void }[] = [];
  private versionWaiters: { version: bigint; resolve(ok: boolean): void; timer: ReturnType<typeof setTimeout> | undefined }[] = [];
  private counters = { frames: 0, duplicates: 0, bytesReceived: 0, fullSyncs: 0, resumes: 0, reconnects: 0 };

  private constructor(options: ReplicaOptions, layout: SchemaLayout, WS: WebSocketConstructor, wsUrl: string) {
    this.layout = layout;
    this.WS = WS;
    this.wsUrl = wsUrl;
    this.options = {
      token: options.token ?? "",
      durableOnly: options.durableOnly ?? false,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      reconnect: options.reconnect ?? true,
      reconnectMinMs: options.reconnectMinMs ?? 50,
      reconnectMaxMs: options.reconnectMaxMs ?? 5000,
      maxFrameBytes: options.maxFrameBytes ?? Limits.maxServerFrameBytes,
    };
    this.backoff = this.options.reconnectMinMs;
    this.subscription = [...(options.tables ?? [])];
    this.filterSpecs = [...(options.filters ?? [])];
    this.wireFilters = compileFilters(layout, this.subscription, this.filterSpecs);
    this.stored = new Map();
    this.storedById = [];
    for (const t of layout.tables) {
      const s: StoredTable = { layout: t, rows: new Map(), bytes: new Map() };
      this.storedById[t.id] = s;
      if (!t.isEntityTable) this.stored.set(t.name, s);
    }
  }

  /**
   * Fetches the schema, connects, and resolves once the first full sync is applied. Rejects with a
   * ReplicaError: the server's refusal (PermissionDenied, NotFound for an unknown table, FailedPrecondition),
   * or DeadlineExceeded after connectTimeoutMs.
   */
  static async connect(options: ReplicaOptions): Promise<Replica> {
    const urls = replicationUrls(options.url);
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WS === undefined) {
      throw new ReplicaError(StatusCode.InvalidArgument, "no WebSocket here: pass options.WebSocket (in Node 20, WebSocket from the 'ws' package)");
    }
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const doc = options.schema ?? (await fetchSchema(options.schemaUrl ?? urls.schema, options.token ?? "", options.fetch, timeoutMs));
    let layout: SchemaLayout;
    try {
      layout = new SchemaLayout(doc);
    } catch (e) {
      throw new ReplicaError(StatusCode.InvalidArgument, `the server's schema: ${(e as Error).message}`);
    }
    for (const t of options.tables ?? []) {
      if (layout.find(t) === undefined) throw new ReplicaError(StatusCode.NotFound, `unknown table '${t}'`);
    }
    compileFilters(layout, options.tables ?? [], options.filters ?? []); // refused here rather than by the server's CLOSE
    const replica = new Replica(options, layout, WS, urls.ws);
    const first = replica.nextSync();
    replica.open();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const why = replica.session?.lastError;
        reject(
          new ReplicaError(
            StatusCode.DeadlineExceeded,
            `no full sync from ${urls.ws} within ${timeoutMs} ms${why === undefined ? "" : ` (last: ${why})`}`,
          ),
        );
      }, Math.max(0, deadline - Date.now()));
    });
    try {
      await Promise.race([first, timeout]);
      return replica;
    } catch (e) {
      replica.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- reading ----

  /** The server version the replica holds (0n before its first sync). */
  get version(): bigint {
    return this.versionValue;
  }

  /** The epoch (server incarnation) the version belongs to. */
  get epoch(): bigint {
    return this.epochValue;
  }

  /**
   * The subscribed tables whose rows the replica holds, as the server granted them (every readable table
   * when none were named). After setTables or setSubscription, the new tables once their difference is
   * applied.
   */
  get tables(): readonly string[] {
    return this.granted;
  }

  /** The subscription's filters (as given to connect, setSubscription). */
  get filters(): readonly SubscriptionFilter[] {
    return this.filterSpecs;
  }

  /** The live entities' keys. */
  get entities(): ReadonlySet<bigint> {
    return this.aliveKeys;
  }

  isAlive(entity: EntityLike): boolean {
    return this.aliveKeys.has(toKey(entity));
  }

  /** A table's rows by key (entity for `one` tables, RowId for `many` tables). Read-only: do not modify. */
  table(name: string): ReadonlyMap<bigint, Row> {
    const t = this.stored.get(name);
    if (t === undefined) throw new ReplicaError(StatusCode.NotFound, `unknown table '${name}'`);
    return t.rows;
  }

  /** One row, or undefined. */
  get(table: string, key: EntityLike): Row | undefined {
    return this.table(table).get(toKey(key));
  }

  /** A row's bytes as the server stores them (stride bytes), or undefined. */
  rowBytes(table: string, key: EntityLike): Uint8Array | undefined {
    this.table(table);
    return this.stored.get(table)!.bytes.get(toKey(key))?.slice();
  }

  get connected(): boolean {
    return this.session?.welcomed === true && !this.session.ended;
  }

  /** Null while the replica runs (connected or reconnecting); the error that stopped it otherwise. */
  get status(): ReplicaError | null {
    return this.stopped ? this.stopError : null;
  }

  get stats(): ReplicaStats {
    return { version: this.versionValue, ...this.counters, connected: this.connected };
  }

  /** Resolves true once the replica holds `version` or later; false on timeout or when it stops. */
  waitForVersion(version: bigint, timeoutMs = 10_000): Promise<boolean> {
    if (this.versionValue >= version) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = { version, resolve, timer: undefined as ReturnType<typeof setTimeout> | undefined };
      w.timer = setTimeout(() => {
        this.versionWaiters = this.versionWaiters.filter((x) => x !== w);
        resolve(false);
      }, timeoutMs);
      this.versionWaiters.push(w);
    });
  }

  // ---- events ----

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof ReplicaEvents>(event: K, listener: Listener<ReplicaEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  off<K extends keyof ReplicaEvents>(event: K, listener: Listener<ReplicaEvents[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  private emit<K extends keyof ReplicaEvents>(event: K, value: ReplicaEvents[K]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const l of [...set]) {
      try {
        (l as Listener<ReplicaEvents[K]>)(value);
      } catch (e) {
        // A listener's error must not break the replica's state: report it outside this call stack.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  // ---- subscription ----

  /**
   * Replaces the subscribed tables (empty: every table the token may read), keeping the filters. See
   * setSubscription.
   */
  setTables(names: readonly string[]): Promise<void> {
    return this.setSubscription(names, this.filterSpecs);
  }

  /**
   * Replaces the subscription: tables (empty: every table the token may read) and filters (empty: every
   * row). The server sends only the difference, in its next DELTA (from its version to itself when nothing
   * else changed): rows of added tables and rows now selected arrive as inserts, rows of dropped tables and
   * rows no longer selected leave as deletes, applied as one change event. Sent during a full sync, the sync
   * starts again with the new subscription. The promise resolves once that frame (or sync) is applied;
   * when disconnected, the next connection carries the subscription and brings a full sync. It rejects
   * with a ReplicaError for an unknown table or a filter the server would refuse (nothing is sent then),
   * or when the replica stops.
   */
  setSubscription(tables: readonly string[], filters: readonly SubscriptionFilter[] = []): Promise<void> {
    if (this.stopped) return Promise.reject(this.stopError ?? new ReplicaError(StatusCode.Unavailable, "the replica is closed"));
    let wire: WireFilter[];
    try {
      for (const n of tables) {
        if (this.layout.find(n) === undefined) throw new ReplicaError(StatusCode.NotFound, `unknown table '${n}'`);
      }
      wire = compileFilters(this.layout, tables, filters, this.readable);
    } catch (e) {
      return Promise.reject(e);
    }
    this.subscription = [...tables];
    this.filterSpecs = [...filters];
    this.wireFilters = wire;
    const seq = ++this.subSeq;
    const applied = new Promise<void>((resolve, reject) => this.subWaiters.push({ seq, resolve, reject }));
    const s = this.session;
    if (s !== undefined) this.flushSubscription(s);
    return applied;
  }

  /**
   * Sends the newest subscription as SUBSCRIBE when this connection has not sent it yet and can: once
   * WELCOME resumed it, or its full sync began (so that every later SYNC_BEGIN answers it).
   */
  private flushSubscription(session: Session): void {
    if (session.ended || !session.welcomed || !session.streaming || session.sentSeq >= this.subSeq) return;
    const frame: Frame =
      this.wireFilters.length === 0
        ? { type: "SUBSCRIBE", tables: this.subscription }
        : { type: "SUBSCRIBE", tables: this.subscription, filters: this.wireFilters };
    if (!this.sendOn(session, frame)) return; // the connection is going: the next HELLO carries it
    session.sentSeq = this.subSeq;
    session.sentTables = this.subscription;
    session.awaiting = { seq: this.subSeq, granted: this.grantedFor(this.subscription) };
  }

  /** The tables the server grants for a subscription (its order: table id; the entity table never). */
  private grantedFor(names: readonly string[]): string[] {
    if (names.length === 0) return this.readable ?? this.layout.rowTables.map((t) => t.name);
    const wanted = new Set(names);
    return this.layout.rowTables.filter((t) => wanted.has(t.name)).map((t) => t.name);
  }

  /** The local state holds the rows of subscription `seq` (and of every older one). */
  private subscriptionApplied(seq: number): void {
    if (seq > this.appliedSeq) this.appliedSeq = seq;
    if (this.subWaiters.length === 0) return;
    const keep = [];
    for (const w of this.subWaiters) {
      if (w.seq <= this.appliedSeq) w.resolve();
      else keep.push(w);
    }
    this.subWaiters = keep;
  }

  private nextSync(): Promise<void> {
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  // ---- writes ----

  /**
   * Sends operations as one WRITE: the server runs them in order as one transaction (all commit or none).
   * Resolves with the version that holds them; rejects with a WriteError (the server's StatusCode and
   * message, or Unavailable when not connected or when the connection is lost before the answer: the write
   * may then have committed or not). A write is never applied locally: it arrives with its version.
   */
  submit(ops: readonly WriteOp[]): Promise<WriteCommitted> {
    const requestId = this.nextRequest++;
    let wire: WireWriteOp[];
    try {
      wire = ops.map((op, i) => this.encodeOp(op, i));
    } catch (e) {
      if (e instanceof WriteError) return Promise.reject(e);
      const code = e instanceof ReplicaError ? e.code : StatusCode.InvalidArgument;
      return Promise.reject(new WriteError(code, (e as Error).message, requestId));
    }
    if (!this.connected) {
      return Promise.reject(new WriteError(StatusCode.Unavailable, "not connected to the server", requestId));
    }
    const frame = encodeFrame({ type: "WRITE", requestId, baseVersion: this.versionValue, ops: wire }, this.layout);
    if (frame.length > Limits.maxClientFrameBytes) {
      // The server would close the connection for good (CLOSE 1): refuse it here instead.
      return Promise.reject(
        new WriteError(
          StatusCode.InvalidArgument,
          `the WRITE frame is ${frame.length} bytes, above the server's limit of ${Limits.maxClientFrameBytes}: split the operations into several writes`,
          requestId,
        ),
      );
    }
    return new Promise<WriteCommitted>((resolve, reject) => {
      this.writes.set(requestId, { resolve, reject });
      if (!this.send(frame)) {
        this.writes.delete(requestId);
        reject(new WriteError(StatusCode.Unavailable, "not connected to the server", requestId));
      }
    });
  }

  private encodeOp(op: WriteOp, i: number): WireWriteOp {
    const at = `operation ${i}`;
    const keyOf = (v: EntityLike | undefined, what: string): bigint => {
      if (v === undefined) throw new ReplicaError(StatusCode.InvalidArgument, `${at}: '${what}' is required`);
      try {
        return toKey(v);
      } catch (e) {
        throw new ReplicaError(StatusCode.InvalidArgument, `${at}: ${(e as Error).message}`);
      }
    };
    if (op.op === "destroy") {
      return { kind: WriteOpKind.destroy, table: 0, key: keyOf(op.entity, "entity"), fieldMask: 0n, bytes: new Uint8Array(0) };
    }
    const kind = WriteOpKind[op.op];
    if (kind === undefined) throw new ReplicaError(StatusCode.InvalidArgument, `${at}: unknown op '${String((op as { op: unknown }).op)}'`);
    const stored = this.stored.get(op.table);
    if (stored === undefined) throw new ReplicaError(StatusCode.NotFound, `${at}: unknown table '${op.table}'`);
    const t = stored.layout;
    try {
      switch (op.op) {
        case "put":
          if (t.many) throw new ReplicaError(StatusCode.InvalidArgument, `${at}: put is for 'one' tables; '${t.name}' is 'many' (use insert)`);
          return { kind, table: t.id, key: keyOf(op.entity, "entity"), fieldMask: 0n, bytes: t.encodeRow(op.values ?? {}) };
        case "insert":
          if (!t.many) throw new ReplicaError(StatusCode.InvalidArgument, `${at}: insert is for 'many' tables; '${t.name}' is 'one' (use put)`);
          return { kind, table: t.id, key: keyOf(op.entity, "entity"), fieldMask: 0n, bytes: t.encodeRow(op.values ?? {}) };
        case "update": {
          const key = keyOf(op.key ?? op.entity, t.many ? "key" : "entity");
          const { mask, bytes } = t.encodeUpdate(op.values, stored.bytes.get(key));
          return { kind, table: t.id, key, fieldMask: mask, bytes };
        }
        case "remove":
          return { kind, table: t.id, key: keyOf(op.key ?? op.entity, t.many ? "key" : "entity"), fieldMask: 0n, bytes: new Uint8Array(0) };
      }
    } catch (e) {
      if (e instanceof LayoutError) throw new ReplicaError(StatusCode.InvalidArgument, `${at}: ${e.message}`);
      throw e;
    }
  }

  // ---- closing ----

  /** Disconnects for good; the local copy stays readable. */
  close(): void {
    if (this.stopped) return;
    this.stop(null);
  }

  private stop(error: ReplicaError | null): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopError = error;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const s = this.session;
    if (s !== undefined && !s.ended) this.endSession(s, error ?? new ReplicaError(StatusCode.Unavailable, "the replica was closed"), true);
    const why = error ?? new ReplicaError(StatusCode.Unavailable, "the replica was closed");
    for (const w of this.syncWaiters.splice(0)) w.reject(why);
    for (const w of this.subWaiters.splice(0)) w.reject(why);
    for (const w of this.versionWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.emit("stop", error);
  }

  // ---- the connection ----

  private open(): void {
    this.reconnectTimer = undefined;
    if (this.stopped) return;
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.wsUrl, [WEBSOCKET_SUBPROTOCOL]) as WebSocketLike;
    } catch (e) {
      // A malformed URL, or a page that may not open it (mixed content): nothing to retry.
      this.stop(new ReplicaError(StatusCode.InvalidArgument, `cannot open ${this.wsUrl}: ${(e as Error).message}`));
      return;
    }
    ws.binaryType = "arraybuffer";
    const session: Session = {
      ws,
      welcomed: false,
      streaming: false,
      sync: undefined,
      ended: false,
      lastError: undefined,
      sentSeq: 0,
      sentTables: [],
      awaiting: undefined,
    };
    this.session = session;
    ws.onopen = () => {
      if (session.ended) return;
      // Resume only when the local state holds the rows of the subscription this HELLO carries: the server
      // resumes with the subscription it is given, and would send nothing of tables or rows we lack (or
      // delete those we hold beyond it). Otherwise last_version 0 asks for a full sync (applied as the
      // difference). (The server never resumes a client with filters anyway.)
      const resumable = this.synced && this.appliedSeq === this.subSeq;
      const ok = this.sendOn(session, {
        type: "HELLO",
        protocol: PROTOCOL_VERSION,
        flags: this.options.durableOnly ? HELLO_DURABLE_ONLY : 0,
        // 0 the first time: take the server's schema (checked against GET /api/schema's hash at WELCOME);
        // afterwards the hash it had, so a server restarted with another schema refuses us (CLOSE 16).
        layoutHash: this.synced ? this.layout.layoutHash : 0n,
        lastVersion: resumable ? this.versionValue : 0n,
        epoch: resumable ? this.epochValue : 0n,
        token: this.options.token,
        tables: this.subscription,
        ...(this.wireFilters.length === 0 ? {} : { filters: this.wireFilters }),
      });
      if (!ok) return this.endSession(session, new ReplicaError(StatusCode.Unavailable, "connection lost while sending HELLO"));
      session.sentSeq = this.subSeq;
      session.sentTables = this.subscription;
    };
    ws.onmessage = (ev) => {
      if (session.ended) return;
      const bytes = messageBytes(ev.data);
      if (bytes === undefined) {
        this.endSession(session, new ReplicaError(StatusCode.InvalidArgument, "from the server: a message that is not binary"), true);
        return;
      }
      this.counters.bytesReceived += bytes.length;
      this.handleMessage(session, bytes);
    };
    ws.onerror = (ev) => {
      const m = (ev as { message?: unknown; error?: { message?: unknown } } | null)?.message ?? (ev as { error?: { message?: unknown } } | null)?.error?.message;
      session.lastError = typeof m === "string" && m !== "" ? m : "WebSocket error";
    };
    ws.onclose = (ev) => {
      if (session.ended) return;
      const reason = session.lastError ?? `WebSocket closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""})`;
      this.endSession(
        session,
        new ReplicaError(StatusCode.Unavailable, session.welcomed ? `the connection was lost: ${reason}` : `cannot connect to ${this.wsUrl}: ${reason}`),
      );
    };
  }

  private send(frame: Frame | Uint8Array): boolean {
    const s = this.session;
    return s !== undefined && !s.ended && this.sendOn(s, frame);
  }

  private sendOn(session: Session, frame: Frame | Uint8Array): boolean {
    if (session.ws.readyState !== WS_OPEN) return false;
    try {
      session.ws.send(frame instanceof Uint8Array ? frame : encodeFrame(frame, this.layout));
      return true;
    } catch {
      return false;
    }
  }

  /** Ends a connection: then reconnects, or stops when `fatal` (or reconnect is off). */
  private endSession(session: Session, error: ReplicaError, fatal = false): void {
    if (session.ended) return;
    session.ended = true;
    const wasWelcomed = session.welcomed;
    session.ws.onopen = null;
    session.ws.onmessage = null;
    session.ws.onclose = null;
    session.ws.onerror = () => {};
    try {
      session.ws.close(1000);
    } catch {
      // Already closing.
    }
    for (const [id, w] of this.writes) {
      w.reject(
        new WriteError(
          StatusCode.Unavailable,
          `connection lost before the answer: the write may or may not have committed (${error.message})`,
          id,
        ),
      );
    }
    this.writes.clear();
    if (wasWelcomed) this.backoff = this.options.reconnectMinMs;
    const willReconnect = !this.stopped && !fatal && this.options.reconnect;
    this.emit("disconnect", { error, willReconnect });
    if (this.stopped) return;
    if (!willReconnect) {
      this.stop(error);
      return;
    }
    this.counters.reconnects++;
    const delay = this.backoff;
    this.backoff = Math.min(this.options.reconnectMaxMs, this.backoff * 2);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private protocolError(session: Session, message: string, code: number = StatusCode.InvalidArgument): void {
    this.endSession(session, new ReplicaError(code, `from the server: ${message}`), true);
  }

  private handleMessage(session: Session, bytes: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes, this.layout, { maxFrameBytes: this.options.maxFrameBytes });
    } catch (e) {
      if (e instanceof ProtocolError || e instanceof RangeError) return this.protocolError(session, (e as Error).message);
      throw e;
    }
    if (!session.welcomed && frame.type !== "WELCOME" && frame.type !== "CLOSE") {
      return this.protocolError(session, `expected WELCOME, got ${frame.type}`);
    }
    switch (frame.type) {
      case "WELCOME": {
        if (session.welcomed) return this.protocolError(session, "a second WELCOME");
        if (frame.protocol !== PROTOCOL_VERSION) return this.protocolError(session, `protocol version ${frame.protocol} (this client speaks ${PROTOCOL_VERSION})`);
        if (frame.layoutHash !== this.layout.layoutHash) {
          return this.endSession(
            session,
            new ReplicaError(
              StatusCode.FailedPrecondition,
              `schema mismatch: the server's layout hash is ${frame.layoutHash.toString(16).padStart(16, "0")}, the schema this replica read has ${this.layout.layoutHashHex}`,
            ),
            true,
          );
        }
        session.welcomed = true;
        this.backoff = this.options.reconnectMinMs;
        this.epochValue = frame.epoch;
        if (session.sentTables.length === 0) this.readable = [...frame.tables];
        if (frame.resume) {
          // Resumed with the subscription the HELLO carried, which the local state holds.
          this.counters.resumes++;
          this.granted = [...frame.tables];
          session.streaming = true;
        }
        this.emit("connect", { resume: frame.resume, epoch: frame.epoch, serverVersion: frame.serverVersion, tables: [...frame.tables] });
        this.flushSubscription(session);
        return;
      }
      case "SYNC_BEGIN":
        // The first sync of a connection, or one started again: after a SUBSCRIBE sent during a sync (with
        // the new subscription), or when the server lost track of this client.
        session.sync = { version: frame.version, tables: [...frame.tables], seq: session.sentSeq, asked: session.sentTables, rows: new Map(), created: [] };
        session.streaming = true;
        this.flushSubscription(session);
        return;
      case "SYNC_CHUNK": {
        const sync = session.sync;
        if (sync === undefined) return this.protocolError(session, "SYNC_CHUNK outside a sync");
        for (const k of frame.body.created) sync.created.push(k);
        for (const t of frame.body.tables) {
          let into = sync.rows.get(t.table);
          if (into === undefined) {
            into = { keys: [], owners: [], rows: [] };
            sync.rows.set(t.table, into);
          }
          for (let i = 0; i < t.inserted.length; i++) {
            into.keys.push(t.inserted[i]!);
            into.owners.push(t.owners?.[i] ?? 0n);
            // The frame's buffer is shared by its views: keep a copy of each row.
            into.rows.push(t.rows[i]!.slice());
          }
        }
        return;
      }
      case "SYNC_END": {
        const sync = session.sync;
        if (sync === undefined || frame.version !== sync.version) return this.protocolError(session, "SYNC_END without its SYNC_BEGIN");
        session.sync = undefined;
        const granted = this.granted;
        this.granted = sync.tables; // as the change event is emitted
        const failure = this.applySync(sync);
        if (failure !== undefined) {
          this.granted = granted;
          return this.endSession(session, new ReplicaError(StatusCode.Corruption, `applying the full sync: ${failure}`), true);
        }
        this.counters.fullSyncs++;
        this.synced = true;
        if (sync.asked.length === 0) this.readable = [...sync.tables];
        this.sendOn(session, { type: "ACK", version: this.versionValue });
        // The sync holds the subscription it began under; a SUBSCRIBE sent since still waits for its DELTA.
        if (session.awaiting !== undefined && session.awaiting.seq <= sync.seq) session.awaiting = undefined;
        for (const w of this.syncWaiters.splice(0)) w.resolve();
        this.subscriptionApplied(sync.seq);
        this.versionReached();
        return;
      }
      case "DELTA": {
        const have = this.versionValue;
        // from = to = our version: a subscription change at that version (rows selected or dropped), sent
        // once; any other frame that does not go past our version was applied already.
        const resubscribed = frame.fromVersion === have && frame.toVersion === have && this.synced;
        if (frame.toVersion <= have && !resubscribed) {
          this.counters.duplicates++;
          return;
        }
        if (frame.fromVersion !== have || !this.synced) {
          // A gap: reconnect and resume from what we hold.
          return this.endSession(
            session,
            new ReplicaError(StatusCode.Aborted, `gap: a frame from version ${frame.fromVersion} while this replica is at ${have}`),
          );
        }
        // The first DELTA after a SUBSCRIBE is taken as the one carrying its difference (the protocol does not
        // mark it; a frame the server sent before it read the SUBSCRIBE could come first).
        const awaiting = session.awaiting;
        const granted = this.granted;
        if (awaiting !== undefined) this.granted = awaiting.granted; // as the change event is emitted
        const failure = this.applyDelta(frame.body, frame.fromVersion, frame.toVersion, frame.publishedAtNs);
        if (failure !== undefined) {
          this.granted = granted;
          return this.endSession(session, new ReplicaError(StatusCode.Corruption, `applying version ${frame.toVersion}: ${failure}`), true);
        }
        this.counters.frames++;
        this.sendOn(session, { type: "ACK", version: frame.toVersion });
        if (awaiting !== undefined) {
          session.awaiting = undefined;
          this.subscriptionApplied(awaiting.seq);
        }
        this.versionReached();
        return;
      }
      case "WRITE_RESULT": {
        const w = this.writes.get(frame.requestId);
        if (w === undefined) return;
        this.writes.delete(frame.requestId);
        if (frame.committed) w.resolve({ version: frame.version, requestId: frame.requestId });
        else w.reject(new WriteError(frame.code, frame.message, frame.requestId));
        return;
      }
      case "OVERWRITTEN": {
        const t = this.layout.tables[frame.table];
        if (t === undefined) return this.protocolError(session, `OVERWRITTEN names an unknown table id ${frame.table}`);
        this.emit("overwritten", {
          requestId: frame.requestId,
          version: frame.version,
          table: t.name,
          key: frame.key,
          fieldMask: frame.fieldMask,
          fields: t.fieldsOf(frame.fieldMask).map((f) => f.name),
        });
        return;
      }
      case "CLOSE":
        return this.endSession(
          session,
          new ReplicaError(frame.code, `the server closed the connection: ${frame.reason}`),
          isFatalClose(frame.code),
        );
      default:
        return this.protocolError(session, `unexpected frame type 0x${FrameType[frame.type].toString(16)} (${frame.type}) from the server`);
    }
  }

  private versionReached(): void {
    if (this.versionWaiters.length === 0) return;
    const keep = [];
    for (const w of this.versionWaiters) {
      if (this.versionValue >= w.version) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else keep.push(w);
    }
    this.versionWaiters = keep;
  }

  private makeRow(t: TableLayout, key: bigint, owner: bigint | undefined, bytes: Uint8Array): Row {
    return t.many ? { key, owner: owner ?? 0n, values: t.decodeRow(bytes) } : { key, values: t.decodeRow(bytes) };
  }

  /** The difference between the local state and a full sync, applied as one change (docs/protocol.md). */
  private applySync(sync: SyncState): string | undefined {
    const plan: Plan = { created: [], destroyed: [], tables: [] };
    const serverAlive = new Map<number, number>();
    for (const k of sync.created) serverAlive.set(keyIndex(k), keyGeneration(k));
    for (const [index, generation] of this.alive) {
      if (serverAlive.get(index) !== generation) plan.destroyed.push((BigInt(generation) << 32n) | BigInt(index));
    }
    for (const k of sync.created) {
      if (this.alive.get(keyIndex(k)) !== keyGeneration(k)) plan.created.push(k);
    }
    for (const table of this.storedById) {
      if (table === undefined || table.layout.isEntityTable) continue;
      const theirs = sync.rows.get(table.layout.id);
      const index = new Map<bigint, number>();
      if (theirs !== undefined) theirs.keys.forEach((k, i) => index.set(k, i));
      const entry: Plan["tables"][number] = { table, deleted: [], inserted: [], updated: [] };
      const matched = new Set<number>();
      for (const [key, mine] of table.bytes) {
        const i = index.get(key);
        if (i === undefined) {
          entry.deleted.push(key);
          continue;
        }
        matched.add(i);
        const row = theirs!.rows[i]!;
        if (!bytesEqual(mine, row)) entry.updated.push({ key, bytes: row, mask: undefined });
      }
      if (theirs !== undefined) {
        for (let i = 0; i < theirs.keys.length; i++) {
          if (!matched.has(i)) entry.inserted.push({ key: theirs.keys[i]!, owner: table.layout.many ? theirs.owners[i] : undefined, bytes: theirs.rows[i]! });
        }
      }
      if (entry.deleted.length + entry.inserted.length + entry.updated.length > 0) plan.tables.push(entry);
    }
    const failure = this.check(plan);
    if (failure !== undefined) return failure;
    const from = this.versionValue;
    this.versionValue = sync.version;
    this.emitChange(this.apply(plan), "sync", from, sync.version, null);
    return undefined;
  }

  private applyDelta(body: DeltaBody, from: bigint, to: bigint, publishedAtNs: bigint): string | undefined {
    const plan: Plan = { created: [...body.created], destroyed: [...body.destroyed], tables: [] };
    for (const t of body.tables) {
      const table = this.storedById[t.table];
      if (table === undefined) return `unknown table id ${t.table}`;
      if (table.layout.isEntityTable) continue; // never has a section; nothing to hold
      plan.tables.push({
        table,
        deleted: [...t.deleted],
        inserted: t.inserted.map((key, i) => ({ key, owner: table.layout.many ? (t.owners?.[i] ?? 0n) : undefined, bytes: t.rows[i]!.slice() })),
        updated: t.updates.map((u) => ({ key: u.key, bytes: u.bytes.slice(), mask: u.mask })),
      });
    }
    const failure = this.check(plan);
    if (failure !== undefined) return failure;
    this.versionValue = to;
    this.emitChange(this.apply(plan), "delta", from, to, publishedAtNs);
    return undefined;
  }

  /** What in a plan cannot be applied to the local state (a loader's kCorruption), checked before any change. */
  private check(plan: Plan): string | undefined {
    const destroyedIndex = new Set<number>();
    for (const k of plan.destroyed) {
      if (this.alive.get(keyIndex(k)) !== keyGeneration(k)) return `destroy of entity ${formatKey(k)}, which is not alive`;
      if (destroyedIndex.has(keyIndex(k))) return `entity ${formatKey(k)} destroyed twice`;
      destroyedIndex.add(keyIndex(k));
    }
    const createdIndex = new Set<number>();
    for (const k of plan.created) {
      const i = keyIndex(k);
      if ((this.alive.has(i) && !destroyedIndex.has(i)) || createdIndex.has(i)) return `create of entity ${formatKey(k)}, whose index is alive`;
      if (keyGeneration(k) === 0) return `create of entity ${formatKey(k)}: generation 0`;
      createdIndex.add(i);
    }
    for (const t of plan.tables) {
      const name = t.table.layout.name;
      const deleted = new Set<bigint>();
      for (const k of t.deleted) {
        if (!t.table.bytes.has(k) || deleted.has(k)) return `delete of a row table '${name}' does not have (${formatKey(k)})`;
        deleted.add(k);
      }
      const inserted = new Set<bigint>();
      for (const r of t.inserted) {
        if ((t.table.bytes.has(r.key) && !deleted.has(r.key)) || inserted.has(r.key)) {
          return `insert of a row table '${name}' already has (${formatKey(r.key)})`;
        }
        if (r.bytes.length !== t.table.layout.stride) return `a row of ${r.bytes.length} bytes in table '${name}'`;
        inserted.add(r.key);
      }
      for (const u of t.updated) {
        if (!((t.table.bytes.has(u.key) && !deleted.has(u.key)) || inserted.has(u.key))) {
          return `update of a row table '${name}' does not have (${formatKey(u.key)})`;
        }
      }
    }
    return undefined;
  }

  /** Deleted rows, destroyed entities, created entities, inserted rows, updates: in that order. */
  private apply(plan: Plan): Omit<ChangeEvent, "kind" | "fromVersion" | "toVersion" | "publishedAtNs"> {
    const tables: { [name: string]: TableChange } = {};
    const changes = plan.tables.map((t) => ({ t, change: { inserted: [] as Row[], updated: [] as RowChange[], deleted: [] as Row[] } }));
    for (const { t, change } of changes) {
      for (const k of t.deleted) {
        const row = t.table.rows.get(k);
        if (row !== undefined) change.deleted.push(row);
        t.table.rows.delete(k);
        t.table.bytes.delete(k);
      }
    }
    for (const k of plan.destroyed) {
      this.alive.delete(keyIndex(k));
      this.aliveKeys.delete(k);
    }
    for (const k of plan.created) {
      this.alive.set(keyIndex(k), keyGeneration(k));
      this.aliveKeys.add(k);
    }
    for (const { t, change } of changes) {
      const layout = t.table.layout;
      for (const r of t.inserted) {
        const row = this.makeRow(layout, r.key, r.owner, r.bytes);
        t.table.rows.set(r.key, row);
        t.table.bytes.set(r.key, r.bytes);
        change.inserted.push(row);
      }
    }
    for (const { t, change } of changes) {
      const layout = t.table.layout;
      for (const u of t.updated) {
        const previous = t.table.rows.get(u.key)!;
        const before = t.table.bytes.get(u.key)!;
        let after: Uint8Array;
        let fields;
        if (u.mask === undefined) {
          // A whole row from a full sync: the fields whose bytes differ.
          after = u.bytes;
          fields = layout.rowOrder.filter((f) => !bytesEqual(before.subarray(f.offset, f.offset + f.size), after.subarray(f.offset, f.offset + f.size)));
        } else {
          after = layout.applyMasked(before, u.mask, u.bytes);
          fields = layout.fieldsOf(u.mask);
        }
        const changed: { [name: string]: RowValues[string] } = {};
        const values: { [name: string]: RowValues[string] } = { ...previous.values };
        for (const f of fields) {
          const v = layout.decodeField(after, f.name);
          changed[f.name] = v;
          values[f.name] = v;
        }
        const row: Row = layout.many ? { key: u.key, owner: previous.owner ?? 0n, values } : { key: u.key, values };
        t.table.rows.set(u.key, row);
        t.table.bytes.set(u.key, after);
        change.updated.push({ key: u.key, changed, row, previous });
      }
    }
    for (const { t, change } of changes) {
      if (change.inserted.length + change.updated.length + change.deleted.length > 0) tables[t.table.layout.name] = change;
    }
    return { created: plan.created, destroyed: plan.destroyed, tables };
  }

  private emitChange(
    body: Omit<ChangeEvent, "kind" | "fromVersion" | "toVersion" | "publishedAtNs">,
    kind: "delta" | "sync",
    fromVersion: bigint,
    toVersion: bigint,
    publishedAtNs: bigint | null,
  ): void {
    this.emit("change", { kind, fromVersion, toVersion, publishedAtNs, ...body });
  }

  /** A snapshot of the state as plain data (for tests and tools): entities and every table's rows. */
  snapshot(): { version: bigint; entities: bigint[]; tables: Record<string, Row[]> } {
    const tables: Record<string, Row[]> = {};
    for (const [name, t] of this.stored) if (t.rows.size > 0) tables[name] = [...t.rows.values()];
    return { version: this.versionValue, entities: [...this.aliveKeys], tables };
  }

  /** The codec schema (table layouts) frames are decoded with. */
  get codecSchema(): CodecSchema {
    return this.layout;
  }
}

async function fetchSchema(url: string, token: string, fetchImpl: typeof fetch | undefined, timeoutMs: number): Promise<SchemaJson> {
  const f = fetchImpl ?? globalThis.fetch;
  if (f === undefined) throw new ReplicaError(StatusCode.InvalidArgument, "no fetch here: pass options.fetch or options.schema");
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token !== "") headers["Authorization"] = `Bearer ${token}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let res: Response;
  try {
    res = await f(url, { headers, signal: abort.signal });
  } catch (e) {
    throw new ReplicaError(StatusCode.Unavailable, `GET ${url}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok) {
    let detail = "";
    try {
      const body = (await res.json()) as { error?: { message?: string } };
      detail = body.error?.message ?? "";
    } catch {
      // Not the API's error shape.
    }
    const code =
      res.status === 401 || res.status === 403
        ? StatusCode.PermissionDenied
        : res.status === 404
          ? StatusCode.NotFound
          : res.status === 503
            ? StatusCode.Unavailable
            : StatusCode.Internal;
    throw new ReplicaError(code, `GET ${url}: ${res.status}${detail === "" ? "" : ` ${detail}`}`);
  }
  return (await res.json()) as SchemaJson;
}
