//! The saved connections: a name and a server URL each, in `connections.json` under the app's config
//! directory. Tokens are not in that file: they go to a `TokenVault` (the OS keyring) keyed by the
//! connection's id, and the file only records whether one was saved (`has_token`).
//!
//! File format (version 1):
//! `{"format": 1, "connections": [{"id": "c17f…", "name": "local", "url": "http://127.0.0.1:8080", "has_token": false}]}`
//! Written whole to a temporary file and renamed over the old one, so a crash leaves the old or the new list.
//!
//! Not thread-safe by itself: the app holds it behind a mutex.
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::token_vault::TokenVault;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub name: String,
    /// `http(s)://host[:port][/prefix]`, without a trailing slash, credentials, query or fragment.
    pub url: String,
    #[serde(default)]
    pub has_token: bool,
}

#[derive(Serialize, Deserialize)]
struct ConnectionsFile {
    format: u32,
    connections: Vec<Connection>,
}

/// What the launcher sends to add (`id` = None) or edit a connection.
#[derive(Deserialize, Debug, Clone)]
pub struct ConnectionDraft {
    pub id: Option<String>,
    pub name: String,
    pub url: String,
    /// `None` keeps the saved token as it is; `Some("")` removes it; anything else replaces it.
    pub token: Option<String>,
}

/// Checks a server URL and writes it the one way the store keeps it.
pub fn normalize_url(input: &str) -> Result<String, String> {
    let url = input.trim();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("'{url}': the server URL must start with http:// or https://"))?;
    if url.contains(['?', '#']) {
        return Err(format!("'{url}': no query or fragment in a server URL"));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(format!("'{url}': no spaces in a server URL"));
    }
    let authority = rest.split('/').next().unwrap_or("");
    // A token typed as user:password@host would be saved in clear with the URL: refuse it.
    if authority.contains('@') {
        return Err(format!("'{url}': no user or password in the URL; put the token in the token field"));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(format!("'{url}': the URL names no host"));
    }
    if let Some((_, port)) = authority.rsplit_once(':').filter(|_| !authority.ends_with(']')) {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("'{url}': the port must be a number from 1 to 65535"));
        }
    }
    Ok(url.trim_end_matches('/').to_owned())
}

pub struct ConnectionStore {
    path: PathBuf,
    vault: Box<dyn TokenVault>,
    connections: Vec<Connection>,
}

impl ConnectionStore {
    /// Reads `path` (a missing file is an empty list); tokens are read from `vault` when asked for.
    pub fn open(path: &Path, vault: Box<dyn TokenVault>) -> Result<ConnectionStore, String> {
        let connections = match std::fs::read_to_string(path) {
            Ok(text) => parse_file(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(ConnectionStore { path: path.to_owned(), vault, connections })
    }

    pub fn list(&self) -> &[Connection] {
        &self.connections
    }

    pub fn get(&self, id: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.id == id)
    }

    pub fn vault_kind(&self) -> &'static str {
        self.vault.kind()
    }

    /// The saved token of connection `id`, if any.
    pub fn token(&self, id: &str) -> Result<Option<String>, String> {
        self.vault.get(id)
    }

    /// Adds or edits a connection, then saves the file; the token goes to the vault only.
    pub fn upsert(&mut self, draft: ConnectionDraft) -> Result<Connection, String> {
        let name = draft.name.trim().to_owned();
        if name.is_empty() {
            return Err("a connection needs a name".into());
        }
        let url = normalize_url(&draft.url)?;
        let index = match &draft.id {
            Some(id) => Some(self.connections.iter().position(|c| &c.id == id).ok_or_else(|| format!("no connection with id {id}"))?),
            None => None,
        };
        let id = draft.id.clone().unwrap_or_else(|| self.new_id());
        let mut has_token = index.map(|i| self.connections[i].has_token).unwrap_or(false);
        match draft.token.as_deref() {
            None => {}
            Some("") => {
                self.vault.delete(&id)?;
                has_token = false;
            }
            Some(token) => {
                self.vault.set(&id, token)?;
                has_token = true;
            }
        }
        let connection = Connection { id, name, url, has_token };
        match index {
            Some(i) => self.connections[i] = connection.clone(),
            None => self.connections.push(connection.clone()),
        }
        self.save()?;
        Ok(connection)
    }

    /// Removes a connection and its token.
    pub fn remove(&mut self, id: &str) -> Result<(), String> {
        let before = self.connections.len();
        self.connections.retain(|c| c.id != id);
        if self.connections.len() == before {
            return Err(format!("no connection with id {id}"));
        }
        self.vault.delete(id)?;
        self.save()
    }

    fn new_id(&self) -> String {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let mut n = nanos;
        // Two adds within one clock tick would collide: step until the id is free.
        while self.get(&format!("c{n:x}")).is_some() {
            n += 1;
        }
        format!("c{n:x}")
    }

    fn save(&self) -> Result<(), String> {
        let text = serde_json::to_string_pretty(&ConnectionsFile { format: FORMAT_VERSION, connections: self.connections.clone() })
            .map_err(|e| e.to_string())?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        write_private(&tmp, text.as_bytes()).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

fn parse_file(text: &str) -> Result<Vec<Connection>, String> {
    let file: ConnectionsFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if file.format != FORMAT_VERSION {
        return Err(format!("format {} is not one this app reads (it reads {FORMAT_VERSION})", file.format));
    }
    Ok(file.connections)
}

/// Writes a file only its owner can read: server URLs say where a user's databases are.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_vault::MemoryVault;
    use std::sync::Arc;

    /// A vault the test can still look into after handing it to the store.
    #[derive(Clone, Default)]
    struct SharedVault(Arc<MemoryVault>);
    impl TokenVault for SharedVault {
        fn set(&self, id: &str, token: &str) -> Result<(), String> {
            self.0.set(id, token)
        }
        fn get(&self, id: &str) -> Result<Option<String>, String> {
            self.0.get(id)
        }
        fn delete(&self, id: &str) -> Result<(), String> {
            self.0.delete(id)
        }
        fn kind(&self) -> &'static str {
            "memory"
        }
    }

