// The references between tables as a graph: the layout (dagre) in lib/referenceGraph, and the SVG the
// ReferenceGraph component draws from it in happy-dom.
import { describe, expect, test } from "vitest";
import { mount } from "@vue/test-utils";
import ReferenceGraph from "../src/components/ReferenceGraph.vue";
import { edgePath, NODE_HEIGHT, referenceGraph } from "../src/lib/referenceGraph";
import type { Field, Table } from "../src/api/types";

function field(name: string, over: Partial<Field> = {}): Field {
  return { name, id: 0, type: "u32", kind: "scalar", offset: 0, size: 4, align: 4, stored: true, owner_key: false, unique: false, deprecated: false, foreign_key: null, default: null, ...over };
}
const owner = (name = "entity_id") => field(name, { type: "u64", kind: "entity_ref", stored: false, owner_key: true, foreign_key: "entities.id" });
const ref = (name: string) => field(name, { type: "entity", kind: "entity_ref" });

function table(name: string, fields: Field[], over: Partial<Table> = {}): Table {
  return { name, id: 0, cardinality: "one", parent_table: "entities", stride: 0, align: 1, fields, ...over };
}

// A world like the showcase schema's: the registry, components owned by an entity, one that also points
// at another entity, a "many" table, and an unrelated table.
const tables: Table[] = [
  table("entities", [field("id", { type: "u64", stored: false })], { parent_table: null }),
  table("transform", [owner(), field("x"), field("y")]),
  table("health", [owner(), field("hp")]),
  table("ai_brain", [owner(), ref("target"), ref("home")]),
  table("inventory_item", [owner("owner"), field("item")], { cardinality: "many" }),
  table("settings", [field("volume")], { parent_table: null }),
];

type Box = { x: number; y: number; width: number; height: number };
const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
const inside = (p: { x: number; y: number }, g: { width: number; height: number }) => p.x >= 0 && p.y >= 0 && p.x <= g.width && p.y <= g.height;

describe("referenceGraph (dagre layout)", () => {
  test("a node per table, an edge per reference field, two fields to one table kept apart", () => {
    const g = referenceGraph(tables);
    expect(g.nodes.map((n) => n.name).sort()).toEqual(["ai_brain", "entities", "health", "inventory_item", "settings", "transform"]);
    expect(g.edges.map((e) => [e.id, e.to, e.ownerKey])).toEqual([
      ["transform.entity_id", "entities", true],
      ["health.entity_id", "entities", true],
      ["ai_brain.entity_id", "entities", true],
      ["ai_brain.target", "entities", false],
      ["ai_brain.home", "entities", false],
      ["inventory_item.owner", "entities", true],
    ]);
    expect(g.nodes.find((n) => n.name === "inventory_item")?.detail).toBe("many · 2 fields");
    expect(g.nodes.find((n) => n.name === "entities")?.detail).toBe("one · 1 field");
    // the three edges between ai_brain and entities are three paths, not one drawn three times
    const brain = g.edges.filter((e) => e.from === "ai_brain");
    expect(new Set(brain.map((e) => e.path)).size).toBe(3);
  });

  test("boxes do not overlap, everything is inside the drawing, references point left to right", () => {
    const g = referenceGraph(tables);
    expect(g.width).toBeGreaterThan(0);
    expect(g.height).toBeGreaterThan(0);
    for (const n of g.nodes) {
      expect(n.height).toBe(NODE_HEIGHT);
      expect(n.width).toBeGreaterThanOrEqual(n.name.length * 8);
      expect(inside(n, g) && inside({ x: n.x + n.width, y: n.y + n.height }, g)).toBe(true);
    }
    for (const [i, a] of g.nodes.entries()) for (const b of g.nodes.slice(i + 1)) expect(overlap(a, b), `${a.name} / ${b.name}`).toBe(false);
    const at = (name: string) => g.nodes.find((n) => n.name === name)!;
    for (const e of g.edges) {
      expect(at(e.from).x + at(e.from).width).toBeLessThan(at(e.to).x);
      expect(e.path).toMatch(/^M[\d.]+,[\d.]+[LC]/);
      // the label sits on its edge: the label's position is one of the points the path passes through
      expect(e.path).toContain(`,${e.labelX},${e.labelY}C`);
      expect(inside({ x: e.labelX, y: e.labelY }, g)).toBe(true);
    }
  });

  test("a reference to a table the text does not define is a missing node; no tables, no drawing", () => {
    const g = referenceGraph([table("health", [owner(), field("hp")], { parent_table: null })]);
    expect(g.nodes.map((n) => [n.name, n.missing])).toEqual([["health", false], ["entities", true]]);
    expect(referenceGraph([])).toEqual({ width: 0, height: 0, nodes: [], edges: [] });
  });

  test("edge paths (d3-shape) pass through every point", () => {
    expect(edgePath([])).toBe("");
    expect(edgePath([{ x: 0, y: 0 }, { x: 10.04, y: 5 }])).toBe("M0,0L10,5");
    const d = edgePath([{ x: 0, y: 0 }, { x: 12, y: 0 }, { x: 24, y: 12 }]);
    expect(d).toMatch(/^M0,0C[-\d.,]+,12,0C[-\d.,]+,24,12$/);
    // monotone: no control point outside the points' y range (no overshoot)
    const ys = [...d.matchAll(/(-?[\d.]+),(-?[\d.]+)/g)].map((m) => Number(m[2]));
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...ys)).toBeLessThanOrEqual(12);
    // a self-reference goes back on itself: still one path through its points
    expect(edgePath([{ x: 10, y: 0 }, { x: 20, y: -10 }, { x: 10, y: -20 }])).toMatch(/^M10,0C.*10,-20$/);
  });
});

