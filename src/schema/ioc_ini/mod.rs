//! Every section and option of ioc.ini with its rule and default (SPEC §4): what
//! `create`, `set`, `edit`, `update`, `list`, generation and export accept.
//!
//! A new option is one entry of `OPTIONS`: its section, key, rule, default, the step
//! that needs it set, and whether only iocdock writes it. `docs/ioc-ini.md` documents
//! the table (a test keeps the two in step).

use std::fmt;

use crate::ini::{IniDocument, normalise_value};
use crate::schema::values;
use crate::settings::Settings;

mod check;
mod rules;
#[cfg(test)]
mod tests;

pub(crate) use check::{Context, Violation, check, judge_change};
pub(crate) use rules::{InvalidHost, checked_host, host, is_valid_host, value_problem};

pub(crate) const IOC: &str = "IOC";
pub(crate) const SRC: &str = "SRC";
pub(crate) const DB: &str = "DB";
pub(crate) const SETTING: &str = "SETTING";
pub(crate) const DEPLOY: &str = "DEPLOY";
pub(crate) const RAW: &str = "RAW";

/// The host value of the IOCs that run as swarm services.
pub(crate) const SWARM_HOST: &str = "swarm";

/// `[DEPLOY] health-check = true|false`: whether the service gets the check.
pub(crate) const CHECK_OPTION: &str = "health-check";
/// `[DEPLOY] health-pv = NAME`: the PV the check reads instead of the automatic one.
pub(crate) const PV_OPTION: &str = "health-pv";

/// A module of `[IOC] module`: what the startup files load for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Module {
    Autosave,
    Caputlog,
    StatusIoc,
    StatusOs,
}

impl Module {
    pub(crate) const ALL: [Module; 4] = [
        Module::Autosave,
        Module::Caputlog,
        Module::StatusIoc,
        Module::StatusOs,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Module::Autosave => "autosave",
            Module::Caputlog => "caputlog",
            Module::StatusIoc => "status-ioc",
            Module::StatusOs => "status-os",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Module> {
        let word = word.trim();
        Module::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    option(DEPLOY, CHECK_OPTION, Rule::Switch).optional(),
    option(DEPLOY, PV_OPTION, Rule::PvName).optional(),
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

/// The ioc.ini of a new IOC with every default of SPEC §4.
pub(crate) fn new_ioc_ini(name: &str, settings: &Settings) -> IniDocument {
    let mut doc = IniDocument::new();
    let required = |section: &str| SECTIONS.iter().any(|s| s.name == section && s.required);
    for option in OPTIONS
        .iter()
        .filter(|o| required(o.section) && !o.optional)
    {
        let value = option.default.value(name, settings);
        doc.set(option.section, option.key, &normalise_value(&value));
    }
    doc
}
