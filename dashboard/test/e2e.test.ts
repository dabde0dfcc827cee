// End to end in a real browser: Debian's chromium (/usr/bin/chromium), headless, driven by playwright-core,
// against a real `ecsdb serve` ($ECSDB_BIN) running the simulated game world (--simulate 300) and serving
// the built dashboard (dashboard/dist, which dashboard/test.sh builds when it is missing or stale). A
// second server (the showcase schema, with its structs) with a write and a read token checks the login,
// the read token's read-only views, the struct layouts and the data view's missed-changes notice. Every view is checked with axe-core (@axe-core/playwright):
// no serious or critical WCAG 2.1 A/AA violation in the light theme, and no contrast violation in the dark
// one. Screenshots of every view go to build/dashboard-e2e/. Skipped, with a message saying why, only when
// /usr/bin/chromium is absent (scripts/install-deps.sh installs it).
// @vitest-environment node
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";
import { REPO_DIR, EcsdbServer, schemaPath } from "./ecsdb-server";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const DIST = resolve(REPO_DIR, "dashboard/dist");
const SHOTS = resolve(REPO_DIR, "build/dashboard-e2e");
const TOKEN = "e2e-write-secret-7f3a";
const READ_TOKEN = "e2e-read-secret-51c9";

if (!HAVE_CHROMIUM) {
  console.warn(`e2e: SKIPPED: ${CHROMIUM} is absent (Debian's package "chromium": apt-get install chromium, or scripts/install-deps.sh)`);
}

/** The number a stat card shows ("1,234" → 1234). */
function count(text: string): number {
  return Number(text.replace(/[^\d]/g, ""));
}

/** The newest modification time of the files under a directory. */
function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
    const path = join(dir, e.name);
    return Math.max(m, e.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }, 0);
}

/** For tests that run axe on several pages: each run takes 1–6 s on the 2-core machine, more when it is busy. */
const AXE_TIMEOUT = 90_000;

/** The rules axe checks in the light theme: WCAG 2.0 and 2.1, levels A and AA. */
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/**
 * Runs axe-core on the page as it is and fails on any serious or critical violation, naming each with its
 * elements. `rules` narrows the check (the dark theme reruns color-contrast alone: only colours differ).
 */
async function expectAccessible(view: string, p: Page, rules?: string[]): Promise<void> {
  const builder = new AxeBuilder({ page: p });
  const result = await (rules !== undefined ? builder.withRules(rules) : builder.withTags(AXE_TAGS)).analyze();
  const bad = result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${view}: ${v.impact} ${v.id} (${v.help}): ${v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary ?? ""}`).join(" | ")}`);
  expect(bad).toEqual([]);
}

async function getJson<T>(url: string, token?: string): Promise<T> {
  const r = await fetch(url, { headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} });
  if (!r.ok) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

