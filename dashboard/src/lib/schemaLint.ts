// Turns the server's schema diagnostics (1-based line and column, 0 when unknown) into CodeMirror lint
// diagnostics: from the column to the end of the line, or the first line when the position is unknown.
import type { Diagnostic } from "@codemirror/lint";
import type { Text } from "@codemirror/state";
import type { SchemaDiagnostic } from "../api/types";

export function diagnosticMessage(d: SchemaDiagnostic): string {
  const where = [d.table !== "" ? `table '${d.table}'` : "", d.field !== "" ? `field '${d.field}'` : ""].filter((s) => s !== "").join(", ");
  const hint = d.hint !== "" ? ` (${d.hint})` : "";
  return `${where !== "" ? `${where}: ` : ""}${d.message}${hint}`;
}

export function toDiagnostics(doc: Text, diagnostics: readonly SchemaDiagnostic[]): Diagnostic[] {
  return diagnostics.map((d) => {
    const lineNo = Math.min(Math.max(d.line, 1), doc.lines);
    const line = doc.line(lineNo);
    const from = d.line > 0 ? Math.min(line.from + Math.max(d.column - 1, 0), line.to) : line.from;
    const to = from < line.to ? line.to : Math.min(from + 1, doc.length);
    return { from, to, severity: "error" as const, message: diagnosticMessage(d) };
  });
}
