//! The types a setting can have, each with how it is read from YAML and shown by
//! `config`, and the engine's time limits made of two of them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_yaml::Value;

/// A type a setting can have, with how it is read from YAML and shown by `config`.
pub(super) trait SettingType: Sized {
    const EXPECTED: &'static str;
    fn from_yaml(value: &Value) -> Option<Self>;
    fn show(&self) -> String;
}

pub(super) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

impl SettingType for String {
    const EXPECTED: &'static str = "a string";
    fn from_yaml(value: &Value) -> Option<Self> {
        scalar_text(value)
    }
    fn show(&self) -> String {
        self.clone()
    }
}

impl SettingType for u16 {
    const EXPECTED: &'static str = "a port number (1-65535)";
    fn from_yaml(value: &Value) -> Option<Self> {
        let n = match value {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        u16::try_from(n).ok().filter(|port| *port != 0)
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// A time limit in seconds (`10`, `2.5`), from a tenth of a second up to a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeLimit(pub(crate) Duration);

impl TimeLimit {
    pub(super) fn parse(text: &str) -> Option<TimeLimit> {
        let seconds: f64 = text.trim().parse().ok()?;
        (0.1..=86_400.0)
            .contains(&seconds)
            .then(|| TimeLimit(Duration::from_secs_f64(seconds)))
    }
}

/// How long iocdock waits for the engine (settings `engine_read_timeout`,
/// `engine_write_timeout`; connecting is fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineLimits {
    pub(crate) connect: Duration,
    /// Each request that reads (GET, HEAD), and all requests of a command that only
    /// reads.
    pub(crate) read: Duration,
    /// Each request that changes something (create, update, remove), and all requests
    /// of a command that deploys, updates or removes.
    pub(crate) write: Duration,
}

impl EngineLimits {
    pub(crate) const DEFAULT: EngineLimits = EngineLimits {
        connect: Duration::from_secs(3),
        read: Duration::from_secs(10),
        write: Duration::from_secs(60),
    };
}

impl SettingType for TimeLimit {
    const EXPECTED: &'static str = "a number of seconds from 0.1 to 86400";
    fn from_yaml(value: &Value) -> Option<Self> {
        match value {
            Value::Number(n) => TimeLimit::parse(&n.to_string()),
            Value::String(s) => TimeLimit::parse(s),
            _ => None,
        }
    }
    fn show(&self) -> String {
        let text = format!("{:.3}", self.0.as_secs_f64());
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl SettingType for Vec<String> {
    const EXPECTED: &'static str = "a list of strings";
    fn from_yaml(value: &Value) -> Option<Self> {
        match value {
            Value::Sequence(items) => items.iter().map(scalar_text).collect(),
            Value::Null => Some(Vec::new()),
            _ => None,
        }
    }
    fn show(&self) -> String {
        self.join(", ")
    }
}

impl SettingType for BTreeMap<String, String> {
    const EXPECTED: &'static str = "a mapping of hostname to IP address";
    fn from_yaml(value: &Value) -> Option<Self> {
        match value {
            Value::Mapping(map) => map
                .iter()
                .map(|(k, v)| Some((scalar_text(k)?, scalar_text(v)?)))
                .collect(),
            Value::Null => Some(BTreeMap::new()),
            _ => None,
        }
    }
    fn show(&self) -> String {
        let mut out = String::new();
        for (i, (host, ip)) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{host}={ip}");
        }
        out
    }
}

/// A duration of at least one second, written as compose files and Go write them
/// (`30s`, `2m`, `1m30s`); kept as written, so files rendered from it show it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seconds {
    text: String,
    nanos: i64,
}

impl Seconds {
    const NANOS: i64 = 1_000_000_000;

    pub(super) fn new(seconds: u32) -> Seconds {
        Seconds {
            text: format!("{seconds}s"),
            nanos: i64::from(seconds) * Self::NANOS,
        }
    }

    pub(super) fn minutes(minutes: u32) -> Seconds {
        Seconds {
            text: format!("{minutes}m"),
            nanos: i64::from(minutes) * 60 * Self::NANOS,
        }
    }

    pub(crate) fn as_text(&self) -> &str {
        &self.text
    }

    /// Whole seconds, rounded down.
    pub(crate) fn whole_seconds(&self) -> u64 {
        u64::try_from(self.nanos / Self::NANOS).unwrap_or(0)
    }
}

impl SettingType for Seconds {
    const EXPECTED: &'static str = "a duration of at least 1s, such as 30s, 2m or 1m30s";
    fn from_yaml(value: &Value) -> Option<Self> {
        let text = match value {
            Value::String(s) => s.trim().to_string(),
            _ => return None,
        };
        let nanos = crate::compose::units::duration_nanos(&text).ok()?;
        (nanos >= Self::NANOS).then_some(Seconds { text, nanos })
    }
    fn show(&self) -> String {
        self.text.clone()
    }
}

impl SettingType for u32 {
    const EXPECTED: &'static str = "a whole number of at least 1";
    fn from_yaml(value: &Value) -> Option<Self> {
        let n = match value {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        u32::try_from(n).ok().filter(|n| *n != 0)
    }
    fn show(&self) -> String {
        self.to_string()
    }
}
