//! Paperboy's domain types.
//!
//! Everything that enters Paperboy (a file, an API response, a form) is parsed into these types
//! once, at the edge; code that holds a [`PaperRecord`], an [`ArxivId`] or an [`EmailAddress`] can trust it without
//! checking again. The crate knows nothing of storage, HTTP or file formats.

pub mod account;
mod arxiv_id;
mod category;
pub mod day;
mod email;
mod paper;
pub mod recent;
pub mod subscription;
pub mod taxonomy;
pub mod text;
pub mod token;
pub mod trending;

pub use arxiv_id::{ArxivId, ArxivIdError};
pub use category::Category;
pub use email::{EmailAddress, EmailError};
pub use paper::{
    InvalidRecord, Paper, PaperDraft, PaperId, PaperKey, PaperRecord, Source, key_segment, limits,
};
