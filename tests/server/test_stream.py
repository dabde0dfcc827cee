"""GET /api/stream: the WebSocket change stream (state in chunks, deltas, since, where, subscribe, slow consumers)."""
from __future__ import annotations

import json
import random
import socket
import time

import pytest
import websocket

import spec_util


def _trimmed(value, keep: int = 20):
    """A copy with every array cut to its first `keep` items: big messages are validated by their shape (Python's
    jsonschema takes seconds for a coalesced delta of thousands of rows)."""
    if isinstance(value, list):
        return [_trimmed(v, keep) for v in value[:keep]]
    if isinstance(value, dict):
        return {k: _trimmed(v, keep) for k, v in value.items()}
    return value


class Stream:
    def __init__(self, server, query: str = "", rcvbuf: int | None = None):
        opts = ((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf),) if rcvbuf else ()
        # UTF-8 is checked by decoding; websocket-client's own pure-Python check is slow on big messages.
        self.ws = websocket.create_connection(server.ws_url + "/api/stream" + query, timeout=10, sockopt=opts,
                                              skip_utf8_validation=True)

    def recv(self, timeout: float = 10.0, validate: bool = True) -> dict:
        self.ws.settimeout(timeout)
        m = json.loads(self.ws.recv())
        if validate:
            spec_util.validate_component("StreamMessage", _trimmed(m))
        return m

    def state(self) -> tuple[int, dict[str, dict[str, dict]], int]:
        """Reads a whole state (every chunk up to last=true): (version, {table: {key: values}}, chunks)."""
        tables: dict[str, dict[str, dict]] = {}
        version, chunks = None, 0
        while True:
            m = self.recv()
            assert m["type"] == "state", m
            assert version is None or m["version"] == version, "every chunk of a state has one version"
            version = m["version"]
            chunks += 1
            for name, rows in m["tables"].items():
                t = tables.setdefault(name, {})
                for row in rows:
                    assert row["key"] not in t, "a row sent twice in one state"
                    t[row["key"]] = row["values"]
            if m["last"]:
                return version, tables, chunks

    def no_message(self, wait: float = 0.3) -> bool:
        self.ws.settimeout(wait)
        try:
            self.ws.recv()
            return False
        except websocket.WebSocketTimeoutException:
            return True

    def close(self):
        self.ws.close()


@pytest.fixture
def streams():
    opened = []

    def open_stream(server, query="", **kw):
        s = Stream(server, query, **kw)
        opened.append(s)
        return s

    yield open_stream
    for s in opened:
        s.close()


def apply_delta(tables: dict[str, dict[str, dict]], m: dict, strict: bool = True) -> None:
    for name, d in m["tables"].items():
        t = tables.setdefault(name, {})
        for row in d["inserted"]:
            t[row["key"]] = dict(row["values"])
        for u in d["updated"]:
            if strict:
                assert u["key"] in t, f"update of a row the client never saw: {u}"
            t.setdefault(u["key"], {}).update(u["values"])
        for key in d["removed"]:
            if strict:
                assert key in t, f"removal of a row the client never saw: {key}"
            t.pop(key, None)


def server_rows(server, table: str) -> dict[str, dict]:
    return {r["key"]: r["values"] for r in server.all_rows(table)}


def test_state_in_chunks_then_deltas(server_factory, streams):
    s = server_factory("--max-ops-per-transaction", "5000", data=False)
    n = 1200
    ops = [{"op": "create"} for _ in range(n)]
    ops += [{"op": "add", "table": "health", "entity": f"${i}", "values": {"hp": i, "max_hp": 1}} for i in range(n)]
    ops += [{"op": "add", "table": "transform", "entity": "$0", "values": {}}]
    s.tx(ops)
    st = streams(s, "?tables=health")
    version, tables, chunks = st.state()
    assert chunks == 2 and version == s.version()
    assert set(tables) == {"health"} and tables["health"] == server_rows(s, "health")

    # A commit: one delta with the inserted row.
    out = s.tx([{"op": "create"}, {"op": "add", "table": "health", "entity": "$0", "values": {"hp": 5, "max_hp": 9}},
                {"op": "add", "table": "transform", "entity": "$0", "values": {"position_x": 1.0}}])
    e = out["created"][0]
    d = st.recv()
    assert d["type"] == "delta" and d["from"] == version and d["version"] == out["version"]
    assert d["created"] == [e] and d["destroyed"] == []
    assert set(d["tables"]) == {"health"}, "only the subscribed tables"
    assert d["tables"]["health"] == {"inserted": [{"key": e, "values": {"hp": 5, "max_hp": 9}}], "updated": [],
                                     "removed": []}
    # Setting one field: the update carries only that field.
    v2 = s.tx([{"op": "set", "table": "health", "entity": e, "field": "hp", "value": 6}])["version"]
    d = st.recv()
    assert d["from"] == out["version"] and d["version"] == v2
    assert d["tables"]["health"]["updated"] == [{"key": e, "values": {"hp": 6}}]
    assert d["tables"]["health"]["inserted"] == [] and d["tables"]["health"]["removed"] == []
    # Destroying: the row is removed.
    v3 = s.tx([{"op": "destroy", "entity": e}])["version"]
    d = st.recv()
    assert d["version"] == v3 and d["destroyed"] == [e] and d["tables"]["health"]["removed"] == [e]


