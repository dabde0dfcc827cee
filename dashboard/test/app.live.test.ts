// The whole app mounted in happy-dom against a real `ecsdb serve` (no browser here: Playwright has none to
// drive). The page's origin is happy-dom's http://localhost:3000, so the server allows it by CORS.
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { flushPromises, mount, type VueWrapper } from "@vue/test-utils";
import { createPinia } from "pinia";
import { createMemoryHistory } from "vue-router";
import { EcsdbServer, schemaPath } from "./ecsdb-server";

let server: EcsdbServer;

beforeAll(async () => {
  server = await EcsdbServer.start(schemaPath("game.toml"), ["--cors-origins", window.location.origin]);
  const ops = [];
  for (let i = 0; i < 30; i++) ops.push({ op: "create" }, { op: "add", table: "health", entity: `$${i * 2}`, values: { hp: i, max_hp: 100 } });
  const r = await fetch(`${server.http}/api/transactions`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ops }) });
  expect(r.status).toBe(200);
  vi.stubEnv("VITE_ECSDB_URL", server.http);
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await server?.stop();
});

async function until(check: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 25));
    await flushPromises();
  }
}

async function mountApp(path: string): Promise<{ wrapper: VueWrapper; push: (p: string) => Promise<void> }> {
  const { default: App } = await import("../src/App.vue");
  const { createAppRouter } = await import("../src/router");
  const router = createAppRouter(createMemoryHistory());
  await router.push(path);
  await router.isReady();
  const wrapper = mount(App, { global: { plugins: [createPinia(), router] }, attachTo: document.body });
  return { wrapper, push: async (p) => void (await router.push(p)) };
}

describe("app against a live server", () => {
  test("overview shows live numbers and the tables; entity and query views work", async () => {
    const { wrapper, push } = await mountApp("/");
    try {
      await until(() => wrapper.text().includes("Committed version") && wrapper.text().includes("health"));
      expect(wrapper.text()).toContain("game_db");
      expect(wrapper.text()).toContain("Entities30");

      await push("/entities/0:1");
      await until(() => wrapper.find("#c-health-hp").exists());
      expect((wrapper.find("#c-health-hp").element as HTMLInputElement).value).toBe("0");

      await push("/query?with=health&where=health.hp%3E%3D28");
      await until(() => wrapper.text().includes("2 entities match"));
      expect(wrapper.text()).toContain("curl -s -X POST");

      // page-wise: next, then previous with the server's `prev` cursor, at the first page's version
      await push("/query?with=health&limit=10");
      await until(() => wrapper.text().includes("30 entities match"));
      const version = /match \(version (\d+)\)/.exec(wrapper.text())?.[1];
      expect(wrapper.text()).toContain("1–10 shown");
      const pager = (label: string) => wrapper.findAll("nav[aria-label='Result pages'] button").find((b) => b.text().includes(label))!;
      expect(pager("Previous").attributes("disabled")).toBeDefined();
      await pager("Next").trigger("click");
      await until(() => wrapper.text().includes("11–20 shown"));
      await pager("Next").trigger("click");
      await until(() => wrapper.text().includes("21–30 shown"));
      expect(pager("Next").attributes("disabled")).toBeDefined();
      await pager("Previous").trigger("click");
      await until(() => wrapper.text().includes("11–20 shown"));
      expect(wrapper.text()).toContain(`(version ${version})`);
      await pager("Previous").trigger("click");
      await until(() => wrapper.text().includes("1–10 shown"));
      expect(pager("Previous").attributes("disabled")).toBeDefined();

      await push("/data/health?where=hp%3C20&sort=-hp&limit=50&live=0");
      await until(() => wrapper.text().includes("20 of 20 rows loaded"));
      expect(wrapper.text()).toContain("sorted by -hp");
      expect(wrapper.text()).toContain("hp<20");

      await push("/data/nope");
      await until(() => wrapper.text().includes("no table named 'nope'"));
    } finally {
      wrapper.unmount();
    }
  });
});
