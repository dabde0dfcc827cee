// View state in the URL's query, so every view is a shareable link. Each view has a plain state object,
// read from the route's query with defaults and written back with the defaults left out. Never a token.
import type { LocationQuery, LocationQueryRaw } from "vue-router";

export function queryString(q: LocationQuery, key: string): string | null {
  const v = q[key];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === "string" && s !== "" ? s : null;
}

export function queryList(q: LocationQuery, key: string): string[] {
  const v = q[key];
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list.filter((s): s is string => typeof s === "string" && s !== "");
}

/** A comma-separated list (`cols=a,b`), or the repeated key. */
export function queryCsv(q: LocationQuery, key: string): string[] {
  return queryList(q, key).flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
}

export function queryInt(q: LocationQuery, key: string, fallback: number, min: number, max: number): number {
  const s = queryString(q, key);
  if (s === null || !/^-?\d+$/.test(s)) return fallback;
  return Math.min(max, Math.max(min, Number(s)));
}

export function queryBool(q: LocationQuery, key: string, fallback: boolean): boolean {
  const s = queryString(q, key);
  if (s === null) return fallback;
  return s === "1" || s === "true" || s === "yes" || s === "on";
}

// ---- the Data view ----------------------------------------------------------------------------------

export interface DataState {
  table: string | null;
  where: string[];
  /** `field` or `-field`. */
  sort: string | null;
  /** The columns shown; empty = all. */
  cols: string[];
  limit: number;
  live: boolean;
}

export const DATA_DEFAULTS: DataState = { table: null, where: [], sort: null, cols: [], limit: 200, live: true };

export function parseDataState(q: LocationQuery, table: string | null): DataState {
  return {
    table,
    where: queryList(q, "where"),
    sort: queryString(q, "sort"),
    cols: queryCsv(q, "cols"),
    limit: queryInt(q, "limit", DATA_DEFAULTS.limit, 1, 1000),
    live: queryBool(q, "live", DATA_DEFAULTS.live),
  };
}

export function dataStateQuery(s: DataState): LocationQueryRaw {
  const q: LocationQueryRaw = {};
  if (s.where.length > 0) q["where"] = s.where;
  if (s.sort !== null) q["sort"] = s.sort;
  if (s.cols.length > 0) q["cols"] = s.cols.join(",");
  if (s.limit !== DATA_DEFAULTS.limit) q["limit"] = String(s.limit);
  if (s.live !== DATA_DEFAULTS.live) q["live"] = s.live ? "1" : "0";
  return q;
}

// ---- the Query view ---------------------------------------------------------------------------------

export interface QueryState {
  with: string[];
  without: string[];
  where: string[];
  orderBy: string | null;
  desc: boolean;
  limit: number;
}

export const QUERY_DEFAULTS: QueryState = { with: [], without: [], where: [], orderBy: null, desc: false, limit: 100 };

export function parseQueryState(q: LocationQuery): QueryState {
  return {
    with: queryCsv(q, "with"),
    without: queryCsv(q, "without"),
    where: queryList(q, "where"),
    orderBy: queryString(q, "order_by"),
    desc: queryBool(q, "desc", false),
    limit: queryInt(q, "limit", QUERY_DEFAULTS.limit, 1, 1000),
  };
}

export function queryStateQuery(s: QueryState): LocationQueryRaw {
  const q: LocationQueryRaw = {};
  if (s.with.length > 0) q["with"] = s.with.join(",");
  if (s.without.length > 0) q["without"] = s.without.join(",");
  if (s.where.length > 0) q["where"] = s.where;
  if (s.orderBy !== null) q["order_by"] = s.orderBy;
  if (s.desc) q["desc"] = "1";
  if (s.limit !== QUERY_DEFAULTS.limit) q["limit"] = String(s.limit);
  return q;
}

// ---- the Metrics view -------------------------------------------------------------------------------

export const METRIC_WINDOWS = [60, 300, 900, 3600] as const;

export function parseWindow(q: LocationQuery): number {
  const w = queryInt(q, "window", 300, 1, 86400);
  return (METRIC_WINDOWS as readonly number[]).includes(w) ? w : 300;
}
