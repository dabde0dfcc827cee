// Dashboard performance, measured in Debian's chromium (playwright-core, headless) against real
// `ecsdb serve` processes on loopback. Not a test: it asserts nothing, it prints what it measured beside the
// goals and writes it to build/dashboard-perf.json (docs/benchmarks.md "Dashboard" reports it).
//
//   (a) first load of the overview until live numbers are shown: median of PERF_LOADS loads, each in a fresh
//       browser context (an empty HTTP cache);
//   (b) a 1M-row table (--simulate 1000000): how long the world takes to populate, how many rows a second
//       the simulation changes, and the time from navigating to /data/transform to its first page of rows;
//   (c) the virtualised rows grid scrolled for PERF_SCROLL_S seconds while the change stream flows, frame
//       times from requestAnimationFrame: on the 1M-row world, and on a world changing ~10k rows a second;
//   (d) the JavaScript bundle: dist/assets/*.js, each gzipped with zlib (level 9), summed.
//
// Run with `npm run perf` (or `make dashboard-perf` at the repository root) after the dashboard is built.
// Env: ECSDB_BIN (default ../build/ecsdb), PERF_LOADS (7), PERF_SCROLL_S (5), PERF_OUT, PERF_DIST (another
// build of the dashboard, to compare).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium, type Browser, type Page } from "playwright-core";
import WebSocket from "ws";
import { EcsdbServer, REPO_DIR, schemaPath } from "../test/ecsdb-server.js";

