//! Trending: which papers of a recent window people are upvoting, with newer papers favoured.
//!
//! Until Paperboy records its own votes with their times, the only signal is each paper's
//! imported upvote count and the day it was listed. A paper's score is
//!
//! ```text
//! score = (upvotes + 1) / (age_days + 2) ^ GRAVITY
//! ```
//!
//! where `age_days` counts whole days from its latest listing to the reference day (the newest
//! listing day, so a site whose papers stopped arriving still has a trending list). It is the
//! Hacker News form: the `+ 2` keeps a paper listed today from dividing by a tiny number, and
//! with gravity 1.5 a paper listed a day earlier needs (3/2)^1.5 ≈ 1.84 times the votes (plus
//! one) to rank level with today's. The `+ 1` lets unvoted papers order by freshness instead of
//! tying at 0.
//! Only papers listed within the window (the reference day and the days before it) take part.

use chrono::NaiveDate;

/// How fast age pulls a paper down.
pub const GRAVITY: f64 = 1.5;

/// A trending window, ending on the reference day.
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
}

/// The trending score of a paper with `upvotes`, last listed on `listed`, seen from `reference`.
/// A listing after the reference day counts as listed on it.
pub fn score(upvotes: u32, listed: NaiveDate, reference: NaiveDate) -> f64 {
    let age_days = (reference - listed).num_days().max(0) as f64;
    (f64::from(upvotes) + 1.0) / (age_days + 2.0).powf(GRAVITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn more_votes_rank_higher_on_the_same_day() {
        let today = day("2026-08-21");
        assert!(score(50, today, today) > score(49, today, today));
        assert!(score(1, today, today) > score(0, today, today));
        assert!(score(0, today, today) > 0.0);
    }

    #[test]
    fn age_needs_many_more_votes_to_keep_up() {
        let today = day("2026-08-21");
        let yesterday = day("2026-08-20");
        // (2 + 1)^1.5 / 2^1.5 = 1.84: a day-old paper needs 1.84 times the (votes + 1).
        assert!(score(100, yesterday, today) < score(100, today, today));
        assert!(score(100, yesterday, today) < score(60, today, today));
        assert!(score(100, yesterday, today) > score(50, today, today));
        let ratio = score(9, today, today) / score(9, yesterday, today);
        assert!((ratio - (3.0f64 / 2.0).powf(1.5)).abs() < 1e-12);
        // A week-old hit still beats a fresh paper nobody voted for.
        assert!(score(300, day("2026-08-14"), today) > score(0, today, today));
    }

    #[test]
    fn a_listing_after_the_reference_day_counts_as_fresh() {
        let today = day("2026-08-21");
        assert_eq!(score(5, day("2026-08-25"), today), score(5, today, today));
    }

    #[test]
    fn windows_end_on_the_reference_day() {
        let today = day("2026-08-21");
        assert_eq!(Window::Day.first_day(today), today);
        assert_eq!(Window::Week.first_day(today), day("2026-08-15"));
        assert_eq!(Window::Month.first_day(today), day("2026-07-23"));
        assert_eq!(Window::parse("week"), Some(Window::Week));
        assert_eq!(Window::parse("year"), None);
    }
}