def test_since_resumes_with_the_deltas_after(server, streams):
    a = server.create_health(1)
    v0 = server.version()
    b = server.create_health(2)
    v1 = server.version()
    v2 = server.tx([{"op": "set", "table": "health", "entity": a, "field": "hp", "value": 3}])["version"]
    st = streams(server, f"?tables=health&since={v0}")
    d1 = st.recv()
    assert d1["type"] == "delta" and d1["from"] == v0 and d1["version"] == v1
    assert d1["tables"]["health"]["inserted"][0]["key"] == b
    d2 = st.recv()
    assert d2["from"] == v1 and d2["version"] == v2
    assert d2["tables"]["health"]["updated"] == [{"key": a, "values": {"hp": 3}}]
    assert st.no_message()
    # Up to date: nothing until the next commit.
    now = streams(server, f"?tables=health&since={v2}")
    assert now.no_message()
    v3 = server.tx([{"op": "set", "table": "health", "entity": b, "field": "hp", "value": 4}])["version"]
    d = now.recv()
    assert d["from"] == v2 and d["version"] == v3
    # A version no longer retained (or never seen): a state first.
    old = streams(server, "?tables=health&since=0")
    m = old.recv()
    assert m["type"] in ("state", "delta")
    if m["type"] == "delta":
        assert m["from"] == 0


def test_since_in_the_future_starts_with_state(server, streams):
    server.create_health(1)
    st = streams(server, f"?tables=health&since={server.version() + 1000}")
    server.create_health(2)
    m = st.recv(timeout=2)
    assert m["type"] == "state"


def test_where_filter(server, streams):
    low = server.create_health(3)
    server.create_health(50)
    st = streams(server, "?where=health.hp%3C10")
    version, tables, _ = st.state()
    assert tables["health"] == {low: {"hp": 3, "max_hp": 100}}
    a = server.create_health(7)
    d = st.recv()
    assert [r["key"] for r in d["tables"]["health"]["inserted"]] == [a]
    server.create_health(70)
    d = st.recv()
    assert d["tables"]["health"]["inserted"] == []


def test_subscribe_changes_tables(server, streams):
    e = server.create_health(1)
    st = streams(server, "?tables=health")
    st.state()
    st.ws.send(json.dumps({"type": "subscribe", "tables": ["transform"]}))
    version, tables, _ = st.state()
    assert set(tables) == {"transform"}
    out = server.tx([{"op": "add", "table": "transform", "entity": e, "values": {"position_y": 2.0}},
                     {"op": "set", "table": "health", "entity": e, "field": "hp", "value": 9}])
    d = st.recv()
    while d["version"] < out["version"]:
        d = st.recv()
    assert set(d["tables"]) == {"transform"}
    assert d["tables"]["transform"]["inserted"][0]["key"] == e
    # A subscribe with a filter.
    st.ws.send(json.dumps({"type": "subscribe", "tables": ["health"], "where": ["health.hp>5"]}))
    _, tables, _ = st.state()
    assert tables["health"] == {e: {"hp": 9, "max_hp": 100}}
    # Bad messages: an error message, and the stream goes on.
    for bad in ("not json", json.dumps({"type": "fly"}), json.dumps({"type": "subscribe", "tables": "health"}),
                json.dumps({"type": "subscribe", "tables": ["nosuch"]})):
        st.ws.send(bad)
        m = st.recv()
        assert m["type"] == "error", m
        spec_util.validate_component("ErrorMessage", m)
    server.tx([{"op": "set", "table": "health", "entity": e, "field": "hp", "value": 10}])
    d = st.recv()
    assert d["type"] == "delta" and d["tables"]["health"]["updated"] == [{"key": e, "values": {"hp": 10}}]


