//! What the store keeps of readers' interest folders: each folder's name and the papers its
//! reader rated in it, relevant or not relevant (what its classifier learns from; see
//! `paperboy_search::recommend`).

use chrono::{DateTime, Utc};
use paperboy_core::PaperId;
use paperboy_core::account::{FolderId, UserId};

/// The most folders one reader may keep.
pub const MAX_FOLDERS: u32 = 50;
/// The most papers one folder may hold rated: plenty to learn from, and a bound on what
/// training a folder reads.
pub const MAX_RATINGS: u32 = 2_000;

/// A folder, with how many papers are rated in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub id: FolderId,
    pub user: UserId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub relevant: u32,
    pub not_relevant: u32,
}

/// What asking for a new folder did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewFolder {
    Made(Folder),
    /// The reader has a folder of that name already.
    NameTaken,
    /// The reader has [`MAX_FOLDERS`] folders already.
    TooMany,
}

/// A paper rated in a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rating {
    pub paper: PaperId,
    pub relevant: bool,
    pub rated_at: DateTime<Utc>,
}

/// What rating a paper did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rated {
    Done,
    /// No such folder of this reader, or no such visible paper.
    NotFound,
    /// The folder holds [`MAX_RATINGS`] rated papers already.
    Full,
}

/// A folder's rated papers split into the relevant and the not relevant ones, in order.
pub fn split_ratings(ratings: &[Rating]) -> (Vec<PaperId>, Vec<PaperId>) {
    let pick = |relevant: bool| {
        ratings
            .iter()
            .filter(|rating| rating.relevant == relevant)
            .map(|rating| rating.paper)
            .collect()
    };
    (pick(true), pick(false))
}
