"""Fixtures of the `ecsdb serve` integration tests: servers on port 0 with a temporary data directory, and a
small HTTP client (http.client only).

ECSDB_BIN names the binary (default build/ecsdb); the schema is examples/schemas/game.toml.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

import spec_util

REPO = Path(__file__).resolve().parents[2]
ECSDB_BIN = str((REPO / os.environ.get("ECSDB_BIN", "build/ecsdb")).resolve())
SCHEMA = str(REPO / "examples" / "schemas" / "game.toml")

TOKENS = {"read": "secret-r", "write": "secret-w", "admin": "secret-a"}

_LISTENING_RE = re.compile(r"listening on (https?)://([^\s:]+|\[[^\]]+\]):(\d+)")


class Response:
    def __init__(self, status: int, reason: str, headers: http.client.HTTPMessage, body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)

    def header(self, name: str, default=None):
        return self.headers.get(name, default)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


def thread_stacks(pid: int) -> str:
    """Every thread's backtrace of a hung process (gdb, when installed), for the failure message."""
    import shutil

    if not shutil.which("gdb"):
        return "(no gdb: no thread stacks)"
    try:
        p = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 30"], capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"(gdb failed: {e})"
    lines = [l for l in p.stdout.splitlines() if l.startswith(("Thread ", "#"))]
    return "thread stacks:\n" + "\n".join(lines)[-12000:]


