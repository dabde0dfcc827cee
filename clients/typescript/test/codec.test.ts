import { describe, expect, test } from "vitest";
import {
  ByteReader,
  ByteWriter,
  type DeltaBody,
  type Frame,
  FrameSplitter,
  FrameType,
  KeyReader,
  KeyWriter,
  MAGIC,
  ProtocolError,
  type TableDelta,
  type WireFilter,
  decodeDeltaBody,
  decodeFrame,
  decodePayload,
  encodeDeltaBody,
  encodeFrame,
  fieldBit,
  formatKey,
  frameTypeName,
  makeKey,
  maskedSize,
  parseKey,
  readKeyList,
  storedFieldsMask,
  writeKeyList,
} from "../src/codec.js";
import { SchemaLayout } from "../src/layout.js";
import { docExample, fixture, hex, fromHex, randInt, rng } from "./helpers.js";

const game = new SchemaLayout(fixture("game-schema.json"));
const showcase = new SchemaLayout(fixture("showcase-schema.json"));

function frame(type: number, payload: number[] | Uint8Array): Uint8Array {
  const p = Uint8Array.from(payload);
  const out = new Uint8Array(5 + p.length);
  new DataView(out.buffer).setUint32(0, p.length + 1, true);
  out[4] = type;
  out.set(p, 5);
  return out;
}

function varintBytes(v: bigint | number): Uint8Array {
  return new ByteWriter().varint(v).finish();
}

describe("varints", () => {
  const cases: [bigint, string][] = [
    [0n, "00"],
    [1n, "01"],
    [127n, "7f"],
    [128n, "80 01"],
    [300n, "ac 02"],
    [16383n, "ff 7f"],
    [16384n, "80 80 01"],
    [2n ** 32n - 1n, "ff ff ff ff 0f"],
    [2n ** 53n + 1n, "81 80 80 80 80 80 80 10"],
    [2n ** 63n, "80 80 80 80 80 80 80 80 80 01"],
    [2n ** 64n - 1n, "ff ff ff ff ff ff ff ff ff 01"],
  ];
  test.each(cases)("%s", (v, bytes) => {
    expect(hex(varintBytes(v))).toBe(bytes);
    if (v <= BigInt(Number.MAX_SAFE_INTEGER)) expect(hex(varintBytes(Number(v)))).toBe(bytes);
    expect(new ByteReader(fromHex(bytes), "test").varintBig("v")).toBe(v);
    if (v <= BigInt(Number.MAX_SAFE_INTEGER)) expect(new ByteReader(fromHex(bytes), "test").varint("v")).toBe(Number(v));
  });

  test("a tenth byte above 1, an eleventh byte, truncation and limits are refused", () => {
    const bad = (s: string, f: (r: ByteReader) => unknown, msg: RegExp) =>
      expect(() => f(new ByteReader(fromHex(s), "TEST"))).toThrow(msg);
    bad("ff ff ff ff ff ff ff ff ff 02", (r) => r.varintBig("v"), /malformed TEST frame: v: a varint with bits past 64/);
    bad("80 80 80 80 80 80 80 80 80 80 00", (r) => r.varintBig("v"), /bits past 64/);
    bad("80 80", (r) => r.varintBig("v"), /truncated v/);
    bad("", (r) => r.varint("count"), /truncated count/);
    bad("ff ff ff ff ff ff ff ff ff 01", (r) => r.varint("count"), /count 18446744073709551615 is above 9007199254740991/);
    bad("81 08", (r) => r.varint("names", 1024), /names 1025 is above 1024/);
  });

  test("numbers beyond 2^53 must be bigints", () => {
    expect(() => new ByteWriter().varint(2 ** 53)).toThrow(RangeError);
    expect(() => new ByteWriter().varint(-1)).toThrow(RangeError);
    expect(() => new ByteWriter().varint(2n ** 64n)).toThrow(RangeError);
  });
});

