"""Secure defaults: non-loopback addresses need tokens or --insecure; CORS off unless configured; TLS."""
from __future__ import annotations

import json
import ssl
import subprocess

import spec_util
from conftest import ECSDB_BIN, SCHEMA, check, check_error, server_env, write_tokens_config


def test_non_loopback_without_tokens_is_refused(tmp_path):
    p = subprocess.run([ECSDB_BIN, "serve", "--schema", SCHEMA, "--http", "0.0.0.0:0"], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL, env=server_env())
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    message = (p.stdout + p.stderr).lower()
    assert "token" in message and "--insecure" in message, message
    assert "listening" not in message


def test_non_loopback_with_insecure_starts(server_factory):
    s = server_factory("--insecure", host="0.0.0.0", data=False)
    check(s.get("/api/info"), "GET", "/api/info", 200)


def test_non_loopback_with_tokens_starts(server_factory, tmp_path):
    s = server_factory(config=write_tokens_config(tmp_path / "t.toml"), host="0.0.0.0", data=False)
    check_error(s.get("/api/info"), "GET", "/api/info", 401, "unauthorized")
    check(s.get("/api/info", token="secret-r"), "GET", "/api/info", 200)


def test_cors_off_by_default(server):
    r = server.get("/api/info", headers={"Origin": "http://a.example"})
    check(r, "GET", "/api/info", 200)
    assert r.header("Access-Control-Allow-Origin") is None
    pre = server.request("OPTIONS", "/api/transactions", headers={
        "Origin": "http://a.example", "Access-Control-Request-Method": "POST"})
    assert pre.status == 403 and pre.header("Access-Control-Allow-Origin") is None
    spec_util.validate_component("Error", pre.json())


def test_cors_allowed_origin(server_factory):
    s = server_factory("--cors-origins", "http://a.example,http://b.example", data=False)
    r = s.get("/api/info", headers={"Origin": "http://a.example"})
    check(r, "GET", "/api/info", 200)
    assert r.header("Access-Control-Allow-Origin") == "http://a.example"
    assert "Origin" in r.header("Vary", "")
    err = s.get("/api/tables/nosuch/rows", headers={"Origin": "http://b.example"})
    assert err.status == 404 and err.header("Access-Control-Allow-Origin") == "http://b.example"
    pre = s.request("OPTIONS", "/api/transactions", headers={
        "Origin": "http://a.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert pre.status == 204, pre
    assert pre.header("Access-Control-Allow-Origin") == "http://a.example"
    assert "POST" in pre.header("Access-Control-Allow-Methods")
    allowed_headers = pre.header("Access-Control-Allow-Headers").lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    other = s.request("OPTIONS", "/api/transactions", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert other.status == 403, other
    assert other.header("Access-Control-Allow-Origin") is None
    assert other.json()["error"]["code"] == "forbidden"
    plain = s.get("/api/info", headers={"Origin": "http://evil.example"})
    assert plain.status == 200 and plain.header("Access-Control-Allow-Origin") is None


def _make_cert(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls(server_factory, tmp_path):
    cert, key = _make_cert(tmp_path)
    s = server_factory("--tls-cert", str(cert), "--tls-key", str(key), data=False)
    assert s.scheme == "https"
    # Verified against the self-signed certificate as the CA.
    s.ssl_context = ssl.create_default_context(cafile=str(cert))
    body = check(s.get("/api/health"), "GET", "/api/health", 200)
    assert body["status"] == "ok"
    out = s.tx([{"op": "create"}])
    # The CLI client over https.
    cli = subprocess.run([ECSDB_BIN, "get", f"https://127.0.0.1:{s.port}/health", "--no-verify"], capture_output=True,
                         text=True, timeout=30, env=server_env())
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["status"] == "ok"
    cli = subprocess.run([ECSDB_BIN, "get", f"https://127.0.0.1:{s.port}/entities/{out['created'][0]}",
                          "--cacert", str(cert)], capture_output=True, text=True, timeout=30, env=server_env())
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["entity"] == out["created"][0]
    # Without --no-verify (and no CA) the self-signed certificate is refused.
    cli = subprocess.run([ECSDB_BIN, "get", f"https://127.0.0.1:{s.port}/health"], capture_output=True, text=True,
                         timeout=30, env=server_env())
    assert cli.returncode != 0
    # Plain HTTP to the TLS port gets no HTTP answer.
    s.scheme = "http"
    try:
        r = s.get("/api/health", timeout=3)
        assert r.status != 200
    except OSError:
        pass
    finally:
        s.scheme = "https"
    assert s.alive()
