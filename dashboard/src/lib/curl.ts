// The equivalent curl command of an API request, for copying. The token is never written: the command
// reads it from $ECSDB_TOKEN.

/** Quotes a string for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function curlCommand(o: { origin: string; method: "GET" | "POST"; path: string; body?: unknown; withToken: boolean }): string {
  const parts = [`curl -s${o.method !== "GET" ? ` -X ${o.method}` : ""} ${shellQuote(`${o.origin}${o.path}`)}`];
  if (o.withToken) parts.push(`-H "Authorization: Bearer $ECSDB_TOKEN"`);
  if (o.body !== undefined) {
    parts.push(`-H 'Content-Type: application/json'`);
    parts.push(`-d ${shellQuote(JSON.stringify(o.body))}`);
  }
  return parts.join(" \\\n  ");
}
