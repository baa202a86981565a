//! `paperboy export`: every paper as Paperboy JSON lines, in id order, streamed from the store.
//! A file is written under a temporary name and renamed at the end, so an interrupted export
//! never leaves a truncated file behind.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::Context as _;
use flate2::Compression;
use flate2::write::GzEncoder;
use paperboy_ingest::export::write_record;
use paperboy_store::{Store, for_each_paper};

use crate::Outcome;
use crate::cli::ExportArgs;

pub(crate) async fn run(store: &dyn Store, args: &ExportArgs) -> anyhow::Result<Outcome> {
    let Some(path) = args.output.as_deref() else {
        let stdout = io::stdout().lock();
        let mut writer = BufWriter::new(stdout);
        write_all(store, &mut writer).await?;
        writer.flush()?;
        return Ok(Outcome::Success);
    };
    let file_name = path
        .file_name()
        .context("the output path has no file name")?;
    let temporary = path.with_file_name(format!(".{}.partial", file_name.to_string_lossy()));
    let file = File::create(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    let count = if path.extension().is_some_and(|extension| extension == "gz") {
        let mut writer = GzEncoder::new(BufWriter::new(file), Compression::default());
        let count = write_all(store, &mut writer).await?;
        writer.finish()?.flush()?;
        count
    } else {
        let mut writer = BufWriter::new(file);
        let count = write_all(store, &mut writer).await?;
        writer.flush()?;
        count
    };
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("Exported {count} papers to {}.", path.display());
    Ok(Outcome::Success)
}

async fn write_all(store: &dyn Store, writer: &mut impl Write) -> anyhow::Result<u64> {
    let mut count = 0;
    for_each_paper(store, |paper| -> anyhow::Result<()> {
        write_record(writer, &paper.record)?;
        count += 1;
        Ok(())
    })
    .await?;
    Ok(count)
}
