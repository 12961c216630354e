//! `meteo produce`: settings in, the source and the Kafka producer built, the produce engine
//! ([`crate::produce`]) run, the summary printed and the exit decided.

use std::sync::Arc;

use anyhow::bail;

use crate::city;
use crate::kafka::producer;
use crate::kafka::CONNECT_TIMEOUT;
use crate::metrics::{self, Role};
use crate::produce::ProduceSettings;
use crate::produce::{self, publish, source, stats, Producer, Report};
use crate::schedule;
use crate::settings::format_duration;
use crate::shutdown::Shutdown;
use crate::text::printable;

/// Runs `meteo produce`.
pub async fn run(settings: ProduceSettings, shutdown: Shutdown) -> anyhow::Result<()> {
    if settings.plan {
        // Before the metrics, the key and Kafka: the plan is arithmetic on the list.
        let cities = city::load(&settings.cities)?;
        let limits = schedule::Limits {
            per_minute: settings.rate,
            monthly_quota: settings.monthly_quota,
        };
        print!(
            "{}",
            produce::plan::describe(cities.len(), settings.interval, limits)
        );
        return Ok(());
    }
    let running = settings
        .metrics_addr
        .map(|addr| metrics::start(addr, Role::Produce, settings.kafka.topic.as_str()))
        .transpose()?;
    let key = source::api_key(&settings)?;
    let cities = city::load(&settings.cities)?;
    let chosen = source::choose(&settings, key)?;

    let kafka = settings.kafka.clone();
    let partitions =
        tokio::task::block_in_place(|| producer::check_topic(&kafka, CONNECT_TIMEOUT))?;
    let publisher = Arc::new(publish::Kafka::new(&kafka, settings.compression)?);
    // Ready only while Kafka's metadata is fresh and holds the topic.
    let probed = publisher.clone();
    metrics::probe(
        move || {
            let publisher = probed.clone();
            async move {
                let asked = tokio::task::spawn_blocking(move || publisher.has_topic(PROBE_TIMEOUT));
                match asked.await {
                    Ok(answer) => answer.map_err(|err| format!("{err:#}")),
                    Err(err) => Err(err.to_string()),
                }
            }
        },
        metrics::kafka_metadata,
    );

    let limits = chosen.limits.unwrap_or(produce::UNLIMITED);
    let plan = schedule::plan(cities.len(), settings.interval, limits);
    tracing::info!(
        source = chosen.source.name(),
        cities = cities.len(),
        interval = %format_duration(plan.interval),
        budget = %stats::planned_budget(chosen.limits, &plan, chosen.source.name()),
        from = %chosen.source.describe(),
        topic = %kafka.topic,
        partitions,
        compression = %settings.compression,
        once = settings.once,
        "producing"
    );
    if plan.stretched() {
        tracing::warn!(
            requested = %format_duration(plan.requested),
            interval = %format_duration(plan.interval),
            "the interval stretches: {} cities every {} need {:.1} calls a minute, the limits sustain {:.1}",
            cities.len(),
            format_duration(plan.requested),
            plan.needed_per_minute,
            plan.sustained_per_minute
        );
    }

    let producer = Producer {
        cities,
        source: chosen.source,
        publisher,
        limits: chosen.limits,
        plan,
        once: settings.once,
        clock: produce::system_clock(),
    };
    let report = produce::run(producer, shutdown).await;
    drop(running);
    print!("{}", report.summary());
    exit(report, settings.once, kafka.brokers.as_str())
}

/// How long the readiness probe waits for Kafka's metadata.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Failed cities named in the error line; the summary lists them all.
const NAMES_IN_ERROR: usize = 10;

/// The command's outcome: an error (exit 1) after a refused key, readings Kafka did not
/// acknowledge or would not take, or (`once`, not interrupted) cities that brought no reading.
fn exit(report: Report, once: bool, brokers: &str) -> anyhow::Result<()> {
    if let Some(fatal) = report.fatal {
        return Err(fatal.into());
    }
    if report.stats.not_delivered > 0 {
        bail!(
            "{} fetched readings were not acknowledged by Kafka at {brokers} before exit",
            report.stats.not_delivered
        );
    }
    if report.stats.too_large > 0 {
        bail!(
            "{} fetched readings were larger than Kafka takes (message.max.bytes) and not sent",
            report.stats.too_large
        );
    }
    if once && !report.interrupted && !report.failed.is_empty() {
        let mut names: Vec<String> = report
            .failed
            .iter()
            .take(NAMES_IN_ERROR)
            .map(|(id, name, _)| format!("{} ({id})", printable(name)))
            .collect();
        if report.failed.len() > NAMES_IN_ERROR {
            names.push(format!("{} more", report.failed.len() - NAMES_IN_ERROR));
        }
        let stopped = report.stopped.as_ref().map_or_else(String::new, |why| {
            format!("the sweep stopped early ({}); ", printable(why))
        });
        bail!(
            "{stopped}{} cities brought no reading: {} (see the summary above)",
            report.failed.len(),
            names.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owm::api::ApiError;

    #[test]
    fn a_refused_key_undelivered_readings_or_a_failed_sweep_exit_1_and_say_why() {
        assert!(exit(Report::default(), true, "b:1").is_ok());

        let refused = Report {
            fatal: Some(
                ApiError::KeyRefused {
                    message: "Invalid API key".into(),
                }
                .into(),
            ),
            ..Report::default()
        };
        let err = exit(refused, false, "b:1").unwrap_err().to_string();
        assert!(err.contains("HTTP 401") && err.contains("2 hours"), "{err}");

        let mut lost = Report::default();
        lost.stats.not_delivered = 2;
        let err = exit(lost, false, "b:1").unwrap_err().to_string();
        assert_eq!(
            err,
            "2 fetched readings were not acknowledged by Kafka at b:1 before exit"
        );
        let mut too_large = Report::default();
        too_large.stats.too_large = 1;
        let err = exit(too_large, false, "b:1").unwrap_err().to_string();
        assert_eq!(
            err,
            "1 fetched readings were larger than Kafka takes (message.max.bytes) and not sent"
        );

        let failed = || Report {
            failed: vec![(7, "Lyon".into(), "temporary failure: HTTP 503".into())],
            ..Report::default()
        };
        let err = exit(failed(), true, "b:1").unwrap_err().to_string();
        assert_eq!(
            err,
            "1 cities brought no reading: Lyon (7) (see the summary above)"
        );
        // A continuous run, or a sweep cut short by a signal, is not a failed sweep.
        assert!(exit(failed(), false, "b:1").is_ok());
        let interrupted = Report {
            interrupted: true,
            ..failed()
        };
        assert!(exit(interrupted, true, "b:1").is_ok());
    }

    #[test]
    fn a_stopped_sweep_says_why_and_names_ten_cities_at_most() {
        let why = "the API cannot be reached: host not found (http://x/data/2.5/weather)";
        let report = Report {
            failed: (1..=12)
                .map(|id| (id, format!("Ville {id}"), why.to_string()))
                .collect(),
            stopped: Some(why.to_string()),
            ..Report::default()
        };
        assert!(report.summary().contains(&format!("stopped early: {why}")));
        let err = exit(report, true, "b:1").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "the sweep stopped early ({why}); 12 cities brought no reading: Ville 1 (1), \
                 Ville 2 (2), Ville 3 (3), Ville 4 (4), Ville 5 (5), Ville 6 (6), Ville 7 (7), \
                 Ville 8 (8), Ville 9 (9), Ville 10 (10), 2 more (see the summary above)"
            )
        );
    }
}
