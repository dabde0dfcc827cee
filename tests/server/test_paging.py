"""Paging of GET /api/tables/{table}/rows and POST /api/query at a pinned version while commits go on;
sorting, projection and filtering."""
from __future__ import annotations

import pytest

from conftest import check

ROWS = "/api/tables/{table}/rows"
QUERY = "/api/query"
N = 250


@pytest.fixture
def filled(server):
    """250 entities with health hp = 0..249 (max_hp = hp % 7), created by one transaction; every third also has
    a transform."""
    ops = [{"op": "create"} for _ in range(N)]
    ops += [{"op": "add", "table": "health", "entity": f"${i}", "values": {"hp": i, "max_hp": i % 7}} for i in range(N)]
    ops += [{"op": "add", "table": "transform", "entity": f"${i}", "values": {"position_x": float(i)}}
            for i in range(0, N, 3)]
    out = server.tx(ops)
    assert len(out["created"]) == N
    server.ids = out["created"]
    server.filled_version = out["version"]
    return server


def test_paging_is_consistent_at_a_pinned_version(filled):
    s = filled
    first = check(s.get("/api/tables/health/rows", params={"limit": 100}), "GET", ROWS, 200)
    version, total = first["version"], first["total"]
    assert total == N and len(first["rows"]) == 100 and first["next"]
    pages = [first]
    after = first["next"]
    extra = 0
    while after:
        # Commits between pages: new rows, changed rows, removed rows; the pinned pages must not see them.
        s.create_health(1000 + extra)
        s.tx([{"op": "set", "table": "health", "entity": s.ids[extra], "field": "hp", "value": 5000 + extra}])
        s.tx([{"op": "destroy", "entity": s.ids[N - 1 - extra]}])
        extra += 1
        page = check(s.get("/api/tables/health/rows", params={"limit": 100, "after": after, "version": version}),
                     "GET", ROWS, 200)
        assert page["version"] == version and page["total"] == total
        pages.append(page)
        after = page["next"]
    assert [len(p["rows"]) for p in pages] == [100, 100, 50]
    rows = [r for p in pages for r in p["rows"]]
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == N, "duplicate or missing rows"
    assert sorted(keys) == sorted(s.ids)
    assert sorted(r["values"]["hp"] for r in rows) == list(range(N))
    # The newest version sees the changes.
    now = s.get("/api/tables/health/rows", params={"limit": 1000}).json()
    assert now["version"] > version and now["total"] == N  # extra rows created, as many destroyed


def test_paging_backwards_returns_the_same_pages(filled):
    """`prev` walks back through the pages `next` walked forward, at the same version, while commits go on."""
    s = filled
    params = {"limit": 60, "sort": "-hp"}
    forward = [check(s.get("/api/tables/health/rows", params=params), "GET", ROWS, 200)]
    version = forward[0]["version"]
    assert forward[0]["prev"] is None, "the first page has no page before it"
    while forward[-1]["next"]:
        s.create_health(7000 + len(forward))
        forward.append(check(s.get("/api/tables/health/rows",
                                   params={**params, "after": forward[-1]["next"], "version": version}), "GET", ROWS, 200))
    assert [len(p["rows"]) for p in forward] == [60, 60, 60, 60, 10]
    backward = [forward[-1]]
    while backward[-1]["prev"]:
        backward.append(check(s.get("/api/tables/health/rows",
                                    params={**params, "after": backward[-1]["prev"], "version": version}), "GET", ROWS, 200))
    assert [p["rows"] for p in reversed(backward)] == [p["rows"] for p in forward]
    # A query pages back too.
    q = {"with": ["health"], "limit": 100}
    first = check(s.post(QUERY, q), "POST", QUERY, 200)
    second = check(s.post(QUERY, {**q, "after": first["next"], "version": first["version"]}), "POST", QUERY, 200)
    again = check(s.post(QUERY, {**q, "after": second["prev"], "version": first["version"]}), "POST", QUERY, 200)
    assert first["prev"] is None and again["entities"] == first["entities"] and again["prev"] is None


def test_cursor_at_newest_version_without_pinning(filled):
    s = filled
    seen = []
    page = s.get("/api/tables/health/rows", params={"limit": 100}).json()
    seen += page["rows"]
    while page["next"]:
        page = s.get("/api/tables/health/rows", params={"limit": 100, "after": page["next"],
                                                          "version": page["version"]}).json()
        seen += page["rows"]
    assert len(seen) == N


def test_sort(filled):
    s = filled
    desc = check(s.get("/api/tables/health/rows", params={"sort": "-hp", "limit": 5}), "GET", ROWS, 200)
    assert [r["values"]["hp"] for r in desc["rows"]] == [249, 248, 247, 246, 245]
    # Sorted paging: the second page continues the order.
    p1 = s.get("/api/tables/health/rows", params={"sort": "max_hp", "limit": 100}).json()
    p2 = s.get("/api/tables/health/rows", params={"sort": "max_hp", "limit": 100, "after": p1["next"],
                                                    "version": p1["version"]}).json()
    p3 = s.get("/api/tables/health/rows", params={"sort": "max_hp", "limit": 100, "after": p2["next"],
                                                    "version": p1["version"]}).json()
    values = [r["values"]["max_hp"] for p in (p1, p2, p3) for r in p["rows"]]
    assert values == sorted(values) and len(values) == N
    # Stable: equal max_hp keep row order (hp ascending as inserted).
    hps = [r["values"]["hp"] for p in (p1, p2, p3) for r in p["rows"] if r["values"]["max_hp"] == 3]
    assert hps == sorted(hps)
    asc = s.get("/api/tables/transform/rows", params={"sort": "position_x", "limit": 3}).json()
    assert [r["values"]["position_x"] for r in asc["rows"]] == [0.0, 3.0, 6.0]


