//! The keyword index: tantivy BM25 over title, abstract and authors.
//!
//! Titles and abstracts are lower-cased, English stop words dropped and words stemmed (so
//! "estimating" matches "estimation"); author names are only lower-cased. Title matches are
//! weighted by [`TITLE_BOOST`]. Queries are plain words: tantivy's query syntax is parsed leniently, so
//! unbalanced quotes or stray operators never fail a search.

use std::path::Path;

use paperboy_core::PaperId;
use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::query::QueryParser;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, Term, doc};

/// The analyzer of titles and abstracts.
const STEMMED: &str = "paperboy_en_stem";
/// The analyzer of author names.
const NAMES: &str = "paperboy_names";
/// The weight of a title match relative to an abstract match, chosen on SciFact train
/// (nDCG@10: 0.15 → 0.691, 0.3 → 0.697, 0.5 → 0.696, 1 → 0.675, 2 → lower): a title is short, so
/// BM25 already scores its matches high.
pub const TITLE_BOOST: f32 = 0.3;
/// The field holding the paper id (a fast field, read for every hit).
const ID_FIELD: &str = "id";
/// Memory for the index writer.
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

/// A document as the keyword index sees it.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    pub id: PaperId,
    pub title: &'a str,
    pub abstract_text: &'a str,
    pub authors: &'a [String],
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    abstract_text: Field,
    authors: Field,
}

/// A BM25 index of papers.
pub struct Bm25Index {
    index: Index,
    reader: IndexReader,
    parser: QueryParser,
}

impl std::fmt::Debug for Bm25Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25Index").finish_non_exhaustive()
    }
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |analyzer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyzer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let fields = Fields {
        id: builder.add_i64_field(ID_FIELD, INDEXED | STORED | FAST),
        title: builder.add_text_field("title", text(STEMMED)),
        abstract_text: builder.add_text_field("abstract", text(STEMMED)),
        authors: builder.add_text_field("authors", text(NAMES)),
    };
    (builder.build(), fields)
}

/// The analyzer of titles and abstracts (and of queries, and of highlighting).
pub(crate) fn stemmed_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(
            StopWordFilter::new(Language::English)
                .unwrap_or_else(|| StopWordFilter::remove(Vec::<String>::new())),
        )
        .filter(Stemmer::new(Language::English))
        .build()
}

fn register_analyzers(index: &Index) {
    index.tokenizers().register(STEMMED, stemmed_analyzer());
    index.tokenizers().register(
        NAMES,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .build(),
    );
}

