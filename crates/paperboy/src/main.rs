//! The `paperboy` binary: parses the command line, wires the parts, reports how it ended.
//!
//! Exit status: 0 when everything worked, 1 when some input was rejected (the rest went
//! through), 2 when the command failed. Errors print once, with their causes, as
//! `paperboy: …`.

mod cli;
mod commands;
mod context;
mod data_dir;
mod index;
mod mail;
mod progress;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use context::Settings;

/// mimalloc instead of the system allocator: records are allocated on the parsing thread and
/// freed on the writing one, a pattern glibc's allocator handles poorly (measured in
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    /// Some input was rejected; everything else was done.
    Partial,
}

impl Outcome {
    /// Partial when an import rejected something.
    fn of_import(report: &paperboy_ingest::pipeline::ImportReport) -> Self {
        if report.had_problems() {
            Outcome::Partial
        } else {
            Outcome::Success
        }
    }
}

fn main() -> ExitCode {
    name_the_core_count();
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(1),
        Err(error) => {
            eprintln!("paperboy: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Sets `RAYON_NUM_THREADS` to the logical CPUs available unless the operator set it. Without it, candle
/// counts the physical cores before every matrix product by reading `/proc/cpuinfo` (75 µs on
/// these machines, over a hundred times per query: a third of a query's embedding time). With it,
/// candle and rayon use the number given and read nothing.
fn name_the_core_count() {
    const VARIABLE: &str = "RAYON_NUM_THREADS";
    if std::env::var_os(VARIABLE).is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // SAFETY: called first thing in `main`, before any thread is started (the tokio runtime is
    // built later, in `run`; keep `main` a plain function), so nothing can read the environment
    // while it changes.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var(VARIABLE, cores.to_string());
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let settings = Settings::from(cli.global);
    let command = match cli.command {
        Command::Model { command } => return commands::model::run(&settings.model, &command),
        Command::Restore(args) => {
            return runtime.block_on(commands::restore::run(&settings, &args));
        }
        command => command,
    };
    let ctx = runtime.block_on(settings.open(command.only_reads()))?;
    let outcome = runtime.block_on(commands::run(&ctx, command));
    // Whether the command worked or not: the WAL is folded into the database file.
    runtime.block_on(ctx.store.close());
    outcome
}
