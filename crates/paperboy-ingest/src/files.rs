//! Turning the paths a user names into the files to import.
//!
//! A file named on the command line is always read (its content decides the format). Inside a
//! folder, walked recursively in name order, only files with a paper-format extension are taken,
//! so that a data folder's README or TSV side files are skipped rather than misread; hidden
//! files and folders are left out. Whatever cannot be listed or opened is reported with its
//! path, and the walk goes on.

use std::io;
use std::path::{Path, PathBuf};

/// Extensions (after an optional `.gz`) that mark a file in a folder as importable.
const IMPORTABLE_EXTENSIONS: [&str; 7] =
    ["xml", "atom", "json", "jsonl", "ndjson", "txt", "jsonlines"];

/// The result of [`expand_paths`].
#[derive(Debug, Default)]
pub struct ExpandedPaths {
    /// Files to read, in order.
    pub files: Vec<PathBuf>,
    /// Paths that could not be listed or opened, with why.
    pub problems: Vec<(PathBuf, io::Error)>,
    /// Files inside folders that were left out because of their extension.
    pub skipped: Vec<PathBuf>,
}

/// Expands files and folders into the files to import.
pub fn expand_paths(paths: &[PathBuf]) -> ExpandedPaths {
    let mut expanded = ExpandedPaths::default();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => walk(path, &mut expanded),
            Ok(_) => expanded.files.push(path.clone()),
            Err(error) => expanded.problems.push((path.clone(), error)),
        }
    }
    expanded
}

fn walk(folder: &Path, expanded: &mut ExpandedPaths) {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) => {
            expanded.problems.push((folder.to_path_buf(), error));
            return;
        }
    };
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(error) => expanded.problems.push((folder.to_path_buf(), error)),
        }
    }
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_dir() => walk(&path, expanded),
            Ok(_) if has_importable_extension(&path) => expanded.files.push(path),
            Ok(_) => expanded.skipped.push(path),
            Err(error) => expanded.problems.push((path, error)),
        }
    }
}

fn has_importable_extension(path: &Path) -> bool {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.rsplit_once('.')
        .is_some_and(|(_, extension)| IMPORTABLE_EXTENSIONS.contains(&extension))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_folders_in_order_skipping_other_files_and_reporting_broken_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("b")).unwrap();
        std::fs::write(root.join("b/2024-01-02.json.gz"), b"x").unwrap();
        std::fs::write(root.join("a.jsonl"), b"x").unwrap();
        std::fs::write(root.join("README.md"), b"x").unwrap();
        std::fs::write(root.join(".hidden.json"), b"x").unwrap();
        std::os::unix::fs::symlink(root.join("missing.json"), root.join("dangling.json")).unwrap();

        let explicit = root.join("README.md");
        let expanded = expand_paths(&[root.to_path_buf(), explicit.clone(), root.join("nope")]);

        assert_eq!(
            expanded.files,
            [
                root.join("a.jsonl"),
                root.join("b/2024-01-02.json.gz"),
                explicit
            ]
        );
        assert_eq!(expanded.skipped, [root.join("README.md")]);
        let problems: Vec<_> = expanded
            .problems
            .iter()
            .map(|(path, _)| path.clone())
            .collect();
        assert_eq!(problems, [root.join("dangling.json"), root.join("nope")]);
    }
}
