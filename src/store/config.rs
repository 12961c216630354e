//! Where Cassandra is and how to log in ([`CassandraSettings`]), the keyspace name validated
//! once when parsed, and how to speak TLS to the nodes. The store's own settings, beside the
//! session built from them.

use std::fmt;
use std::path::PathBuf;

use cdrs_tokio::authenticators::{
    NoneAuthenticatorProvider, SaslAuthenticatorProvider, StaticPasswordAuthenticatorProvider,
};
pub use cdrs_tokio::consistency::Consistency;

use crate::secret::Secret;

/// A Cassandra keyspace name: a letter, then letters, digits or underscores, at most 48
/// characters (Cassandra's own limit). Used unquoted in CQL, so nothing else may pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace(String);

impl Keyspace {
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok_start = value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
        let ok_rest = value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok_start || !ok_rest || value.len() > 48 {
            return Err(format!(
                "'{value}' is not a keyspace name (a letter, then letters, digits or _; at most 48)"
            ));
        }
        // Cassandra folds unquoted names to lower case: `MixedCase` would be created as
        // `mixedcase` and then not found under the name given.
        if value.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "'{value}': keyspace names are lower case (Cassandra folds unquoted names); use '{}'",
                value.to_ascii_lowercase()
            ));
        }
        if value.starts_with("system") {
            return Err(format!(
                "'{value}': names starting with 'system' belong to Cassandra itself"
            ));
        }
        if CQL_RESERVED.contains(&value) {
            return Err(format!(
                "'{value}' is a reserved word of CQL; choose another keyspace name"
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Keyspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// CQL's reserved keywords (lower case), which cannot name a keyspace unquoted.
const CQL_RESERVED: &[&str] = &[
    "add",
    "allow",
    "alter",
    "and",
    "apply",
    "asc",
    "authorize",
    "batch",
    "begin",
    "by",
    "columnfamily",
    "create",
    "default",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "keyspace",
    "limit",
    "materialized",
    "mbean",
    "mbeans",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "truncate",
    "unlogged",
    "unset",
    "update",
    "use",
    "using",
    "view",
    "where",
    "with",
];

/// Where Cassandra is and how to log in.
#[derive(Debug, Clone)]
pub struct CassandraSettings {
    /// Contact points, host:port each.
    pub nodes: Vec<String>,
    pub keyspace: Keyspace,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// TLS to every node; `None` speaks plain TCP.
    pub tls: Option<CassandraTls>,
    /// The consistency level of this command's requests: writes for `consume`, reads for
    /// `dash`.
    pub consistency: Consistency,
    /// The local datacenter: requests go to its nodes only. `None`: every node is local.
    pub datacenter: Option<String>,
    /// A read with no answer after this long is sent to the next node too, and again after as
    /// long to the one after (the driver's speculative execution; the first answer wins).
    /// `None`: a read waits for its node, up to Cassandra's own read timeout (5 s). The
    /// dashboard's `--read-timeout`.
    pub read_timeout: Option<std::time::Duration>,
}

impl CassandraSettings {
    /// The driver's login for these settings: the password only when a user is named too.
    pub fn authenticator(&self) -> std::sync::Arc<dyn SaslAuthenticatorProvider + Send + Sync> {
        match (&self.user, &self.password) {
            (Some(user), Some(password)) => std::sync::Arc::new(
                StaticPasswordAuthenticatorProvider::new(user, &password.expose().to_string()),
            ),
            _ => std::sync::Arc::new(NoneAuthenticatorProvider),
        }
    }

    /// Plain TCP without a login: the local services.
    pub fn new(nodes: Vec<String>, keyspace: Keyspace) -> Self {
        Self {
            nodes,
            keyspace,
            user: None,
            password: None,
            tls: None,
            consistency: Consistency::LocalQuorum,
            datacenter: None,
            read_timeout: None,
        }
    }
}

/// How to speak TLS to Cassandra.
#[derive(Debug, Clone, PartialEq)]
pub struct CassandraTls {
    /// The CA to trust (PEM); the system's CA bundle when `None`.
    pub ca: Option<PathBuf>,
    /// A client certificate and its key (PEM), for nodes that ask for one.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Whether the certificate must name the host it is reached at.
    pub verify_hostname: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_names_are_plain_identifiers() {
        assert!(Keyspace::parse("meteo_test_1").is_ok());
        assert!(Keyspace::parse("MixedCase")
            .unwrap_err()
            .contains("use 'mixedcase'"));
        for reserved in ["select", "system", "system_auth", "table", "keyspace"] {
            assert!(Keyspace::parse(reserved).is_err(), "{reserved} accepted");
        }
        assert!(Keyspace::parse("selections").is_ok());
        for bad in ["", "1abc", "a-b", "a b", "a;drop", &"k".repeat(49)] {
            assert!(Keyspace::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cassandra_settings_never_show_the_password() {
        let settings = CassandraSettings {
            user: Some("u".into()),
            password: Some(Secret::new("0123456789abcdef")),
            ..CassandraSettings::new(vec!["h:1".into()], Keyspace::parse("k").unwrap())
        };
        assert!(!format!("{settings:?}").contains("0123456789abcdef"));
    }
}
