// ApiError: what every failed call of the API client throws. Server errors keep the server's stable code,
// message and details (docs/server.md "Errors"); a failed connection is code "network", an answer that is
// not the documented error shape is code "http".
import type { ErrorDetails } from "./types";

export type ClientErrorCode = "network" | "http" | "aborted";

export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when no answer came. */
    readonly status: number,
    /** The server's error code, or one of the client's own. */
    readonly code: string,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** A one-line text for people: the message, with the code and status. */
  describe(): string {
    return this.status === 0 ? `${this.message} (${this.code})` : `${this.message} (${this.code}, HTTP ${this.status})`;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Builds the ApiError of a non-2xx answer from its status and body text. */
export function errorFromResponse(status: number, statusText: string, bodyText: string): ApiError {
  let parsed: unknown = undefined;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    // not JSON: fall through
  }
  if (isRecord(parsed) && isRecord(parsed["error"])) {
    const e = parsed["error"];
    const code = typeof e["code"] === "string" ? e["code"] : "http";
    const message = typeof e["message"] === "string" && e["message"] !== "" ? e["message"] : `HTTP ${status}`;
    const details = isRecord(e["details"]) ? (e["details"] as ErrorDetails) : {};
    return new ApiError(status, code, message, details);
  }
  const text = bodyText.trim().slice(0, 200);
  const message = text !== "" ? `HTTP ${status} ${statusText}: ${text}` : `HTTP ${status} ${statusText}`.trim();
  return new ApiError(status, "http", message);
}

/** Any thrown value as an ApiError (for code that catches `unknown`). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof DOMException && e.name === "AbortError") return new ApiError(0, "aborted", "request aborted");
  const message = e instanceof Error ? e.message : String(e);
  return new ApiError(0, "network", `cannot reach the server: ${message}`);
}
