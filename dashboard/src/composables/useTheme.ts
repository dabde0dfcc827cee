// Dark and light themes: the user's choice (kept in localStorage: it is no secret), else the system's.
import { ref, watchEffect } from "vue";

export type Theme = "dark" | "light";
const KEY = "ecsdb.theme";

function initial(): Theme {
  const saved = globalThis.localStorage?.getItem(KEY);
  if (saved === "dark" || saved === "light") return saved;
  return globalThis.matchMedia?.("(prefers-color-scheme: light)").matches === true ? "light" : "dark";
}

const theme = ref<Theme>(initial());

watchEffect(() => {
  if (typeof document !== "undefined") document.documentElement.dataset["theme"] = theme.value;
});

export function useTheme() {
  function toggle(): void {
    theme.value = theme.value === "dark" ? "light" : "dark";
    globalThis.localStorage?.setItem(KEY, theme.value);
  }
  return { theme, toggle };
}
