//! Index files mapped into memory read-only, instead of read into it.
//!
//! The vectors and sentence vectors of a corpus the size of arXiv are gigabytes: mapped, a
//! node's resident memory holds only the pages searches touch (the kernel drops them under
//! pressure and reads them back from the page cache), and opening an index reads nothing but
//! headers. This is the only module that needs `unsafe` for it: a mapping is only sound while
//! nobody changes the file under it.
//!
//! Rows read one at a time (a paper's vector, its sentences) are read with positioned reads
//! ([`Mapped::read_exact_at`]) instead of through the mapping: on a page fault the kernel maps
//! not only the page asked for but the cached pages around it ("fault-around", 64 KB), which
//! `MADV_RANDOM` does not turn off, so rows read here and there through a mapping make the
//! whole file resident: at a million papers, 2.7 GB of sentences and 1.5 GB of vectors after
//! 1,200 queries, for about 0.4 GB of rows read (`paperboy bench scale`). A read puts the
//! same pages in the page cache, where the kernel keeps or drops them, without mapping them
//! into this process. Scans and bulk copies read through the mapping.
//!
//! That holds because of how every index file is written ([`write_replacing`]): a new version
//! is written whole into a temporary file beside it, synced, and renamed over the old name.
//! A file, once renamed into place, is never opened for writing, truncated or extended again;
//! replacing it unlinks the old inode, which stays intact for as long as a mapping of it lives.

#![allow(unsafe_code)]

use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// A whole file mapped read-only.
#[derive(Debug)]
pub struct Mapped {
    map: memmap2::Mmap,
    file: std::fs::File,
    path: PathBuf,
}

impl Mapped {
    /// Maps the file at `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        // SAFETY: index files are only ever replaced by renaming a complete new file over
        // their name (`write_replacing`); no code opens one for writing, truncates or extends
        // it after that, so the bytes under this mapping never change while it lives (a
        // replaced file's inode lives on, unchanged, until the mapping is dropped).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        // Searches read rows here and there: no read-ahead around each one, which would
        // fill memory (and, on a cold page cache, the disk queue) with rows nobody asked for.
        // Only a hint; a kernel that refuses it reads ahead as usual.
        map.advise(memmap2::Advice::Random).ok();
        Ok(Mapped {
            map,
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Fills `buffer` with the file's bytes from `offset`, read rather than mapped (see the
    /// module docs).
    pub fn read_exact_at(&self, buffer: &mut [u8], offset: usize) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt as _;
        self.file.read_exact_at(buffer, offset as u64)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error naming the file: it is not what its header says.
    pub fn invalid(&self, what: &str) -> std::io::Error {
        invalid(&self.path, what)
    }
}

pub(crate) fn invalid(path: &Path, what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Writes a file whole: `write` fills a temporary file beside `path` (its folder is made if
/// missing), which is synced and then renamed over `path`, so a reader never sees half a file
/// and a mapping of the old file stays valid.
pub(crate) fn write_replacing(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let temporary = temporary_beside(path)?;
    let mut out = BufWriter::new(std::fs::File::create(&temporary)?);
    write(&mut out)?;
    out.into_inner()
        .map_err(|error| error.into_error())?
        .sync_all()?;
    std::fs::rename(&temporary, path)
}

/// The temporary name a new version of `path` is written under before it is renamed into
/// place (its folder made if missing).
pub(crate) fn temporary_beside(path: &Path) -> std::io::Result<PathBuf> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    Ok(path.with_file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_keeps_the_old_bytes_when_the_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/file.bin");
        write_replacing(&path, |out| std::io::Write::write_all(out, b"first")).unwrap();
        let old = Mapped::open(&path).unwrap();
        write_replacing(&path, |out| std::io::Write::write_all(out, b"second!")).unwrap();
        assert_eq!(old.bytes(), b"first");
        let mut read = [0; 5];
        old.read_exact_at(&mut read, 0).unwrap();
        assert_eq!(&read, b"first", "reads see the file that was mapped");
        assert_eq!(Mapped::open(&path).unwrap().bytes(), b"second!");
        assert!(!temporary_beside(&path).unwrap().exists());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.bin");
        write_replacing(&path, |out| std::io::Write::write_all(out, b"kept")).unwrap();
        let failed = write_replacing(&path, |out| {
            std::io::Write::write_all(out, b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
    }
}