    fn draft(id: Option<&str>, name: &str, url: &str, token: Option<&str>) -> ConnectionDraft {
        ConnectionDraft { id: id.map(str::to_owned), name: name.into(), url: url.into(), token: token.map(str::to_owned) }
    }

    const TOKEN: &str = "s3cret-token-7f1c9a";

    #[test]
    fn connections_survive_a_reopen_and_the_file_holds_no_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connections.json");
        let vault = SharedVault::default();
        let mut store = ConnectionStore::open(&path, Box::new(vault.clone())).unwrap();
        assert!(store.list().is_empty());
        let a = store.upsert(draft(None, "prod", "https://db.example.com:8443/", Some(TOKEN))).unwrap();
        let b = store.upsert(draft(None, "local", "http://127.0.0.1:8080", None)).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.url, "https://db.example.com:8443");
        assert!(a.has_token && !b.has_token);

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(TOKEN), "the token leaked into the file: {text}");
        assert!(!text.contains("s3cret"), "part of the token leaked into the file: {text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }

        let reopened = ConnectionStore::open(&path, Box::new(vault.clone())).unwrap();
        assert_eq!(reopened.list(), &[a.clone(), b.clone()]);
        assert_eq!(reopened.token(&a.id).unwrap().as_deref(), Some(TOKEN));
        assert_eq!(reopened.token(&b.id).unwrap(), None);
    }

    #[test]
    fn the_file_format_is_the_documented_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connections.json");
        let text = r#"{"format": 1, "connections": [{"id": "c1", "name": "local", "url": "http://127.0.0.1:8080", "has_token": true}]}"#;
        std::fs::write(&path, text).unwrap();
        let store = ConnectionStore::open(&path, Box::new(MemoryVault::default())).unwrap();
        assert_eq!(store.list(), &[Connection { id: "c1".into(), name: "local".into(), url: "http://127.0.0.1:8080".into(), has_token: true }]);
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let written = serde_json::to_value(ConnectionsFile { format: 1, connections: store.list().to_vec() }).unwrap();
        assert_eq!(value, written);
    }

    #[test]
    fn editing_keeps_replaces_or_clears_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connections.json");
        let vault = SharedVault::default();
        let mut store = ConnectionStore::open(&path, Box::new(vault.clone())).unwrap();
        let c = store.upsert(draft(None, "a", "http://h:1", Some("one"))).unwrap();
        let kept = store.upsert(draft(Some(&c.id), "renamed", "http://h:2", None)).unwrap();
        assert!(kept.has_token);
        assert_eq!(vault.get(&c.id).unwrap().as_deref(), Some("one"));
        store.upsert(draft(Some(&c.id), "renamed", "http://h:2", Some("two"))).unwrap();
        assert_eq!(vault.get(&c.id).unwrap().as_deref(), Some("two"));
        let cleared = store.upsert(draft(Some(&c.id), "renamed", "http://h:2", Some(""))).unwrap();
        assert!(!cleared.has_token);
        assert_eq!(vault.get(&c.id).unwrap(), None);
        assert_eq!(store.list().len(), 1);
        assert_eq!(store.list()[0].name, "renamed");
    }

    #[test]
    fn removing_a_connection_forgets_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connections.json");
        let vault = SharedVault::default();
        let mut store = ConnectionStore::open(&path, Box::new(vault.clone())).unwrap();
        let c = store.upsert(draft(None, "a", "http://h:1", Some(TOKEN))).unwrap();
        store.remove(&c.id).unwrap();
        assert_eq!(vault.get(&c.id).unwrap(), None);
        assert!(store.remove(&c.id).is_err());
        assert!(ConnectionStore::open(&path, Box::new(vault)).unwrap().list().is_empty());
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connections.json");
        let mut store = ConnectionStore::open(&path, Box::new(MemoryVault::default())).unwrap();
        assert!(store.upsert(draft(None, " ", "http://h:1", None)).unwrap_err().contains("name"));
        assert!(store.upsert(draft(Some("nope"), "a", "http://h:1", None)).unwrap_err().contains("nope"));
        for (url, why) in [
            ("ftp://h", "http"),
            ("h:8080", "http"),
            ("http://user:pw@h:8080", "password"),
            ("http://h:8080/?token=x", "query"),
            ("http://", "host"),
            ("http://h:99999", "port"),
            ("http://h:0", "port"),
            ("http://h x", "spaces"),
        ] {
            let err = normalize_url(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
        assert_eq!(normalize_url(" http://[::1]:8080/ ").unwrap(), "http://[::1]:8080");
        assert_eq!(normalize_url("https://h/ecsdb/").unwrap(), "https://h/ecsdb");
        assert!(!path.exists(), "refused input must not write the file");
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connections.json");
        std::fs::write(&path, "{\"format\": 1, \"connections\": [").unwrap();
        let err = ConnectionStore::open(&path, Box::new(MemoryVault::default())).err().unwrap();
        assert!(err.contains("connections.json") && err.contains("line 1"), "{err}");
        std::fs::write(&path, r#"{"format": 2, "connections": []}"#).unwrap();
        let err = ConnectionStore::open(&path, Box::new(MemoryVault::default())).err().unwrap();
        assert!(err.contains("format 2"), "{err}");
    }
}
