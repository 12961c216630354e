//! What a produce run counts ([`Stats`], per minute and in total), what it ends with
//! ([`Report`]), and the texts made of them: the summary and the call budget.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::SourceError;
use crate::latency::Latencies;
use crate::schedule::{Budget, Limits, Plan, Tick};
use crate::text::printable;

/// Counters over a period.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub calls: u64,
    pub new: u64,
    pub unchanged: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub published: u64,
    pub not_delivered: u64,
    /// Readings larger than Kafka takes: never sent.
    pub too_large: u64,
    /// From the API's answer to Kafka's acknowledgement, for readings sent once Kafka had
    /// acknowledged something.
    pub latencies: Latencies,
    /// The same for readings sent before Kafka's first acknowledgement: they wait for the
    /// producer's connection, first metadata and producer id (a second on a fresh broker),
    /// which says nothing of the steady state, so they are kept out of the median.
    pub warmup: Latencies,
}

impl Stats {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// `transient 2, rate_limited 1`, or `none`.
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".into();
        }
        let mut out = String::new();
        for (label, n) in &self.errors {
            let _ = write!(out, "{}{label} {n}", if out.is_empty() { "" } else { ", " });
        }
        out
    }

    /// The `q` quantile (0..=1) of the kept latencies.
    pub fn latency_quantile(&self, q: f64) -> Option<Duration> {
        self.latencies.quantile(q)
    }
}

/// What a run did; the command prints [`Report::summary`] and picks the exit code from it.
#[derive(Debug, Default)]
pub struct Report {
    pub stats: Stats,
    /// Cities the API does not know (404), dropped from the schedule.
    pub dropped: Vec<(i64, String)>,
    /// `once`: cities that brought no reading, and why.
    pub failed: Vec<(i64, String, String)>,
    /// A fatal source error (the API's 401): nothing else can work.
    pub fatal: Option<SourceError>,
    /// `once`: why the sweep stopped before every city had its attempts (the API kept
    /// refusing or could not be reached).
    pub stopped: Option<String>,
    /// Stopped by the shutdown.
    pub interrupted: bool,
    /// Calls abandoned at shutdown after [`super::CALLS_GRACE`].
    pub abandoned_calls: usize,
}

/// Cities named one by one for one reason; more share one line.
const FAILED_LISTED: usize = 3;