describe("keys and key lists", () => {
  test("ids and keys", () => {
    expect(makeKey(0, 1)).toBe(1n << 32n);
    expect(parseKey("12:3")).toBe((3n << 32n) | 12n);
    expect(formatKey(parseKey("4294967295:4294967295"))).toBe("4294967295:4294967295");
    expect(() => parseKey("1:2:3")).toThrow(/not an id/);
    expect(() => parseKey("4294967296:1")).toThrow(/index/);
    expect(() => parseKey(-1n)).toThrow();
  });

  test("zigzag index differences, then the generation (docs/protocol.md, Key lists)", () => {
    const w = new ByteWriter();
    writeKeyList(w, [parseKey("0:1"), parseKey("1:1"), parseKey("0:2"), parseKey("64:1"), parseKey("1:200")]);
    // count 5; 0 -> zz 0, gen 1; +1 -> 2; -1 -> 1, gen 2; +64 -> 128 (80 01); -63 -> 125, gen 200 (c8 01)
    expect(hex(w.finish())).toBe("05 00 01 02 01 01 02 80 01 01 7d c8 01");
    const r = new ByteReader(w.finish(), "test");
    expect(readKeyList(r, "keys").map(formatKey)).toEqual(["0:1", "1:1", "0:2", "64:1", "1:200"]);
    r.end();
  });

  test("extreme keys round trip", () => {
    const keys = [parseKey("4294967295:4294967295"), parseKey("0:1"), parseKey("4294967295:1"), 0n, parseKey("7:4294967295")];
    const w = new ByteWriter();
    writeKeyList(w, keys);
    const r = new ByteReader(w.finish(), "test");
    expect(readKeyList(r, "keys")).toEqual(keys);
    r.end();
  });

  test("an index outside 0..2^32-1 or a generation above 2^32-1 is refused", () => {
    const one = (...parts: Uint8Array[]) => {
      const w = new ByteWriter();
      for (const p of parts) w.bytes(p);
      return new KeyReader(new ByteReader(w.finish(), "DELTA"), "created entities");
    };
    expect(() => one(varintBytes(1), varintBytes(1)).key()).toThrow(/key index -1 is outside 0..2\^32-1/);
    expect(() => one(varintBytes(2 ** 33), varintBytes(1)).key()).toThrow(/key index 4294967296 is outside/);
    expect(() => one(varintBytes(0), varintBytes(2 ** 32)).key()).toThrow(/generation 4294967296 is above 2\^32-1/);
    expect(() => one(varintBytes(2n ** 63n), varintBytes(1)).key()).toThrow(/key index difference .* is above/);
    const k = new KeyWriter(new ByteWriter());
    expect(() => k.key(2n ** 64n)).toThrow(RangeError);
  });

  test("a count larger than half the bytes left is refused before anything is allocated", () => {
    const r = new ByteReader(fromHex("03 00 01 00 01"), "DELTA");
    expect(() => readKeyList(r, "created entities")).toThrow(/created entities: count 3 cannot fit in the 4 bytes left/);
    const huge = new ByteReader(fromHex("ff ff ff ff 0f 00 01"), "DELTA");
    expect(() => readKeyList(huge, "created entities")).toThrow(/cannot fit/);
  });
});

describe("field masks", () => {
  test("bits by field id, 63 for every field from 63 on", () => {
    expect(fieldBit(0)).toBe(1n);
    expect(fieldBit(5)).toBe(32n);
    expect(fieldBit(63)).toBe(1n << 63n);
    expect(fieldBit(200)).toBe(1n << 63n);
  });

  test("stored fields and masked sizes", () => {
    const transform = game.table("transform");
    expect(storedFieldsMask(transform)).toBe(0b1110n); // owner key (id 0) not stored
    expect(maskedSize(transform, 0b1010n)).toBe(8);
    const health = showcase.table("health");
    // hp, max_hp, regen_per_s, armor, last_hit: ids 1..5
    expect(storedFieldsMask(health)).toBe(0b111110n);
    expect(maskedSize(health, fieldBit(5) | fieldBit(4))).toBe(8 + 2);
  });
});

describe("the worked examples of docs/protocol.md, byte for byte", () => {
  test("HELLO with no token, every table, no state (39 bytes)", () => {
    const documented = docExample("**HELLO** with no token");
    expect(documented.length).toBe(39);
    const hello: Frame = { type: "HELLO", protocol: 1, flags: 0, layoutHash: 0n, lastVersion: 0n, epoch: 0n, token: "", tables: [] };
    expect(hex(encodeFrame(hello))).toBe(hex(documented));
    expect(decodeFrame(documented)).toEqual(hello);
    expect(hex(documented.subarray(5, 9))).toBe("45 43 53 52"); // "ECSR"
    expect(new DataView(documented.buffer).getUint32(5, true)).toBe(MAGIC);
  });

  test("the full sync at version 2: SYNC_BEGIN, SYNC_CHUNK, SYNC_END", () => {
    const documented = docExample("**The full sync** that answered it");
    const splitter = new FrameSplitter();
    const frames = splitter.push(documented);
    expect(splitter.pending).toBe(0);
    expect(frames.map((f) => f.length)).toEqual([32, 24, 13]);
    const [begin, chunk, end] = frames.map((f) => decodeFrame(f, game));
    expect(begin).toEqual({ type: "SYNC_BEGIN", version: 2n, reset: false, tables: ["transform", "health"] });
    expect(end).toEqual({ type: "SYNC_END", version: 2n });
    expect(chunk!.type).toBe("SYNC_CHUNK");
    const body = (chunk as Extract<Frame, { type: "SYNC_CHUNK" }>).body;
    expect(body.created.map(formatKey)).toEqual(["0:1"]);
    expect(body.destroyed).toEqual([]);
    expect(body.tables).toHaveLength(1);
    const health = body.tables[0]!;
    expect(health.table).toBe(2);
    expect(health.inserted.map(formatKey)).toEqual(["0:1"]);
    expect(health.owners).toBeNull();
    expect(game.table("health").decodeRow(health.rows[0]!)).toEqual({ hp: 40, max_hp: 100 });
    expect(health.updates).toEqual([]);
    expect(health.deleted).toEqual([]);
    // And back: the same bytes.
    const again = [begin!, chunk!, end!].map((f) => encodeFrame(f, game));
    expect(hex(Uint8Array.from(again.flatMap((f) => [...f])))).toBe(hex(documented));
  });

  test("a DELTA carrying one f32 field update (43 bytes)", () => {
    const documented = docExample("**A DELTA carrying one f32 field update");
    expect(documented.length).toBe(43);
    const f = decodeFrame(documented, game);
    expect(f).toMatchObject({ type: "DELTA", fromVersion: 3n, toVersion: 4n, publishedAtNs: 0x18ed26987e0be455n });
    const body = (f as Extract<Frame, { type: "DELTA" }>).body;
    expect(body.created).toEqual([]);
    expect(body.destroyed).toEqual([]);
    expect(body.tables).toHaveLength(1);
    const t = body.tables[0]!;
    expect(t.table).toBe(1);
    expect(t.inserted).toEqual([]);
    expect(t.updates).toHaveLength(1);
    expect(formatKey(t.updates[0]!.key)).toBe("0:1");
    expect(t.updates[0]!.mask).toBe(0b10n);
    expect(game.table("transform").decodeMasked(t.updates[0]!.mask, t.updates[0]!.bytes)).toEqual({ position_x: 2.5 });
    expect(hex(encodeFrame(f, game))).toBe(hex(documented));
    // Built from scratch, as a server would.
    const { mask, bytes } = game.table("transform").encodeUpdate({ position_x: 2.5 });
    const built = encodeFrame(
      {
        type: "DELTA",
        fromVersion: 3n,
        toVersion: 4n,
        publishedAtNs: 0x18ed26987e0be455n,
        body: { created: [], destroyed: [], tables: [{ table: 1, inserted: [], owners: null, rows: [], updates: [{ key: parseKey("0:1"), mask, bytes }], deleted: [] }] },
      },
      game,
    );
    expect(hex(built)).toBe(hex(documented));
  });
});

