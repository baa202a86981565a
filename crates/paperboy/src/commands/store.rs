//! `paperboy store copy`: moving the whole store to another database (the SQLite file to
//! PostgreSQL when a site scales out), with a progress bar, resumable, checked by counts.

use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use paperboy_store::copy::{CopyProgress, copy_store};
use paperboy_store::{Access, redact_password};

use crate::Outcome;
use crate::cli::{StoreCommand, StoreCopyArgs};
use crate::context::Context;
use crate::progress::draw_target;

pub(crate) async fn run(ctx: &Context, command: StoreCommand) -> anyhow::Result<Outcome> {
    match command {
        StoreCommand::Copy(args) => copy(ctx, &args).await,
    }
}

async fn copy(ctx: &Context, args: &StoreCopyArgs) -> anyhow::Result<Outcome> {
    let target_name = redact_password(&args.to);
    let target = paperboy_store::open_with_options(&args.to, Access::ReadWrite, ctx.postgres)
        .await
        .with_context(|| format!("cannot open the target database {target_name}"))?;
    let started = Instant::now();
    let progress = BarProgress::new();
    let copied = copy_store(ctx.store(), target.as_ref(), &ctx.database_name, &progress).await;
    progress.bar.finish_and_clear();
    target.close().await;
    let report = copied.with_context(|| format!("cannot copy the store into {target_name}"))?;
    let rows: u64 = report.tables.iter().map(|(_, rows)| rows).sum();
    eprintln!(
        "{} the store into {target_name} in {:.1} s: {rows} rows in {} tables, every count equal.",
        if report.resumed {
            "Finished copying"
        } else {
            "Copied"
        },
        started.elapsed().as_secs_f64(),
        report.tables.len(),
    );
    for (table, rows) in &report.tables {
        eprintln!("  {table}: {rows}");
    }
    Ok(Outcome::Success)
}

/// One bar over all rows; the table being copied is its message. Where stderr is not a
/// terminal, one line per table instead.
struct BarProgress {
    bar: ProgressBar,
}

impl BarProgress {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), draw_target());
        bar.set_style(
            ProgressStyle::with_template("{msg:20} [{bar:30}] {pos}/{len} rows ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        BarProgress { bar }
    }
}

impl CopyProgress for BarProgress {
    fn table(&self, name: &str, rows: u64, already: u64) {
        self.bar.set_length(rows);
        self.bar.set_position(already.min(rows));
        self.bar.set_message(name.to_owned());
        if self.bar.is_hidden() {
            eprintln!("Copying {name}: {rows} rows ({already} there already).");
        }
    }

    fn copied(&self, rows: u64) {
        self.bar.inc(rows);
    }
}