impl Report {
    /// The summary for stdout, one line each (each ending in a newline): what was called,
    /// what was new, what was published, and what went missing.
    pub fn summary(&self) -> String {
        let s = &self.stats;
        let share = if s.calls > 0 {
            s.new as f64 * 100.0 / s.calls as f64
        } else {
            0.0
        };
        let mut out = format!(
            "summary: {} calls, {} new ({share:.1}%), {} unchanged, {} errors ({}), {} published, {} not delivered\n",
            s.calls,
            s.new,
            s.unchanged,
            s.error_count(),
            s.errors_text(),
            s.published,
            s.not_delivered
        );
        if let (Some(p50), Some(p99)) = (s.latency_quantile(0.5), s.latency_quantile(0.99)) {
            let _ = writeln!(
                out,
                "publish latency (API answer to Kafka acknowledgement): median {:.1} ms, p99 {:.1} ms over {} readings",
                p50.as_secs_f64() * 1000.0,
                p99.as_secs_f64() * 1000.0,
                s.latencies.len()
            );
        }
        if s.latencies.is_empty() {
            // Every reading went out before the first acknowledgement (a sweep sent at once):
            // their figures are all there is, said with what they include.
            if let (Some(p50), Some(p99)) = (s.warmup.quantile(0.5), s.warmup.quantile(0.99)) {
                let _ = writeln!(
                    out,
                    "publish latency (API answer to Kafka acknowledgement): median {:.1} ms, p99 {:.1} ms over {} readings, all sent while the producer connected (its first metadata and producer id included)",
                    p50.as_secs_f64() * 1000.0,
                    p99.as_secs_f64() * 1000.0,
                    s.warmup.len()
                );
            }
        } else if let Some(max) = s.warmup.quantile(1.0) {
            let _ = writeln!(
                out,
                "first publish: {} readings sent while the producer connected (metadata, producer id) took up to {:.1} ms, not in the median",
                s.warmup.len(),
                max.as_secs_f64() * 1000.0
            );
        }
        // Names come from the city list and reasons from the API: printed safe.
        if s.too_large > 0 {
            let _ = writeln!(
                out,
                "too large for Kafka: {} readings over message.max.bytes, not sent",
                s.too_large
            );
        }
        for (id, name) in &self.dropped {
            let name = printable(name);
            let _ = writeln!(out, "dropped: {name} ({id}): unknown to the API (404)");
        }
        // One reason shared by many cities (the API unreachable, a refused key) is one line
        // naming a few, not a line per city; the others keep a line each, in order.
        let failed: Vec<_> = self
            .failed
            .iter()
            .filter(|(id, _, _)| !self.dropped.iter().any(|(d, _)| d == id))
            .collect();
        let mut by_reason: std::collections::HashMap<&str, Vec<_>> = Default::default();
        for entry in &failed {
            by_reason.entry(entry.2.as_str()).or_default().push(*entry);
        }
        for (id, name, why) in &failed {
            let Some(same) = by_reason.get(why.as_str()) else {
                continue; // its reason's line is already out
            };
            if same.len() <= FAILED_LISTED {
                let (name, why) = (printable(name), printable(why));
                let _ = writeln!(out, "failed: {name} ({id}): {why}");
            } else {
                let same = by_reason.remove(why.as_str()).unwrap_or_default();
                let named: Vec<String> = same
                    .iter()
                    .take(FAILED_LISTED)
                    .map(|(id, name, _)| format!("{} ({id})", printable(name)))
                    .collect();
                let _ = writeln!(
                    out,
                    "failed: {} cities, {} and {} more: {}",
                    same.len(),
                    named.join(", "),
                    same.len() - FAILED_LISTED,
                    printable(why)
                );
            }
        }
        if let Some(why) = &self.stopped {
            let why = printable(why);
            let _ = writeln!(out, "stopped early: {why}: the API kept failing every call");
        }
        if self.abandoned_calls > 0 {
            let _ = writeln!(
                out,
                "abandoned: {} calls unanswered at shutdown",
                self.abandoned_calls
            );
        }
        out
    }
}

/// The budget as the start-up line gives it; `source` names a source whose calls cost nothing.
pub fn planned_budget(limits: Option<Limits>, plan: &Plan, source: &str) -> String {
    match limits {
        Some(limits) => format!(
            "{} calls/min, {} calls/30 days (sustained {:.1}/min)",
            limits.per_minute, limits.monthly_quota, plan.sustained_per_minute
        ),
        None => format!("none ({source})"),
    }
}