def test_projection(filled):
    s = filled
    page = check(s.get("/api/tables/health/rows", params={"fields": "hp", "limit": 3}), "GET", ROWS, 200)
    assert all(set(r["values"]) == {"hp"} for r in page["rows"])
    both = s.get("/api/tables/health/rows", params={"fields": "max_hp,hp", "limit": 1}).json()
    assert set(both["rows"][0]["values"]) == {"hp", "max_hp"}


def test_where(filled):
    s = filled
    r = check(s.get("/api/tables/health/rows", params={"where": ["hp>=10", "hp<20"], "limit": 100}), "GET", ROWS, 200)
    assert r["total"] == 10 and sorted(x["values"]["hp"] for x in r["rows"]) == list(range(10, 20))
    eq = s.get("/api/tables/health/rows", params={"where": "max_hp=3", "limit": 1000}).json()
    assert eq["total"] == len([i for i in range(N) if i % 7 == 3])
    ne = s.get("/api/tables/health/rows", params={"where": "max_hp!=3", "limit": 1000}).json()
    assert ne["total"] + eq["total"] == N
    qualified = s.get("/api/tables/health/rows", params={"where": "health.hp<=2"}).json()
    assert qualified["total"] == 3
    gt = s.get("/api/tables/health/rows", params={"where": "hp>247"}).json()
    assert sorted(x["values"]["hp"] for x in gt["rows"]) == [248, 249]
    # Paged where: total counts every matching row.
    p1 = s.get("/api/tables/health/rows", params={"where": "hp<150", "limit": 100}).json()
    assert p1["total"] == 150 and len(p1["rows"]) == 100 and p1["next"]
    p2 = s.get("/api/tables/health/rows", params={"where": "hp<150", "limit": 100, "after": p1["next"],
                                                    "version": p1["version"]}).json()
    assert len(p2["rows"]) == 50 and p2["next"] is None
    floats = s.get("/api/tables/transform/rows", params={"where": "position_x>240.5"}).json()
    assert sorted(x["values"]["position_x"] for x in floats["rows"]) == [243.0, 246.0, 249.0]


def test_query_with_without_where(filled):
    s = filled
    both = check(s.post(QUERY, {"with": ["health", "transform"], "limit": 1000}), "POST", QUERY, 200)
    assert both["total"] == len(range(0, N, 3))
    assert all(set(e["components"]) == {"health", "transform"} for e in both["entities"])
    without = check(s.post(QUERY, {"with": ["health"], "without": ["transform"], "limit": 1000}), "POST", QUERY, 200)
    assert without["total"] == N - both["total"]
    assert all(e["components"]["health"]["hp"] % 3 != 0 for e in without["entities"])
    low = check(s.post(QUERY, {"where": ["health.hp<10"], "include": ["health", "transform"]}), "POST", QUERY, 200)
    assert low["total"] == 10
    assert sorted(e["components"]["health"]["hp"] for e in low["entities"]) == list(range(10))
    assert all(("transform" in e["components"]) == (e["components"]["health"]["hp"] % 3 == 0) for e in low["entities"])
    noinclude = s.post(QUERY, {"with": ["health"], "include": ["transform"], "limit": 3}).json()
    assert all(set(e["components"]) <= {"transform"} for e in noinclude["entities"])


def test_query_order_limit_after(filled):
    s = filled
    q = {"with": ["health"], "order_by": "health.hp", "desc": True, "limit": 100}
    p1 = check(s.post(QUERY, q), "POST", QUERY, 200)
    assert p1["total"] == N and p1["next"]
    assert [e["components"]["health"]["hp"] for e in p1["entities"][:3]] == [249, 248, 247]
    got = list(p1["entities"])
    after = p1["next"]
    i = 0
    while after:
        s.create_health(10_000 + i)  # a new highest hp: not in the pinned pages
        i += 1
        page = check(s.post(QUERY, dict(q, after=after, version=p1["version"])), "POST", QUERY, 200)
        assert page["total"] == N and page["version"] == p1["version"]
        got += page["entities"]
        after = page["next"]
    hps = [e["components"]["health"]["hp"] for e in got]
    assert hps == list(range(N - 1, -1, -1))
    assert len({e["entity"] for e in got}) == N
    asc = s.post(QUERY, {"order_by": "health.max_hp", "limit": 5, "where": ["health.hp>=200", "health.hp<1000"]}).json()
    assert [e["components"]["health"]["max_hp"] for e in asc["entities"]] == sorted(
        e["components"]["health"]["max_hp"] for e in asc["entities"])
    assert asc["total"] == 50
