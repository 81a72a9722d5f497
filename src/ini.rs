//! ioc.ini read and written the way Python's `configparser` (default settings) does it,
//! so files written by the original tool and files edited by hand round-trip unchanged.
//!
//! The reader is hand-written rather than rust-ini (0.21 with
//! `enabled_indented_mutiline_value`) because rust-ini does not keep what the original tool
//! relies on: it drops the leading line break of a multi-line value whose first line is
//! empty (`labels = ` then indented lines reads as "test=true\nrack=a", not
//! "\ntest=true\nrack=a"), keeps `#`/`;` comment lines inside a multi-line value as part
//! of the value, silently accepts options before the first section and repeated sections
//! or options, and reports a line without separator as an error at end of file rather
//! than at the offending line.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IniDocument {
    sections: Vec<IniSection>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IniSection {
    pub(crate) name: String,
    pub(crate) options: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum IniError {
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl IniSection {
    pub(crate) fn get(&self, option: &str) -> Option<&str> {
        let key = lower(option);
        self.options
            .iter()
            .find(|(name, _)| *name == *key)
            .map(|(_, value)| value.as_str())
    }
}

impl IniDocument {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Mirrors `RawConfigParser._read`: a line indented deeper than the option line that
    /// started the current value continues it; comment lines are skipped everywhere; blank
    /// lines inside a value are kept as empty lines and trailing ones stripped at the end.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, IniError> {
        let error = |line: usize, message: String| IniError::Syntax {
            path: path.to_path_buf(),
            line,
            message,
        };
        // A BOM from a Windows editor would otherwise make the first header unreadable.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);

        let mut sections: Vec<IniSection> = Vec::new();
        // Line numbers of each section header and each option, only for error messages.
        let mut first_seen: Vec<(usize, Vec<usize>)> = Vec::new();
        // The option whose value continuation lines extend: None right after a header.
        let mut current_option: Option<usize> = None;
        let mut indent_level = 0usize;

        for (index, line) in universal_lines(text).enumerate() {
            let number = index + 1;
            let stripped = py_trim(line);
            if stripped.starts_with('#') || stripped.starts_with(';') {
                continue;
            }
            if stripped.is_empty() {
                if let (Some(section), Some(option)) = (sections.last_mut(), current_option) {
                    section.options[option].1.push('\n');
                }
                continue;
            }
            let indent = line.chars().take_while(|c| is_py_space(*c)).count();
            if let (Some(section), Some(option)) = (sections.last_mut(), current_option)
                && indent > indent_level
            {
                let value = &mut section.options[option].1;
                value.push('\n');
                value.push_str(stripped);
                continue;
            }
            indent_level = indent;

            if let Some(name) = section_header(stripped) {
                if let Some(first) = sections.iter().position(|s| s.name == name) {
                    return Err(error(
                        number,
                        format!(
                            "section [{name}] appears again (first on line {}); each section may appear only once",
                            first_seen[first].0
                        ),
                    ));
                }
                sections.push(IniSection {
                    name: name.to_string(),
                    options: Vec::new(),
                });
                first_seen.push((number, Vec::new()));
                current_option = None;
                continue;
            }

            let Some(section) = sections.last_mut() else {
                return Err(error(
                    number,
                    format!(
                        "found {} before any section header; expected a header such as [IOC] first",
                        quoted(stripped)
                    ),
                ));
            };
            let Some(separator) = stripped.find(['=', ':']) else {
                return Err(error(
                    number,
                    format!(
                        "found {}; expected \"key = value\", a [SECTION] header, a comment starting with # or ;, or an indented continuation line",
                        quoted(stripped)
                    ),
                ));
            };
            let name = py_trim_end(&stripped[..separator]);
            if name.is_empty() {
                return Err(error(
                    number,
                    format!(
                        "found {} with no option name before the separator; expected \"key = value\"",
                        quoted(stripped)
                    ),
                ));
            }
            let name = name.to_lowercase();
            let Some((_, option_lines)) = first_seen.last_mut() else {
                continue;
            };
            if let Some(first) = section.options.iter().position(|(n, _)| *n == name) {
                return Err(error(
                    number,
                    format!(
                        "option \"{name}\" appears again in section [{}] (first on line {}); each option may appear only once per section",
                        section.name, option_lines[first]
                    ),
                ));
            }
            let value = py_trim(&stripped[separator + 1..]).to_string();
            section.options.push((name, value));
            option_lines.push(number);
            current_option = Some(section.options.len() - 1);
        }

        // configparser joins the lines and then `rstrip`s, which drops trailing blank lines.
        for section in &mut sections {
            for (_, value) in &mut section.options {
                let kept = py_trim_end(value).len();
                value.truncate(kept);
            }
        }
        Ok(Self { sections })
    }

    pub(crate) fn render(&self) -> String {
        let size: usize = self
            .sections
            .iter()
            .map(|s| {
                s.name.len()
                    + 4
                    + s.options
                        .iter()
                        .map(|(k, v)| k.len() + v.len() + 8)
                        .sum::<usize>()
            })
            .sum();
        let mut out = String::with_capacity(size);
        for section in &self.sections {
            out.push('[');
            out.push_str(&section.name);
            out.push_str("]\n");
            for (name, value) in &section.options {
                out.push_str(name);
                out.push_str(" = ");
                // Values are kept in storable form (see `storable`), so indenting every
                // following line is enough to keep them inside this option on re-read.
                let mut lines = value.split('\n');
                if let Some(first) = lines.next() {
                    out.push_str(first);
                }
                for line in lines {
                    out.push_str("\n\t");
                    out.push_str(line);
                }
                out.push('\n');
            }
            out.push('\n');
        }
        out
    }

    pub(crate) fn sections(&self) -> &[IniSection] {
        &self.sections
    }

    pub(crate) fn section(&self, name: &str) -> Option<&IniSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub(crate) fn has_section(&self, name: &str) -> bool {
        self.section(name).is_some()
    }

    /// Does nothing for a name that cannot be written as a header (see
    /// `is_valid_section_name`): such a header would not read back as the same section.
    pub(crate) fn add_section(&mut self, name: &str) {
        if is_valid_section_name(name) && !self.has_section(name) {
            self.sections.push(IniSection {
                name: name.to_string(),
                options: Vec::new(),
            });
        }
    }

    pub(crate) fn get(&self, section: &str, option: &str) -> Option<&str> {
        self.section(section)?.get(option)
    }

    /// Stores the value in the form the file reads back (see `storable`), so that a value
    /// can never add a section or option to the file.  Does nothing for a section or
    /// option name that could not be written faithfully (see `is_valid_section_name`,
    /// `is_valid_option_name`); callers validate user-given names with those first.
    pub(crate) fn set(&mut self, section: &str, option: &str, value: &str) {
        let option = option.to_lowercase();
        if !is_valid_section_name(section) || !is_valid_option_name(&option) {
            return;
        }
        self.add_section(section);
        let Some(section) = self.sections.iter_mut().find(|s| s.name == section) else {
            return;
        };
        let value = storable(value);
        match section.options.iter_mut().find(|(n, _)| *n == option) {
            Some(entry) => entry.1 = value,
            None => section.options.push((option, value)),
        }
    }
}

/// A section name that reads back unchanged from `[name]`.
pub(crate) fn is_valid_section_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['\n', '\r'])
}

