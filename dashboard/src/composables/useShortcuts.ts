// Keyboard navigation: "g" then a view's key (o, d, e, s, q, m, r) opens it; "/" focuses the view's
// search or filter box (marked data-shortcut="search"); "?" toggles the help. Keys typed into inputs are
// left alone.
import { onBeforeUnmount, onMounted, ref } from "vue";
import { useRouter } from "vue-router";
import { routes } from "../router";

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

export function shortcutTarget(key: string): string | null {
  const route = routes.find((r) => r.meta?.["key"] === key);
  return route !== undefined && typeof route.name === "string" ? route.name : null;
}

export function useShortcuts() {
  const router = useRouter();
  const helpOpen = ref(false);
  let pendingG = 0;

  function onKey(ev: KeyboardEvent): void {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    if (ev.key === "Escape") {
      helpOpen.value = false;
      return;
    }
    if (ev.key === "?") {
      helpOpen.value = !helpOpen.value;
      return;
    }
    if (ev.key === "/") {
      const box = document.querySelector<HTMLElement>('[data-shortcut="search"]');
      if (box !== null) {
        ev.preventDefault();
        box.focus();
      }
      return;
    }
    if (ev.key === "g") {
      pendingG = Date.now();
      return;
    }
    if (Date.now() - pendingG < 1500) {
      pendingG = 0;
      const name = shortcutTarget(ev.key);
      if (name !== null) void router.push({ name });
    }
  }

  onMounted(() => window.addEventListener("keydown", onKey));
  onBeforeUnmount(() => window.removeEventListener("keydown", onKey));
  return { helpOpen };
}
