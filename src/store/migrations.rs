//! Schema migrations: the `cql/NNN_name.cql` files, applied in order of NNN, each recorded in
//! `schema_migrations` with its SHA-256. An applied file that changed stops everything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use cdrs_tokio::query_values;
use cdrs_tokio::types::IntoRustByName;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::files::{read_bounded, FileError, CQL_FILE_LIMIT};

use super::{ddl, query, query_with_values, rows, CassandraSession};

/// The bookkeeping table, created by the migrator itself before any file runs.
const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version int PRIMARY KEY, name text, checksum text, applied_at timestamp)";

/// One migration file, read and checked.
///
/// The files use unqualified table names: they run on a session bound to the target
/// keyspace, so one set of files serves every keyspace (tests use a fresh one each).
/// Statements should be idempotent (`IF NOT EXISTS`): a file that failed half-way is re-run
/// from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    pub version: i32,
    /// The file name, e.g. `001_initial.cql`.
    pub name: String,
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub checksum: String,
    pub statements: Vec<String>,
}

/// One row of `schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i32,
    pub name: String,
    pub checksum: String,
    pub applied_at: Option<DateTime<Utc>>,
}

/// Why the migration files cannot be used as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    #[error("the migrations folder {0} does not exist (set --cql-dir or METEO_CQL_DIR)")]
    MissingDir(PathBuf),
    #[error("the migrations folder {0} holds no NNN_name.cql file")]
    EmptyDir(PathBuf),
    #[error("{0}: not a migration file name; expected NNN_name.cql (digits, _, then letters, digits, _ or -)")]
    BadName(PathBuf),
    #[error("{first} and {second} have the same number {version}")]
    Duplicate {
        version: i32,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{0}: holds no CQL statement")]
    NoStatement(PathBuf),
    #[error("{0}: cannot be read: {1}")]
    Unreadable(PathBuf, String),
    /// Not a regular file, or over its size limit: the reason names the file.
    #[error("{0}")]
    Refused(String),
    #[error("{file} changed after it was applied (recorded checksum {recorded}, now {current}); restore it and put the change in a new file")]
    Changed {
        file: String,
        recorded: String,
        current: String,
    },
}

/// Splits a file name `NNN_name.cql` into its number and name.
pub fn parse_file_name(file_name: &str) -> Option<i32> {
    let stem = file_name.strip_suffix(".cql")?;
    let (number, name) = stem.split_once('_')?;
    let number_ok = !number.is_empty() && number.chars().all(|c| c.is_ascii_digit());
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !number_ok || !name_ok {
        return None;
    }
    number.parse().ok()
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn checksum(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Splits CQL text into statements at `;`, leaving out comments (`--`, `//`, `/* */`) and
/// respecting string literals (`'...'`, with `''` inside) and `$$...$$` blocks.
pub fn split_statements(text: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let finish = |current: &mut String, statements: &mut Vec<String>| {
        let statement = current.trim();
        if !statement.is_empty() {
            statements.push(statement.to_string());
        }
        current.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('-', Some('-')) | ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
                current.push(' ');
            }
            ('\'', _) => {
                current.push(c);
                i += 1;
                while i < chars.len() {
                    current.push(chars[i]);
                    if chars[i] == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            current.push('\'');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            ('$', Some('$')) => {
                current.push_str("$$");
                i += 2;
                while i < chars.len() && !(chars[i] == '$' && chars.get(i + 1) == Some(&'$')) {
                    current.push(chars[i]);
                    i += 1;
                }
                current.push_str("$$");
                i += 2;
            }
            (';', _) => {
                finish(&mut current, &mut statements);
                i += 1;
            }
            _ => {
                current.push(c);
                i += 1;
            }
        }
    }
    finish(&mut current, &mut statements);
    statements
}

/// Reads every `*.cql` file of `dir`, checked and sorted by number. Other files are ignored.
pub fn load_dir(dir: &Path) -> Result<Vec<MigrationFile>, MigrationError> {
    if !dir.is_dir() {
        return Err(MigrationError::MissingDir(dir.to_path_buf()));
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| MigrationError::Unreadable(dir.to_path_buf(), e.to_string()))?;
    let mut files: Vec<MigrationFile> = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| MigrationError::Unreadable(dir.to_path_buf(), e.to_string()))?;
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !file_name.ends_with(".cql") {
            continue;
        }
        let version =
            parse_file_name(&file_name).ok_or_else(|| MigrationError::BadName(path.clone()))?;
        let bytes = read_bounded(&path, CQL_FILE_LIMIT, "CQL file").map_err(|e| match e {
            FileError::Io { error: source, .. } => {
                MigrationError::Unreadable(path.clone(), source.to_string())
            }
            refused => MigrationError::Refused(refused.to_string()),
        })?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| MigrationError::Unreadable(path.clone(), "not UTF-8 text".into()))?;
        let statements = split_statements(&text);
        if statements.is_empty() {
            return Err(MigrationError::NoStatement(path));
        }
        files.push(MigrationFile {
            version,
            name: file_name,
            path,
            checksum: checksum(&bytes),
            statements,
        });
    }
    if files.is_empty() {
        return Err(MigrationError::EmptyDir(dir.to_path_buf()));
    }
    files.sort_by(|a, b| (a.version, &a.name).cmp(&(b.version, &b.name)));
    for pair in files.windows(2) {
        if pair[0].version == pair[1].version {
            return Err(MigrationError::Duplicate {
                version: pair[0].version,
                first: pair[0].path.clone(),
                second: pair[1].path.clone(),
            });
        }
    }
    Ok(files)
}

