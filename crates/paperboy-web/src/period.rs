//! The listing periods the daily pages and the API show: a day, an ISO week or a month, named in
//! query strings as the Hugging Face API names them (`date=2026-08-21`, `week=2026-W34`,
//! `month=2026-08`).

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use paperboy_core::day::parse_day;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    Day(NaiveDate),
    /// The ISO week starting on this Monday.
    Week(NaiveDate),
    /// The month starting on this first day.
    Month(NaiveDate),
}

impl Period {
    /// From the query parameters; at most one may be given. `Ok(None)` when none is.
    pub(crate) fn from_params(
        date: Option<&str>,
        week: Option<&str>,
        month: Option<&str>,
    ) -> Result<Option<Period>, String> {
        let given = [date, week, month]
            .iter()
            .filter(|value| value.is_some_and(|text| !text.is_empty()))
            .count();
        if given > 1 {
            return Err("give one of date, week and month".to_owned());
        }
        if let Some(text) = date.filter(|text| !text.is_empty()) {
            return parse_day(text)
                .map(|day| Some(Period::Day(day)))
                .ok_or_else(|| format!("{text:?} is not a date (YYYY-MM-DD)"));
        }
        if let Some(text) = week.filter(|text| !text.is_empty()) {
            return parse_week(text)
                .map(|monday| Some(Period::Week(monday)))
                .ok_or_else(|| format!("{text:?} is not a week (YYYY-Www, e.g. 2026-W34)"));
        }
        if let Some(text) = month.filter(|text| !text.is_empty()) {
            return parse_day(&format!("{text}-01"))
                .map(|first| Some(Period::Month(first)))
                .ok_or_else(|| format!("{text:?} is not a month (YYYY-MM)"));
        }
        Ok(None)
    }

    /// The week of a day.
    pub(crate) fn week_of(day: NaiveDate) -> Period {
        Period::Week(day.week(Weekday::Mon).first_day())
    }

    /// The month of a day.
    pub(crate) fn month_of(day: NaiveDate) -> Period {
        Period::Month(day.with_day(1).unwrap_or(day))
    }

    /// The first and last day.
    pub(crate) fn range(self) -> (NaiveDate, NaiveDate) {
        match self {
            Period::Day(day) => (day, day),
            // The calendar ends (year 262143): a period that runs past it ends there.
            Period::Week(monday) => (
                monday,
                monday
                    .checked_add_days(Days::new(6))
                    .unwrap_or(NaiveDate::MAX),
            ),
            Period::Month(first) => {
                let last = first
                    .checked_add_months(Months::new(1))
                    .and_then(|next| next.pred_opt())
                    .unwrap_or(NaiveDate::MAX);
                (first, last)
            }
        }
    }

    /// The period before and after, as the same kind; days step to the nearest day with papers.
    pub(crate) fn neighbours(
        self,
        listing_dates: &[NaiveDate],
    ) -> (Option<Period>, Option<Period>) {
        let (first, last) = self.range();
        let before = listing_dates
            .iter()
            .rev()
            .find(|&&day| day < first)
            .copied();
        let after = listing_dates.iter().find(|&&day| day > last).copied();
        let same_kind = |day: NaiveDate| match self {
            Period::Day(_) => Period::Day(day),
            Period::Week(_) => Period::week_of(day),
            Period::Month(_) => Period::month_of(day),
        };
        (before.map(same_kind), after.map(same_kind))
    }

    /// The query string that names it.
    pub(crate) fn query(self) -> String {
        match self {
            Period::Day(day) => format!("date={day}"),
            Period::Week(monday) => {
                let week = monday.iso_week();
                format!("week={}-W{:02}", week.year(), week.week())
            }
            Period::Month(first) => format!("month={}", first.format("%Y-%m")),
        }
    }

    /// How a heading names it.
    pub(crate) fn label(self) -> String {
        match self {
            Period::Day(day) => day.format("%A, %-d %B %Y").to_string(),
            Period::Week(monday) => {
                let week = monday.iso_week();
                let (_, sunday) = self.range();
                format!(
                    "week {} of {} ({} to {})",
                    week.week(),
                    week.year(),
                    monday.format("%-d %b"),
                    sunday.format("%-d %b")
                )
            }
            Period::Month(first) => first.format("%B %Y").to_string(),
        }
    }

    pub(crate) fn kind(self) -> &'static str {
        match self {
            Period::Day(_) => "day",
            Period::Week(_) => "week",
            Period::Month(_) => "month",
        }
    }

    /// A day inside it, to switch between day, week and month views.
    pub(crate) fn anchor(self) -> NaiveDate {
        self.range().0
    }
}

fn parse_week(text: &str) -> Option<NaiveDate> {
    let (year, week) = text.split_once("-W")?;
    NaiveDate::from_isoywd_opt(year.parse().ok()?, week.parse().ok()?, Weekday::Mon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        parse_day(text).unwrap_or_default()
    }

    #[test]
    fn periods_at_the_end_of_the_calendar_end_there() {
        let month = Period::month_of(NaiveDate::MAX);
        assert_eq!(month.range().1, NaiveDate::MAX);
        let last_monday = NaiveDate::MAX.week(Weekday::Mon).first_day();
        assert_eq!(Period::Week(last_monday).range().1, NaiveDate::MAX);
    }

    #[test]
    fn parses_each_kind_and_names_it_back() {
        let week = Period::from_params(None, Some("2026-W34"), None);
        assert_eq!(week, Ok(Some(Period::Week(day("2026-08-17")))));
        assert_eq!(
            Period::Week(day("2026-08-17")).range(),
            (day("2026-08-17"), day("2026-08-23"))
        );
        assert_eq!(Period::Week(day("2026-08-17")).query(), "week=2026-W34");
        let month = Period::from_params(None, None, Some("2024-02"));
        assert_eq!(month, Ok(Some(Period::Month(day("2024-02-01")))));
        assert_eq!(
            Period::Month(day("2024-02-01")).range(),
            (day("2024-02-01"), day("2024-02-29"))
        );
        assert_eq!(Period::Month(day("2024-02-01")).query(), "month=2024-02");
        assert_eq!(Period::from_params(None, None, None), Ok(None));
        assert_eq!(Period::from_params(Some(""), None, None), Ok(None));
    }

    #[test]
    fn rejects_nonsense_and_ambiguity() {
        assert!(Period::from_params(Some("2026-02-30"), None, None).is_err());
        assert!(Period::from_params(None, Some("2026-W60"), None).is_err());
        assert!(Period::from_params(None, Some("W34"), None).is_err());
        assert!(Period::from_params(None, None, Some("2026-13")).is_err());
        assert!(Period::from_params(Some("2026-08-21"), Some("2026-W34"), None).is_err());
    }

    #[test]
    fn neighbours_skip_to_periods_with_papers() {
        let dates = [
            day("2026-08-03"),
            day("2026-08-14"),
            day("2026-08-17"),
            day("2026-09-02"),
        ];
        let (before, after) = Period::Day(day("2026-08-14")).neighbours(&dates);
        assert_eq!(before, Some(Period::Day(day("2026-08-03"))));
        assert_eq!(after, Some(Period::Day(day("2026-08-17"))));
        let (before, after) = Period::week_of(day("2026-08-14")).neighbours(&dates);
        assert_eq!(before, Some(Period::Week(day("2026-08-03"))));
        assert_eq!(after, Some(Period::Week(day("2026-08-17"))));
        let (before, after) = Period::month_of(day("2026-08-14")).neighbours(&dates);
        assert_eq!(before, None);
        assert_eq!(after, Some(Period::Month(day("2026-09-01"))));
    }
}
