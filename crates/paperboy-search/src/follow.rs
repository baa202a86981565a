//! Following the store: a node's search index catches up with the papers any node or command
//! stores, changes, hides or shows, without being rebuilt.
//!
//! The store numbers every change to a paper in commit order
//! ([`PaperStore::paper_changes_after`](paperboy_store::PaperStore::paper_changes_after)). An
//! index folder records the last change it holds (written by
//! [`build_search_index`](crate::indexing::build_search_index) and after each catch-up).
//! Catching up reads the changes after it, takes each changed paper's embeddings from the store
//! (a node never embeds what the store holds) and derives a new index with those papers in place
//! of their earlier versions ([`SearchIndex::with_papers`]): the keyword index changes in place;
//! the vectors and sentences are segments, a mapped base file shared by every index derived
//! from it and a small delta of changed papers (copied, and saved beside the base), which is
//! compacted into a new base file once it has grown ([`crate::vectors`]). The parts are saved
//! and the number of the last change applied is written last, so a crash at any moment only
//! means that some changes are applied again, which changes nothing.
//!
//! A changed paper whose embeddings are not stored yet (an import embeds after it stores, and
//! `--no-index` not at all) waits: it is looked up again at each catch-up, and once it has
//! waited [`GRACE`], a follower given an embedder (the node running the schedules) embeds it
//! and stores the result, for every node. Hidden papers stay in the index like the others:
//! every list and search page leaves them out when it loads papers from the store.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paperboy_core::{Paper, PaperId};
use paperboy_store::Store;

use crate::embedder::Embedder;
use crate::indexing::{IndexError, Silent, embed_cached, read_changes, stored_embeddings};
use crate::searcher::{SearchIndex, off_async_threads};

/// How long a changed paper waits for its embeddings to be stored by whoever stored it before
/// the node running the schedules embeds it itself.
pub const GRACE: Duration = Duration::from_secs(60);

/// Changes read from the store at a time.
const PAGE: u32 = 2_000;
/// Papers applied in one catch-up at most; the rest come at the next.
const MAX_PAPERS: usize = 20_000;
/// While papers keep coming (an import being embedded), the index is written to its folder at
/// most this often; when nothing waits, at once. A node restarted in between applies the last
/// changes again from the store.
const SAVE_EVERY: Duration = Duration::from_secs(30);

/// A paper seen changed whose embeddings are not stored yet.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    since: Instant,
    /// The number of the change it was seen in.
    seq: i64,
}

/// What one catch-up did.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// The index to answer with from now on, when anything changed.
    pub index: Option<SearchIndex>,
    /// Papers put in the index.
    pub applied: usize,
    /// Papers embedded by this node.
    pub embedded: u64,
    /// Papers still waiting for their embeddings.
    pub waiting: usize,
    /// The index folder was replaced under the follower (a rebuild by another command), and
    /// `index` is the one read from it now.
    pub reopened: bool,
}

/// Keeps the index in one folder up to date with the store (see the module docs).
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    /// The last change the index holds (papers waiting aside).
    applied: i64,
    waiting: HashMap<PaperId, Waiting>,
    /// The folder's inode when it was opened: a rebuild swaps in another folder.
    folder: Option<u64>,
    grace: Duration,
    /// When the index was last written to its folder.
    saved: Option<Instant>,
}

fn inode(dir: &Path) -> Option<u64> {
    std::fs::metadata(dir).ok().map(|metadata| metadata.ino())
}

impl Follower {
    /// Follows the index in `dir`, from the last change it records.
    pub fn new(dir: &Path) -> Self {
        Follower {
            dir: dir.to_path_buf(),
            applied: read_changes(dir),
            waiting: HashMap::new(),
            folder: inode(dir),
            grace: GRACE,
            saved: None,
        }
    }

    /// Waits `grace` instead of [`GRACE`] before embedding a paper itself.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The last change the index holds.
    pub fn applied(&self) -> i64 {
        self.applied
    }

