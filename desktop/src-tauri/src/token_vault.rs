//! Where connection tokens live: never in the connections file, always behind a `TokenVault`.
//!
//! `KeyringVault` keeps them in the OS keyring (Secret Service on Linux, Keychain on macOS, Credential
//! Manager on Windows), one entry per connection id under the service `ecsdb-desktop`. When no keyring
//! answers (a headless session without a Secret Service daemon), the app falls back to `MemoryVault`: the
//! token lasts until the app exits and the launcher says so, rather than writing it anywhere in clear.
//!
//! Thread-safety: every vault is `Send + Sync`; calls may block on D-Bus, so the app calls them from its
//! synchronous commands (the main thread), outside any async runtime context.
use std::collections::HashMap;
use std::sync::Mutex;

/// The keyring service name every token entry is filed under.
pub const KEYRING_SERVICE: &str = "ecsdb-desktop";

pub trait TokenVault: Send + Sync {
    /// Stores `token` for `id`, replacing any earlier one.
    fn set(&self, id: &str, token: &str) -> Result<(), String>;
    /// The token for `id`, or `None` when there is none.
    fn get(&self, id: &str) -> Result<Option<String>, String>;
    /// Forgets the token for `id`; no error when there was none.
    fn delete(&self, id: &str) -> Result<(), String>;
    /// "keyring" or "memory": shown in the launcher so the user knows whether tokens survive a restart.
    fn kind(&self) -> &'static str;
}

/// Tokens held in this process only. Used by the tests and when no OS keyring is reachable.
#[derive(Default)]
pub struct MemoryVault {
    tokens: Mutex<HashMap<String, String>>,
}

impl TokenVault for MemoryVault {
    fn set(&self, id: &str, token: &str) -> Result<(), String> {
        self.tokens.lock().map_err(|e| e.to_string())?.insert(id.to_owned(), token.to_owned());
        Ok(())
    }
    fn get(&self, id: &str) -> Result<Option<String>, String> {
        Ok(self.tokens.lock().map_err(|e| e.to_string())?.get(id).cloned())
    }
    fn delete(&self, id: &str) -> Result<(), String> {
        self.tokens.lock().map_err(|e| e.to_string())?.remove(id);
        Ok(())
    }
    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// Tokens in the OS keyring through the `keyring` crate.
pub struct KeyringVault;

impl KeyringVault {
    /// A vault if the OS keyring answers a lookup (a missing entry counts as an answer), else why not.
    pub fn probe() -> Result<KeyringVault, String> {
        let entry = keyring::Entry::new(KEYRING_SERVICE, "probe").map_err(|e| e.to_string())?;
        match entry.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(KeyringVault),
            Err(e) => Err(e.to_string()),
        }
    }

    fn entry(id: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new(KEYRING_SERVICE, id).map_err(|e| format!("keyring entry for connection {id}: {e}"))
    }
}

impl TokenVault for KeyringVault {
    fn set(&self, id: &str, token: &str) -> Result<(), String> {
        Self::entry(id)?.set_password(token).map_err(|e| format!("keyring: storing the token of connection {id}: {e}"))
    }
    fn get(&self, id: &str) -> Result<Option<String>, String> {
        match Self::entry(id)?.get_password() {
            Ok(token) => Ok(Some(token)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(format!("keyring: reading the token of connection {id}: {e}")),
        }
    }
    fn delete(&self, id: &str) -> Result<(), String> {
        match Self::entry(id)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(format!("keyring: deleting the token of connection {id}: {e}")),
        }
    }
    fn kind(&self) -> &'static str {
        "keyring"
    }
}

/// The OS keyring when it answers, else a memory vault, with the reason for the fallback.
pub fn best_available() -> (Box<dyn TokenVault>, Option<String>) {
    match KeyringVault::probe() {
        Ok(vault) => (Box::new(vault), None),
        Err(why) => (Box::new(MemoryVault::default()), Some(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_vault_sets_replaces_and_deletes() {
        let vault = MemoryVault::default();
        assert_eq!(vault.get("a").unwrap(), None);
        vault.set("a", "one").unwrap();
        vault.set("a", "two").unwrap();
        assert_eq!(vault.get("a").unwrap().as_deref(), Some("two"));
        vault.delete("a").unwrap();
        vault.delete("a").unwrap(); // forgetting twice is not an error
        assert_eq!(vault.get("a").unwrap(), None);
    }
}
