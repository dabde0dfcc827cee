// One route per view; each view keeps its state in the route's query so a link reproduces it. Paths avoid
// the server's own routes (/api/..., /metrics): `ecsdb serve --dashboard` answers unknown paths with
// index.html, so these load the app on a reload.
import { createRouter, createWebHistory, createMemoryHistory, type RouteRecordRaw, type RouterHistory } from "vue-router";

export const routes: RouteRecordRaw[] = [
  { path: "/", name: "overview", component: () => import("./views/OverviewView.vue"), meta: { title: "Overview", key: "o" } },
  { path: "/data/:table?", name: "data", component: () => import("./views/DataView.vue"), meta: { title: "Data", key: "d" } },
  { path: "/entities/:id?", name: "entity", component: () => import("./views/EntityInspectorView.vue"), meta: { title: "Entity", key: "e" } },
  { path: "/schema", name: "schema", component: () => import("./views/SchemaView.vue"), meta: { title: "Schema", key: "s" } },
  { path: "/query", name: "query", component: () => import("./views/QueryView.vue"), meta: { title: "Query", key: "q" } },
  { path: "/charts", name: "metrics", component: () => import("./views/MetricsView.vue"), meta: { title: "Metrics", key: "m" } },
  { path: "/replication", name: "replication", component: () => import("./views/ReplicationView.vue"), meta: { title: "Replication", key: "r" } },
  { path: "/:rest(.*)*", name: "not-found", component: () => import("./views/NotFoundView.vue"), meta: { title: "Not found" } },
];

export function createAppRouter(history: RouterHistory = typeof window === "undefined" ? createMemoryHistory() : createWebHistory()) {
  const router = createRouter({ history, routes });
  router.afterEach((to) => {
    const title = typeof to.meta["title"] === "string" ? to.meta["title"] : "";
    if (typeof document !== "undefined") document.title = title !== "" ? `${title} · ECSDb` : "ECSDb";
  });
  return router;
}
