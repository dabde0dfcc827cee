// The server the dashboard talks to: the page's origin on the web, the desktop shell's connection in the app.
import { describe, expect, test } from "vitest";
import { desktopEndpoint, serverBaseUrl } from "../src/api/endpoint";
import { streamUrl } from "../src/api/stream";

describe("serverBaseUrl", () => {
  test("the web build keeps relative URLs, or the build-time URL", () => {
    expect(serverBaseUrl({}, undefined)).toBe("");
    expect(serverBaseUrl({}, "http://db:8080")).toBe("http://db:8080");
  });

  test("the desktop shell's connection wins, without its trailing slash", () => {
    const scope = { __ECSDB_DESKTOP__: { baseUrl: "http://127.0.0.1:4242/", token: "t0k", name: "local" } };
    expect(serverBaseUrl(scope, "http://db:8080")).toBe("http://127.0.0.1:4242");
    expect(desktopEndpoint(scope)).toEqual({ baseUrl: "http://127.0.0.1:4242", token: "t0k", name: "local" });
    expect(streamUrl(serverBaseUrl(scope, undefined), ["health"], [], 7)).toBe("ws://127.0.0.1:4242/api/stream?tables=health&since=7");
  });

  test("an empty token is none, and a malformed endpoint is ignored", () => {
    expect(desktopEndpoint({ __ECSDB_DESKTOP__: { baseUrl: "https://h", token: "" } })).toEqual({ baseUrl: "https://h", token: null, name: "https://h" });
    for (const bad of [null, "http://h", { baseUrl: 3 }, { baseUrl: "javascript:alert(1)" }, { baseUrl: "http:///x" }]) {
      expect(desktopEndpoint({ __ECSDB_DESKTOP__: bad })).toBeNull();
      expect(serverBaseUrl({ __ECSDB_DESKTOP__: bad }, undefined)).toBe("");
    }
  });
});
