import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SchemaJson } from "../src/layout.js";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));

export function fixture<T = SchemaJson>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")) as T;
}

/**
 * The bytes of the first code block after `marker` in docs/protocol.md: the leading two-digit hex words of
 * each line (the rest of a line is its description), as tests/server/test_replication.py reads them.
 */
export function docExample(marker: string): Uint8Array {
  const text = readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8");
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`docs/protocol.md has no '${marker}'`);
  const block = text.slice(at).split("```")[1] ?? "";
  const out: number[] = [];
  for (const line of block.split("\n")) {
    for (const word of line.trim().split(/\s+/)) {
      if (!/^[0-9a-f]{2}$/.test(word)) break;
      out.push(parseInt(word, 16));
    }
  }
  return Uint8Array.from(out);
}

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

export function fromHex(s: string): Uint8Array {
  return Uint8Array.from(s.trim().split(/\s+/).filter(Boolean), (w) => parseInt(w, 16));
}

/** A deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `cond` holds (true) or the time is up (false). */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await sleep(stepMs);
  }
  return cond();
}
