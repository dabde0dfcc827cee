"""Every route of docs/openapi.yaml with good input (status and body validated against the spec) and bad input
(every error body validated against the Error schema)."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

import spec_util
from conftest import SCHEMA, check, check_error

REPO_SCHEMAS = Path(SCHEMA).parent

ROWS = "/api/tables/{table}/rows"
ENTITY = "/api/entities/{id}"
TX = "/api/transactions"
QUERY = "/api/query"


def test_spec_is_loaded_and_lists_every_route():
    ops = set(spec_util.operations())
    assert ("GET", "/api/health") in ops and ("POST", TX) in ops and ("GET", "/api/stream") in ops
    assert ("GET", "/api/replication") in ops
    assert len(ops) == 16


def test_every_operation_documents_errors_consistently():
    for method, path in spec_util.operations():
        statuses = spec_util.documented_statuses(method, path)
        assert {429, 500, 503} <= statuses, (method, path)
        if path not in ("/api/health", "/api/replication"):  # public: no token at the HTTP level
            assert {401, 403} <= statuses, (method, path)
        for status in statuses:
            if status >= 400:
                node, _ = spec_util.response_spec(method, path, status)
                assert "application/json" in node["content"], (method, path, status)


# ---- status routes ----

def test_health(server):
    body = check(server.get("/api/health"), "GET", "/api/health", 200)
    assert body["status"] == "ok" and body["version"] >= 0 and "reason" not in body


def test_info(server):
    body = check(server.get("/api/info"), "GET", "/api/info", 200)
    assert body["durability"] == "sync"
    assert body["data_dir"] == str(server.data)
    assert body["read_only"] is False
    assert body["schema"]["name"] == "game_db"
    assert body["committed_version"] >= body["durable_version"] >= 0


def test_info_memory(server_factory):
    s = server_factory(data=False)
    body = check(s.get("/api/info"), "GET", "/api/info", 200)
    assert body["durability"] == "memory" and body["data_dir"] is None


def test_schema(server):
    body = check(server.get("/api/schema"), "GET", "/api/schema", 200)
    assert [t["name"] for t in body["tables"]] == ["entities", "transform", "health"]
    health = next(t for t in body["tables"] if t["name"] == "health")
    assert health["cardinality"] == "one" and health["parent_table"] == "entities"
    fields = {f["name"]: f for f in health["fields"]}
    assert fields["hp"]["type"] == "u32" and fields["hp"]["kind"] == "scalar"
    assert fields["entity_id"]["owner_key"] is True and fields["entity_id"]["foreign_key"] == "entities.id"
    assert "[tables.health]" in body["toml"]


# ---- schema validation ----

def test_validate_schema_describes_structs_and_enums(server):
    """The showcase schema's structs come with their members' layout (offsets within the struct)."""
    with open(REPO_SCHEMAS / "showcase.toml", encoding="utf-8") as f:
        toml = f.read()
    r = server.post("/api/schema/validate", toml, content_type="application/toml")
    body = check(r, "POST", "/api/schema/validate", 200)
    assert body["valid"] is True
    structs = {st["name"]: st for st in body["structs"]}
    assert {"Vec3", "Quat", "Aabb", "DamageRoll"} <= set(structs)
    vec3 = structs["Vec3"]
    assert vec3["size"] == 12 and vec3["align"] == 4
    assert [(f["name"], f["offset"], f["size"]) for f in vec3["fields"]] == [("x", 0, 4), ("y", 4, 4), ("z", 8, 4)]
    aabb = structs["Aabb"]
    assert [(f["name"], f["type"], f["kind"], f["offset"]) for f in aabb["fields"]] == [
        ("min", "Vec3", "struct", 0), ("max", "Vec3", "struct", 12)]
    quat_w = next(f for f in structs["Quat"]["fields"] if f["name"] == "w")
    assert quat_w["default"] == 1.0, "a member's own default is described"
    assert body["enums"], "the showcase schema's enums are listed too"


def test_schema_lists_structs(server):
    body = check(server.get("/api/schema"), "GET", "/api/schema", 200)
    assert body["structs"] == [], "game.toml declares no struct"


def test_validate_schema_valid(server):
    with open(SCHEMA, encoding="utf-8") as f:
        toml = f.read()
    for ctype in ("application/toml", "text/plain", "text/plain; charset=utf-8"):
        body = check(server.post("/api/schema/validate", toml, content_type=ctype), "POST", "/api/schema/validate", 200)
        assert body["valid"] is True and body["name"] == "game_db"
        assert body["layout_hash"] == server.get("/api/schema").json()["layout_hash"]


def test_validate_schema_invalid(server):
    bad = '[database]\nname = "x"\nversion = "1"\n[tables.t]\n[[tables.t.fields]]\nname = "a"\ntype = "nosuchtype"\n'
    body = check(server.post("/api/schema/validate", bad, content_type="application/toml"),
                 "POST", "/api/schema/validate", 200)
    assert body["valid"] is False and body["errors"]
    syntax = check(server.post("/api/schema/validate", "this is = = not toml", content_type="text/plain"),
                   "POST", "/api/schema/validate", 200)
    assert syntax["valid"] is False and syntax["errors"][0]["line"] >= 1


def test_validate_schema_wrong_content_type(server):
    for ctype in ("application/json", None):
        r = server.post("/api/schema/validate", b"[database]", content_type=ctype)
        check_error(r, "POST", "/api/schema/validate", 415, "unsupported_media_type")


# ---- tables and rows ----

def test_tables(server):
    server.create_health(5)
    body = check(server.get("/api/tables"), "GET", "/api/tables", 200)
    by_name = {t["name"]: t for t in body["tables"]}
    assert by_name["health"]["rows"] == 1 and by_name["health"]["bytes"] == by_name["health"]["stride"]
    assert by_name["entities"]["rows"] == 1


def test_tables_answers_only_documented_statuses(server):
    for params in ({"version": "abc"}, {"version": "1"}):
        r = server.get("/api/tables", params=params)
        assert r.status in spec_util.documented_statuses("GET", "/api/tables"), r
    check_error(server.get("/api/tables", params={"version": "abc"}), "GET", "/api/tables", 400, "bad_request")


def test_rows(server):
    e = server.create_health(5, 10)
    body = check(server.get("/api/tables/health/rows"), "GET", ROWS, 200)
    assert body["table"] == "health" and body["total"] == 1 and body["next"] is None
    assert body["rows"] == [{"key": e, "values": {"hp": 5, "max_hp": 10}}]
    ent = check(server.get("/api/tables/entities/rows"), "GET", ROWS, 200)
    assert ent["rows"][0]["key"] == e


def test_rows_float_values_are_json_numbers(server):
    out = server.tx([{"op": "create"}, {"op": "add", "table": "transform", "entity": "$0",
                                         "values": {"position_x": 1.5, "position_y": -2.25}}])
    r = server.get("/api/tables/transform/rows")
    body = check(r, "GET", ROWS, 200)
    assert body["rows"] == [{"key": out["created"][0],
                             "values": {"position_x": 1.5, "position_y": -2.25, "position_z": 0.0}}]


@pytest.mark.parametrize("params,status,code", [
    ({"limit": "0"}, 400, "bad_request"),
    ({"limit": "1001"}, 400, "bad_request"),
    ({"limit": "ten"}, 400, "bad_request"),
    ({"after": "not-a-cursor"}, 400, "bad_request"),
    ({"where": "hp"}, 400, "bad_request"),
    ({"where": "hp<abc"}, 400, "bad_request"),
    ({"where": "transform.position_x<1"}, 400, "bad_request"),
    ({"where": "nope<3"}, 404, "not_found"),
    ({"sort": "nope"}, 404, "not_found"),
    ({"sort": "-nope"}, 404, "not_found"),
    ({"fields": "hp,nope"}, 404, "not_found"),
    ({"version": "abc"}, 400, "bad_request"),
])
def test_rows_bad_input(server, params, status, code):
    server.create_health(1)
    check_error(server.get("/api/tables/health/rows", params=params), "GET", ROWS, status, code)


def test_rows_unknown_table(server):
    check_error(server.get("/api/tables/nosuch/rows"), "GET", ROWS, 404, "not_found", table="nosuch")


def test_version_gone(server):
    for i in range(20):
        server.create_health(i)
    assert server.version() > 20
    r = check_error(server.get("/api/tables/health/rows", params={"version": 1}), "GET", ROWS, 410, "version_gone")
    assert "version 1" in r["error"]["message"]
    e = server.create_health(7)
    check_error(server.get(f"/api/entities/{e}", params={"version": 1}), "GET", ENTITY, 410, "version_gone")
    check_error(server.post(QUERY, {"with": ["health"], "version": 1}), "POST", QUERY, 410, "version_gone")
    # A version that is read stays retained for later pages.
    page = server.get("/api/tables/health/rows", params={"limit": 1}).json()
    server.create_health(8)
    again = check(server.get("/api/tables/health/rows", params={"limit": 1, "version": page["version"]}), "GET", ROWS, 200)
    assert again["version"] == page["version"] and again["total"] == page["total"]


# ---- entities ----

def test_entity(server):
    out = server.tx([{"op": "create"},
                     {"op": "add", "table": "health", "entity": "$0", "values": {"hp": 3, "max_hp": 4}},
                     {"op": "add", "table": "transform", "entity": "$0", "values": {"position_x": 2.5}}])
    e = out["created"][0]
    body = check(server.get(f"/api/entities/{e}"), "GET", ENTITY, 200)
    assert body["entity"] == e and body["version"] == out["version"]
    assert body["components"]["health"] == {"hp": 3, "max_hp": 4}
    assert body["components"]["transform"]["position_x"] == 2.5
    assert body["children"] == {} and body["references"] == [] and body["referenced_by"] == []
    # At an older, retained version.
    v = server.get("/api/tables/health/rows").json()["version"]
    server.tx([{"op": "set", "table": "health", "entity": e, "field": "hp", "value": 9}])
    old = check(server.get(f"/api/entities/{e}", params={"version": v}), "GET", ENTITY, 200)
    assert old["components"]["health"]["hp"] == 3
    assert server.get(f"/api/entities/{e}").json()["components"]["health"]["hp"] == 9


@pytest.mark.parametrize("bad_id", ["abc", "12", "1:x", "-1:1", "1:1:1", "99999999999:1"])
def test_entity_malformed_id(server, bad_id):
    check_error(server.get(f"/api/entities/{bad_id}"), "GET", ENTITY, 400, "invalid_value")


def test_entity_not_alive(server):
    check_error(server.get("/api/entities/999:1"), "GET", ENTITY, 404, "not_found", entity="999:1")
    e = server.create_health(1)
    server.tx([{"op": "destroy", "entity": e}])
    check_error(server.get(f"/api/entities/{e}"), "GET", ENTITY, 404, "not_found", entity=e)


def test_entity_generation_zero_is_not_found(server):
    check_error(server.get("/api/entities/0:0"), "GET", ENTITY, 404, "not_found")


# ---- transactions ----

def test_transaction_ok(server):
    v0 = server.version()
    r = server.post(TX, {"ops": [{"op": "create"}, {"op": "create"},
                                 {"op": "add", "table": "health", "entity": "$1", "values": {"hp": 1}}]})
    body = check(r, "POST", TX, 200)
    assert body["version"] == v0 + 1 and len(body["created"]) == 2 and body["rows"] == [] and body["durable"] is True
    e0, e1 = body["created"]
    assert server.get(f"/api/entities/{e1}").json()["components"] == {"health": {"hp": 1, "max_hp": 0}}
    assert server.get(f"/api/entities/{e0}").json()["components"] == {}
    # Every op kind.
    ops = [
        {"op": "put", "table": "health", "entity": e0, "values": {"hp": 10, "max_hp": 20}},
        {"op": "update", "table": "health", "entity": e0, "values": {"hp": 11}},
        {"op": "set", "table": "health", "entity": e1, "field": "max_hp", "value": "30"},
        {"op": "expect", "table": "health", "entity": e0, "values": {"hp": 11, "max_hp": 20}},
        {"op": "expect", "table": "transform", "entity": e0, "absent": True},
        {"op": "add", "table": "transform", "entity": e0, "values": {"position_x": "Infinity"}},
        {"op": "remove", "table": "health", "entity": e1},
    ]
    check(server.post(TX, {"ops": ops}), "POST", TX, 200)
    comps = server.get(f"/api/entities/{e0}").json()["components"]
    assert comps["health"] == {"hp": 11, "max_hp": 20}
    assert comps["transform"]["position_x"] == "Infinity"
    assert server.get(f"/api/entities/{e1}").json()["components"] == {}
    check(server.post(TX, {"ops": [{"op": "destroy", "entity": e1}]}), "POST", TX, 200)
    check_error(server.get(f"/api/entities/{e1}"), "GET", ENTITY, 404, "not_found")


def test_transaction_async_durability_flag(server_factory):
    s = server_factory("--durability", "async")
    assert check(s.post(TX, {"ops": [{"op": "create"}]}), "POST", TX, 200)["durable"] is False


def test_transaction_bad_json(server):
    for body in (b'{"ops": [', b"", b"nope", b'{"ops": [{"op": "create"}]} trailing'):
        check_error(server.post(TX, body, content_type="application/json"), "POST", TX, 400, "invalid_json")
    for body in ([], {"ops": {}}, {"ops": [{"op": "create"}], "extra": 1}, {"ops": [{"op": "fly"}]},
                 {"ops": [{"op": "create", "x": 1}]}, {"ops": [1]}):
        check_error(server.post(TX, body), "POST", TX, 400, "invalid_json")


def test_transaction_wrong_content_type(server):
    body = json.dumps({"ops": [{"op": "create"}]})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        check_error(server.post(TX, body, content_type=ctype), "POST", TX, 415, "unsupported_media_type")
    check(server.post(TX, body, content_type="application/json; charset=utf-8"), "POST", TX, 200)


def test_media_types_are_case_insensitive(server):
    check(server.post(TX, json.dumps({"ops": [{"op": "create"}]}), content_type="Application/JSON"), "POST", TX, 200)
    check(server.post(QUERY, "{}", content_type="APPLICATION/json; Charset=UTF-8"), "POST", QUERY, 200)
    with open(SCHEMA, encoding="utf-8") as f:
        toml = f.read()
    check(server.post("/api/schema/validate", toml, content_type="Text/Plain"), "POST", "/api/schema/validate", 200)


def test_validate_schema_content_type_with_space(server):
    with open(SCHEMA, encoding="utf-8") as f:
        toml = f.read()
    check(server.post("/api/schema/validate", toml, content_type="text/plain ; charset=utf-8"),
          "POST", "/api/schema/validate", 200)


def test_transaction_errors_name_the_op(server):
    e = server.create_health(5, 10)
    v = server.version()
    cases = [
        ([{"op": "create"}, {"op": "add", "table": "nosuch", "entity": "$0", "values": {}}], 404, "not_found",
         {"op": 1, "table": "nosuch"}),
        ([{"op": "update", "table": "health", "entity": e, "values": {"nope": 1}}], 404, "not_found",
         {"op": 0, "table": "health", "field": "nope"}),
        ([{"op": "create"}, {"op": "set", "table": "health", "entity": e, "field": "hp", "value": "x"}], 400,
         "invalid_value", {"op": 1, "field": "hp"}),
        ([{"op": "set", "table": "health", "entity": e, "field": "hp", "value": -1}], 400, "invalid_value", {"op": 0}),
        ([{"op": "set", "table": "health", "entity": "bad", "field": "hp", "value": 1}], 400, "invalid_value", {"op": 0}),
        ([{"op": "create"}, {"op": "add", "table": "health", "entity": e, "values": {}}], 409,
         "constraint_violation", {"op": 1, "table": "health", "entity": e}),
        ([{"op": "create"}, {"op": "expect", "table": "health", "entity": e, "values": {"hp": 6}}], 409,
         "precondition_failed", {"op": 1, "field": "hp", "entity": e}),
        ([{"op": "expect", "table": "health", "entity": e, "absent": True}], 409, "precondition_failed", {"op": 0}),
        ([{"op": "create"}, {"op": "create"}, {"op": "destroy", "entity": "$1"},
          {"op": "set", "table": "health", "entity": "$2", "field": "hp", "value": 1}], 422, "invalid_operation",
         {"op": 3}),
        ([{"op": "destroy", "entity": "$0"}], 422, "invalid_operation", {"op": 0}),
        ([{"op": "add", "table": "entities", "entity": e, "values": {}}], 422, "invalid_operation", {"op": 0}),
        ([{"op": "set", "table": "health", "entity": "999:1", "field": "hp", "value": 1}], 404, "not_found",
         {"op": 0, "entity": "999:1"}),
        ([], 422, "invalid_operation", {}),
    ]
    for ops, status, code, details in cases:
        r = server.post(TX, {"ops": ops})
        check_error(r, "POST", TX, status, code, **details)
    assert server.version() == v, "a failed transaction must not commit"
    assert server.get(f"/api/entities/{e}").json()["components"]["health"] == {"hp": 5, "max_hp": 10}


def test_transaction_stale_entity(server):
    e = server.create_health(1)
    server.tx([{"op": "destroy", "entity": e}])
    for op in ({"op": "set", "table": "health", "entity": e, "field": "hp", "value": 2},
               {"op": "add", "table": "transform", "entity": e, "values": {}},
               {"op": "destroy", "entity": e}):
        check_error(server.post(TX, {"ops": [{"op": "create"}, op]}), "POST", TX, 404, "not_found", op=1, entity=e)
    # An entity created and destroyed in the same transaction is stale for the ops after.
    r = server.post(TX, {"ops": [{"op": "create"}, {"op": "destroy", "entity": "$0"},
                                 {"op": "add", "table": "health", "entity": "$0", "values": {}}]})
    check_error(r, "POST", TX, 404, "not_found", op=2)


def test_idempotency(server):
    body = {"ops": [{"op": "create"}, {"op": "add", "table": "health", "entity": "$0", "values": {"hp": 77}}]}
    key = {"Idempotency-Key": "key-1"}
    first = server.post(TX, body, headers=key)
    b1 = check(first, "POST", TX, 200)
    assert first.header("Idempotent-Replay") is None
    v = server.version()
    second = server.post(TX, body, headers=key)
    b2 = check(second, "POST", TX, 200)
    assert b2 == b1 and second.header("Idempotent-Replay") == "true"
    assert server.version() == v, "a replay must not commit"
    assert len([r for r in server.all_rows("health") if r["values"]["hp"] == 77]) == 1
    other = dict(body, ops=body["ops"] + [{"op": "create"}])
    check_error(server.post(TX, other, headers=key), "POST", TX, 422, "invalid_operation")
    assert server.version() == v
    # A refused transaction's answer is remembered too (it decided something).
    bad = {"ops": [{"op": "expect", "table": "health", "entity": b1["created"][0], "values": {"hp": 1}}]}
    r1 = server.post(TX, bad, headers={"Idempotency-Key": "key-2"})
    check_error(r1, "POST", TX, 409, "precondition_failed")
    r2 = server.post(TX, bad, headers={"Idempotency-Key": "key-2"})
    assert r2.status == 409 and r2.json() == r1.json()
    # Over-long key.
    check_error(server.post(TX, body, headers={"Idempotency-Key": "k" * 129}), "POST", TX, 400, "bad_request")
    assert server.version() == v


def test_idempotency_key_must_be_visible_ascii(server):
    check_error(server.post(TX, {"ops": [{"op": "create"}]}, headers={"Idempotency-Key": "a b"}), "POST", TX, 400,
                "bad_request")


# ---- query ----

def test_query(server):
    e = server.create_health(5)
    body = check(server.post(QUERY, {"with": ["health"]}), "POST", QUERY, 200)
    assert body["entities"] == [{"entity": e, "components": {"health": {"hp": 5, "max_hp": 100}}}]
    assert body["total"] == 1 and body["next"] is None
    check(server.post(QUERY, {}), "POST", QUERY, 200)


@pytest.mark.parametrize("q,status,code", [
    ({"with": ["nosuch"]}, 404, "not_found"),
    ({"without": ["nosuch"]}, 404, "not_found"),
    ({"with": ["entities"]}, 422, "invalid_operation"),
    ({"where": ["health.hp"]}, 400, "bad_request"),
    ({"where": ["hp<3"]}, 400, "bad_request"),
    ({"where": ["health.nope<3"]}, 404, "not_found"),
    ({"where": "health.hp<3"}, 400, "invalid_json"),
    ({"order_by": "health.nope"}, 404, "not_found"),
    ({"limit": 0}, 400, "bad_request"),
    ({"limit": 1001}, 400, "bad_request"),
    ({"after": "zz"}, 400, "bad_request"),
    ({"desc": "yes"}, 400, "invalid_json"),
    ({"unknown": 1}, 400, "invalid_json"),
    ([], 400, "invalid_json"),
])
def test_query_bad_input(server, q, status, code):
    check_error(server.post(QUERY, q), "POST", QUERY, status, code)


def test_query_order_by_unknown_table(server):
    check_error(server.post(QUERY, {"order_by": "nosuch.hp"}), "POST", QUERY, 404, "not_found")


def test_query_bad_body(server):
    check_error(server.post(QUERY, b"{", content_type="application/json"), "POST", QUERY, 400, "invalid_json")
    check_error(server.post(QUERY, b"{}", content_type="text/plain"), "POST", QUERY, 415, "unsupported_media_type")


# ---- snapshot, metrics ----

def test_snapshot(server):
    server.create_health(1)
    body = check(server.post("/api/snapshot"), "POST", "/api/snapshot", 200)
    assert body["version"] == server.version() and body["durable_version"] >= body["version"]
    assert any(server.data.iterdir())


def test_snapshot_without_data_dir(server_factory):
    s = server_factory(data=False)
    check_error(s.post("/api/snapshot"), "POST", "/api/snapshot", 422, "invalid_operation")


def test_api_metrics(server):
    server.create_health(1)
    body = check(server.get("/api/metrics"), "GET", "/api/metrics", 200)
    assert body["commits_total"] >= 1 and body["tables"]["health"] == 1
    assert body["commit_latency_seconds"]["count"] >= 1


def test_prometheus_metrics_content_type(server):
    r = server.get("/metrics")
    check(r, "GET", "/metrics", 200)
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")


# ---- stream route over plain HTTP ----

def test_stream_without_upgrade(server):
    check_error(server.get("/api/stream"), "GET", "/api/stream", 400, "bad_request")


def _raw_upgrade(server, target: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall((f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        if status != 101:
            length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
            while len(rest) < length:
                rest += s.recv(4096)
        else:
            assert b"s3pplmbitxaq9kygzzhzrbk+xoo=" in head.lower()
        return status, rest


def test_stream_upgrade_errors(server):
    assert _raw_upgrade(server, "/api/stream?tables=health")[0] == 101
    for target, status, code in (("/api/stream?tables=nosuch", 404, "not_found"),
                                 ("/api/stream?where=health.nope%3C1", 404, "not_found"),
                                 ("/api/stream?where=bad", 400, "bad_request"),
                                 ("/api/stream?since=x", 400, "bad_request")):
        got, body = _raw_upgrade(server, target)
        assert got == status, (target, body)
        doc = json.loads(body)
        spec_util.validate_response_body("GET", "/api/stream", status, doc)
        assert doc["error"]["code"] == code


# ---- routing ----

def test_unknown_route(server_factory):
    server = server_factory("--dashboard", "none")
    for path in ("/api/nosuch", "/nosuch", "/api/tables/health"):
        r = server.get(path)
        assert r.status == 404, r
        spec_util.validate_component("Error", r.json())
        assert r.json()["error"]["code"] == "not_found"


def test_unknown_path_is_the_dashboards_with_one(server_factory, tmp_path):
    """With a dashboard, a path outside /api/ that names no route is the app's (client-side routes), while an
    unknown /api/ path is still a 404."""
    (tmp_path / "index.html").write_text("<!doctype html><title>app</title>")
    server = server_factory("--dashboard", str(tmp_path))
    r = server.get("/data/health")
    assert r.status == 200 and b"<title>app</title>" in r.body, r
    assert server.get("/api/nosuch").status == 404


def test_method_not_allowed(server):
    for method, path in (("DELETE", "/api/info"), ("POST", "/api/health"), ("GET", "/api/transactions"),
                         ("PUT", "/api/tables/health/rows"), ("GET", "/api/snapshot")):
        r = server.request(method, path)
        assert r.status == 405, (method, path, r)
        spec_util.validate_component("Error", r.json())
        assert r.json()["error"]["code"] == "method_not_allowed"


def test_method_not_allowed_has_allow_header(server):
    for method, path, allowed in (("DELETE", "/api/info", "GET"), ("GET", "/api/transactions", "POST"),
                                  ("PUT", "/api/tables/health/rows", "GET")):
        r = server.request(method, path)
        assert r.status == 405, r
        assert r.header("Allow") is not None and allowed in [m.strip() for m in r.header("Allow").split(",")], r.headers


ENUM_SCHEMA = """
[database]
name = "enum_db"
version = "1.0.0"
[enums.Faction]
type = "u8"
variants = ["neutral", "red", { name = "blue", value = 10 }]
[tables.entities]
primary_key = "id"
[[tables.entities.fields]]
name = "id"
type = "u64"
[tables.unit]
parent_table = "entities"
[[tables.unit.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
[[tables.unit.fields]]
name = "faction"
type = "Faction"
"""


def test_enums_travel_by_variant_name(server_factory, tmp_path):
    schema = tmp_path / "enum.toml"
    schema.write_text(ENUM_SCHEMA)
    s = server_factory("--schema", str(schema), data=False)
    out = s.tx([{"op": "create"}, {"op": "add", "table": "unit", "entity": "$0", "values": {"faction": "blue"}},
                {"op": "create"}, {"op": "add", "table": "unit", "entity": "$2", "values": {"faction": 1}}])
    rows = {r["key"]: r["values"]["faction"] for r in s.all_rows("unit")}
    assert rows == {out["created"][0]: "blue", out["created"][1]: "red"}
    body = check(s.get("/api/tables/unit/rows", params={"where": "faction>red"}), "GET", ROWS, 200)
    assert [r["key"] for r in body["rows"]] == [out["created"][0]]  # by declared value: blue (10) > red (1)
    check_error(s.post(TX, {"ops": [{"op": "create"}, {"op": "add", "table": "unit", "entity": "$0",
                                                       "values": {"faction": "green"}}]}), "POST", TX, 400,
                "invalid_value")
