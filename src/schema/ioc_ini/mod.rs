//! Every section and option of ioc.ini with its rule and default (SPEC §4): what
//! `create`, `set`, `edit`, `update`, `list`, generation and export accept.
//!
//! A new option is one entry of `OPTIONS`: its section, key, rule, default, the step
//! that needs it set, and whether only iocdock writes it. `docs/ioc-ini.md` documents
//! the table (a test keeps the two in step).

use std::fmt;

use crate::ioc::config::{DB, DEPLOY, IOC, Module, RAW, SETTING, SRC, SWARM_HOST};
use crate::ioc::health;
use crate::ioc::ini::{IniDocument, value_lines};
use crate::schema::values::{self, BIN_RULE, CPUS_RULE, IMAGE_RULE};
use crate::settings::Settings;

/// What a value must be. Each variant is checked by `Rule::check` and described by
/// `Rule::describe` (the words of the error and of the documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// The IOC's own name (the folder's), changed only by `rename`.
    OwnName,
    /// `swarm` or a host name.
    Host,
    /// An image reference; empty until the IOC is exported.
    Image,
    /// The IOC executable's name.
    Bin,
    /// A comma-separated list of known modules.
    Modules,
    /// Any text (iocsh lines, descriptions).
    Text,
    /// Comma-separated names of files in `src/` with this extension.
    Files(&'static str),
    /// Lines `file.db` or `file.db, A=1, B=2`.
    LoadLines,
    /// `true` or `false`.
    Boolean,
    /// Lines `NAME=value`.
    EnvLines,
    /// Lines `key=value`.
    Labels,
    /// A number of CPUs, or empty for none.
    Cpus,
    /// A memory size of at least the engine's minimum, or empty for none.
    Memory { minimum: u64 },
    /// Lines of swarm placement constraints.
    Constraints,
    /// Lines `src/FILE:DEST[:MODE]` or `templates/FILE:DEST[:MODE]`.
    FileCopies,
    /// `true`, `false`, or empty for the default.
    Switch,
    /// A PV name a Channel Access client can search for, or empty.
    PvName,
}

/// When an option must have a value: it may stay empty until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// Written by create, set, edit; read by update and list.
    Store,
    /// `exec --gen-startup-file`.
    Generate,
    /// `exec --export-for-mount`, `--gen-swarm-file`, `--deploy`.
    Export,
}

impl Stage {
    fn doing(self) -> &'static str {
        match self {
            Stage::Store => "store it",
            Stage::Generate => "generate the startup files",
            Stage::Export => "export and deploy the IOC",
        }
    }
}

/// The value a new IOC gets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DefaultValue {
    Text(&'static str),
    /// The IOC's name.
    OwnName,
    /// Taken from a setting.
    Setting(fn(&Settings) -> String),
}

