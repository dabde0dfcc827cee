"""Crash safety over HTTP: sync durability, SIGKILL at random moments while a client commits, restart on the same
data directory. Every acknowledged transaction must be there, and no transaction may be there in part."""
from __future__ import annotations

import http.client
import json
import random
import threading
import time


class Committer(threading.Thread):
    """Commits `create + add health + add transform` transactions (hp = position_x = a running counter) until
    the connection fails; records the acknowledged ones as counter -> entity."""

    def __init__(self, server, start_counter: int):
        super().__init__(daemon=True)
        self.server = server
        self.counter = start_counter
        self.acked: dict[int, str] = {}
        self.attempted = 0
        self.stop_flag = threading.Event()

    def run(self):
        conn = self.server.connection(timeout=5)
        try:
            while not self.stop_flag.is_set():
                c = self.counter
                self.counter += 1
                body = {"ops": [{"op": "create"},
                                {"op": "add", "table": "health", "entity": "$0", "values": {"hp": c, "max_hp": c}},
                                {"op": "add", "table": "transform", "entity": "$0", "values": {"position_x": c}}]}
                self.attempted += 1
                conn.request("POST", "/api/transactions", body=json.dumps(body),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 200:
                    raise AssertionError(f"commit refused: {r.status} {data!r}")
                out = json.loads(data)
                assert out["durable"] is True
                self.acked[c] = out["created"][0]
        except (OSError, http.client.HTTPException):
            pass  # the server was killed
        finally:
            conn.close()


def check_database(server, acked: dict[int, str]) -> tuple[int, int]:
    """Every acknowledged counter present with its values; every entity complete. Returns (rows, unacked)."""
    health = {r["key"]: r["values"] for r in server.all_rows("health")}
    transform = {r["key"]: r["values"] for r in server.all_rows("transform")}
    entities = {r["key"] for r in server.all_rows("entities")}
    assert set(health) == set(transform) == entities, (
        f"half transactions: {len(entities)} entities, {len(health)} health rows, {len(transform)} transform rows")
    by_counter = {}
    for key, values in health.items():
        assert values["hp"] == values["max_hp"] == transform[key]["position_x"], (key, values, transform[key])
        assert values["hp"] not in by_counter, f"counter {values['hp']} committed twice"
        by_counter[values["hp"]] = key
    missing = {c: e for c, e in acked.items() if by_counter.get(c) != e}
    assert not missing, f"{len(missing)} acknowledged transactions lost, e.g. {sorted(missing.items())[:5]}"
    return len(health), len(set(by_counter) - set(acked))


def test_sigkill_loses_no_acknowledged_commit(server_factory):
    server = server_factory("--durability", "sync", "--snapshot-every-wal-bytes", "65536")
    rng = random.Random()
    acked: dict[int, str] = {}
    counter = 0
    cycles = 5
    for cycle in range(cycles):
        committer = Committer(server, counter)
        committer.start()
        time.sleep(rng.uniform(0.3, 1.0))
        server.kill()
        committer.join(10)
        assert not committer.is_alive()
        counter = committer.counter
        acked.update(committer.acked)
        server.start()
        rows, unacked = check_database(server, acked)
        print(f"cycle {cycle}: {committer.attempted} attempted, {len(committer.acked)} acknowledged; after restart "
              f"{rows} rows, {unacked} committed without acknowledgement")
        assert len(committer.acked) > 0, "no commit got through before the kill"
    info = server.get("/api/info").json()
    assert info["committed_version"] == info["durable_version"]
    print(f"total: {len(acked)} acknowledged transactions, all present after {cycles} SIGKILLs")
