// The ECSDb replication protocol, version 1: every frame of docs/protocol.md, encoded and decoded byte for
// byte as src/replication/protocol.cpp does. Decoders check every length and count before they read and
// throw a ProtocolError naming the frame and what is wrong ("malformed DELTA frame: 3 bytes after the end").
//
// 64-bit values (versions, keys, epochs, hashes, request ids, field masks) are bigint; counts, table ids and
// sizes are numbers. A key is an entity id, or the RowId of a row of a `many` table: generation << 32 | index.

/** The protocol version this codec speaks. */
export const PROTOCOL_VERSION = 1;
/** HELLO's magic: the bytes 45 43 53 52 ("ECSR") read as a little-endian u32. */
export const MAGIC = 0x52534345;
/** HELLO flags bit 0: receive a version only once it is durable on the server. */
export const HELLO_DURABLE_ONLY = 1;
/** The WebSocket subprotocol of the replication endpoint (`/api/replication`). */
export const WEBSOCKET_SUBPROTOCOL = "ecsdb-repl";

export const FrameType = {
  HELLO: 0x01,
  ACK: 0x02,
  SUBSCRIBE: 0x03,
  WRITE: 0x04,
  WELCOME: 0x81,
  SYNC_BEGIN: 0x82,
  SYNC_CHUNK: 0x83,
  SYNC_END: 0x84,
  DELTA: 0x85,
  WRITE_RESULT: 0x86,
  OVERWRITTEN: 0x87,
  CLOSE: 0x8f,
} as const;
export type FrameTypeName = keyof typeof FrameType;

const FRAME_NAMES = new Map<number, FrameTypeName>(
  (Object.entries(FrameType) as [FrameTypeName, number][]).map(([name, code]) => [code, name]),
);

/** "DELTA" for 0x85; "unknown" for a byte that names no frame type. */
export function frameTypeName(type: number): FrameTypeName | "unknown" {
  return FRAME_NAMES.get(type) ?? "unknown";
}

/** StatusCode (include/ecsdb/status.hpp) as numbers, in WRITE_RESULT and CLOSE. */
export const StatusCode = {
  Ok: 0,
  InvalidArgument: 1,
  NotFound: 2,
  StaleEntity: 3,
  AlreadyExists: 4,
  ConstraintViolation: 5,
  Conflict: 6,
  SchemaError: 7,
  BindingMismatch: 8,
  IoError: 9,
  Corruption: 10,
  Aborted: 11,
  Internal: 12,
  ResourceExhausted: 13,
  Unavailable: 14,
  PermissionDenied: 15,
  FailedPrecondition: 16,
  DeadlineExceeded: 17,
} as const;
export type StatusCodeName = keyof typeof StatusCode;

const STATUS_NAMES = new Map<number, StatusCodeName>(
  (Object.entries(StatusCode) as [StatusCodeName, number][]).map(([name, code]) => [code, name]),
);

/** "PermissionDenied" for 15; "code N" for a number the enum does not have (yet). */
export function statusCodeName(code: number): string {
  return STATUS_NAMES.get(code) ?? `code ${code}`;
}

/** The decoders' caps (docs/protocol.md, "Encodings" and "Limits"). */
export const Limits = {
  maxTokenBytes: 4096,
  maxTableNameBytes: 256,
  maxMessageBytes: 65536,
  maxSchemaTextBytes: 64 * 1024 * 1024,
  maxNames: 1024,
  /** Filters in one HELLO or SUBSCRIBE (docs/protocol.md, "Filters"). */
  maxFilters: 64,
  /** A filter's table, field or custom-filter name, and a string value (the server's decoder cap). */
  maxFilterNameBytes: 256,
  /** The server's limit for client frames (ReplicationOptions::max_client_frame_bytes). */
  maxClientFrameBytes: 1024 * 1024,
  /** The replica's default limit for server frames (ReplicaOptions::max_frame_bytes). */
  maxServerFrameBytes: 256 * 1024 * 1024,
} as const;

/** A malformed frame or body: what is wrong, and in which frame. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

// ---- what the codec needs to know of the schema ----

/** A stored field: its id (bit of a field mask) and its size in the row. */
export interface CodecField {
  readonly id: number;
  readonly size: number;
}

/** A table as the codec sees it; `SchemaLayout` (layout.ts) provides these from GET /api/schema. */
export interface CodecTable {
  readonly id: number;
  readonly name: string;
  /** cardinality `many`: inserted rows carry their owners. */
  readonly many: boolean;
  readonly stride: number;
  /** The stored fields in row order (by offset): the order of masked bytes. */
  readonly rowOrder: readonly CodecField[];
}

export interface CodecSchema {
  /** Indexed by table id. */
  readonly tables: readonly CodecTable[];
}

/** Bit `id` of a field mask; bit 63 stands for every field with id 63 or more. */
export function fieldBit(id: number): bigint {
  return 1n << BigInt(id < 63 ? id : 63);
}

const storedMasks = new WeakMap<CodecTable, bigint>();

/** The mask of every field a table stores: a mask naming any other bit is refused. */
export function storedFieldsMask(table: CodecTable): bigint {
  let m = storedMasks.get(table);
  if (m === undefined) {
    m = 0n;
    for (const f of table.rowOrder) m |= fieldBit(f.id);
    storedMasks.set(table, m);
  }
  return m;
}