def server_env(extra: dict | None = None) -> dict:
    """The environment of a child process: ECSDB_* variables of the caller are dropped (they are options)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECSDB_")}
    env.update(extra or {})
    return env


class Server:
    """One `ecsdb serve` process. Its stdout/stderr go to a log file (never a pipe that could fill up)."""

    def __init__(self, workdir: Path, args: list[str], data: Path | None, config: Path | None, env: dict | None,
                 host: str = "127.0.0.1"):
        self.workdir = workdir
        self.args = list(args)
        self.data = data
        self.config = config
        self.env = env
        self.host = host
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.scheme = "http"
        self.log_path: Path | None = None
        self.ssl_context: ssl.SSLContext | None = None
        self.default_token: str | None = None
        self._starts = 0

    # ---- process ----
    def command(self) -> list[str]:
        cmd = [ECSDB_BIN, "serve"]
        if not any(a == "--schema" for a in self.args):
            cmd += ["--schema", SCHEMA]
        if not any(a == "--http" for a in self.args):
            cmd += ["--http", f"{self.host}:0"]
        if self.data is not None:
            cmd += ["--data", str(self.data)]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        return cmd + self.args

    def start(self, wait_ready: bool = True, timeout: float = 20.0) -> "Server":
        self._starts += 1
        self.log_path = self.workdir / f"server-{self._starts}.log"
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=server_env(self.env))
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            m = _LISTENING_RE.search(self.log())
            if m:
                self.scheme, self.port = m.group(1), int(m.group(3))
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before listening:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not print 'listening on' within {timeout}s:\n{self.log()}")
            time.sleep(0.01)
        if self.scheme == "https" and self.ssl_context is None:
            self.ssl_context = ssl._create_unverified_context()  # self-signed test certificates
        if wait_ready:
            self.wait_ready(deadline - time.monotonic())
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + max(timeout, 1.0)
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                last = self.get("/api/health", timeout=2)
                if last.status == 200:
                    return
            except OSError as e:
                last = e
            time.sleep(0.02)
        raise RuntimeError(f"GET /api/health never answered 200 (last: {last!r}):\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stacks = thread_stacks(self.proc.pid)
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not exit within {timeout}s of SIGTERM:\n{self.log()[-3000:]}\n{stacks}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    # ---- HTTP ----
    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.scheme == 'https' else 'ws'}://127.0.0.1:{self.port}"

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ssl_context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body=None, *, token: str | None = None, headers: dict | None = None,
                content_type: str | None = None, params=None, timeout: float = 10.0) -> Response:
        """One request on a fresh connection. `body`: bytes/str as is, anything else as JSON."""
        if params:
            path = path + ("&" if "?" in path else "?") + urlencode(params, doseq=True)
        h = {}
        token = token if token is not None else self.default_token
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            elif isinstance(body, str):
                data = body.encode("utf-8")
            else:
                data = json.dumps(body).encode("utf-8")
                h["Content-Type"] = "application/json"
        if content_type is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Response(r.status, r.reason, r.headers, r.read())
        finally:
            conn.close()

    def get(self, path: str, **kw) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> Response:
        return self.request("POST", path, body, **kw)

    # ---- conveniences ----
    def tx(self, ops: list, *, expect: int = 200, **kw) -> dict:
        r = self.post("/api/transactions", {"ops": ops}, **kw)
        assert r.status == expect, r
        return r.json()

    def create_health(self, hp: int, max_hp: int = 100, **kw) -> str:
        out = self.tx([{"op": "create"}, {"op": "add", "table": "health", "entity": "$0",
                                           "values": {"hp": hp, "max_hp": max_hp}}], **kw)
        return out["created"][0]

    def version(self) -> int:
        return self.get("/api/health").json()["version"]

    def all_rows(self, table: str, **params) -> list[dict]:
        rows, after, version = [], None, None
        while True:
            p = dict(params, limit=1000)
            if after:
                p.update(after=after, version=version)
            r = self.get(f"/api/tables/{table}/rows", params=p)
            assert r.status == 200, r
            page = r.json()
            version = page["version"]
            rows += page["rows"]
            after = page["next"]
            if not after:
                return rows

    def prometheus(self) -> str:
        r = self.get("/metrics")
        assert r.status == 200, r
        return r.text

    def metric(self, name: str) -> float:
        for line in self.prometheus().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(name)


def check(r: Response, method: str, path: str, status: int):
    """Asserts the status, that it is documented for the route, and that the body matches the spec's schema
    for it (JSON responses; every error body is the Error schema). Returns the parsed body."""
    assert r.status == status, f"{method} {path}: expected {status}, got {r!r}"
    node, _ = spec_util.response_spec(method, path, status)
    content = node.get("content") or {}
    if "application/json" in content:
        ctype = r.header("Content-Type", "")
        assert ctype.split(";")[0].strip() == "application/json", f"{method} {path}: Content-Type {ctype!r}"
        body = r.json()
        spec_util.validate_response_body(method, path, status, body)
        if status >= 400:
            spec_util.validate_component("Error", body)
        return body
    return r.body


def check_error(r: Response, method: str, path: str, status: int, code: str, **details):
    body = check(r, method, path, status)
    assert body["error"]["code"] == code, body
    for k, v in details.items():
        assert body["error"]["details"].get(k) == v, (k, body)
    return body


def write_tokens_config(path: Path, extra: str = "") -> Path:
    path.write_text(
        "\n".join(
            f'[[tokens]]\nname = "{role[0]}"\nrole = "{role}"\ntoken = "{secret}"\n' for role, secret in TOKENS.items()
        )
        + extra
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- fixtures ----

@pytest.fixture
def server_factory(tmp_path):
    """start(*args, data=True|False|Path, config=Path|None, env=dict) -> a ready Server. On teardown every
    server still running is stopped with SIGTERM and must exit 0."""
    servers: list[Server] = []

    def start(*args: str, data=True, config: Path | None = None, env: dict | None = None, host: str = "127.0.0.1",
              wait_ready: bool = True) -> Server:
        n = len(servers)
        workdir = tmp_path / f"server{n}"
        workdir.mkdir(exist_ok=True)
        if data is True:
            data_dir = workdir / "data"
        elif data is False or data is None:
            data_dir = None
        else:
            data_dir = Path(data)
        s = Server(workdir, list(args), data_dir, config, env, host)
        servers.append(s)
        return s.start(wait_ready=wait_ready)

    yield start
    failures = []
    for s in servers:
        if s.alive():
            code = s.stop()
            if code != 0:
                failures.append(f"server exited {code}:\n{s.log()[-3000:]}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def server(server_factory) -> Server:
    """A server with a temporary data directory (sync durability), no tokens."""
    return server_factory()


@pytest.fixture
def auth_server(server_factory, tmp_path) -> Server:
    """A server with tokens: read 'secret-r', write 'secret-w', admin 'secret-a' (the admin one by its sha256)."""
    import hashlib

    cfg = tmp_path / "tokens.toml"
    cfg.write_text(
        '[[tokens]]\nname = "r"\nrole = "read"\ntoken = "secret-r"\n'
        '[[tokens]]\nname = "w"\nrole = "write"\ntoken = "secret-w"\n'
        f'[[tokens]]\nname = "a"\nrole = "admin"\nsha256 = "{hashlib.sha256(b"secret-a").hexdigest()}"\n'
    )
    return server_factory(config=cfg)
