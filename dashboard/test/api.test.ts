// The API client against a recorded fetch, the error shape, and the change stream against a fake socket.
import { describe, expect, test, vi } from "vitest";
import { expectTypeOf } from "vitest";
import { ApiClient, buildQuery } from "../src/api/client";
import { ApiError, errorFromResponse, toApiError } from "../src/api/errors";
import { ChangeStream, streamProtocols, streamUrl, type WebSocketLike } from "../src/api/stream";
import type { EntityView, Info, Metrics, QueryRequest, RowsPage, StreamMessage } from "../src/api/types";

interface Call {
  url: string;
  init: RequestInit;
}

function recorder(respond: (url: string, init: RequestInit) => Response) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, init: init ?? {} });
    return respond(url, init ?? {});
  });
  return { calls, fetch: fetch as unknown as typeof globalThis.fetch };
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("types come from the OpenAPI spec", () => {
  test("aliases are not never", () => {
    expectTypeOf<Info>().not.toBeNever();
    expectTypeOf<RowsPage>().not.toBeNever();
    expectTypeOf<EntityView>().not.toBeNever();
    expectTypeOf<Metrics>().not.toBeNever();
    expectTypeOf<QueryRequest>().not.toBeNever();
    expectTypeOf<Info["schema"]["layout_hash"]>().toEqualTypeOf<string>();
  });
});

describe("ApiClient", () => {
  test("sends the bearer token in the header, never in the URL", async () => {
    const r = recorder(() => json(200, { status: "ok", version: 3 }));
    const api = new ApiClient({ baseUrl: "http://h:1/", token: () => "s3cret", fetch: r.fetch });
    await api.info();
    expect(r.calls[0]?.url).toBe("http://h:1/api/info");
    expect((r.calls[0]?.init.headers as Record<string, string>)["Authorization"]).toBe("Bearer s3cret");
    expect(r.calls[0]?.url).not.toContain("s3cret");
  });
  test("no token, no header", async () => {
    const r = recorder(() => json(200, { status: "ok", version: 3 }));
    await new ApiClient({ fetch: r.fetch }).health();
    expect(r.calls[0]?.url).toBe("/api/health");
    expect((r.calls[0]?.init.headers as Record<string, string>)["Authorization"]).toBeUndefined();
  });
  test("rows: where repeats, fields joined, cursor and version passed, table encoded", async () => {
    const r = recorder(() => json(200, { table: "a b", version: 1, rows: [], total: 0, next: null }));
    const api = new ApiClient({ fetch: r.fetch });
    await api.rows("a b", { limit: 50, where: ["hp<50", "max_hp>=1"], sort: "-hp", fields: ["hp", "max_hp"], after: "o2", version: 12 });
    const u = new URL(r.calls[0]?.url ?? "", "http://x");
    expect(u.pathname).toBe("/api/tables/a%20b/rows");
    expect(u.searchParams.getAll("where")).toEqual(["hp<50", "max_hp>=1"]);
    expect(u.searchParams.get("fields")).toBe("hp,max_hp");
    expect(u.searchParams.get("sort")).toBe("-hp");
    expect(u.searchParams.get("after")).toBe("o2");
    expect(u.searchParams.get("version")).toBe("12");
    expect(u.searchParams.get("limit")).toBe("50");
  });
  test("whoami: GET /api/whoami with the token", async () => {
    const r = recorder(() => json(200, { role: "read", token: "reader", auth_required: true }));
    const w = await new ApiClient({ token: () => "t", fetch: r.fetch }).whoami();
    expect(r.calls[0]?.url).toBe("/api/whoami");
    expect(w).toEqual({ role: "read", token: "reader", auth_required: true });
  });
  test("POST bodies: JSON for transactions (with Idempotency-Key), TOML for validation", async () => {
    const r = recorder(() => json(200, { version: 2, created: [], rows: [], durable: true }));
    const api = new ApiClient({ fetch: r.fetch });
    await api.transaction([{ op: "create" }], { idempotencyKey: "k1" });
    expect(r.calls[0]?.init.method).toBe("POST");
    expect(JSON.parse(String(r.calls[0]?.init.body))).toEqual({ ops: [{ op: "create" }] });
    const h = r.calls[0]?.init.headers as Record<string, string>;
    expect(h["Content-Type"]).toBe("application/json");
    expect(h["Idempotency-Key"]).toBe("k1");
    await api.validateSchema("[database]");
    expect((r.calls[1]?.init.headers as Record<string, string>)["Content-Type"]).toBe("application/toml");
    expect(r.calls[1]?.init.body).toBe("[database]");
  });
  test("server errors become ApiError with code, message and details; 401 calls onUnauthorized", async () => {
    const r = recorder(() => json(404, { error: { code: "not_found", message: "no table named 'helth'", details: { table: "helth" } } }));
    const api = new ApiClient({ fetch: r.fetch });
    const e = await api.rows("helth").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 404, code: "not_found", message: "no table named 'helth'", details: { table: "helth" } });
    const onUnauthorized = vi.fn();
    const r2 = recorder(() => json(401, { error: { code: "unauthorized", message: "a token is required", details: {} } }));
    await expect(new ApiClient({ fetch: r2.fetch, onUnauthorized }).metrics()).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(onUnauthorized).toHaveBeenCalledOnce();
  });
  test("network failures and non-JSON answers are ApiErrors too", async () => {
    const failing = vi.fn(async () => {
      throw new TypeError("fetch failed");
    }) as unknown as typeof fetch;
    await expect(new ApiClient({ fetch: failing }).health()).rejects.toMatchObject({ status: 0, code: "network" });
    const html = recorder(() => new Response("<html>oops</html>", { status: 502, statusText: "Bad Gateway" }));
    await expect(new ApiClient({ fetch: html.fetch }).health()).rejects.toMatchObject({ status: 502, code: "http", message: "HTTP 502 Bad Gateway: <html>oops</html>" });
    const garbage = recorder(() => new Response("not json", { status: 200 }));
    await expect(new ApiClient({ fetch: garbage.fetch }).health()).rejects.toMatchObject({ code: "http" });
  });
  test("buildQuery skips empty values", () => {
    expect(buildQuery({ a: null, b: undefined, c: "", d: [], e: 0 })).toBe("?e=0");
    expect(buildQuery({})).toBe("");
  });
  test("error helpers", () => {
    expect(errorFromResponse(500, "", "").message).toBe("HTTP 500");
    expect(new ApiError(409, "conflict", "busy").describe()).toBe("busy (conflict, HTTP 409)");
    expect(toApiError(new Error("x"))).toMatchObject({ code: "network" });
    expect(toApiError(new DOMException("stop", "AbortError"))).toMatchObject({ code: "aborted" });
  });
});