// ---- round trips ----

function randomKey(r: () => number): bigint {
  const small = r() < 0.7;
  return makeKey(small ? randInt(r, 0, 300) : randInt(r, 0, 2 ** 32 - 1), small ? randInt(r, 1, 3) : randInt(r, 1, 2 ** 32 - 1));
}

function randomBytes(r: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => randInt(r, 0, 255));
}

function randomBody(r: () => number, schema: SchemaLayout, syncChunk = false): DeltaBody {
  const keys = (n: number) => Array.from({ length: n }, () => randomKey(r));
  const tables: TableDelta[] = [];
  for (const t of schema.tables) {
    if (r() < 0.4) continue;
    const n = randInt(r, 0, 4);
    const valid = storedFieldsMask(t);
    const updates = syncChunk
      ? []
      : Array.from({ length: randInt(r, 0, 4) }, () => {
          let mask = 0n;
          for (const f of t.rowOrder) if (r() < 0.5) mask |= fieldBit(f.id);
          mask &= valid;
          return { key: randomKey(r), mask, bytes: randomBytes(r, maskedSize(t, mask)) };
        });
    tables.push({
      table: t.id,
      inserted: keys(n),
      owners: t.many ? keys(n) : null,
      rows: Array.from({ length: n }, () => randomBytes(r, t.stride)),
      updates,
      deleted: syncChunk ? [] : keys(randInt(r, 0, 3)),
    });
  }
  return { created: keys(randInt(r, 0, 5)), destroyed: syncChunk ? [] : keys(randInt(r, 0, 3)), tables };
}

/** 1 to 4 filters of every kind and value kind, with random contents. */
function randomFilters(r: () => number, u64: () => bigint): WireFilter[] {
  const table = () => ["", "health", "transform", "ünïcode"][randInt(r, 0, 3)]!;
  const value = (): Extract<WireFilter, { kind: "field" }>["value"] => {
    switch (randInt(r, 1, 6)) {
      case 1:
        return { kind: "bool", value: r() < 0.5 };
      case 2:
        return { kind: "int", value: u64() - (1n << 63n) };
      case 3:
        return { kind: "uint", value: u64() };
      case 4:
        return { kind: "float", value: [0, -0.5, 1e300, Infinity, 3.25][randInt(r, 0, 4)]! };
      case 5:
        return { kind: "string", value: ["", "ana", "x".repeat(256)][randInt(r, 0, 2)]! };
      default:
        return { kind: "entity", value: randomKey(r) };
    }
  };
  const ops = ["==", "!=", "<", "<=", ">", ">="] as const;
  return Array.from({ length: randInt(r, 1, 4) }, (): WireFilter => {
    switch (randInt(r, 1, 3)) {
      case 1:
        return { kind: "entities", table: table(), entities: Array.from({ length: randInt(r, 0, 3) }, () => randomKey(r)) };
      case 2:
        return { kind: "field", table: table(), field: "hp", op: ops[randInt(r, 0, 5)]!, value: value() };
      default:
        return { kind: "custom", table: table(), name: "near", params: randomBytes(r, randInt(r, 0, 5)) };
    }
  });
}