impl Bm25Index {
    /// Builds an index of `documents`, in memory or (with `dir`) in a folder that is replaced.
    pub fn build<'a>(
        dir: Option<&Path>,
        documents: impl IntoIterator<Item = Document<'a>>,
    ) -> tantivy::Result<Self> {
        let mut builder = Bm25Builder::new(dir)?;
        for document in documents {
            builder.add(&document)?;
        }
        builder.finish()
    }

    /// Opens an index written by [`Bm25Index::build`]. Where this process cannot write the
    /// folder (a data folder owned by someone else), it is opened read-only.
    pub fn open(dir: &Path) -> tantivy::Result<Self> {
        let opened = Index::open_in_dir(dir).and_then(Self::from_opened);
        match opened {
            Err(error) if !read_only::writable(dir) => {
                Index::open(read_only::ReadOnlyDirectory::open(dir)?)
                    .and_then(Self::from_opened)
                    .map_err(|_| error)
            }
            opened => opened,
        }
    }

    fn from_opened(index: Index) -> tantivy::Result<Self> {
        register_analyzers(&index);
        let (_, fields) = schema();
        Self::from_index(index, fields)
    }

    fn from_index(index: Index, fields: Fields) -> tantivy::Result<Self> {
        let reader = index.reader()?;
        let mut parser = QueryParser::for_index(
            &index,
            vec![fields.title, fields.abstract_text, fields.authors],
        );
        parser.set_field_boost(fields.title, TITLE_BOOST);
        Ok(Bm25Index {
            index,
            reader,
            parser,
        })
    }

    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `limit` best BM25 matches of a plain-words query, best first.
    pub fn search(&self, query: &str, limit: usize) -> tantivy::Result<Vec<(PaperId, f32)>> {
        self.search_where(query, limit, None::<fn(PaperId) -> bool>)
    }

    /// Like [`Bm25Index::search`], counting only the papers `keep` accepts (when given).
    pub fn search_where(
        &self,
        query: &str,
        limit: usize,
        keep: Option<impl Fn(PaperId) -> bool + Clone + Send + Sync + 'static>,
    ) -> tantivy::Result<Vec<(PaperId, f32)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (query, _ignored_syntax_errors) = self.parser.parse_query_lenient(&sanitize(query));
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(limit).order_by_score();
        let found = match keep {
            None => searcher.search(&query, &top)?,
            Some(keep) => searcher.search(
                &query,
                &FilterCollector::new(ID_FIELD.to_owned(), move |id: i64| keep(PaperId(id)), top),
            )?,
        };
        let mut hits = Vec::with_capacity(found.len());
        for (score, address) in found {
            let ids = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .i64(ID_FIELD)?;
            if let Some(id) = ids.first(address.doc_id) {
                hits.push((PaperId(id), score));
            }
        }
        Ok(hits)
    }

    /// The tantivy index, for snippets and statistics.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Adds `documents`, replacing any document of the same paper, and commits: searches see
    /// them as soon as this returns. One writer at a time per index (tantivy's lock); the
    /// index's own follower is the only one.
    pub fn replace(&self, documents: &[Document<'_>]) -> tantivy::Result<()> {
        if documents.is_empty() {
            return Ok(());
        }
        let (_, fields) = schema();
        let mut writer: IndexWriter = self.index.writer_with_num_threads(1, WRITER_MEMORY)?;
        for document in documents {
            writer.delete_term(Term::from_field_i64(fields.id, document.id.0));
            add_document(&writer, fields, document)?;
        }
        writer.commit()?;
        self.reader.reload()
    }
}

fn add_document(
    writer: &IndexWriter,
    fields: Fields,
    document: &Document<'_>,
) -> tantivy::Result<()> {
    writer.add_document(doc!(
        fields.id => document.id.0,
        fields.title => document.title,
        fields.abstract_text => document.abstract_text,
        fields.authors => document.authors.join(", "),
    ))?;
    Ok(())
}

/// Adds documents to a new index a few at a time (see [`Bm25Index::build`]).
pub struct Bm25Builder {
    index: Index,
    writer: IndexWriter,
    fields: Fields,
}

impl std::fmt::Debug for Bm25Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25Builder").finish_non_exhaustive()
    }
}

impl Bm25Builder {
    /// Starts an index in memory or (with `dir`) in a folder, replacing what was there.
    pub fn new(dir: Option<&Path>) -> tantivy::Result<Self> {
        let (schema, fields) = schema();
        let index = match dir {
            Some(dir) => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir)?;
                }
                std::fs::create_dir_all(dir)?;
                Index::create_in_dir(dir, schema)?
            }
            None => Index::create_in_ram(schema),
        };
        register_analyzers(&index);
        let writer: IndexWriter = index.writer(WRITER_MEMORY)?;
        Ok(Bm25Builder {
            index,
            writer,
            fields,
        })
    }

    pub fn add(&mut self, document: &Document<'_>) -> tantivy::Result<()> {
        add_document(&self.writer, self.fields, document)
    }

    pub fn finish(mut self) -> tantivy::Result<Bm25Index> {
        self.writer.commit()?;
        Bm25Index::from_index(self.index, self.fields)
    }
}

