// Export of rows as JSON or CSV (RFC 4180: CRLF line ends, fields quoted when they hold a comma, a quote
// or a line break, quotes doubled). Nested values (arrays, structs) are written as compact JSON.
import type { Row } from "../api/types";

/** The CSV text of a value, quoted as needed. */
export function csvField(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) text = "";
  else if (typeof value === "string") text = value;
  else if (typeof value === "number" || typeof value === "boolean") text = String(value);
  else text = JSON.stringify(value);
  // A leading = + - @ makes spreadsheets evaluate the cell; prefix such strings with a quote mark.
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text) && !/^-?\d/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows as CSV: a header `key[,owner],col...`, then one line per row. */
export function rowsToCsv(rows: readonly Row[], columns: readonly string[]): string {
  const hasOwner = rows.some((r) => r.owner !== undefined);
  const header = ["key", ...(hasOwner ? ["owner"] : []), ...columns];
  const lines = [header.map(csvField).join(",")];
  for (const row of rows) {
    const cells: unknown[] = [row.key];
    if (hasOwner) cells.push(row.owner ?? null);
    for (const c of columns) cells.push(row.values[c]);
    lines.push(cells.map(csvField).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/** Rows as pretty JSON, restricted to the given columns. */
export function rowsToJson(rows: readonly Row[], columns: readonly string[]): string {
  const out = rows.map((r) => {
    const values: Record<string, unknown> = {};
    for (const c of columns) if (c in r.values) values[c] = r.values[c];
    return r.owner !== undefined ? { key: r.key, owner: r.owner, values } : { key: r.key, values };
  });
  return JSON.stringify(out, null, 2) + "\n";
}

/** Offers text as a file download (browser only). */
export function downloadText(filename: string, text: string, mime: string): void {
  const blob = new Blob([text], { type: mime });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