describe.skipIf(!HAVE_CHROMIUM)("e2e: the dashboard in chromium", () => {
  let world: EcsdbServer;
  let locked: EcsdbServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let dir = "";
  const pageErrors: string[] = [];

  async function shot(name: string, p: Page = page): Promise<void> {
    await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }

  /** A fresh tab that records uncaught errors (a blank page or a crashed view fails the test). */
  async function newPage(ctx: BrowserContext): Promise<Page> {
    const p = await ctx.newPage();
    p.on("pageerror", (e) => pageErrors.push(`${p.url()}: ${e.message}`));
    return p;
  }

  beforeAll(async () => {
    if (!existsSync(join(DIST, "index.html"))) {
      throw new Error(`${DIST}/index.html is missing: build the dashboard first (scripts/build-dashboard.sh; dashboard/test.sh does it itself)`);
    }
    if (newest(resolve(REPO_DIR, "dashboard/src")) > statSync(join(DIST, "index.html")).mtimeMs) {
      console.warn("e2e: dashboard/dist is older than src/: these tests run the old build (scripts/build-dashboard.sh rebuilds it; dashboard/test.sh does)");
    }
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });

    dir = mkdtempSync(join(tmpdir(), "ecsdb-e2e-"));
    const config = join(dir, "serve.toml");
    writeFileSync(config, `[[tokens]]\nname = "e2e"\nrole = "write"\ntoken = "${TOKEN}"\n[[tokens]]\nname = "e2e-reader"\nrole = "read"\ntoken = "${READ_TOKEN}"\n`);
    // Started together; each is kept as it comes up, so afterAll stops what started even if another failed.
    const started = await Promise.allSettled([
      EcsdbServer.start(schemaPath("game.toml"), ["--simulate", "300", "--dashboard", DIST]).then((s) => (world = s)),
      // the showcase schema: its structs (Vec3, Quat, Aabb, DamageRoll) for the schema view's layouts
      EcsdbServer.start(schemaPath("showcase.toml"), ["--config", config, "--dashboard", DIST]).then((s) => (locked = s)),
      chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], headless: true }).then((b) => (browser = b)),
    ]);
    for (const r of started) if (r.status === "rejected") throw r.reason;
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
    page = await newPage(context);
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([world?.stop(), locked?.stop()]);
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
    expect(pageErrors).toEqual([]);
  });

  test("overview: the live entity count, and a committed version that goes up", async () => {
    await page.goto(`${world.http}/`);
    const card = (label: string) => page.locator(".stat").filter({ has: page.locator(".label", { hasText: new RegExp(`^${label}$`) }) }).locator(".value");
    await expect.poll(async () => count(await card("Entities").innerText())).toBe(300);
    const metrics = await getJson<{ entities: number }>(`${world.http}/api/metrics`);
    expect(metrics.entities).toBe(300);
    const first = count(await card("Committed version").innerText());
    expect(first).toBeGreaterThan(0);
    // the simulation commits 20 ticks a second; the overview polls every second
    await expect.poll(async () => count(await card("Committed version").innerText()), { timeout: 5000 }).toBeGreaterThan(first);
    await expect.poll(async () => page.locator('table[aria-label="Tables"] tbody tr').count()).toBe(3);
    await expect.poll(async () => page.getByRole("status").filter({ hasText: "ok" }).count()).toBeGreaterThan(0);
    // commit latency from the queue: the simulation's ticks count there (the HTTP figure counts only
    // POST /api/transactions, none here, so its card is not shown); stream lag beside it
    const latency = page.locator(".stat").filter({ has: page.locator(".label", { hasText: /^Commit latency p50 \/ p99$/ }) });
    await expect.poll(async () => count((await latency.locator(".hint").innerText()).match(/([\d,]+) transactions/)?.[1] ?? "0")).toBeGreaterThan(0);
    expect(await latency.locator(".value").innerText()).toMatch(/^\d.* \/ \d/);
    expect(await page.locator(".stat .label", { hasText: /^HTTP commit latency/ }).count()).toBe(0);
    await page.locator(".stat .label", { hasText: /^Stream lag p50 \/ p99$/ }).waitFor();
    await shot("overview");
    await expectAccessible("overview", page);
  });

  test("theme: the toggle switches dark and light, and the choice outlives a reload", async () => {
    const theme = () => page.evaluate(() => document.documentElement.dataset["theme"]);
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(await theme()).toBe("light"); // the system's (the context prefers light)
    const light = await background();
    await page.getByRole("button", { name: "Switch to dark theme" }).click();
    expect(await theme()).toBe("dark");
    expect(await background()).not.toBe(light);
    expect(await page.evaluate(() => localStorage.getItem("ecsdb.theme"))).toBe("dark");
    await page.reload();
    await page.getByRole("button", { name: "Switch to light theme" }).waitFor();
    expect(await theme()).toBe("dark");
    await page.locator(".stat .value").first().waitFor();
    await shot("overview-dark");
    await page.getByRole("button", { name: "Switch to light theme" }).click();
    expect(await theme()).toBe("light");
    expect(await background()).toBe(light);
  });

  test("keyboard: g d opens the data view, g o the overview, ? the help", async () => {
    await page.goto(`${world.http}/`);
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.keyboard.press("g");
    await page.keyboard.press("d");
    await page.waitForURL(/\/data\/\w+/);
    await page.getByRole("heading", { name: "Data", exact: true }).waitFor();
    await page.keyboard.press("g");
    await page.keyboard.press("o");
    await page.waitForURL((u) => u.pathname === "/");
    await page.keyboard.press("?");
    await page.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
    await page.keyboard.press("Escape");
    await expect.poll(() => page.getByRole("dialog").count()).toBe(0);
  });

  test("data: paged by scrolling, sorted by a header click, filtered, as the server answers", async () => {
    // live off: the loaded values stay those of the read version, so their order can be checked
    await page.goto(`${world.http}/data/health?limit=50&live=0`);
    const loaded = page.getByRole("status").filter({ hasText: /rows loaded, read at version \d+/ });
    await page.getByText(/^50 of 300 rows loaded/).waitFor();
    const hpColumn = async () => {
      const names = await page.locator('.rows-grid [role=columnheader]').allInnerTexts();
      const i = names.findIndex((n) => /^hp\b/.test(n.trim()));
      expect(i).toBeGreaterThan(0);
      const texts = await page.locator(`.rows-grid .line[role=row] > [role=gridcell]:nth-child(${i + 1})`).allInnerTexts();
      return texts.map(Number);
    };
    // a click on the header sorts ascending, a second descending: the server's order, in the URL
    await page.getByRole("button", { name: "hp", exact: true }).click();
    await page.waitForURL(/sort=hp/);
    await page.getByText(/^50 of 300 rows loaded.*sorted by hp$/).waitFor();
    const up = await hpColumn();
    expect(up.length).toBeGreaterThan(10);
    expect(up).toEqual([...up].sort((a, b) => a - b));
    await page.getByRole("button", { name: "hp ▲" }).click();
    await page.waitForURL(/sort=-hp/);
    await page.getByText(/^50 of 300 rows loaded.*sorted by -hp$/).waitFor();
    const down = await hpColumn();
    expect(down).toEqual([...down].sort((a, b) => b - a));
    // paging: End moves to the last loaded row, and reaching it reads the next page at the same version
    const version = (await loaded.innerText()).match(/version (\d+)/)?.[1];
    await page.locator(".rows-grid .scroller").focus();
    await page.keyboard.press("End");
    await page.getByText(new RegExp(`^100 of 300 rows loaded, read at version ${version}\\b`)).waitFor();
    await page.keyboard.press("End");
    await page.getByText(/^150 of 300 rows loaded/).waitFor();
    // a filter typed in the box: the server's answer, every loaded row inside it
    await page.getByLabel("Filter rows").fill("hp<100");
    await page.keyboard.press("Enter");
    await page.waitForURL(/where=hp%3C100/);
    await page.getByRole("button", { name: "Remove filter hp<100" }).waitFor();
    await expect.poll(async () => (await loaded.innerText()).match(/of (\d+) rows/)?.[1]).not.toBe("300");
    const filtered = await hpColumn();
    expect(filtered.every((hp) => hp < 100)).toBe(true);
    await shot("data-paged-filtered");
  });

  let entity = "";
  test("data: health's rows, live, with changed cells highlighted", async () => {
    // sorted by hp, highest first: the entity edited next is the one least likely to die meanwhile
    await page.goto(`${world.http}/data/health?sort=-hp`);
    const rows = page.locator(".rows-grid .line[role=row]");
    await expect.poll(() => rows.count()).toBeGreaterThan(10);
    await page.getByRole("status").filter({ hasText: "live: open" }).waitFor();
    await expect(page.getByRole("columnheader", { name: /hp ▼/ }).count()).resolves.toBe(1);
    await page.getByText(/of 300 rows loaded, read at version \d+/).waitFor();
    // the simulated fights and heals change hp: the changed cell is highlighted (for 1.5 s)
    const flash = page.locator(".rows-grid .cell.flash");
    await flash.first().waitFor({ timeout: 10_000 });
    expect(await page.getByText(/live at \d+/).count()).toBe(1);
    await shot("data-health");
    await expectAccessible("data", page);
    entity = (await rows.first().locator("a").innerText()).trim();
    expect(entity).toMatch(/^\d+:\d+$/);
  });

  let maxHp = 0;
  test("entity inspector: opened from a row; a saved field commits, as the API shows", async () => {
    // The simulated fights kill an entity with 100 hp within seconds now and then; this and the query
    // test below need it alive, so it gets hp no fight can take in the test's time (5-44 per hit).
    const protect = await fetch(`${world.http}/api/transactions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ops: [{ op: "set", table: "health", entity, field: "hp", value: 1_000_000 }] }),
    });
    expect(protect.status, await protect.text()).toBe(200);
    await page.locator(".rows-grid").getByRole("link", { name: entity, exact: true }).first().click();
    await page.waitForURL(new RegExp(`/entities/${entity}$`));
    await page.getByRole("heading", { name: `Entity ${entity}` }).waitFor();
    const input = page.locator("#c-health-max_hp");
    await input.waitFor();
    const before = Number(await input.inputValue());
    const after = before + 1000;
    await input.fill(String(after));
    const card = page.locator(".card").filter({ has: input });
    await card.getByRole("button", { name: "Save" }).click();
    await card.getByRole("status").filter({ hasText: "Saved max_hp." }).waitFor();
    const view = await getJson<{ components: Record<string, Record<string, unknown>> }>(`${world.http}/api/entities/${entity}`);
    expect(view.components["health"]?.["max_hp"]).toBe(after);
    await expect.poll(() => input.inputValue()).toBe(String(after));
    await shot("entity");
    await expectAccessible("entity inspector", page);
    maxHp = after;
  });

  test("query builder: finds the entity saved above by its new max_hp", async () => {
    // the entity has 1,000,000 hp (above): the simulated fights cannot kill it meanwhile
    expect(maxHp).toBeGreaterThan(0);
    await page.goto(`${world.http}/query`);
    await page.getByRole("heading", { name: "Query", exact: true }).waitFor();
    await page.getByRole("radiogroup", { name: "health: any, with or without" }).getByLabel("with", { exact: true }).check();
    await page.waitForURL(/with=health/);
    await page.getByLabel("Add a predicate").fill(`health.max_hp=${maxHp}`);
    await page.keyboard.press("Enter");
    await page.getByRole("status").filter({ hasText: /^1 entities match/ }).waitFor();
    const results = page.getByRole("region", { name: "Results" });
    await results.getByRole("link", { name: entity, exact: true }).waitFor();
    expect(await page.locator("pre.curl").innerText()).toContain("/api/query");
    await shot("query");
    await expectAccessible("query", page);
  }, AXE_TIMEOUT);

  test("schema: the editor, the reference graph, and a syntax error marked on its line", async () => {
    await page.goto(`${world.http}/schema`);
    const editor = page.locator(".cm-editor .cm-content");
    await editor.waitFor();
    await page.getByRole("status").filter({ hasText: /^Valid/ }).waitFor();
    // the graph: three tables, health and transform pointing at entities
    const graph = page.getByRole("group", { name: /^References between tables/ });
    await graph.waitFor();
    expect(await graph.locator("a.node").evaluateAll((ns) => ns.map((n) => n.getAttribute("data-table")).sort())).toEqual(["entities", "health", "transform"]);
    expect(await graph.locator("g.edge").evaluateAll((es) => es.map((e) => e.getAttribute("data-edge")).sort())).toEqual(["health.entity_id", "transform.entity_id"]);
    const box = await graph.locator('a.node[data-table="entities"] rect').boundingBox();
    expect(box !== null && box.width > 40 && box.height > 20).toBe(true);

    // line 7 is `name = "id"`: a stray word after the value is a TOML syntax error on that line
    await editor.click();
    await page.keyboard.press("Control+Home");
    for (let i = 0; i < 6; i++) await page.keyboard.press("ArrowDown");
    await page.keyboard.press("End");
    await page.keyboard.type(" oops");
    const problem = page.locator("ol.problems li").first();
    await problem.waitFor({ timeout: 10_000 });
    expect(await problem.innerText()).toMatch(/^line 7:\d+/);
    await page.getByRole("status").filter({ hasText: /problem/ }).waitFor();
    // the mark is in the text of line 7 and its gutter marker beside line number 7
    const mark = page.locator(".cm-content .cm-lintRange-error").first();
    await mark.waitFor();
    await expect.poll(() => mark.evaluate((el) => el.closest(".cm-line")?.textContent ?? "")).toBe('name = "id" oops');
    const gutterLine = () =>
      page.evaluate(() => {
        const marker = document.querySelector(".cm-lint-marker-error")?.closest(".cm-gutterElement");
        if (!marker) return null;
        const top = marker.getBoundingClientRect().top;
        const numbers = [...document.querySelectorAll(".cm-lineNumbers .cm-gutterElement")];
        return numbers.find((n) => Math.abs(n.getBoundingClientRect().top - top) < 2)?.textContent ?? null;
      });
    await expect.poll(gutterLine).toBe("7");
    await shot("schema");
    await expectAccessible("schema", page);
  });

  test("metrics: the uPlot charts draw their series", async () => {
    await page.goto(`${world.http}/charts?window=60`);
    await page.getByRole("heading", { name: "Metrics" }).waitFor();
    await expect.poll(() => page.locator(".charts canvas").count()).toBeGreaterThan(3);
    // The first series of each chart is drawn in --chart-1: count the canvas pixels of that colour. Axes and
    // grid are other colours, so pixels appear only once a series has two samples (one a second).
    const seriesPixels = () =>
      page.evaluate(() => {
        const probe = document.createElement("span");
        probe.style.color = "var(--chart-1)";
        document.body.append(probe);
        const [r, g, b] = (getComputedStyle(probe).color.match(/\d+/g) ?? []).map(Number);
        probe.remove();
        return [...document.querySelectorAll<HTMLCanvasElement>(".charts canvas")].map((c) => {
          const data = c.getContext("2d")?.getImageData(0, 0, c.width, c.height).data ?? new Uint8ClampedArray();
          let n = 0;
          for (let i = 0; i < data.length; i += 4) {
            if ((data[i + 3] ?? 0) > 200 && Math.abs((data[i] ?? 0) - (r ?? 0)) + Math.abs((data[i + 1] ?? 0) - (g ?? 0)) + Math.abs((data[i + 2] ?? 0) - (b ?? 0)) < 40) n++;
          }
          return n;
        });
      });
    // commits/s (the simulation commits 20 ticks a second) is the first chart: a line across the plot
    await expect.poll(async () => (await seriesPixels())[0] ?? 0, { timeout: 10_000 }).toBeGreaterThan(50);
    expect((await seriesPixels()).filter((n) => n > 0).length).toBeGreaterThan(3);
    const titles = await page.locator(".charts figcaption").allInnerTexts();
    for (const t of [/^Commit latency \(queue/, /^Commit latency \(HTTP/, /^Stream lag/, /^Copy-on-write pages copied/]) {
      expect(titles.some((x) => t.test(x)), String(t)).toBe(true);
    }
    await shot("metrics");
    await expectAccessible("metrics", page);
  });

  test("replication view draws", async () => {
    await page.goto(`${world.http}/replication`);
    await page.getByRole("heading", { name: /Replication/ }).first().waitFor();
    await shot("replication");
    await expectAccessible("replication", page);
  });

  test("accessibility: no contrast violation on any view in the dark theme", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "dark" });
    const p = await newPage(ctx);
    try {
      // a living entity now (the one edited earlier may have died in the simulated fights since)
      const strongest = await getJson<{ rows: { key: string }[] }>(`${world.http}/api/tables/health/rows?limit=1&sort=-hp`);
      const alive = strongest.rows[0]?.key ?? entity;
      const views: [string, string, (p: Page) => Promise<unknown>][] = [
        ["overview", "/", (q) => q.locator(".stat .value").first().waitFor()],
        ["data", "/data/health?sort=-hp", (q) => q.locator(".rows-grid .cell.flash").first().waitFor({ timeout: 10_000 })],
        ["entity inspector", `/entities/${alive}`, (q) => q.locator("#c-health-max_hp").waitFor()],
        ["schema", "/schema", (q) => q.getByRole("status").filter({ hasText: /^Valid/ }).waitFor()],
        ["query", "/query?with=health", (q) => q.getByRole("status").filter({ hasText: /entities match/ }).waitFor()],
        ["metrics", "/charts?window=60", (q) => q.locator(".charts canvas").first().waitFor()],
        ["replication", "/replication", (q) => q.getByRole("heading", { name: /Replication/ }).first().waitFor()],
      ];
      for (const [name, path, ready] of views) {
        await p.goto(`${world.http}${path}`);
        expect(await p.evaluate(() => document.documentElement.dataset["theme"])).toBe("dark");
        await ready(p);
        await expectAccessible(`${name} (dark)`, p, ["color-contrast"]);
        await shot(`${name.replace(/ /g, "-")}-dark`, p);
      }
      await p.goto(`${locked.http}/`);
      await p.getByRole("heading", { name: "This server needs a token" }).waitFor();
      await expectAccessible("login (dark)", p, ["color-contrast"]);
      await shot("login-dark", p);
    } finally {
      await ctx.close();
    }
  }, AXE_TIMEOUT);

  test("tokens: the login form, a wrong token refused, the right one kept out of every URL", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(ctx);
    const urls: string[] = [];
    const authorized: string[] = [];
    p.on("request", (r) => {
      urls.push(r.url());
      if (r.headers()["authorization"] === `Bearer ${TOKEN}`) authorized.push(new URL(r.url()).pathname);
    });
    p.on("websocket", (ws) => urls.push(ws.url()));
    try {
      await p.goto(`${locked.http}/`);
      await p.getByRole("heading", { name: "This server needs a token" }).waitFor();
      await shot("login", p);
      await p.getByLabel("Token", { exact: true }).fill("not-the-token");
      await p.getByRole("button", { name: "Log in" }).click();
      await p.getByRole("alert").filter({ hasText: "The server refused this token." }).waitFor();
      await expectAccessible("login", p);
      await p.getByLabel("Token", { exact: true }).fill(TOKEN);
      await p.getByRole("button", { name: "Log in" }).click();
      await p.getByRole("heading", { name: "Overview" }).waitFor();
      await p.locator(".stat").filter({ hasText: "Committed version" }).waitFor();
      // the stream too: open the data view by keyboard (no reload), live over the WebSocket
      await p.keyboard.press("g");
      await p.keyboard.press("d");
      await p.getByRole("status").filter({ hasText: "live: open" }).waitFor();
      expect(authorized).toContain("/api/info");
      expect(urls.some((u) => u.includes("/api/stream"))).toBe(true);
      expect(urls.filter((u) => u.includes(TOKEN))).toEqual([]);
      expect(p.url()).not.toContain(TOKEN);
      expect(await p.evaluate(() => JSON.stringify(localStorage))).not.toContain(TOKEN);
      const where = await p.evaluate(() => `${location.href} ${document.referrer} ${document.cookie}`);
      expect(where).not.toContain(TOKEN);
    } finally {
      await ctx.close();
    }
  });
  test("a read token: the nav says read-only, no editing, the schema's structs, and missed stream changes noticed", async () => {
    const write = async (ops: unknown[]): Promise<{ created: string[] }> => {
      const r = await fetch(`${locked.http}/api/transactions`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ ops }) });
      if (!r.ok) throw new Error(`POST /api/transactions: ${r.status} ${await r.text()}`);
      return (await r.json()) as { created: string[] };
    };
    const [id] = (await write([{ op: "create" }, { op: "add", table: "health", entity: "$0", values: { hp: 42, max_hp: 50 } }])).created;
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(ctx);
    try {
      await p.goto(`${locked.http}/`);
      await p.getByLabel("Token", { exact: true }).fill(READ_TOKEN);
      await p.getByRole("button", { name: "Log in" }).click();
      await p.getByRole("heading", { name: "Overview" }).waitFor();
      const badge = p.locator("header .role");
      await badge.waitFor();
      expect(await badge.innerText()).toBe("read-only");
      expect(await badge.getAttribute("title")).toContain('"e2e-reader" has the read role');

      // the entity inspector shows the values, without inputs or Save, and says why
      await p.getByRole("link", { name: "Entity", exact: true }).click();
      await p.getByLabel("Entity id").fill(String(id));
      await p.getByRole("button", { name: "Open" }).click();
      await p.getByRole("note").filter({ hasText: '"e2e-reader" has the read role: editing is off' }).waitFor();
      const value = p.locator("#c-health-max_hp");
      await value.waitFor();
      expect(await value.evaluate((el) => el.tagName)).toBe("SPAN");
      expect(await value.innerText()).toBe("50");
      expect(await value.getAttribute("title")).toContain("read role");
      expect(await p.getByRole("button", { name: "Save" }).count()).toBe(0);
      await shot("entity-read-only", p);
      await expectAccessible("entity inspector (read token)", p);

      // the schema view: each struct's layout, and a struct-typed field expanded to its members
      await p.getByRole("link", { name: "Schema", exact: true }).click();
      await p.getByRole("heading", { name: "Structs" }).waitFor();
      for (const name of ["Vec3", "Quat", "Aabb", "DamageRoll"]) {
        await p.getByRole("img", { name: new RegExp(`^Layout of struct ${name}: `) }).waitFor();
      }
      const transform = p.locator("section.layout").filter({ has: p.getByRole("heading", { name: /^transform\b/ }) });
      const bounds = transform.getByRole("button", { name: /bounds/ });
      expect(await bounds.getAttribute("aria-expanded")).toBe("false");
      await bounds.click();
      expect(await bounds.getAttribute("aria-expanded")).toBe("true");
      const member = transform.locator('tr.member[data-member="bounds.max.y"]');
      await member.waitFor();
      const boundsOffset = Number(await bounds.locator("xpath=ancestor::tr[1]").locator("td").nth(3).innerText());
      expect(await member.locator("td").nth(3).innerText()).toBe(`${boundsOffset + 16} (+16)`);
      await shot("schema-structs", p);
      await expectAccessible("schema with structs", p);

      // the data view, paused: more versions than the server keeps are committed meanwhile; resuming, the
      // stream (state=none) starts later than the rows were read, and the view says changes were missed
      await p.goto(`${locked.http}/data/health?live=0`);
      const loaded = p.getByRole("status").filter({ hasText: /rows loaded, read at version \d+/ });
      await loaded.waitFor();
      for (let i = 0; i < 300; i++) await write([{ op: "set", table: "health", entity: id, field: "hp", value: i % 90 }]);
      await p.getByRole("button", { name: "Resume live" }).click();
      const notice = p.getByRole("alert").filter({ hasText: "could not resume" });
      await notice.waitFor({ timeout: 10_000 });
      await p.getByText(/\(changes missed\)/).waitFor();
      await shot("data-missed-changes", p);
      await expectAccessible("data with a missed-changes notice", p);
      await notice.getByRole("button", { name: "Reload the rows" }).click();
      await expect.poll(() => notice.count()).toBe(0);
      await p.getByRole("status").filter({ hasText: "live: open" }).waitFor();
    } finally {
      await ctx.close();
    }
  }, AXE_TIMEOUT);
});