/** The length of the masked bytes of `mask`: the sizes of the stored fields it names. */
export function maskedSize(table: CodecTable, mask: bigint): number {
  let n = 0;
  for (const f of table.rowOrder) if ((mask & fieldBit(f.id)) !== 0n) n += f.size;
  return n;
}

// ---- keys ----

const U32 = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

/** generation << 32 | index. */
export function makeKey(index: number, generation: number): bigint {
  if (!Number.isInteger(index) || index < 0 || index > U32) throw new RangeError(`index ${index} is outside 0..2^32-1`);
  if (!Number.isInteger(generation) || generation < 0 || generation > U32) {
    throw new RangeError(`generation ${generation} is outside 0..2^32-1`);
  }
  return (BigInt(generation) << 32n) | BigInt(index);
}

export function keyIndex(key: bigint): number {
  return Number(key & 0xffffffffn);
}

export function keyGeneration(key: bigint): number {
  return Number((key >> 32n) & 0xffffffffn);
}

/** "index:generation", as the HTTP API writes ids. */
export function formatKey(key: bigint): string {
  return `${keyIndex(key)}:${keyGeneration(key)}`;
}

/** A key from "index:generation", a bigint (taken as is), or a non-negative safe integer. */
export function parseKey(id: string | bigint | number): bigint {
  if (typeof id === "bigint") {
    if (id < 0n || id > U64_MAX) throw new RangeError(`key ${id} is not a u64`);
    return id;
  }
  if (typeof id === "number") {
    if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`key ${id} is not a non-negative safe integer`);
    return BigInt(id);
  }
  const m = /^(\d{1,10}):(\d{1,10})$/.exec(id);
  if (m === null) throw new RangeError(`'${id}' is not an id ("index:generation", e.g. "12:1")`);
  return makeKey(Number(m[1]), Number(m[2]));
}

// ---- bytes ----

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

/** A growable little-endian byte buffer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${v} is not a u16`);
    this.reserve(2);
    this.view.setUint16(this.len, v, true);
    this.len += 2;
    return this;
  }

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > U32) throw new RangeError(`${v} is not a u32`);
    this.reserve(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
    return this;
  }

  u64(v: bigint | number): this {
    const b = typeof v === "bigint" ? v : BigInt(v);
    if (b < 0n || b > U64_MAX) throw new RangeError(`${v} is not a u64`);
    this.reserve(8);
    this.view.setBigUint64(this.len, b, true);
    this.len += 8;
    return this;
  }

  i64(v: bigint): this {
    if (v < -(1n << 63n) || v >= 1n << 63n) throw new RangeError(`${v} is not an i64`);
    this.reserve(8);
    this.view.setBigInt64(this.len, v, true);
    this.len += 8;
    return this;
  }

  f64(v: number): this {
    this.reserve(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
    return this;
  }

  /** Unsigned LEB128. */
  varint(v: bigint | number): this {
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${v} is not a varint (a non-negative safe integer)`);
      this.reserve(8);
      while (v >= 0x80) {
        this.buf[this.len++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.len++] = v;
      return this;
    }
    if (v < 0n || v > U64_MAX) throw new RangeError(`${v} is not a u64 varint`);
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  string(s: string): this {
    const b = utf8Encoder.encode(s);
    return this.varint(b.length).bytes(b);
  }

  names(names: readonly string[]): this {
    this.varint(names.length);
    for (const n of names) this.string(n);
    return this;
  }

  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v, true);
  }

  /** A copy of the bytes written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Reads a frame's payload; every failure is a ProtocolError "malformed FRAME frame: ...". */
export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    readonly frame: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get offset(): number {
    return this.pos;
  }

  fail(what: string): never {
    throw new ProtocolError(`malformed ${this.frame} frame: ${what}`);
  }

  private need(n: number, what: string): void {
    if (n > this.remaining) this.fail(`truncated ${what} (needs ${n} bytes, ${this.remaining} left)`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  i64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  bool(what: string): boolean {
    return this.u8(what) !== 0;
  }

  /** An unsigned LEB128 of up to 64 bits (10 bytes, the tenth 0 or 1). */
  varintBig(what: string): bigint {
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail(`truncated ${what} (a varint)`);
      const b = this.buf[this.pos++]!;
      if (i === 9 && b > 1) this.fail(`${what}: a varint with bits past 64`);
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return v;
    }
    return this.fail(`${what}: a varint longer than 10 bytes`);
  }

  /** A varint read as a number, refused when above `max`. */
  varint(what: string, max = Number.MAX_SAFE_INTEGER): number {
    const start = this.pos;
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.buf.length) this.fail(`truncated ${what} (a varint)`);
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (v > max) this.fail(`${what} ${v} is above ${max}`);
        return v;
      }
      mul *= 0x80;
    }
    // Longer than 49 bits: the exact value, then the limit.
    this.pos = start;
    const big = this.varintBig(what);
    if (big > BigInt(max)) this.fail(`${what} ${big} is above ${max}`);
    return Number(big);
  }

  /** A counted list's count, refused before anything is allocated when its items cannot fit. */
  count(what: string, minItemBytes: number, max = Number.MAX_SAFE_INTEGER): number {
    const n = this.varint(`${what} count`, max);
    if (minItemBytes > 0 && n > Math.floor(this.remaining / minItemBytes)) {
      this.fail(`${what}: count ${n} cannot fit in the ${this.remaining} bytes left`);
    }
    return n;
  }

  /** A view of the next n bytes (no copy). */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  string(what: string, maxBytes: number): string {
    const n = this.varint(`${what} length`);
    if (n > maxBytes) this.fail(`${what} of ${n} bytes is longer than ${maxBytes}`);
    return utf8Decoder.decode(this.bytes(n, what));
  }

  names(what: string): string[] {
    const n = this.count(what, 1, Limits.maxNames);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.string(`${what} name`, Limits.maxTableNameBytes));
    return out;
  }

  /** Every decoder consumes its payload exactly. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} bytes after the end`);
  }
}

