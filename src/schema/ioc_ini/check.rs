//! Checking a whole ioc.ini: every option against its rule, unknown options and
//! sections, what a step needs set, and the verdict on a change.

use std::fmt;

use super::rules::is_valid_host;
use super::{DEPLOY, IOC, OPTIONS, SECTIONS, SWARM_HOST, Stage, section_spec, spec};
use crate::ini::IniDocument;
use crate::schema::values;
use crate::settings::Settings;

/// What the checks need to know besides the file: whose file it is, and the nodes the
/// settings name (an IOC run on another host must run on one of them).
#[derive(Debug, Clone)]
pub(crate) struct Context<'a> {
    pub(crate) ioc: &'a str,
    /// Host names of `cluster_manager_nodes`, `cluster_worker_nodes` and
    /// `default_nodes`; empty when the settings name none.
    pub(crate) nodes: Vec<&'a str>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(ioc: &'a str, settings: &'a Settings) -> Self {
        let nodes = settings
            .cluster_manager_nodes
            .keys()
            .chain(settings.cluster_worker_nodes.keys())
            .chain(settings.default_nodes.keys())
            .map(String::as_str)
            .collect();
        Context { ioc, nodes }
    }
}

/// What part of an option breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    /// The whole value.
    Value(String),
    /// One line of a multi-line value.
    Line(String),
    /// One item of a comma-separated list.
    Item(String),
    /// An option the section does not have (with its value).
    Unknown(String),
    /// An option that is empty (or absent) when a step needs it.
    Empty,
    /// A section that is missing (`key` is None).
    MissingSection,
}

/// One way an ioc.ini breaks the schema: one line naming the IOC, section, option,
/// value and rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) ioc: String,
    pub(crate) section: String,
    pub(crate) key: String,
    pub(crate) subject: Subject,
    pub(crate) rule: String,
}

pub(super) fn shown(text: &str) -> String {
    text.escape_default().to_string()
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ioc, section, key, rule) = (&self.ioc, &self.section, &self.key, &self.rule);
        match &self.subject {
            Subject::Value(value) => write!(
                f,
                "IOC \"{ioc}\": option \"{key}\" of section [{section}] is \"{}\": {rule}",
                shown(value)
            ),
            Subject::Line(line) => write!(
                f,
                "IOC \"{ioc}\": option \"{key}\" of section [{section}] has the line \"{}\": {rule}",
                shown(line)
            ),
            Subject::Item(item) => write!(
                f,
                "IOC \"{ioc}\": option \"{key}\" of section [{section}] names \"{}\": {rule}",
                shown(item)
            ),
            Subject::Unknown(value) => write!(
                f,
                "IOC \"{ioc}\": option \"{key}\" (value \"{}\") is not an option of section [{section}]: {rule}",
                shown(value)
            ),
            Subject::Empty => write!(
                f,
                "IOC \"{ioc}\": option \"{key}\" of section [{section}] is empty: {rule}"
            ),
            Subject::MissingSection => {
                write!(f, "IOC \"{ioc}\": section [{section}] is missing: {rule}")
            }
        }
    }
}

impl Violation {
    /// The reason and message of an IOC state, worded as generation words them
    /// (`option "load" in section "DB" invalid.`).
    pub(crate) fn reason_and_message(&self) -> (String, String) {
        let (section, key, rule) = (&self.section, &self.key, &self.rule);
        let invalid = format!("option \"{key}\" in section \"{section}\" invalid.");
        match &self.subject {
            Subject::Value(value) => (invalid, format!("\"{value}\": {rule}.")),
            Subject::Line(line) => (invalid, format!("in \"{line}\". {rule}.")),
            Subject::Item(item) => (invalid, format!("\"{item}\": {rule}.")),
            Subject::Unknown(_) => (
                format!("option \"{key}\" in section \"{section}\" unknown."),
                format!("{rule}."),
            ),
            Subject::Empty => (
                format!("option \"{key}\" in section \"{section}\" not set."),
                format!("{rule}."),
            ),
            Subject::MissingSection => (
                format!("section \"{section}\" missing."),
                format!("{rule}."),
            ),
        }
    }

    /// Whether this is the same problem as `other` (same option, same value, same
    /// rule): a `set` must not be refused for what it did not touch.
    pub(crate) fn same_as(&self, other: &Violation) -> bool {
        self.section == other.section
            && self.key == other.key
            && self.subject == other.subject
            && self.rule == other.rule
    }
}

/// What a change of an ioc.ini (`create`, `set`, `edit`) brings: problems it adds
/// refuse it; problems the file had before and still has are said but do not stop a
/// change that does not touch them, so an older file never locks its operator out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Verdict {
    pub(crate) refused: Vec<Violation>,
    pub(crate) older: Vec<Violation>,
    pub(crate) warnings: Vec<Violation>,
}

/// Judges `after` against `before` (None for a new IOC).
pub(crate) fn judge_change(
    before: Option<&IniDocument>,
    after: &IniDocument,
    ctx: &Context<'_>,
) -> Verdict {
    let had = before
        .map(|doc| check(doc, ctx, Stage::Store).errors)
        .unwrap_or_default();
    let report = check(after, ctx, Stage::Store);
    let (older, refused) = report
        .errors
        .into_iter()
        .partition(|v| had.iter().any(|h| h.same_as(v)));
    Verdict {
        refused,
        older,
        warnings: report.warnings,
    }
}

