// Errors and notices shown to the user in the banner: every failed server call ends up here (or next to
// the control that caused it), with the server's message, never as a blank page.
import { defineStore } from "pinia";
import { ref } from "vue";
import { ApiError, toApiError } from "../api/errors";

export interface Notice {
  id: number;
  kind: "error" | "info";
  text: string;
  code: string | null;
}

export const useNoticesStore = defineStore("notices", () => {
  const notices = ref<Notice[]>([]);
  let next = 1;

  function push(kind: Notice["kind"], text: string, code: string | null = null): void {
    // The same message again only moves to the end instead of piling up (polling repeats errors).
    notices.value = [...notices.value.filter((n) => n.text !== text), { id: next++, kind, text, code }].slice(-5);
  }

  /** Shows an error thrown by an API call (401s are handled by the login form instead). */
  function error(e: unknown, context?: string): void {
    const err = e instanceof ApiError ? e : toApiError(e);
    if (err.status === 401 || err.code === "aborted") return;
    push("error", context !== undefined ? `${context}: ${err.describe()}` : err.describe(), err.code);
  }

  function info(text: string): void {
    push("info", text);
  }

  function dismiss(id: number): void {
    notices.value = notices.value.filter((n) => n.id !== id);
  }

  return { notices, push, error, info, dismiss };
});
