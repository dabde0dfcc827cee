//! ECSDb Desktop: the dashboard in Tauri windows, plus what a desktop adds — saved connections with their
//! tokens in the OS keyring, schema files opened, validated and saved from disk, and a local `ecsdb serve`
//! started as a sidecar. docs/desktop.md describes the app; this file wires the launcher's commands.
//!
//! Threads: synchronous commands run on the main thread; they are the ones touching the keyring (whose
//! Secret Service client must not run inside the async runtime). Async commands run on the runtime and do
//! the blocking dialogs and process work.
pub mod connection_store;
pub mod dashboard_window;
pub mod local_server;
pub mod schema_file;
pub mod token_vault;

use connection_store::{Connection, ConnectionDraft, ConnectionStore};
use local_server::LocalServerSpec;
use schema_file::SchemaCheck;
use serde::Serialize;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tauri::{AppHandle, Manager, RunEvent, State};
use tauri_plugin_dialog::DialogExt;
use tauri_plugin_shell::process::{CommandChild, CommandEvent};
use tauri_plugin_shell::ShellExt;

/// The lines of the local server's output kept for the launcher (enough to show why it stopped).
const SERVER_LOG_LINES: usize = 200;

struct LocalServer {
    spec: LocalServerSpec,
    child: Option<CommandChild>,
    log: Arc<Mutex<VecDeque<String>>>,
    exit: Arc<Mutex<Option<String>>>,
}

struct AppState {
    store: Mutex<ConnectionStore>,
    /// Why tokens are only kept in memory, when no OS keyring answered.
    vault_note: Option<String>,
    server: Mutex<Option<LocalServer>>,
    /// `make desktop-test`: where the dashboard's probe writes its report.
    test_report: Option<PathBuf>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Serialize)]
struct LocalServerInfo {
    url: String,
    schema: String,
    data_dir: String,
    running: bool,
    exit: Option<String>,
    log: Vec<String>,
}

#[derive(Serialize)]
struct Overview {
    connections: Vec<Connection>,
    vault: &'static str,
    vault_note: Option<String>,
    local_server: Option<LocalServerInfo>,
    webview_origins: &'static str,
}

fn server_info(s: &LocalServer) -> LocalServerInfo {
    let exit = lock(&s.exit).clone();
    LocalServerInfo {
        url: s.spec.url(),
        schema: s.spec.schema.display().to_string(),
        data_dir: s.spec.data_dir.display().to_string(),
        running: exit.is_none(),
        exit,
        log: lock(&s.log).iter().cloned().collect(),
    }
}

/// The launcher's commands touch files, the keyring and processes: a dashboard window (which shows data
/// from a server) may not call them, even though every window can reach the app's commands.
fn launcher_only(window: &tauri::Window) -> Result<(), String> {
    if window.label() == "launcher" {
        Ok(())
    } else {
        Err(format!("window '{}' may not use the launcher's commands", window.label()))
    }
}

#[tauri::command]
fn overview(window: tauri::Window, state: State<'_, AppState>) -> Result<Overview, String> {
    launcher_only(&window)?;
    let store = lock(&state.store);
    Ok(Overview {
        connections: store.list().to_vec(),
        vault: store.vault_kind(),
        vault_note: state.vault_note.clone(),
        local_server: lock(&state.server).as_ref().map(server_info),
        webview_origins: local_server::WEBVIEW_ORIGINS,
    })
}

#[tauri::command]
fn save_connection(window: tauri::Window, state: State<'_, AppState>, draft: ConnectionDraft) -> Result<Connection, String> {
    launcher_only(&window)?;
    lock(&state.store).upsert(draft)
}

#[tauri::command]
fn delete_connection(window: tauri::Window, state: State<'_, AppState>, id: String) -> Result<(), String> {
    launcher_only(&window)?;
    lock(&state.store).remove(&id)
}

#[tauri::command]
fn open_connection(window: tauri::Window, app: AppHandle, state: State<'_, AppState>, id: String) -> Result<(), String> {
    launcher_only(&window)?;
    let (connection, token) = {
        let store = lock(&state.store);
        let c = store.get(&id).cloned().ok_or_else(|| format!("no connection with id {id}"))?;
        let token = if c.has_token { store.token(&id)? } else { None };
        (c, token)
    };
    open_window_later(app, connection.name, connection.url, token, state.test_report.is_some());
    Ok(())
}

