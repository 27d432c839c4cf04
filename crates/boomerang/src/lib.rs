//! The boomerang binary's library: command line, configuration, the server runtimes (kernel
//! sockets and the userspace stack on AF_XDP), the demo, metrics and the load generator.
//!
//! `main.rs` only parses the command line and calls [`run`]; everything else lives here so
//! the integration tests and the comparison harness (`bench/compare`) reuse the same code.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod demo;
pub mod device_io;
pub mod harness;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod os;
pub mod preflight;
pub mod serve;
pub mod signals;

use cli::{Cli, Command};

/// Runs one parsed command line to completion; the process exit code follows the result.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = config::ServeSettings::resolve(&args)?;
            let stop = signals::stop_flag()?;
            serve::run(&settings, stop)
        }
        Command::Demo(args) => demo::run(&args),
        Command::Load(args) => {
            let opts = load::LoadOptions::from_args(&args)?;
            let report = load::run(&opts, load::Progress::Stderr)?;
            print!("{}", report.render());
            Ok(())
        }
    }
}