/// The files still to apply, in order; fails when an applied file has changed.
pub fn pending<'a>(
    files: &'a [MigrationFile],
    applied: &[AppliedMigration],
) -> Result<Vec<&'a MigrationFile>, MigrationError> {
    let mut pending = Vec::new();
    for file in files {
        match applied.iter().find(|a| a.version == file.version) {
            Some(done) if done.checksum != file.checksum => {
                return Err(MigrationError::Changed {
                    file: file.path.display().to_string(),
                    recorded: done.checksum.clone(),
                    current: file.checksum.clone(),
                })
            }
            Some(_) => {}
            None => pending.push(file),
        }
    }
    Ok(pending)
}

/// What [`ensure_keyspace`] found or did.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyspaceOutcome {
    Created,
    /// It existed with this replication, as Cassandra reports it.
    Existed {
        replication: BTreeMap<String, String>,
    },
}

/// Creates the keyspace when it does not exist; an existing one is left as it is.
/// `replication` is a CQL map such as `{'class': 'SimpleStrategy', 'replication_factor': 1}`.
pub async fn ensure_keyspace(
    session: &CassandraSession,
    keyspace: &str,
    replication: &str,
) -> anyhow::Result<KeyspaceOutcome> {
    if super::keyspace_exists(session, keyspace).await? {
        let found = rows(
            query_with_values(
                session,
                "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
                query_values!(keyspace),
            )
            .await
            .context("reading the keyspace's replication")?,
        )?;
        let replication: BTreeMap<String, String> = found
            .first()
            .and_then(|row| {
                row.get_by_name("replication")
                    .ok()
                    .flatten()
            })
            .and_then(|map: cdrs_tokio::types::map::Map| {
                cdrs_tokio::types::AsRustType::<std::collections::HashMap<String, String>>::as_r_type(&map).ok()
            })
            .map(|map| map.into_iter().collect())
            .unwrap_or_default();
        return Ok(KeyspaceOutcome::Existed { replication });
    }
    // The keyspace name was validated as a plain identifier, the map as a CQL map.
    ddl(
        session,
        &format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}"),
    )
    .await
    .with_context(|| format!("creating keyspace {keyspace} with replication {replication}"))?;
    Ok(KeyspaceOutcome::Created)
}

/// Whether Cassandra's report of a keyspace's replication says what the CQL map `wanted`
/// asks for. The class may be given short (`SimpleStrategy`) or in full.
pub fn same_replication(found: &BTreeMap<String, String>, wanted: &str) -> bool {
    let wanted = parse_replication_map(wanted);
    let short = |class: &str| class.rsplit('.').next().unwrap_or(class).to_string();
    let normalise = |map: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        map.iter()
            .map(|(k, v)| {
                let v = if k == "class" { short(v) } else { v.clone() };
                (k.clone(), v)
            })
            .collect()
    };
    normalise(found) == normalise(&wanted)
}

