//! A local `ecsdb serve` started by the app as a sidecar (the `ecsdb` binary bundled beside the app) on a
//! data directory the user picks, bound to 127.0.0.1 on a free port, with the dashboard windows' origin
//! allowed (the webview's pages are not served by that server, so their API calls and stream are
//! cross-origin). The app starts at most one; it is stopped with the app.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Origins of the app's own pages: `tauri://localhost` on Linux and macOS, `http(s)://tauri.localhost`
/// on Windows. A remote server needs the one of its users' platform in its `cors_origins`.
pub const WEBVIEW_ORIGINS: &str = "tauri://localhost,http://tauri.localhost,https://tauri.localhost";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalServerSpec {
    pub schema: PathBuf,
    pub data_dir: PathBuf,
    pub port: u16,
}

impl LocalServerSpec {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The sidecar's arguments. Loopback only, so the server needs no tokens; no dashboard of its own,
    /// the app brings one.
    pub fn serve_args(&self) -> Vec<String> {
        vec![
            "serve".into(),
            "--schema".into(),
            self.schema.display().to_string(),
            "--data".into(),
            self.data_dir.display().to_string(),
            "--http".into(),
            format!("127.0.0.1:{}", self.port),
            "--dashboard".into(),
            "none".into(),
            "--cors-origins".into(),
            WEBVIEW_ORIGINS.into(),
        ]
    }
}

/// A port nothing listens on now. Another process could take it before the server binds it; the server
/// then fails to start and says so, which the launcher shows.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// True when something at 127.0.0.1:`port` answers `GET /api/health` with an HTTP status line.
pub fn answers_health(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /api/health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// Polls until the server answers, `gave_up()` says it exited, or `timeout` passes.
pub fn wait_until_up(port: u16, timeout: Duration, gave_up: impl Fn() -> Option<String>) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if answers_health(port) {
            return Ok(());
        }
        if let Some(why) = gave_up() {
            return Err(why);
        }
        if Instant::now() >= deadline {
            return Err(format!("the server did not answer on 127.0.0.1:{port} within {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn serve_args_bind_loopback_and_allow_the_webview_origin() {
        let spec = LocalServerSpec { schema: "/s/game.toml".into(), data_dir: "/d/world".into(), port: 4242 };
        assert_eq!(spec.url(), "http://127.0.0.1:4242");
        let args = spec.serve_args().join(" ");
        assert_eq!(
            args,
            "serve --schema /s/game.toml --data /d/world --http 127.0.0.1:4242 --dashboard none \
             --cors-origins tauri://localhost,http://tauri.localhost,https://tauri.localhost"
        );
    }

    #[test]
    fn a_free_port_does_not_answer_and_waiting_reports_why() {
        let port = free_port().unwrap();
        assert!(port > 0);
        assert!(!answers_health(port));
        let err = wait_until_up(port, Duration::from_secs(5), || Some("exited with code 2".into())).unwrap_err();
        assert_eq!(err, "exited with code 2");
    }

    /// The real `ecsdb` (`$ECSDB_BIN`, else the repository's build/ecsdb), when it has been built.
    pub(crate) fn ecsdb_bin() -> Option<PathBuf> {
        let bin = std::env::var_os("ECSDB_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../build/ecsdb"));
        bin.is_file().then_some(bin)
    }

    pub(crate) fn game_schema() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/schemas/game.toml")
    }

    #[test]
    fn the_real_server_takes_the_sidecar_arguments_and_allows_the_webview_origin() {
        let Some(bin) = ecsdb_bin() else {
            eprintln!("skipped: no ecsdb binary (set ECSDB_BIN or build build/ecsdb)");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let spec = LocalServerSpec { schema: game_schema(), data_dir: dir.path().join("data"), port: free_port().unwrap() };
        let child = std::sync::Mutex::new(
            std::process::Command::new(bin).args(spec.serve_args()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap(),
        );
        let up = wait_until_up(spec.port, Duration::from_secs(20), || {
            child.lock().unwrap().try_wait().unwrap().map(|status| format!("ecsdb serve exited: {status}"))
        });
        // The dashboard windows' API calls are cross-origin: the server must answer the preflight for
        // the webview's origin with the Authorization header allowed.
        let answer = up.as_ref().ok().map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", spec.port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            write!(
                s,
                "OPTIONS /api/info HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nOrigin: tauri://localhost\r\n\
                 Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\n\r\n",
                spec.port
            )
            .unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text.to_ascii_lowercase()
        });
        let _ = child.lock().unwrap().kill();
        up.unwrap();
        let answer = answer.unwrap();
        assert!(answer.starts_with("http/1.1 204") || answer.starts_with("http/1.0 204"), "{answer}");
        assert!(answer.contains("access-control-allow-origin: tauri://localhost"), "{answer}");
        assert!(spec.data_dir.is_dir(), "the server did not create its data directory");
    }

    #[test]
    fn an_http_listener_counts_as_up() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        });
        wait_until_up(port, Duration::from_secs(5), || None).unwrap();
        server.join().unwrap();
    }
}