def test_state_none_starts_with_deltas_only(server, streams):
    """state=none: one `state` message without rows names the version, then only deltas follow; a subscribe
    message can ask for it too."""
    for _ in range(3):
        server.create_health(1)
    st = streams(server, "?tables=health&state=none")
    m = st.recv()
    assert m == {"type": "state", "version": server.version(), "tables": {}, "last": True}
    e = server.create_health(42)
    d = st.recv()
    assert d["type"] == "delta" and d["from"] == m["version"]
    assert [r["key"] for r in d["tables"]["health"]["inserted"]] == [e]
    # The server records the lag when its write completes, which may come after this end has read the
    # message: wait for it a little.
    deadline = time.monotonic() + 5
    lag = server.get("/api/metrics").json()["stream_lag_seconds"]
    while lag["count"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
        lag = server.get("/api/metrics").json()["stream_lag_seconds"]
    assert lag["count"] >= 1 and lag["p99"] > 0, "the delta's publish-to-written lag is measured"
    st.ws.send(json.dumps({"type": "subscribe", "tables": ["health"], "state": "full"}))
    _, tables, _ = st.state()
    assert len(tables["health"]) == 4, "state=full sends the rows again"
    st.ws.send(json.dumps({"type": "subscribe", "tables": ["health"], "state": "none"}))
    m = st.recv()
    assert m["type"] == "state" and m["tables"] == {} and m["last"] is True
    for bad in (json.dumps({"type": "subscribe", "state": "some"}), json.dumps({"type": "subscribe", "state": False})):
        st.ws.send(bad)
        err = st.recv()
        assert err["type"] == "error" and "state" in err["error"]["message"], err
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        streams(server, "?state=rows")
    assert refused.value.status_code == 400 and b"state must be" in refused.value.resp_body


def test_slow_consumer_coalesces(server_factory, streams):
    """2000 transactions while the client reads nothing: the kernel's socket buffers (several MB on loopback)
    fill, the server queues past --stream-buffer-bytes and coalesces. Each transaction creates 16 entities with
    health and transform rows (enough output to fill those buffers), sets one hp and now and then destroys one."""
    s = server_factory("--stream-buffer-bytes", "4096", "--stream-ping-ms", "60000", data=False)
    live = [s.create_health(i) for i in range(20)]
    st = streams(s, "?tables=health,transform", rcvbuf=4096)
    version, tables, _ = st.state()
    tables.setdefault("transform", {})
    rng = random.Random(7)
    per_tx = 16
    conn = s.connection()
    last = version
    started = time.monotonic()
    try:
        for i in range(2000):
            ops = [{"op": "create"} for _ in range(per_tx)]
            ops += [{"op": "add", "table": "health", "entity": f"${j}", "values": {"hp": i, "max_hp": j}}
                    for j in range(per_tx)]
            ops += [{"op": "add", "table": "transform", "entity": f"${j}", "values": {"position_x": i + j / 4}}
                    for j in range(per_tx)]
            ops.append({"op": "set", "table": "health", "entity": rng.choice(live), "field": "hp", "value": 100_000 + i})
            if i % 7 == 3:
                ops.append({"op": "destroy", "entity": live.pop(rng.randrange(len(live)))})
            conn.request("POST", "/api/transactions", body=json.dumps({"ops": ops}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            body = json.loads(r.read())
            assert r.status == 200, body
            live += body["created"][:2]  # a few of the new ones get updated or destroyed later
            last = body["version"]
    finally:
        conn.close()
    committed = time.monotonic()
    # Now read everything: versions increase, each delta starts where the previous one ended.
    messages = 0
    prev = version
    while prev < last:
        m = st.recv(validate=messages % 20 == 0)
        assert m["type"] == "delta", m
        assert m["from"] == prev and m["version"] > prev, (prev, m["from"], m["version"])
        apply_delta(tables, m)
        prev = m["version"]
        messages += 1
    assert prev == last
    read = time.monotonic()
    assert tables["health"] == server_rows(s, "health")
    assert tables["transform"] == server_rows(s, "transform")
    assert messages < 2000, "the lagging client got every delta: nothing was coalesced"
    assert s.metric("ecsdb_stream_coalesced_total") > 0
    assert st.no_message()
    print(f"slow consumer: 2000 commits in {committed - started:.1f}s, {messages} messages read in "
          f"{read - committed:.1f}s, compared in {time.monotonic() - read:.1f}s")
