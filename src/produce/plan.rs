//! What `meteo produce --plan` prints: the schedule's [`Plan`] for a city list under the
//! plan's limits, in words, before any call is made. Pure text; the command only prints it.

use std::time::Duration;

use indicatif::HumanCount;

use crate::schedule::{self, Budget, Limits, MINUTE, QUOTA_WINDOW};
use crate::settings::format_duration;

/// OpenWeatherMap updates a location about every 10 minutes and asks for no more than one
/// call per location in that time: the interval at which a city is as fresh as it can be.
pub const API_UPDATE: Duration = Duration::from_secs(600);

/// The plan for `cities` cities refreshed every `requested` under `limits`, one line each:
/// the calls a minute it will use, each city's refresh interval, the share of the 30-day
/// quota, and how many cities fit at the API's 10 minutes.
pub fn describe(cities: usize, requested: Duration, limits: Limits) -> String {
    let plan = schedule::plan(cities, requested, limits);
    let minutes = plan.interval.as_secs_f64() / 60.0;
    let per_minute = if minutes > 0.0 {
        cities as f64 / minutes
    } else {
        0.0
    };
    let sweep = first_sweep(cities, limits);
    let in_window = per_minute * QUOTA_WINDOW.as_secs_f64() / 60.0;
    let share = 100.0 * in_window / limits.monthly_quota as f64;
    let fit = (plan.sustained_per_minute * API_UPDATE.as_secs_f64() / 60.0).floor() as u64;

    let mut out = format!(
        "{} cities, at most {} calls a minute and {} every 30 days ({:.1} a minute sustained)\n",
        HumanCount(cities as u64),
        HumanCount(u64::from(limits.per_minute)),
        HumanCount(limits.monthly_quota),
        plan.sustained_per_minute
    );
    out += &match sweep {
        Some(sweep) => format!(
            "calls: {per_minute:.1} a minute; the first sweep reaches every city in {}\n",
            format_duration(round_to_second(sweep))
        ),
        None => format!(
            "calls: {per_minute:.1} a minute; the first sweep never ends: the quota allows {} calls\n",
            HumanCount(limits.monthly_quota)
        ),
    };
    if plan.stretched() {
        out += &format!(
            "each city refreshed every {}, stretched from --interval {}: {} a minute would be needed\n",
            format_duration(plan.interval),
            format_duration(plan.requested),
            one_decimal(plan.needed_per_minute)
        );
    } else {
        out += &format!(
            "each city refreshed every {}\n",
            format_duration(plan.interval)
        );
    }
    out += &format!(
        "monthly quota: {} calls every 30 days, {share:.1}% of {}\n",
        HumanCount(in_window.round() as u64),
        HumanCount(limits.monthly_quota)
    );
    out += &format!(
        "at {} (the API's update cadence), {} cities fit\n",
        format_duration(API_UPDATE),
        HumanCount(fit)
    );
    out
}

/// How long the first sweep takes to call every city once: spaced at the per-minute rate as
/// the scheduler starts it, paced by the budget itself (a minute's calls at once, then the
/// monthly quota's share). `None` when the quota runs out first.
fn first_sweep(cities: usize, limits: Limits) -> Option<Duration> {
    let spacing = MINUTE / limits.per_minute.max(1);
    let mut budget = Budget::new(limits);
    let mut last = Duration::ZERO;
    for i in 0..cities {
        let due = spacing.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
        last = budget.next_allowed(due.max(last));
        if last > QUOTA_WINDOW * 100 {
            return None;
        }
        budget.spend(last);
    }
    Some(last)
}

/// A figure with one decimal and its thousands separated: `1,257.4`.
fn one_decimal(value: f64) -> String {
    let tenths = (value * 10.0).round() as u64;
    format!("{}.{}", HumanCount(tenths / 10), tenths % 10)
}

fn round_to_second(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs_f64().round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREE: Limits = Limits {
        per_minute: 60,
        monthly_quota: 1_000_000,
    };

    #[test]
    fn the_plan_of_126_cities_fits_the_free_plan_at_ten_minutes() {
        assert_eq!(
            describe(126, API_UPDATE, FREE),
            "126 cities, at most 60 calls a minute and 1,000,000 every 30 days (23.1 a minute sustained)\n\
             calls: 12.6 a minute; the first sweep reaches every city in 2m51s\n\
             each city refreshed every 10m\n\
             monthly quota: 544,320 calls every 30 days, 54.4% of 1,000,000\n\
             at 10m (the API's update cadence), 231 cities fit\n"
        );
    }

    #[test]
    fn the_plan_of_12574_cities_stretches_the_interval_and_spends_the_whole_quota() {
        let text = describe(12_574, API_UPDATE, FREE);
        assert_eq!(
            text,
            "12,574 cities, at most 60 calls a minute and 1,000,000 every 30 days (23.1 a minute sustained)\n\
             calls: 23.1 a minute; the first sweep reaches every city in 9h38s\n\
             each city refreshed every 9h3m12s, stretched from --interval 10m: 1,257.4 a minute would be needed\n\
             monthly quota: 999,994 calls every 30 days, 100.0% of 1,000,000\n\
             at 10m (the API's update cadence), 231 cities fit\n"
        );
    }

    #[test]
    fn a_longer_interval_or_another_plan_changes_the_figures() {
        let text = describe(
            500,
            Duration::from_secs(3600),
            Limits {
                per_minute: 600,
                monthly_quota: 10_000_000,
            },
        );
        assert!(text.contains("calls: 8.3 a minute"), "{text}");
        assert!(text.contains("each city refreshed every 1h\n"), "{text}");
        assert!(text.contains("360,000 calls every 30 days, 3.6%"), "{text}");
        assert!(text.contains("2,314 cities fit"), "{text}");

        // A quota smaller than the list: the first sweep cannot reach every city.
        let tiny = Limits {
            per_minute: 10,
            monthly_quota: 5,
        };
        let text = describe(6, API_UPDATE, tiny);
        assert!(
            text.contains("the first sweep never ends: the quota allows 5 calls"),
            "{text}"
        );
    }

    #[test]
    fn figures_keep_one_decimal_and_separate_thousands() {
        assert_eq!(one_decimal(1257.4), "1,257.4");
        assert_eq!(one_decimal(0.04), "0.0");
        assert_eq!(one_decimal(23.15), "23.2");
    }
}