/// Keeps a query to words: tantivy's operators (`+`, `-`, `:`, quotes, brackets) in user text
/// would otherwise change its meaning or name fields that do not exist.
fn sanitize(query: &str) -> String {
    query
        .chars()
        .map(|ch| if ch.is_alphanumeric() { ch } else { ' ' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Bm25Index {
        let authors = vec!["Mohamed Ishmael Belghazi".to_owned()];
        let none: Vec<String> = Vec::new();
        Bm25Index::build(
            None,
            [
                Document {
                    id: PaperId(1),
                    title: "MINE: Mutual Information Neural Estimation",
                    abstract_text: "We argue that the estimation of mutual information between high dimensional continuous random variables can be achieved by gradient descent over neural networks.",
                    authors: &authors,
                },
                Document {
                    id: PaperId(2),
                    title: "A Tutorial on Bayesian Optimization",
                    abstract_text: "Bayesian optimization is an approach to optimizing objective functions that take a long time to evaluate.",
                    authors: &none,
                },
            ],
        )
        .unwrap()
    }

    #[test]
    fn stems_and_ranks_by_bm25() {
        let index = index();
        let hits = index
            .search("estimating mutual information with neural networks", 10)
            .unwrap();
        assert_eq!(hits[0].0, PaperId(1));
        assert_eq!(
            index.search("belghazi", 10).unwrap()[0].0,
            PaperId(1),
            "authors are searchable"
        );
        assert_eq!(index.search("optimizing", 10).unwrap()[0].0, PaperId(2));
    }

    #[test]
    fn odd_queries_never_fail() {
        let index = index();
        for query in [
            "",
            "the of and",
            "\"unbalanced",
            "title:(",
            "a AND OR NOT",
            "\u{0}\u{7}",
            &"word ".repeat(20_000),
        ] {
            assert!(index.search(query, 10).is_ok(), "{query:?}");
        }
        assert!(
            index.search("the of and", 10).unwrap().is_empty(),
            "only stop words match nothing"
        );
    }
}

/// Reading an index in a folder this process cannot write: tantivy takes a lock file while it
/// opens segments (so that a writer's clean-up spares them), which needs write access. With no
/// writer able to touch the folder either, reading needs no lock.
mod read_only {
    use std::path::Path;
    use std::sync::Arc;

    use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
    use tantivy::directory::{
        Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle,
        WritePtr,
    };

    /// Whether this process can create files in `dir`.
    pub(super) fn writable(dir: &Path) -> bool {
        let probe = dir.join(format!(".paperboy-write-test-{}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
        {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                true
            }
            Err(error) => error.kind() == std::io::ErrorKind::AlreadyExists,
        }
    }

    #[derive(Debug, Clone)]
    pub(super) struct ReadOnlyDirectory(MmapDirectory);

    impl ReadOnlyDirectory {
        pub(super) fn open(dir: &Path) -> tantivy::Result<Self> {
            Ok(ReadOnlyDirectory(MmapDirectory::open(dir)?))
        }
    }

    fn refused() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the index is open read-only",
        )
    }

    impl Directory for ReadOnlyDirectory {
        fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
            self.0.get_file_handle(path)
        }

        fn delete(&self, path: &Path) -> Result<(), DeleteError> {
            Err(DeleteError::IoError {
                io_error: Arc::new(refused()),
                filepath: path.to_path_buf(),
            })
        }

        fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
            self.0.exists(path)
        }

        fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
            Err(OpenWriteError::IoError {
                io_error: Arc::new(refused()),
                filepath: path.to_path_buf(),
            })
        }

        fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
            self.0.atomic_read(path)
        }

        fn atomic_write(&self, _path: &Path, _data: &[u8]) -> std::io::Result<()> {
            Err(refused())
        }

        fn sync_directory(&self) -> std::io::Result<()> {
            Ok(())
        }

        fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
            Ok(DirectoryLock::from(Box::new(())))
        }

        fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
            self.0.watch(watch_callback)
        }
    }
}
