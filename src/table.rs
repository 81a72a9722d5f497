//! Plain tables like `docker service ls`: header first, columns aligned with three
//! spaces between them, no borders, no trailing blanks. Columns are as wide as their
//! widest cell on the screen, not in characters: a Chinese description takes two
//! columns per character, and counting characters would push the rest of its row
//! out of line.

use unicode_width::UnicodeWidthStr;

/// A table's cells, apart from how it is printed: views build it, the printer
/// prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Columns a cell takes on a terminal. ASCII, nearly every cell, is one column a
/// byte, and counting bytes keeps a thousand-row panel as quick as before.
fn screen_width(cell: &str) -> usize {
    if cell.is_ascii() {
        cell.len()
    } else {
        cell.width()
    }
}

/// What separates two columns, as the docker CLI's tabwriter puts it.
const GAP: &str = "   ";

impl Table {
    /// A row has at most as many cells as the header; a shorter row leaves the
    /// columns on its right empty.
    pub(crate) fn new(header: &[&str], rows: Vec<Vec<String>>) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        }
    }

    /// The table as lines of text, each ended by a line break.
    pub(crate) fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| screen_width(h)).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(screen_width(cell));
            }
        }
        let line_width = widths.iter().sum::<usize>() + GAP.len() * widths.len();
        let mut out = String::with_capacity((self.rows.len() + 1) * line_width);
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let start = out.len();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    out.push_str(GAP);
                }
                out.push_str(cell);
                out.extend(std::iter::repeat_n(
                    ' ',
                    width.saturating_sub(screen_width(cell)),
                ));
            }
            let kept = out[start..].trim_end().len();
            out.truncate(start + kept);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|row| row.iter().map(|cell| cell.to_string()).collect())
            .collect()
    }

    #[test]
    fn aligns_without_borders() {
        let table = Table::new(
            &["IOC", "Description"],
            rows(&[&["a", "first"], &["longer", ""]]),
        );
        assert_eq!(
            table.render(),
            "IOC      Description\na        first\nlonger\n"
        );
    }

    #[test]
    fn header_alone_and_empty_columns() {
        assert_eq!(
            Table::new(&["ID", "NAME"], Vec::new()).render(),
            "ID   NAME\n"
        );
        let table = Table::new(
            &["A", "", "C"],
            rows(&[&["x", "", "z"], &["", "", ""], &["xx"]]),
        );
        assert_eq!(table.render(), "A       C\nx       z\n\nxx\n");
    }

    #[test]
    fn cells_keep_their_own_spaces() {
        let table = Table::new(
            &["NAME", "ERROR"],
            rows(&[&[" \\_ p_srv-a.1", "\"a  b\""], &["p_srv-a.1", ""]]),
        );
        assert_eq!(
            table.render(),
            "NAME            ERROR\n \\_ p_srv-a.1   \"a  b\"\np_srv-a.1\n"
        );
    }

    /// A Chinese character is two columns wide on a terminal: the column after it
    /// starts at the same screen column on every row.
    #[test]
    fn wide_characters_keep_the_columns_in_line() {
        let table = Table::new(
            &["IOC", "Description", "Status"],
            rows(&[
                &["motor", "电机控制", "running"],
                &["vacuum", "真空 gauge", "stopped"],
                &["bpm", "beam position", "running"],
            ]),
        );
        let out = table.render();
        assert_eq!(
            out,
            "IOC      Description     Status\n\
             motor    电机控制        running\n\
             vacuum   真空 gauge      stopped\n\
             bpm      beam position   running\n"
        );
        // Screen columns: these ideographs take two each.
        let width = |text: &str| {
            text.chars()
                .map(|c| {
                    if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                        2
                    } else {
                        1
                    }
                })
                .sum::<usize>()
        };
        let status_at: Vec<usize> = out
            .lines()
            .map(|line| width(&line[..line.rfind(' ').expect("a last column") + 1]))
            .collect();
        assert_eq!(status_at, [25, 25, 25, 25], "{out}");
    }
}