function randomFrames(seed: number): Frame[] {
  const r = rng(seed);
  const u64 = () => (BigInt(randInt(r, 0, 2 ** 32 - 1)) << 32n) | BigInt(randInt(r, 0, 2 ** 32 - 1));
  const names = () => ["transform", "health", "inventory_item", "héllo wörld"].filter(() => r() < 0.5);
  const from = u64() >> 1n;
  return [
    { type: "HELLO", protocol: 1, flags: randInt(r, 0, 1), layoutHash: u64(), lastVersion: u64(), epoch: u64(), token: "tok€n", tables: names() },
    { type: "HELLO", protocol: 1, flags: 0, layoutHash: 0n, lastVersion: u64(), epoch: u64(), token: "", tables: names(), filters: randomFilters(r, u64) },
    { type: "ACK", version: u64() },
    { type: "SUBSCRIBE", tables: names() },
    { type: "SUBSCRIBE", tables: names(), filters: randomFilters(r, u64) },
    {
      type: "WRITE",
      requestId: u64(),
      baseVersion: u64(),
      ops: [
        { kind: 1, table: 2, key: randomKey(r), fieldMask: 0n, bytes: randomBytes(r, showcase.table("health").stride) },
        { kind: 2, table: 3, key: randomKey(r), fieldMask: fieldBit(1) | fieldBit(7), bytes: randomBytes(r, 24 + 12) },
        { kind: 3, table: 6, key: randomKey(r), fieldMask: 0n, bytes: new Uint8Array(0) },
        { kind: 4, table: 0, key: randomKey(r), fieldMask: 0n, bytes: new Uint8Array(0) },
        { kind: 5, table: 7, key: randomKey(r), fieldMask: 0n, bytes: randomBytes(r, showcase.table("buff").stride) },
        { kind: 1, table: 5, key: randomKey(r), fieldMask: 0n, bytes: new Uint8Array(0) },
      ],
    },
    {
      type: "WELCOME",
      protocol: 1,
      layoutHash: showcase.layoutHash,
      serverVersion: u64(),
      durableVersion: u64(),
      epoch: u64(),
      resume: r() < 0.5,
      schemaText: showcase.toml ?? "",
      tables: names(),
    },
    { type: "SYNC_BEGIN", version: u64(), reset: r() < 0.5, tables: names() },
    { type: "SYNC_CHUNK", body: randomBody(r, showcase, true) },
    { type: "SYNC_END", version: u64() },
    { type: "DELTA", fromVersion: from, toVersion: from + BigInt(randInt(r, 1, 1000)), publishedAtNs: u64(), body: randomBody(r, showcase) },
    { type: "DELTA", fromVersion: from, toVersion: from, publishedAtNs: u64(), body: randomBody(r, showcase) }, // a subscription change
    { type: "WRITE_RESULT", requestId: u64(), committed: false, version: 0n, code: 3, message: "operation 0: entity 9:1 is not alive" },
    { type: "WRITE_RESULT", requestId: u64(), committed: true, version: u64(), code: 0, message: "" },
    { type: "OVERWRITTEN", requestId: u64(), version: u64(), table: 2, key: randomKey(r), fieldMask: fieldBit(1) },
    { type: "CLOSE", code: 14, reason: "server shutting down" },
  ];
}

describe("round trips", () => {
  test("every frame type, 50 random sets", () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 50; seed++) {
      for (const f of randomFrames(seed)) {
        const bytes = encodeFrame(f, showcase);
        expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(bytes.length - 4);
        expect(bytes[4]).toBe(FrameType[f.type]);
        const back = decodeFrame(bytes, showcase);
        expect(back).toEqual(f);
        expect(hex(encodeFrame(back, showcase))).toBe(hex(bytes));
        seen.add(f.type);
      }
    }
    expect([...seen].sort()).toEqual(Object.keys(FrameType).sort());
  });

  test("delta bodies on their own", () => {
    for (let seed = 100; seed < 130; seed++) {
      const body = randomBody(rng(seed), showcase);
      const bytes = encodeDeltaBody(body, showcase);
      expect(decodeDeltaBody(bytes, showcase)).toEqual(body);
    }
  });

  test("the frame splitter takes a stream byte by byte", () => {
    const frames = randomFrames(7).map((f) => encodeFrame(f, showcase));
    const stream = Uint8Array.from(frames.flatMap((f) => [...f]));
    const s = new FrameSplitter();
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += 3) got.push(...s.push(stream.subarray(i, i + 3)));
    expect(got.map(hex)).toEqual(frames.map(hex));
    expect(() => new FrameSplitter(100).push(fromHex("65 00 00 00"))).toThrow(/frame length 101 is outside 1..100/);
    expect(() => new FrameSplitter().push(fromHex("00 00 00 00 01"))).toThrow(/frame length 0 is outside/);
  });

  test("encoders refuse what a decoder would", () => {
    const t = (body: Partial<TableDelta>): DeltaBody => ({
      created: [],
      destroyed: [],
      tables: [{ table: 1, inserted: [], owners: null, rows: [], updates: [], deleted: [], ...body }],
    });
    expect(() => encodeDeltaBody(t({ inserted: [1n << 32n], rows: [new Uint8Array(3)] }), game)).toThrow(/a row of 3 bytes, not the stride 12/);
    expect(() => encodeDeltaBody(t({ updates: [{ key: 1n << 32n, mask: 1n, bytes: new Uint8Array(0) }] }), game)).toThrow(/does not store/);
    expect(() => encodeDeltaBody(t({ table: 9 }), game)).toThrow(/unknown table id 9/);
    expect(() =>
      encodeDeltaBody(
        { created: [], destroyed: [], tables: [t({ table: 2 }).tables[0]!, t({ table: 1 }).tables[0]!] },
        game,
      ),
    ).toThrow(/must ascend/);
    expect(() => encodeFrame({ type: "DELTA", fromVersion: 5n, toVersion: 4n, publishedAtNs: 0n, body: t({}) }, game)).toThrow(
      "to_version 4 is before from_version 5",
    );
    expect(encodeFrame({ type: "DELTA", fromVersion: 5n, toVersion: 5n, publishedAtNs: 0n, body: t({}) }, game).length).toBe(5 + 24 + 7);
    expect(() => encodeFrame({ type: "SUBSCRIBE", tables: ["x".repeat(257)] })).toThrow(/longer than 256/);
    expect(() => encodeFrame({ type: "SYNC_CHUNK", body: t({}) })).toThrow(/need the schema/);
  });
});

