//! The state the tool keeps per IOC (SPEC §5): health, workflow status, snapshot
//! tracking, export flag, and the reasons behind a warning or error health.
//!
//! The state file keeps its historical name `.info.ini`, so backups, restores and any
//! script that copies an IOC folder keep working unchanged. Its content, however, is
//! no longer a Python pickle: it is JSON with exactly the shape of the decoded pickle
//! (the same shape as `fixtures/expected/worker_test_1/info.ini.json`), pretty-printed
//! with a trailing newline:
//!
//! ```json
//! {
//!   "state": "warning",
//!   "status": "created",
//!   "snapshot": "untracked",
//!   "is_exported": "false",
//!   "error": {},
//!   "warning": { "reason": { "message": "YYYY/mm/dd HH:MM:SS" } }
//! }
//! ```
//!
//! Keeping the pickle's shape (even `is_exported` as the text `"true"`/`"false"`) means
//! one mental model for both formats and a trivially checkable migration.
//!
//! Reading tells the formats apart by their first byte: 0x80 is the PROTO opcode every
//! pickle of protocol 2 or later starts with, so it is a legacy file written by the
//! original tool; `{` after optional whitespace is the current format. A legacy file
//! is decoded leniently (older versions of the original tool omitted `error` and
//! `warning`, and a bool may appear where text is expected) and reported as
//! [`StateFormat::LegacyPickle`] so the caller can rewrite it as JSON. The JSON format
//! is strict: the tool always writes every key, so a missing or unknown key means the
//! file was damaged or written by something else.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

mod pickle;

/// Overall health of an IOC, key `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    Normal,
    Warning,
    Error,
}

/// Where an IOC is in its workflow, key `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Created,
    Generated,
    Exported,
    Restored,
}

/// Whether a snapshot of the IOC is kept, key `snapshot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotState {
    Untracked,
    Tracked,
    Error,
}

/// An enum stored as one lower-case word; gives `Display`, `parse` and the list of
/// accepted words for error messages from a single table.
trait Word: Copy + 'static {
    const ALL: &'static [Self];
    fn word(self) -> &'static str;

    fn from_word(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|value| value.word() == text)
    }

    fn accepted() -> String {
        let words: Vec<&str> = Self::ALL.iter().map(|value| value.word()).collect();
        words.join(", ")
    }
}

impl Word for Health {
    const ALL: &'static [Self] = &[Self::Normal, Self::Warning, Self::Error];
    fn word(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl Word for Status {
    const ALL: &'static [Self] = &[
        Self::Created,
        Self::Generated,
        Self::Exported,
        Self::Restored,
    ];
    fn word(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Generated => "generated",
            Self::Exported => "exported",
            Self::Restored => "restored",
        }
    }
}

impl Word for SnapshotState {
    const ALL: &'static [Self] = &[Self::Untracked, Self::Tracked, Self::Error];
    fn word(self) -> &'static str {
        match self {
            Self::Untracked => "untracked",
            Self::Tracked => "tracked",
            Self::Error => "error",
        }
    }
}

macro_rules! word_enum_api {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.word())
            }
        }

        impl $ty {
            pub(crate) fn parse(text: &str) -> Option<Self> {
                Self::from_word(text)
            }

            /// The accepted words, for messages that say what is expected.
            pub(crate) fn words() -> String {
                Self::accepted()
            }
        }
    )*};
}

word_enum_api!(Health, Status, SnapshotState);

/// reason → message → time the message was last seen (`YYYY/mm/dd HH:MM:SS`).
pub(crate) type Reasons = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IocState {
    /// File key `state`.
    pub(crate) health: Health,
    pub(crate) status: Status,
    pub(crate) snapshot: SnapshotState,
    pub(crate) is_exported: bool,
    /// File key `error`.
    pub(crate) errors: Reasons,
    /// File key `warning`.
    pub(crate) warnings: Reasons,
}

/// Which format a state file was read from; a legacy file should be rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateFormat {
    Json,
    LegacyPickle,
}

/// Most bytes a state file may have. A real one is under 10 KiB; a file far larger
/// was not written by iocdock, and reading it whole for every `list` would cost its
/// size in memory several times over.
pub(crate) const STATE_SIZE_LIMIT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    #[error(
        "{}: state file larger than {} MiB (one holds a few KiB); move it away and run `iocdock update` to start a fresh state",
        path.display(),
        STATE_SIZE_LIMIT >> 20
    )]
    TooLarge { path: PathBuf },
    #[error("{}: empty state file", path.display())]
    Empty { path: PathBuf },
    #[error("{}: not a state file (expected JSON or a legacy pickle)", path.display())]
    NotAStateFile { path: PathBuf },
    #[error("{}: invalid JSON state: {detail}", path.display())]
    Json { path: PathBuf, detail: String },
    #[error("{}: unreadable legacy pickle state: {detail}", path.display())]
    LegacyPickle { path: PathBuf, detail: String },
    #[error("{}: state must be a mapping of keys to values, found {found}", path.display())]
    NotAMapping { path: PathBuf, found: &'static str },
    #[error("{}: missing key \"{key}\"", path.display())]
    MissingKey { path: PathBuf, key: &'static str },
    #[error(
        "{}: unknown key \"{key}\" (expected state, status, snapshot, is_exported, error, warning)",
        path.display()
    )]
    UnknownKey { path: PathBuf, key: String },
    #[error("{}: key {key} must be {expected}, found {found}", path.display())]
    WrongType {
        path: PathBuf,
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{}: key \"{key}\" has invalid value {value:?} (expected one of: {accepted})", path.display())]
    InvalidValue {
        path: PathBuf,
        key: &'static str,
        value: String,
        accepted: String,
    },
}