// ---- key lists ----

/** Writes one key list's keys: the zigzag index difference from the previous key, then the generation. */
export class KeyWriter {
  private previous = 0;
  constructor(private readonly w: ByteWriter) {}

  key(key: bigint): void {
    if (key < 0n || key > U64_MAX) throw new RangeError(`key ${key} is not a u64`);
    const index = keyIndex(key);
    const diff = index - this.previous;
    this.previous = index;
    this.w.varint(diff >= 0 ? diff * 2 : -diff * 2 - 1);
    this.w.varint(keyGeneration(key));
  }
}

export class KeyReader {
  private previous = 0;
  constructor(
    private readonly r: ByteReader,
    private readonly what: string,
  ) {}

  key(): bigint {
    // |index difference| < 2^32, so its zigzag is below 2^33.
    const z = this.r.varint(`${this.what}: key index difference`, 2 ** 34);
    const diff = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    const index = this.previous + diff;
    const generation = this.r.varint(`${this.what}: key generation`, 2 ** 53);
    if (index < 0 || index > U32) this.r.fail(`${this.what}: key index ${index} is outside 0..2^32-1`);
    if (generation > U32) this.r.fail(`${this.what}: key generation ${generation} is above 2^32-1`);
    this.previous = index;
    return (BigInt(generation) << 32n) | BigInt(index);
  }
}

/** A counted key list: `varint count`, then the keys. */
export function writeKeyList(w: ByteWriter, keys: readonly bigint[]): void {
  w.varint(keys.length);
  const k = new KeyWriter(w);
  for (const key of keys) k.key(key);
}

export function readKeyList(r: ByteReader, what: string): bigint[] {
  const n = r.count(what, 2);
  const k = new KeyReader(r, what);
  const keys = new Array<bigint>(n);
  for (let i = 0; i < n; i++) keys[i] = k.key();
  return keys;
}

// ---- the delta body ----

export interface RowUpdate {
  readonly key: bigint;
  readonly mask: bigint;
  /** The masked bytes: the named fields' bytes in row order. */
  readonly bytes: Uint8Array;
}

export interface TableDelta {
  readonly table: number;
  /** Entities for `one` tables, RowIds for `many` tables. */
  readonly inserted: readonly bigint[];
  /** `many` tables only (null otherwise): the owning entity of each inserted row (0 for root tables). */
  readonly owners: readonly bigint[] | null;
  /** Whole rows (stride bytes each), in the order of `inserted`. */
  readonly rows: readonly Uint8Array[];
  readonly updates: readonly RowUpdate[];
  readonly deleted: readonly bigint[];
}

export interface DeltaBody {
  readonly created: readonly bigint[];
  readonly destroyed: readonly bigint[];
  /** Ascending table ids, no table twice. */
  readonly tables: readonly TableDelta[];
}

function tableOf(schema: CodecSchema, id: number): CodecTable {
  const t = schema.tables[id];
  if (t === undefined) throw new RangeError(`unknown table id ${id}`);
  return t;
}

export function writeBody(w: ByteWriter, body: DeltaBody, schema: CodecSchema): void {
  writeKeyList(w, body.created);
  writeKeyList(w, body.destroyed);
  w.varint(body.tables.length);
  let previous = -1;
  for (const t of body.tables) {
    const table = tableOf(schema, t.table);
    if (t.table <= previous) throw new RangeError(`table ids must ascend (table id ${t.table} after ${previous})`);
    previous = t.table;
    w.varint(t.table);
    writeKeyList(w, t.inserted);
    if (t.rows.length !== t.inserted.length) {
      throw new RangeError(`table '${table.name}': ${t.rows.length} rows for ${t.inserted.length} inserted keys`);
    }
    if (table.many) {
      if (t.owners !== null && t.owners.length !== t.inserted.length) {
        throw new RangeError(`table '${table.name}': ${t.owners.length} owners for ${t.inserted.length} inserted keys`);
      }
      const owners = new KeyWriter(w);
      for (let i = 0; i < t.inserted.length; i++) owners.key(t.owners?.[i] ?? 0n);
    }
    for (const row of t.rows) {
      if (row.length !== table.stride) {
        throw new RangeError(`table '${table.name}': a row of ${row.length} bytes, not the stride ${table.stride}`);
      }
      w.bytes(row);
    }
    w.varint(t.updates.length);
    const keys = new KeyWriter(w);
    const valid = storedFieldsMask(table);
    for (const u of t.updates) {
      if ((u.mask & ~valid) !== 0n) throw new RangeError(`table '${table.name}': mask ${u.mask} names fields it does not store`);
      const size = maskedSize(table, u.mask);
      if (u.bytes.length !== size) {
        throw new RangeError(`table '${table.name}': ${u.bytes.length} update bytes for mask ${u.mask}, not ${size}`);
      }
      keys.key(u.key);
      w.varint(u.mask);
      w.bytes(u.bytes);
    }
    writeKeyList(w, t.deleted);
  }
}

