// Vite configuration. The dev server (`npm run dev`) and `vite preview` proxy the API to a running
// `ecsdb serve`, by default http://127.0.0.1:8080; set ECSDB_URL to point elsewhere.
import { defineConfig, type ProxyOptions } from "vite";
import vue from "@vitejs/plugin-vue";

const target = process.env["ECSDB_URL"] ?? "http://127.0.0.1:8080";

function apiProxy(): Record<string, ProxyOptions> {
  const common: ProxyOptions = {
    target,
    changeOrigin: true,
    // The server refuses a stream upgrade whose Origin is not its own (WebSockets have no CORS), so the
    // proxied upgrade presents the server's own origin.
    configure(proxy) {
      proxy.on("proxyReqWs", (proxyReq) => {
        proxyReq.setHeader("origin", new URL(target).origin);
      });
    },
  };
  return {
    "/api": { ...common, ws: true },
    "^/metrics$": { ...common },
  };
}

export default defineConfig({
  plugins: [vue()],
  server: { proxy: apiProxy() },
  preview: { proxy: apiProxy() },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
  },
});