class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  constructor(readonly url: string, readonly protocols: string[]) {
    FakeSocket.all.push(this);
  }
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  receive(m: unknown): void {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(m) }));
  }
  drop(): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent("close", { code: 1006, reason: "" }));
  }
}

describe("ChangeStream", () => {
  test("URL and subprotocols: the token is a subprotocol, never in the URL", () => {
    expect(streamUrl("https://h:8", ["health", "transform"], ["health.hp<5"], 7)).toBe("wss://h:8/api/stream?tables=health%2Ctransform&where=health.hp%3C5&since=7");
    expect(streamProtocols("tok")).toEqual(["ecsdb", "bearer.tok"]);
    expect(streamProtocols(null)).toEqual(["ecsdb"]);
  });
  test("state=none: in the URL (first open and each resume) and in subscribe messages; full is the server's default, left out", () => {
    expect(streamUrl("http://h:1", ["health"], [], 7, "none")).toBe("ws://h:1/api/stream?tables=health&since=7&state=none");
    expect(streamUrl("http://h:1", ["health"], [], null, "full")).toBe("ws://h:1/api/stream?tables=health");
    vi.useFakeTimers();
    FakeSocket.all = [];
    const s = new ChangeStream({ baseUrl: "http://h:1", tables: ["health"], since: 3, state: "none", onMessage: () => {}, createSocket: (u, p) => new FakeSocket(u, p), reconnectMinMs: 10 });
    const first = FakeSocket.all[0]!;
    expect(first.url).toBe("ws://h:1/api/stream?tables=health&since=3&state=none");
    first.open();
    first.receive({ type: "state", version: 9, last: true, tables: {} });
    expect(s.lastVersion).toBe(9);
    s.subscribe({ tables: ["transform"] });
    expect(JSON.parse(first.sent[0] ?? "")).toEqual({ type: "subscribe", state: "none", tables: ["transform"] });
    s.subscribe({ tables: ["transform"], state: "full" });
    expect(JSON.parse(first.sent[1] ?? "")).toMatchObject({ state: "full" });
    first.drop();
    vi.advanceTimersByTime(10);
    expect(FakeSocket.all[1]?.url).toBe("ws://h:1/api/stream?tables=health&since=9&state=none");
    s.close();
    vi.useRealTimers();
  });
  test("delivers messages, remembers the version and resumes from it after a drop", async () => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    const got: StreamMessage[] = [];
    const statuses: string[] = [];
    const s = new ChangeStream({
      baseUrl: "http://h:1",
      token: () => "tok",
      tables: ["health"],
      since: 3,
      onMessage: (m) => got.push(m),
      onStatus: (st) => statuses.push(st),
      createSocket: (u, p) => new FakeSocket(u, p),
      reconnectMinMs: 100,
    });
    const first = FakeSocket.all[0]!;
    expect(first.url).toBe("ws://h:1/api/stream?tables=health&since=3");
    expect(first.protocols).toEqual(["ecsdb", "bearer.tok"]);
    first.open();
    first.receive({ type: "delta", from: 3, version: 4, created: [], destroyed: [], tables: {} });
    first.receive({ nonsense: true });
    expect(got).toHaveLength(1);
    expect(s.lastVersion).toBe(4);
    s.subscribe({ tables: ["transform"] });
    expect(JSON.parse(first.sent[0] ?? "")).toEqual({ type: "subscribe", tables: ["transform"] });
    first.drop();
    vi.advanceTimersByTime(100);
    expect(FakeSocket.all[1]?.url).toBe("ws://h:1/api/stream?tables=health&since=4");
    s.close();
    expect(statuses).toEqual(["connecting", "open", "closed", "connecting", "closed"]);
    vi.useRealTimers();
  });
});
