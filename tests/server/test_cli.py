"""The CLI as a client of a running server: ecsdb get, ecsdb tx, ecsdb watch; --token and ECSDB_TOKEN."""
from __future__ import annotations

import json
import subprocess
import time

from conftest import ECSDB_BIN, TOKENS, free_port, server_env


def ecsdb(*args: str, env: dict | None = None, input: str | None = None, timeout: float = 30):
    return subprocess.run([ECSDB_BIN, *args], capture_output=True, text=True, timeout=timeout, input=input,
                          env=server_env(env), stdin=None if input is not None else subprocess.DEVNULL)


def test_tx_and_get(server, tmp_path):
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps({"ops": [{"op": "create"}, {"op": "add", "table": "health", "entity": "$0",
                                                           "values": {"hp": 12, "max_hp": 20}}]}))
    p = ecsdb("tx", server.base_url, "--file", str(ops))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["version"] == server.version() and len(out["created"]) == 1
    e = out["created"][0]
    p = ecsdb("get", f"{server.base_url}/entities/{e}")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["components"]["health"] == {"hp": 12, "max_hp": 20}
    # /api/ paths are taken as they are; a bare server URL gets /api/info.
    p = ecsdb("get", f"{server.base_url}/api/tables/health/rows?limit=1")
    assert p.returncode == 0 and json.loads(p.stdout)["total"] == 1
    p = ecsdb("get", server.base_url)
    assert p.returncode == 0 and json.loads(p.stdout)["schema"]["name"] == "game_db"
    # The ops on stdin; a URL with a path is cut to the server.
    p = ecsdb("tx", server.base_url + "/whatever", input=json.dumps({"ops": [{"op": "destroy", "entity": e}]}))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["version"] == out["version"] + 1


def test_errors_exit_codes(server):
    p = ecsdb("get", f"{server.base_url}/entities/999:1")
    assert p.returncode == 2
    assert "404" in p.stderr and "not_found" in p.stderr
    p = ecsdb("get", f"{server.base_url}/entities/nonsense")
    assert p.returncode == 2 and "400" in p.stderr
    p = ecsdb("tx", server.base_url, input='{"ops": [{"op": "fly"}]}')
    assert p.returncode == 2 and "invalid_json" in p.stderr
    # Nobody listening: a connection error.
    p = ecsdb("get", f"http://127.0.0.1:{free_port()}/health")
    assert p.returncode == 1 and p.stderr


def test_watch(server):
    e = server.create_health(1)
    proc = subprocess.Popen([ECSDB_BIN, "watch", server.base_url, "--table", "health", "--count", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=server_env(),
                            stdin=subprocess.DEVNULL)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["type"] == "state" and first["tables"]["health"][0]["key"] == e
        v = server.tx([{"op": "set", "table": "health", "entity": e, "field": "hp", "value": 2}])["version"]
        second = json.loads(proc.stdout.readline())
        assert second["type"] == "delta" and second["version"] == v
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_watch_where(server):
    proc = subprocess.Popen([ECSDB_BIN, "watch", server.base_url, "--where", "health.hp<10", "--count", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=server_env(),
                            stdin=subprocess.DEVNULL)
    try:
        assert json.loads(proc.stdout.readline())["type"] == "state"
        server.create_health(50)
        low = server.create_health(5)
        filtered = json.loads(proc.stdout.readline())
        kept = json.loads(proc.stdout.readline())
        assert proc.wait(timeout=10) == 0
        assert filtered["type"] == "delta" and filtered["tables"]["health"]["inserted"] == []
        assert [r["key"] for r in kept["tables"]["health"]["inserted"]] == [low]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_tokens(auth_server, tmp_path):
    s = auth_server
    url = f"{s.base_url}/info"
    p = ecsdb("get", url)
    assert p.returncode == 2 and "401" in p.stderr
    p = ecsdb("get", url, "--token", "wrong")
    assert p.returncode == 2 and "401" in p.stderr
    p = ecsdb("get", url, "--token", TOKENS["read"])
    assert p.returncode == 0, p.stderr
    p = ecsdb("get", url, env={"ECSDB_TOKEN": TOKENS["read"]})
    assert p.returncode == 0, p.stderr
    body = json.dumps({"ops": [{"op": "create"}]})
    p = ecsdb("tx", s.base_url, input=body, env={"ECSDB_TOKEN": TOKENS["read"]})
    assert p.returncode == 2 and "403" in p.stderr
    p = ecsdb("tx", s.base_url, input=body, env={"ECSDB_TOKEN": TOKENS["write"]})
    assert p.returncode == 0, p.stderr
    # --token wins over ECSDB_TOKEN.
    p = ecsdb("tx", s.base_url, "--token", TOKENS["write"], input=body, env={"ECSDB_TOKEN": TOKENS["read"]})
    assert p.returncode == 0, p.stderr
    # watch with a token.
    p = ecsdb("watch", s.base_url, "--table", "health", "--count", "1", env={"ECSDB_TOKEN": TOKENS["read"]},
              timeout=15)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[0])["type"] == "state"
    p = ecsdb("watch", s.base_url, "--count", "1", timeout=15)
    assert p.returncode != 0
