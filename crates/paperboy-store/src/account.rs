//! What the store keeps for readers who sign in: users, sign-in links, sessions, access tokens,
//! votes and saved papers.
//!
//! Each change that must happen together is one transaction of the [`crate::Store`] method
//! that takes these types: a sign-in request and its mail; following a link, making the user
//! and opening the session; a vote and the paper's count; hiding a user and taking their votes
//! out of the counts.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use paperboy_core::account::{AccessTokenId, TokenScope, UserId};
use paperboy_core::token::TokenHash;
use paperboy_core::{EmailAddress, PaperId};

use crate::mail::{AddressLimit, NewMessage};

/// A reader who signed in at least once (or an admin added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: EmailAddress,
    pub is_admin: bool,
    /// Hidden by an admin: cannot sign in, and their votes are not counted.
    pub hidden: bool,
    pub created_at: DateTime<Utc>,
}

/// Someone asks for a sign-in link.
#[derive(Debug, Clone)]
pub struct SignInRequest {
    pub email: EmailAddress,
    /// The hash of the token in the link.
    pub token: TokenHash,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub limit: AddressLimit,
    /// The mail with the link, queued with the request or not at all.
    pub mail: NewMessage,
}

/// A session to open when a sign-in link is followed.
#[derive(Debug, Clone, Copy)]
pub struct NewSession {
    /// The hash of the cookie's token.
    pub token: TokenHash,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What following a sign-in link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// The session is open; `new_user` when this was the address's first sign-in.
    SignedIn {
        user: User,
        new_user: bool,
    },
    Expired,
    AlreadyUsed,
    Unknown,
    /// An admin hid this user.
    Refused,
}

/// A signed-in reader's marks on one paper.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    pub upvoted: bool,
    pub saved: bool,
}

/// A paper's upvotes after a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteOutcome {
    /// Whether the user's vote now stands.
    pub upvoted: bool,
    /// Votes cast here, the user's included.
    pub local_upvotes: u32,
}

/// Votes cast on a paper within one hour, for trending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteTally {
    pub paper: PaperId,
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    pub votes: u32,
}

/// A paper a user voted for or saved, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marked {
    pub paper: PaperId,
    pub at: DateTime<Utc>,
}

/// The most recent likes a reader's taste is made of: what they liked long ago says less.
pub const RECENT_LIKES: usize = 200;

/// What papers are ranked "for you" from: the [`RECENT_LIKES`] most recent papers a reader saved
/// or upvoted (each once, newest first), and every paper they marked, to leave out.
#[derive(Debug, Clone, Default)]
pub struct Likes {
    pub recent: Vec<PaperId>,
    pub marked: HashSet<PaperId>,
}

impl Likes {
    pub fn new(saved: &[Marked], voted: &[Marked]) -> Likes {
        let mut marks: Vec<&Marked> = saved.iter().chain(voted).collect();
        marks.sort_by_key(|mark| std::cmp::Reverse(mark.at));
        let mut seen = HashSet::new();
        let recent = marks
            .iter()
            .map(|mark| mark.paper)
            .filter(|id| seen.insert(*id))
            .take(RECENT_LIKES)
            .collect();
        let marked = saved.iter().chain(voted).map(|mark| mark.paper).collect();
        Likes { recent, marked }
    }
}

/// The most live access tokens one reader may hold: enough for every feed reader and script,
/// and a bound on what one account can make the store keep.
pub const MAX_ACCESS_TOKENS: u32 = 25;

/// A reader's access token, as listed on `/me`: everything but the secret, which is shown
/// once when made and kept only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub id: AccessTokenId,
    pub label: String,
    pub scope: TokenScope,
    pub created_at: DateTime<Utc>,
    /// When it was last used, to the hour (see [`crate::AccountStore::access_token_user`]).
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An access token to keep.
#[derive(Debug, Clone)]
pub struct NewAccessToken {
    pub user: UserId,
    /// The hash of the secret the reader is shown.
    pub token: TokenHash,
    pub label: String,
    pub scope: TokenScope,
    pub now: DateTime<Utc>,
}

/// What a presented access token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    Live {
        user: User,
        scope: TokenScope,
    },
    /// Its reader revoked it (or an admin hid the reader).
    Revoked,
    Unknown,
}

/// How long a token's use is remembered for before it is written again: a feed reader polling
/// every minute writes once an hour, not once a minute.
pub const TOKEN_USE_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::hours(1);
