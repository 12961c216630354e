//! The standard `process_*` metrics (CPU, memory, open files, start time), read from the
//! kernel at each scrape. Linux only: elsewhere the ones that cannot be read are left out.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Reads the process's figures when scraped; knows when the process started.
#[derive(Debug)]
pub struct ProcessCollector {
    start_time_seconds: f64,
}

impl ProcessCollector {
    pub fn new() -> Self {
        let start_time_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self { start_time_seconds }
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(cpu) = cpu_seconds() {
            let counter = ConstCounter::new(cpu);
            let metric = encoder.encode_descriptor(
                "process_cpu",
                "User and system CPU time spent.",
                Some(&Unit::Seconds),
                counter.metric_type(),
            )?;
            counter.encode(metric)?;
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let gauges = [
            (
                "process_resident_memory",
                "Resident memory size.",
                Some(Unit::Bytes),
                status_kib(&status, "VmRSS:").map(|k| k * 1024.0),
            ),
            (
                "process_virtual_memory",
                "Virtual memory size.",
                Some(Unit::Bytes),
                status_kib(&status, "VmSize:").map(|k| k * 1024.0),
            ),
            (
                "process_open_fds",
                "Open file descriptors.",
                None,
                std::fs::read_dir("/proc/self/fd")
                    .ok()
                    .map(|dir| dir.count() as f64),
            ),
            (
                "process_max_fds",
                "Limit on open file descriptors.",
                None,
                max_fds(),
            ),
            (
                "process_start_time",
                "Start time of the process since the Unix epoch.",
                Some(Unit::Seconds),
                Some(self.start_time_seconds),
            ),
        ];
        for (name, help, unit, value) in gauges {
            let Some(value) = value else { continue };
            let gauge = ConstGauge::new(value);
            let metric =
                encoder.encode_descriptor(name, help, unit.as_ref(), gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

/// User plus system CPU time of the whole process.
fn cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage writes into the zeroed struct it is given and nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

/// The soft limit on open files.
fn max_fds() -> Option<f64> {
    // SAFETY: getrlimit writes into the zeroed struct it is given and nothing else.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    Some(limit.rlim_cur as f64)
}

/// A `Name:   1234 kB` line of /proc/self/status, in KiB.
fn status_kib(status: &str, field: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_lines_of_proc_status_are_read_in_kib() {
        let status = "Name:\tmeteo\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(2048.0));
        assert_eq!(status_kib(status, "VmSize:"), Some(123456.0));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn the_process_spent_some_cpu_and_may_open_files() {
        assert!(cpu_seconds().is_some_and(|s| s >= 0.0));
        assert!(max_fds().is_some_and(|n| n > 0.0));
    }
}
