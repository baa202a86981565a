//! `paperboy eval trending`: replays the Hugging Face daily lists' upvotes as vote events and
//! measures how well trending, computed from those events, finds each day's real top 10.
//!
//! The lists give each paper's final upvote count, not when the votes came. The replay assumes
//! each vote arrives an exponentially distributed delay after the start of the paper's listing
//! day, [`MEAN_DELAY_HOURS`] on average (most votes on the day, a tail on the days after, as on
//! the site), drawn from a fixed seed so every run is the same. The votes go into a scratch
//! store through the same path as readers' votes; trending is then ranked by the same function
//! the site uses, at the end of each day, and compared with that day's papers ordered by their
//! real counts (the day window), or the papers of the seven days ending then (the week
//! window). Half-lives are compared on the first half of the days and reported on the second.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use paperboy_core::account::UserId;
use paperboy_core::trending::{Decay, HALF_LIFE_SHARE, Voters, Window};
use paperboy_core::{EmailAddress, PaperId};
use paperboy_store::AccountStore;
use paperboy_store::PaperStore;
use paperboy_store::{SqliteStore, Store, for_each_paper, trending_with};

use super::read_lists;
use crate::Outcome;
use crate::cli::DailyListsArgs;

/// The mean delay between a paper's listing and a vote for it, in the replay.
const MEAN_DELAY_HOURS: f64 = 24.0;
/// Half-lives compared, as shares of the window.
const SHARES: [f64; 5] = [0.125, 0.25, 0.5, 1.0, 4.0];
/// The top compared.
const TOP: usize = 10;

/// A paper of the lists: its latest listing day and its real upvotes.
struct Listed {
    id: PaperId,
    day: NaiveDate,
    upvotes: u32,
}

/// A deterministic stream of uniform numbers in (0, 1) (SplitMix64).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

pub(crate) async fn run(args: &DailyListsArgs) -> anyhow::Result<Outcome> {
    let path = &args.path;
    // The papers without their counts, in the store the votes are replayed into.
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut records = read_lists(path).await?;
    for record in &mut records {
        if let Some(arxiv_id) = &record.arxiv_id {
            counts.insert(arxiv_id.to_string(), record.external_upvotes);
        }
        record.external_upvotes = 0;
    }
    let scratch = tempfile::tempdir()?;
    let store = SqliteStore::open(&scratch.path().join("replay.sqlite3")).await?;
    for batch in records.chunks(5_000) {
        store.upsert_papers(batch.to_vec()).await?;
    }
    let mut listed = Vec::new();
    for_each_paper(&store, |paper| {
        let upvotes = paper
            .record
            .arxiv_id
            .as_ref()
            .and_then(|id| counts.get(&id.to_string()))
            .copied()
            .unwrap_or(0);
        if let Some(day) = paper.record.sort_date() {
            listed.push(Listed {
                id: paper.id,
                day,
                upvotes,
            });
        }
        Ok::<_, anyhow::Error>(())
    })
    .await?;

    // One synthetic reader per vote of the most upvoted paper; vote n of a paper is reader n's.
    let readers = listed.iter().map(|paper| paper.upvotes).max().unwrap_or(0);
    let now = Utc::now();
    let mut users: Vec<UserId> = Vec::new();
    for n in 0..readers {
        let email: EmailAddress = format!("reader{n}@replay.invalid").parse()?;
        users.push(store.add_user(&email, false, now).await?.id);
    }
    let mut uniform = Uniform(2026);
    let mut votes: Vec<(UserId, PaperId, DateTime<Utc>)> = Vec::new();
    for paper in &listed {
        for user in users.iter().take(paper.upvotes as usize) {
            let hours = -MEAN_DELAY_HOURS * uniform.next().ln();
            let delay = chrono::Duration::seconds((hours * 3600.0) as i64);
            votes.push((*user, paper.id, start_of(paper.day) + delay));
        }
    }
    let added = store.add_votes(&votes).await?;
    let mut days: Vec<NaiveDate> = listed.iter().map(|paper| paper.day).collect();
    days.sort_unstable();
    days.dedup();
    eprintln!(
        "Replaying {added} upvotes of {} papers over {} days (mean delay {MEAN_DELAY_HOURS} h).",
        listed.len(),
        days.len()
    );

    let (tuning, reported) = days.split_at(days.len() / 2);
    println!(
        "overlap of trending's top {TOP} at each day's end with the real top {TOP}, mean over days"
    );
    println!("window  half-life        tuning days  reported days");
    for window in [Window::Day, Window::Week] {
        for share in SHARES {
            let decay = Decay::with_share(window, share);
            let mut means = Vec::new();
            for part in [tuning, reported] {
                let mut total = 0.0;
                for day in part {
                    total += overlap(&store, &listed, decay, *day).await?;
                }
                means.push(total / part.len().max(1) as f64);
            }
            let chosen = if share == HALF_LIFE_SHARE {
                "  (used)"
            } else {
                ""
            };
            println!(
                "{:<7} {:>5.1} h ({share:>5} w)  {:>11.3}  {:>13.3}{chosen}",
                window.name(),
                decay.half_life_hours,
                means[0],
                means[1]
            );
        }
    }
    Ok(Outcome::Success)
}

/// The share of the real top papers among trending's top at the end of `day`.
async fn overlap(
    store: &dyn Store,
    listed: &[Listed],
    decay: Decay,
    day: NaiveDate,
) -> anyhow::Result<f64> {
    let end = start_of(day) + chrono::Duration::hours(24) - chrono::Duration::seconds(1);
    let ranked = trending_with(store, decay, Voters::Everyone, end, 2_000)
        .await
        .context("ranking trending papers")?;
    let first = decay.window.first_day(day);
    let mut real: Vec<&Listed> = listed
        .iter()
        .filter(|paper| paper.day >= first && paper.day <= day)
        .collect();
    real.sort_by(|a, b| b.upvotes.cmp(&a.upvotes).then(a.id.cmp(&b.id)));
    let top = TOP.min(real.len());
    if top == 0 {
        return Ok(0.0);
    }
    let real: Vec<PaperId> = real.iter().take(top).map(|paper| paper.id).collect();
    let found = ranked
        .iter()
        .take(top)
        .filter(|(paper, _)| real.contains(&paper.id))
        .count();
    Ok(found as f64 / top as f64)
}
