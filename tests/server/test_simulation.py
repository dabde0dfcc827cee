"""`ecsdb serve --simulate N` (`make demo`): a simulated game world ticking through the ordinary transaction
path, and the built dashboard served at / by default when one is found."""
from __future__ import annotations

import subprocess
import time

from conftest import ECSDB_BIN, REPO, server_env


def test_simulated_world_lives_and_stops_cleanly(server_factory):
    s = server_factory("--simulate", "300", "--simulate-hz", "50", data=False)
    deadline = time.monotonic() + 10  # the API answers (health ok) a moment before the world is spawned
    while "simulating a world" not in s.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "simulating a world of 300 entities at 50 ticks/s" in s.log()
    first = s.version()
    hp_before = {r["key"]: r["values"]["hp"] for r in s.all_rows("health")}
    pos_before = {r["key"]: r["values"]["position_x"] for r in s.all_rows("transform")}
    time.sleep(1.0)
    assert s.version() >= first + 10, "the world should tick about 50 times a second"
    # The population is kept: the dead are replaced (every entity keeps its transform and health). The three
    # listings are read at one version: between separate versions an entity may die and be replaced (a new
    # generation of the same index), which made this flaky under ASan's slower server.
    at = s.get("/api/tables/entities/rows", params={"limit": 1}).json()["version"]
    entities = {r["key"] for r in s.all_rows("entities", version=at)}
    health = {r["key"]: r["values"]["hp"] for r in s.all_rows("health", version=at)}
    transform = {r["key"]: r["values"]["position_x"] for r in s.all_rows("transform", version=at)}
    assert len(entities) == 300 and set(health) == set(transform) == entities
    moved = sum(1 for k, x in transform.items() if k in pos_before and x != pos_before[k])
    assert moved > 250, f"only {moved} entities moved"
    changed = sum(1 for k, hp in health.items() if k in hp_before and hp != hp_before[k]) + len(entities - set(hp_before))
    assert changed > 0, "nobody fought, healed or died in a second"
    # The world's ticks are queue commits, not HTTP ones: the metrics the dashboard's overview shows count them.
    metrics = s.get("/api/metrics").json()
    assert metrics["queue_latency_seconds"]["count"] >= 10 and metrics["queue_latency_seconds"]["p50"] > 0
    assert metrics["commit_latency_seconds"]["count"] == 0
    # The server factory stops it with SIGTERM at the end and requires exit code 0.


def test_simulate_needs_the_game_schema(tmp_path):
    p = subprocess.run([ECSDB_BIN, "serve", "--schema", str(REPO / "examples" / "schemas" / "showcase.toml"),
                        "--http", "127.0.0.1:0", "--simulate", "10"], capture_output=True, text=True, timeout=30,
                       env=server_env(), stdin=subprocess.DEVNULL)
    assert p.returncode == 2, p
    assert "--simulate needs the game schema's transform table" in p.stdout + p.stderr, p.stdout + p.stderr


def test_dashboard_is_served_from_the_build_tree_by_default(server_factory):
    s = server_factory(data=False)
    deadline = time.monotonic() + 10
    while "] ready" not in s.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    dist = REPO / "dashboard" / "dist" / "index.html"
    if not dist.exists():
        assert "dashboard:" not in s.log()
        return
    assert f"dashboard: http://127.0.0.1:{s.port}/ (from {dist.parent})" in s.log(), s.log()
    r = s.get("/")
    assert r.status == 200 and r.header("Content-Type", "").startswith("text/html"), r
