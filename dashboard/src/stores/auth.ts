// The token and the API client. The token lives in this tab only: in memory, and in sessionStorage when
// the user asks to keep it for the tab's reloads. It never goes in a URL or in localStorage.
import { defineStore } from "pinia";
import { computed, markRaw, ref, shallowRef } from "vue";
import { ApiClient } from "../api/client";
import { desktopEndpoint, serverBaseUrl } from "../api/endpoint";
import { toApiError } from "../api/errors";
import type { WhoAmI } from "../api/types";

export const TOKEN_KEY = "ecsdb.token";

function storage(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

export const useAuthStore = defineStore("auth", () => {
  // In the desktop app the connection's token comes from the shell (kept in memory like a typed one).
  const token = ref<string | null>(desktopEndpoint()?.token ?? storage()?.getItem(TOKEN_KEY) ?? null);
  /** True once the server answered 401: the login form is shown. */
  const needsLogin = ref(false);
  const loginError = ref<string | null>(null);
  const checking = ref(false);
  /**
   * What the server says this token may do (GET /api/whoami), read on start and after each login; null
   * until known (or from a server without the route), when nothing is hidden: the server decides anyway.
   */
  const whoami = shallowRef<WhoAmI | null>(null);
  const role = computed(() => whoami.value?.role ?? null);
  /** False for a `read` token: the views turn their write controls off (the server would answer 403). */
  const canWrite = computed(() => role.value !== "read");

  const api = markRaw(
    new ApiClient({
      baseUrl: serverBaseUrl(),
      token: () => token.value,
      onUnauthorized: () => {
        needsLogin.value = true;
      },
    }),
  );

  function setToken(value: string | null, keepForTab: boolean): void {
    const next = value !== null && value !== "" ? value : null;
    if (next !== token.value) whoami.value = null; // another token, maybe another role
    token.value = next;
    const s = storage();
    if (token.value !== null && keepForTab) s?.setItem(TOKEN_KEY, token.value);
    else s?.removeItem(TOKEN_KEY);
  }

  /** Asks the server what the current token may do. A 401 shows the login (as any call's does). */
  async function refreshRole(): Promise<void> {
    const asked = token.value;
    try {
      const w = await api.whoami();
      if (token.value === asked) whoami.value = w;
    } catch {
      if (token.value === asked) whoami.value = null;
    }
  }

  /** Tries a token against a route that needs one; keeps it only if the server accepts it. */
  async function login(value: string, keepForTab: boolean): Promise<boolean> {
    checking.value = true;
    loginError.value = null;
    setToken(value, keepForTab);
    try {
      await api.info();
      needsLogin.value = false;
      await refreshRole();
      return true;
    } catch (e) {
      const err = toApiError(e);
      setToken(null, false);
      needsLogin.value = true;
      loginError.value = err.status === 401 ? "The server refused this token." : err.describe();
      return false;
    } finally {
      checking.value = false;
    }
  }

  function logout(): void {
    setToken(null, false);
    whoami.value = null;
    needsLogin.value = true;
  }

  return { token, needsLogin, loginError, checking, api, whoami, role, canWrite, setToken, refreshRole, login, logout };
});