#[tauri::command]
fn open_local_dashboard(window: tauri::Window, app: AppHandle, state: State<'_, AppState>) -> Result<(), String> {
    launcher_only(&window)?;
    let url = lock(&state.server).as_ref().map(|s| s.spec.url()).ok_or("no local server is running")?;
    open_window_later(app, "local server".into(), url, None, state.test_report.is_some());
    Ok(())
}

/// Builds the window from the async runtime: building one inside a synchronous command (on the main
/// thread) deadlocks on Windows.
fn open_window_later(app: AppHandle, name: String, url: String, token: Option<String>, probe: bool) {
    tauri::async_runtime::spawn(async move {
        if let Err(e) = dashboard_window::open(&app, &name, &url, token.as_deref(), probe) {
            eprintln!("ecsdb-desktop: {e}");
        }
    });
}

#[derive(Serialize)]
struct SchemaFile {
    path: String,
    text: String,
}

#[tauri::command]
async fn open_schema_file(window: tauri::Window, app: AppHandle) -> Result<Option<SchemaFile>, String> {
    launcher_only(&window)?;
    let Some(picked) = app.dialog().file().add_filter("ECSDb schema", &["toml"]).blocking_pick_file() else {
        return Ok(None);
    };
    let path = picked.into_path().map_err(|e| e.to_string())?;
    let text = schema_file::read_schema(&path)?;
    Ok(Some(SchemaFile { path: path.display().to_string(), text }))
}

/// Saves `text` to `path`, or to a file the user picks when `path` is None; returns where it went.
#[tauri::command]
async fn save_schema_file(window: tauri::Window, app: AppHandle, path: Option<String>, text: String) -> Result<Option<String>, String> {
    launcher_only(&window)?;
    let path = match path {
        Some(p) => PathBuf::from(p),
        None => {
            let Some(picked) = app.dialog().file().add_filter("ECSDb schema", &["toml"]).set_file_name("schema.toml").blocking_save_file() else {
                return Ok(None);
            };
            picked.into_path().map_err(|e| e.to_string())?
        }
    };
    schema_file::write_schema(&path, &text)?;
    Ok(Some(path.display().to_string()))
}

