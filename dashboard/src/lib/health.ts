// How the server's health reads in the dashboard: the top bar's status and the Overview's Health card say
// the same thing. Serving but with background durability work failing (a snapshot, a retention run) is
// still "ok" (writes go through), marked as a warning with its reasons, since the log grows meanwhile.
import type { Health } from "../api/types";

export interface HealthSummary {
  text: string; // "ok", "ok · 2 warnings", "degraded"
  level: "ok" | "warn";
  detail: string; // the reasons, one per line (empty when there are none)
}

export function healthSummary(health: Health): HealthSummary {
  const warnings = health.warnings ?? [];
  if (health.status === "ok" && warnings.length > 0) {
    return { text: `ok · ${warnings.length} warning${warnings.length > 1 ? "s" : ""}`, level: "warn", detail: warnings.join("\n") };
  }
  return { text: health.status, level: health.status === "ok" ? "ok" : "warn", detail: health.reason ?? "" };
}
