// Runs a real `ecsdb serve` for the live tests: in memory, on a free port read from its log.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

// Vitest runs from dashboard/ (test.sh cds there); import.meta.url is not a file URL under happy-dom.
export const REPO_DIR = resolve(process.cwd(), "..");

/** The ecsdb binary: $ECSDB_BIN, else ../build/ecsdb. */
export function ecsdbBin(): string {
  const env = process.env["ECSDB_BIN"];
  return env !== undefined && env !== "" ? resolve(env) : resolve(REPO_DIR, "build/ecsdb");
}

export function schemaPath(name: string): string {
  return resolve(REPO_DIR, "examples/schemas", name);
}

export class EcsdbServer {
  private log = "";

  private constructor(
    private readonly proc: ChildProcess,
    readonly port: number,
    private readonly exited: Promise<void>,
  ) {
    proc.stdout?.on("data", (d: Buffer) => (this.log += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (this.log += d.toString()));
  }

  static async start(schema: string, args: string[] = []): Promise<EcsdbServer> {
    const bin = ecsdbBin();
    if (!existsSync(bin)) throw new Error(`${bin} does not exist: build ecsdb first, or point ECSDB_BIN at the binary`);
    const proc = spawn(bin, ["serve", "--schema", schema, "--http", "127.0.0.1:0", "--durability", "memory", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ECSDB_ACCESS_LOG: "false" },
    });
    const exited = new Promise<void>((r) => proc.on("exit", () => r()));
    let log = "";
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`ecsdb serve did not log its port within 10 s:\n${log}`)), 10_000);
      const onData = (d: Buffer) => {
        log += d.toString();
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
        if (m !== null) {
          clearTimeout(timer);
          resolvePort(Number(m[1]));
        }
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", onData);
      proc.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`ecsdb serve exited (${code}) before listening:\n${log}`));
      });
    });
    const server = new EcsdbServer(proc, port, exited);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if ((await fetch(`${server.http}/api/health`)).status === 200) break;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new Error(`ecsdb serve is not ready after 10 s:\n${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return server;
  }

  get http(): string {
    return `http://127.0.0.1:${this.port}`;
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
}
