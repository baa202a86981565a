//! Calendar days as Paperboy writes them everywhere: `YYYY-MM-DD` (ISO 8601), in URLs, forms,
//! flags, cursors and files. One parser, so that every edge accepts the same text.

use chrono::NaiveDate;

/// The day `text` names (`2026-12-07`), or `None` when it is not one.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_iso_days_parse() {
        assert_eq!(
            parse_day("2026-12-07"),
            NaiveDate::from_ymd_opt(2026, 12, 7)
        );
        for text in [
            "",
            "2026-12",
            "2026-13-01",
            "2026-02-30",
            "07/12/2026",
            "2026-12-07x",
        ] {
            assert_eq!(parse_day(text), None, "{text}");
        }
    }
}
