// The launcher window: saved connections, the local server, schema files. Everything that touches the
// disk, the keyring or a process is a Rust command (desktop/src-tauri/src/lib.rs); this page only calls
// them and shows the answers. Tokens go from the form to Rust once and are never read back here.
const { invoke } = window.__TAURI__.core;

const $ = (id) => document.getElementById(id);
const schema = { path: null };

function showError(e) {
  const banner = $("banner");
  banner.textContent = e === null ? "" : String(e);
  banner.hidden = e === null;
}

/** Runs a command, showing its error in the banner; resolves to undefined when it failed. */
async function call(command, args = {}) {
  try {
    const result = await invoke(command, args);
    showError(null);
    return result;
  } catch (e) {
    showError(e);
    return undefined;
  }
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text;
  return td;
}

function renderConnections(overview) {
  const body = $("connections");
  body.replaceChildren();
  for (const c of overview.connections) {
    const row = body.insertRow();
    cell(row, c.name);
    cell(row, c.url).className = "mono";
    cell(row, c.has_token ? "saved" : "—");
    const actions = row.insertCell();
    actions.append(
      button("Open", () => call("open_connection", { id: c.id })),
      button("Edit", () => editConnection(c)),
      button("Delete", async () => {
        if (window.confirm(`Delete the connection “${c.name}” and its saved token?`)) {
          await call("delete_connection", { id: c.id });
          refresh();
        }
      }),
    );
  }
  if (overview.connections.length === 0) {
    const row = body.insertRow();
    const td = cell(row, "No saved connections yet.");
    td.colSpan = 4;
    td.className = "dim";
  }
  $("vault").textContent =
    overview.vault === "keyring"
      ? "Tokens are kept in the system keyring."
      : `No system keyring is available (${overview.vault_note ?? "unknown reason"}): tokens are kept in memory until the app exits, never on disk.`;
  $("origins").textContent = overview.webview_origins;
}

function editConnection(c) {
  const f = $("connection-form");
  f.elements.id.value = c.id;
  f.elements.name.value = c.name;
  f.elements.url.value = c.url;
  f.elements.token.value = "";
  f.elements.token.placeholder = c.has_token ? "unchanged" : "none";
  f.elements.clearToken.checked = false;
  $("clear-token-label").hidden = !c.has_token;
  $("cancel-edit").hidden = false;
  $("save-connection").textContent = "Save changes";
}

function resetConnectionForm() {
  const f = $("connection-form");
  f.reset();
  f.elements.id.value = "";
  f.elements.token.placeholder = "none";
  $("clear-token-label").hidden = true;
  $("cancel-edit").hidden = true;
  $("save-connection").textContent = "Save connection";
}

$("connection-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  // null keeps the saved token, "" forgets it, anything else replaces it.
  let token = f.token.value !== "" ? f.token.value : null;
  if (f.clearToken.checked) token = "";
  const draft = { id: f.id.value !== "" ? f.id.value : null, name: f.name.value, url: f.url.value, token };
  const saved = await call("save_connection", { draft });
  if (saved !== undefined) {
    resetConnectionForm();
    refresh();
  }
});
$("cancel-edit").addEventListener("click", resetConnectionForm);

function renderLocal(info) {
  const running = info !== null && info.running;
  $("start-server").disabled = running;
  $("stop-server").disabled = !running;
  $("open-local").disabled = !running;
  const log = $("local-log");
  if (info === null) {
    $("local-status").textContent = "Not running.";
    log.hidden = true;
    return;
  }
  $("local-status").textContent = running
    ? `Running at ${info.url} on ${info.data_dir} (schema ${info.schema}).`
    : `Stopped: ${info.exit}.`;
  log.textContent = info.log.slice(-40).join("\n");
  log.hidden = info.log.length === 0;
}

$("pick-schema").addEventListener("click", async () => {
  const p = await call("pick_schema_path");
  if (p) $("local-form").elements.schema.value = p;
});
$("pick-data").addEventListener("click", async () => {
  const p = await call("pick_data_dir");
  if (p) $("local-form").elements.dataDir.value = p;
});
$("local-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  $("local-status").textContent = "Starting…";
  $("start-server").disabled = true;
  await call("start_local_server", { schema: f.schema.value, dataDir: f.dataDir.value });
  refresh();
});
$("stop-server").addEventListener("click", async () => {
  await call("stop_local_server");
  refresh();
});
$("open-local").addEventListener("click", () => call("open_local_dashboard"));

function setSchemaPath(path) {
  schema.path = path;
  $("schema-path").textContent = path ?? "(not saved)";
  $("schema-save").disabled = path === null;
}

/** Validates the editor's text; true when the schema is valid. */
async function validate() {
  const check = await call("validate_schema", { text: $("schema-text").value });
  const list = $("schema-problems");
  list.replaceChildren();
  if (check === undefined) return false;
  $("schema-summary").textContent = check.ok ? `Valid: ${check.summary}` : `Invalid: ${check.summary}`;
  $("schema-summary").className = check.ok ? "ok" : "error";
  for (const p of check.problems) {
    const li = document.createElement("li");
    const where = [p.table, p.field].filter((s) => s !== "").join(".");
    li.textContent = `line ${p.line}:${p.column}${where ? ` (${where})` : ""}: ${p.message}${p.hint ? ` — ${p.hint}` : ""}`;
    list.append(li);
  }
  return check.ok;
}

async function save(path) {
  // An invalid schema may still be worth keeping as a draft, but only when the user says so.
  if (!(await validate()) && !window.confirm("The schema is not valid. Save it anyway?")) return;
  const where = await call("save_schema_file", { path, text: $("schema-text").value });
  if (where) setSchemaPath(where);
}

$("schema-open").addEventListener("click", async () => {
  const file = await call("open_schema_file");
  if (!file) return;
  $("schema-text").value = file.text;
  setSchemaPath(file.path);
  $("local-form").elements.schema.value = file.path;
  await validate();
});
$("schema-validate").addEventListener("click", validate);
$("schema-save").addEventListener("click", () => save(schema.path));
$("schema-save-as").addEventListener("click", () => save(null));

async function refresh() {
  const overview = await call("overview");
  if (overview === undefined) return;
  renderConnections(overview);
  renderLocal(overview.local_server);
}

setSchemaPath(null);
refresh();
// The local server may stop on its own (a bad schema, a port taken): keep its status current.
setInterval(async () => {
  const overview = await invoke("overview").catch(() => undefined);
  if (overview !== undefined) renderLocal(overview.local_server);
}, 2000);
