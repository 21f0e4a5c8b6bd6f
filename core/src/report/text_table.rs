//! Every table the binary prints, rendered by `tabled` in the two looks the commands offer: plain
//! text for a terminal or a CI log (columns two spaces apart, no rules, no trailing blanks) and
//! GitHub Markdown to paste into a review (cells padded so the source reads as a table too, and
//! numeric columns marked right-aligned).

use tabled::builder::Builder;
use tabled::grid::config::Offset;
use tabled::settings::object::{Cell, Columns, Segment};
use tabled::settings::style::LineChar;
use tabled::settings::{Alignment, Padding, Style, Width};

/// Rows of cells with an optional header row, and how each column is aligned.
#[derive(Debug, Clone, Default)]
pub struct TextTable {
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
    right: Vec<usize>,
    min_widths: Vec<(usize, usize)>,
}

impl TextTable {
    /// A table whose first row names the columns.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> TextTable {
        TextTable {
            header: Some(header.into_iter().map(Into::into).collect()),
            ..TextTable::default()
        }
    }

    /// A table of records only, for lines that align like a table but need no header (the
    /// verdicts of `check`).
    pub fn headless() -> TextTable {
        TextTable::default()
    }

    /// Right-aligns these columns (0-based): numbers, so their digits line up.
    pub fn right_align(mut self, columns: impl IntoIterator<Item = usize>) -> TextTable {
        self.right.extend(columns);
        self
    }

    /// Keeps column `column` at least `width` characters wide, so output whose lines a script or
    /// a reader compares between runs keeps its layout whatever the rows hold.
    pub fn min_width(mut self, column: usize, width: usize) -> TextTable {
        self.min_widths.push((column, width));
        self
    }

    /// Appends a row.
    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    fn build(&self, cell: impl Fn(&str) -> String) -> tabled::Table {
        let mut builder = Builder::default();
        for row in self.header.iter().chain(&self.rows) {
            builder.push_record(row.iter().map(|c| cell(c)));
        }
        let mut table = builder.build();
        for &c in &self.right {
            table.modify(Columns::one(c), Alignment::right());
        }
        table
    }

    /// Plain text: one line per row, every line ending in a newline.
    pub fn plain(&self) -> String {
        let mut table = self.build(str::to_string);
        table
            .with(Style::empty())
            .modify(Segment::all(), Padding::new(0, 2, 0, 0))
            .modify(Columns::last(), Padding::zero());
        for &(c, w) in &self.min_widths {
            table.modify(Columns::one(c), Width::increase(w));
        }
        lines(&table.to_string())
    }

    /// GitHub-flavoured Markdown; a table without a header gets an empty one, as Markdown needs.
    pub fn markdown(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut md = self.clone();
        md.header
            .get_or_insert_with(|| vec![String::new(); columns]);
        let mut table = md.build(|c| c.replace('|', "\\|"));
        table.with(Style::markdown());
        for &c in &self.right {
            table.modify(Cell::new(1, c), LineChar::horizontal(':', Offset::End(0)));
        }
        lines(&table.to_string())
    }
}

/// Each line without trailing blanks, each ending in a newline.
fn lines(text: &str) -> String {
    text.lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TextTable {
        let mut t = TextTable::new(["model", "AP", "note"]).right_align([1]);
        t.push(["eresfd-30", "0.8832", "a note"]);
        t.push(["extd", "0.9", ""]);
        t
    }

    #[test]
    fn plain_text_sets_columns_two_spaces_apart_with_numbers_to_the_right() {
        assert_eq!(
            sample().plain(),
            "model          AP  note\n\
             eresfd-30  0.8832  a note\n\
             extd          0.9\n"
        );
    }

    #[test]
    fn markdown_pads_cells_and_marks_right_aligned_columns() {
        assert_eq!(
            sample().markdown(),
            "| model     |     AP | note   |\n\
             |-----------|-------:|--------|\n\
             | eresfd-30 | 0.8832 | a note |\n\
             | extd      |    0.9 |        |\n"
        );
        let mut t = TextTable::headless();
        t.push(["a|b", "c"]);
        assert_eq!(t.markdown(), "|      |   |\n|------|---|\n| a\\|b | c |\n");
    }

    #[test]
    fn a_minimum_width_keeps_a_column_from_shrinking() {
        let mut t = TextTable::headless().min_width(0, 5);
        t.push(["ok", "eresfd-30", "fine"]);
        assert_eq!(t.plain(), "ok     eresfd-30  fine\n");
    }
}
