//! From files to the store: parse on a blocking thread, write batches on the async side.
//!
//! Parsing and writing overlap (a bounded channel of two batches between them keeps memory
//! flat). Each batch is one store transaction, so an import killed at any moment leaves whole
//! papers only, and running it again completes it. Bad records and broken files are reported to
//! an [`ImportObserver`] and counted; only a store failure stops the import.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use paperboy_core::PaperRecord;
use paperboy_store::{Store, StoreError, UpsertSummary};

use crate::{FileError, Format, Item, RecordError, expand_paths, read_file, read_stream};

/// Records per store transaction.
pub const BATCH_SIZE: usize = 5_000;

/// How one file went.
#[derive(Debug, Default, Clone)]
pub struct FileReport {
    pub format: Option<Format>,
    pub summary: UpsertSummary,
    pub rejected: u64,
    /// Why the file ended early or could not be read at all.
    pub error: Option<String>,
}

/// How an import went, over all files.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub files: u64,
    /// Files that could not be read, or ended early.
    pub failed_files: u64,
    /// Files in folders left out for their extension.
    pub skipped_files: Vec<PathBuf>,
    pub summary: UpsertSummary,
    /// Records rejected as malformed.
    pub rejected: u64,
}

impl ImportReport {
    /// Whether anything was rejected or failed.
    pub fn had_problems(&self) -> bool {
        self.rejected > 0 || self.failed_files > 0
    }

    /// Counts one more file.
    pub fn add(&mut self, report: &FileReport) {
        self.files += 1;
        self.summary += report.summary;
        self.rejected += report.rejected;
        if report.error.is_some() {
            self.failed_files += 1;
        }
    }
}

/// Hears about an import as it goes (a progress bar, a log).
pub trait ImportObserver: Send + Sync {
    /// A file of `size` bytes (0 when unknown) is about to be read.
    fn file_started(&self, _name: &str, _size: u64) {}
    /// `bytes` of the current file have been read and their records written.
    fn progress(&self, _bytes: u64) {}
    fn rejected(&self, _name: &str, _error: &RecordError) {}
    fn file_finished(&self, _name: &str, _report: &FileReport) {}
}

/// An observer that ignores everything.
#[derive(Debug)]
pub struct Quiet;

impl ImportObserver for Quiet {}

/// Imports files and folders (see [`expand_paths`]).
pub async fn import_paths(
    store: &dyn Store,
    paths: &[PathBuf],
    observer: Arc<dyn ImportObserver>,
) -> Result<ImportReport, StoreError> {
    let expanded = expand_paths(paths);
    let mut report = ImportReport {
        skipped_files: expanded.skipped,
        ..ImportReport::default()
    };
    for (path, error) in expanded.problems {
        let name = path.display().to_string();
        let file = FileReport {
            error: Some(FileError::Open(error).to_string()),
            ..FileReport::default()
        };
        observer.file_finished(&name, &file);
        report.add(&file);
    }
    for path in expanded.files {
        let file = import_file(store, &path, Arc::clone(&observer)).await?;
        report.add(&file);
    }
    Ok(report)
}

/// Imports one file.
pub async fn import_file(
    store: &dyn Store,
    path: &Path,
    observer: Arc<dyn ImportObserver>,
) -> Result<FileReport, StoreError> {
    let name = path.display().to_string();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let path = path.to_path_buf();
    import_with(store, name, size, observer, move |bytes, sink| {
        read_file(&path, bytes, sink)
    })
    .await
}

/// Imports a stream (embedded data, an HTTP body); `name` is used as a file name would be.
pub async fn import_stream<R: std::io::Read + Send + 'static>(
    store: &dyn Store,
    name: &str,
    size: u64,
    stream: R,
    observer: Arc<dyn ImportObserver>,
) -> Result<FileReport, StoreError> {
    let file_name = name.to_owned();
    import_with(
        store,
        name.to_owned(),
        size,
        observer,
        move |bytes, sink| read_stream(&file_name, stream, bytes, sink),
    )
    .await
}

async fn import_with<F>(
    store: &dyn Store,
    name: String,
    size: u64,
    observer: Arc<dyn ImportObserver>,
    read: F,
) -> Result<FileReport, StoreError>
where
    F: FnOnce(Arc<AtomicU64>, &mut crate::Sink<'_>) -> Result<Format, FileError> + Send + 'static,
{
    observer.file_started(&name, size);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (batches, mut incoming) = tokio::sync::mpsc::channel::<Vec<PaperRecord>>(2);

    let parser = {
        let bytes_read = Arc::clone(&bytes_read);
        let observer = Arc::clone(&observer);
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(BATCH_SIZE);
            let mut rejected = 0u64;
            let outcome = read(bytes_read, &mut |item| {
                match item {
                    Item::Record { record, .. } => {
                        batch.push(*record);
                        if batch.len() >= BATCH_SIZE {
                            let full =
                                std::mem::replace(&mut batch, Vec::with_capacity(BATCH_SIZE));
                            if batches.blocking_send(full).is_err() {
                                return ControlFlow::Break(());
                            }
                        }
                    }
                    Item::Rejected(error) => {
                        rejected += 1;
                        observer.rejected(&name, &error);
                    }
                }
                ControlFlow::Continue(())
            });
            if !batch.is_empty() {
                // The receiver is gone only when the store failed; that error is reported.
                let _ = batches.blocking_send(batch);
            }
            (outcome, rejected)
        })
    };

    let mut summary = UpsertSummary::default();
    let mut store_error = None;
    while let Some(batch) = incoming.recv().await {
        match store.upsert_papers(batch).await {
            Ok(written) => {
                summary += written;
                observer.progress(bytes_read.load(Ordering::Relaxed));
            }
            Err(error) => {
                store_error = Some(error);
                break;
            }
        }
    }
    drop(incoming);
    let (outcome, rejected) = match parser.await {
        Ok(result) => result,
        // A parser panic is a bug, not bad input: let it surface as one.
        Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
    };
    if let Some(error) = store_error {
        return Err(error);
    }
    let report = FileReport {
        format: outcome.as_ref().ok().copied(),
        summary,
        rejected,
        error: outcome.err().map(|error| error.to_string()),
    };
    observer.file_finished(&name, &report);
    Ok(report)
}
