"""The server's limits, one by one: body size, JSON depth, ops per transaction, connections, rate, header
timeout, WebSocket message size."""
from __future__ import annotations

import json
import socket
import time

import websocket

import spec_util
from conftest import check, check_error

TX = "/api/transactions"


def test_max_body_bytes(server_factory):
    s = server_factory("--max-body-bytes", "1024", data=False)
    big = {"ops": [{"op": "create"}] * 100}
    assert len(json.dumps(big)) > 1024
    check_error(s.post(TX, big), "POST", TX, 413, "payload_too_large", limit=1024)
    check_error(s.post("/api/query", {"with": ["health"] * 200}), "POST", "/api/query", 413, "payload_too_large")
    check_error(s.post("/api/schema/validate", "#" * 2000, content_type="text/plain"), "POST",
                "/api/schema/validate", 413, "payload_too_large")
    small = {"ops": [{"op": "create"}] * 10}
    assert len(json.dumps(small)) < 1024
    check(s.post(TX, small), "POST", TX, 200)


def test_max_json_depth(server_factory):
    s = server_factory("--max-json-depth", "8", data=False)
    deep = {"ops": [{"op": "create"}], "x": json.loads("[" * 10 + "]" * 10)}
    r = check_error(s.post(TX, deep), "POST", TX, 400, "invalid_json")
    assert "depth" in r["error"]["message"]
    check_error(s.post("/api/query", json.loads('{"with": ' + "[" * 10 + "]" * 10 + "}")), "POST", "/api/query", 400,
                "invalid_json")
    # Within the limit: an ordinary transaction (depth 4).
    check(s.post(TX, {"ops": [{"op": "create"}, {"op": "add", "table": "health", "entity": "$0",
                                                   "values": {"hp": 1}}]}), "POST", TX, 200)


def test_max_ops_per_transaction(server_factory):
    s = server_factory("--max-ops-per-transaction", "10", data=False)
    v = s.version()
    check_error(s.post(TX, {"ops": [{"op": "create"}] * 11}), "POST", TX, 422, "invalid_operation", limit=10)
    assert s.version() == v
    out = check(s.post(TX, {"ops": [{"op": "create"}] * 10}), "POST", TX, 200)
    assert len(out["created"]) == 10


def _read_http_response(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split(" ")[1]), headers, rest


def test_max_connections(server_factory):
    s = server_factory("--max-connections", "2", data=False)
    held = []
    try:
        deadline = time.monotonic() + 5
        while len(held) < 2:  # two accepted and served keep-alive connections (retried while the start-up
            h = socket.create_connection(("127.0.0.1", s.port), timeout=5)  # health checks' are closing)
            h.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
            if _read_http_response(h)[0] == 200:
                held.append(h)
            else:
                h.close()
                assert time.monotonic() < deadline
                time.sleep(0.05)
        third = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        with third:
            status, headers, body = _read_http_response(third)
        assert status == 503
        doc = json.loads(body)
        spec_util.validate_component("Error", doc)
        spec_util.validate_response_body("GET", "/api/info", 503, doc)
        assert doc["error"]["code"] == "too_many_connections"
        # The held connections still work.
        held[0].sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_http_response(held[0])[0] == 200
    finally:
        for h in held:
            h.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            if s.get("/api/health").status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server did not accept connections again"
        time.sleep(0.05)
    assert s.metric("ecsdb_http_rejected_connections_total") >= 1


def test_rate_limit(server_factory):
    s = server_factory("--rate-limit-per-second", "5", "--rate-limit-burst", "5", data=False)
    time.sleep(1.1)  # the bucket refills to the burst after the start-up health checks
    conn = s.connection()
    statuses, limited = [], []
    started = time.monotonic()
    try:
        for _ in range(20):
            conn.request("GET", "/api/info")
            r = conn.getresponse()
            body = r.read()
            statuses.append(r.status)
            if r.status == 429:
                limited.append((r.headers, json.loads(body)))
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    refill = int(elapsed * 5) + 1  # tokens that came back while the burst was sent
    assert 5 <= statuses.count(200) <= 5 + refill, (statuses, elapsed)
    assert len(limited) >= 20 - 5 - refill, statuses
    assert set(statuses) <= {200, 429}
    headers, body = limited[0]
    spec_util.validate_response_body("GET", "/api/info", 429, body)
    assert body["error"]["code"] == "rate_limited"
    retry = headers.get("Retry-After")
    assert retry is not None and retry.isdigit() and int(retry) >= 1
    time.sleep(1.1)
    assert s.get("/api/info").status == 200  # refilled


def test_header_timeout(server_factory):
    s = server_factory("--header-timeout-ms", "300", data=False)
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        sock.sendall(b"GET /api/hea")  # half a request line, then nothing
        start = time.monotonic()
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - start
    assert data == b"", data
    assert 0.2 <= elapsed <= 2.0, elapsed
    # A complete request on a fresh connection is served.
    assert s.get("/api/health").status == 200


def test_ws_max_message_bytes(server_factory):
    s = server_factory("--ws-max-message-bytes", "1024", data=False)
    victim = websocket.create_connection(s.ws_url + "/api/stream?tables=health", timeout=5)
    other = websocket.create_connection(s.ws_url + "/api/stream?tables=health", timeout=5)
    try:
        assert json.loads(victim.recv())["type"] == "state"
        assert json.loads(other.recv())["type"] == "state"
        # A small subscribe is fine.
        victim.send(json.dumps({"type": "subscribe", "tables": ["health"]}))
        assert json.loads(victim.recv())["type"] == "state"
        victim.send(json.dumps({"type": "subscribe", "tables": ["health"], "where": ["health.hp<1" + " " * 2000]}))
        closed = False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                op, _ = victim.recv_data(control_frame=True)
                if op == websocket.ABNF.OPCODE_CLOSE:
                    closed = True
                    break
            except (websocket.WebSocketConnectionClosedException, ConnectionError):
                closed = True
                break
            except websocket.WebSocketTimeoutException:
                break
        assert closed, "an over-long message must close that stream"
        # The other stream and HTTP keep working.
        out = s.create_health(3)
        delta = json.loads(other.recv())
        assert delta["type"] == "delta" and delta["created"] == [out]
        assert s.get("/api/health").status == 200
    finally:
        victim.close()
        other.close()


def test_malformed_request_gets_400_and_the_server_carries_on(server_factory):
    s = server_factory(data=False)
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), data
    assert json.loads(body)["error"]["code"] == "bad_request"
    assert s.get("/api/health").status == 200