export function readBody(r: ByteReader, schema: CodecSchema): DeltaBody {
  const created = readKeyList(r, "created entities");
  const destroyed = readKeyList(r, "destroyed entities");
  const count = r.varint("table count");
  if (count > schema.tables.length) r.fail(`table count ${count} is above the schema's ${schema.tables.length} tables`);
  const tables: TableDelta[] = [];
  let previous = -1;
  for (let s = 0; s < count; s++) {
    const id = r.varint("table id");
    const table = schema.tables[id];
    if (table === undefined) r.fail(`unknown table id ${id}`);
    if (id <= previous) r.fail(`table ids must ascend (table id ${id} after ${previous})`);
    previous = id;
    const name = `table '${table.name}'`;
    const inserted = readKeyList(r, `inserted keys of ${name}`);
    const n = inserted.length;
    let owners: bigint[] | null = null;
    if (table.many) {
      if (n > Math.floor(r.remaining / 2)) r.fail(`truncated owners of ${name}`);
      const k = new KeyReader(r, `owners of ${name}`);
      owners = new Array<bigint>(n);
      for (let i = 0; i < n; i++) owners[i] = k.key();
    }
    if (table.stride > 0 && n > Math.floor(r.remaining / table.stride)) r.fail(`truncated inserted rows of ${name}`);
    const rows = new Array<Uint8Array>(n);
    for (let i = 0; i < n; i++) rows[i] = r.bytes(table.stride, `inserted rows of ${name}`);
    const updateCount = r.count(`updates of ${name}`, 3);
    const valid = storedFieldsMask(table);
    const updates = new Array<RowUpdate>(updateCount);
    const keys = new KeyReader(r, `updates of ${name}`);
    for (let i = 0; i < updateCount; i++) {
      const key = keys.key();
      const mask = r.varintBig(`field mask of an update of ${name}`);
      if ((mask & ~valid) !== 0n) r.fail(`update of ${name} names fields it does not have (mask ${mask})`);
      updates[i] = { key, mask, bytes: r.bytes(maskedSize(table, mask), `update bytes of ${name}`) };
    }
    const deleted = readKeyList(r, `deleted keys of ${name}`);
    tables.push({ table: id, inserted, owners, rows, updates, deleted });
  }
  return { created, destroyed, tables };
}

/** A delta body on its own (what DELTA and SYNC_CHUNK carry), consumed exactly. */
export function encodeDeltaBody(body: DeltaBody, schema: CodecSchema): Uint8Array {
  const w = new ByteWriter();
  writeBody(w, body, schema);
  return w.finish();
}

export function decodeDeltaBody(bytes: Uint8Array, schema: CodecSchema): DeltaBody {
  const r = new ByteReader(bytes, "delta");
  const body = readBody(r, schema);
  r.end();
  return body;
}

// ---- subscription filters ----

/** Filter kinds and their wire codes (docs/protocol.md, "Filters"). */
export const FilterKind = { entities: 1, field: 2, custom: 3 } as const;
export type FilterKindName = keyof typeof FilterKind;

/** The comparisons of a field filter and their wire codes. */
export const FilterOp = { "==": 1, "!=": 2, "<": 3, "<=": 4, ">": 5, ">=": 6 } as const;
export type FilterOpName = keyof typeof FilterOp;

/** The kinds of a field filter's value and their wire codes. */
export const FilterValueKind = { bool: 1, int: 2, uint: 3, float: 4, string: 5, entity: 6 } as const;
export type FilterValueKindName = keyof typeof FilterValueKind;

/**
 * A field filter's value as the wire carries it: bool, int (i64), uint (u64), float (f64), string (a
 * str<N> field's value, or an enum's variant name) or entity (an entity id).
 */
export type FilterValue =
  | { readonly kind: "bool"; readonly value: boolean }
  | { readonly kind: "int"; readonly value: bigint }
  | { readonly kind: "uint"; readonly value: bigint }
  | { readonly kind: "float"; readonly value: number }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "entity"; readonly value: bigint };

/**
 * One filter of HELLO or SUBSCRIBE, as the wire carries it. `table` "" means every subscribed table (entity
 * sets and custom filters only: the server refuses a field comparison without a table).
 */
export type WireFilter =
  | { readonly kind: "entities"; readonly table: string; readonly entities: readonly bigint[] }
  | { readonly kind: "field"; readonly table: string; readonly field: string; readonly op: FilterOpName; readonly value: FilterValue }
  | { readonly kind: "custom"; readonly table: string; readonly name: string; readonly params: Uint8Array };

const FILTER_OP_NAMES = new Map<number, FilterOpName>((Object.entries(FilterOp) as [FilterOpName, number][]).map(([n, c]) => [c, n]));
const FILTER_VALUE_KIND_NAMES = new Map<number, FilterValueKindName>(
  (Object.entries(FilterValueKind) as [FilterValueKindName, number][]).map(([n, c]) => [c, n]),
);

