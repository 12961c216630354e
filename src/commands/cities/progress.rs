//! Download progress of `meteo cities` on stderr: a bar on a terminal, a few plain lines
//! otherwise (logs, CI).

use std::io::{self, IsTerminal};
use std::time::Instant;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::owm::source::Progress;

/// What suits stderr as it is now.
pub fn on_stderr() -> Box<dyn Progress> {
    if io::stderr().is_terminal() {
        Box::new(Bar::default())
    } else {
        Box::new(PlainLines::default())
    }
}

/// Download progress on a terminal: bytes and total when known, rate, time left.
#[derive(Default)]
struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn started(&mut self, url: &str, total: Option<u64>) {
        let template = match total {
            Some(_) => "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
            None => "{msg} {spinner} {bytes} {bytes_per_sec}",
        };
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!("downloading {url}"));
        self.0 = Some(bar);
    }

    fn advanced(&mut self, done: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(done);
        }
    }

    fn finished(&mut self, done: u64) {
        if let Some(bar) = self.0.take() {
            bar.set_position(done);
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // An error mid-download: clear the bar so the error line stands alone.
        if let Some(bar) = self.0.take() {
            bar.abandon();
        }
    }
}

/// Download progress for logs (stderr not a terminal): a line at the start, at each quarter
/// (or every 10 MB when the size is unknown), and at the end.
#[derive(Default)]
struct PlainLines {
    total: Option<u64>,
    next_report: u64,
    started: Option<Instant>,
}

const PLAIN_STEP_UNKNOWN_SIZE: u64 = 10 * 1024 * 1024;

impl PlainLines {
    fn step(&self) -> u64 {
        self.total
            .map_or(PLAIN_STEP_UNKNOWN_SIZE, |t| (t / 4).max(1))
    }

    /// The line to print when `done` bytes have arrived, if one is due.
    fn line_at(&mut self, done: u64) -> Option<String> {
        if done < self.next_report || self.total.is_some_and(|t| done >= t) {
            return None;
        }
        while self.next_report <= done {
            self.next_report += self.step();
        }
        Some(match self.total {
            Some(total) => format!(
                "meteo: downloaded {} of {} ({}%)",
                HumanBytes(done),
                HumanBytes(total),
                done * 100 / total.max(1)
            ),
            None => format!("meteo: downloaded {}", HumanBytes(done)),
        })
    }
}

impl Progress for PlainLines {
    fn started(&mut self, url: &str, total: Option<u64>) {
        self.total = total;
        self.started = Some(Instant::now());
        self.next_report = self.step();
        match total {
            Some(total) => eprintln!("meteo: downloading {url} ({})", HumanBytes(total)),
            None => eprintln!("meteo: downloading {url} (size not given)"),
        }
    }

    fn advanced(&mut self, done: u64) {
        if let Some(line) = self.line_at(done) {
            eprintln!("{line}");
        }
    }

    fn finished(&mut self, done: u64) {
        let seconds = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        eprintln!("meteo: downloaded {} in {seconds:.1} s", HumanBytes(done));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(total: Option<u64>, steps: &[u64]) -> Vec<String> {
        let mut plain = PlainLines {
            total,
            ..PlainLines::default()
        };
        plain.next_report = plain.step();
        steps
            .iter()
            .filter_map(|&done| plain.line_at(done))
            .collect()
    }

    #[test]
    fn plain_lines_come_once_a_quarter_and_not_at_the_end() {
        let steps: Vec<u64> = (1..=100).map(|i| i * 10).collect();
        assert_eq!(
            lines(Some(1000), &steps),
            [
                "meteo: downloaded 250 B of 1000 B (25%)",
                "meteo: downloaded 500 B of 1000 B (50%)",
                "meteo: downloaded 750 B of 1000 B (75%)",
            ]
        );
    }

    #[test]
    fn a_big_read_skips_the_quarters_it_jumped_over() {
        assert_eq!(
            lines(Some(1000), &[10, 800, 900]),
            ["meteo: downloaded 800 B of 1000 B (80%)"]
        );
    }

    #[test]
    fn without_a_size_a_line_comes_every_10_mb() {
        let mb = 1024 * 1024;
        let got = lines(None, &[5 * mb, 10 * mb, 15 * mb, 25 * mb]);
        assert_eq!(
            got,
            ["meteo: downloaded 10.00 MiB", "meteo: downloaded 25.00 MiB"]
        );
    }
}
