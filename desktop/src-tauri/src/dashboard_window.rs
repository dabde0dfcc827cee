//! Dashboard windows: the bundled dashboard (`index.html`) told, before any of its scripts run, which
//! server to talk to and with which token, through `window.__ECSDB_DESKTOP__` (read by the dashboard's
//! `src/api/endpoint.ts`). The token is only in that window's memory: it is not in the URL, and the
//! dashboard does not copy it to any storage.
use serde::Serialize;
use std::sync::atomic::{AtomicU32, Ordering};
use tauri::{AppHandle, WebviewUrl, WebviewWindowBuilder};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DesktopEndpoint<'a> {
    base_url: &'a str,
    token: Option<&'a str>,
    name: &'a str,
}

/// The script that runs before the dashboard's own. JSON-encoded, so no name, URL or token can break
/// out of the string it is put in.
pub fn endpoint_script(name: &str, base_url: &str, token: Option<&str>) -> String {
    let endpoint = DesktopEndpoint { base_url, token: token.filter(|t| !t.is_empty()), name };
    let json = serde_json::to_string(&endpoint).expect("strings always serialize");
    format!("Object.defineProperty(window, '__ECSDB_DESKTOP__', {{ value: Object.freeze({json}), writable: false }});")
}

/// `make desktop-test`'s probe: once the overview shows entities and a committed version that moved
/// (so the numbers are live, not the first poll), it reports what it saw through `desktop_test_report`.
/// Page errors are reported too, and fail the test, as does a launcher command that this window could call.
pub const TEST_PROBE_SCRIPT: &str = r#"
(function () {
  const errors = [];
  window.addEventListener('error', (e) => errors.push(String(e.message)));
  window.addEventListener('unhandledrejection', (e) => errors.push('unhandled rejection: ' + String(e.reason)));
  const started = Date.now();
  let firstVersion = null;
  function card(label) {
    for (const c of document.querySelectorAll('.card.stat')) {
      const l = c.querySelector('.label');
      if (l && l.textContent.trim() === label) return c.querySelector('.value').textContent.trim();
    }
    return null;
  }
  const number = (s) => (s === null ? NaN : Number(s.replace(/[^0-9.]/g, '')));
  async function report(r) {
    const invoke = window.__TAURI__.core.invoke;
    // A dashboard window must not reach the launcher's commands (files, keyring, processes).
    const refused = await invoke('overview').then(() => false, () => true);
    invoke('desktop_test_report', { report: Object.assign(r, { errors, launcher_commands_refused: refused, url: location.href, seconds: (Date.now() - started) / 1000 }) });
  }
  const timer = setInterval(() => {
    const entities = card('Entities');
    const version = number(card('Committed version'));
    if (firstVersion === null && version > 0) firstVersion = version;
    if (number(entities) > 0 && firstVersion !== null && version > firstVersion) {
      clearInterval(timer);
      report({ ok: true, entities, committed_version: version, first_committed_version: firstVersion });
    } else if (Date.now() - started > 60000) {
      clearInterval(timer);
      report({ ok: false, entities, committed_version: version, body: document.body.innerText.slice(0, 2000) });
    }
  }, 200);
})();
"#;

static NEXT_WINDOW: AtomicU32 = AtomicU32::new(1);

/// Opens a new dashboard window on `base_url`. Each connection gets its own window, labelled
/// `dashboard-N` (the capability in capabilities/default.json matches that pattern).
pub fn open(app: &AppHandle, name: &str, base_url: &str, token: Option<&str>, with_test_probe: bool) -> Result<(), String> {
    let label = format!("dashboard-{}", NEXT_WINDOW.fetch_add(1, Ordering::Relaxed));
    let mut script = endpoint_script(name, base_url, token);
    if with_test_probe {
        script.push_str(TEST_PROBE_SCRIPT);
    }
    WebviewWindowBuilder::new(app, label, WebviewUrl::App("index.html".into()))
        .title(format!("ECSDb — {name} ({base_url})"))
        .inner_size(1280.0, 860.0)
        .initialization_script(&script)
        .build()
        .map(|_| ())
        .map_err(|e| format!("opening the dashboard window: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_json_encoded_and_an_empty_token_is_none() {
        let s = endpoint_script("a'b\"</script>", "http://127.0.0.1:1", Some(""));
        assert!(s.contains(r#"{"baseUrl":"http://127.0.0.1:1","token":null,"name":"a'b\"</script>"}"#), "{s}");
        let s = endpoint_script("x", "http://h:1", Some("t\"ok"));
        assert!(s.contains(r#""token":"t\"ok""#), "{s}");
    }
}
