//! The dashboard's own settings, typed once from the command line: which partition, how often,
//! and how to show numbers and symbols.

use std::time::Duration;

use crate::model::CountryCode;

/// How the dashboard shows numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Units {
    /// °C and m/s (the API's own units).
    Metric,
    /// °C and km/h (as French forecasts give wind).
    MetricKmh,
    /// °F and mph.
    Imperial,
}

impl Units {
    /// The system named `metric`, `metric-kmh` or `imperial` (as on the command line).
    pub fn from_name(name: &str) -> Option<Units> {
        match name {
            "metric" => Some(Units::Metric),
            "metric-kmh" => Some(Units::MetricKmh),
            "imperial" => Some(Units::Imperial),
            _ => None,
        }
    }

    /// The value parser of `--units`: [`Units::from_name`], or a message naming the choices.
    pub fn parse(value: &str) -> Result<Units, String> {
        Units::from_name(value.trim()).ok_or_else(|| {
            format!("'{value}' is not a unit system: metric, metric-kmh or imperial")
        })
    }

    /// The next system, for the `u` key.
    pub fn next(self) -> Units {
        match self {
            Units::Metric => Units::MetricKmh,
            Units::MetricKmh => Units::Imperial,
            Units::Imperial => Units::Metric,
        }
    }

    /// A temperature in °C, in this system.
    pub fn temperature(self, celsius: f64) -> f64 {
        match self {
            Units::Imperial => celsius * 9.0 / 5.0 + 32.0,
            _ => celsius,
        }
    }

    pub fn temperature_unit(self) -> &'static str {
        match self {
            Units::Imperial => "°F",
            _ => "°C",
        }
    }

    /// A speed in m/s, in this system.
    pub fn speed(self, metres_per_second: f64) -> f64 {
        match self {
            Units::Metric => metres_per_second,
            Units::MetricKmh => metres_per_second * 3.6,
            Units::Imperial => metres_per_second * 2.236_936,
        }
    }

    pub fn speed_unit(self) -> &'static str {
        match self {
            Units::Metric => "m/s",
            Units::MetricKmh => "km/h",
            Units::Imperial => "mph",
        }
    }
}

/// The dashboard's settings, typed once from the command line.
#[derive(Debug, Clone)]
pub struct DashSettings {
    /// The `latest` partition to read.
    pub country: CountryCode,
    /// How often the `latest` partition is read again.
    pub refresh: Duration,
    pub units: Units,
    /// A reading older than this is drawn dimmed.
    pub stale_after: Duration,
    /// Colours on (off under `NO_COLOR`).
    pub color: bool,
    /// Everything drawn in ASCII (borders, symbols, icons): the locale is not UTF-8.
    pub ascii: bool,
}

impl DashSettings {
    /// Settings for tests and tools: `country`, 5 s, metric, stale after an hour, colour,
    /// Unicode.
    pub fn new(country: CountryCode) -> Self {
        Self {
            country,
            refresh: Duration::from_secs(5),
            units: Units::Metric,
            stale_after: Duration::from_secs(3600),
            color: true,
            ascii: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_cycle_and_convert() {
        assert_eq!(Units::Metric.next(), Units::MetricKmh);
        assert_eq!(Units::MetricKmh.next(), Units::Imperial);
        assert_eq!(Units::Imperial.next(), Units::Metric);
        assert_eq!(Units::Imperial.temperature(100.0), 212.0);
        assert!((Units::MetricKmh.speed(10.0) - 36.0).abs() < 1e-9);
        assert!((Units::Imperial.speed(10.0) - 22.369_36).abs() < 1e-9);
        assert_eq!(Units::from_name("metric-kmh"), Some(Units::MetricKmh));
        assert_eq!(Units::from_name("kelvin"), None);
    }

    #[test]
    fn units_are_named_as_on_the_command_line() {
        assert_eq!(Units::parse("metric-kmh").unwrap(), Units::MetricKmh);
        assert_eq!(Units::parse(" imperial").unwrap(), Units::Imperial);
        assert!(Units::parse("kelvin").unwrap_err().contains("kelvin"));
    }
}
