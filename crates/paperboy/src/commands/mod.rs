//! One module per subcommand (or group of subcommands), laid out like the command tree; each
//! has a `run` that takes its flags as values and what it needs from the [`Context`].

pub(crate) mod backup;
pub(crate) mod bench;
pub(crate) mod check;
pub(crate) mod demo;
pub(crate) mod digest;
pub(crate) mod eval;
pub(crate) mod export;
pub(crate) mod harvest;
pub(crate) mod import;
pub(crate) mod model;
pub(crate) mod papers;
pub(crate) mod restore;
pub(crate) mod search;
pub(crate) mod serve;
pub(crate) mod store;
pub(crate) mod subscribers;
pub(crate) mod users;

use crate::Outcome;
use crate::cli::Command;
use crate::context::Context;
use crate::index;

/// Runs a command that uses the store (all but `model` and `restore`, which `main` runs before
/// the store is opened).
pub(crate) async fn run(ctx: &Context, command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Import(args) => import::run(ctx, &args).await,
        Command::Demo(indexing) => demo::run(ctx, &indexing).await,
        Command::Export(args) => export::run(ctx.store(), &args).await,
        Command::Papers { command } => papers::run(ctx.store(), &command).await,
        Command::Reindex => index::rebuild(ctx).await,
        Command::Serve(args) => serve::run(ctx, args).await,
        Command::Harvest { command } => harvest::run(ctx, &command).await,
        Command::Digest { command } => digest::run(ctx, &command).await,
        Command::Subscribers { command } => subscribers::run(ctx.store(), &command).await,
        Command::Users { command } => users::run(ctx, &command).await,
        Command::Search(args) => search::search(ctx, &args).await,
        Command::Similar(args) => search::similar(ctx, &args).await,
        Command::Eval { command } => eval::run(ctx, &command).await,
        Command::Bench { command } => bench::run(ctx, &command).await,
        Command::Backup(args) => backup::run(ctx.store(), &args).await,
        Command::Check(args) => check::run(ctx, &args).await,
        Command::Store { command } => store::run(ctx, command).await,
        Command::Model { .. } | Command::Restore(_) => {
            unreachable!("handled before the store is opened")
        }
    }
}