/// Every way an ioc.ini breaks the schema: errors refuse the file, warnings are said.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    pub(crate) errors: Vec<Violation>,
    pub(crate) warnings: Vec<Violation>,
}

/// Checks an ioc.ini for `stage`: every known option against its rule, unknown
/// options of known sections (with the nearest known name), missing sections, options
/// the stage needs, and the host against the nodes of the settings.
pub(crate) fn check(doc: &IniDocument, ctx: &Context<'_>, stage: Stage) -> Report {
    let mut report = Report::default();
    let violation = |section: &str, key: &str, subject: Subject, rule: String| Violation {
        ioc: ctx.ioc.to_string(),
        section: section.to_string(),
        key: key.to_string(),
        subject,
        rule,
    };
    for section in doc.sections() {
        if section_spec(&section.name).is_none() {
            continue;
        }
        for (key, value) in &section.options {
            match spec(&section.name, key) {
                Some(spec) => {
                    for (subject, rule) in spec.rule.check(value, ctx) {
                        report
                            .errors
                            .push(violation(&section.name, key, subject, rule));
                    }
                }
                None => report.errors.push(violation(
                    &section.name,
                    key,
                    Subject::Unknown(value.clone()),
                    unknown_option_hint(&section.name, key),
                )),
            }
        }
    }
    for required in SECTIONS.iter().filter(|s| s.required) {
        if !doc.has_section(required.name) {
            report.errors.push(violation(
                required.name,
                "",
                Subject::MissingSection,
                missing_section_hint(doc, required.name),
            ));
        }
    }
    for spec in OPTIONS {
        let needed = spec.needed_for.is_some_and(|needed| needed <= stage);
        let empty = doc
            .get(spec.section, spec.key)
            .is_none_or(|v| v.trim().is_empty());
        if needed && empty && doc.has_section(spec.section) {
            report.errors.push(violation(
                spec.section,
                spec.key,
                Subject::Empty,
                format!(
                    "expected {}; it is needed to {}",
                    spec.rule.describe(),
                    spec.needed_for.unwrap_or(stage).doing()
                ),
            ));
        }
    }
    if let Some(problem) = memory_order(doc) {
        report.errors.push(violation(
            DEPLOY,
            "memory-reserve",
            Subject::Value(doc.get(DEPLOY, "memory-reserve").unwrap_or("").to_string()),
            problem,
        ));
    }
    if let Some(host) = doc.get(IOC, "host")
        && host != SWARM_HOST
        && is_valid_host(host)
        && !ctx.nodes.is_empty()
        && !ctx.nodes.iter().any(|n| n.eq_ignore_ascii_case(host))
    {
        let found = violation(
            IOC,
            "host",
            Subject::Value(host.to_string()),
            format!(
                "not a node of the settings (cluster_manager_nodes, cluster_worker_nodes, default_nodes: {}); an IOC is exported for swarm or one of them",
                ctx.nodes.join(", ")
            ),
        );
        if stage == Stage::Export {
            report.errors.push(found);
        } else {
            report.warnings.push(found);
        }
    }
    report
}

/// The engine refuses a container whose memory reservation is above its limit.
fn memory_order(doc: &IniDocument) -> Option<String> {
    let limit = doc.get(DEPLOY, "memory-limit")?.trim();
    let reserve = doc.get(DEPLOY, "memory-reserve")?.trim();
    let limit_bytes = values::memory(limit, values::MIN_MEMORY_LIMIT).ok()?;
    let reserve_bytes = values::memory(reserve, values::MIN_MEMORY_RESERVATION).ok()?;
    (reserve_bytes > limit_bytes).then(|| {
        format!(
            "more than memory-limit \"{limit}\" (the engine refuses a reservation above the limit)"
        )
    })
}

fn unknown_option_hint(section: &str, key: &str) -> String {
    let here: Vec<&str> = OPTIONS
        .iter()
        .filter(|o| o.section == section)
        .map(|o| o.key)
        .collect();
    if let Some(near) = crate::suggest::closest(key, here.iter().copied()) {
        return format!(
            "did you mean \"{near}\"? (options of [{section}]: {})",
            here.join(", ")
        );
    }
    let elsewhere = OPTIONS
        .iter()
        .filter(|o| o.section != section)
        .find(|o| crate::suggest::closest(key, [o.key]).is_some());
    match elsewhere {
        Some(o) => format!(
            "did you mean \"{}\" of section [{}]? (options of [{section}]: {})",
            o.key,
            o.section,
            here.join(", ")
        ),
        None => format!("options of [{section}] are {}", here.join(", ")),
    }
}

fn missing_section_hint(doc: &IniDocument, section: &str) -> String {
    let keys: Vec<&str> = OPTIONS
        .iter()
        .filter(|o| o.section == section)
        .map(|o| o.key)
        .collect();
    let custom = doc
        .sections()
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| section_spec(name).is_none());
    let mut hint = format!("expected [{section}] with {}", keys.join(", "));
    if let Some(near) = crate::suggest::closest(section, custom) {
        hint.push_str(&format!(
            "; [{near}] is no section iocdock reads: is it [{section}] renamed?"
        ));
    }
    hint
}
