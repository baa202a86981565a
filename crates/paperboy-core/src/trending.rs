//! Trending: which papers people are upvoting now.
//!
//! A paper's score in a window is the sum of its votes, each worth less the older it is:
//!
//! ```text
//! score = Σ over its votes cast in the window   ½ ^ (age_hours / half_life)
//!       + (imported_upvotes + 1) · ½ ^ (listing_age_hours / half_life)   if listed in the window
//! ```
//!
//! - Ages are counted in whole hours, so a paper voted up this morning climbs today, and the
//!   half-life is the window's length (24 hours for a day, 7 days for a week, 30 for a month):
//!   within any window the newest votes count most, yet a paper keeps half of its votes to the
//!   end of the window. A vote older than the window counts nothing. The half-life was chosen
//!   by `paperboy eval trending` on the first half of the Hugging Face days (docs/trending.md).
//! - Votes imported with the papers (Hugging Face's) have no times; they count as cast at the
//!   start of the paper's latest listing day. So does one more, so that among papers nobody
//!   has voted for the fresher ranks first, as on a daily list.
//! - Listing ages are measured from the *reference day*, the newest day with papers (see the
//!   store's `newest_day`), plus the hours of today gone by: a site whose papers stopped
//!   arriving (the demo, a paused harvest) still has a trending list, and on a live site the
//!   reference day is today. Votes cast here always have their real times.
//!
//! `paperboy eval trending` replays the Hugging Face daily lists' upvotes as vote events and
//! reports how well each replayed day's top 10 matches the day's real one (docs/trending.md).

use chrono::{DateTime, NaiveDate, Timelike, Utc};

/// The share of the window a vote takes to lose half its weight.
pub const HALF_LIFE_SHARE: f64 = 1.0;

/// A trending window, ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    Day,
    #[default]
    Week,
    Month,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Day, Window::Week, Window::Month];

    /// Days in the window, the reference day included.
    pub fn days(self) -> i64 {
        match self {
            Window::Day => 1,
            Window::Week => 7,
            Window::Month => 30,
        }
    }

    pub fn hours(self) -> i64 {
        self.days() * 24
    }

    pub fn name(self) -> &'static str {
        match self {
            Window::Day => "day",
            Window::Week => "week",
            Window::Month => "month",
        }
    }

    pub fn parse(text: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|window| window.name() == text)
    }

    /// The first day of the window ending on `reference`.
    pub fn first_day(self, reference: NaiveDate) -> NaiveDate {
        reference - chrono::Days::new((self.days() - 1).unsigned_abs())
    }

    /// The earliest time a vote counts at `now`.
    pub fn start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::hours(self.hours())
    }
}

/// Whose upvotes make a paper trend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Voters {
    /// This site's readers, and the upvotes imported with the papers (Hugging Face's).
    #[default]
    Everyone,
    /// This site's readers only: a group's own trending.
    Here,
}

impl Voters {
    pub const ALL: [Voters; 2] = [Voters::Everyone, Voters::Here];

    /// The name in URLs (`/trending?votes=here`).
    pub fn name(self) -> &'static str {
        match self {
            Voters::Everyone => "all",
            Voters::Here => "here",
        }
    }

    pub fn parse(text: &str) -> Option<Voters> {
        Voters::ALL.into_iter().find(|voters| voters.name() == text)
    }
}

/// How votes lose weight within a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decay {
    pub window: Window,
    /// Hours for a vote to lose half its weight.
    pub half_life_hours: f64,
}

impl Decay {
    /// The decay Paperboy ranks `window` with: a half-life of [`HALF_LIFE_SHARE`] of it.
    pub fn of(window: Window) -> Decay {
        Decay::with_share(window, HALF_LIFE_SHARE)
    }

    /// A half-life of `share` of the window (what `paperboy eval trending` compares).
    pub fn with_share(window: Window, share: f64) -> Decay {
        Decay {
            window,
            half_life_hours: window.hours() as f64 * share,
        }
    }

    /// What one vote cast `age_hours` ago is worth: 1 when new, halving every half-life, 0
    /// once outside the window. A vote from the future (a clock step) counts as new.
    pub fn vote_weight(&self, age_hours: i64) -> f64 {
        if age_hours >= self.window.hours() {
            return 0.0;
        }
        0.5f64.powf(age_hours.max(0) as f64 / self.half_life_hours)
    }

    /// What a paper's imported upvotes (and its one listing vote) add to its score.
    pub fn listing_score(
        &self,
        external_upvotes: u32,
        listed: NaiveDate,
        reference: NaiveDate,
        now: DateTime<Utc>,
    ) -> f64 {
        (f64::from(external_upvotes) + 1.0)
            * self.vote_weight(listing_age_hours(listed, reference, now))
    }

    /// What `votes` cast here in the hour starting at `hour` add to a paper's score at `now`.
    pub fn votes_score(&self, votes: u32, hour: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
        f64::from(votes) * self.vote_weight(age_hours(hour, now))
    }
}

