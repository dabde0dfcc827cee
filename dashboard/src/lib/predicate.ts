// Predicates `[table.]field OP value` (docs/server.md "Predicates"), checked for syntax before they are
// sent, so a typo is caught at the keyboard.

export const OPERATORS = ["<=", ">=", "!=", "==", "=", "<", ">"] as const;
export type Operator = (typeof OPERATORS)[number];

export interface Predicate {
  table: string | null;
  field: string;
  op: Operator;
  value: string;
}

export type ParsedPredicate = ({ ok: true; text: string } & Predicate) | { ok: false; error: string };

const NAME = "[A-Za-z_][A-Za-z0-9_]*";

/** Parses `field OP value`, or `table.field OP value` when `qualified`. */
export function parsePredicate(input: string, qualified: boolean): ParsedPredicate {
  const re = new RegExp(`^\\s*(?:(${NAME})\\.)?(${NAME})\\s*(<=|>=|!=|==|=|<|>)\\s*(.*?)\\s*$`);
  const m = re.exec(input);
  if (m === null) return { ok: false, error: `'${input}' is not a predicate: write field OP value, OP one of = != < <= > >=` };
  const [, table, field, op, value] = m;
  if (qualified && table === undefined) return { ok: false, error: `'${input}': name the table, as table.field OP value` };
  if (!qualified && table !== undefined) return { ok: false, error: `'${input}': give the field alone (this table is implied)` };
  if (value === undefined || value === "") return { ok: false, error: `'${input}': a value is missing after ${op}` };
  const t = table ?? null;
  const text = `${t !== null ? `${t}.` : ""}${field ?? ""}${op ?? ""}${value}`;
  return { ok: true, text, table: t, field: field ?? "", op: (op ?? "=") as Operator, value };
}

/** Builds a predicate's text. */
export function formatPredicate(p: Predicate): string {
  return `${p.table !== null ? `${p.table}.` : ""}${p.field}${p.op}${p.value}`;
}
