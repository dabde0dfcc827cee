#!/usr/bin/env python3
"""Checks that the routes `ecsdb serve` serves are exactly the operations of docs/openapi.yaml.

Usage:
  check_routes.py SPEC ECSDB_BINARY [--ignore "METHOD PATH"]...
  check_routes.py --self-test

Runs `ECSDB_BINARY serve --list-routes`, which prints one line per served route, `METHOD PATH` (upper-case
method, OpenAPI path template, e.g. `GET /api/tables/{table}/rows`), and compares that set with the
operations under `paths:` in SPEC. Prints every route served but missing from the spec and every spec route
not served. `--ignore` names a served route that is deliberately not part of the API contract (e.g. the
dashboard, `GET /`); it may be given several times.

Exit status: 0 when the sets are equal, 1 when they differ, 2 on a usage error or when the routes cannot be
read. Standard library only: the spec is read by a small indentation-based extractor (no YAML library is
needed); when PyYAML happens to be importable, its reading of the spec is compared with the extractor's as
a cross-check.
"""

import re
import subprocess
import sys

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_KEY_RE = re.compile(r"""^(?P<indent> *)(?P<key>'[^']*'|"[^"]*"|[^\s#'"][^:#]*?)\s*:(?:\s+(?P<rest>.*))?$""")


class SpecError(Exception):
    pass


def _unquote(key):
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
        return key[1:-1]
    return key


def _content_lines(text):
    """Yields (line number, indent, stripped text) of lines that are neither blank nor comments."""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in line[: len(line) - len(stripped)]:
            raise SpecError(f"line {number}: tab in indentation")
        yield number, len(line) - len(stripped), line


def extract_routes(text):
    """Returns the set of (METHOD, path) operations under the top-level `paths:` key of an OpenAPI YAML text.

    Path keys are the first level under `paths:`, method keys the first level under a path (their
    indentation is taken from the first such key and must then stay the same); other keys at the method
    level (`parameters`, `summary`, `x-...`) are skipped, and so is everything deeper (block scalars too).
    """
    routes = set()
    in_paths = False
    seen_paths = False
    path_indent = None
    method_indent = None
    current_path = None
    for number, indent, line in _content_lines(text):
        if indent == 0:
            if in_paths:
                in_paths = False  # the next top-level key ends `paths:`
            m = _KEY_RE.match(line)
            if m and _unquote(m.group("key")) == "paths":
                if seen_paths:
                    raise SpecError(f"line {number}: a second top-level 'paths:'")
                if m.group("rest") and m.group("rest") not in ("{}",):
                    raise SpecError(f"line {number}: flow-style 'paths:' is not supported")
                in_paths = seen_paths = True
            continue
        if not in_paths:
            continue
        if path_indent is None:
            path_indent = indent
        if indent < path_indent:
            raise SpecError(f"line {number}: indentation {indent} is less than the paths' ({path_indent})")
        if indent == path_indent:
            m = _KEY_RE.match(line)
            if not m:
                raise SpecError(f"line {number}: expected a path key, got: {line.strip()}")
            key = _unquote(m.group("key"))
            if key.startswith("x-"):
                current_path = None  # a specification extension of the Paths object
                continue
            if not key.startswith("/"):
                raise SpecError(f"line {number}: path key does not start with '/': {key}")
            if m.group("rest"):
                raise SpecError(f"line {number}: flow-style path item is not supported: {key}")
            current_path = key
            continue
        if current_path is None:
            continue
        if method_indent is None:
            method_indent = indent
        if indent < method_indent:
            raise SpecError(f"line {number}: indentation {indent} is less than the methods' ({method_indent})")
        if indent != method_indent:
            continue
        m = _KEY_RE.match(line)
        if not m:
            raise SpecError(f"line {number}: expected a key under {current_path}, got: {line.strip()}")
        key = _unquote(m.group("key"))
        if key == "$ref":
            raise SpecError(f"line {number}: $ref path items are not supported: {current_path}")
        if key in HTTP_METHODS:
            route = (key.upper(), current_path)
            if route in routes:
                raise SpecError(f"line {number}: duplicate operation {key.upper()} {current_path}")
            routes.add(route)
    if not seen_paths:
        raise SpecError("no top-level 'paths:' key")
    return routes


