// Runs a real `ecsdb serve` for the live tests: in memory, on a free port read from its log.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const PACKAGE_DIR = fileURLToPath(new URL("../", import.meta.url));
export const REPO_DIR = resolve(PACKAGE_DIR, "../..");

/** The ecsdb binary: $ECSDB_BIN (a relative path from the working directory), else ../../build/ecsdb. */
export function ecsdbBin(): string {
  const env = process.env["ECSDB_BIN"];
  return env !== undefined && env !== "" ? resolve(env) : resolve(REPO_DIR, "build/ecsdb");
}

export function schemaPath(name: string): string {
  return resolve(REPO_DIR, "examples/schemas", name);
}

export interface TxAnswer {
  version: number;
  created: string[];
  rows: string[];
  durable: boolean;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
  }
}

export class EcsdbServer {
  private log = "";
  private exited: Promise<number | null>;

  private constructor(
    private readonly proc: ChildProcess,
    readonly port: number,
    logSoFar: string,
    exited: Promise<number | null>,
  ) {
    this.log = logSoFar;
    this.exited = exited;
    proc.stdout?.on("data", (d: Buffer) => (this.log += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (this.log += d.toString()));
  }

  /** `ecsdb serve --schema SCHEMA --http 127.0.0.1:PORT --durability memory`, ready to serve. */
  static async start(schema: string, o: { port?: number; args?: string[] } = {}): Promise<EcsdbServer> {
    const bin = ecsdbBin();
    if (!existsSync(bin)) throw new Error(`${bin} does not exist: build ecsdb first, or point ECSDB_BIN at the binary`);
    const proc = spawn(bin, ["serve", "--schema", schema, "--http", `127.0.0.1:${o.port ?? 0}`, "--durability", "memory", ...(o.args ?? [])], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => {
      proc.on("exit", (code) => resolve(code));
      proc.on("error", () => resolve(null));
    });
    let log = "";
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`ecsdb serve did not log its port within 10 s:\n${log}`)), 10_000);
      const onData = (d: Buffer) => {
        log += d.toString();
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
        if (m !== null) {
          clearTimeout(timer);
          proc.stdout?.off("data", onData);
          proc.stderr?.off("data", onData);
          resolvePort(Number(m[1]));
        }
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", onData);
      proc.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`ecsdb serve exited (${code}) before listening:\n${log}`));
      });
      proc.on("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${bin}: ${e.message}`));
      });
    });
    const server = new EcsdbServer(proc, port, log, exited);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const r = await fetch(`${server.http}/api/health`);
        if (r.status === 200) break;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new Error(`ecsdb serve is not ready after 10 s:\n${server.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return server;
  }

  get http(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.port}/api/replication`;
  }

  get output(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const r = await fetch(`${this.http}${path}`, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await r.json()) as unknown;
    if (!r.ok) throw new HttpError(r.status, json);
    return json;
  }

  tx(ops: unknown[]): Promise<TxAnswer> {
    return this.request("POST", "/api/transactions", { ops }) as Promise<TxAnswer>;
  }

  async version(): Promise<number> {
    return ((await this.request("GET", "/api/health")) as { version: number }).version;
  }

  /** Every row of a table at one version (paged with version=), and that version. */
  async rows(table: string): Promise<{ version: number; rows: { key: string; owner?: string | null; values: Record<string, unknown> }[] }> {
    type Page = { version: number; rows: { key: string; owner?: string | null; values: Record<string, unknown> }[]; next: string | null };
    let page = (await this.request("GET", `/api/tables/${table}/rows?limit=1000`)) as Page;
    const version = page.version;
    const rows = [...page.rows];
    while (page.next !== null) {
      page = (await this.request("GET", `/api/tables/${table}/rows?limit=1000&version=${version}&after=${encodeURIComponent(page.next)}`)) as Page;
      if (page.version !== version) throw new Error(`page of version ${page.version}, not ${version}`);
      rows.push(...page.rows);
    }
    return { version, rows };
  }
}

/**
 * What the WebSocket upgrade to /api/replication answers: "open" (the server speaks the protocol over
 * WebSocket), or the HTTP status that refused it.
 */
export function probeReplication(url: string): Promise<{ open: true; protocol: string } | { open: false; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ["ecsdb-repl"]);
    ws.on("open", () => {
      const protocol = ws.protocol;
      ws.close();
      resolve({ open: true, protocol });
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ open: false, status: res.statusCode ?? 0, body }));
    });
    ws.on("error", (e) => reject(e));
  });
}