// ---- malformed input ----

describe("malformed frames are refused with a descriptive error", () => {
  const expectBad = (bytes: Uint8Array, msg: RegExp, schema = game) => {
    let error: unknown;
    try {
      decodeFrame(bytes, schema);
    } catch (e) {
      error = e;
    }
    expect(error, `decoding ${hex(bytes)}`).toBeInstanceOf(ProtocolError);
    expect((error as Error).message).toMatch(msg);
  };

  test("every truncation of every frame type, and a byte after the end", () => {
    for (const seed of [3, 4]) {
      for (const f of randomFrames(seed)) {
        const bytes = encodeFrame(f, showcase);
        const payload = bytes.subarray(5);
        // HELLO and SUBSCRIBE cut right before their optional filter section are whole frames without filters.
        const optionalFrom = (f.type === "HELLO" || f.type === "SUBSCRIBE") && f.filters !== undefined ? encodeFrame({ ...f, filters: undefined }).length - 5 : -1;
        for (let n = 0; n < payload.length; n++) {
          if (n === optionalFrom) {
            expect(decodePayload(bytes[4]!, payload.subarray(0, n), showcase)).toEqual({ ...f, filters: undefined });
            continue;
          }
          expect(() => decodePayload(bytes[4]!, payload.subarray(0, n), showcase), `${f.type} cut at ${n}`).toThrow(ProtocolError);
        }
        if (optionalFrom < 0 && (f.type === "HELLO" || f.type === "SUBSCRIBE")) {
          // A 0 after the tables is a filter section of no filters: the same frame. Past it, bytes after the end.
          expect(decodePayload(bytes[4]!, Uint8Array.from([...payload, 0]), showcase)).toEqual(f);
          expect(() => decodePayload(bytes[4]!, Uint8Array.from([...payload, 0, 0]), showcase)).toThrow(`malformed ${f.type} frame: 1 bytes after the end`);
          continue;
        }
        const longer = Uint8Array.from([...payload, 0]);
        expect(() => decodePayload(bytes[4]!, longer, showcase)).toThrow(`malformed ${f.type} frame: 1 bytes after the end`);
      }
    }
  });

  test("the header: short, zero, too long, not matching the message", () => {
    expectBad(fromHex("01 00 00 00"), /a frame of 4 bytes is shorter than its 5-byte header/);
    expectBad(fromHex("00 00 00 00 02"), /frame length 0 is outside 1..268435456/);
    expect(() => decodeFrame(frame(0x02, new Uint8Array(8)), game, { maxFrameBytes: 8 })).toThrow(/frame length 9 is outside 1..8/);
    expectBad(fromHex("09 00 00 00 02 00 00 00 00 00 00 00"), /frame length 9 does not match the message: 8 bytes follow the length/);
    expectBad(fromHex("02 00 00 00 84 00 00"), /does not match/);
  });

  test("unknown frame types", () => {
    expectBad(frame(0x05, []), /unknown frame type 5 \(0x05\)/);
    expectBad(frame(0x80, []), /unknown frame type 128 \(0x80\)/);
    expectBad(frame(0x8e, []), /unknown frame type/);
    expect(frameTypeName(0x8f)).toBe("CLOSE");
    expect(frameTypeName(0x42)).toBe("unknown");
  });

  test("HELLO: magic, token and names limits", () => {
    const hello = encodeFrame({ type: "HELLO", protocol: 1, flags: 0, layoutHash: 0n, lastVersion: 0n, epoch: 0n, token: "", tables: [] });
    const bad = hello.slice();
    bad[5] = 0x46;
    expectBad(bad, /malformed HELLO frame: bad magic/);
    const w = new ByteWriter().u32(MAGIC).u16(1).u16(0).u64(0n).u64(0n).u64(0n);
    expectBad(frame(0x01, [...w.finish(), ...varintBytes(4097)]), /token of 4097 bytes is longer than 4096/);
    const names = new ByteWriter().u32(MAGIC).u16(1).u16(0).u64(0n).u64(0n).u64(0n).string("").varint(1025);
    const payload = Uint8Array.from([...names.finish(), ...new Uint8Array(1025 * 2)]);
    expectBad(frame(0x01, payload), /tables count 1025 is above 1024/);
    const longName = new ByteWriter().u32(MAGIC).u16(1).u16(0).u64(0n).u64(0n).u64(0n).string("").varint(1).string("t".repeat(257));
    expectBad(frame(0x01, longName.finish()), /tables name of 257 bytes is longer than 256/);
    expectBad(frame(0x03, fromHex("05 01 61")), /tables: count 5 cannot fit in the 2 bytes left/);
  });

  test("WELCOME, WRITE_RESULT and CLOSE string caps", () => {
    const welcome = new ByteWriter().u16(1).u64(0n).u64(0n).u64(0n).u64(0n).u8(0).varint(64 * 1024 * 1024 + 1);
    expectBad(frame(0x81, welcome.finish()), /schema_text of 67108865 bytes is longer than 67108864/);
    expectBad(frame(0x8f, [...new ByteWriter().u16(14).varint(65537).finish(), 0x61]), /malformed CLOSE frame: reason of 65537 bytes is longer than 65536/);
    expectBad(frame(0x86, new ByteWriter().u64(1n).u8(0).u64(0n).u16(3).varint(70000).finish()), /message of 70000 bytes/);
    expectBad(frame(0x8f, [0x0e, 0x00, 0x05, 0x61]), /malformed CLOSE frame: truncated reason \(needs 5 bytes, 1 left\)/);
  });

  test("bodies: unknown tables, order, counts, masks, keys", () => {
    const delta = (body: number[]) => frame(0x85, [...new ByteWriter().u64(3n).u64(4n).u64(0n).finish(), ...body]);
    expectBad(delta([0, 0, 1, 3, 0, 0, 0]), /malformed DELTA frame: unknown table id 3/);
    expectBad(delta([0, 0, 4]), /table count 4 is above the schema's 3 tables/);
    expectBad(delta([0, 0, 2, 2, 0, 0, 0, 1, 0, 0, 0]), /table ids must ascend \(table id 1 after 2\)/);
    expectBad(delta([0, 0, 2, 1, 0, 0, 0, 1, 0, 0, 0]), /table ids must ascend \(table id 1 after 1\)/);
    // transform: the owner key (bit 0) is not stored, and there is no field 4
    expectBad(delta([0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0]), /update of table 'transform' names fields it does not have \(mask 1\)/);
    expectBad(delta([0, 0, 1, 1, 0, 1, 0, 1, 16, 0, 0, 0, 0, 0]), /names fields it does not have \(mask 16\)/);
    expectBad(delta([0, 0, 1, 1, 0, 1, 0, 1, 2, 0, 0, 32]), /truncated update bytes of table 'transform' \(needs 4 bytes, 3 left\)/);
    expectBad(delta([0, 0, 1, 2, 1, 0, 1, 40, 0, 0, 0]), /truncated inserted rows of table 'health'/);
    expectBad(delta([9, 0, 1, 0, 1]), /created entities: count 9 cannot fit/);
    expectBad(delta([0, 0, 1, 2, 0, 9, 0, 1]), /updates of table 'health': count 9 cannot fit/);
    expectBad(delta([1, 1, 1, 0, 0]), /created entities: key index -1 is outside 0..2\^32-1/);
    expectBad(delta([0, 0, 1, 2, 0, 0, 1, 0]), /deleted keys of table 'health': count 1 cannot fit in the 1 bytes left/);
    expectBad(delta([0, 0]), /truncated table count/);
    const backwards = frame(0x85, [...new ByteWriter().u64(4n).u64(3n).u64(0n).finish(), 0, 0, 0]);
    expectBad(backwards, /^malformed DELTA frame: to_version 3 is before from_version 4$/);
    expectBad(frame(0x85, new ByteWriter().u64(4n).u64(3n).finish()), /truncated published_at_ns/);
  });

  test("many tables carry owners; a truncated owner list is refused", () => {
    // showcase buff (id 7, many, stride 16): one inserted key, then its owner, then the row
    const good = [0, 0, 1, 7, 1, 0, 1, 0, 1, ...new Array(16).fill(0), 0, 0];
    expect(decodeFrame(frame(0x83, good), showcase)).toMatchObject({ type: "SYNC_CHUNK" });
    expectBad(frame(0x83, [0, 0, 1, 7, 1, 0, 1, 0]), /truncated owners of table 'buff'/, showcase);
  });

  test("a SYNC_CHUNK only creates entities and inserts rows", () => {
    expectBad(frame(0x83, [0, 1, 0, 1, 0]), /malformed SYNC_CHUNK frame: a sync chunk destroys nothing/);
    expectBad(frame(0x83, [0, 0, 1, 2, 0, 1, 0, 1, 2, 1, 0, 0, 0, 0]), /a sync chunk only inserts rows/);
    expectBad(frame(0x83, [0, 0, 1, 2, 0, 0, 1, 0, 1]), /a sync chunk only inserts rows/);
  });

  test("WRITE: kinds, tables, masks, counts", () => {
    const head = () => new ByteWriter().u64(1n).u64(0n);
    expectBad(frame(0x04, [...head().varint(1).finish(), 0, ...new Array(8).fill(0)]), /malformed WRITE frame: operation 0: unknown kind 0/);
    expectBad(frame(0x04, [...head().varint(1).finish(), 6, ...new Array(8).fill(0)]), /operation 0: unknown kind 6/);
    expectBad(frame(0x04, [...head().varint(1).finish(), 3, 7, ...new Array(8).fill(0)]), /operation 0: unknown table id 7/);
    expectBad(frame(0x04, [...head().varint(1).finish(), 2, 2, ...new Array(8).fill(0), 1]), /operation 0: table 'health' has no field for mask 1/);
    expectBad(frame(0x04, [...head().varint(2).finish(), 4, ...new Array(8).fill(0)]), /operations: count 2 cannot fit in the 9 bytes left/);
    expectBad(frame(0x04, [...head().varint(1).finish(), 1, 2, ...new Array(8).fill(0), 1, 2, 3]), /truncated operation 0: row bytes \(needs 8 bytes, 3 left\)/);
  });

  test("bool fields read any non-zero byte as true", () => {
    const f = decodeFrame(frame(0x82, [...new ByteWriter().u64(9n).finish(), 7, 0]));
    expect(f).toEqual({ type: "SYNC_BEGIN", version: 9n, reset: true, tables: [] });
  });
});

describe("DELTA from_version = to_version: a subscription change at the client's version", () => {
  test("is decoded and encoded; to < from is refused", () => {
    const same = frame(0x85, [...new ByteWriter().u64(4n).u64(4n).u64(7n).finish(), 0, 0, 1, 2, 0, 0, 1, 0, 1]);
    const f = decodeFrame(same, game);
    expect(f).toMatchObject({ type: "DELTA", fromVersion: 4n, toVersion: 4n, publishedAtNs: 7n });
    expect((f as Extract<Frame, { type: "DELTA" }>).body.tables[0]!.deleted.map(formatKey)).toEqual(["0:1"]);
    expect(hex(encodeFrame(f, game))).toBe(hex(same));
    expect(() => decodeFrame(frame(0x85, [...new ByteWriter().u64(5n).u64(0n).u64(0n).finish(), 0, 0, 0]), game)).toThrow(
      "malformed DELTA frame: to_version 0 is before from_version 5",
    );
  });
});

describe("filters in HELLO and SUBSCRIBE (docs/protocol.md, Filters)", () => {
  const filters: WireFilter[] = [
    { kind: "entities", table: "", entities: [parseKey("3:1"), parseKey("70000:9")] },
    { kind: "field", table: "health", field: "hp", op: "<", value: { kind: "int", value: -20n } },
    { kind: "field", table: "health", field: "max_hp", op: ">=", value: { kind: "uint", value: 1n << 63n } },
    { kind: "field", table: "transform", field: "x", op: ">", value: { kind: "float", value: 0.5 } },
    { kind: "field", table: "player", field: "name", op: "==", value: { kind: "string", value: "ana" } },
    { kind: "field", table: "follow", field: "target", op: "!=", value: { kind: "entity", value: parseKey("1:2") } },
    { kind: "field", table: "player", field: "online", op: "==", value: { kind: "bool", value: true } },
    { kind: "custom", table: "item", name: "near", params: Uint8Array.from([1, 2]) },
  ];
  // Each filter: u8 kind, string table, then its kind's fields; u64 values little-endian.
  const section = [
    "08", // 8 filters
    "01 00 02 03 00 00 00 01 00 00 00 70 11 01 00 09 00 00 00", // entity set, every table: 3:1, 70000:9
    "02 06 68 65 61 6c 74 68 02 68 70 03 02 ec ff ff ff ff ff ff ff", // health.hp < int -20
    "02 06 68 65 61 6c 74 68 06 6d 61 78 5f 68 70 06 03 00 00 00 00 00 00 00 80", // health.max_hp >= uint 2^63
    "02 09 74 72 61 6e 73 66 6f 72 6d 01 78 05 04 00 00 00 00 00 00 e0 3f", // transform.x > float 0.5
    "02 06 70 6c 61 79 65 72 04 6e 61 6d 65 01 05 03 61 6e 61", // player.name == "ana"
    "02 06 66 6f 6c 6c 6f 77 06 74 61 72 67 65 74 02 06 01 00 00 00 02 00 00 00", // follow.target != entity 1:2
    "02 06 70 6c 61 79 65 72 06 6f 6e 6c 69 6e 65 01 01 01 00 00 00 00 00 00 00", // player.online == true
    "03 04 69 74 65 6d 04 6e 65 61 72 02 01 02", // custom "near" on item, 2 parameter bytes
  ].join(" ");

  test("every kind and value kind, byte for byte, in SUBSCRIBE and HELLO", () => {
    const sub = encodeFrame({ type: "SUBSCRIBE", tables: ["health"], filters });
    expect(hex(sub.subarray(5))).toBe(`01 06 68 65 61 6c 74 68 ${section}`);
    expect(decodeFrame(sub)).toEqual({ type: "SUBSCRIBE", tables: ["health"], filters });
    const hello: Frame = { type: "HELLO", protocol: 1, flags: 0, layoutHash: 0n, lastVersion: 0n, epoch: 0n, token: "", tables: [], filters };
    const bytes = encodeFrame(hello);
    expect(hex(bytes.subarray(5 + 34))).toBe(section); // after the 34 bytes of the documented HELLO
    expect(decodeFrame(bytes)).toEqual(hello);
  });

  test("no filters: no section at all (the documented HELLO keeps its 39 bytes); a count of 0 means none", () => {
    const documented = docExample("**HELLO** with no token");
    const hello = { type: "HELLO", protocol: 1, flags: 0, layoutHash: 0n, lastVersion: 0n, epoch: 0n, token: "", tables: [] } as const;
    expect(hex(encodeFrame({ ...hello, filters: [] }))).toBe(hex(documented));
    expect(hex(encodeFrame({ type: "SUBSCRIBE", tables: [], filters: [] }))).toBe("02 00 00 00 03 00");
    const withZero = decodeFrame(frame(0x01, [...documented.subarray(5), 0]));
    expect(withZero).toEqual(hello);
    expect("filters" in withZero).toBe(false);
    expect(decodeFrame(frame(0x03, [0, 0]))).toStrictEqual({ type: "SUBSCRIBE", tables: [] });
  });

  test("malformed sections are refused naming the filter", () => {
    const sub = (...bytes: string[]) => frame(0x03, fromHex(`00 ${bytes.join(" ")}`));
    const bad = (bytes: Uint8Array, msg: string | RegExp) => expect(() => decodeFrame(bytes)).toThrow(msg);
    bad(sub("01 04 00"), "malformed SUBSCRIBE frame: filter 0: unknown kind 4");
    bad(sub("02 01 00 00 00 00"), "malformed SUBSCRIBE frame: filter 1: unknown kind 0");
    bad(sub("01 02 00 01 61 07 02"), "malformed SUBSCRIBE frame: filter 0: unknown comparison 7");
    bad(sub("01 02 00 01 61 01 07 00 00 00 00 00 00 00 00"), "filter 0: a value of kind 7 (numbers, bools, entities and strings only)");
    bad(sub("01 02 00 01 61 01 00"), "filter 0: a value of kind 0 (numbers, bools, entities and strings only)");
    bad(sub("41"), "malformed SUBSCRIBE frame: 65 filters (at most 64)");
    bad(sub("01 01 00 02 00 00 00 00 00 00 00 00"), /filter 0: entities: count 2 cannot fit in the 8 bytes left/);
    bad(sub("01 02 00 01 61 01 02 00 00"), /truncated filter 0: value/);
    bad(sub("01 02 00 81 02", Array(257).fill("61").join(" ")), /filter 0: field of 257 bytes is longer than 256/);
    bad(sub("01 03 00 01 61 05 01"), /truncated filter 0: parameters/);
    bad(sub("02 01 00 00"), /truncated filter 1: kind/);
    bad(sub("02 01 00 00 01"), /truncated filter 1: table length/);
    bad(sub("01 01 00 00 00"), "malformed SUBSCRIBE frame: 1 bytes after the end");
    // A string value longer than 256 bytes
    bad(sub("01 02 00 01 61 01 05 81 02", Array(257).fill("61").join(" ")), /filter 0: value of 257 bytes is longer than 256/);
  });

  test("encoders refuse what the decoder would", () => {
    const sub = (f: WireFilter[]) => () => encodeFrame({ type: "SUBSCRIBE", tables: [], filters: f });
    const some: WireFilter = { kind: "entities", table: "", entities: [] };
    expect(sub(Array.from({ length: 65 }, () => some))).toThrow("65 filters is more than 64");
    expect(sub(Array.from({ length: 64 }, () => some))).not.toThrow();
    const field = (value: unknown, op = "==") => [{ kind: "field", table: "t", field: "f", op, value } as WireFilter];
    expect(sub(field({ kind: "int", value: 1n << 63n }))).toThrow("filter 0: 9223372036854775808 is not an i64 (a bigint)");
    expect(sub(field({ kind: "uint", value: -1n }))).toThrow("filter 0: -1 is not a u64 (a bigint)");
    expect(sub(field({ kind: "uint", value: 5 }))).toThrow("not a u64 (a bigint)");
    expect(sub(field({ kind: "date", value: 5 }))).toThrow("filter 0: unknown value kind 'date'");
    expect(sub(field({ kind: "bool", value: true }, "=~"))).toThrow("filter 0: unknown comparison '=~'");
    expect(sub(field({ kind: "string", value: "x".repeat(257) }))).toThrow("filter 0: the string value of 257 bytes is longer than 256");
    expect(sub([{ kind: "entities", table: "t".repeat(257), entities: [] }])).toThrow("filter 0: the table name of 257 bytes is longer than 256");
    expect(sub([{ kind: "entities", table: "", entities: [2n ** 64n] }])).toThrow("filter 0: entity 18446744073709551616 is not a u64");
    expect(sub([{ kind: "nope", table: "" } as unknown as WireFilter])).toThrow("filter 0: unknown kind 'nope'");
  });
});
