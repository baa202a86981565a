//! A category filter as searches, listings and subscriptions hold it: one arXiv category
//! (`cs.CL`) or a whole archive (`cs`). [`Category::contains`] is the one place that says which
//! paper categories a filter takes in, so the search filter, the store's SQL (through
//! [`Category::archive_prefix`]) and the digests all agree: an archive takes in each of its
//! categories (`cs.*`), a category only itself, and case always counts (arXiv's codes have one
//! spelling; [`Category::known`] finds it for text typed by people).

use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::taxonomy::CATEGORIES;

/// An arXiv category (`cs.CL`) or archive (`cs`) to filter by. Any text makes one (a filter
/// from a URL holds what was asked for, and matches nothing when no paper is filed under it);
/// [`Category::known`] admits only the taxonomy's codes. Serialized as its text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(String);

impl Category {
    pub fn new(code: impl Into<String>) -> Self {
        Category(code.into())
    }

    /// The known category or archive `text` names, in arXiv's spelling: a category of the
    /// taxonomy matched ignoring case (`CS.lg` is `cs.LG`), or an archive that has categories
    /// (`CS` is `cs`).
    pub fn known(text: &str) -> Option<Category> {
        if let Some(entry) = CATEGORIES
            .iter()
            .find(|entry| entry.code.eq_ignore_ascii_case(text))
        {
            return Some(Category::new(entry.code));
        }
        let archive = Category::new(text.to_ascii_lowercase());
        (archive.is_archive() && CATEGORIES.iter().any(|entry| archive.contains(entry.code)))
            .then_some(archive)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this names a whole archive (`cs`, `hep-th`) rather than one category (`cs.CL`).
    pub fn is_archive(&self) -> bool {
        !self.0.contains('.')
    }

    /// What the codes of an archive's categories start with (`cs.` for `cs`); `None` for a
    /// category.
    pub fn archive_prefix(&self) -> Option<String> {
        self.is_archive().then(|| format!("{}.", self.0))
    }

    /// Whether a paper filed under `code` is in this category or archive: `cs` contains `cs`
    /// and every `cs.X`, `cs.CL` only `cs.CL`.
    pub fn contains(&self, code: &str) -> bool {
        code == self.0
            || (self.is_archive()
                && code
                    .strip_prefix(self.0.as_str())
                    .is_some_and(|rest| rest.starts_with('.')))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Category {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<Self, Infallible> {
        Ok(Category::new(text))
    }
}

impl From<&str> for Category {
    fn from(code: &str) -> Self {
        Category::new(code)
    }
}

impl From<String> for Category {
    fn from(code: String) -> Self {
        Category(code)
    }
}

impl AsRef<str> for Category {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a list of categories be joined (`categories.join(", ")`) and looked up by text.
impl Borrow<str> for Category {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_contains_its_categories_and_a_category_only_itself() {
        let cs = Category::new("cs");
        assert!(cs.is_archive());
        assert_eq!(cs.archive_prefix().as_deref(), Some("cs."));
        for code in ["cs", "cs.CL", "cs.LG"] {
            assert!(cs.contains(code), "{code}");
        }
        for code in ["c", "css.LG", "csx", "q-bio.PE", "CS.CL", "math.CO"] {
            assert!(!cs.contains(code), "{code}");
        }

        let cl = Category::new("cs.CL");
        assert!(!cl.is_archive());
        assert_eq!(cl.archive_prefix(), None);
        assert!(cl.contains("cs.CL"));
        for code in ["cs", "cs.CLX", "cs.cl", "cs.CL.x", "cs.LG"] {
            assert!(!cl.contains(code), "{code}");
        }

        // Archives with a dash, and case, count as they are written.
        assert!(Category::new("hep-th").contains("hep-th"));
        assert!(Category::new("astro-ph").contains("astro-ph.GA"));
        assert!(!Category::new("CS").contains("cs.LG"));
        assert!(!Category::new("").contains("cs.LG"));
    }

    #[test]
    fn known_categories_take_arxivs_spelling() {
        let known = |text: &str| Category::known(text).map(|category| category.to_string());
        assert_eq!(known("cs.LG").as_deref(), Some("cs.LG"));
        assert_eq!(known("CS.lg").as_deref(), Some("cs.LG"));
        assert_eq!(known("CS").as_deref(), Some("cs"));
        assert_eq!(known("astro-ph").as_deref(), Some("astro-ph"));
        assert_eq!(known("Q-Bio").as_deref(), Some("q-bio"));
        for text in ["", "c", "cs.", "cs.XX", "xx", "<b>", "cs.LG.x"] {
            assert_eq!(known(text), None, "{text}");
        }
    }

    #[test]
    fn reads_and_writes_as_its_text() {
        let category: Category = "cs.IR".parse().unwrap_or_else(|never| match never {});
        assert_eq!(category.as_str(), "cs.IR");
        assert_eq!(category.to_string(), "cs.IR");
        assert_eq!(
            serde_json::to_string(&category).ok().as_deref(),
            Some("\"cs.IR\"")
        );
        assert_eq!(
            serde_json::from_str::<Category>("\"cs\"").ok(),
            Some(Category::new("cs"))
        );
        assert_eq!(
            [Category::new("cs.LG"), Category::new("cs")].join(", "),
            "cs.LG, cs"
        );
    }
}
