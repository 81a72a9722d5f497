//! Each rule of an option: what it accepts, and the words that describe it in errors
//! and in the documentation.

use super::check::{Context, Subject, shown};
use super::{IOC, Module, Rule, SWARM_HOST};
use crate::ini::{IniDocument, value_lines};
use crate::schema::values::{self, BIN_RULE, CPUS_RULE, IMAGE_RULE, PV_RULE};

const HOST_RULE: &str = "expected swarm or a host name: dot-separated labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-', 253 characters at most";

/// Whether `host` is `swarm` or a host name of RFC 1123, which can never be a path
/// (`[IOC] host` names a folder of the run directory, `$MOUNT_PATH/<host>/<name>`).
pub(crate) fn is_valid_host(host: &str) -> bool {
    host == SWARM_HOST || values::is_dns_name(host)
}

/// An `[IOC] host` that is no host name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("IOC \"{ioc}\": option \"host\" of section [IOC] is \"{value}\": {HOST_RULE}")]
pub(crate) struct InvalidHost {
    pub(crate) ioc: String,
    pub(crate) value: String,
}

/// Where the IOC runs as written: `swarm`, or a host name for IOCs run outside the
/// swarm (`checked_host` says whether it is one).
pub(crate) fn host(doc: &IniDocument) -> &str {
    doc.get(IOC, "host").unwrap_or(SWARM_HOST)
}

/// The host of an ioc.ini, checked; an ioc.ini without the option (older files) runs
/// in the swarm, an empty value is refused like any other that is no host name.
pub(crate) fn checked_host<'a>(ioc: &str, doc: &'a IniDocument) -> Result<&'a str, InvalidHost> {
    let value = host(doc);
    if is_valid_host(value) {
        Ok(value)
    } else {
        Err(InvalidHost {
            ioc: ioc.to_string(),
            value: value.escape_default().to_string(),
        })
    }
}

impl Rule {
    /// What the rule expects, in the words of the documentation.
    pub(crate) fn describe(self) -> String {
        match self {
            Rule::OwnName => "the IOC's own name (changed by `iocdock rename`)".to_string(),
            Rule::Host => HOST_RULE.trim_start_matches("expected ").to_string(),
            Rule::Image => IMAGE_RULE.trim_start_matches("expected ").to_string(),
            Rule::Bin => BIN_RULE.trim_start_matches("expected ").to_string(),
            Rule::Modules => format!("comma-separated modules of {}", module_names()),
            Rule::Text => "any text".to_string(),
            Rule::Files(ext) => format!("comma-separated names of *.{ext} files of src/"),
            Rule::LoadLines => {
                "lines FILE.db or FILE.db, MACRO=value, ... (FILE.db a file of src/)".to_string()
            }
            Rule::Boolean => "true or false".to_string(),
            Rule::EnvLines => values::ENV_RULE.trim_start_matches("expected ").to_string(),
            Rule::Labels => format!(
                "lines {}",
                values::LABEL_RULE.trim_start_matches("expected ")
            ),
            Rule::Cpus => CPUS_RULE.trim_start_matches("expected ").to_string(),
            Rule::Memory { minimum } => values::memory_rule(minimum)
                .trim_start_matches("expected ")
                .to_string(),
            Rule::Constraints => format!(
                "lines {}",
                values::CONSTRAINT_RULE.trim_start_matches("expected ")
            ),
            Rule::FileCopies => {
                "lines src/FILE:DEST[:MODE] or templates/FILE:DEST[:MODE], DEST inside project/, MODE of r, w, x with r".to_string()
            }
            Rule::Switch => "true or false (empty: true)".to_string(),
            Rule::PvName => PV_RULE.trim_start_matches("expected ").to_string(),
        }
    }

