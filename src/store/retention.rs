//! How long `readings` keeps a row: its `default_time_to_live` and the TimeWindowCompaction
//! window that fits it. `latest` and `city_countries` are never given a TTL (the dashboard's
//! newest reading per city must not vanish). Knows nothing of Kafka.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use cdrs_tokio::query_values;
use cdrs_tokio::types::{AsRustType, IntoRustByName};

use super::{ddl, query_with_values, rows, CassandraSession};

/// About this many compaction windows across the retention: few enough that a window is not
/// a pile of tiny SSTables, many enough that a whole window (dropped at once when every row
/// in it has expired) is a small part of the disk.
pub const WINDOWS_PER_RETENTION: u64 = 30;

const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// A TimeWindowCompactionStrategy window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `MINUTES`, `HOURS` or `DAYS`, as CQL spells them.
    pub unit: &'static str,
    pub size: u64,
}

impl Window {
    /// One day: what `cql/001_initial.cql` creates, kept while nothing expires.
    pub const DAILY: Window = Window {
        unit: "DAYS",
        size: 1,
    };
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.size, self.unit.to_lowercase())
    }
}

/// The window for a retention: the retention over [`WINDOWS_PER_RETENTION`], in the largest
/// unit it holds at least once (days, hours, then minutes), rounded to a whole count.
pub fn window_for(retention: Duration) -> Window {
    let target = retention.as_secs() / WINDOWS_PER_RETENTION;
    let (unit, seconds) = if target >= DAY {
        ("DAYS", DAY)
    } else if target >= HOUR {
        ("HOURS", HOUR)
    } else {
        ("MINUTES", MINUTE)
    };
    let size = ((target + seconds / 2) / seconds).max(1);
    Window { unit, size }
}

/// What `readings` has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRetention {
    /// `default_time_to_live` in seconds; 0 keeps everything.
    pub ttl_seconds: u64,
    /// The compaction options as Cassandra reports them (class in full).
    pub compaction: HashMap<String, String>,
}

impl TableRetention {
    /// Whether the table already has this TTL and a TWCS window of this shape.
    pub fn matches(&self, ttl_seconds: u64, window: Window) -> bool {
        let class_ok = self
            .compaction
            .get("class")
            .is_some_and(|c| c.ends_with("TimeWindowCompactionStrategy"));
        self.ttl_seconds == ttl_seconds
            && class_ok
            && self
                .compaction
                .get("compaction_window_unit")
                .map(String::as_str)
                == Some(window.unit)
            && self.compaction.get("compaction_window_size") == Some(&window.size.to_string())
    }

    /// "keep everything", or the TTL as a duration such as `90d`.
    pub fn describe_ttl(&self) -> String {
        describe_ttl(self.ttl_seconds)
    }
}

/// "keep everything" for 0, otherwise the duration in its largest whole unit (`90d`, `36h`,
/// `1s`), as `--retention` reads it.
pub fn describe_ttl(seconds: u64) -> String {
    match seconds {
        0 => "keep everything".to_string(),
        s if s % DAY == 0 => format!("{}d", s / DAY),
        s if s % HOUR == 0 => format!("{}h", s / HOUR),
        s if s % MINUTE == 0 => format!("{}m", s / MINUTE),
        s => format!("{s}s"),
    }
}

/// `readings`' TTL and compaction in `keyspace`; `None` when the table does not exist.
pub async fn read(
    session: &CassandraSession,
    keyspace: &str,
) -> anyhow::Result<Option<TableRetention>> {
    let found = rows(
        query_with_values(
            session,
            "SELECT default_time_to_live, compaction FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = 'readings'",
            query_values!(keyspace),
        )
        .await
        .context("reading the readings table's options")?,
    )?;
    let Some(row) = found.first() else {
        return Ok(None);
    };
    let ttl: i32 = row.get_by_name("default_time_to_live")?.unwrap_or_default();
    let compaction = row
        .get_by_name("compaction")
        .ok()
        .flatten()
        .and_then(|map: cdrs_tokio::types::map::Map| {
            AsRustType::<HashMap<String, String>>::as_r_type(&map).ok()
        })
        .unwrap_or_default();
    Ok(Some(TableRetention {
        ttl_seconds: u64::try_from(ttl).unwrap_or_default(),
        compaction,
    }))
}

/// The statement that gives `readings` this TTL and window.
pub fn alter_statement(ttl_seconds: u64, window: Window) -> String {
    format!(
        "ALTER TABLE readings WITH default_time_to_live = {ttl_seconds} AND compaction = \
         {{'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': '{}', \
         'compaction_window_size': {}}}",
        window.unit, window.size
    )
}

/// Gives `readings` (on a session bound to its keyspace) the TTL of `retention` and the window
/// that fits it, when it has not got them already. Returns whether it changed anything.
pub async fn apply(
    session: &CassandraSession,
    current: &TableRetention,
    retention: Duration,
) -> anyhow::Result<bool> {
    let ttl = retention.as_secs();
    let window = window_for(retention);
    if current.matches(ttl, window) {
        return Ok(false);
    }
    let statement = alter_statement(ttl, window);
    ddl(session, &statement)
        .await
        .with_context(|| format!("setting the retention of readings: `{statement}`"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * DAY)
    }

    #[test]
    fn ninety_days_get_three_day_windows() {
        assert_eq!(
            window_for(days(90)),
            Window {
                unit: "DAYS",
                size: 3
            }
        );
    }

    #[test]
    fn a_window_is_about_a_thirtieth_of_the_retention_in_the_largest_whole_unit() {
        let cases = [
            (days(365), "DAYS", 12),
            (days(30), "DAYS", 1),
            (days(7), "HOURS", 6),
            (Duration::from_secs(HOUR), "MINUTES", 2),
            (Duration::from_secs(1), "MINUTES", 1),
            (days(7300), "DAYS", 243),
        ];
        for (retention, unit, size) in cases {
            assert_eq!(
                window_for(retention),
                Window { unit, size },
                "{retention:?}"
            );
        }
    }

    #[test]
    fn a_table_matches_only_with_the_same_ttl_unit_size_and_twcs() {
        let compaction: HashMap<String, String> = [
            (
                "class",
                "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy",
            ),
            ("compaction_window_unit", "DAYS"),
            ("compaction_window_size", "3"),
            ("max_threshold", "32"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let table = TableRetention {
            ttl_seconds: 90 * DAY,
            compaction,
        };
        let window = window_for(days(90));
        assert!(table.matches(90 * DAY, window));
        assert!(!table.matches(91 * DAY, window));
        assert!(!table.matches(90 * DAY, Window::DAILY));
        let mut stcs = table.clone();
        stcs.compaction.insert(
            "class".into(),
            "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy".into(),
        );
        assert!(!stcs.matches(90 * DAY, window));
    }

    #[test]
    fn no_ttl_is_said_as_keep_everything() {
        assert_eq!(describe_ttl(0), "keep everything");
        assert_eq!(describe_ttl(90 * DAY), "90d");
        assert_eq!(describe_ttl(36 * HOUR), "36h");
        assert_eq!(describe_ttl(61), "61s");
    }

    #[test]
    fn the_statement_sets_ttl_and_window_together() {
        assert_eq!(
            alter_statement(7_776_000, window_for(days(90))),
            "ALTER TABLE readings WITH default_time_to_live = 7776000 AND compaction = \
             {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'DAYS', \
             'compaction_window_size': 3}"
        );
    }
}