/** The optional filter section: nothing at all when there are no filters (so older frames keep their bytes). */
function writeFilters(w: ByteWriter, filters: readonly WireFilter[] | undefined): void {
  if (filters === undefined || filters.length === 0) return;
  if (filters.length > Limits.maxFilters) throw new RangeError(`${filters.length} filters is more than ${Limits.maxFilters}`);
  w.varint(filters.length);
  filters.forEach((f, i) => {
    const at = `filter ${i}`;
    const code = (FilterKind as Record<string, number>)[f.kind];
    if (code === undefined) throw new RangeError(`${at}: unknown kind '${String(f.kind)}'`);
    checkString(f.table, Limits.maxFilterNameBytes, `${at}: the table name`);
    w.u8(code).string(f.table);
    switch (f.kind) {
      case "entities":
        w.varint(f.entities.length);
        for (const e of f.entities) {
          if (typeof e !== "bigint" || e < 0n || e > U64_MAX) throw new RangeError(`${at}: entity ${String(e)} is not a u64`);
          w.u64(e);
        }
        return;
      case "field": {
        checkString(f.field, Limits.maxFilterNameBytes, `${at}: the field name`);
        const op = (FilterOp as Record<string, number>)[f.op];
        if (op === undefined) throw new RangeError(`${at}: unknown comparison '${String(f.op)}'`);
        const v = f.value;
        const kind = (FilterValueKind as Record<string, number>)[v.kind];
        if (kind === undefined) throw new RangeError(`${at}: unknown value kind '${String(v.kind)}'`);
        w.string(f.field).u8(op).u8(kind);
        switch (v.kind) {
          case "bool":
            if (typeof v.value !== "boolean") throw new RangeError(`${at}: a bool value must be a boolean`);
            w.u64(v.value ? 1n : 0n);
            return;
          case "int":
            if (typeof v.value !== "bigint" || v.value < -(1n << 63n) || v.value >= 1n << 63n) throw new RangeError(`${at}: ${String(v.value)} is not an i64 (a bigint)`);
            w.i64(v.value);
            return;
          case "uint":
          case "entity":
            if (typeof v.value !== "bigint" || v.value < 0n || v.value > U64_MAX) throw new RangeError(`${at}: ${String(v.value)} is not a u64 (a bigint)`);
            w.u64(v.value);
            return;
          case "float":
            if (typeof v.value !== "number") throw new RangeError(`${at}: a float value must be a number`);
            w.f64(v.value);
            return;
          case "string":
            checkString(v.value, Limits.maxFilterNameBytes, `${at}: the string value`);
            w.string(v.value);
            return;
        }
        return;
      }
      case "custom":
        checkString(f.name, Limits.maxFilterNameBytes, `${at}: the filter name`);
        w.string(f.name).varint(f.params.length).bytes(f.params);
        return;
    }
  });
}

/** The optional filter section: undefined when absent (no bytes left) or empty (a count of 0). */
function readFilters(r: ByteReader): WireFilter[] | undefined {
  if (r.remaining === 0) return undefined;
  const n = r.varint("filter count");
  if (n > Limits.maxFilters) r.fail(`${n} filters (at most ${Limits.maxFilters})`);
  const out: WireFilter[] = [];
  for (let i = 0; i < n; i++) {
    const at = `filter ${i}`;
    const kind = r.u8(`${at}: kind`);
    const table = r.string(`${at}: table`, Limits.maxFilterNameBytes);
    switch (kind) {
      case FilterKind.entities: {
        const count = r.count(`${at}: entities`, 8);
        const entities: bigint[] = [];
        for (let k = 0; k < count; k++) entities.push(r.u64(`${at}: entity`));
        out.push({ kind: "entities", table, entities });
        break;
      }
      case FilterKind.field: {
        const field = r.string(`${at}: field`, Limits.maxFilterNameBytes);
        const opCode = r.u8(`${at}: comparison`);
        const op = FILTER_OP_NAMES.get(opCode);
        if (op === undefined) r.fail(`${at}: unknown comparison ${opCode}`);
        const valueCode = r.u8(`${at}: value kind`);
        const valueKind = FILTER_VALUE_KIND_NAMES.get(valueCode);
        let value: FilterValue;
        switch (valueKind) {
          case "bool":
            value = { kind: "bool", value: r.u64(`${at}: value`) !== 0n };
            break;
          case "int":
            value = { kind: "int", value: r.i64(`${at}: value`) };
            break;
          case "uint":
            value = { kind: "uint", value: r.u64(`${at}: value`) };
            break;
          case "float":
            value = { kind: "float", value: r.f64(`${at}: value`) };
            break;
          case "entity":
            value = { kind: "entity", value: r.u64(`${at}: value`) };
            break;
          case "string":
            value = { kind: "string", value: r.string(`${at}: value`, Limits.maxFilterNameBytes) };
            break;
          default:
            return r.fail(`${at}: a value of kind ${valueCode} (numbers, bools, entities and strings only)`);
        }
        out.push({ kind: "field", table, field, op, value });
        break;
      }
      case FilterKind.custom: {
        const name = r.string(`${at}: name`, Limits.maxFilterNameBytes);
        const length = r.varint(`${at}: parameters length`);
        out.push({ kind: "custom", table, name, params: r.bytes(length, `${at}: parameters`).slice() });
        break;
      }
      default:
        r.fail(`${at}: unknown kind ${kind}`);
    }
  }
  return out.length === 0 ? undefined : out;
}

// ---- frames ----

