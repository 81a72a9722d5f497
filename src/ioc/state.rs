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
            Some(PROTO) if first == Some(0) => {
                let pickle_error = |detail: String| StateError::LegacyPickle {
                    path: path_buf(),
                    detail,
                };
                check_pickle(bytes).map_err(pickle_error)?;
                let value = serde_pickle::value_from_slice(bytes, serde_pickle::DeOptions::new())
                    .map_err(|err| pickle_error(err.to_string()))?;
                let state = interpret(Raw::from_pickle(value), path, Strictness::Legacy)?;
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

    fn from_pickle(value: serde_pickle::Value) -> Self {
        use serde_pickle::{HashableValue, Value};
        match value {
            Value::String(text) => Self::Text(text),
            Value::Bool(flag) => Self::Bool(flag),
            Value::Dict(map) => {
                let mut entries = Vec::with_capacity(map.len());
                for (key, value) in map {
                    match key {
                        HashableValue::String(key) => entries.push((key, Self::from_pickle(value))),
                        _ => return Self::Other("a mapping with a key that is not text"),
                    }
                }
                Self::Map(entries)
            }
            Value::None => Self::Other("None"),
            Value::I64(_) | Value::Int(_) | Value::F64(_) => Self::Other("a number"),
            Value::Bytes(_) => Self::Other("bytes"),
            Value::List(_) | Value::Tuple(_) => Self::Other("a list"),
            Value::Set(_) | Value::FrozenSet(_) => Self::Other("a set"),
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

// Pickle opcodes a pickled dict of text (and bools, None, small ints) can contain,
// protocols 2–5.
const PROTO: u8 = 0x80;
const FRAME: u8 = 0x95;
const STOP: u8 = b'.';
const MARK: u8 = b'(';
const EMPTY_DICT: u8 = b'}';
const SETITEM: u8 = b's';
const SETITEMS: u8 = b'u';
const MEMOIZE: u8 = 0x94;
const BINPUT: u8 = b'q';
const LONG_BINPUT: u8 = b'r';
const BINGET: u8 = b'h';
const LONG_BINGET: u8 = b'j';
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE: u8 = b'X';
const BINUNICODE8: u8 = 0x8d;
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const NONE: u8 = b'N';
// Never written by the original tool; accepted so a number reads as a wrong type.
const BININT1: u8 = b'K';
const BININT2: u8 = b'M';
const BININT: u8 = b'J';

/// Deepest dict nesting accepted; a valid state needs 3 (state → reasons → messages).
const MAX_DICT_DEPTH: u32 = 8;
/// Most text bytes that memo references may copy in total.
const MAX_SHARED_TEXT: usize = 1 << 20;

#[derive(Clone, Copy)]
enum Item {
    Mark,
    /// Text, bool, None or a number, with the byte length a memo copy of it costs.
    Scalar {
        len: usize,
        memoized: bool,
    },
    Dict {
        depth: u32,
        memoized: bool,
    },
}

/// Walks the pickle's opcodes before serde-pickle sees them, and accepts only what a
/// pickled dict of text can contain. serde-pickle builds and drops values recursively
/// and copies every memo reference, so a damaged or hostile file could otherwise
/// overflow the stack (deep nesting) or exhaust memory (each level holding the one
/// below twice through the memo doubles the size); neither can be turned into an error
/// afterwards.
fn check_pickle(bytes: &[u8]) -> Result<(), String> {
    let mut stack: Vec<Item> = Vec::new();
    let mut memo: BTreeMap<u32, Item> = BTreeMap::new();
    let mut shared_text = 0usize;
    let mut pos = 0usize;
    let truncated = || "truncated file".to_owned();
    let take = |pos: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = pos.checked_add(n).filter(|&end| end <= bytes.len());
        let end = end.ok_or_else(truncated)?;
        let slice = &bytes[*pos..end];
        *pos = end;
        Ok(slice)
    };
    let le = |slice: &[u8]| {
        slice
            .iter()
            .rev()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte))
    };
    let broken = |opcode: u8, at: usize| {
        format!("unexpected pickle content (opcode 0x{opcode:02x} at byte {at})")
    };
    loop {
        let at = pos;
        let opcode = take(&mut pos, 1)?[0];
        match opcode {
            PROTO => {
                take(&mut pos, 1)?;
            }
            FRAME => {
                take(&mut pos, 8)?;
            }
            STOP => return Ok(()),
            MARK => stack.push(Item::Mark),
            EMPTY_DICT => stack.push(Item::Dict {
                depth: 1,
                memoized: false,
            }),
            NEWTRUE | NEWFALSE | NONE | BININT1 | BININT2 | BININT => {
                let width = match opcode {
                    BININT1 => 1,
                    BININT2 => 2,
                    BININT => 4,
                    _ => 0,
                };
                take(&mut pos, width)?;
                stack.push(Item::Scalar {
                    len: 1,
                    memoized: false,
                });
            }
            SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 => {
                let width = match opcode {
                    SHORT_BINUNICODE => 1,
                    BINUNICODE => 4,
                    _ => 8,
                };
                let len = usize::try_from(le(take(&mut pos, width)?)).map_err(|_| truncated())?;
                take(&mut pos, len)?;
                stack.push(Item::Scalar {
                    len,
                    memoized: false,
                });
            }
            MEMOIZE | BINPUT | LONG_BINPUT => {
                let id = match opcode {
                    // serde-pickle numbers MEMOIZE entries by the memo's size, as Python does.
                    MEMOIZE => u32::try_from(memo.len()).map_err(|_| broken(opcode, at))?,
                    BINPUT => u32::from(take(&mut pos, 1)?[0]),
                    _ => le(take(&mut pos, 4)?) as u32,
                };
                // Memoizing a memo reference makes serde-pickle copy the object; Python
                // never memoizes an object twice.
                let top = stack.last_mut().ok_or_else(|| broken(opcode, at))?;
                match top {
                    Item::Scalar { memoized, .. } | Item::Dict { memoized, .. } if !*memoized => {
                        *memoized = true;
                    }
                    _ => return Err(broken(opcode, at)),
                }
                memo.insert(id, *top);
            }
            BINGET | LONG_BINGET => {
                let id = if opcode == BINGET {
                    u32::from(take(&mut pos, 1)?[0])
                } else {
                    le(take(&mut pos, 4)?) as u32
                };
                // Only text is ever shared in a state pickle; a shared dict is how a
                // pickle multiplies its size.
                match memo.get(&id) {
                    Some(&Item::Scalar { len, .. }) => {
                        shared_text = shared_text.saturating_add(len);
                        if shared_text > MAX_SHARED_TEXT {
                            return Err(broken(opcode, at));
                        }
                        stack.push(Item::Scalar {
                            len,
                            memoized: true,
                        });
                    }
                    _ => return Err(broken(opcode, at)),
                }
            }
            SETITEM | SETITEMS => {
                let mut values = Vec::new();
                if opcode == SETITEM {
                    let value = stack.pop().ok_or_else(|| broken(opcode, at))?;
                    let key = stack.pop().ok_or_else(|| broken(opcode, at))?;
                    values.push((key, value));
                } else {
                    let mark = stack
                        .iter()
                        .rposition(|item| matches!(item, Item::Mark))
                        .ok_or_else(|| broken(opcode, at))?;
                    let items = stack.split_off(mark + 1);
                    stack.pop();
                    if !items.len().is_multiple_of(2) {
                        return Err(broken(opcode, at));
                    }
                    values.extend(items.chunks_exact(2).map(|pair| (pair[0], pair[1])));
                }
                let Some(Item::Dict { depth, .. }) = stack.last_mut() else {
                    return Err(broken(opcode, at));
                };
                for (key, value) in values {
                    match (key, value) {
                        (Item::Scalar { .. }, Item::Scalar { .. }) => {}
                        (Item::Scalar { .. }, Item::Dict { depth: inner, .. }) => {
                            *depth = (*depth).max(inner + 1);
                            if *depth > MAX_DICT_DEPTH {
                                return Err(format!(
                                    "dicts nested deeper than {MAX_DICT_DEPTH} (byte {at})"
                                ));
                            }
                        }
                        _ => return Err(broken(opcode, at)),
                    }
                }
            }
            _ => return Err(broken(opcode, at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    const WT3_REASON: &str = "option \"load\" in section \"DB\" invalid.";
    const WT3_MESSAGE: &str = "db file \"missing.db\" not found.";
    const WT3_TIME: &str = "2026/11/22 00:07:40";

    fn fixture(relative: &str) -> (Vec<u8>, PathBuf) {
        let path = PathBuf::from(format!("{FIXTURES}/{relative}"));
        let bytes = std::fs::read(&path).expect("fixture is readable");
        (bytes, path)
    }

    fn decode_fixture(relative: &str) -> (IocState, StateFormat) {
        let (bytes, path) = fixture(relative);
        IocState::from_bytes(&bytes, &path).expect("fixture decodes")
    }

    fn decode(bytes: &[u8]) -> Result<(IocState, StateFormat), StateError> {
        IocState::from_bytes(bytes, Path::new("/repo/ioc1/.info.ini"))
    }

    /// The error message of a failed decode, checked to name the file.
    fn decode_error(bytes: &[u8]) -> String {
        let message = match decode(bytes) {
            Ok((state, _)) => panic!("expected an error, decoded {state:?}"),
            Err(err) => err.to_string(),
        };
        assert!(message.starts_with("/repo/ioc1/.info.ini: "), "{message}");
        assert!(!message.contains('\n'), "{message}");
        message
    }

    fn worker_test_3() -> IocState {
        let mut state = IocState::created();
        state.health = Health::Warning;
        state
            .warnings
            .entry(WT3_REASON.to_owned())
            .or_default()
            .insert(WT3_MESSAGE.to_owned(), WT3_TIME.to_owned());
        state
    }

    #[test]
    fn words_display_and_parse() {
        for health in Health::ALL {
            assert_eq!(Health::parse(&health.to_string()), Some(*health));
        }
        for status in Status::ALL {
            assert_eq!(Status::parse(&status.to_string()), Some(*status));
        }
        for snapshot in SnapshotState::ALL {
            assert_eq!(SnapshotState::parse(&snapshot.to_string()), Some(*snapshot));
        }
        assert_eq!(Status::Restored.to_string(), "restored");
        assert_eq!(SnapshotState::Error.to_string(), "error");
        assert_eq!(Health::parse("Normal"), None);
        assert_eq!(Status::parse("foo"), None);
    }

    #[test]
    fn worker_test_1_pickle_equals_the_decoded_json() {
        let (state, format) = decode_fixture("repository/worker_test_1/.info.ini");
        assert_eq!(format, StateFormat::LegacyPickle);
        let expected = IocState {
            health: Health::Normal,
            status: Status::Exported,
            snapshot: SnapshotState::Tracked,
            is_exported: true,
            errors: Reasons::new(),
            warnings: Reasons::new(),
        };
        assert_eq!(state, expected);

        let (json_state, json_format) = decode_fixture("expected/worker_test_1/info.ini.json");
        assert_eq!(json_format, StateFormat::Json);
        assert_eq!(json_state, state);

        // The new format is byte for byte what the fixture holds.
        let (json_bytes, _) = fixture("expected/worker_test_1/info.ini.json");
        assert_eq!(state.to_json(), String::from_utf8(json_bytes).unwrap());
    }

    #[test]
    fn worker_test_2_pickle_without_reasons_is_a_created_ioc() {
        let (state, format) = decode_fixture("repository/worker_test_2/.info.ini");
        assert_eq!(format, StateFormat::LegacyPickle);
        assert_eq!(state, IocState::created());
    }

    #[test]
    fn worker_test_3_pickle_has_one_warning() {
        let (state, format) = decode_fixture("repository/worker_test_3/.info.ini");
        assert_eq!(format, StateFormat::LegacyPickle);
        assert_eq!(state, worker_test_3());
        assert!(state.errors.is_empty());
        assert_eq!(
            state.state_info(),
            "warning: option \"load\" in section \"DB\" invalid.\n    \
             db file \"missing.db\" not found. (last seen 2026/11/22 00:07:40)"
        );
    }

    #[test]
    fn older_pickle_protocols_decode_too() {
        // Python's pickle.dumps(worker_test_3 state, protocol=2): BINUNICODE, BINPUT, BINGET.
        let protocol_2 = b"\x80\x02}q\x00(X\x05\x00\x00\x00stateq\x01X\x07\x00\x00\x00warningq\x02X\x06\x00\x00\x00statusq\x03X\x07\x00\x00\x00createdq\x04X\x08\x00\x00\x00snapshotq\x05X\x09\x00\x00\x00untrackedq\x06X\x0b\x00\x00\x00is_exportedq\x07X\x05\x00\x00\x00falseq\x08h\x02}q\x09X&\x00\x00\x00option \"load\" in section \"DB\" invalid.q\x0a}q\x0bX\x1f\x00\x00\x00db file \"missing.db\" not found.q\x0cX\x13\x00\x00\x002026/11/22 00:07:40q\x0dssu.";
        let (state, format) = decode(protocol_2).unwrap();
        assert_eq!(format, StateFormat::LegacyPickle);
        assert_eq!(state, worker_test_3());
    }

    #[test]
    fn pickle_with_a_python_bool_and_a_shared_time() {
        // pickle.dumps({..., 'is_exported': True, 'error': {'r1': {'m1': t, 'm2': t}}}, protocol=4)
        let pickle = b"\x80\x04\x95}\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x05state\x94\x8c\x05error\x94\x8c\x06status\x94\x8c\x08exported\x94\x8c\x08snapshot\x94\x8c\x07tracked\x94\x8c\x0bis_exported\x94\x88h\x02}\x94\x8c\x02r1\x94}\x94(\x8c\x02m1\x94\x8c\x132026/01/02 03:04:05\x94\x8c\x02m2\x94h\x0cusu.";
        let (state, _) = decode(pickle).unwrap();
        let mut expected = IocState::created();
        expected.status = Status::Exported;
        expected.snapshot = SnapshotState::Tracked;
        expected.is_exported = true;
        expected.add_error("r1", "m1", "2026/01/02 03:04:05");
        expected.add_error("r1", "m2", "2026/01/02 03:04:05");
        assert_eq!(state, expected);
        assert_eq!(
            state.state_info(),
            "error: r1\n    m1 (last seen 2026/01/02 03:04:05)\n    m2 (last seen 2026/01/02 03:04:05)"
        );
    }

    #[test]
    fn legacy_pickle_ignores_unknown_keys() {
        use serde_pickle::{HashableValue, Value};
        let mut map = BTreeMap::new();
        map.insert(
            HashableValue::String("state".into()),
            Value::String("error".into()),
        );
        map.insert(HashableValue::String("extra".into()), Value::I64(3));
        let bytes = serde_pickle::value_to_vec(&Value::Dict(map), Default::default()).unwrap();
        let (state, _) = decode(&bytes).unwrap();
        assert_eq!(state.health, Health::Error);
        assert_eq!(state.status, Status::Created);
    }

    #[test]
    fn json_round_trip() {
        let mut state = worker_test_3();
        state.status = Status::Restored;
        state.snapshot = SnapshotState::Error;
        state.is_exported = true;
        state.add_error("naïve \"reason\"\\", "line\nbreak", "2026/01/01 00:00:00");
        state.add_warning(WT3_REASON, "second", "2026/01/01 00:00:01");
        let json = state.to_json();
        assert!(json.ends_with("}\n"));
        let (decoded, format) = decode(json.as_bytes()).unwrap();
        assert_eq!(format, StateFormat::Json);
        assert_eq!(decoded, state);
        // Leading whitespace is still JSON.
        let (decoded, _) = decode(format!("\n  {json}").as_bytes()).unwrap();
        assert_eq!(decoded, state);
    }

    #[test]
    fn json_keeps_the_pickle_shape() {
        assert_eq!(
            worker_test_3().to_json(),
            r#"{
  "state": "warning",
  "status": "created",
  "snapshot": "untracked",
  "is_exported": "false",
  "error": {},
  "warning": {
    "option \"load\" in section \"DB\" invalid.": {
      "db file \"missing.db\" not found.": "2026/11/22 00:07:40"
    }
  }
}
"#
        );
    }

    #[test]
    fn every_legacy_fixture_rewritten_as_json_decodes_the_same() {
        for ioc in ["worker_test_1", "worker_test_2", "worker_test_3"] {
            let (legacy, _) = decode_fixture(&format!("repository/{ioc}/.info.ini"));
            let (json, format) = decode(legacy.to_json().as_bytes()).unwrap();
            assert_eq!(format, StateFormat::Json);
            assert_eq!(json, legacy, "{ioc}");
        }
    }

    #[test]
    fn not_a_state_file() {
        assert_eq!(decode_error(b""), "/repo/ioc1/.info.ini: empty state file");
        assert_eq!(
            decode_error(b" \n\t"),
            "/repo/ioc1/.info.ini: empty state file"
        );
        assert_eq!(
            decode_error(b"[STATE]\nstate: normal\n"),
            "/repo/ioc1/.info.ini: not a state file (expected JSON or a legacy pickle)"
        );
        decode_error(b"[]");
        decode_error(b"\"normal\"");
        // A pickle marker after whitespace is not a pickle.
        decode_error(b" \x80\x04}.");
        // Protocol 0 pickles have no marker; the original tool never wrote them.
        decode_error(b"(dp0\nS'state'\np1\nS'normal'\np2\ns.");
    }

    #[test]
    fn json_with_wrong_values() {
        let valid: serde_json::Value =
            serde_json::from_str(&IocState::created().to_json()).unwrap();
        let with = |key: &str, value: serde_json::Value| {
            let mut doc = valid.clone();
            doc[key] = value;
            decode_error(doc.to_string().as_bytes())
        };
        assert_eq!(
            with("status", "foo".into()),
            "/repo/ioc1/.info.ini: key \"status\" has invalid value \"foo\" \
             (expected one of: created, generated, exported, restored)"
        );
        assert_eq!(
            with("state", "Normal".into()),
            "/repo/ioc1/.info.ini: key \"state\" has invalid value \"Normal\" \
             (expected one of: normal, warning, error)"
        );
        assert!(with("snapshot", "none".into()).contains("untracked, tracked, error"));
        assert!(with("is_exported", "yes".into()).contains("expected one of: true, false"));
        assert_eq!(
            with("is_exported", true.into()),
            "/repo/ioc1/.info.ini: key \"is_exported\" must be \"true\" or \"false\", found a bool"
        );
        assert_eq!(
            with("status", 3.into()),
            "/repo/ioc1/.info.ini: key \"status\" must be text, found a number"
        );
        assert_eq!(
            with("error", serde_json::json!([])),
            "/repo/ioc1/.info.ini: key \"error\" must be a mapping of reason to messages, found a list"
        );
        assert_eq!(
            with("warning", serde_json::json!({"r": "m"})),
            "/repo/ioc1/.info.ini: key \"warning\"[\"r\"] must be a mapping of message to time, found text"
        );
        assert_eq!(
            with("warning", serde_json::json!({"r": {"m": null}})),
            "/repo/ioc1/.info.ini: key \"warning\"[\"r\"][\"m\"] must be a time as text, found null"
        );
        assert!(with("extra", "x".into()).contains("unknown key \"extra\""));

        let mut missing = valid.clone();
        missing.as_object_mut().unwrap().remove("snapshot");
        assert_eq!(
            decode_error(missing.to_string().as_bytes()),
            "/repo/ioc1/.info.ini: missing key \"snapshot\""
        );
        assert!(decode_error(b"{\"state\": ").contains("invalid JSON state"));
        assert!(decode_error(b"{} trailing").contains("invalid JSON state"));
    }

    #[test]
    fn pickle_with_wrong_values() {
        use serde_pickle::{HashableValue, Value};
        let encode = |entries: Vec<(&str, Value)>| {
            let map = entries
                .into_iter()
                .map(|(key, value)| (HashableValue::String(key.into()), value))
                .collect();
            serde_pickle::value_to_vec(&Value::Dict(map), Default::default()).unwrap()
        };
        let message = decode_error(&encode(vec![("status", Value::String("foo".into()))]));
        assert_eq!(
            message,
            "/repo/ioc1/.info.ini: key \"status\" has invalid value \"foo\" \
             (expected one of: created, generated, exported, restored)"
        );
        let message = decode_error(&encode(vec![("error", Value::None)]));
        assert!(
            message.contains("key \"error\" must be a mapping"),
            "{message}"
        );
        let message = decode_error(&encode(vec![("is_exported", Value::I64(1))]));
        assert!(message.contains("found a number"), "{message}");
        let message = decode_error(
            &serde_pickle::value_to_vec(&Value::String("normal".into()), Default::default())
                .unwrap(),
        );
        assert!(message.ends_with("must be a mapping of keys to values, found text"));
    }

    #[test]
    fn truncated_pickles_are_errors() {
        for ioc in ["worker_test_1", "worker_test_2", "worker_test_3"] {
            let (bytes, _) = fixture(&format!("repository/{ioc}/.info.ini"));
            for len in 1..bytes.len() {
                let message = decode_error(&bytes[..len]);
                assert!(
                    message.contains("legacy pickle"),
                    "{ioc} [..{len}]: {message}"
                );
            }
        }
    }

    /// Deterministic bytes, so a failure can be replayed.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn random_bytes_never_panic() {
        for seed in 0..2000u64 {
            let mut bytes = noise(seed, (seed % 300) as usize + 1);
            if seed % 2 == 0 {
                bytes[0] = PROTO;
            }
            if seed % 7 == 0 {
                bytes[0] = b'{';
            }
            let message = decode_error(&bytes);
            assert!(!message.is_empty());
        }
    }

    #[test]
    fn damaged_fixture_bytes_never_panic() {
        for ioc in ["worker_test_1", "worker_test_2", "worker_test_3"] {
            let (bytes, _) = fixture(&format!("repository/{ioc}/.info.ini"));
            for index in 0..bytes.len() {
                for flip in [0x01, 0x02, 0x10, 0x80, 0xff] {
                    let mut damaged = bytes.clone();
                    damaged[index] ^= flip;
                    // Some damage still decodes (a changed letter in a message); the
                    // rest must be a one-line error naming the file.
                    if let Err(err) = decode(&damaged) {
                        assert!(err.to_string().starts_with("/repo/ioc1/.info.ini: "));
                    }
                }
            }
        }
    }

    #[test]
    fn hostile_pickles_are_refused_before_decoding() {
        // A million nested dicts would overflow the stack inside serde-pickle.
        let depth = 1_000_000;
        let mut deep = vec![PROTO, 4, EMPTY_DICT];
        for _ in 0..depth {
            deep.extend_from_slice(&[SHORT_BINUNICODE, 1, b'k', EMPTY_DICT]);
        }
        deep.extend(std::iter::repeat_n(SETITEM, depth));
        deep.push(STOP);
        assert!(decode_error(&deep).contains("nested deeper than 8"));

        // Each level holds the previous one twice: 2^40 copies from a few hundred bytes.
        let mut laughs = vec![PROTO, 4, EMPTY_DICT, MEMOIZE];
        for level in 0..40u8 {
            laughs.extend_from_slice(&[EMPTY_DICT, MEMOIZE, MARK]);
            for key in [b'a', b'b'] {
                laughs.extend_from_slice(&[SHORT_BINUNICODE, 1, key, BINGET, 2 * level]);
            }
            laughs.push(SETITEMS);
        }
        laughs.push(STOP);
        assert!(decode_error(&laughs).contains("unexpected pickle content"));

        // Lists are not part of a state, whatever their depth.
        let lists = [&[PROTO, 4][..], &[b']'; 100_000], &[STOP]].concat();
        assert!(decode_error(&lists).contains("opcode 0x5d at byte 2"));

        // A long text copied through the memo again and again.
        let mut copies = vec![PROTO, 4, EMPTY_DICT, BINUNICODE];
        copies.extend_from_slice(&(1u32 << 16).to_le_bytes());
        copies.extend(std::iter::repeat_n(b'x', 1 << 16));
        copies.push(MEMOIZE);
        copies.push(MARK);
        for _ in 0..100 {
            copies.extend_from_slice(&[BINGET, 0, BINGET, 0]);
        }
        copies.extend_from_slice(&[SETITEMS, STOP]);
        assert!(decode_error(&copies).contains("unexpected pickle content"));
    }

    #[test]
    fn warnings_and_errors_drive_health() {
        let mut state = IocState::created();
        assert_eq!(state.state_info(), "");

        state.add_warning("w", "m1", "2026/01/01 00:00:00");
        assert_eq!(state.health, Health::Warning);
        state.add_warning("w", "m1", "2026/01/02 00:00:00");
        assert_eq!(state.warnings["w"]["m1"], "2026/01/02 00:00:00");
        assert_eq!(state.warnings["w"].len(), 1);

        state.add_error("e", "m2", "2026/01/03 00:00:00");
        assert_eq!(state.health, Health::Error);
        state.add_warning("w2", "m3", "2026/01/04 00:00:00");
        assert_eq!(state.health, Health::Error);
        assert_eq!(
            state.state_info(),
            "error: e\n    m2 (last seen 2026/01/03 00:00:00)\n    \
             warning: w\n    m1 (last seen 2026/01/02 00:00:00)\n    \
             warning: w2\n    m3 (last seen 2026/01/04 00:00:00)"
        );

        state.clear_warnings();
        assert_eq!(state.health, Health::Error);
        assert!(state.warnings.is_empty());
        state.errors.clear();
        state.clear_warnings();
        assert_eq!(state.health, Health::Normal);
        assert_eq!(state.state_info(), "");

        // Health recorded without reasons (as a hand-made or legacy file may have)
        // is recomputed from what is left.
        state.health = Health::Error;
        state.clear_warnings();
        assert_eq!(state.health, Health::Normal);
    }

    #[test]
    fn display_lines_follow_the_spec_example() {
        let (state, _) = decode_fixture("repository/worker_test_1/.info.ini");
        assert_eq!(
            state.display_lines(),
            vec![
                ("state", "normal".to_owned()),
                ("state_info", String::new()),
                ("status", "exported".to_owned()),
                ("snapshot", "tracked".to_owned()),
                ("is_exported", "true".to_owned()),
            ]
        );
    }
}
