//! The period a digest belongs to: a day for a daily digest, a week (named by its first day) for
//! a weekly one. Its text (`2026-11-24`, `week-2026-11-23`) is stored as a subscriber's last
//! period and is part of each digest's idempotency key, so it must read back as it was written:
//! [`Period`]'s `Display` and `FromStr` are the only places that write and read it.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use paperboy_core::day::parse_day;

/// A daily digest's day or a weekly digest's week. Periods of one kind are ordered by their
/// day; a day and a week are not comparable (`partial_cmp` is `None`), so a subscriber who
/// switches frequency is never counted as served by a period of the other kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// `2026-11-24`.
    Day(NaiveDate),
    /// `week-2026-11-23`: the week starting on that day.
    Week(NaiveDate),
}

impl PartialOrd for Period {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Period::Day(a), Period::Day(b)) | (Period::Week(a), Period::Week(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day(day) => write!(f, "{day}"),
            Period::Week(first) => write!(f, "week-{first}"),
        }
    }
}

/// Text that is not a period key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a digest period (YYYY-MM-DD or week-YYYY-MM-DD)")]
pub struct PeriodError(String);

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(text: &str) -> Result<Self, PeriodError> {
        match text.strip_prefix("week-") {
            Some(first) => parse_day(first).map(Period::Week),
            None => parse_day(text).map(Period::Day),
        }
        .ok_or_else(|| PeriodError(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(text: &str) -> Period {
        text.parse().unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn reads_back_the_text_it_writes() {
        for text in [
            "2026-11-24",
            "week-2026-11-23",
            "1999-01-01",
            "week-2000-02-28",
        ] {
            assert_eq!(period(text).to_string(), text);
        }
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        assert_eq!(period("2026-11-23"), Period::Day(day));
        assert_eq!(period("week-2026-11-23"), Period::Week(day));
        for text in [
            "",
            "week-",
            "week-2026-13-01",
            "2026-11",
            "month-2026-11-01",
            "Week-2026-11-23",
        ] {
            assert!(text.parse::<Period>().is_err(), "{text}");
        }
    }

    #[test]
    fn periods_of_one_kind_are_ordered_by_day_and_kinds_do_not_compare() {
        assert!(period("2026-11-24") > period("2026-11-23"));
        assert!(period("2026-12-01") > period("2026-11-30"));
        assert!(period("week-2026-11-30") > period("week-2026-11-23"));
        assert!(period("week-2026-11-23") >= period("week-2026-11-23"));
        // A day and a week are neither before nor after one another, whatever their days.
        let (day, week) = (period("2026-11-30"), period("week-2026-11-23"));
        assert_eq!(day.partial_cmp(&week), None);
        assert_eq!(week.partial_cmp(&day), None);
        assert_ne!(day, week);
    }
}
