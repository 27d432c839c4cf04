//! The `boomerang` command: parses the command line, sets up logging, runs the command.
#![forbid(unsafe_code)]

use clap::Parser;

/// The server's allocator is jemalloc (docs/decisions.md, "jemalloc"): with glibc's malloc
/// the live heap stayed flat under the hour-long soak while the RSS crept up by a fifth, the
/// freed send buffers and file chunks kept in fragmented arenas; jemalloc returns pages it has
/// not reused within seconds.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's own figures, refreshed (`epoch::advance`) at each read: `/metrics` shows the
/// live heap beside what the allocator keeps resident.
fn jemalloc_stats() -> Option<boomerang_http::metrics::HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(boomerang_http::metrics::HeapStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
        retained: stats::retained::read().ok()? as u64,
    })
}

fn main() -> std::process::ExitCode {
    boomerang_http::metrics::set_heap_stats_source(jemalloc_stats);
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