/// The budget as the minute's statistics line gives it: what was spent of it.
pub fn spent_budget(limits: Option<Limits>, budget: &Budget, now: Tick, source: &str) -> String {
    match limits {
        Some(limits) => format!(
            "{}/{} in the last minute, {} of {} per 30 days since start",
            budget.used_last_minute(now),
            limits.per_minute,
            budget.total(),
            limits.monthly_quota
        ),
        None => format!("none ({source})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule;

    #[test]
    fn the_summary_counts_names_errors_and_lists_each_lost_city_once() {
        let mut report = Report::default();
        report.stats.calls = 8;
        report.stats.new = 3;
        report.stats.unchanged = 1;
        report.stats.errors.insert("transient", 2);
        report.stats.errors.insert("not_found", 1);
        report.stats.errors.insert("rate_limited", 1);
        report.stats.published = 2;
        report.stats.not_delivered = 1;
        for ms in [10, 20, 30] {
            report.stats.latencies.push(Duration::from_millis(ms));
        }
        report.dropped = vec![(1, "Nulle-part".into())];
        report.failed = vec![
            (
                1,
                "Nulle-part".into(),
                "city 1 is unknown to the API (HTTP 404)".into(),
            ),
            (2, "Lyon".into(), "temporary failure: HTTP 503".into()),
        ];
        report.abandoned_calls = 2;
        assert_eq!(
            report.summary(),
            "summary: 8 calls, 3 new (37.5%), 1 unchanged, 4 errors (not_found 1, rate_limited 1, transient 2), 2 published, 1 not delivered\n\
             publish latency (API answer to Kafka acknowledgement): median 20.0 ms, p99 30.0 ms over 3 readings\n\
             dropped: Nulle-part (1): unknown to the API (404)\n\
             failed: Lyon (2): temporary failure: HTTP 503\n\
             abandoned: 2 calls unanswered at shutdown\n"
        );
    }

    #[test]
    fn many_cities_failed_for_one_reason_are_one_line_naming_a_few() {
        let mut report = Report::default();
        let why = "the API cannot be reached: host not found";
        report.failed = (1..=126)
            .map(|id| (id, format!("Ville {id}"), why.to_string()))
            .collect();
        report
            .failed
            .push((200, "Lyon".into(), "temporary failure: HTTP 503".into()));
        let summary = report.summary();
        let failed: Vec<&str> = summary
            .lines()
            .filter(|l| l.starts_with("failed: "))
            .collect();
        assert_eq!(
            failed,
            [
                "failed: 126 cities, Ville 1 (1), Ville 2 (2), Ville 3 (3) and 123 more: the API cannot be reached: host not found",
                "failed: Lyon (200): temporary failure: HTTP 503",
            ]
        );
    }

    #[test]
    fn readings_sent_while_the_producer_connected_are_told_apart_from_the_median() {
        let mut report = Report::default();
        report.stats.published = 4;
        report.stats.warmup.push(Duration::from_millis(1162));
        report.stats.warmup.push(Duration::from_millis(1150));
        for ms in [5, 6] {
            report.stats.latencies.push(Duration::from_millis(ms));
        }
        let summary = report.summary();
        assert!(
            summary.contains(
                "publish latency (API answer to Kafka acknowledgement): median 5.0 ms, p99 6.0 ms \
                 over 2 readings\n"
            ),
            "{summary}"
        );
        assert!(
            summary.contains(
                "first publish: 2 readings sent while the producer connected (metadata, producer \
                 id) took up to 1162.0 ms, not in the median\n"
            ),
            "{summary}"
        );

        // A sweep sent at once, all before the first acknowledgement: said, not hidden.
        report.stats.latencies = Latencies::default();
        let summary = report.summary();
        assert!(
            summary.contains(
                "publish latency (API answer to Kafka acknowledgement): median 1150.0 ms, p99 \
                 1162.0 ms over 2 readings, all sent while the producer connected (its first \
                 metadata and producer id included)\n"
            ),
            "{summary}"
        );
        assert!(!summary.contains("first publish"), "{summary}");
    }

    #[test]
    fn a_run_without_calls_says_so_without_latency_or_lists() {
        assert_eq!(
            Report::default().summary(),
            "summary: 0 calls, 0 new (0.0%), 0 unchanged, 0 errors (none), 0 published, 0 not delivered\n"
        );
    }

    #[test]
    fn the_budget_is_the_plans_or_none_for_a_source_whose_calls_cost_nothing() {
        let limits = Limits {
            per_minute: 60,
            monthly_quota: 1_000_000,
        };
        let plan = schedule::plan(100, Duration::from_secs(600), limits);
        assert_eq!(
            planned_budget(Some(limits), &plan, "owm"),
            "60 calls/min, 1000000 calls/30 days (sustained 23.1/min)"
        );
        assert_eq!(planned_budget(None, &plan, "synthetic"), "none (synthetic)");

        let mut budget = Budget::new(limits);
        budget.spend(Duration::from_secs(1));
        budget.spend(Duration::from_secs(2));
        let now = Duration::from_secs(30);
        assert_eq!(
            spent_budget(Some(limits), &budget, now, "owm"),
            "2/60 in the last minute, 2 of 1000000 per 30 days since start"
        );
        assert_eq!(
            spent_budget(None, &budget, now, "synthetic"),
            "none (synthetic)"
        );
    }
}
