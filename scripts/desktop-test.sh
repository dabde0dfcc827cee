#!/usr/bin/env bash
# `make desktop-test` (docs/desktop.md): the desktop app's Rust unit tests, then the app itself under Xvfb
# against a live server. Starts `build/ecsdb serve` on a temporary data directory (game schema,
# --simulate 200, a free port, this app's origin allowed), launches the built app with `--connect` to it,
# and waits for the dashboard window's probe to report that the overview shows live numbers (entities,
# and a committed version that moved). Then a screenshot goes to build/desktop-test/overview.png and the
# app is closed. Fails on a probe timeout, a page error, or no report within DESKTOP_TEST_TIMEOUT seconds.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
timeout_s="${DESKTOP_TEST_TIMEOUT:-120}"
out=build/desktop-test
app=desktop/src-tauri/target/release/ecsdb-desktop
rm -rf "$out" && mkdir -p "$out"

echo "desktop-test: cargo test (connection store, token vault, schema files, the sidecar against build/ecsdb)"
(cd desktop/src-tauri && ECSDB_BIN="$root/build/ecsdb" CARGO_BUILD_JOBS="${DESKTOP_JOBS:-$(nproc)}" nice -n 19 cargo test --release --lib --quiet)

[[ -x "$app" ]] || { echo "desktop-test: $app is missing: run 'make desktop' first"; exit 1; }
work="$(mktemp -d)"
server_pid="" app_pid=""
cleanup() {
  [[ -n "$app_pid" ]] && kill "$app_pid" 2>/dev/null || true
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
build/ecsdb serve --schema examples/schemas/game.toml --data "$work/data" --http "127.0.0.1:$port" \
  --simulate 200 --dashboard none --cors-origins tauri://localhost --log-level warn --no-access-log \
  > "$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fsS "$url/api/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "desktop-test: the server exited:"; cat "$out/server.log"; exit 1; }
  sleep 0.1
done
curl -fsS "$url/api/health" >/dev/null || { echo "desktop-test: the server did not answer on $url"; exit 1; }
echo "desktop-test: server at $url"

# The app under its own X server. HOME is a temporary one so the test reads and writes no real
# connections; there is no D-Bus session, so no keyring: tokens would stay in memory (none is used here).
report="$work/report.json"
start=$(date +%s.%N)
HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" NO_AT_BRIDGE=1 \
  ECSDB_DESKTOP_TEST_REPORT="$report" WEBKIT_DISABLE_COMPOSITING_MODE=1 \
  xvfb-run -a -s "-screen 0 1400x1000x24" bash -c '
    "$1" --connect "$2" > "$3/app.log" 2>&1 &
    app=$!
    for _ in $(seq $(( $4 * 10 ))); do
      [[ -s "$5" ]] && break
      kill -0 $app 2>/dev/null || { echo "desktop-test: the app exited early"; exit 1; }
      sleep 0.1
    done
    [[ -s "$5" ]] || { echo "desktop-test: no report from the dashboard within $4 s"; import -window root "$3/timeout.png" || true; kill $app; exit 1; }
    sleep 0.5   # let the page paint the numbers it just reported
    import -window root "$3/overview.png"
    kill $app; wait $app 2>/dev/null || true
  ' _ "$root/$app" "$url" "$root/$out" "$timeout_s" "$report" &
app_pid=$!
status=0
wait "$app_pid" || status=$?
app_pid=""
elapsed=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
[[ -f "$report" ]] && cp "$report" "$out/report.json"
if ((status != 0)); then
  echo "desktop-test: FAILED (app log: $out/app.log)"; tail -n 20 "$out/app.log" || true; exit 1
fi
python3 - "$out/report.json" "$url" <<'PY'
import json, sys, urllib.request
report = json.load(open(sys.argv[1]))
metrics = json.load(urllib.request.urlopen(sys.argv[2] + "/api/metrics"))
print(f"desktop-test: the overview showed {report.get('entities')} entities (the server now has {metrics['entities']}), "
      f"committed version {report.get('first_committed_version')} -> {report.get('committed_version')}, "
      f"after {report.get('seconds')} s in the page")
if not report.get("ok"):
    sys.exit(f"desktop-test: FAILED: the overview never showed live numbers: {report}")
if not report.get("launcher_commands_refused"):
    sys.exit("desktop-test: FAILED: the dashboard window could call the launcher's commands")
if report.get("errors"):
    sys.exit(f"desktop-test: FAILED: page errors: {report['errors']}")
PY
echo "desktop-test: ok in ${elapsed} s (app start to screenshot); screenshot $out/overview.png"
