// The references between tables as a laid-out graph: a node per table, an edge per entity-reference field
// ("table.field → table"), placed by dagre (@dagrejs/dagre, a layered graph layout) and handed to the
// ReferenceGraph component as plain boxes, SVG paths (curves by d3-shape) and label positions. No layout
// or curve arithmetic of our own beyond measuring labels.
import { graphlib, layout } from "@dagrejs/dagre";
import { curveCatmullRom, curveMonotoneX, line } from "d3-shape";
import type { Table } from "../api/types";
import { referenceEdges } from "./layout";

export interface GraphNode {
  name: string;
  /** The second line of the box: cardinality and field count, or "not in the schema". */
  detail: string;
  /** A table that a reference names but the schema does not hold (an edited text in progress). */
  missing: boolean;
  /** Top-left corner and size of the box. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GraphEdge {
  id: string;
  from: string;
  to: string;
  field: string;
  ownerKey: boolean;
  /** SVG path data through dagre's points. */
  path: string;
  /** Centre and size of the edge's label (the field name), which dagre kept clear of the boxes. */
  labelX: number;
  labelY: number;
  labelWidth: number;
  labelHeight: number;
}

export interface ReferenceGraph {
  width: number;
  height: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

type GraphTable = Pick<Table, "name" | "fields" | "parent_table" | "cardinality">;

/** Label sizes: the component draws names in 13px monospace (about 8 px a character) and details in 11px. */
export const NODE_HEIGHT = 42;
const NAME_CHAR = 8;
const DETAIL_CHAR = 6.2;
const LABEL_CHAR = 6.6;
const NODE_PAD = 24;

function nodeWidth(name: string, detail: string): number {
  return Math.ceil(Math.max(80, name.length * NAME_CHAR + NODE_PAD, detail.length * DETAIL_CHAR + NODE_PAD));
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * A path through all the points (dagre's bends and the label's position), drawn by d3-shape: a monotone
 * curve in x (edges run left to right), so it passes through each point, the label sits on its edge, and
 * it never overshoots between points. Straight for two points; a self-reference (not monotone) as
 * a rounded curve through its points.
 */
const monotone = line<{ x: number; y: number }>((p) => p.x, (p) => p.y).curve(curveMonotoneX).digits(1);
const rounded = line<{ x: number; y: number }>((p) => p.x, (p) => p.y).curve(curveCatmullRom).digits(1);

export function edgePath(points: readonly { x: number; y: number }[]): string {
  if (points.length === 0) return "";
  const increasing = points.every((p, i) => i === 0 || p.x >= points[i - 1]!.x);
  return (increasing ? monotone : rounded)([...points]) ?? "";
}

interface NodeData {
  width: number;
  height: number;
  x?: number;
  y?: number;
}
interface EdgeData {
  width: number;
  height: number;
  labelpos: "c";
  points?: { x: number; y: number }[];
  x?: number;
  y?: number;
}

/**
 * Lays out the tables and their references, left to right: a referencing table sits left of the table it
 * points at, so the entity registry ends up on the right with its components fanned out before it.
 */
export function referenceGraph(tables: readonly GraphTable[]): ReferenceGraph {
  const edges = referenceEdges(tables);
  const g = new graphlib.Graph<Record<string, unknown>, NodeData, EdgeData>({ directed: true, multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 70, edgesep: 10, marginx: 8, marginy: 8 });

  const details = new Map<string, { detail: string; missing: boolean }>();
  for (const t of tables) {
    const n = t.fields.length;
    details.set(t.name, { detail: `${t.cardinality} · ${n} field${n === 1 ? "" : "s"}`, missing: false });
  }
  for (const e of edges) if (!details.has(e.to)) details.set(e.to, { detail: "not in the schema", missing: true });
  for (const [name, d] of details) g.setNode(name, { width: nodeWidth(name, d.detail), height: NODE_HEIGHT });

  for (const e of edges) {
    g.setEdge(e.from, e.to, { width: Math.ceil(e.field.length * LABEL_CHAR) + 6, height: 14, labelpos: "c" }, `${e.from}.${e.field}`);
  }

  if (g.nodeCount() === 0) return { width: 0, height: 0, nodes: [], edges: [] };
  layout(g);

  const nodes: GraphNode[] = [];
  for (const [name, d] of details) {
    const n = g.node(name);
    nodes.push({ name, detail: d.detail, missing: d.missing, width: n.width, height: n.height, x: round((n.x ?? 0) - n.width / 2), y: round((n.y ?? 0) - n.height / 2) });
  }
  const out: GraphEdge[] = edges.map((e) => {
    const id = `${e.from}.${e.field}`;
    const data = g.edge({ v: e.from, w: e.to, name: id });
    const points = data.points ?? [];
    const mid = points[Math.floor(points.length / 2)] ?? { x: 0, y: 0 };
    return { id, from: e.from, to: e.to, field: e.field, ownerKey: e.ownerKey, path: edgePath(points), labelX: round(data.x ?? mid.x), labelY: round(data.y ?? mid.y), labelWidth: data.width, labelHeight: data.height };
  });
  const size = g.graph();
  const width = typeof size["width"] === "number" ? size["width"] : 0;
  const height = typeof size["height"] === "number" ? size["height"] : 0;
  return { width: Math.ceil(width), height: Math.ceil(height), nodes, edges: out };
}