impl DefaultValue {
    pub(crate) fn value(&self, ioc: &str, settings: &Settings) -> String {
        match self {
            DefaultValue::Text(text) => (*text).to_string(),
            DefaultValue::OwnName => ioc.to_string(),
            DefaultValue::Setting(value) => value(settings),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct OptionSpec {
    pub(crate) section: &'static str,
    pub(crate) key: &'static str,
    pub(crate) rule: Rule,
    pub(crate) default: DefaultValue,
    /// The first step that needs a value.
    pub(crate) needed_for: Option<Stage>,
    /// Written by iocdock only; the command that changes it.
    pub(crate) managed_by: Option<&'static str>,
    /// Left out of a new ioc.ini (and not added by `update`): options the original
    /// tool does not know, so the files `create` writes stay byte for byte its own.
    pub(crate) optional: bool,
}

const fn option(section: &'static str, key: &'static str, rule: Rule) -> OptionSpec {
    OptionSpec {
        section,
        key,
        rule,
        default: DefaultValue::Text(""),
        needed_for: None,
        managed_by: None,
        optional: false,
    }
}

impl OptionSpec {
    const fn default(mut self, default: DefaultValue) -> Self {
        self.default = default;
        self
    }
    const fn needed_for(mut self, stage: Stage) -> Self {
        self.needed_for = Some(stage);
        self
    }
    const fn managed_by(mut self, command: &'static str) -> Self {
        self.managed_by = Some(command);
        self
    }
    const fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

/// The sections iocdock reads. Every other section is the operator's and free.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SectionSpec {
    pub(crate) name: &'static str,
    /// A new IOC has it, and an ioc.ini without it is refused.
    pub(crate) required: bool,
}

pub(crate) const SECTIONS: [SectionSpec; 6] = [
    SectionSpec {
        name: IOC,
        required: true,
    },
    SectionSpec {
        name: SRC,
        required: true,
    },
    SectionSpec {
        name: DB,
        required: true,
    },
    SectionSpec {
        name: SETTING,
        required: true,
    },
    SectionSpec {
        name: DEPLOY,
        required: true,
    },
    SectionSpec {
        name: RAW,
        required: false,
    },
];

fn default_bin(settings: &Settings) -> String {
    settings.default_ioc_bin.clone()
}

fn default_modules(settings: &Settings) -> String {
    settings.default_module_list().join(", ")
}

fn default_cpu_limit(settings: &Settings) -> String {
    settings.ioc_cpu_limit.clone()
}

fn default_memory_limit(settings: &Settings) -> String {
    settings.ioc_memory_limit.clone()
}

/// Every option iocdock knows, in the order a new ioc.ini lists them.
pub(crate) const OPTIONS: &[OptionSpec] = &[
    option(IOC, "name", Rule::OwnName)
        .default(DefaultValue::OwnName)
        .managed_by("iocdock rename"),
    option(IOC, "host", Rule::Host).default(DefaultValue::Text(SWARM_HOST)),
    option(IOC, "image", Rule::Image).needed_for(Stage::Export),
    option(IOC, "bin", Rule::Bin)
        .default(DefaultValue::Setting(default_bin))
        .needed_for(Stage::Generate),
    option(IOC, "module", Rule::Modules).default(DefaultValue::Setting(default_modules)),
    option(IOC, "description", Rule::Text),
    option(SRC, "db_file", Rule::Files("db")).managed_by("iocdock exec NAME --add-src-file"),
    option(SRC, "protocol_file", Rule::Files("proto"))
        .managed_by("iocdock exec NAME --add-src-file"),
    option(SRC, "others_file", Rule::Files("im")).managed_by("iocdock exec NAME --add-src-file"),
    option(DB, "load", Rule::LoadLines).needed_for(Stage::Generate),
    option(SETTING, "report_info", Rule::Boolean).default(DefaultValue::Text("true")),
    option(SETTING, "caputlog_json", Rule::Boolean).default(DefaultValue::Text("false")),
    option(SETTING, "epics_env", Rule::EnvLines),
    option(DEPLOY, "labels", Rule::Labels),
    option(DEPLOY, "cpu-limit", Rule::Cpus).default(DefaultValue::Setting(default_cpu_limit)),
    option(
        DEPLOY,
        "memory-limit",
        Rule::Memory {
            minimum: values::MIN_MEMORY_LIMIT,
        },
    )
    .default(DefaultValue::Setting(default_memory_limit)),
    option(DEPLOY, "cpu-reserve", Rule::Cpus),
    option(
        DEPLOY,
        "memory-reserve",
        Rule::Memory {
            minimum: values::MIN_MEMORY_RESERVATION,
        },
    ),
    option(DEPLOY, "constraints", Rule::Constraints),
    option(DEPLOY, health::CHECK_OPTION, Rule::Switch).optional(),
    option(DEPLOY, health::PV_OPTION, Rule::PvName).optional(),
    // New [DEPLOY] options go here, one entry each.
    option(RAW, "cmd_before_dbload", Rule::Text),
    option(RAW, "cmd_at_dbload", Rule::Text),
    option(RAW, "cmd_after_iocinit", Rule::Text),
    option(RAW, "file_copy", Rule::FileCopies),
];

/// The rule of a known option.
pub(crate) fn spec(section: &str, key: &str) -> Option<&'static OptionSpec> {
    OPTIONS
        .iter()
        .find(|o| o.section == section && o.key == key)
}

fn section_spec(name: &str) -> Option<&'static SectionSpec> {
    SECTIONS.iter().find(|s| s.name == name)
}

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

/// The host of an ioc.ini, checked; an ioc.ini without the option (older files) runs
/// in the swarm, an empty value is refused like any other that is no host name.
pub(crate) fn checked_host<'a>(ioc: &str, doc: &'a IniDocument) -> Result<&'a str, InvalidHost> {
    let value = crate::ioc::config::host(doc);
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
            Rule::PvName => health::PV_RULE.trim_start_matches("expected ").to_string(),
        }
    }

    /// Every way `value` breaks the rule. Empty values are judged by `needed_for`.
    fn check(self, value: &str, ctx: &Context<'_>) -> Vec<(Subject, String)> {
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
            Rule::PvName => whole(if trimmed.is_empty() || health::is_pv_name(trimmed) {
                Ok(())
            } else {
                Err(health::PV_RULE.to_string())
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

fn shown(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(yaml: &str) -> Settings {
        crate::settings::for_test(yaml)
    }

    fn doc(text: &str) -> IniDocument {
        IniDocument::parse(text, Path::new("ioc.ini")).unwrap()
    }

    fn errors(text: &str, stage: Stage) -> Vec<String> {
        let s = settings("");
        check(&doc(text), &Context::new("t", &s), stage)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn new_ioc() -> String {
        crate::ioc::config::new_ioc_ini("t", &settings("")).render()
    }

    #[test]
    fn a_new_ioc_is_valid_until_it_is_generated() {
        assert_eq!(errors(&new_ioc(), Stage::Store), Vec::<String>::new());
        assert_eq!(
            errors(&new_ioc(), Stage::Generate),
            [
                "IOC \"t\": option \"load\" of section [DB] is empty: expected lines FILE.db or FILE.db, MACRO=value, ... (FILE.db a file of src/); it is needed to generate the startup files"
            ]
        );
        let found = errors(&new_ioc(), Stage::Export);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with(
                "IOC \"t\": option \"image\" of section [IOC] is empty: expected an image reference"
            ),
            "{found:?}"
        );
        assert!(
            found[0].ends_with("it is needed to export and deploy the IOC"),
            "{found:?}"
        );
    }

    #[test]
    fn bad_values_name_ioc_section_option_value_and_rule() {
        let text = new_ioc()
            .replace("cpu-limit = 1\n", "cpu-limit = lots\n")
            .replace("memory-reserve = \n", "memory-reserve = 2G\n")
            .replace(
                "constraints = \n",
                "constraints = \n\tnode.role==worker\n\tnode.rack==a\n",
            )
            .replace(
                "module = autosave, caputlog\n",
                "module = autosave, devIocStats\n",
            )
            .replace("report_info = true\n", "report_info = yes\n")
            .replace("image = \n", "image = Registry/IOC\n");
        let found = errors(&text, Stage::Store);
        assert_eq!(
            found,
            [
                "IOC \"t\": option \"image\" of section [IOC] is \"Registry/IOC\": expected an image reference as docker takes it: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], NAME in lower case, e.g. registry.iasf/ioc-exec:1.1.0",
                "IOC \"t\": option \"module\" of section [IOC] names \"devIocStats\": not a module (known: autosave, caputlog, status-ioc, status-os)",
                "IOC \"t\": option \"report_info\" of section [SETTING] is \"yes\": expected true or false",
                &format!(
                    "IOC \"t\": option \"cpu-limit\" of section [DEPLOY] is \"lots\": {CPUS_RULE}"
                ),
                "IOC \"t\": option \"constraints\" of section [DEPLOY] has the line \"node.rack==a\": \"node.rack\" is no attribute swarm places by; expected ATTRIBUTE==value or ATTRIBUTE!=value with an attribute swarm knows (node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.LABEL, engine.labels.LABEL), e.g. node.labels.rack==a",
                "IOC \"t\": option \"memory-reserve\" of section [DEPLOY] is \"2G\": more than memory-limit \"1G\" (the engine refuses a reservation above the limit)",
            ]
        );
    }

    #[test]
    fn unknown_options_get_the_nearest_known_name() {
        let text = new_ioc().replace("[DEPLOY]\n", "[DEPLOY]\ncpu_limit = 0.5\n");
        assert_eq!(
            errors(&text, Stage::Store),
            [
                "IOC \"t\": option \"cpu_limit\" (value \"0.5\") is not an option of section [DEPLOY]: did you mean \"cpu-limit\"? (options of [DEPLOY]: labels, cpu-limit, memory-limit, cpu-reserve, memory-reserve, constraints, health-check, health-pv)"
            ]
        );
        let text = new_ioc().replace("[IOC]\n", "[IOC]\ncpu_limit = 0.5\n");
        let found = errors(&text, Stage::Store);
        assert!(
            found[0].contains("did you mean \"cpu-limit\" of section [DEPLOY]?"),
            "{found:?}"
        );
        // Sections of the operator's own are free.
        let text = format!("{}[SITE]\nanything = goes\n\n", new_ioc());
        assert_eq!(errors(&text, Stage::Store), Vec::<String>::new());
    }

    #[test]
    fn a_renamed_section_is_a_missing_one() {
        let text = new_ioc().replace("[DB]\n", "[DBX]\n");
        assert_eq!(
            errors(&text, Stage::Store),
            [
                "IOC \"t\": section [DB] is missing: expected [DB] with load; [DBX] is no section iocdock reads: is it [DB] renamed?"
            ]
        );
    }

    #[test]
    fn managed_options_still_follow_their_rule() {
        let text = new_ioc()
            .replace("name = t\n", "name = other\n")
            .replace("db_file = \n", "db_file = a.db, ../b.db, c.proto\n");
        let found = errors(&text, Stage::Store);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].contains("expected the IOC's own name \"t\""),
            "{found:?}"
        );
        assert!(found[1].contains("names \"../b.db\""), "{found:?}");
        assert!(found[2].contains("names \"c.proto\""), "{found:?}");
    }

    #[test]
    fn a_host_outside_the_nodes_is_a_warning_until_export() {
        let s =
            settings("cluster_worker_nodes: {w1: 10.0.0.1}\ndefault_nodes: {spare: 10.0.0.9}\n");
        let ctx = Context::new("t", &s);
        let text = new_ioc().replace("host = swarm\n", "host = k8s\n");
        let report = check(&doc(&text), &ctx, Stage::Store);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(
            report.warnings[0].to_string(),
            "IOC \"t\": option \"host\" of section [IOC] is \"k8s\": not a node of the settings (cluster_manager_nodes, cluster_worker_nodes, default_nodes: w1, spare); an IOC is exported for swarm or one of them"
        );
        let text = text
            .replace("image = \n", "image = x:1\n")
            .replace("load = \n", "load = a.db\n");
        let report = check(&doc(&text), &ctx, Stage::Export);
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert!(
            check(&doc(&text.replace("k8s", "W1")), &ctx, Stage::Export)
                .errors
                .is_empty()
        );
        // Without nodes in the settings any host name goes.
        let none = settings("");
        assert!(
            check(&doc(&text), &Context::new("t", &none), Stage::Export)
                .errors
                .is_empty()
        );
    }

    #[test]
    fn hosts_are_swarm_or_host_names() {
        for good in ["swarm", "node1", "rack-2.lab.example", "10.0.0.1"] {
            assert!(is_valid_host(good), "{good}");
        }
        for bad in ["", "/var/lib", "../../elsewhere", "..", "a/b", "a_b", "a b"] {
            assert!(!is_valid_host(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn the_documentation_lists_every_option() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ioc-ini.md"))
            .expect("docs/ioc-ini.md");
        for option in OPTIONS {
            let row = format!("| `[{}]` | `{}` |", option.section, option.key);
            assert!(doc.contains(&row), "docs/ioc-ini.md has no row {row}");
        }
    }
}
