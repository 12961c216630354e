//! What `meteo <command> -h` and `--help` print: a short help that fits a screen, options
//! grouped by what they talk to, the long form with the detail and the environment variables
//! that are not options. Runs the binary; touches no service.

use crate::util::{meteo, run};

const COMMANDS: [&str; 5] = ["produce", "consume", "dash", "migrate", "cities"];

fn help(args: &[&str]) -> String {
    let mut cmd = meteo();
    cmd.args(args);
    let out = run(cmd);
    out.assert_ok();
    out.stdout
}

#[test]
fn short_help_fits_a_screen_for_every_command() {
    for command in COMMANDS {
        let text = help(&[command, "-h"]);
        let lines = text.lines().count();
        assert!(lines <= 40, "meteo {command} -h is {lines} lines:\n{text}");
        // The rarely needed options wait for --help.
        assert!(!text.contains("--cassandra-tls-skip-hostname"), "{text}");
    }
}

#[test]
fn produce_help_groups_its_options_under_headings() {
    let text = help(&["produce", "-h"]);
    for heading in [
        "Weather API:",
        "Schedule:",
        "Metrics:",
        "Kafka:",
        "Cassandra:",
    ] {
        assert!(
            text.lines().any(|l| l == heading),
            "no {heading} heading:\n{text}"
        );
    }
    assert!(!text.contains("Global options"), "{text}");
}

#[test]
fn long_help_names_rust_log_and_no_color_and_the_rare_options() {
    for command in COMMANDS {
        let text = help(&[command, "--help"]);
        for needle in ["RUST_LOG", "NO_COLOR", "--cassandra-tls-skip-hostname"] {
            assert!(
                text.contains(needle),
                "meteo {command} --help lacks {needle}"
            );
        }
    }
    let text = help(&["--help"]);
    assert!(
        text.contains("RUST_LOG") && text.contains("NO_COLOR"),
        "{text}"
    );
}

#[test]
fn produce_says_what_it_does_without_a_key_in_a_whole_sentence() {
    let text = help(&["produce", "--help"]);
    assert!(
        text.contains("Without an API key (--source auto) it publishes synthetic readings"),
        "{text}"
    );
    assert!(
        !text.contains("Without an API key, synthetic readings"),
        "{text}"
    );
}
