//! What the options of ioc.ini mean: which options users may set, the `[RAW]`
//! templates, the defaults an older file lacks (SPEC §4, §6 create/set). The section
//! names, the module list and a new IOC's defaults are the schema's, named here too.

use crate::ini::{IniDocument, normalise_value};
use crate::schema::ioc_ini as schema;
pub(crate) use crate::schema::ioc_ini::{
    DB, DEPLOY, IOC, InvalidHost, Module, RAW, SETTING, SRC, SWARM_HOST, checked_host, host,
    is_valid_host, new_ioc_ini,
};
use crate::settings::Settings;

/// The `[RAW]` section templates of `--add-asyn`, `--add-stream` and `--add-raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawTemplate {
    Asyn,
    Stream,
    Empty,
}

const ASYN_PORT_LINES: &str = "drvAsynIPPortConfigure(\"L0\", \"192.168.0.23:4001\", 0, 0, 0)
drvAsynSerialPortConfigure(\"L0\", \"/dev/tty.PL2303-000013FA\", 0, 0, 0)
asynSetOption(\"L0\", -1, \"baud\", \"9600\")
asynSetOption(\"L0\", -1, \"bits\", \"8\")
asynSetOption(\"L0\", -1, \"parity\", \"none\")
asynSetOption(\"L0\", -1, \"stop\", \"1\")
asynSetOption(\"L0\", -1, \"clocal\", \"Y\")
asynSetOption(\"L0\", -1, \"crtscts\", \"Y\")";

/// After a rename: the `STREAM_PROTOCOL_PATH` line that `--add-stream` writes names
/// the IOC's run folder (`<run path>/<name>/startup`), so it follows the new name.
/// Other lines of `[RAW]` are the operator's and stay as they are.
pub(crate) fn rename_in_raw(doc: &mut IniDocument, old: &str, new: &str) {
    let Some(value) = doc.get(RAW, "cmd_before_dbload") else {
        return;
    };
    let from = format!("/{old}/startup\"");
    let to = format!("/{new}/startup\"");
    let renamed: Vec<String> = value
        .split('\n')
        .map(|line| {
            if line.contains("STREAM_PROTOCOL_PATH") {
                line.replace(&from, &to)
            } else {
                line.to_string()
            }
        })
        .collect();
    let renamed = renamed.join("\n");
    if renamed != value {
        doc.set(RAW, "cmd_before_dbload", &renamed);
    }
}

impl RawTemplate {
    /// Options of the section, values before normalisation (`\n` separates lines).
    fn options(self, ioc_name: &str, settings: &Settings) -> [(&'static str, String); 4] {
        match self {
            RawTemplate::Asyn => [
                ("cmd_before_dbload", ASYN_PORT_LINES.to_string()),
                (
                    "cmd_at_dbload",
                    "dbLoadRecords(\"db/asynRecord.db\",\"P=xxx,R=:asyn,PORT=xxx,ADDR=xxx,IMAX=xxx,OMAX=xxx\")"
                        .to_string(),
                ),
                ("cmd_after_iocinit", String::new()),
                (
                    "file_copy",
                    "templates/db/asynRecord.db:startup/db/asynRecord.db:r".to_string(),
                ),
            ],
            RawTemplate::Stream => [
                (
                    "cmd_before_dbload",
                    format!(
                        "epicsEnvSet(\"STREAM_PROTOCOL_PATH\", \"{}/{ioc_name}/startup\")\n{ASYN_PORT_LINES}",
                        settings.container_run_path()
                    ),
                ),
                ("cmd_at_dbload", String::new()),
                ("cmd_after_iocinit", String::new()),
                (
                    "file_copy",
                    "src/protocol_file.proto:startup/protocol_file.proto:r".to_string(),
                ),
            ],
            RawTemplate::Empty => [
                ("cmd_before_dbload", String::new()),
                ("cmd_at_dbload", String::new()),
                ("cmd_after_iocinit", String::new()),
                ("file_copy", String::new()),
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OptionError {
    #[error("option \"{0}\": expected key=value")]
    NoEquals(String),
    #[error("option \"{0}\": the key is empty (expected key=value)")]
    EmptyKey(String),
    #[error("option \"{0}\": a key may not contain ':', '[', ']', '=', '#', ';' or a line break")]
    BadKey(String),
    #[error("section \"{0}\": expected letters, digits, '_' or '-'")]
    BadSection(String),
    #[error(
        "option \"{key}\" of section [{section}] is managed by iocdock and cannot be set{hint}"
    )]
    Managed {
        section: String,
        key: String,
        hint: String,
    },
}

/// One `-o key=value` for a section, checked and with its value normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OptionAssignment {
    pub(crate) section: String,
    pub(crate) key: String,
    pub(crate) value: String,
}

/// Section names are written in upper case whatever the operator typed (`-s setting`).
pub(crate) fn parse_section(raw: &str) -> Result<String, OptionError> {
    let section = raw.trim();
    if section.is_empty()
        || !section
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(OptionError::BadSection(raw.to_string()));
    }
    Ok(section.to_ascii_uppercase())
}

/// Splits `key=value` at the first `=` (SPEC §6) and checks that the key cannot break
/// the ini layout.
pub(crate) fn parse_key_value(raw: &str) -> Result<(String, String), OptionError> {
    let Some((key, value)) = raw.split_once('=') else {
        return Err(OptionError::NoEquals(raw.to_string()));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(OptionError::EmptyKey(raw.to_string()));
    }
    if key
        .chars()
        .any(|c| matches!(c, ':' | '[' | ']' | '=' | '#' | ';' | '\n' | '\r'))
    {
        return Err(OptionError::BadKey(raw.to_string()));
    }
    Ok((key.to_ascii_lowercase(), value.to_string()))
}

pub(crate) fn parse_assignment(raw: &str, section: &str) -> Result<OptionAssignment, OptionError> {
    let (key, value) = parse_key_value(raw)?;
    if let Some(hint) = managed_hint(section, &key) {
        return Err(OptionError::Managed {
            section: section.to_string(),
            key,
            hint,
        });
    }
    Ok(OptionAssignment {
        section: section.to_string(),
        key,
        value: normalise_value(&value),
    })
}

/// Options that only the tool writes: the name (changed by `rename`) and the source
/// lists (kept in sync with `src/` by `exec --add-src-file`), with the command to use.
fn managed_hint(section: &str, key: &str) -> Option<String> {
    let command = schema::spec(section, key)
        .and_then(|o| o.managed_by)
        .or_else(|| (section == SRC).then_some("iocdock exec NAME --add-src-file"))?;
    Some(format!(" (use `{command}`)"))
}

/// Adds options that a current ioc.ini has and an older one may lack, keeping every
/// value already there. Returns whether anything was added.
pub(crate) fn add_missing_defaults(doc: &mut IniDocument, name: &str, settings: &Settings) -> bool {
    let defaults = new_ioc_ini(name, settings);
    let mut changed = false;
    for section in defaults.sections() {
        for (key, value) in &section.options {
            if doc.get(&section.name, key).is_none() {
                doc.set(&section.name, key, value);
                changed = true;
            }
        }
    }
    changed
}

/// Everything `create`/`set` may change in an ioc.ini, resolved from the flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct IniChanges {
    /// Options of another ioc.ini (`-f`), applied first.
    pub(crate) from_file: Option<IniDocument>,
    /// `-o` options, applied after the file so they win.
    pub(crate) assignments: Vec<OptionAssignment>,
    /// The module flags: when any is given, `module` becomes exactly that list.
    pub(crate) modules: Option<Vec<Module>>,
    pub(crate) raw: Option<RawTemplate>,
}

impl IniChanges {
    pub(crate) fn is_empty(&self) -> bool {
        self.from_file.is_none()
            && self.assignments.is_empty()
            && self.modules.is_none()
            && self.raw.is_none()
    }

    /// Applies the changes to the ioc.ini of IOC `name`.
    pub(crate) fn apply(&self, doc: &mut IniDocument, name: &str, settings: &Settings) {
        if let Some(file) = &self.from_file {
            for section in file.sections() {
                for (key, value) in &section.options {
                    if managed_hint(&section.name, key).is_none() {
                        doc.set(&section.name, key, &normalise_value(value));
                    }
                }
            }
        }
        if let Some(raw) = self.raw {
            for (key, value) in raw.options(name, settings) {
                doc.set(RAW, key, &normalise_value(&value));
            }
        }
        for assignment in &self.assignments {
            doc.set(&assignment.section, &assignment.key, &assignment.value);
        }
        if let Some(modules) = &self.modules {
            let mut modules = modules.clone();
            modules.sort();
            modules.dedup();
            let list: Vec<&str> = modules.iter().map(|m| m.as_str()).collect();
            doc.set(IOC, "module", &list.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_splits_at_first_equals() {
        assert_eq!(
            parse_key_value("load=ramper.db, name=x").unwrap(),
            ("load".to_string(), "ramper.db, name=x".to_string())
        );
        assert_eq!(parse_key_value(" Host = swarm").unwrap().0, "host");
        assert!(matches!(
            parse_key_value("nokey"),
            Err(OptionError::NoEquals(_))
        ));
        assert!(matches!(
            parse_key_value(" =x"),
            Err(OptionError::EmptyKey(_))
        ));
        assert!(matches!(
            parse_key_value("[X]=1"),
            Err(OptionError::BadKey(_))
        ));
        assert!(matches!(
            parse_key_value("a:b=1"),
            Err(OptionError::BadKey(_))
        ));
    }

    #[test]
    fn managed_options_are_refused() {
        assert!(parse_assignment("name=x", IOC).is_err());
        assert!(parse_assignment("db_file=x.db", SRC).is_err());
        assert!(parse_assignment("name=x", DEPLOY).is_ok());
    }

    #[test]
    fn sections_are_upper_cased_and_checked() {
        assert_eq!(parse_section("setting").unwrap(), "SETTING");
        assert!(parse_section("a]b").is_err());
        assert!(parse_section("").is_err());
    }
}