/// Validates with the bundled `ecsdb validate --json`, on a temporary copy of the text.
#[tauri::command]
async fn validate_schema(window: tauri::Window, app: AppHandle, text: String) -> Result<SchemaCheck, String> {
    launcher_only(&window)?;
    let dir = std::env::temp_dir().join(format!("ecsdb-desktop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join(format!("check-{}.toml", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)));
    std::fs::write(&file, &text).map_err(|e| format!("{}: {e}", file.display()))?;
    let output = app
        .shell()
        .sidecar("ecsdb")
        .map_err(|e| format!("the bundled ecsdb: {e}"))?
        .args(["validate", "--json", &file.display().to_string()])
        .output()
        .await;
    let _ = std::fs::remove_file(&file);
    let output = output.map_err(|e| format!("running ecsdb validate: {e}"))?;
    schema_file::parse_validate_output(&String::from_utf8_lossy(&output.stdout))
}

#[tauri::command]
async fn pick_data_dir(window: tauri::Window, app: AppHandle) -> Result<Option<String>, String> {
    launcher_only(&window)?;
    match app.dialog().file().blocking_pick_folder() {
        Some(p) => Ok(Some(p.into_path().map_err(|e| e.to_string())?.display().to_string())),
        None => Ok(None),
    }
}

#[tauri::command]
async fn pick_schema_path(window: tauri::Window, app: AppHandle) -> Result<Option<String>, String> {
    launcher_only(&window)?;
    match app.dialog().file().add_filter("ECSDb schema", &["toml"]).blocking_pick_file() {
        Some(p) => Ok(Some(p.into_path().map_err(|e| e.to_string())?.display().to_string())),
        None => Ok(None),
    }
}

#[tauri::command]
async fn start_local_server(window: tauri::Window, app: AppHandle, state: State<'_, AppState>, schema: String, data_dir: String) -> Result<LocalServerInfo, String> {
    launcher_only(&window)?;
    if lock(&state.server).as_ref().is_some_and(|s| lock(&s.exit).is_none()) {
        return Err("a local server is already running: stop it first".into());
    }
    let spec = LocalServerSpec { schema: schema.into(), data_dir: data_dir.into(), port: local_server::free_port().map_err(|e| e.to_string())? };
    let (mut events, child) = app
        .shell()
        .sidecar("ecsdb")
        .map_err(|e| format!("the bundled ecsdb: {e}"))?
        .args(spec.serve_args())
        .spawn()
        .map_err(|e| format!("starting ecsdb serve: {e}"))?;
    let log = Arc::new(Mutex::new(VecDeque::new()));
    let exit = Arc::new(Mutex::new(None));
    {
        let (log, exit) = (log.clone(), exit.clone());
        tauri::async_runtime::spawn(async move {
            while let Some(event) = events.recv().await {
                let line = match event {
                    CommandEvent::Stdout(b) | CommandEvent::Stderr(b) => String::from_utf8_lossy(&b).trim_end().to_owned(),
                    CommandEvent::Error(e) => format!("error: {e}"),
                    CommandEvent::Terminated(t) => {
                        *lock(&exit) = Some(match (t.code, t.signal) {
                            (Some(code), _) => format!("exited with code {code}"),
                            (None, Some(sig)) => format!("stopped by signal {sig}"),
                            _ => "exited".into(),
                        });
                        continue;
                    }
                    _ => continue,
                };
                let mut log = lock(&log);
                if log.len() == SERVER_LOG_LINES {
                    log.pop_front();
                }
                log.push_back(line);
            }
        });
    }
    let port = spec.port;
    *lock(&state.server) = Some(LocalServer { spec, child: Some(child), log: log.clone(), exit: exit.clone() });
    let waited = tauri::async_runtime::spawn_blocking(move || local_server::wait_until_up(port, Duration::from_secs(20), || lock(&exit).clone()))
        .await
        .map_err(|e| e.to_string())?;
    let guard = lock(&state.server);
    let info = server_info(guard.as_ref().expect("set above"));
    match waited {
        Ok(()) => Ok(info),
        Err(why) => Err(format!("{why}\n{}", info.log.join("\n"))),
    }
}

/// Stops the local server: SIGTERM first, so it finishes its WAL and closes cleanly, then a kill after 5 s.
fn stop_server(state: &AppState) {
    let Some(mut server) = lock(&state.server).take() else { return };
    let Some(child) = server.child.take() else { return };
    #[cfg(unix)]
    {
        // SAFETY: kill(2) on the pid of a child this process spawned and has not reaped yet.
        unsafe { libc::kill(child.pid() as libc::pid_t, libc::SIGTERM) };
        for _ in 0..50 {
            if lock(&server.exit).is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let _ = child.kill();
}

#[tauri::command]
async fn stop_local_server(window: tauri::Window, state: State<'_, AppState>) -> Result<(), String> {
    launcher_only(&window)?;
    stop_server(&state);
    Ok(())
}

#[tauri::command]
fn desktop_test_report(state: State<'_, AppState>, report: serde_json::Value) -> Result<(), String> {
    let Some(path) = &state.test_report else { return Err("not under test".into()) };
    std::fs::write(path, serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("ecsdb-desktop: test report written to {}", path.display());
    Ok(())
}

/// `--connect URL` on the command line opens a dashboard on URL at start (token: `$ECSDB_TOKEN`).
fn initial_connection() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == "--connect").and_then(|i| args.get(i + 1)).cloned()
}

pub fn run() {
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_shell::init())
        .setup(|app| {
            let path = app.path().app_config_dir()?.join("connections.json");
            let (vault, vault_note) = token_vault::best_available();
            if let Some(why) = &vault_note {
                eprintln!("ecsdb-desktop: no OS keyring ({why}); tokens are kept in memory for this session only");
            }
            let store = ConnectionStore::open(&path, vault)?;
            let test_report = std::env::var_os("ECSDB_DESKTOP_TEST_REPORT").map(PathBuf::from);
            let probe = test_report.is_some();
            app.manage(AppState { store: Mutex::new(store), vault_note, server: Mutex::new(None), test_report });
            if let Some(url) = initial_connection() {
                let url = connection_store::normalize_url(&url)?;
                let token = std::env::var("ECSDB_TOKEN").ok();
                dashboard_window::open(app.handle(), &url, &url, token.as_deref(), probe)?;
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            overview,
            save_connection,
            delete_connection,
            open_connection,
            open_local_dashboard,
            open_schema_file,
            save_schema_file,
            validate_schema,
            pick_data_dir,
            pick_schema_path,
            start_local_server,
            stop_local_server,
            desktop_test_report,
        ])
        .build(tauri::generate_context!())
        .expect("the Tauri app could not be built");
    app.run(|handle, event| {
        // The local server must not outlive the app.
        if let RunEvent::Exit = event {
            if let Some(state) = handle.try_state::<AppState>() {
                stop_server(&state);
            }
        }
    });
}
