//! The `boomerang` command: parses the command line, sets up logging, runs the command.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = boomerang::cli::Cli::parse();
    boomerang::logging::init(cli.log.as_deref());
    match boomerang::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: what failed and why.
            eprintln!("boomerang: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