/// Whole hours from `then` to `now`.
pub fn age_hours(then: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - then).num_hours()
}

/// How old a paper's listing is, in hours, for its imported votes: whole days from its latest
/// listing day to the reference day, plus the hours of today gone by. A listing after the
/// reference day counts as made on it.
pub fn listing_age_hours(listed: NaiveDate, reference: NaiveDate, now: DateTime<Utc>) -> i64 {
    (reference - listed).num_days().max(0) * 24 + i64::from(now.hour())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        crate::day::parse_day(text).unwrap_or_default()
    }

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_vote_loses_half_its_weight_over_the_window_and_ends_with_it() {
        let half_way = 0.5f64.sqrt();
        assert_eq!(Decay::of(Window::Day).vote_weight(0), 1.0);
        assert!((Decay::of(Window::Day).vote_weight(12) - half_way).abs() < 1e-12);
        assert!((Decay::of(Window::Week).vote_weight(84) - half_way).abs() < 1e-12);
        assert!((Decay::of(Window::Month).vote_weight(360) - half_way).abs() < 1e-12);
        assert!((Decay::with_share(Window::Day, 0.25).vote_weight(6) - 0.5).abs() < 1e-12);
        assert!(Decay::of(Window::Day).vote_weight(23) > 0.5);
        assert_eq!(Decay::of(Window::Day).vote_weight(24), 0.0);
        assert_eq!(Decay::of(Window::Week).vote_weight(7 * 24), 0.0);
        assert_eq!(Decay::of(Window::Day).vote_weight(-3), 1.0);
    }

    #[test]
    fn a_paper_voted_up_this_morning_overtakes_one_voted_up_yesterday() {
        let now = time("2026-08-21T18:00:00Z");
        // Yesterday's favourite: 10 votes around noon yesterday.
        let yesterday = Decay::of(Window::Week).votes_score(10, time("2026-08-20T12:00:00Z"), now);
        // This morning's: as many votes at 9 o'clock, 21 hours fresher.
        let morning = Decay::of(Window::Week).votes_score(10, time("2026-08-21T09:00:00Z"), now);
        assert!(morning > yesterday, "{morning} against {yesterday}");
        // In the day window yesterday's votes are gone by now (30 hours old).
        assert_eq!(
            Decay::of(Window::Day).votes_score(10, time("2026-08-20T12:00:00Z"), now),
            0.0
        );
        // Ages are whole hours: 09:59 is as old as 09:00 at 18:00 (8 hours 1 minute).
        assert_eq!(
            Decay::of(Window::Day).votes_score(1, time("2026-08-21T09:59:00Z"), now),
            Decay::of(Window::Day).votes_score(1, time("2026-08-21T10:00:00Z"), now)
        );
    }

    #[test]
    fn imported_votes_count_from_the_start_of_the_listing_day() {
        let reference = day("2026-08-21");
        let now = time("2026-08-21T06:30:00Z");
        // Listed today: 6 hours old at 06:30, a quarter of the day window's half-life.
        let today = Decay::of(Window::Day).listing_score(9, reference, reference, now);
        assert!((today - 10.0 * 0.5f64.powf(0.25)).abs() < 1e-12);
        // Listed yesterday: 30 hours old, outside the day window, a share in the week's.
        assert_eq!(
            Decay::of(Window::Day).listing_score(9, day("2026-08-20"), reference, now),
            0.0
        );
        assert!(Decay::of(Window::Week).listing_score(9, day("2026-08-20"), reference, now) > 0.0);
        // A listing after the reference day counts as made on it.
        assert_eq!(
            Decay::of(Window::Week).listing_score(5, day("2026-08-25"), reference, now),
            Decay::of(Window::Week).listing_score(5, reference, reference, now)
        );
        // Nobody voted: the fresher paper ranks first.
        assert!(
            Decay::of(Window::Week).listing_score(0, reference, reference, now)
                > Decay::of(Window::Week).listing_score(0, day("2026-08-19"), reference, now)
        );
        // Old data: the reference day is the newest day with papers, not today.
        let later = time("2027-01-01T06:30:00Z");
        assert_eq!(
            Decay::of(Window::Day).listing_score(9, reference, reference, later),
            today
        );
    }

    #[test]
    fn windows_end_on_the_reference_day() {
        let today = day("2026-08-21");
        assert_eq!(Window::Day.first_day(today), today);
        assert_eq!(Window::Week.first_day(today), day("2026-08-15"));
        assert_eq!(Window::Month.first_day(today), day("2026-07-23"));
        assert_eq!(Window::parse("week"), Some(Window::Week));
        assert_eq!(Window::parse("year"), None);
        let now = time("2026-08-21T12:00:00Z");
        assert_eq!(Window::Day.start(now), time("2026-08-20T12:00:00Z"));
    }
}