const CHROMIUM = "/usr/bin/chromium";
const DIST = resolve(process.env["PERF_DIST"] ?? join(REPO_DIR, "dashboard/dist"));
const LOADS = Number(process.env["PERF_LOADS"] ?? 7);
const SCROLL_S = Number(process.env["PERF_SCROLL_S"] ?? 5);
const OUT = resolve(process.env["PERF_OUT"] ?? join(REPO_DIR, "build/dashboard-perf.json"));
const VIEWPORT = { width: 1280, height: 800 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

async function metrics(server: EcsdbServer): Promise<{ entities: number; commits_total: number; uptime_seconds: number }> {
  return (await (await fetch(`${server.http}/api/metrics`)).json()) as { entities: number; commits_total: number; uptime_seconds: number };
}

/** Rows changed per second in each table, counted from the change stream over `seconds`. */
async function changeRate(server: EcsdbServer, tables: string[], seconds: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = Object.fromEntries(tables.map((t) => [t, 0]));
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/stream?tables=${tables.join(",")}`, ["ecsdb"], { origin: server.http });
  let first = 0;
  let last = 0;
  ws.on("message", (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { type: string; tables?: Record<string, { inserted: unknown[]; updated: unknown[]; removed: unknown[] }> };
    if (m.type !== "delta" || m.tables === undefined) return;
    const now = performance.now();
    if (first === 0) {
      first = now; // the first delta starts the clock: what it carries happened before it
      return;
    }
    last = now;
    for (const [t, d] of Object.entries(m.tables)) counts[t] = (counts[t] ?? 0) + d.inserted.length + d.updated.length + d.removed.length;
  });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  ws.close();
  const span = (last - first) / 1000;
  return Object.fromEntries(Object.entries(counts).map(([t, n]) => [t, span > 0 ? Math.round(n / span) : 0]));
}

/** (a) Navigation start → the overview's Entities card shows the server's count, in a cold context. */
async function firstLoad(browser: Browser, server: EcsdbServer): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const ctx = await browser.newContext({ viewport: VIEWPORT });
    const page = await ctx.newPage();
    await page.goto(`${server.http}/`, { waitUntil: "commit" });
    const shown = await page.waitForFunction(
      () => {
        const card = [...document.querySelectorAll(".stat")].find((c) => c.querySelector(".label")?.textContent?.trim() === "Entities");
        const value = Number((card?.querySelector(".value")?.textContent ?? "").replace(/[^\d]/g, ""));
        return value > 0 ? performance.now() : false;
      },
      undefined,
      { polling: "raf", timeout: 30_000 },
    );
    times.push(round(Number(await shown.jsonValue())));
    await ctx.close();
  }
  return times;
}

/** Resolves with performance.now() in the page at the frame the grid first shows a row of data. */
function firstRowShown(page: Page): Promise<number> {
  return page
    .waitForFunction(() => (document.querySelector(".rows-grid .line[role=row] a") !== null ? performance.now() : false), undefined, {
      polling: "raf",
      timeout: 60_000,
    })
    .then(async (h) => Number(await h.jsonValue()));
}

/** (b) The data view of `table`: from a cold navigation, and from the overview through the in-app link. */
async function firstPage(browser: Browser, server: EcsdbServer, table: string): Promise<{ cold_ms: number[]; in_app_ms: number[] }> {
  const cold: number[] = [];
  const inApp: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const ctx = await browser.newContext({ viewport: VIEWPORT });
    const page = await ctx.newPage();
    await page.goto(`${server.http}/data/${table}`, { waitUntil: "commit" });
    cold.push(round(await firstRowShown(page)));
    // in the app already (its code loaded): back to the overview, then the Data view's router link
    await page.goto(`${server.http}/`);
    await page.locator(".stat .value").first().waitFor();
    await page.waitForTimeout(300);
    const start = await page.evaluate(() => performance.now());
    await page.evaluate((t) => {
      history.pushState({}, "", `/data/${t}`);
      dispatchEvent(new PopStateEvent("popstate", { state: history.state }));
    }, table);
    inApp.push(round((await firstRowShown(page)) - start));
    await ctx.close();
  }
  return { cold_ms: cold, in_app_ms: inApp };
}

interface ScrollResult {
  frames: number;
  median_fps: number;
  p95_frame_ms: number;
  p99_frame_ms: number;
  max_frame_ms: number;
  long_frames_over_50ms: number;
  rows_loaded: number;
  flashes_seen: number;
  live_versions_seen: number;
  /** Main-thread CPU per second of scrolling (Chrome's Performance domain): less sensitive to a busy machine than frame times. */
  main_thread_ms_per_s: { task: number; script: number; layout: number; style: number };
}

/** (c) Scrolls the data view of `table` for SCROLL_S seconds with the stream live; frame times via rAF. */
async function scroll(browser: Browser, server: EcsdbServer, table: string, query = ""): Promise<ScrollResult> {
  const ctx = await browser.newContext({ viewport: VIEWPORT });
  const page = await ctx.newPage();
  await page.goto(`${server.http}/data/${table}${query}`);
  await page.locator(".rows-grid .line[role=row] a").first().waitFor({ timeout: 60_000 });
  await page.getByRole("status").filter({ hasText: "live: open" }).waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1000); // the stream's first deltas in
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Performance.enable");
  const cpu = async () => {
    const { metrics: m } = await cdp.send("Performance.getMetrics");
    const get = (name: string) => m.find((x) => x.name === name)?.value ?? 0;
    return { task: get("TaskDuration"), script: get("ScriptDuration"), layout: get("LayoutDuration"), style: get("RecalcStyleDuration") };
  };
  const before = await cpu();
  const r = await page.evaluate(async (seconds) => {
    const scroller = document.querySelector<HTMLElement>(".rows-grid .scroller")!;
    const stamps: number[] = [];
    let flashes = 0;
    const versions = new Set<string>();
    const status = () => document.querySelector("p.dim[role=status]")?.textContent ?? "";
    await new Promise<void>((done) => {
      const end = performance.now() + seconds * 1000;
      const step = (t: number) => {
        stamps.push(t);
        // ~3000 px/s at 60 fps, a steady fling; back to the top at the end of what is loaded
        if (scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 2) scroller.scrollTop = 0;
        else scroller.scrollTop += 50;
        flashes += scroller.querySelectorAll(".cell.flash").length > 0 ? 1 : 0;
        const live = /live at (\d+)/.exec(status())?.[1];
        if (live !== undefined) versions.add(live);
        if (t < end) requestAnimationFrame(step);
        else done();
      };
      requestAnimationFrame(step);
    });
    const loaded = Number((/^([\d,]+) of/.exec(status().trim())?.[1] ?? "0").replace(/,/g, ""));
    return { stamps, flashes, versions: versions.size, loaded };
  }, SCROLL_S);
  const after = await cpu();
  await ctx.close();
  const perSecond = (k: keyof typeof after) => round(((after[k] - before[k]) * 1000) / SCROLL_S);
  const frames = r.stamps.slice(1).map((t, i) => t - r.stamps[i]!);
  return {
    frames: frames.length,
    median_fps: round(1000 / median(frames)),
    p95_frame_ms: round(percentile(frames, 95)),
    p99_frame_ms: round(percentile(frames, 99)),
    max_frame_ms: round(Math.max(...frames)),
    long_frames_over_50ms: frames.filter((f) => f > 50).length,
    rows_loaded: r.loaded,
    flashes_seen: r.flashes,
    live_versions_seen: r.versions,
    main_thread_ms_per_s: { task: perSecond("task"), script: perSecond("script"), layout: perSecond("layout"), style: perSecond("style") },
  };
}

/** (d) dist/assets/*.js, gzipped one by one (level 9), summed. */
function bundle(): { files: Record<string, number>; js_bytes: number; js_gzip_bytes: number } {
  const dir = join(DIST, "assets");
  const files: Record<string, number> = {};
  let raw = 0;
  let gz = 0;
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".js")).sort()) {
    const data = readFileSync(join(dir, name));
    const g = gzipSync(data, { level: 9 }).length;
    files[name] = g;
    raw += data.length;
    gz += g;
  }
  return { files, js_bytes: raw, js_gzip_bytes: gz };
}

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const out: Record<string, unknown> = {
    started,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "", memory_gib: round(totalmem() / 2 ** 30) },
    loads: LOADS,
    scroll_seconds: SCROLL_S,
    goals: { first_load_ms: 1000, first_page_1m_ms: 300, fps_at_10k_rows_per_s: 60, bundle_gzip_bytes: 500_000 },
  };
  const log = (s: string) => console.log(`perf: ${s}`);

  out["bundle"] = bundle();
  log(`bundle: ${(out["bundle"] as { js_gzip_bytes: number }).js_gzip_bytes} B of JS gzipped`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], headless: true });
  try {
    // (a) and the ~10k rows/s world: 500 entities at 20 ticks/s, each tick moving everyone (transform)
    let world = await EcsdbServer.start(schemaPath("game.toml"), ["--simulate", "500", "--dashboard", DIST]);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const loads = await firstLoad(browser, world);
      out["first_load"] = { samples_ms: loads, median_ms: median(loads) };
      log(`first load, overview with live numbers: median ${median(loads)} ms of ${loads.join(", ")}`);
      const rate = await changeRate(world, ["transform", "health"], 5);
      const fps = await scroll(browser, world, "transform", "?limit=1000");
      out["scroll_10k"] = { simulate: 500, rows_changed_per_second: rate, ...fps };
      log(`scroll, 500-entity world (${JSON.stringify(rate)} rows/s): ${JSON.stringify(fps)}`);
    } finally {
      await world.stop();
    }

    // (b) and (c) on 1M rows
    const t0 = performance.now();
    world = await EcsdbServer.start(schemaPath("game.toml"), ["--simulate", "1000000", "--dashboard", DIST]);
    try {
      const listening = performance.now() - t0;
      for (;;) {
        const m = await metrics(world);
        if (m.entities >= 1_000_000 && m.commits_total > 1) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const populated = performance.now() - t0;
      const a = await metrics(world);
      await new Promise((r) => setTimeout(r, 5000));
      const b = await metrics(world);
      const ticks = (b.commits_total - a.commits_total) / (b.uptime_seconds - a.uptime_seconds);
      const rate = await changeRate(world, ["transform", "health"], 5);
      const api: number[] = [];
      for (let i = 0; i < LOADS; i++) {
        const s = performance.now();
        await (await fetch(`${world.http}/api/tables/transform/rows?limit=200`)).json();
        api.push(round(performance.now() - s));
      }
      const page = await firstPage(browser, world, "transform");
      out["million"] = {
        simulate: 1_000_000,
        listening_ms: round(listening),
        populated_ms: round(populated),
        ticks_per_second: round(ticks, 2),
        rows_changed_per_second: rate,
        api_first_page_ms: { samples: api, median: median(api) },
        first_page_cold_ms: { samples: page.cold_ms, median: median(page.cold_ms) },
        first_page_in_app_ms: { samples: page.in_app_ms, median: median(page.in_app_ms) },
      };
      log(`1M world: populated after ${round(populated)} ms, ${round(ticks, 2)} ticks/s, rows changed/s ${JSON.stringify(rate)}`);
      log(`1M first page: API ${median(api)} ms; cold navigation ${median(page.cold_ms)} ms; in-app ${median(page.in_app_ms)} ms`);
      const fps = await scroll(browser, world, "transform");
      out["scroll_1m"] = { simulate: 1_000_000, ...fps };
      log(`scroll, 1M world: ${JSON.stringify(fps)}`);
    } finally {
      await world.stop();
    }
  } finally {
    await browser.close();
  }
  mkdirSync(resolve(OUT, ".."), { recursive: true });
  writeFileSync(OUT, JSON.stringify(out, null, 2) + "\n");
  log(`wrote ${OUT}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