impl IocState {
    /// The state of a freshly created IOC.
    pub(crate) fn created() -> Self {
        Self {
            health: Health::Normal,
            status: Status::Created,
            snapshot: SnapshotState::Untracked,
            is_exported: false,
            errors: Reasons::new(),
            warnings: Reasons::new(),
        }
    }

    pub(crate) fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Self, StateFormat), StateError> {
        let path_buf = || path.to_path_buf();
        let first = bytes.iter().position(|byte| !byte.is_ascii_whitespace());
        match first.map(|index| bytes[index]) {
            None => Err(StateError::Empty { path: path_buf() }),
            Some(b'{') => {
                let value: serde_json::Value =
                    serde_json::from_slice(bytes).map_err(|err| StateError::Json {
                        path: path_buf(),
                        detail: err.to_string(),
                    })?;
                let state = interpret(Raw::from_json(value), path, Strictness::Json)?;
                Ok((state, StateFormat::Json))
            }
            // Only a byte-0 PROTO marks a pickle; whitespace before it would be garbage.
            Some(pickle::PROTO) if first == Some(0) => {
                let raw = pickle::read(bytes).map_err(|detail| StateError::LegacyPickle {
                    path: path_buf(),
                    detail,
                })?;
                let state = interpret(raw, path, Strictness::Legacy)?;
                Ok((state, StateFormat::LegacyPickle))
            }
            Some(_) => Err(StateError::NotAStateFile { path: path_buf() }),
        }
    }

    /// The file content of the current format: pretty JSON, keys in the order the
    /// original tool pickled them, ending with a newline.
    pub(crate) fn to_json(&self) -> String {
        let exported = if self.is_exported { "true" } else { "false" };
        let file = StateFile {
            state: self.health.word(),
            status: self.status.word(),
            snapshot: self.snapshot.word(),
            is_exported: exported,
            error: &self.errors,
            warning: &self.warnings,
        };
        // Serializing text and maps keyed by text has no failure case in serde_json.
        let mut json = serde_json::to_string_pretty(&file).expect("state serializes to JSON");
        json.push('\n');
        json
    }

    /// Records (or refreshes the time of) a warning; an error health stays an error.
    pub(crate) fn add_warning(&mut self, reason: &str, message: &str, time: &str) {
        record(&mut self.warnings, reason, message, time);
        if self.health != Health::Error {
            self.health = Health::Warning;
        }
    }

    pub(crate) fn add_error(&mut self, reason: &str, message: &str, time: &str) {
        record(&mut self.errors, reason, message, time);
        self.health = Health::Error;
    }

    pub(crate) fn clear_warnings(&mut self) {
        self.warnings.clear();
        self.recompute_health();
    }

    fn recompute_health(&mut self) {
        self.health = if !self.errors.is_empty() {
            Health::Error
        } else if !self.warnings.is_empty() {
            Health::Warning
        } else {
            Health::Normal
        };
    }

    /// SPEC §5 `state_info`: "" when no reasons, otherwise one entry per reason with its
    /// messages and when they were last seen. Errors come before warnings; every line
    /// after the first is indented so it reads as a continuation under `state_info: `,
    /// e.g. (one warning, one message):
    ///
    /// ```text
    /// warning: option "load" in section "DB" invalid.
    ///     db file "missing.db" not found. (last seen 2026/11/22 00:07:40)
    /// ```
    pub(crate) fn state_info(&self) -> String {
        let mut lines = Vec::new();
        for (kind, reasons) in [("error", &self.errors), ("warning", &self.warnings)] {
            for (reason, messages) in reasons {
                lines.push(format!("{kind}: {reason}"));
                for (message, time) in messages {
                    lines.push(format!("{message} (last seen {time})"));
                }
            }
        }
        lines.join(&format!("\n{CONTINUATION}"))
    }

    /// The `[STATE]` lines of `list -i` (SPEC §5), in display order.
    pub(crate) fn display_lines(&self) -> Vec<(&'static str, String)> {
        vec![
            ("state", self.health.to_string()),
            ("state_info", self.state_info()),
            ("status", self.status.to_string()),
            ("snapshot", self.snapshot.to_string()),
            ("is_exported", self.is_exported.to_string()),
        ]
    }
}

const CONTINUATION: &str = "    ";

fn record(reasons: &mut Reasons, reason: &str, message: &str, time: &str) {
    reasons
        .entry(reason.to_owned())
        .or_default()
        .insert(message.to_owned(), time.to_owned());
}

