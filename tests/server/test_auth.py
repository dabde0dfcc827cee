"""Bearer tokens: every route of the spec walked with no token, an unknown token and each role."""
from __future__ import annotations

import json

import pytest
import websocket

import spec_util
from conftest import SCHEMA, TOKENS, check, check_error


def _requests(entity: str) -> dict:
    """A valid request for every operation of the spec: (METHOD, path template) -> (path, body, content type)."""
    with open(SCHEMA, encoding="utf-8") as f:
        toml = f.read()
    return {
        ("GET", "/api/health"): ("/api/health", None, None),
        ("GET", "/api/info"): ("/api/info", None, None),
        ("GET", "/api/schema"): ("/api/schema", None, None),
        ("POST", "/api/schema/validate"): ("/api/schema/validate", toml, "application/toml"),
        ("GET", "/api/tables"): ("/api/tables", None, None),
        ("GET", "/api/tables/{table}/rows"): ("/api/tables/health/rows?limit=5", None, None),
        ("GET", "/api/entities/{id}"): (f"/api/entities/{entity}", None, None),
        ("POST", "/api/transactions"): ("/api/transactions", json.dumps({"ops": [{"op": "create"}]}), "application/json"),
        ("POST", "/api/query"): ("/api/query", json.dumps({"with": ["health"]}), "application/json"),
        ("POST", "/api/snapshot"): ("/api/snapshot", None, None),
        ("GET", "/api/metrics"): ("/api/metrics", None, None),
        ("GET", "/api/whoami"): ("/api/whoami", None, None),
        ("GET", "/api/replication/clients"): ("/api/replication/clients", None, None),
        ("GET", "/metrics"): ("/metrics", None, None),
        ("GET", "/api/stream"): ("/api/stream?tables=health", None, None),
        ("GET", "/api/replication"): ("/api/replication", None, None),
    }


# /api/replication is public at the HTTP level: its upgrade always succeeds, the HELLO frame's token decides.
NEEDS = {("POST", "/api/transactions"): "write", ("POST", "/api/snapshot"): "admin", ("GET", "/api/health"): None,
         ("GET", "/api/replication"): None}
PUBLIC_STATUS = {"/api/health": 200, "/api/replication": 101}
RANK = {None: 0, "read": 1, "write": 2, "admin": 3}


def _stream_status(server, path: str, token: str | None) -> int:
    header = [f"Authorization: Bearer {token}"] if token else []
    try:
        ws = websocket.create_connection(server.ws_url + path, header=header, timeout=5)
    except websocket.WebSocketBadStatusException as e:
        body = json.loads(e.resp_body) if e.resp_body else None
        if body is not None:
            spec_util.validate_response_body("GET", "/api/stream", e.status_code, body)
        return e.status_code
    try:
        first = json.loads(ws.recv())
        spec_util.validate_component("StreamMessage", first)
        assert first["type"] == "state"
    finally:
        ws.close()
    return 101


def _replication_status(server, path: str) -> int:
    try:
        ws = websocket.create_connection(server.ws_url + path, subprotocols=["ecsdb-repl"], timeout=5)
    except websocket.WebSocketBadStatusException as e:
        return e.status_code
    ws.close()
    return 101


def _call(server, key, token):
    method, template = key
    path, body, ctype = _requests(server.entity)[key]
    if template == "/api/stream":
        return _stream_status(server, path, token), None
    if template == "/api/replication":
        return _replication_status(server, path), None
    r = server.request(method, path, body, token=token or "", content_type=ctype)
    return r.status, r


@pytest.fixture
def walked(auth_server):
    s = auth_server
    out = s.tx([{"op": "create"}, {"op": "add", "table": "health", "entity": "$0", "values": {"hp": 1}}],
               token=TOKENS["admin"])
    s.entity = out["created"][0]
    assert set(_requests(s.entity)) == set(spec_util.operations()), "walk every route of the spec"
    return s


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_no_or_unknown_token(walked, token):
    for key in spec_util.operations():
        status, r = _call(walked, key, token)
        method, template = key
        if template in PUBLIC_STATUS:
            assert status == PUBLIC_STATUS[template]
            continue
        assert status == 401, (key, status, r)
        if r is not None:
            check_error(r, method, template, 401, "unauthorized")
            assert r.header("WWW-Authenticate", "").startswith("Bearer")


def test_not_bearer_scheme(walked):
    r = walked.get("/api/info", headers={"Authorization": "Basic c2VjcmV0LXI6"})
    check_error(r, "GET", "/api/info", 401, "unauthorized")
    r = walked.get("/api/info", headers={"Authorization": "bearer"})
    check_error(r, "GET", "/api/info", 401, "unauthorized")


@pytest.mark.parametrize("role", ["read", "write", "admin"])
def test_roles(walked, role):
    for key in spec_util.operations():
        method, template = key
        status, r = _call(walked, key, TOKENS[role])
        needed = NEEDS.get(key, "read")
        if RANK[role] >= RANK[needed]:
            expected = 101 if template in ("/api/stream", "/api/replication") else 200
            assert status == expected, (role, key, r)
            if r is not None:
                check(r, method, template, 200)
        else:
            assert status == 403, (role, key, r)
            check_error(r, method, template, 403, "forbidden")


@pytest.mark.parametrize("role", ["read", "write", "admin"])
def test_whoami_names_the_tokens_role(walked, role):
    body = check(walked.get("/api/whoami", token=TOKENS[role]), "GET", "/api/whoami", 200)
    assert body == {"role": role, "token": role[0], "auth_required": True}


def test_whoami_without_tokens_is_admin(server):
    body = check(server.get("/api/whoami"), "GET", "/api/whoami", 200)
    assert body == {"role": "admin", "token": None, "auth_required": False}


def test_health_needs_no_token(walked):
    check(walked.get("/api/health", token=""), "GET", "/api/health", 200)


def test_stream_token_as_subprotocol(auth_server):
    """Browsers cannot set Authorization on a WebSocket: the token may travel as the subprotocol
    "bearer.TOKEN" beside "ecsdb", which the server selects; a wrong one is refused."""
    s = auth_server
    ws = websocket.create_connection(s.ws_url + "/api/stream?tables=health", timeout=5,
                                     subprotocols=["ecsdb", f"bearer.{TOKENS['read']}"])
    try:
        assert ws.getsubprotocol() == "ecsdb"
        assert json.loads(ws.recv())["type"] == "state"
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(s.ws_url + "/api/stream", timeout=5, subprotocols=["ecsdb", "bearer.wrong"])
    assert refused.value.status_code == 401


def test_stream_refuses_foreign_origins(server_factory):
    """A page of another site must not read the stream of a loopback server (no CORS for WebSockets)."""
    s = server_factory("--cors-origins", "http://allowed.example")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(s.ws_url + "/api/stream", timeout=5, origin="http://evil.example")
    assert refused.value.status_code == 403
    for origin in ("http://allowed.example", f"http://127.0.0.1:{s.port}"):
        ws = websocket.create_connection(s.ws_url + "/api/stream", timeout=5, origin=origin)
        ws.close()