/// The entries of a CQL map literal of plain quoted strings and numbers.
fn parse_replication_map(map: &str) -> BTreeMap<String, String> {
    map.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .filter_map(|entry| {
            let (key, value) = entry.split_once(':')?;
            let unquote = |s: &str| s.trim().trim_matches('\'').to_string();
            Some((unquote(key), unquote(value)))
        })
        .filter(|(key, _)| !key.is_empty())
        .collect()
}

/// Reads `schema_migrations` (creating it first when needed), in order of version.
pub async fn applied(session: &CassandraSession) -> anyhow::Result<Vec<AppliedMigration>> {
    ddl(session, CREATE_SCHEMA_MIGRATIONS)
        .await
        .context("creating schema_migrations")?;
    read_applied(session).await
}

/// Reads `schema_migrations` without creating it (for `--status`); none when it is missing.
pub async fn read_applied(session: &CassandraSession) -> anyhow::Result<Vec<AppliedMigration>> {
    let found = match query(
        session,
        "SELECT version, name, checksum, applied_at FROM schema_migrations",
    )
    .await
    {
        Ok(envelope) => rows(envelope)?,
        Err(err) if err.to_string().contains("unconfigured table") => return Ok(Vec::new()),
        Err(err) => return Err(err.context("reading schema_migrations")),
    };
    let mut applied = Vec::new();
    for row in found {
        applied.push(AppliedMigration {
            version: row.get_r_by_name("version")?,
            name: row.get_by_name("name")?.unwrap_or_default(),
            checksum: row.get_by_name("checksum")?.unwrap_or_default(),
            applied_at: row.get_by_name("applied_at")?,
        });
    }
    applied.sort_by_key(|a| a.version);
    Ok(applied)
}

/// Runs every statement of `file` in order, then records it. On a failing statement, stops
/// with the file, the statement's number and text, and Cassandra's message.
pub async fn apply(session: &CassandraSession, file: &MigrationFile) -> anyhow::Result<()> {
    for (index, statement) in file.statements.iter().enumerate() {
        ddl(session, statement).await.with_context(|| {
            format!(
                "{}: statement {} failed: `{}`",
                file.path.display(),
                index + 1,
                one_line(statement)
            )
        })?;
    }
    query_with_values(
        session,
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
        query_values!(
            file.version,
            file.name.clone(),
            file.checksum.clone(),
            Utc::now()
        ),
    )
    .await
    .with_context(|| format!("recording {} in schema_migrations", file.name))?;
    Ok(())
}

