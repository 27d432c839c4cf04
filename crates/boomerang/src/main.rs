//! The boomerang binary: command line, configuration, and the server's main loop.
#![forbid(unsafe_code)]

use clap::Parser;

/// boomerang: a web server that brings its own network stack.
#[derive(Parser, Debug)]
#[command(version, about)]
enum Cli {}

fn main() {
    let _ = Cli::parse();
}
