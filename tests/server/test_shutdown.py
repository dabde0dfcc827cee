"""Graceful shutdown under load: SIGTERM while 4 clients commit (async durability); the process exits 0 within
shutdown_grace_ms (plus a margin), and after a restart every acknowledged transaction is there."""
from __future__ import annotations

import http.client
import json
import signal
import threading
import time

GRACE_MS = 2000


class Client(threading.Thread):
    def __init__(self, server, n: int):
        super().__init__(daemon=True)
        self.server, self.n = server, n
        self.acked: dict[int, str] = {}
        self.refused: dict[int, int] = {}

    def run(self):
        i = 0
        conn = None
        while True:
            value = self.n * 1_000_000 + i
            i += 1
            try:
                if conn is None:
                    conn = self.server.connection(timeout=10)
                body = {"ops": [{"op": "create"},
                                {"op": "add", "table": "health", "entity": "$0", "values": {"hp": value}}]}
                conn.request("POST", "/api/transactions", body=json.dumps(body),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                data = json.loads(r.read())
                if r.status == 200:
                    self.acked[value] = data["created"][0]
                else:
                    assert r.status == 503 and data["error"]["code"] == "shutting_down", (r.status, data)
                    self.refused[r.status] = self.refused.get(r.status, 0) + 1
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                    conn = None
                if not self.server.alive():
                    return
                time.sleep(0.005)
            if not self.server.alive():
                return


def test_sigterm_under_load(server_factory):
    server = server_factory("--durability", "async", "--async-flush-ms", "50", "--shutdown-grace-ms", str(GRACE_MS))
    clients = [Client(server, n) for n in range(4)]
    for c in clients:
        c.start()
    time.sleep(0.7)
    assert all(c.acked for c in clients), "every client committed something"
    start = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(timeout=GRACE_MS / 1000 + 10)
    elapsed = time.monotonic() - start
    for c in clients:
        c.join(15)
        assert not c.is_alive()
    assert code == 0, server.log()[-3000:]
    assert elapsed < GRACE_MS / 1000 + 1.5, f"exit took {elapsed:.2f}s"
    log = server.log()
    assert "received SIGTERM" in log and "stopped at version" in log
    acked = {v: e for c in clients for v, e in c.acked.items()}
    refused = sum(sum(c.refused.values()) for c in clients)

    server.start()
    rows = {r["values"]["hp"]: r["key"] for r in server.all_rows("health")}
    missing = {v: e for v, e in acked.items() if rows.get(v) != e}
    assert not missing, f"{len(missing)} acknowledged transactions lost after SIGTERM, e.g. {list(missing.items())[:5]}"
    print(f"{len(acked)} acknowledged, {refused} refused with 503 shutting_down, {len(rows)} rows after restart; "
          f"exit 0 after {elapsed:.2f}s")
