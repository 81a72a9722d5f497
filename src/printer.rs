//! Where output goes: data (names, tables, diffs) to stdout, everything about the
//! run (status, warnings, errors, details) to stderr, with quiet/verbose decided here.

use std::cell::RefCell;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};

use crate::table::Table;

pub(crate) struct Printer {
    quiet: bool,
    verbose: bool,
    // Buffered so a listing of thousands of IOCs is one write, not one per line.
    out: RefCell<BufWriter<Stdout>>,
    // Set once stdout is closed by the reader (`iocdock list | head`): later data is
    // dropped instead of failing the command.
    closed: RefCell<bool>,
    // While a progress bar is drawn, diagnostics are printed above it.
    bar: RefCell<Option<indicatif::ProgressBar>>,
}

/// A progress bar over many IOCs; drawn only for a person watching a terminal.
pub(crate) struct Progress<'a> {
    printer: &'a Printer,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress<'_> {
    pub(crate) fn step(&self, name: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(name.to_string());
            bar.inc(1);
        }
    }
}

impl Progress<'_> {
    /// Replaces the text beside a spinner (see `Printer::activity`).
    pub(crate) fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    /// Whether anything is drawn: callers print their own lines otherwise.
    pub(crate) fn visible(&self) -> bool {
        self.bar.is_some()
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            self.printer.bar.borrow_mut().take();
        }
    }
}

impl Printer {
    pub(crate) fn new(quiet: bool, verbose: bool) -> Self {
        Printer {
            quiet,
            verbose,
            out: RefCell::new(BufWriter::with_capacity(64 * 1024, io::stdout())),
            closed: RefCell::new(false),
            bar: RefCell::new(None),
        }
    }

    /// Writes data to stdout as given.
    pub(crate) fn data(&self, text: &str) {
        if *self.closed.borrow() {
            return;
        }
        if let Err(e) = self.out.borrow_mut().write_all(text.as_bytes()) {
            self.stdout_failed(e);
        }
    }

    /// Writes one JSON document to stdout (`--format json`), indented, with a final
    /// line break.
    pub(crate) fn json<T: serde::Serialize>(&self, value: &T) {
        // Serializing plain data types with string keys cannot fail.
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_string());
        self.line(&text);
    }

    /// Writes a table to stdout, laid out as `docker service ls` lays out its own.
    pub(crate) fn table(&self, table: &Table) {
        self.data(&table.render());
    }

    /// Writes one line of data to stdout.
    pub(crate) fn line(&self, text: &str) {
        self.data(text);
        self.data("\n");
    }

    /// Bytes of a stream a person may be following (a service log, a client tool's
    /// output): written through at once instead of waiting for the buffer to fill.
    pub(crate) fn stream_out(&self, bytes: &[u8]) {
        if *self.closed.borrow() {
            return;
        }
        let result = {
            let mut out = self.out.borrow_mut();
            out.write_all(bytes).and_then(|()| out.flush())
        };
        if let Err(e) = result {
            self.stdout_failed(e);
        }
    }

    /// The stderr half of such a stream: it belongs to the data, so `--quiet` keeps it.
    pub(crate) fn stream_err(&self, bytes: &[u8]) {
        self.flush();
        let mut err = io::stderr().lock();
        let _ = err.write_all(bytes).and_then(|()| err.flush());
    }

    // The printer is where output is allowed; stdout itself failed here, so the
    // report goes to stderr directly, past the buffer that could not be written.
    #[allow(clippy::print_stderr)]
    fn stdout_failed(&self, e: io::Error) {
        *self.closed.borrow_mut() = true;
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to stdout: {e}");
        }
    }

    pub(crate) fn flush(&self) {
        if *self.closed.borrow() {
            return;
        }
        if let Err(e) = self.out.borrow_mut().flush() {
            self.stdout_failed(e);
        }
    }

    fn diagnostic(&self, text: &str) {
        // Data written so far goes first, so interleaved output stays in order.
        self.flush();
        let write = || {
            let _ = writeln!(io::stderr().lock(), "{text}");
        };
        match self.bar.borrow().as_ref() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// A progress bar for an action over `count` IOCs, on stderr when it is a
    /// terminal and the run is not quiet; invisible otherwise.
    pub(crate) fn progress(&self, count: usize, action: &str) -> Progress<'_> {
        let visible = !self.quiet && count > 1 && styled(&io::stderr());
        let bar = visible.then(|| {
            let bar = indicatif::ProgressBar::new(count as u64);
            let style =
                indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(action.to_string());
            bar
        });
        *self.bar.borrow_mut() = bar.clone();
        Progress { printer: self, bar }
    }

    /// A spinner with the elapsed time for one long task (an image build), on stderr
    /// when it is a terminal and the run is not quiet; invisible otherwise.
    pub(crate) fn activity(&self, prefix: &str) -> Progress<'_> {
        let visible = !self.quiet && styled(&io::stderr());
        let bar = visible.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} {prefix} [{elapsed}] {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(prefix.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        *self.bar.borrow_mut() = bar.clone();
        Progress { printer: self, bar }
    }

    /// What was done, for a person watching; silent with `--quiet`.
    pub(crate) fn status(&self, text: &str) {
        if !self.quiet {
            self.diagnostic(text);
        }
    }

    /// Details shown only with `--verbose`.
    pub(crate) fn detail(&self, text: &str) {
        if self.verbose {
            self.diagnostic(text);
        }
    }

    pub(crate) fn warn(&self, text: &str) {
        if !self.quiet {
            self.diagnostic(&format!("warning: {text}"));
        }
    }

    /// Errors always print, one line each.
    pub(crate) fn error(&self, text: &str) {
        self.diagnostic(&format!("error: {}", text.replace('\n', " ")));
    }

    /// Lines that show what an error is about (a diff), as they are; they always
    /// print, like the error they go with.
    pub(crate) fn error_details(&self, text: &str) {
        self.diagnostic(text.trim_end_matches('\n'));
    }

    /// Whether data on stdout may be coloured (diffs).
    pub(crate) fn colour_stdout(&self) -> bool {
        styled(&io::stdout())
    }
}

/// Whether `NO_COLOR` is set to anything (https://no-color.org: an empty value does
/// not count).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty())
}

/// The one decision on colour and progress bars: only for a person at a terminal, and
/// never with `NO_COLOR`. Output for a pipe, a file or a log stays plain text.
fn styled(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && !no_color()
}

/// The same decision for clap's help and usage errors, taken before the printer
/// exists: never with `NO_COLOR`; otherwise clap colours only a terminal.
pub(crate) fn clap_colour() -> clap::ColorChoice {
    if no_color() {
        clap::ColorChoice::Never
    } else {
        clap::ColorChoice::Auto
    }
}

/// Cuts text to `max` characters and marks the cut with `...`.
pub(crate) fn ellipsize(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    let one_line = one_line.trim();
    if one_line.chars().count() <= max {
        one_line.to_string()
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsize_cuts_long_text() {
        assert_eq!(ellipsize("abcdef", 3), "abc...");
        assert_eq!(ellipsize("abc", 3), "abc");
    }
}