export interface HelloFrame {
  readonly type: "HELLO";
  readonly protocol: number;
  /** Bit 0: durable only (HELLO_DURABLE_ONLY). */
  readonly flags: number;
  /** 0n: "send me your schema, I take it as it is". */
  readonly layoutHash: bigint;
  readonly lastVersion: bigint;
  readonly epoch: bigint;
  readonly token: string;
  readonly tables: readonly string[];
  /** The optional filter section; absent (or empty): no filters, and no section on the wire. */
  readonly filters?: readonly WireFilter[];
}

export interface AckFrame {
  readonly type: "ACK";
  readonly version: bigint;
}

export interface SubscribeFrame {
  readonly type: "SUBSCRIBE";
  readonly tables: readonly string[];
  /** The new filters; absent (or empty): none, and no section on the wire. */
  readonly filters?: readonly WireFilter[];
}

export const WriteOpKind = { put: 1, update: 2, remove: 3, destroy: 4, insert: 5 } as const;
export type WriteOpKindName = keyof typeof WriteOpKind;

export interface WireWriteOp {
  /** 1 put, 2 update, 3 remove, 4 destroy, 5 insert. */
  readonly kind: number;
  /** Ignored (not written) for destroy. */
  readonly table: number;
  /** The row's key (put, update, remove), the entity (destroy) or the owning entity (insert). */
  readonly key: bigint;
  /** Update only. */
  readonly fieldMask: bigint;
  /** put, insert: a whole row; update: the masked bytes; remove, destroy: empty. */
  readonly bytes: Uint8Array;
}

export interface WriteFrame {
  readonly type: "WRITE";
  readonly requestId: bigint;
  readonly baseVersion: bigint;
  readonly ops: readonly WireWriteOp[];
}

export interface WelcomeFrame {
  readonly type: "WELCOME";
  readonly protocol: number;
  readonly layoutHash: bigint;
  readonly serverVersion: bigint;
  readonly durableVersion: bigint;
  readonly epoch: bigint;
  readonly resume: boolean;
  readonly schemaText: string;
  readonly tables: readonly string[];
}

export interface SyncBeginFrame {
  readonly type: "SYNC_BEGIN";
  readonly version: bigint;
  readonly reset: boolean;
  readonly tables: readonly string[];
}

export interface SyncChunkFrame {
  readonly type: "SYNC_CHUNK";
  readonly body: DeltaBody;
}

export interface SyncEndFrame {
  readonly type: "SYNC_END";
  readonly version: bigint;
}

export interface DeltaFrame {
  readonly type: "DELTA";
  readonly fromVersion: bigint;
  readonly toVersion: bigint;
  readonly publishedAtNs: bigint;
  readonly body: DeltaBody;
}

export interface WriteResultFrame {
  readonly type: "WRITE_RESULT";
  readonly requestId: bigint;
  readonly committed: boolean;
  readonly version: bigint;
  readonly code: number;
  readonly message: string;
}

export interface OverwrittenFrame {
  readonly type: "OVERWRITTEN";
  readonly requestId: bigint;
  readonly version: bigint;
  /** A u16 here, unlike the varint table ids of the delta body. */
  readonly table: number;
  readonly key: bigint;
  readonly fieldMask: bigint;
}

export interface CloseFrame {
  readonly type: "CLOSE";
  readonly code: number;
  readonly reason: string;
}

export type ClientFrame = HelloFrame | AckFrame | SubscribeFrame | WriteFrame;
export type ServerFrame =
  | WelcomeFrame
  | SyncBeginFrame
  | SyncChunkFrame
  | SyncEndFrame
  | DeltaFrame
  | WriteResultFrame
  | OverwrittenFrame
  | CloseFrame;
export type Frame = ClientFrame | ServerFrame;

function needSchema(schema: CodecSchema | undefined, frame: string): CodecSchema {
  if (schema === undefined) throw new Error(`${frame} frames need the schema's table layouts to be encoded or decoded`);
  return schema;
}

function checkString(s: string, maxBytes: number, what: string): void {
  const n = utf8Encoder.encode(s).length;
  if (n > maxBytes) throw new RangeError(`${what} of ${n} bytes is longer than ${maxBytes}`);
}

function checkNames(names: readonly string[], what: string): void {
  if (names.length > Limits.maxNames) throw new RangeError(`${names.length} ${what} is more than ${Limits.maxNames}`);
  for (const n of names) checkString(n, Limits.maxTableNameBytes, "a table name");
}

