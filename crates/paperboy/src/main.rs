//! The `paperboy` binary: parses the command line, wires the parts, reports how it ended.
//!
//! Exit status: 0 when everything worked, 1 when some input was rejected (the rest went
//! through), 2 when the command failed. Errors print once, with their causes, as
//! `paperboy: …`.

mod bench;
mod cli;
mod demo;
mod digest;
mod eval;
mod export;
mod for_you_eval;
mod harvest;
mod import;
mod model;
mod operations;
mod papers;
mod replay;
mod search;
mod serve;
mod users;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use paperboy_store::Store;

use cli::{
    BenchCommand, Cli, Command, DigestCommand, EvalCommand, HarvestCommand, ModelCommand,
    PapersCommand, SubscribersCommand,
};

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
    if let Command::Model {
        command: ModelCommand::Fetch,
    } = &cli.command
    {
        return model::fetch(&cli);
    }
    if let Command::Restore { file } = &cli.command {
        return runtime.block_on(operations::restore(&cli, file));
    }
    let store: Arc<dyn Store> = Arc::from(runtime.block_on(operations::open_store(&cli))?);
    let closing = Arc::clone(&store);
    let outcome = runtime.block_on(async {
        let outcome = match cli.command {
            Command::Import {
                ref paths,
                ref indexing,
            } => {
                let report = import::run(&*store, paths).await?;
                search::index_after_import(&*store, &cli, report.summary.changed(), indexing)
                    .await?;
                Outcome::of_import(&report)
            }
            Command::Demo { ref indexing } => {
                let report = demo::run(&*store).await?;
                search::index_after_import(&*store, &cli, report.summary.changed(), indexing)
                    .await?;
                demo::show_newest(&*store).await?;
                Outcome::of_import(&report)
            }
            Command::Export { output } => export::run(&*store, output.as_deref()).await?,
            Command::Papers { command } => match command {
                PapersCommand::List(args) => papers::list(&*store, &args).await?,
                PapersCommand::Show { id, json } => papers::show(&*store, &id, json).await?,
            },
            Command::Bench {
                command:
                    BenchCommand::Digest {
                        subscribers,
                        topics,
                        ref mail,
                    },
            } => bench::digest(&*store, &cli, subscribers, topics, mail).await?,
            Command::Bench {
                command: BenchCommand::Embed { count },
            } => bench::embed(&*store, cli.model()?, count).await?,
            Command::Bench {
                command: BenchCommand::Search { ref queries, count },
            } => bench::search(&*store, &cli, queries, count).await?,
            Command::Reindex => search::reindex(&*store, cli.model()?, &cli.data_dir).await?,
            Command::Serve {
                listen,
                ref site,
                ref mail,
                ref harvest,
            } => serve::run(Arc::clone(&store), &cli, listen, site, mail, harvest).await?,
            Command::Harvest {
                command: HarvestCommand::Arxiv(ref args),
            } => harvest::arxiv(&*store, &cli, args).await?,
            Command::Harvest {
                command:
                    HarvestCommand::Hf {
                        date,
                        days_before,
                        ref base_url,
                        pause,
                        ref indexing,
                    },
            } => {
                harvest::hugging_face(&*store, &cli, date, days_before, base_url, pause, indexing)
                    .await?
            }
            Command::Digest {
                command:
                    DigestCommand::Preview {
                        ref email,
                        date,
                        ref mail,
                    },
            } => digest::preview(&*store, &cli, email, date, mail).await?,
            Command::Digest {
                command:
                    DigestCommand::Run {
                        date,
                        queue_only,
                        ref mail,
                    },
            } => digest::run(&*store, &cli, date, queue_only, mail).await?,
            Command::Subscribers {
                command: SubscribersCommand::List { json },
            } => digest::list_subscribers(&*store, json).await?,
            Command::Subscribers {
                command: SubscribersCommand::Remove { ref email },
            } => digest::remove_subscriber(&*store, email).await?,
            Command::Users { ref command } => users::run(&*store, command).await?,
            Command::Similar(ref args) => search::similar(&*store, &cli, args).await?,
            Command::Search(ref args) => search::search(&*store, &cli, args).await?,
            Command::Eval {
                command:
                    EvalCommand::Scifact {
                        ref path,
                        ref split,
                        mode,
                        tune,
                    },
            } => eval::scifact(&cli, path, split, mode, tune).await?,
            Command::Eval {
                command: EvalCommand::Csfcube { ref path, mode },
            } => eval::csfcube(&cli, path, mode).await?,
            Command::Eval {
                command: EvalCommand::Trending { ref path },
            } => replay::trending(path).await?,
            Command::Eval {
                command: EvalCommand::ForYou { ref path },
            } => for_you_eval::for_you(&cli, path).await?,
            Command::Backup { ref file } => operations::backup(&*store, file).await?,
            Command::Check { sample } => operations::check(&*store, &cli, sample).await?,
            Command::Model { .. } | Command::Restore { .. } => {
                unreachable!("handled before the store is opened")
            }
        };
        Ok(outcome)
    });
    // Whether the command worked or not: the WAL is folded into the database file.
    runtime.block_on(closing.close());
    outcome
}
