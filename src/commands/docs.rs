//! `meteo docs` (hidden): the command-line reference, docs/cli.md, written from the clap
//! definition itself, so the options, variables and defaults in the docs cannot drift from what
//! `--help` says (a test compares the committed file with this output). Takes the definition
//! as a `clap::Command`: it never imports `cli`, which sits above it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

/// Where `meteo docs` writes by default, from the repository's root.
pub const DEFAULT_OUT: &str = "docs/cli.md";

/// Writes the reference to `out` ("-": stdout) through a temporary file renamed into place,
/// so an interrupted run leaves the old file whole.
pub fn run(command: &clap::Command, out: &Path) -> anyhow::Result<()> {
    let text = reference(command);
    if out == Path::new("-") {
        print!("{text}");
        return Ok(());
    }
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    file.persist(out)
        .with_context(|| format!("renaming into {}", out.display()))?;
    eprintln!("meteo: wrote {}", out.display());
    Ok(())
}

/// The whole reference in Markdown: the options every command takes, then each visible
/// command with its description, usage and options, grouped under their help headings.
pub fn reference(command: &clap::Command) -> String {
    let name = command.get_name();
    let mut md = String::new();
    let _ = writeln!(md, "# Command-line reference\n");
    let _ = writeln!(
        md,
        "<!-- Written by `{name} docs` from the command line's definition: do not edit. \
         A test fails when it differs from what the binary says; run `cargo run -- docs` \
         to write it again. -->\n"
    );
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        let _ = writeln!(md, "{}\n", about.to_string().trim());
    }
    let _ = writeln!(
        md,
        "Every option can be set by its environment variable instead; an option given on \
         the command line wins. The options of the first table go before or after the \
         command's name.\n"
    );
    let _ = writeln!(md, "## Options every command takes\n");
    options(&mut md, command, "###");
    if let Some(after) = command.get_after_long_help().or(command.get_after_help()) {
        let _ = writeln!(md, "{}\n", after.to_string().trim());
    }
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        let _ = writeln!(md, "## {name} {}\n", sub.get_name());
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            let _ = writeln!(md, "{}\n", about.to_string().trim());
        }
        let _ = writeln!(md, "Usage: `{name} {} [OPTIONS]`\n", sub.get_name());
        options(&mut md, sub, "###");
    }
    // One final line break, whatever the last section ended with.
    let trimmed = md.trim_end().len();
    md.truncate(trimmed);
    md.push('\n');
    md
}

/// One table per help heading, in the order the headings first appear.
fn options(md: &mut String, command: &clap::Command, level: &str) {
    let args: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .collect();
    let mut headings: Vec<Option<&str>> = Vec::new();
    for arg in &args {
        if !headings.contains(&arg.get_help_heading()) {
            headings.push(arg.get_help_heading());
        }
    }
    for heading in headings {
        let _ = writeln!(md, "{level} {}\n", heading.unwrap_or("Options"));
        let _ = writeln!(md, "| option | variable | default | meaning |");
        let _ = writeln!(md, "| --- | --- | --- | --- |");
        for arg in args.iter().filter(|a| a.get_help_heading() == heading) {
            let _ = writeln!(md, "{}", row(arg));
        }
        md.push('\n');
    }
}

fn row(arg: &clap::Arg) -> String {
    let mut option = match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => arg.get_id().to_string(),
    };
    if arg.get_action().takes_values() {
        let names: Vec<String> = arg
            .get_value_names()
            .map(|names| names.iter().map(|n| n.to_string()).collect())
            .unwrap_or_else(|| vec![arg.get_id().to_string().to_uppercase()]);
        let _ = write!(option, " <{}>", names.join(" "));
    }
    let var = arg
        .get_env()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .unwrap_or_default();
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let default = if defaults.is_empty() {
        String::new()
    } else {
        format!("`{}`", defaults.join(","))
    };
    let mut meaning = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(help) => format!("`{}` ({help})", v.get_name()),
            None => format!("`{}`", v.get_name()),
        })
        .collect();
    // A flag's possible values are true and false: nothing worth saying.
    if !possible.is_empty() && arg.get_action().takes_values() {
        let _ = write!(meaning, " One of: {}.", possible.join(", "));
    }
    format!(
        "| `{}` | {var} | {} | {} |",
        cell(&option),
        cell(&default),
        cell(&meaning)
    )
}

/// A table cell is one line, and a `|` in it would end the cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn sample() -> Command {
        Command::new("tool")
            .about("Does a thing.")
            .after_help("Environment: RUST_LOG sets the log level.")
            .arg(
                Arg::new("brokers")
                    .long("brokers")
                    .env("TOOL_BROKERS")
                    .default_value("localhost:9092")
                    .help("Brokers, a|b")
                    .help_heading("Kafka")
                    .global(true),
            )
            .subcommand(
                Command::new("run")
                    .about("Runs.")
                    .arg(
                        Arg::new("once")
                            .long("once")
                            .action(ArgAction::SetTrue)
                            .help("One pass.\n\nThen exit."),
                    )
                    .arg(Arg::new("secret").long("secret").hide(true)),
            )
            .subcommand(Command::new("hidden").hide(true))
    }

    #[test]
    fn every_visible_option_is_a_row_with_its_variable_and_default() {
        let md = reference(&sample());
        assert!(md.contains("### Kafka\n"), "{md}");
        assert!(
            md.contains(
                "| `--brokers <BROKERS>` | `TOOL_BROKERS` | `localhost:9092` | Brokers, a\\|b |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| `--once` |  |  | One pass. Then exit. |"),
            "{md}"
        );
        assert!(md.contains("## tool run\n\nRuns."), "{md}");
        assert!(md.contains("RUST_LOG"), "{md}");
        assert!(
            !md.contains("--secret") && !md.contains("tool hidden"),
            "{md}"
        );
        assert!(md.ends_with("|\n"), "{md:?}");
    }
}