describe("ReferenceGraph component", () => {
  test("draws a box per table and a labelled arrow per reference; boxes link to the table", async () => {
    const w = mount(ReferenceGraph, { props: { tables, href: (t: string) => `/data/${t}` } });
    const svg = w.find("svg");
    expect(svg.attributes("viewBox")).toMatch(/^0 0 \d+ \d+$/);
    expect(svg.attributes("aria-label")).toContain("6 tables, 6 references");
    expect(svg.attributes("aria-label")).toContain("ai_brain.target to entities");
    const nodes = w.findAll("a.node");
    expect(nodes.map((n) => n.attributes("data-table")).sort()).toEqual(["ai_brain", "entities", "health", "inventory_item", "settings", "transform"]);
    expect(w.find('a.node[data-table="health"]').attributes("href")).toBe("/data/health");
    expect(w.find('a.node[data-table="health"] .name').text()).toBe("health");
    const edges = w.findAll("g.edge");
    expect(edges).toHaveLength(6);
    expect(w.findAll("g.edge.owner")).toHaveLength(4);
    const target = w.find('g.edge[data-edge="ai_brain.target"]');
    expect(target.find("text").text()).toBe("target");
    expect(target.find("title").text()).toBe("ai_brain.target → entities");
    // the arrow head is this instance's marker
    const marker = w.find("marker").attributes("id");
    expect(target.find("path").attributes("marker-end")).toBe(`url(#${marker})`);

    await w.find('a.node[data-table="health"]').trigger("click", { button: 0 });
    expect(w.emitted("open")).toEqual([["health"]]);
  });

  test("a missing table has no link and says so; an empty schema says so", async () => {
    const w = mount(ReferenceGraph, { props: { tables: [table("health", [owner()], { parent_table: null })], href: (t: string) => `/data/${t}` } });
    const missing = w.find('a.node[data-table="entities"]');
    expect(missing.classes()).toContain("missing");
    expect(missing.attributes("href")).toBeUndefined();
    expect(missing.text()).toContain("not in the schema");
    await missing.trigger("click");
    expect(w.emitted("open")).toBeUndefined();
    expect(mount(ReferenceGraph, { props: { tables: [] } }).text()).toContain("No tables.");
  });
});
