"""GET /metrics (Prometheus text, checked by promtool) and GET /api/metrics (JSON, checked against the spec)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest
import websocket

from conftest import check

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def parse_exposition(text: str) -> dict[tuple[str, str], float]:
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        key = (m.group(1), m.group(2) or "")
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(m.group(3))
    return samples


def _exercise(s) -> int:
    n = 5
    for i in range(n):
        s.create_health(i)
    s.get("/api/tables/nosuch/rows")
    s.post("/api/transactions", b"{", content_type="application/json")
    s.request("OPTIONS", "/api/info", headers={"Origin": "http://x.example"})
    s.get("/nosuch")
    ws = websocket.create_connection(s.ws_url + "/api/stream", timeout=5)
    ws.recv()
    ws.close()
    return n


def test_prometheus_exposition(server):
    n = _exercise(server)
    text = server.prometheus()
    if not shutil.which(PROMTOOL):
        pytest.skip("promtool is not installed (Debian package prometheus)")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"promtool check metrics failed:\n{p.stdout}\n{p.stderr}"
    samples = parse_exposition(text)
    names = {name for name, _ in samples}
    for required in ("ecsdb_commits_total", "ecsdb_commit_latency_seconds_bucket", "ecsdb_table_rows",
                     "ecsdb_http_requests_total", "ecsdb_stream_coalesced_total", "ecsdb_uptime_seconds"):
        assert required in names, required
    assert samples[("ecsdb_table_rows", '{table="health"}')] == n
    assert samples[("ecsdb_commits_total", "")] >= n
    assert samples[("ecsdb_http_requests_total", '{route="/api/transactions",code="200"}')] == n
    assert samples[("ecsdb_http_requests_total", '{route="/api/transactions",code="400"}')] == 1
    assert samples[("ecsdb_http_requests_total", '{route="/api/tables/{table}/rows",code="404"}')] == 1
    # Histogram: cumulative buckets, +Inf equals the count.
    buckets = [(k[1], v) for k, v in samples.items() if k[0] == "ecsdb_commit_latency_seconds_bucket"]
    values = [v for _, v in buckets]
    assert values == sorted(values)
    inf = samples[("ecsdb_commit_latency_seconds_bucket", '{le="+Inf"}')]
    assert inf == samples[("ecsdb_commit_latency_seconds_count", "")] >= n


def test_api_metrics_json(server):
    n = _exercise(server)
    body = check(server.get("/api/metrics"), "GET", "/api/metrics", 200)
    assert body["tables"] == {"entities": n, "transform": 0, "health": n}
    assert body["entities"] == n
    assert body["commits_total"] >= n and body["committed_version"] >= n
    assert body["commit_latency_seconds"]["count"] == n
    # HTTP transactions go through the queue, so the queue's figure counts them too.
    assert body["queue_latency_seconds"]["count"] >= n and body["queue_latency_seconds"]["p99"] > 0
    assert body["pages_copied_total"] > 0, "each commit into the health table copies its shared page"
    assert 0 < body["bytes_copied_total"], "copies and replays move bytes"
    assert body["pages_replayed_total"] <= body["pages_copied_total"]
    assert body["writer_scratch_bytes"] > 0, "the writer keeps its undo buffer between transactions"
    assert body["http_requests_total"] >= n
    assert body["wal_bytes_total"] > 0
    samples = parse_exposition(server.prometheus())
    assert samples[("ecsdb_commits_total", "")] == body["commits_total"]
    assert samples[("ecsdb_bytes_copied_total", "")] >= body["bytes_copied_total"]
    assert ("ecsdb_memory_parked_bytes", "") in samples and ("ecsdb_writer_scratch_bytes", "") in samples
    # Every value is finite JSON.
    json.dumps(body, allow_nan=False)


def _wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_failing_retention_is_a_health_warning_and_a_metric_until_it_succeeds(server):
    server.create_health(1)
    archive = server.data / "archive"
    shutil.rmtree(archive)
    archive.write_text("not a directory")  # an operator's mistake: retention cannot move segments there
    try:
        check(server.post("/api/snapshot"), "POST", "/api/snapshot", 200)  # the snapshot itself succeeds
        # Retention runs after the snapshot returns, on the maintenance thread.
        health = _wait_for(lambda: (h := server.get("/api/health").json()).get("warnings") and h)
        assert health, "no warning while retention fails"
        assert health["status"] == "ok", "the database stays writable"
        assert any("retention" in w for w in health["warnings"]), health
        check(server.get("/api/health"), "GET", "/api/health", 200)  # the body with warnings matches the spec
        assert server.metric("ecsdb_retention_failing") == 1
        assert server.metric("ecsdb_retention_failures_total") >= 1
        assert server.metric("ecsdb_snapshot_failing") == 0
        body = check(server.get("/api/metrics"), "GET", "/api/metrics", 200)
        assert body["retention_failures_total"] >= 1
        assert body["retention_failing"] is True and body["snapshot_failing"] is False
        info = server.get("/api/info").json()
        assert any("retention after a snapshot failed" in n for n in info["recovery"]), info["recovery"]
    finally:
        archive.unlink()
        archive.mkdir()
    server.create_health(2)
    check(server.post("/api/snapshot"), "POST", "/api/snapshot", 200)
    assert _wait_for(lambda: "warnings" not in server.get("/api/health").json()), "the warning outlived the failure"
    assert server.metric("ecsdb_retention_failing") == 0