/// An option name (already lower-case) that reads back unchanged from `name = value`: no
/// separator inside, and nothing that makes the line a comment, a header or a continuation.
pub(crate) fn is_valid_option_name(name: &str) -> bool {
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().last()) else {
        return false;
    };
    !name.contains(['=', ':', '\n', '\r'])
        && !matches!(first, '#' | ';' | '[')
        && !is_py_space(first)
        && !is_py_space(last)
        && name.to_lowercase() == name
}

/// SPEC §4 normalisation of a value the tool writes.
///
/// A line that contains a double quote is only trimmed: quoted iocsh arguments must stay
/// exactly as typed, and rewriting the unquoted rest (`"MSG","x"` into `"MSG", "x"`) would
/// change a line the operator wrote deliberately.  Quotes still protect `;` from splitting.
pub(crate) fn normalise_value(raw: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut push_line = |line: &str| {
        let line = if line.contains('"') {
            py_trim(line).to_string()
        } else {
            normalise_line(line)
        };
        if !line.is_empty() {
            lines.push(line);
        }
    };

    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        if in_quotes {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quotes = false,
                // A line break cannot live inside one ini line, quoted or not.
                '\n' | '\r' => {
                    push_line(&raw[start..i]);
                    start = i + 1;
                    in_quotes = false;
                }
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ';' | '\n' | '\r' => {
                push_line(&raw[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push_line(&raw[start..]);

    match lines.len() {
        0 => String::new(),
        1 => lines.remove(0),
        _ => {
            let mut value = String::new();
            for line in &lines {
                value.push('\n');
                value.push_str(line);
            }
            value
        }
    }
}

/// Lines of a stored value (multi-line values have a leading '\n'): non-empty trimmed lines.
pub(crate) fn value_lines(value: &str) -> Vec<&str> {
    value
        .split('\n')
        .map(py_trim)
        .filter(|line| !line.is_empty())
        .collect()
}

/// Collapses blanks, removes them around `,` `=` `:`, and puts one space after each `,`.
fn normalise_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut pending_blank = false;
    let mut after_separator = false;
    let mut after_comma = false;
    for c in line.chars() {
        if c == ' ' || c == '\t' {
            pending_blank = true;
            continue;
        }
        let separator = matches!(c, ',' | '=' | ':');
        // The space after a comma is added after blanks around separators are removed,
        // so it survives even before another separator (`a, =b`).
        let blank_kept = pending_blank && !out.is_empty() && !after_separator && !separator;
        if after_comma || blank_kept {
            out.push(' ');
        }
        out.push(c);
        pending_blank = false;
        after_separator = separator;
        after_comma = c == ',';
    }
    py_trim(&out).to_string()
}

/// The form in which a value reads back unchanged after `render`: lines split at any line
/// break and trimmed (the reader trims them), continuation lines that would read as
/// comments dropped (configparser has no way to write them), trailing empty lines dropped
/// (the reader strips them).  Empty lines inside stay: they are written as a lone tab and
/// read back as empty lines, exactly like configparser.
fn storable(value: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for (index, line) in universal_lines(value).enumerate() {
        let line = py_trim(line);
        if index > 0 && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        lines.push(line);
    }
    while lines.len() > 1 && lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// The header name of a `[name]` line the way configparser's `\[(?P<header>.+)\]` matches
/// it: up to the last `]`, anything after it ignored.
fn section_header(stripped: &str) -> Option<&str> {
    let rest = stripped.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Lines split like Python's universal newlines (`\n`, `\r\n`, `\r`), which is how the
/// original tool reads the file.
fn universal_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\n', '\r']) {
            Some(i) => {
                let line = &rest[..i];
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
        }
    })
}

/// Python's `str.isspace`, which `strip()` and the regex `\s` use; it differs from Rust's
/// `char::is_whitespace` only in counting the ASCII separators U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_trim(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

fn py_trim_end(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_uppercase) {
        std::borrow::Cow::Owned(s.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The offending line for an error message: escaped so the message stays on one line,
/// and shortened so a binary file does not flood the terminal.
fn quoted(line: &str) -> String {
    const LIMIT: usize = 60;
    match line.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{:?}...", &line[..cut]),
        None => format!("{line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn parse(text: &str) -> Result<IniDocument, IniError> {
        IniDocument::parse(text, Path::new("ioc.ini"))
    }

    fn error_line(text: &str) -> (usize, String) {
        match parse(text) {
            Err(error) => {
                let shown = error.to_string();
                let IniError::Syntax { line, .. } = error;
                (line, shown)
            }
            Ok(doc) => panic!("expected an error, parsed {doc:?}"),
        }
    }

    fn fixture_paths() -> Vec<PathBuf> {
        let dir = Path::new(FIXTURES).join("repository");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("fixture repository")
            .map(|e| e.expect("fixture entry").path().join("ioc.ini"))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        paths
    }

    #[test]
    fn fixtures_round_trip_byte_identical() {
        let paths = fixture_paths();
        assert!(paths.len() >= 3, "fixtures not found under {FIXTURES}");
        for path in paths {
            let text = std::fs::read_to_string(&path).expect("fixture readable");
            let doc = IniDocument::parse(&text, &path).expect("fixture parses");
            assert_eq!(doc.render(), text, "{}", path.display());
            let names: Vec<&str> = doc.sections().iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["IOC", "SRC", "DB", "SETTING", "DEPLOY"]);
        }
    }

    #[test]
    fn fixture_multi_line_value_keeps_leading_line_break() {
        let path = Path::new(FIXTURES).join("repository/worker_test_2/ioc.ini");
        let text = std::fs::read_to_string(&path).expect("fixture readable");
        let doc = IniDocument::parse(&text, &path).expect("fixture parses");
        assert_eq!(doc.get("DEPLOY", "labels"), Some("\ntest=true\nrack=a"));
        assert_eq!(doc.get("DEPLOY", "cpu-limit"), Some("1"));
        assert_eq!(doc.get("SRC", "protocol_file"), Some(""));
        assert_eq!(doc.get("DB", "load"), Some("ramper.db, name=worker_test_2"));
        assert_eq!(
            value_lines(doc.get("DEPLOY", "labels").unwrap_or_default()),
            ["test=true", "rack=a"]
        );
    }

    #[test]
    fn colon_separator_and_first_separator_wins() {
        let doc = parse("[IOC]\nname: a=b\nhost =x:y\n").expect("parses");
        assert_eq!(doc.get("IOC", "name"), Some("a=b"));
        assert_eq!(doc.get("IOC", "host"), Some("x:y"));
        assert_eq!(doc.render(), "[IOC]\nname = a=b\nhost = x:y\n\n");
    }

    #[test]
    fn comments_are_skipped_also_inside_values() {
        let text = "# top\n; top\n[IOC]\n  # indented\nname = x\n\t# inside\n\ty\n;inside\n\tz\nhost = h\n";
        let doc = parse(text).expect("parses");
        assert_eq!(doc.get("IOC", "name"), Some("x\ny\nz"));
        assert_eq!(doc.get("IOC", "host"), Some("h"));
    }

    #[test]
    fn no_inline_comments() {
        let doc = parse("[IOC]\nname = a # b ; c\n").expect("parses");
        assert_eq!(doc.get("IOC", "name"), Some("a # b ; c"));
    }

    #[test]
    fn blank_lines_inside_value_kept_trailing_dropped() {
        let doc = parse("[A]\nk = \n\tx\n\n\ty\n\n\n[B]\nj = 1\n\n").expect("parses");
        assert_eq!(doc.get("A", "k"), Some("\nx\n\ny"));
        assert_eq!(doc.get("B", "j"), Some("1"));
    }

    #[test]
    fn continuation_is_relative_to_option_indent() {
        // Indented options are options, not continuations, right after a header.
        let doc = parse("[A]\n  a = 1\n  b = 2\n    c\n").expect("parses");
        assert_eq!(doc.get("A", "a"), Some("1"));
        assert_eq!(doc.get("A", "b"), Some("2\nc"));
    }

    #[test]
    fn option_names_case_insensitive_sections_not() {
        let mut doc = parse("[IOC]\nName = x\n").expect("parses");
        assert_eq!(doc.get("IOC", "name"), Some("x"));
        assert_eq!(doc.get("IOC", "NAME"), Some("x"));
        assert_eq!(doc.get("ioc", "name"), None);
        assert_eq!(doc.render(), "[IOC]\nname = x\n\n");
        doc.set("IOC", "NaMe", "y");
        assert_eq!(doc.get("IOC", "name"), Some("y"));
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let doc = parse("[A]\r\nk = \r\n\tx\r\tz\r\nj=1").expect("parses");
        assert_eq!(doc.get("A", "k"), Some("\nx\nz"));
        assert_eq!(doc.get("A", "j"), Some("1"));
    }

    #[test]
    fn header_takes_text_up_to_last_bracket() {
        let doc = parse("[A]]\n[B] tail\n").expect("parses");
        let names: Vec<&str> = doc.sections().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["A]", "B"]);
    }

    #[test]
    fn error_option_without_separator() {
        let (line, shown) = error_line("[IOC]\nname = x\nbroken line\n");
        assert_eq!(line, 3);
        assert!(
            shown.starts_with("ioc.ini:3: found \"broken line\""),
            "{shown}"
        );
        assert!(!shown.contains('\n'));
        assert_eq!(error_line("[IOC]\n[]\n").0, 2);
        assert_eq!(error_line("[IOC]\n = x\n").0, 2);
    }

    #[test]
    fn error_option_before_section() {
        let (line, shown) = error_line("# comment\n\nname = x\n[IOC]\n");
        assert_eq!(line, 3);
        assert!(shown.contains("before any section header"), "{shown}");
    }

    #[test]
    fn error_duplicate_section() {
        let (line, shown) = error_line("[IOC]\na = 1\n[DB]\n[IOC]\n");
        assert_eq!(line, 4);
        assert!(
            shown.contains("[IOC]") && shown.contains("line 1"),
            "{shown}"
        );
    }

    #[test]
    fn error_duplicate_option() {
        let (line, shown) = error_line("[IOC]\nname = 1\nhost = 2\nNAME: 3\n");
        assert_eq!(line, 4);
        assert!(
            shown.contains("\"name\"") && shown.contains("line 2"),
            "{shown}"
        );
        // The same option in different sections is fine.
        assert!(parse("[A]\nk = 1\n[B]\nk = 2\n").is_ok());
    }

    #[test]
    fn error_display_is_one_line_even_for_control_characters() {
        let shown = parse("[A]\nbad\u{b}\u{1b}line\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(shown.starts_with("ioc.ini:2: "), "{shown}");
        assert!(!shown.contains(['\n', '\r', '\u{1b}']), "{shown}");
    }

    #[test]
    fn render_layout_like_configparser() {
        let mut doc = IniDocument::new();
        doc.set("IOC", "name", "test");
        doc.set("SRC", "db_file", "");
        doc.set("DEPLOY", "labels", "\ntest=true");
        assert_eq!(
            doc.render(),
            "[IOC]\nname = test\n\n[SRC]\ndb_file = \n\n[DEPLOY]\nlabels = \n\ttest=true\n\n"
        );
    }

    #[test]
    fn editing_keeps_positions() {
        let mut doc = parse("[A]\na = 1\nb = 2\n[B]\n").expect("parses");
        doc.set("A", "a", "9");
        doc.set("A", "c", "3");
        doc.add_section("A");
        doc.add_section("C");
        assert_eq!(doc.render(), "[A]\na = 9\nb = 2\nc = 3\n\n[B]\n\n[C]\n\n");
        assert!(doc.has_section("C"));
        assert_eq!(doc.section("A").and_then(|s| s.get("B")), Some("2"));
    }

    #[test]
    fn normalisation_examples() {
        assert_eq!(
            normalise_value("ramper.db,name = xxx1"),
            "ramper.db, name=xxx1"
        );
        assert_eq!(normalise_value("a=1;b=2"), "\na=1\nb=2");
        assert_eq!(normalise_value("  x  "), "x");
        assert_eq!(
            normalise_value(r#"epicsEnvSet("MSG","a = b")"#),
            r#"epicsEnvSet("MSG","a = b")"#
        );
        assert_eq!(normalise_value("A = 1 ; ; B=2"), "\nA=1\nB=2");
        assert_eq!(
            normalise_value("a=1\nb=2\r\nc=3\rd=4"),
            "\na=1\nb=2\nc=3\nd=4"
        );
        assert_eq!(normalise_value(""), "");
        assert_eq!(normalise_value(" ; ;\n"), "");
        assert_eq!(normalise_value("a   b\t\tc"), "a b c");
        assert_eq!(normalise_value("a ,b,  c ,"), "a, b, c,");
        assert_eq!(normalise_value("x , = y"), "x, =y");
        assert_eq!(
            normalise_value("node.labels.rack == a"),
            "node.labels.rack==a"
        );
        assert_eq!(
            normalise_value("src/a.db : db/a.db : r"),
            "src/a.db:db/a.db:r"
        );
    }

    #[test]
    fn normalisation_leaves_quoted_text_alone() {
        assert_eq!(
            normalise_value(r#"dbLoadRecords("x.db","P=a;  R=b") ; iocInit"#),
            "\ndbLoadRecords(\"x.db\",\"P=a;  R=b\")\niocInit"
        );
        assert_eq!(
            normalise_value(r#"epicsEnvSet("A","say \"x;y\"");b = 1"#),
            "\nepicsEnvSet(\"A\",\"say \\\"x;y\\\"\")\nb=1"
        );
        // A line break ends even an unclosed quote: one ini line cannot hold it.
        assert_eq!(normalise_value("a \"b;c\nd = 1"), "\na \"b;c\nd=1");
    }

    #[test]
    fn value_lines_of_stored_values() {
        assert_eq!(value_lines("\na=1\nb=2"), ["a=1", "b=2"]);
        assert_eq!(value_lines("x"), ["x"]);
        assert!(value_lines("").is_empty());
        assert_eq!(value_lines(" a \r\n\n b"), ["a", "b"]);
    }

    #[test]
    fn normalised_values_are_stored_unchanged() {
        for raw in [
            "ramper.db,name = xxx1",
            "a=1;b=2",
            " x ",
            "A = 1 ; ; B=2",
            "",
        ] {
            let value = normalise_value(raw);
            let mut doc = IniDocument::new();
            doc.set("S", "k", &value);
            assert_eq!(doc.get("S", "k"), Some(value.as_str()));
        }
    }

    #[test]
    fn no_value_can_inject_sections_or_options() {
        let nasty = [
            "x\n[EVIL]\nk = v",
            "x\r\n[EVIL]\r\nk = v",
            "x\r[EVIL]\rk: v",
            "\n[EVIL]",
            "[EVIL]",
            "= v\nk = v",
            "  padded  \n  lines  ",
            "a\n\nb",
            "a\n \t \nb",
            "a\n\n\n",
            "\n",
            "\n\n\nx",
            "a\n# comment\n; other\nb",
            "#first is fine\n  #x",
            "tab\tinside\n\ttabbed",
            "\u{b}vt\u{c}ff\u{1c}\n\u{85}next\u{2028}sep\u{a0}",
            "trailing space \n",
            "\u{feff}[EVIL]",
            "",
        ];
        for value in nasty {
            let mut doc = parse("[IOC]\nname = a\n").expect("parses");
            doc.set("IOC", "name", value);
            doc.set("IOC", "after", "1");
            let rendered = doc.render();
            let again = parse(&rendered).unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(again, doc, "{value:?} rendered as {rendered:?}");
            assert_eq!(again.sections().len(), 1, "{value:?}");
            assert_eq!(again.render(), rendered, "{value:?}");
        }
    }

    #[test]
    fn names_that_cannot_round_trip_are_refused() {
        let mut doc = IniDocument::new();
        doc.set("IOC", "a:b", "1");
        doc.set("IOC", "a=b", "1");
        doc.set("IOC", "#a", "1");
        doc.set("IOC", "[a", "]");
        doc.set("IOC", " a", "1");
        doc.set("IOC", "a\nb", "1");
        doc.set("A\n[B]", "k", "1");
        doc.add_section("");
        assert_eq!(doc, IniDocument::new());
        doc.set("IOC", "Cpu-Limit", "1");
        doc.set("Odd ]Name", "a b", "2");
        let again = parse(&doc.render()).expect("parses");
        assert_eq!(again, doc);
        assert!(is_valid_option_name("cpu-limit"));
        assert!(!is_valid_option_name("Cpu"));
        assert!(!is_valid_option_name(""));
    }

    #[test]
    fn bom_is_ignored() {
        let doc = parse("\u{feff}[IOC]\nname = x\n").expect("parses");
        assert_eq!(doc.get("IOC", "name"), Some("x"));
    }
}
