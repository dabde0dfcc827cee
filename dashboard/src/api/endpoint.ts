// Which server the dashboard talks to, and the token it starts with. The web build: the page's own origin
// ("" — relative URLs, as served by `ecsdb serve --dashboard`), or VITE_ECSDB_URL fixed at build time. The
// desktop app (desktop/, Tauri) bundles this same build and defines `window.__ECSDB_DESKTOP__` before any
// of the page's scripts run, with the connection the user opened: its base URL and its token, read from
// the OS keyring and held in memory only (docs/desktop.md).

/** What the desktop shell defines on `window`. */
export interface DesktopEndpoint {
  readonly baseUrl: string;
  readonly token: string | null;
  readonly name: string;
}

/** The desktop shell's connection, or null in a browser (or when what is there is malformed). */
export function desktopEndpoint(scope: object = globalThis): DesktopEndpoint | null {
  const v = (scope as { __ECSDB_DESKTOP__?: unknown }).__ECSDB_DESKTOP__;
  if (typeof v !== "object" || v === null) return null;
  const { baseUrl, token, name } = v as { baseUrl?: unknown; token?: unknown; name?: unknown };
  if (typeof baseUrl !== "string" || !/^https?:\/\/[^/]/.test(baseUrl)) return null;
  const base = baseUrl.replace(/\/+$/, "");
  return {
    baseUrl: base,
    token: typeof token === "string" && token !== "" ? token : null,
    name: typeof name === "string" && name !== "" ? name : base,
  };
}

/** The http(s) base of every API call and of the stream; "" = the page's origin. */
export function serverBaseUrl(scope: object = globalThis, buildTimeUrl: string | undefined = import.meta.env.VITE_ECSDB_URL): string {
  return desktopEndpoint(scope)?.baseUrl ?? buildTimeUrl ?? "";
}