function writePayload(w: ByteWriter, f: Frame, schema: CodecSchema | undefined): void {
  switch (f.type) {
    case "HELLO":
      checkString(f.token, Limits.maxTokenBytes, "the token");
      checkNames(f.tables, "tables");
      w.u32(MAGIC).u16(f.protocol).u16(f.flags).u64(f.layoutHash).u64(f.lastVersion).u64(f.epoch);
      w.string(f.token).names(f.tables);
      writeFilters(w, f.filters);
      return;
    case "ACK":
      w.u64(f.version);
      return;
    case "SUBSCRIBE":
      checkNames(f.tables, "tables");
      w.names(f.tables);
      writeFilters(w, f.filters);
      return;
    case "WRITE": {
      const s = needSchema(schema, "WRITE");
      w.u64(f.requestId).u64(f.baseVersion).varint(f.ops.length);
      f.ops.forEach((op, i) => {
        if (!Number.isInteger(op.kind) || op.kind < 1 || op.kind > 5) throw new RangeError(`operation ${i}: unknown kind ${op.kind}`);
        w.u8(op.kind);
        const table = op.kind === WriteOpKind.destroy ? undefined : tableOf(s, op.table);
        if (table !== undefined) w.varint(op.table);
        w.u64(op.key);
        let size = 0;
        if (op.kind === WriteOpKind.update) {
          const t = table!;
          if ((op.fieldMask & ~storedFieldsMask(t)) !== 0n) {
            throw new RangeError(`operation ${i}: table '${t.name}' has no field for mask ${op.fieldMask}`);
          }
          w.varint(op.fieldMask);
          size = maskedSize(t, op.fieldMask);
        } else if (op.kind === WriteOpKind.put || op.kind === WriteOpKind.insert) {
          size = table!.stride;
        }
        if (op.bytes.length !== size) throw new RangeError(`operation ${i}: ${op.bytes.length} bytes, not ${size}`);
        w.bytes(op.bytes);
      });
      return;
    }
    case "WELCOME":
      checkString(f.schemaText, Limits.maxSchemaTextBytes, "the schema text");
      checkNames(f.tables, "tables");
      w.u16(f.protocol).u64(f.layoutHash).u64(f.serverVersion).u64(f.durableVersion).u64(f.epoch);
      w.u8(f.resume ? 1 : 0).string(f.schemaText).names(f.tables);
      return;
    case "SYNC_BEGIN":
      checkNames(f.tables, "tables");
      w.u64(f.version).u8(f.reset ? 1 : 0).names(f.tables);
      return;
    case "SYNC_CHUNK":
      writeBody(w, f.body, needSchema(schema, "SYNC_CHUNK"));
      return;
    case "SYNC_END":
      w.u64(f.version);
      return;
    case "DELTA":
      // to = from: a subscription change at the client's version (docs/protocol.md, DELTA).
      if (f.toVersion < f.fromVersion) throw new RangeError(`to_version ${f.toVersion} is before from_version ${f.fromVersion}`);
      w.u64(f.fromVersion).u64(f.toVersion).u64(f.publishedAtNs);
      writeBody(w, f.body, needSchema(schema, "DELTA"));
      return;
    case "WRITE_RESULT":
      checkString(f.message, Limits.maxMessageBytes, "the message");
      w.u64(f.requestId).u8(f.committed ? 1 : 0).u64(f.version).u16(f.code).string(f.message);
      return;
    case "OVERWRITTEN":
      w.u64(f.requestId).u64(f.version).u16(f.table).u64(f.key).u64(f.fieldMask);
      return;
    case "CLOSE":
      checkString(f.reason, Limits.maxMessageBytes, "the reason");
      w.u16(f.code).string(f.reason);
      return;
  }
}

/**
 * One frame, header included: u32 length (of the type byte and the payload), u8 type, payload. Frames that
 * carry rows (WRITE, SYNC_CHUNK, DELTA) need the schema.
 */
export function encodeFrame(frame: Frame, schema?: CodecSchema): Uint8Array {
  const w = new ByteWriter();
  w.u32(0).u8(FrameType[frame.type]);
  writePayload(w, frame, schema);
  w.patchU32(0, w.length - 4);
  return w.finish();
}

