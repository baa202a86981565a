//! `paperboy papers list|show`: papers for people (aligned lines, a readable card) or for
//! programs (`--json`).

use anyhow::{Context as _, bail};
use paperboy_core::{Paper, PaperKey};
use paperboy_store::{PaperQuery, Store};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{ListArgs, PapersCommand, ShowArgs};

/// A paper as the CLI prints it in JSON: the stored fields and its links.
#[derive(Serialize)]
struct PaperJson<'a> {
    #[serde(flatten)]
    paper: &'a Paper,
    abstract_url: Option<String>,
    pdf_url: Option<String>,
}

impl<'a> PaperJson<'a> {
    fn new(paper: &'a Paper) -> Self {
        PaperJson {
            paper,
            abstract_url: paper.record.abstract_url(),
            pdf_url: paper.record.pdf_url(),
        }
    }
}

pub(crate) async fn run(store: &dyn Store, command: &PapersCommand) -> anyhow::Result<Outcome> {
    match command {
        PapersCommand::List(args) => list(store, args).await,
        PapersCommand::Show(args) => show(store, args).await,
    }
}

pub(crate) async fn list(store: &dyn Store, args: &ListArgs) -> anyhow::Result<Outcome> {
    if let (Some(from), Some(until)) = (args.from, args.until)
        && from > until
    {
        bail!("--from {from} is after --until {until}");
    }
    let query = PaperQuery {
        from: args.from,
        until: args.until,
        category: args.category.clone(),
        limit: args.limit,
        offset: args.offset,
    };
    let papers = store.list_papers(&query).await?;
    if args.json {
        let json: Vec<PaperJson<'_>> = papers.iter().map(PaperJson::new).collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(Outcome::Success);
    }
    if papers.is_empty() {
        eprintln!("No papers match. Import some with `paperboy import PATH` or `paperboy demo`.");
    }
    for paper in &papers {
        let record = &paper.record;
        let date = record
            .sort_date()
            .map_or_else(|| "          ".to_owned(), |date| date.to_string());
        let id = record
            .arxiv_id
            .as_ref()
            .map_or_else(|| format!("#{}", paper.id), ToString::to_string);
        let mut line = format!("{date}  {id:<16}  {}", truncate(&record.title, 90));
        if let Some(category) = record.primary_category() {
            line.push_str(&format!("  [{category}]"));
        }
        if record.external_upvotes > 0 {
            line.push_str(&format!("  ▲{}", record.external_upvotes));
        }
        println!("{line}");
    }
    Ok(Outcome::Success)
}

/// Finds a paper by arXiv id (any accepted form) or internal id.
pub(crate) async fn find(store: &dyn Store, id: &str) -> anyhow::Result<Paper> {
    let key = PaperKey::parse(id).context("expected an arXiv id or an internal id")?;
    paperboy_store::paper_by_key(store, &key)
        .await?
        .with_context(|| format!("no paper with id {id} in the store"))
}

async fn show(store: &dyn Store, args: &ShowArgs) -> anyhow::Result<Outcome> {
    let paper = find(store, &args.id).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&PaperJson::new(&paper))?);
        return Ok(Outcome::Success);
    }
    print!("{}", card(&paper));
    Ok(Outcome::Success)
}

/// A paper as a block of text for a terminal.
fn card(paper: &Paper) -> String {
    let record = &paper.record;
    let mut out = format!("{}\n", record.title);
    if !record.authors.is_empty() {
        out.push_str(&format!("{}\n", record.authors.join(", ")));
    }
    out.push('\n');
    let mut field = |name: &str, value: String| out.push_str(&format!("{name:<12} {value}\n"));
    field("id", paper.id.to_string());
    if let Some(arxiv_id) = &record.arxiv_id {
        let version = record.version.map(|v| format!("v{v}")).unwrap_or_default();
        field("arXiv", format!("{arxiv_id}{version}"));
    }
    if !record.categories.is_empty() {
        field("categories", record.categories.join(", "));
    }
    if let Some(published) = record.published {
        field("published", published.to_string());
    }
    if let Some(updated) = record.updated {
        field("updated", updated.to_string());
    }
    if !record.listing_dates.is_empty() {
        let dates: Vec<String> = record
            .listing_dates
            .iter()
            .map(ToString::to_string)
            .collect();
        field("listed", dates.join(", "));
    }
    if record.external_upvotes > 0 {
        field("upvotes", record.external_upvotes.to_string());
    }
    for (name, value) in [
        ("abstract", record.abstract_url()),
        ("pdf", record.pdf_url()),
        ("code", record.code_url.clone()),
        ("project", record.project_url.clone()),
        ("doi", record.doi.clone()),
        ("journal", record.journal_ref.clone()),
        ("comment", record.comment.clone()),
    ] {
        if let Some(value) = value {
            field(name, value);
        }
    }
    if let Some(stars) = record.github_stars {
        field("stars", stars.to_string());
    }
    field("source", record.source.to_string());
    if !record.abstract_text.is_empty() {
        out.push('\n');
        out.push_str(&wrap(&record.abstract_text, 100));
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max - 1).chain(['…']).collect()
    }
}

/// Wraps prose at `width` columns.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut column = 0;
    for word in text.split(' ') {
        let length = word.chars().count();
        if column > 0 && column + 1 + length > width {
            out.push('\n');
            column = 0;
        } else if column > 0 {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += length;
    }
    out.push('\n');
    out
}