/// A statement folded onto one line and shortened, for error messages.
fn one_line(statement: &str) -> String {
    let folded = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() > 160 {
        format!("{}...", folded.chars().take(157).collect::<String>())
    } else {
        folded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cql_file_over_1_mib_or_not_regular_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("001_big.cql");
        std::fs::write(&big, "-".repeat(1024 * 1024 + 1)).unwrap();
        assert_eq!(
            load_dir(dir.path()).unwrap_err().to_string(),
            format!(
                "CQL file {} is larger than 1 MiB (the limit for a CQL file)",
                big.display()
            )
        );
        std::fs::remove_file(&big).unwrap();
        std::fs::create_dir(dir.path().join("002_folder.cql")).unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("002_folder.cql is not a regular file (a directory, a device or a pipe)"),
            "{err}"
        );
    }

    #[test]
    fn file_names_must_be_number_underscore_name_dot_cql() {
        assert_eq!(parse_file_name("001_initial.cql"), Some(1));
        assert_eq!(parse_file_name("12_add-index.cql"), Some(12));
        for bad in [
            "initial.cql",
            "001.cql",
            "001_.cql",
            "_x.cql",
            "1a_x.cql",
            "001_a b.cql",
            "001_x.sql",
            "99999999999_x.cql",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn statements_split_on_semicolons_outside_strings_and_comments() {
        let text = "-- a comment; with a semicolon\n\
                    CREATE TABLE a (x int PRIMARY KEY) WITH comment = 'it''s; fine';\n\
                    /* block; comment */ INSERT INTO a (x) VALUES (1); // trailing; comment\n\
                    CREATE FUNCTION f() RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS $$ return 1; $$;\n\
                    ;  \n";
        let statements = split_statements(text);
        assert_eq!(statements.len(), 3, "{statements:?}");
        assert!(statements[0].ends_with("'it''s; fine'"));
        assert_eq!(statements[1], "INSERT INTO a (x) VALUES (1)");
        assert!(statements[2].ends_with("$$ return 1; $$"));
    }

    #[test]
    fn a_file_of_only_comments_has_no_statement() {
        assert!(split_statements("-- nothing\n/* here */\n").is_empty());
    }

    #[test]
    fn checksums_are_sha256_hex() {
        assert_eq!(
            checksum(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn file(version: i32, sum: &str) -> MigrationFile {
        MigrationFile {
            version,
            name: format!("{version:03}_x.cql"),
            path: PathBuf::from(format!("cql/{version:03}_x.cql")),
            checksum: sum.into(),
            statements: vec!["SELECT 1".into()],
        }
    }

    fn done(version: i32, sum: &str) -> AppliedMigration {
        AppliedMigration {
            version,
            name: format!("{version:03}_x.cql"),
            checksum: sum.into(),
            applied_at: None,
        }
    }

    #[test]
    fn pending_is_every_file_not_yet_applied_in_order() {
        let files = [file(1, "a"), file(2, "b"), file(3, "c")];
        let pending = pending(&files, &[done(1, "a")]).unwrap();
        assert_eq!(
            pending.iter().map(|f| f.version).collect::<Vec<_>>(),
            [2, 3]
        );
    }

    #[test]
    fn a_changed_applied_file_is_refused_with_both_checksums() {
        let files = [file(1, "new")];
        let err = pending(&files, &[done(1, "old")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cql/001_x.cql") && text.contains("old") && text.contains("new"));
    }

    #[test]
    fn folder_problems_are_named() {
        let dir = std::env::temp_dir().join(format!("meteo-mig-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(load_dir(&dir), Err(MigrationError::MissingDir(_))));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("README.md"), "not a migration").unwrap();
        assert!(matches!(load_dir(&dir), Err(MigrationError::EmptyDir(_))));
        std::fs::write(dir.join("001_a.cql"), "CREATE TABLE a (x int PRIMARY KEY);").unwrap();
        std::fs::write(dir.join("001_b.cql"), "CREATE TABLE b (x int PRIMARY KEY);").unwrap();
        let err = load_dir(&dir).unwrap_err().to_string();
        assert!(
            err.contains("001_a.cql") && err.contains("001_b.cql"),
            "{err}"
        );
        std::fs::remove_file(dir.join("001_b.cql")).unwrap();
        std::fs::write(dir.join("2_b.cql"), "-- empty\n").unwrap();
        assert!(matches!(
            load_dir(&dir),
            Err(MigrationError::NoStatement(_))
        ));
        std::fs::write(dir.join("2_b.cql"), "CREATE TABLE b (x int PRIMARY KEY);").unwrap();
        std::fs::write(dir.join("third.cql"), "SELECT 1;").unwrap();
        assert!(matches!(load_dir(&dir), Err(MigrationError::BadName(_))));
        std::fs::remove_file(dir.join("third.cql")).unwrap();
        let files = load_dir(&dir).unwrap();
        assert_eq!(files.iter().map(|f| f.version).collect::<Vec<_>>(), [1, 2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replication_is_compared_as_cassandra_reports_it() {
        let found: BTreeMap<String, String> = [
            ("class", "org.apache.cassandra.locator.SimpleStrategy"),
            ("replication_factor", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(same_replication(
            &found,
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        ));
        assert!(!same_replication(
            &found,
            "{'class': 'SimpleStrategy', 'replication_factor': 3}"
        ));
        assert!(!same_replication(
            &found,
            "{'class': 'NetworkTopologyStrategy', 'dc1': 1}"
        ));
    }
}