function readPayload(type: number, r: ByteReader, schema: CodecSchema | undefined): Frame {
  switch (type) {
    case FrameType.HELLO: {
      if (r.u32("magic") !== MAGIC) r.fail("bad magic (not an ECSDb replication client?)");
      const hello: HelloFrame = {
        type: "HELLO",
        protocol: r.u16("protocol"),
        flags: r.u16("flags"),
        layoutHash: r.u64("layout_hash"),
        lastVersion: r.u64("last_version"),
        epoch: r.u64("epoch"),
        token: r.string("token", Limits.maxTokenBytes),
        tables: r.names("tables"),
      };
      const filters = readFilters(r);
      return filters === undefined ? hello : { ...hello, filters };
    }
    case FrameType.ACK:
      return { type: "ACK", version: r.u64("version") };
    case FrameType.SUBSCRIBE: {
      const tables = r.names("tables");
      const filters = readFilters(r);
      return filters === undefined ? { type: "SUBSCRIBE", tables } : { type: "SUBSCRIBE", tables, filters };
    }
    case FrameType.WRITE: {
      const s = needSchema(schema, "WRITE");
      const requestId = r.u64("request_id");
      const baseVersion = r.u64("base_version");
      const n = r.count("operations", 9);
      const ops: WireWriteOp[] = [];
      for (let i = 0; i < n; i++) {
        const at = `operation ${i}`;
        const kind = r.u8(`${at}: kind`);
        if (kind < 1 || kind > 5) r.fail(`${at}: unknown kind ${kind}`);
        let table = 0;
        if (kind !== WriteOpKind.destroy) {
          table = r.varint(`${at}: table id`);
          if (table >= s.tables.length) r.fail(`${at}: unknown table id ${table}`);
        }
        const t = s.tables[table];
        const key = r.u64(`${at}: key`);
        let fieldMask = 0n;
        let size = 0;
        if (kind === WriteOpKind.update) {
          fieldMask = r.varintBig(`${at}: field mask`);
          if (t === undefined || (fieldMask & ~storedFieldsMask(t)) !== 0n) {
            r.fail(`${at}: table '${t?.name ?? table}' has no field for mask ${fieldMask}`);
          }
          size = maskedSize(t, fieldMask);
        } else if (kind === WriteOpKind.put || kind === WriteOpKind.insert) {
          size = t?.stride ?? 0;
        }
        ops.push({ kind, table, key, fieldMask, bytes: r.bytes(size, `${at}: row bytes`) });
      }
      return { type: "WRITE", requestId, baseVersion, ops };
    }
    case FrameType.WELCOME:
      return {
        type: "WELCOME",
        protocol: r.u16("protocol"),
        layoutHash: r.u64("layout_hash"),
        serverVersion: r.u64("server_version"),
        durableVersion: r.u64("durable_version"),
        epoch: r.u64("epoch"),
        resume: r.bool("resume"),
        schemaText: r.string("schema_text", Limits.maxSchemaTextBytes),
        tables: r.names("tables"),
      };
    case FrameType.SYNC_BEGIN:
      return { type: "SYNC_BEGIN", version: r.u64("version"), reset: r.bool("reset"), tables: r.names("tables") };
    case FrameType.SYNC_CHUNK: {
      const body = readBody(r, needSchema(schema, "SYNC_CHUNK"));
      if (body.destroyed.length !== 0) r.fail("a sync chunk destroys nothing");
      for (const t of body.tables) {
        if (t.updates.length !== 0 || t.deleted.length !== 0) r.fail("a sync chunk only inserts rows");
      }
      return { type: "SYNC_CHUNK", body };
    }
    case FrameType.SYNC_END:
      return { type: "SYNC_END", version: r.u64("version") };
    case FrameType.DELTA: {
      const fromVersion = r.u64("from_version");
      const toVersion = r.u64("to_version");
      const publishedAtNs = r.u64("published_at_ns");
      if (toVersion < fromVersion) r.fail(`to_version ${toVersion} is before from_version ${fromVersion}`);
      return { type: "DELTA", fromVersion, toVersion, publishedAtNs, body: readBody(r, needSchema(schema, "DELTA")) };
    }
    case FrameType.WRITE_RESULT:
      return {
        type: "WRITE_RESULT",
        requestId: r.u64("request_id"),
        committed: r.bool("committed"),
        version: r.u64("version"),
        code: r.u16("code"),
        message: r.string("message", Limits.maxMessageBytes),
      };
    case FrameType.OVERWRITTEN:
      return {
        type: "OVERWRITTEN",
        requestId: r.u64("request_id"),
        version: r.u64("version"),
        table: r.u16("table id"),
        key: r.u64("key"),
        fieldMask: r.u64("field_mask"),
      };
    case FrameType.CLOSE:
      return { type: "CLOSE", code: r.u16("code"), reason: r.string("reason", Limits.maxMessageBytes) };
    default:
      throw new ProtocolError(`unknown frame type ${type} (0x${type.toString(16).padStart(2, "0")})`);
  }
}

/** A frame's payload (the bytes after the type byte), consumed exactly. */
export function decodePayload(type: number, payload: Uint8Array, schema?: CodecSchema): Frame {
  const name = frameTypeName(type);
  if (name === "unknown") throw new ProtocolError(`unknown frame type ${type} (0x${type.toString(16).padStart(2, "0")})`);
  const r = new ByteReader(payload, name);
  const frame = readPayload(type, r, schema);
  r.end();
  return frame;
}

export interface DecodeOptions {
  /** Refuse a frame longer than this (the length field: type byte and payload). Default 256 MiB. */
  maxFrameBytes?: number;
}

/**
 * Exactly one frame (one WebSocket message): the length must cover the rest of `bytes` exactly.
 */
export function decodeFrame(bytes: Uint8Array, schema?: CodecSchema, options: DecodeOptions = {}): Frame {
  const max = options.maxFrameBytes ?? Limits.maxServerFrameBytes;
  if (bytes.length < 5) throw new ProtocolError(`a frame of ${bytes.length} bytes is shorter than its 5-byte header`);
  const length = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (length < 1 || length > max) throw new ProtocolError(`frame length ${length} is outside 1..${max}`);
  if (length + 4 !== bytes.length) {
    throw new ProtocolError(`frame length ${length} does not match the message: ${bytes.length - 4} bytes follow the length`);
  }
  return decodePayload(bytes[4]!, bytes.subarray(5), schema);
}

/**
 * Splits a byte stream (the TCP form of the protocol) into whole frames: feed it chunks, take frames. A length
 * of 0 or above the limit is refused before the frame's bytes arrive.
 */
export class FrameSplitter {
  private buf = new Uint8Array(0);
  constructor(private readonly maxFrameBytes: number = Limits.maxServerFrameBytes) {}

  /** The whole frames (header included) completed by `chunk`. */
  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    const frames: Uint8Array[] = [];
    let at = 0;
    while (joined.length - at >= 4) {
      const length = new DataView(joined.buffer, at, 4).getUint32(0, true);
      if (length < 1 || length > this.maxFrameBytes) {
        throw new ProtocolError(`frame length ${length} is outside 1..${this.maxFrameBytes}`);
      }
      if (joined.length - at < 4 + length) break;
      frames.push(joined.slice(at, at + 4 + length));
      at += 4 + length;
    }
    this.buf = joined.slice(at);
    return frames;
  }

  /** Bytes of an unfinished frame held. */
  get pending(): number {
    return this.buf.length;
  }
}
