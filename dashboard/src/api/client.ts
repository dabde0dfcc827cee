// The only code that talks HTTP to `ecsdb serve` (the change stream is in stream.ts). Typed by the
// generated OpenAPI types; every failure is an ApiError. The token goes in the Authorization header and
// nowhere else: never in a URL.
import { ApiError, errorFromResponse, toApiError } from "./errors";
import type {
  EntityView,
  Health,
  Info,
  Metrics,
  Op,
  QueryRequest,
  QueryResult,
  ReplicationClients,
  RowsPage,
  RowsParams,
  SchemaDocument,
  SchemaValidation,
  SnapshotResult,
  TableList,
  TransactionResult,
  WhoAmI,
} from "./types";

export interface ApiClientOptions {
  /** Origin (and optional path prefix) of the server; "" = the page's own origin. */
  baseUrl?: string;
  /** The bearer token to send, read at each request; null or "" = none. */
  token?: () => string | null;
  /** Called with every 401 answer before it is thrown (the auth store shows the login form). */
  onUnauthorized?: (error: ApiError) => void;
  fetch?: typeof fetch;
}

type Query = Record<string, string | number | string[] | null | undefined>;

/** `?a=1&where=x&where=y`, skipping null/undefined/empty values; arrays repeat the key. */
export function buildQuery(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) {
      for (const v of value) if (v !== "") params.append(key, v);
    } else if (value !== "") {
      params.append(key, String(value));
    }
  }
  const s = params.toString();
  return s === "" ? "" : `?${s}`;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export class ApiClient {
  private readonly baseUrl: string;
  private readonly token: () => string | null;
  private readonly onUnauthorized: ((error: ApiError) => void) | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? "").replace(/\/+$/, "");
    this.token = options.token ?? (() => null);
    this.onUnauthorized = options.onUnauthorized;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The absolute or origin-relative URL of an API path. */
  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { Accept: "application/json", ...extra };
    const token = this.token();
    if (token !== null && token !== "") headers["Authorization"] = `Bearer ${token}`;
    return headers;
  }

  private async send(method: "GET" | "POST", path: string, init: { body?: string; contentType?: string; headers?: Record<string, string>; signal?: AbortSignal | undefined } = {}): Promise<Response> {
    const extra: Record<string, string> = { ...(init.headers ?? {}) };
    if (init.contentType !== undefined) extra["Content-Type"] = init.contentType;
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path), {
        method,
        headers: this.headers(extra),
        body: init.body,
        signal: init.signal,
        credentials: "omit",
      });
    } catch (e) {
      throw toApiError(e);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      const error = errorFromResponse(response.status, response.statusText, text);
      if (response.status === 401) this.onUnauthorized?.(error);
      throw error;
    }
    return response;
  }

  private async json<T>(method: "GET" | "POST", path: string, init: { body?: string; contentType?: string; headers?: Record<string, string>; signal?: AbortSignal | undefined } = {}): Promise<T> {
    const response = await this.send(method, path, init);
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(response.status, "http", `the server's answer to ${method} ${path} is not JSON`);
    }
  }

  private post<T>(path: string, body: unknown, o: RequestOptions & { headers?: Record<string, string> } = {}): Promise<T> {
    return this.json<T>("POST", path, { body: JSON.stringify(body), contentType: "application/json", headers: o.headers ?? {}, signal: o.signal });
  }

  health(o: RequestOptions = {}): Promise<Health> {
    return this.json("GET", "/api/health", { signal: o.signal });
  }

  info(o: RequestOptions = {}): Promise<Info> {
    return this.json("GET", "/api/info", { signal: o.signal });
  }

  schema(o: RequestOptions = {}): Promise<SchemaDocument> {
    return this.json("GET", "/api/schema", { signal: o.signal });
  }

  /** Validates a schema's TOML text (nothing changes on the server). */
  validateSchema(toml: string, o: RequestOptions = {}): Promise<SchemaValidation> {
    return this.json("POST", "/api/schema/validate", { body: toml, contentType: "application/toml", signal: o.signal });
  }

  tables(version: number | null = null, o: RequestOptions = {}): Promise<TableList> {
    return this.json("GET", `/api/tables${buildQuery({ version })}`, { signal: o.signal });
  }

  rows(table: string, p: RowsParams = {}, o: RequestOptions = {}): Promise<RowsPage> {
    const query = buildQuery({
      limit: p.limit,
      after: p.after,
      where: p.where,
      sort: p.sort,
      fields: p.fields !== undefined && p.fields.length > 0 ? p.fields.join(",") : undefined,
      version: p.version,
    });
    return this.json("GET", `/api/tables/${encodeURIComponent(table)}/rows${query}`, { signal: o.signal });
  }

  entity(id: string, version: number | null = null, o: RequestOptions = {}): Promise<EntityView> {
    return this.json("GET", `/api/entities/${encodeURIComponent(id)}${buildQuery({ version })}`, { signal: o.signal });
  }

  /** Commits the ops as one transaction (all or nothing). */
  transaction(ops: Op[], o: RequestOptions & { idempotencyKey?: string } = {}): Promise<TransactionResult> {
    const headers: Record<string, string> = o.idempotencyKey !== undefined ? { "Idempotency-Key": o.idempotencyKey } : {};
    return this.post("/api/transactions", { ops }, { headers, ...(o.signal !== undefined ? { signal: o.signal } : {}) });
  }

  query(request: QueryRequest, o: RequestOptions = {}): Promise<QueryResult> {
    return this.post("/api/query", request, o);
  }

  metrics(o: RequestOptions = {}): Promise<Metrics> {
    return this.json("GET", "/api/metrics", { signal: o.signal });
  }

  /** The caller's role (read, write, admin) and token name: what the server will allow this token. */
  whoami(o: RequestOptions = {}): Promise<WhoAmI> {
    return this.json("GET", "/api/whoami", { signal: o.signal });
  }

  replicationClients(o: RequestOptions = {}): Promise<ReplicationClients> {
    return this.json("GET", "/api/replication/clients", { signal: o.signal });
  }

  snapshot(o: RequestOptions = {}): Promise<SnapshotResult> {
    return this.json("POST", "/api/snapshot", { signal: o.signal });
  }

  /** The Prometheus text exposition of /metrics. */
  async prometheus(o: RequestOptions = {}): Promise<string> {
    const response = await this.send("GET", "/metrics", { signal: o.signal });
    return response.text();
  }
}
