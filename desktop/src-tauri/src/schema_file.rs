//! Schema files opened and saved from disk, checked by the bundled `ecsdb validate --json` (the same
//! checker the server runs, so no server is needed to validate).
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A schema file larger than this is not a schema: refuse it rather than load it into a text box.
pub const MAX_SCHEMA_BYTES: u64 = 4 << 20;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    pub line: u32,
    pub column: u32,
    #[serde(default)]
    pub table: String,
    #[serde(default)]
    pub field: String,
    pub message: String,
    #[serde(default)]
    pub hint: String,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct SchemaCheck {
    pub ok: bool,
    /// "game_db 1.0.0, 3 tables, layout 0x…" when valid.
    pub summary: String,
    pub problems: Vec<SchemaProblem>,
}

#[derive(Deserialize)]
struct ValidateOutput {
    #[serde(default)]
    errors: Vec<SchemaProblem>,
    database: Option<String>,
    version: Option<String>,
    layout_hash: Option<String>,
    #[serde(default)]
    tables: Vec<serde_json::Value>,
}

/// Reads `ecsdb validate --json`'s answer: the layout when the schema is valid, else `errors`.
pub fn parse_validate_output(stdout: &str) -> Result<SchemaCheck, String> {
    let out: ValidateOutput =
        serde_json::from_str(stdout).map_err(|e| format!("`ecsdb validate --json` printed no JSON ({e}): {}", stdout.chars().take(200).collect::<String>()))?;
    if !out.errors.is_empty() {
        return Ok(SchemaCheck { ok: false, summary: format!("{} error(s)", out.errors.len()), problems: out.errors });
    }
    let summary = format!(
        "{} {}, {} table(s), layout {}",
        out.database.unwrap_or_default(),
        out.version.unwrap_or_default(),
        out.tables.len(),
        out.layout_hash.unwrap_or_default()
    );
    Ok(SchemaCheck { ok: true, summary, problems: Vec::new() })
}

/// A schema file's text: UTF-8 and at most `MAX_SCHEMA_BYTES`.
pub fn read_schema(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
    if size > MAX_SCHEMA_BYTES {
        return Err(format!("{}: {size} bytes, more than a schema file's {MAX_SCHEMA_BYTES}", path.display()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| format!("{}: not UTF-8 text (byte {})", path.display(), e.utf8_error().valid_up_to()))
}

/// Replaces `path` with `text` through a temporary file and a rename, so a failed save leaves the old file.
pub fn write_schema(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("toml.saving");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_listed_with_their_line() {
        let out = r#"{"errors": [{"file": "/tmp/x.toml", "line": 5, "column": 1, "table": "a", "field": "", "message": "unknown key 'foo' in a table", "hint": ""}]}"#;
        let check = parse_validate_output(out).unwrap();
        assert!(!check.ok);
        assert_eq!(check.problems.len(), 1);
        assert_eq!((check.problems[0].line, check.problems[0].column), (5, 1));
        assert_eq!(check.problems[0].table, "a");
    }

    #[test]
    fn a_valid_schema_is_summarised() {
        let out = r#"{"database": "game_db", "version": "1.0.0", "layout_hash": "0xc9", "tables": [{}, {}, {}]}"#;
        let check = parse_validate_output(out).unwrap();
        assert_eq!(check, SchemaCheck { ok: true, summary: "game_db 1.0.0, 3 table(s), layout 0xc9".into(), problems: vec![] });
    }

    #[test]
    fn the_real_validator_answers_in_the_shape_parsed_here() {
        let Some(bin) = crate::local_server::tests::ecsdb_bin() else {
            eprintln!("skipped: no ecsdb binary (set ECSDB_BIN or build build/ecsdb)");
            return;
        };
        let run = |path: &Path| {
            let out = std::process::Command::new(&bin).args(["validate", "--json"]).arg(path).output().unwrap();
            parse_validate_output(&String::from_utf8_lossy(&out.stdout)).unwrap()
        };
        let good = run(&crate::local_server::tests::game_schema());
        assert!(good.ok && good.summary.starts_with("game_db 1.0.0, 3 table(s)"), "{good:?}");
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[database]\nname = \"x\"\nversion = \"1.0.0\"\n[tables.a]\nfoo = 3\n").unwrap();
        let check = run(&bad);
        assert!(!check.ok);
        assert_eq!((check.problems[0].line, check.problems[0].table.as_str()), (5, "a"), "{check:?}");
    }

    #[test]
    fn output_that_is_not_json_is_an_error() {
        assert!(parse_validate_output("Segmentation fault").unwrap_err().contains("no JSON"));
    }

    #[test]
    fn files_round_trip_and_oversized_or_binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        write_schema(&path, "[database]\nname = \"x\"\n").unwrap();
        write_schema(&path, "[database]\nname = \"y\"\n").unwrap();
        assert_eq!(read_schema(&path).unwrap(), "[database]\nname = \"y\"\n");
        assert!(!dir.path().join("s.toml.saving").exists());
        std::fs::write(&path, [0x66, 0xff, 0x00]).unwrap();
        assert!(read_schema(&path).unwrap_err().contains("UTF-8"));
        std::fs::write(&path, vec![b'#'; (MAX_SCHEMA_BYTES + 1) as usize]).unwrap();
        assert!(read_schema(&path).unwrap_err().contains("bytes"));
        assert!(read_schema(&dir.path().join("missing.toml")).is_err());
    }
}
