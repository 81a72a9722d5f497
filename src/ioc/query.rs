//! `list` conditions (SPEC §6): which IOC projects a `key=value` selects.

use crate::ini::normalise_value;
use crate::ioc::config::{self, parse_key_value};
use crate::ioc::repository::IocProject;
use crate::ioc::state::{Health, SnapshotState, Status};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Condition {
    /// Substring of the IOC name.
    NameContains(String),
    /// Case-insensitive substring of `module`; an empty value selects IOCs without modules.
    ModuleContains(String),
    /// Exact match on one field of the state.
    State { field: StateField, value: String },
    /// Exact match of an option of the section given with `-s`.
    Option {
        section: String,
        key: String,
        value: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateField {
    Health,
    Status,
    Snapshot,
    IsExported,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadCondition {
    #[error("condition \"{0}\": expected key=value (e.g. name=ramper or module=autosave)")]
    NoEquals(String),
    #[error("condition \"{raw}\": {key} is one of {accepted}")]
    UnknownValue {
        raw: String,
        key: String,
        accepted: String,
    },
}

impl Condition {
    pub(crate) fn parse(raw: &str, section: &str) -> Result<Condition, BadCondition> {
        let (key, value) =
            parse_key_value(raw).map_err(|_| BadCondition::NoEquals(raw.to_string()))?;
        let value = value.trim().to_string();
        // A value no IOC can have is a typo: say what is possible instead of listing nothing.
        let state = |field, valid: bool, accepted: String| {
            if valid {
                Ok(Condition::State {
                    field,
                    value: value.clone(),
                })
            } else {
                Err(BadCondition::UnknownValue {
                    raw: raw.to_string(),
                    key: key.clone(),
                    accepted,
                })
            }
        };
        Ok(match key.as_str() {
            "name" => Condition::NameContains(value),
            "module" => Condition::ModuleContains(value.to_ascii_lowercase()),
            "state" => state(
                StateField::Health,
                Health::parse(&value).is_some(),
                Health::words(),
            )?,
            "status" => state(
                StateField::Status,
                Status::parse(&value).is_some(),
                Status::words(),
            )?,
            "snapshot" => state(
                StateField::Snapshot,
                SnapshotState::parse(&value).is_some(),
                SnapshotState::words(),
            )?,
            "is_exported" => state(
                StateField::IsExported,
                matches!(value.as_str(), "true" | "false"),
                "true, false".to_string(),
            )?,
            _ => Condition::Option {
                section: section.to_string(),
                key,
                value: normalise_value(&value),
            },
        })
    }

    pub(crate) fn matches(&self, ioc: &IocProject) -> bool {
        match self {
            Condition::NameContains(part) => ioc.name.contains(part.as_str()),
            Condition::ModuleContains(part) => {
                let Some(modules) = ioc.get(config::IOC, "module") else {
                    return false;
                };
                if part.is_empty() {
                    modules.trim().is_empty()
                } else {
                    modules.to_ascii_lowercase().contains(part.as_str())
                }
            }
            Condition::State { field, value } => {
                let state = &ioc.state;
                let actual = match field {
                    StateField::Health => state.health.to_string(),
                    StateField::Status => state.status.to_string(),
                    StateField::Snapshot => state.snapshot.to_string(),
                    StateField::IsExported => state.is_exported.to_string(),
                };
                actual == *value
            }
            Condition::Option {
                section,
                key,
                value,
            } => ioc.get(section, key) == Some(value.as_str()),
        }
    }

    /// Conditions decided by the IOC name alone, without reading any file.
    pub(crate) fn on_name_only(&self) -> bool {
        matches!(self, Condition::NameContains(_))
    }

    pub(crate) fn matches_name(&self, name: &str) -> bool {
        match self {
            Condition::NameContains(part) => name.contains(part.as_str()),
            _ => true,
        }
    }

    /// Conditions that read ioc.ini options, as opposed to name or state.
    pub(crate) fn reads_option(&self) -> bool {
        matches!(self, Condition::Option { .. })
    }
}