    /// Every way `value` breaks the rule. Empty values are judged by `needed_for`.
    pub(super) fn check(self, value: &str, ctx: &Context<'_>) -> Vec<(Subject, String)> {
        let whole = |rule: Result<(), String>| match rule {
            Ok(()) => Vec::new(),
            Err(rule) => vec![(Subject::Value(value.to_string()), rule)],
        };
        let each_line = |check: &dyn Fn(&str) -> Result<(), Vec<String>>| {
            value_lines(value)
                .into_iter()
                .flat_map(|line| match check(line) {
                    Ok(()) => Vec::new(),
                    Err(rules) => rules
                        .into_iter()
                        .map(|rule| (Subject::Line(line.to_string()), rule))
                        .collect(),
                })
                .collect::<Vec<_>>()
        };
        let trimmed = value.trim();
        match self {
            Rule::Text => Vec::new(),
            Rule::Switch => whole(
                if ["", "true", "false"].contains(&trimmed.to_ascii_lowercase().as_str()) {
                    Ok(())
                } else {
                    Err("expected true or false (empty: true)".to_string())
                },
            ),
            Rule::PvName => whole(if trimmed.is_empty() || values::is_pv_name(trimmed) {
                Ok(())
            } else {
                Err(PV_RULE.to_string())
            }),
            Rule::OwnName => whole(if value == ctx.ioc {
                Ok(())
            } else {
                Err(format!(
                    "expected the IOC's own name \"{}\" (the name changes with iocdock rename)",
                    ctx.ioc
                ))
            }),
            Rule::Host => whole(if is_valid_host(value) {
                Ok(())
            } else {
                Err(HOST_RULE.to_string())
            }),
            Rule::Image if trimmed.is_empty() => Vec::new(),
            Rule::Image => whole(values::image(trimmed)),
            Rule::Bin if trimmed.is_empty() => Vec::new(),
            Rule::Bin => whole(if values::is_bin_name(trimmed) {
                Ok(())
            } else {
                Err(BIN_RULE.to_string())
            }),
            Rule::Modules => value
                .split(',')
                .map(str::trim)
                .filter(|word| !word.is_empty() && Module::parse(word).is_none())
                .map(|word| {
                    (
                        Subject::Item(word.to_string()),
                        format!("not a module (known: {})", module_names()),
                    )
                })
                .collect(),
            Rule::Files(ext) => value
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .filter(|name| {
                    name.contains(['/', '\\'])
                        || !name
                            .rsplit_once('.')
                            .is_some_and(|(stem, e)| !stem.is_empty() && e == ext)
                })
                .map(|name| {
                    (
                        Subject::Item(name.to_string()),
                        format!("expected the name of a *.{ext} file of src/, no folder"),
                    )
                })
                .collect(),
            Rule::LoadLines => each_line(&|line| values::parse_load_line(line).map(|_| ())),
            Rule::Boolean => whole(
                if ["true", "false"].contains(&trimmed.to_ascii_lowercase().as_str()) {
                    Ok(())
                } else {
                    Err("expected true or false".to_string())
                },
            ),
            Rule::EnvLines => each_line(&|line| values::env_line(line).map_err(|e| vec![e])),
            Rule::Labels => each_line(&|line| values::label(line).map_err(|e| vec![e])),
            Rule::Cpus if trimmed.is_empty() => Vec::new(),
            Rule::Cpus => whole(values::cpus(trimmed).map(|_| ())),
            Rule::Memory { .. } if trimmed.is_empty() => Vec::new(),
            Rule::Memory { minimum } => whole(values::memory(trimmed, minimum).map(|_| ())),
            Rule::Constraints => each_line(&|line| values::constraint(line).map_err(|e| vec![e])),
            Rule::FileCopies => each_line(&|line| values::parse_file_copy(line).map(|_| ())),
        }
    }
}

/// The first problem of `value` under `rule`, for a setting that holds such a value
/// (`ioc_cpu_limit` follows `[DEPLOY] cpu-limit`).
pub(crate) fn value_problem(rule: Rule, value: &str) -> Option<String> {
    let ctx = Context {
        ioc: "",
        nodes: Vec::new(),
    };
    let (subject, rule) = rule.check(value, &ctx).into_iter().next()?;
    Some(match subject {
        Subject::Value(text) | Subject::Line(text) | Subject::Item(text) => {
            format!("\"{}\": {rule}", shown(&text))
        }
        Subject::Unknown(_) | Subject::Empty | Subject::MissingSection => rule,
    })
}

fn module_names() -> String {
    Module::ALL
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
