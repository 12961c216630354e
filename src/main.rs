//! The `meteo` binary: parse the command line, run it, map the result to an exit code.
#![deny(clippy::unwrap_used, clippy::expect_used)]

fn main() -> std::process::ExitCode {
    meteo::cli::main()
}