def yaml_routes(text):
    """The same set read with PyYAML, or None when PyYAML is not importable."""
    try:
        import yaml  # type: ignore
    except ImportError:
        return None
    doc = yaml.safe_load(text)
    paths = (doc or {}).get("paths") or {}
    return {
        (method.upper(), path)
        for path, item in paths.items()
        if not str(path).startswith("x-")
        for method in (item or {})
        if method in HTTP_METHODS
    }


_ROUTE_RE = re.compile(r"^([A-Z]+) (/\S*)$")


def parse_route_list(output):
    routes = set()
    for number, raw in enumerate(output.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = _ROUTE_RE.match(line)
        if not m or m.group(1).lower() not in HTTP_METHODS:
            raise SpecError(f"--list-routes line {number} is not 'METHOD PATH': {raw!r}")
        routes.add((m.group(1), m.group(2)))
    return routes


def _template_shape(path):
    return re.sub(r"\{[^}/]*\}", "{}", path)


def compare(spec_routes, served_routes, ignored=()):
    """Returns the report lines and whether the two sets agree."""
    ignored = set(ignored)
    served = served_routes - ignored
    missing_from_spec = sorted(served - spec_routes, key=lambda r: (r[1], r[0]))
    not_served = sorted(spec_routes - served, key=lambda r: (r[1], r[0]))
    lines = []
    for method, path in missing_from_spec:
        hint = ""
        twins = [p for (m, p) in not_served if m == method and _template_shape(p) == _template_shape(path)]
        if twins:
            hint = f" (the spec has {method} {twins[0]}: path parameter names differ)"
        lines.append(f"served but not in the spec: {method} {path}{hint}")
    for method, path in not_served:
        lines.append(f"in the spec but not served: {method} {path}")
    for method, path in sorted(ignored - served_routes, key=lambda r: (r[1], r[0])):
        lines.append(f"note: --ignore {method} {path} is not served")
    ok = not missing_from_spec and not not_served
    return lines, ok


SELF_TEST_SPEC = """\
openapi: 3.1.0
info:
  title: sample
  description: |
    paths:
      /not/a/path:
        get: {}
paths:
  # a comment
  /api/health:
    get:
      operationId: getHealth
      description: |
        post: this line is text, not a method
      responses:
        '200':
          description: ok

  '/api/tables/{table}/rows':
    parameters:
      - name: table
        in: path
    summary: path-level keys are not methods
    get:
      responses: {}
    post:
      responses: {}
  "/metrics":
    x-internal: true
    get:
      responses: {}
  x-extension:
    get: not a route
  /api/stream:
    description: >
      get:
    get:
      x-websocket: true
components:
  schemas:
    delete:
      type: object
  paths:
    /api/fake:
      get: {}
webhooks:
  /hook:
    put: {}
"""

SELF_TEST_EXPECTED = {
    ("GET", "/api/health"),
    ("GET", "/api/tables/{table}/rows"),
    ("POST", "/api/tables/{table}/rows"),
    ("GET", "/metrics"),
    ("GET", "/api/stream"),
}


def self_test():
    failures = []

    got = extract_routes(SELF_TEST_SPEC)
    if got != SELF_TEST_EXPECTED:
        failures.append(f"extract_routes: got {sorted(got)}, expected {sorted(SELF_TEST_EXPECTED)}")
    # Four-space indentation is read the same way.
    four = "\n".join(re.sub(r"^( +)", lambda m: m.group(1) * 2, l) for l in SELF_TEST_SPEC.splitlines())
    got4 = extract_routes(four)
    if got4 != SELF_TEST_EXPECTED:
        failures.append(f"extract_routes (4-space indentation): got {sorted(got4)}")
    via_yaml = yaml_routes(SELF_TEST_SPEC)
    if via_yaml is not None and via_yaml != SELF_TEST_EXPECTED:
        failures.append(f"PyYAML cross-check: got {sorted(via_yaml)}")

    for bad, why in (
        ("openapi: 3.1.0\n", "no paths"),
        ("paths:\n  /a:\n    get: {}\n  /a:\n    get: {}\n", "duplicate operation"),
        ("paths:\n  api/a:\n    get: {}\n", "path without '/'"),
        ("paths:\n  /a: {get: {}}\n", "flow-style path item"),
    ):
        try:
            extract_routes(bad)
            failures.append(f"extract_routes accepted a spec with {why}")
        except SpecError:
            pass

    listed = parse_route_list("GET /api/health\n\nPOST /api/tables/{table}/rows\n")
    if listed != {("GET", "/api/health"), ("POST", "/api/tables/{table}/rows")}:
        failures.append(f"parse_route_list: got {sorted(listed)}")
    for bad in ("get /api/health", "GET api/health", "GET /a extra", "FETCH /a"):
        try:
            parse_route_list(bad)
            failures.append(f"parse_route_list accepted {bad!r}")
        except SpecError:
            pass

    lines, ok = compare(SELF_TEST_EXPECTED, set(SELF_TEST_EXPECTED))
    if not ok or lines:
        failures.append(f"compare of equal sets: {ok} {lines}")
    served = (SELF_TEST_EXPECTED - {("GET", "/metrics")}) | {("GET", "/"), ("DELETE", "/api/health")}
    lines, ok = compare(SELF_TEST_EXPECTED, served, ignored={("GET", "/")})
    expected_lines = [
        "served but not in the spec: DELETE /api/health",
        "in the spec but not served: GET /metrics",
    ]
    if ok or lines != expected_lines:
        failures.append(f"compare of different sets: {ok} {lines}")
    renamed = (SELF_TEST_EXPECTED - {("GET", "/api/tables/{table}/rows")}) | {("GET", "/api/tables/{name}/rows")}
    lines, ok = compare(SELF_TEST_EXPECTED, renamed)
    if ok or not lines or "parameter names differ" not in lines[0]:
        failures.append(f"compare with renamed parameter: {ok} {lines}")

    for f in failures:
        print(f"check_routes self-test FAILED: {f}", file=sys.stderr)
    if failures:
        return 1
    print(f"check_routes self-test passed ({'with' if via_yaml is not None else 'without'} PyYAML cross-check)")
    return 0


def main(argv):
    if argv == ["--self-test"]:
        return self_test()
    args, ignored = [], set()
    it = iter(argv)
    for a in it:
        if a == "--ignore":
            value = next(it, None)
            try:
                ignored |= parse_route_list(value or "")
            except SpecError as e:
                print(f"check_routes: --ignore {value!r}: {e}", file=sys.stderr)
                return 2
            if not value:
                print("check_routes: --ignore needs 'METHOD PATH'", file=sys.stderr)
                return 2
        elif a.startswith("-"):
            print(__doc__, file=sys.stderr)
            return 2
        else:
            args.append(a)
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec_path, binary = args

    try:
        with open(spec_path, encoding="utf-8") as f:
            text = f.read()
        spec_routes = extract_routes(text)
    except (OSError, SpecError) as e:
        print(f"check_routes: {spec_path}: {e}", file=sys.stderr)
        return 2
    via_yaml = yaml_routes(text)
    if via_yaml is not None and via_yaml != spec_routes:
        print(f"check_routes: {spec_path}: the route extractor and PyYAML disagree: "
              f"extractor only {sorted(spec_routes - via_yaml)}, PyYAML only {sorted(via_yaml - spec_routes)}",
              file=sys.stderr)
        return 2

    cmd = [binary, "serve", "--list-routes"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"check_routes: cannot run {' '.join(cmd)}: {e}", file=sys.stderr)
        return 2
    if proc.returncode != 0:
        print(f"check_routes: {' '.join(cmd)} exited with {proc.returncode}:\n{proc.stderr.strip()}", file=sys.stderr)
        return 2
    try:
        served = parse_route_list(proc.stdout)
    except SpecError as e:
        print(f"check_routes: {e}", file=sys.stderr)
        return 2
    if not served:
        print(f"check_routes: {' '.join(cmd)} listed no routes", file=sys.stderr)
        return 2

    lines, ok = compare(spec_routes, served, ignored)
    for line in lines:
        print(line)
    counted = len(served - ignored)
    if ok:
        print(f"check_routes: OK, {len(spec_routes)} spec operations = {counted} served routes"
              + (f" ({len(ignored)} ignored)" if ignored else ""))
        return 0
    print(f"check_routes: MISMATCH, {len(spec_routes)} spec operations, {counted} served routes, "
          f"{sum(1 for l in lines if not l.startswith('note:'))} differences")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
