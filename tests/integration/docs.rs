//! The docs against the command line's own definition (`Cli::command()`): docs/cli.md is what
//! `meteo docs` writes from it, and every environment variable meteo reads is named in the
//! hand-written docs/configuration.md, where a table's default in backquotes is clap's. (docs/metrics.md is checked
//! against what the commands serve, in metrics.rs.) Touches no service.

use clap::CommandFactory;
use meteo::cli::Cli;

use crate::util::repo;

/// An environment variable clap reads, and its default as clap would print it.
struct EnvArg {
    var: String,
    default: Option<String>,
}

/// Every visible argument with a variable, global or of a visible subcommand.
fn env_args() -> Vec<EnvArg> {
    let cli = Cli::command();
    let commands = std::iter::once(&cli).chain(cli.get_subcommands().filter(|c| !c.is_hide_set()));
    let mut args = Vec::new();
    for command in commands {
        for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
            let Some(var) = arg.get_env() else { continue };
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            args.push(EnvArg {
                var: var.to_string_lossy().into_owned(),
                default: (!defaults.is_empty()).then(|| defaults.join(",")),
            });
        }
    }
    args
}

/// The rows of every table in `text` whose `column` (0-based) holds exactly one variable in
/// backquotes: that variable and the row's default cell (`default_column`), when that cell is
/// one value in backquotes.
fn table_defaults(
    text: &str,
    column: usize,
    default_column: usize,
) -> Vec<(String, Option<String>)> {
    let single = |cell: &str| {
        let cell = cell.trim();
        let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
        (!inner.contains('`')).then(|| inner.to_string())
    };
    text.lines()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            let var = single(cells.get(column)?)?;
            Some((var, cells.get(default_column).and_then(|c| single(c))))
        })
        .collect()
}

fn read(doc: &str) -> String {
    std::fs::read_to_string(repo().join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"))
}

/// Where `doc`'s tables contradict clap: a variable whose default cell, one value in
/// backquotes, is not clap's default.
fn drift(doc: &str, var_column: usize, default_column: usize) -> Vec<String> {
    let text = read(doc);
    let rows = table_defaults(&text, var_column, default_column);
    let mut problems = Vec::new();
    for arg in env_args() {
        for (var, documented) in &rows {
            if var != &arg.var {
                continue;
            }
            if let (Some(documented), Some(default)) = (documented, &arg.default) {
                if documented != default {
                    problems.push(format!(
                        "{doc}: {var} defaults to `{default}`, the table says `{documented}`"
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn cli_md_is_what_meteo_docs_writes() {
    let mut cmd = crate::util::meteo();
    cmd.args(["docs", "--out", "-"]);
    let out = crate::util::run(cmd);
    out.assert_ok();
    let committed = read("docs/cli.md");
    if committed != out.stdout {
        let line = committed
            .lines()
            .zip(out.stdout.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(out.stdout.lines().count()));
        panic!(
            "docs/cli.md differs from what the binary says (first at line {}): run `cargo run -- \
             docs` to regenerate it\n  committed: {:?}\n  generated: {:?}",
            line + 1,
            committed.lines().nth(line).unwrap_or("<end>"),
            out.stdout.lines().nth(line).unwrap_or("<end>"),
        );
    }
    for arg in env_args() {
        assert!(
            committed.contains(&format!("`{}`", arg.var)),
            "docs/cli.md lacks {}",
            arg.var
        );
    }
}

/// The hand-written pages link the generated reference instead of copying it: each command's
/// section of configuration.md points at its section of cli.md, which exists, and no table
/// left in them contradicts a default.
#[test]
fn configuration_md_links_each_commands_reference_and_no_table_contradicts_clap() {
    let configuration = read("docs/configuration.md");
    let reference = read("docs/cli.md");
    let cli = Cli::command();
    for command in cli.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = command.get_name();
        let link = format!("(cli.md#meteo-{name})");
        assert!(
            configuration.contains(&link),
            "docs/configuration.md does not link {link}"
        );
        assert!(
            reference.contains(&format!("\n## meteo {name}\n")),
            "docs/cli.md has no section for meteo {name}"
        );
    }
    let mut problems = drift("docs/configuration.md", 1, 2);
    problems.extend(drift("docs/design.md", 0, 1));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_table_reader_sees_a_wrong_default_and_a_missing_variable() {
    let rows = table_defaults(
        "| `METEO_DOWNLOAD_TIMEOUT` | `--timeout` (seconds) | `30` | cities |\n\
         | `A`, `B` | | `1` | |\n",
        0,
        2,
    );
    assert_eq!(
        rows,
        [("METEO_DOWNLOAD_TIMEOUT".to_string(), Some("30".to_string()))]
    );
    let download = env_args()
        .into_iter()
        .find(|a| a.var == "METEO_DOWNLOAD_TIMEOUT")
        .expect("cities --timeout reads METEO_DOWNLOAD_TIMEOUT");
    assert_eq!(download.default.as_deref(), Some("30s"));
    assert!(env_args().iter().any(|a| a.var == "METEO_KAFKA_CONFIG"));
}

/// Rows cut off from their table: a `|` line after a non-table line that is not a table's
/// header (a header is followed by its `| --- |` line). Markdown shows such a row as text.
fn stray_rows(text: &str) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let is_row = |line: &str| line.starts_with('|');
    let is_separator = |line: &str| line.starts_with("| ---") || line.starts_with("|---");
    (0..lines.len())
        .filter(|&i| is_row(lines[i]) && (i == 0 || !is_row(lines[i - 1])))
        .filter(|&i| !lines.get(i + 1).is_some_and(|next| is_separator(next)))
        .map(|i| i + 1)
        .collect()
}

#[test]
fn no_table_row_is_cut_off_from_its_table() {
    let mut docs = vec![repo().join("README.md")];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        docs.push(entry.unwrap().path());
    }
    let mut problems = Vec::new();
    for doc in docs
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(doc).unwrap();
        for line in stray_rows(&text) {
            problems.push(format!(
                "{}:{line}: a table row outside any table",
                doc.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        stray_rows("| a | b |\n| --- | --- |\n| 1 | 2 |\n\nA paragraph.\n| 3 | 4 |\n"),
        [6]
    );
}
