//! A whole command run as one snapshot: exit code, stdout and stderr together, so a
//! test shows everything a user sees, not the few words it looked for.
//!
//! Text that differs from run to run is filtered before comparing: the temporary home
//! (`[HOME]`), other temporary folders (`[TMP]`), times and backup stamps written
//! while the test ran (`[TIME]`, `[STAMP]`) and Docker's "… ago" (`[AGO]`). Times are
//! filtered only when they fall between the test's start and the end of the run: a
//! fixed time (one of the original tool's fixtures) stays in the snapshot.

use std::fmt;

use chrono::{DateTime, Local, TimeDelta};

use crate::TestContext;

/// Asserts a [`Transcript`] (or [`Transcripts`]) against an inline snapshot, its
/// run-varying text filtered: `assert_transcript!(t.run(&["list"]), @"...")`.
macro_rules! assert_transcript {
    ($transcript:expr, @$snapshot:literal $(,)?) => {{
        let transcript = $transcript;
        let _filters = transcript.settings().bind_to_scope();
        insta::assert_snapshot!(transcript.to_string(), @$snapshot);
    }};
}

/// Everything one run of iocdock showed: exit code, stdout, stderr.
pub(crate) struct Transcript {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    filters: Vec<(String, String)>,
}

impl TestContext {
    /// Runs `iocdock ARGS` (environment as [`TestContext::cmd`]) for a snapshot.
    pub(crate) fn run(&self, args: &[&str]) -> Transcript {
        self.transcript(&mut self.cmd(args))
    }

    /// Runs a command built by [`TestContext::cmd`] (with more environment, input, …).
    pub(crate) fn transcript(&self, cmd: &mut assert_cmd::Command) -> Transcript {
        let output = cmd.output().expect("run iocdock");
        let mut filters = vec![(literal(&self.home().display().to_string()), "[HOME]".into())];
        filters.push((
            format!(
                r"{}/\.tmp[A-Za-z0-9]+",
                literal(std::env::temp_dir().to_string_lossy().trim_end_matches('/'))
            ),
            "[TMP]".into(),
        ));
        filters.extend(time_filters(self.started(), Local::now()));
        filters.push((
            r"\b(less than a second|about a minute|about an hour|\d+ (second|minute|hour|day|week|month|year)s?) ago".into(),
            "[AGO]".into(),
        ));
        Transcript {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            filters,
        }
    }
}

impl Transcript {
    /// insta settings with this run's filters, to bind around the assertion.
    pub(crate) fn settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        for (regex, replacement) in &self.filters {
            settings.add_filter(regex, replacement.as_str());
        }
        settings
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => writeln!(f, "exit {code}")?,
            None => writeln!(f, "killed by a signal")?,
        }
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            writeln!(f, "----- {name} -----")?;
            f.write_str(text)?;
            // A snapshot ignores a final line break; its absence must still show.
            if !text.is_empty() && !text.ends_with('\n') {
                writeln!(f, "\n[no line break at the end]")?;
            }
        }
        Ok(())
    }
}

/// Several runs of one test in one snapshot, each under its command line: for a
/// table of cases that differ only in their arguments.
#[derive(Default)]
pub(crate) struct Transcripts(Vec<(String, Transcript)>);

impl TestContext {
    /// Runs `iocdock ARGS` for each ARGS in turn.
    pub(crate) fn runs(&self, commands: &[&[&str]]) -> Transcripts {
        let mut runs = Transcripts::default();
        for args in commands {
            runs.push(args, self.run(args));
        }
        runs
    }
}

impl Transcripts {
    /// Adds the run of `iocdock ARGS`.
    pub(crate) fn push(&mut self, args: &[&str], run: Transcript) {
        self.0.push((command_line(args), run));
    }

    /// The filters of the last run, whose time window covers the earlier ones.
    pub(crate) fn settings(&self) -> insta::Settings {
        self.0.last().expect("at least one run").1.settings()
    }
}

impl fmt::Display for Transcripts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (line, run)) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "$ {line}")?;
            write!(f, "{run}")?;
        }
        Ok(())
    }
}

/// `iocdock ARGS` as typed in a shell (quoted where a word needs it).
fn command_line(args: &[&str]) -> String {
    let plain = |a: &str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_=.,:/@+".contains(c))
    };
    std::iter::once("iocdock".to_string())
        .chain(args.iter().map(|a| {
            if plain(a) {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` as a regex matching exactly itself.
fn literal(text: &str) -> String {
    let mut regex = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            regex.push('\\');
        }
        regex.push(c);
    }
    regex
}

/// Every time iocdock can have written between `from` and `to` (a second of margin
/// each side), in each format it writes times in.
fn time_filters(from: DateTime<Local>, to: DateTime<Local>) -> Vec<(String, String)> {
    const FORMATS: [(&str, &str); 3] = [
        // State messages and their lists.
        ("%Y/%m/%d %H:%M:%S", "[TIME]"),
        // The operation log.
        ("%Y-%m-%d %H:%M:%S", "[TIME]"),
        // Backup archives and folders set aside.
        ("%Y%m%d%H%M%S", "[STAMP]"),
    ];
    let mut seconds = Vec::new();
    let mut at = from - TimeDelta::seconds(1);
    let end = to + TimeDelta::seconds(1);
    while at <= end {
        seconds.push(at);
        at += TimeDelta::seconds(1);
    }
    FORMATS
        .iter()
        .map(|(format, name)| {
            let any: Vec<String> = seconds
                .iter()
                .map(|s| s.format(format).to_string())
                .collect();
            (format!(r"\b({})\b", any.join("|")), name.to_string())
        })
        .collect()
}
