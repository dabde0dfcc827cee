// The change stream (`GET /api/stream`, a WebSocket; docs/server.md "The change stream"). Browsers cannot
// set headers on a WebSocket, so the token is offered as the subprotocol "bearer.<token>" beside "ecsdb":
// it never goes in the URL. Reconnects with backoff and resumes with `since` = the last version seen.
import type { StreamMessage, StreamStart, SubscribeMessage } from "./types";

/** The part of the WebSocket API this module uses (the browser's, or the `ws` package's in Node tests). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = (url: string, protocols: string[]) => WebSocketLike;

export type StreamStatus = "connecting" | "open" | "closed";

export interface ChangeStreamOptions {
  /** http(s) base of the server ("" = this page's origin). */
  baseUrl?: string;
  token?: () => string | null;
  tables?: string[];
  where?: string[];
  /** Resume after this version (deltas only while the server still holds them). */
  since?: number | null;
  /**
   * How the stream starts when it does not resume with deltas: `full` (the server's default) sends the rows
   * of the followed tables; `none` sends one `state` without rows (`tables: {}`, `last: true`) naming the
   * version the deltas start from, for a client that reads the rows itself. Also sent with `subscribe`.
   */
  state?: StreamStart;
  onMessage: (message: StreamMessage) => void;
  onStatus?: (status: StreamStatus, detail?: string) => void;
  createSocket?: WebSocketFactory;
  /** Reconnect delays (ms), doubled from min up to max. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** The ws(s):// URL of the stream for an http(s) base ("" = location's origin). No token in it. */
export function streamUrl(baseUrl: string, tables: string[], where: string[], since: number | null, state: StreamStart = "full"): string {
  const base = baseUrl !== "" ? baseUrl : globalThis.location.origin;
  const url = new URL("/api/stream", base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (tables.length > 0) url.searchParams.set("tables", tables.join(","));
  for (const w of where) url.searchParams.append("where", w);
  if (since !== null) url.searchParams.set("since", String(since));
  if (state !== "full") url.searchParams.set("state", state);
  return url.toString();
}

/** The subprotocols to offer: "ecsdb", then the token as "bearer.<token>" when there is one. */
export function streamProtocols(token: string | null): string[] {
  return token !== null && token !== "" ? ["ecsdb", `bearer.${token}`] : ["ecsdb"];
}

function isStreamMessage(v: unknown): v is StreamMessage {
  if (typeof v !== "object" || v === null) return false;
  const type = (v as { type?: unknown }).type;
  return type === "state" || type === "delta" || type === "error";
}

export class ChangeStream {
  private socket: WebSocketLike | null = null;
  private stopped = false;
  private delay: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The version of the last state or delta received; used as `since` when reconnecting. */
  lastVersion: number | null;

  constructor(private readonly options: ChangeStreamOptions) {
    this.lastVersion = options.since ?? null;
    this.delay = options.reconnectMinMs ?? 500;
    this.open();
  }

  private open(): void {
    const o = this.options;
    const url = streamUrl(o.baseUrl ?? "", o.tables ?? [], o.where ?? [], this.lastVersion, o.state ?? "full");
    const create: WebSocketFactory = o.createSocket ?? ((u, p) => new WebSocket(u, p));
    o.onStatus?.("connecting");
    const socket = create(url, streamProtocols(o.token?.() ?? null));
    this.socket = socket;
    socket.onopen = () => {
      this.delay = o.reconnectMinMs ?? 500;
      o.onStatus?.("open");
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== "string") return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!isStreamMessage(parsed)) return;
      if (parsed.type === "state" || parsed.type === "delta") this.lastVersion = parsed.version;
      o.onMessage(parsed);
    };
    socket.onerror = () => {
      // onclose follows and reconnects
    };
    socket.onclose = (ev: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      o.onStatus?.("closed", ev.reason !== "" ? ev.reason : `closed (${ev.code})`);
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.stopped) this.open();
      }, this.delay);
      this.delay = Math.min(this.delay * 2, o.reconnectMaxMs ?? 10_000);
    };
  }

  /** Replaces the subscription (the server answers with a new state); `state` defaults to the stream's own. */
  subscribe(message: Omit<SubscribeMessage, "type">): void {
    if (this.socket !== null && this.socket.readyState === 1) {
      const state = this.options.state !== undefined && this.options.state !== "full" ? { state: this.options.state } : {};
      this.socket.send(JSON.stringify({ type: "subscribe", ...state, ...message }));
    }
  }

  close(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "closed by the dashboard");
    this.options.onStatus?.("closed");
  }
}