    /// Applies to `current` the changes stored since the last catch-up (see the module docs);
    /// `embedder` is given to the node that embeds papers nobody embedded.
    pub async fn catch_up(
        &mut self,
        store: &dyn Store,
        current: &Arc<SearchIndex>,
        embedder: Option<&Arc<Embedder>>,
    ) -> Result<CatchUp, IndexError> {
        if inode(&self.dir) != self.folder {
            let dir = self.dir.clone();
            let reopened = {
                let dir = dir.clone();
                off_async_threads(move || SearchIndex::open(&dir)).await?
            };
            *self = Follower::new(&dir).with_grace(self.grace);
            return Ok(CatchUp {
                index: Some(reopened),
                reopened: true,
                ..CatchUp::default()
            });
        }
        let now = Instant::now();
        let mut changed: HashMap<PaperId, (i64, Paper)> = HashMap::new();
        let mut after = self.applied;
        loop {
            let page = store.paper_changes_after(after, PAGE).await?;
            let full = page.len() == PAGE as usize;
            for change in page {
                after = change.seq;
                changed.insert(change.paper.id, (change.seq, change.paper));
            }
            if !full || changed.len() >= MAX_PAPERS {
                break;
            }
        }
        // Papers still waiting that did not change again are looked up afresh.
        let again: Vec<PaperId> = self
            .waiting
            .keys()
            .filter(|id| !changed.contains_key(id))
            .copied()
            .collect();
        let mut found_again = Vec::new();
        for paper in store.papers(&again).await? {
            found_again.push(paper.id);
            let seq = self.waiting[&paper.id].seq;
            changed.insert(paper.id, (seq, paper));
        }
        // A waiting paper the store no longer has waits no more.
        self.waiting
            .retain(|id, _| changed.contains_key(id) || found_again.contains(id));

        let mut papers: Vec<(i64, Paper)> = changed.into_values().collect();
        papers.sort_by_key(|(_, paper)| paper.id);
        let texts: Vec<(String, String)> = papers
            .iter()
            .map(|(_, paper)| {
                (
                    paper.record.title.clone(),
                    paper.record.abstract_text.clone(),
                )
            })
            .collect();
        let mut stored = stored_embeddings(&texts, store).await?;
        let mut ready: Vec<(Paper, Vec<f32>, Vec<u8>)> = Vec::new();
        let mut to_embed: Vec<(i64, Paper)> = Vec::new();
        for ((seq, paper), hash) in papers.into_iter().zip(&stored.hashes) {
            match (stored.vectors.remove(hash), stored.encoded.remove(hash)) {
                (Some(vector), Some(encoded)) => {
                    self.waiting.remove(&paper.id);
                    ready.push((paper, vector, encoded));
                }
                _ => {
                    let waiting = self
                        .waiting
                        .entry(paper.id)
                        .or_insert(Waiting { since: now, seq });
                    if embedder.is_some() && now.duration_since(waiting.since) >= self.grace {
                        to_embed.push((seq, paper));
                    }
                }
            }
        }
        let mut embedded = 0;
        if let (Some(embedder), false) = (embedder, to_embed.is_empty()) {
            let texts: Vec<(String, String)> = to_embed
                .iter()
                .map(|(_, paper)| {
                    (
                        paper.record.title.clone(),
                        paper.record.abstract_text.clone(),
                    )
                })
                .collect();
            let done = embed_cached(&texts, embedder, store, &Silent).await?;
            embedded = done.embedded;
            for ((_, paper), (vector, encoded)) in to_embed
                .into_iter()
                .zip(done.vectors.into_iter().zip(done.sentences))
            {
                self.waiting.remove(&paper.id);
                ready.push((paper, vector, encoded));
            }
        }
        self.applied = after;
        // What the folder may record: everything up to the first change still waiting.
        let holds = self
            .waiting
            .values()
            .map(|waiting| waiting.seq - 1)
            .min()
            .map_or(after, |first| first.min(after));
        let applied = ready.len();
        let index = if ready.is_empty() {
            None
        } else {
            let save = self.waiting.is_empty()
                || self
                    .saved
                    .is_none_or(|saved| now.duration_since(saved) >= SAVE_EVERY);
            let current = Arc::clone(current);
            let dir = self.dir.clone();
            let index = off_async_threads(move || -> Result<SearchIndex, IndexError> {
                let index = current.with_papers(&ready)?;
                if save {
                    return index.save_changed(&dir, holds);
                }
                Ok(index)
            })
            .await?;
            if save {
                self.saved = Some(now);
            }
            Some(index)
        };
        Ok(CatchUp {
            index,
            applied,
            embedded,
            waiting: self.waiting.len(),
            reopened: false,
        })
    }
}

/// Embeds (and stores) the papers changed after change `after` that have no stored
/// embeddings: what a command or job that stored papers does, so that every node's follower
/// finds them ready. Returns how many were embedded.
pub async fn embed_changed_after(
    store: &dyn Store,
    embedder: &Arc<Embedder>,
    mut after: i64,
) -> Result<u64, IndexError> {
    let mut embedded = 0;
    loop {
        let page = store.paper_changes_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let texts: Vec<(String, String)> = page
            .iter()
            .map(|change| {
                (
                    change.paper.record.title.clone(),
                    change.paper.record.abstract_text.clone(),
                )
            })
            .collect();
        embedded += embed_cached(&texts, embedder, store, &Silent)
            .await?
            .embedded;
    }
    Ok(embedded)
}
