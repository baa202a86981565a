//! Paperboy's own export format: JSON lines, one [`PaperRecord`] a line, with every field
//! present (`null` when unknown). Importing an export into an empty store and exporting again
//! gives the same bytes; docs/formats.md describes the fields.

use std::io::{self, Write};

use paperboy_core::PaperRecord;

/// Writes one record as a line of the export format.
pub fn write_record(writer: &mut impl Write, record: &PaperRecord) -> io::Result<()> {
    serde_json::to_writer(&mut *writer, record)?;
    writer.write_all(b"\n")
}
