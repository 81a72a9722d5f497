//! The host's own tools as iocdock runs them (settings commands, ansible, editors),
//! how their end is told, and how words and messages are shown on one line. A leaf:
//! it knows nothing of IOCs, swarms or clusters.

use std::io;
use std::os::fd::AsFd;
use std::process::{Command, ExitStatus, Stdio};

/// How a host command ended when it did not succeed. Each caller words it as its
/// own messages always did, so operators' scripts matching them keep working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
    /// Neither (a stopped process); std's own description.
    Other(String),
}

impl Exit {
    pub(crate) fn of(status: ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Other(status.to_string()),
        }
    }
}

/// Runs a command line of the settings through `sh -c`. Its output is diagnostics,
/// so its stdout goes to our stderr and our stdout keeps only data; stdin is closed
/// so it cannot wait for an answer nobody gives.
pub(crate) fn run_diagnostic_shell(command: &str) -> io::Result<ExitStatus> {
    let stdout = io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::null(), Stdio::from);
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(stdout)
        .status()
}

/// Text on one line, so a multi-line message of a daemon or a parser keeps a table
/// row or an error line intact.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line of output a container or a build produced, as a terminal would leave it
/// (the text after its last carriage return) and safe to show on one: escape
/// sequences (colours, cursor moves, window titles) and other control characters are
/// dropped, so what runs in a container cannot drive the operator's terminal.
pub(crate) fn printable(line: &str) -> String {
    let line = line
        .rsplit('\r')
        .find(|part| !part.is_empty())
        .unwrap_or_default();
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte @ to ~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC and the other strings: up to BEL or ESC \.
                Some(']' | 'P' | '_' | '^' | 'X') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A word quoted only when the shell would split or expand it, so a shown or logged
/// command line can be pasted back into a terminal. Not the `shell-words` crate: it
/// quotes `=` and `%`, which every `key=value` argument holds, and leaves `~`, `!`
/// and `{` bare, which a shell expands.
pub(crate) fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Words as one command line, each quoted as `shell_word` does.
pub(crate) fn shell_line<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|word| shell_word(word.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {

    #[test]
    fn printable_drops_what_drives_a_terminal() {
        assert_eq!(
            printable("\u{1b}[91mmake: *** Error 2\u{1b}[0m"),
            "make: *** Error 2"
        );
        assert_eq!(printable("a\u{1b}]0;owned\u{7}b\u{1b}]2;x\u{1b}\\c"), "abc");
        assert_eq!(printable("(Reading 5%\r(Reading 100%\r"), "(Reading 100%");
        assert_eq!(printable("tab\there\u{8}\u{0}"), "tab\there");
        assert_eq!(printable("\u{1b}[2J\u{1b}[H"), "");
    }

    use super::*;

    #[test]
    fn words_are_quoted_only_when_a_shell_would_split_or_expand_them() {
        assert_eq!(shell_word("list"), "list");
        assert_eq!(shell_word("--limit=w1"), "--limit=w1");
        assert_eq!(shell_word("labels=a b"), "'labels=a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("~/x"), "'~/x'");
        assert_eq!(shell_word("w[0]"), "'w[0]'");
        assert_eq!(
            shell_line(&["./caput", "a:b", "two words"]),
            "./caput a:b 'two words'"
        );
    }

    #[test]
    fn exits_are_told_by_code_or_signal() {
        let code = run_diagnostic_shell("exit 3").unwrap();
        assert_eq!(Exit::of(code), Exit::Code(3));
        let killed = run_diagnostic_shell("kill -9 $$").unwrap();
        assert_eq!(Exit::of(killed), Exit::Signal(9));
    }

    #[test]
    fn one_line_joins_every_whitespace_run() {
        assert_eq!(one_line(" a\n  b\tc \n"), "a b c");
    }
}