/// Field order is the file's key order, matching the original tool's pickles.
#[derive(Serialize)]
struct StateFile<'a> {
    state: &'static str,
    status: &'static str,
    snapshot: &'static str,
    is_exported: &'static str,
    error: &'a Reasons,
    warning: &'a Reasons,
}

/// A decoded document of either format, reduced to what a state can contain so both
/// formats share one interpretation and the same error messages.
enum Raw {
    Text(String),
    Bool(bool),
    Map(Vec<(String, Raw)>),
    /// Anything else, named the way an operator would describe it.
    Other(&'static str),
}

impl Raw {
    fn from_json(value: serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::String(text) => Self::Text(text),
            Value::Bool(flag) => Self::Bool(flag),
            Value::Object(map) => Self::Map(
                map.into_iter()
                    .map(|(key, value)| (key, Self::from_json(value)))
                    .collect(),
            ),
            Value::Null => Self::Other("null"),
            Value::Number(_) => Self::Other("a number"),
            Value::Array(_) => Self::Other("a list"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Bool(_) => "a bool",
            Self::Map(_) => "a mapping",
            Self::Other(kind) => kind,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Strictness {
    /// Every key required, no other key allowed, `is_exported` only as text.
    Json,
    /// Missing keys take the values of a created IOC, unknown keys are dropped, and
    /// `is_exported` may be a Python bool.
    Legacy,
}

fn interpret(raw: Raw, path: &Path, strictness: Strictness) -> Result<IocState, StateError> {
    let entries = match raw {
        Raw::Map(entries) => entries,
        other => {
            return Err(StateError::NotAMapping {
                path: path.to_path_buf(),
                found: other.kind(),
            });
        }
    };
    let mut state = IocState::created();
    let mut seen = Vec::new();
    for (key, value) in entries {
        match key.as_str() {
            "state" => state.health = word(value, "state", path)?,
            "status" => state.status = word(value, "status", path)?,
            "snapshot" => state.snapshot = word(value, "snapshot", path)?,
            "is_exported" => state.is_exported = exported_flag(value, path, strictness)?,
            "error" => state.errors = reasons(value, "error", path)?,
            "warning" => state.warnings = reasons(value, "warning", path)?,
            _ if strictness == Strictness::Legacy => continue,
            _ => {
                return Err(StateError::UnknownKey {
                    path: path.to_path_buf(),
                    key,
                });
            }
        }
        seen.push(key);
    }
    if strictness == Strictness::Json {
        for key in KEYS {
            if !seen.iter().any(|seen| seen == key) {
                return Err(StateError::MissingKey {
                    path: path.to_path_buf(),
                    key,
                });
            }
        }
    }
    Ok(state)
}

const KEYS: [&str; 6] = [
    "state",
    "status",
    "snapshot",
    "is_exported",
    "error",
    "warning",
];

fn word<T: Word>(value: Raw, key: &'static str, path: &Path) -> Result<T, StateError> {
    let text = match value {
        Raw::Text(text) => text,
        other => return Err(wrong_type(path, quoted(key), "text", &other)),
    };
    T::from_word(&text).ok_or_else(|| StateError::InvalidValue {
        path: path.to_path_buf(),
        key,
        value: text,
        accepted: T::accepted(),
    })
}

fn exported_flag(value: Raw, path: &Path, strictness: Strictness) -> Result<bool, StateError> {
    const KEY: &str = "is_exported";
    match value {
        Raw::Text(text) => match text.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(StateError::InvalidValue {
                path: path.to_path_buf(),
                key: KEY,
                value: text,
                accepted: "true, false".to_owned(),
            }),
        },
        Raw::Bool(flag) if strictness == Strictness::Legacy => Ok(flag),
        other => Err(wrong_type(
            path,
            quoted(KEY),
            "\"true\" or \"false\"",
            &other,
        )),
    }
}

fn reasons(value: Raw, key: &'static str, path: &Path) -> Result<Reasons, StateError> {
    let expected_reasons = "a mapping of reason to messages";
    let expected_messages = "a mapping of message to time";
    let Raw::Map(entries) = value else {
        return Err(wrong_type(path, quoted(key), expected_reasons, &value));
    };
    let mut reasons = Reasons::new();
    for (reason, messages) in entries {
        let Raw::Map(messages) = messages else {
            let key = format!("{}[{reason:?}]", quoted(key));
            return Err(wrong_type(path, key, expected_messages, &messages));
        };
        let mut times = BTreeMap::new();
        for (message, time) in messages {
            let Raw::Text(time) = time else {
                let key = format!("{}[{reason:?}][{message:?}]", quoted(key));
                return Err(wrong_type(path, key, "a time as text", &time));
            };
            times.insert(message, time);
        }
        reasons.insert(reason, times);
    }
    Ok(reasons)
}

fn quoted(key: &str) -> String {
    format!("\"{key}\"")
}

fn wrong_type(path: &Path, key: String, expected: &'static str, found: &Raw) -> StateError {
    StateError::WrongType {
        path: path.to_path_buf(),
        key,
        expected,
        found: found.kind(),
    }
}

#[cfg(test)]
mod tests;
