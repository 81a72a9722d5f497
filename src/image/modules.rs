//! The module-set file (`image/modules.yaml` among the templates): EPICS base, the
//! support modules with their sources, and the named sets that become ioc-exec images.
//!
//! Every value ends up in a shell script or a Dockerfile line of the build, so each is
//! held to a plain character set here (names, versions, file names, package names):
//! nothing in the file can add a command to the build.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// Where the file is read from among the templates.
pub(crate) const MODULES_FILE: &str = "image/modules.yaml";

/// A mistake in the module-set file, with the line it is on when known.
#[derive(Debug, thiserror::Error)]
#[error("{origin}{}: {message}", .line.map(|l| format!(":{l}")).unwrap_or_default())]
pub(crate) struct ModuleFileError {
    pub(crate) origin: String,
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Base {
    pub(crate) version: String,
    pub(crate) release: String,
    pub(crate) archive: String,
    pub(crate) sha256: Option<String>,
    pub(crate) host_arch: String,
    pub(crate) packages: Vec<String>,
    pub(crate) purge: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IocExec {
    pub(crate) release: String,
    pub(crate) executable: String,
    pub(crate) packages: Vec<String>,
    pub(crate) purge: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Module {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) archive: String,
    pub(crate) sha256: Option<String>,
    pub(crate) variable: String,
    pub(crate) depends: Vec<String>,
    pub(crate) libs: Vec<String>,
    pub(crate) dbd: Vec<String>,
    pub(crate) db: Vec<String>,
}

/// The whole file, checked: every set names known modules, holds what they depend on
/// and is kept in build order (each module after the modules it needs).
#[derive(Debug, Clone)]
pub(crate) struct ModuleSets {
    pub(crate) origin: String,
    pub(crate) base: Base,
    pub(crate) ioc_exec: IocExec,
    pub(crate) modules: BTreeMap<String, Module>,
    pub(crate) sets: BTreeMap<String, Vec<String>>,
}

impl ModuleSets {
    /// The modules of set `name` in build order.
    pub(crate) fn set(&self, name: &str) -> Option<Vec<&Module>> {
        let members = self.sets.get(name)?;
        Some(members.iter().filter_map(|m| self.modules.get(m)).collect())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    base: RawBase,
    ioc_exec: RawIocExec,
    modules: BTreeMap<String, RawModule>,
    sets: serde_yaml::Mapping,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBase {
    version: String,
    release: String,
    archive: String,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default = "default_host_arch")]
    host_arch: String,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    purge: Vec<String>,
}

fn default_host_arch() -> String {
    "linux-x86_64".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIocExec {
    release: String,
    #[serde(default = "default_executable")]
    executable: String,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    purge: Vec<String>,
}

fn default_executable() -> String {
    "ST-IOC".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    version: String,
    archive: String,
    #[serde(default)]
    sha256: Option<String>,
    variable: String,
    #[serde(default)]
    depends: Vec<String>,
    #[serde(default)]
    libs: Vec<String>,
    #[serde(default)]
    dbd: Vec<String>,
    #[serde(default)]
    db: Vec<String>,
}

/// Kinds of values, each with the characters it may hold and how an error names it.
#[derive(Clone, Copy)]
enum Kind {
    /// Module and set names, release numbers, versions: also image tags and labels.
    Word,
    /// A file name in a folder: no `/`, not `.` or `..`.
    FileName,
    /// A make variable of RELEASE files.
    Variable,
    /// A Debian package name.
    Package,
    Sha256,
}

impl Kind {
    fn accepts(self, value: &str) -> bool {
        let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        let starts_alphanumeric = value.starts_with(|c: char| c.is_ascii_alphanumeric());
        match self {
            Kind::Word => starts_alphanumeric && value.len() <= 64 && value.chars().all(word),
            Kind::FileName => {
                starts_alphanumeric
                    && value.len() <= 255
                    && value.chars().all(|c| word(c) || c == '+')
            }
            Kind::Variable => {
                value.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
            Kind::Package => {
                value.len() >= 2
                    && starts_alphanumeric
                    && value.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.')
                    })
            }
            Kind::Sha256 => value.len() == 64 && value.chars().all(|c| c.is_ascii_hexdigit()),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Word => "letters, digits, '.', '_' or '-', starting with a letter or digit",
            Kind::FileName => {
                "a file name (letters, digits, '.', '_', '-', '+'; no '/'), starting with a letter or digit"
            }
            Kind::Variable => "a make variable name (letters, digits, '_')",
            Kind::Package => "a Debian package name (lower-case letters, digits, '+', '-', '.')",
            Kind::Sha256 => "64 hexadecimal digits",
        }
    }
}

/// Archive formats the build scripts unpack.
pub(crate) const ARCHIVE_SUFFIXES: &[&str] =
    &[".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"];

/// Reads and checks the module-set file `text`; `origin` names it in errors.
pub(crate) fn parse(text: &str, origin: &str) -> Result<ModuleSets, ModuleFileError> {
    let error = |line: Option<usize>, message: String| ModuleFileError {
        origin: origin.to_string(),
        line,
        message,
    };
    let raw: RawFile = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        // The location is in the prefix already; keep only the message.
        let message = e.to_string();
        let message = message
            .split_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m)
            .to_string();
        error(line, message)
    })?;
    let lines = KeyLines(text);
    let check = |value: &str, kind: Kind, path: &[&str]| -> Result<(), ModuleFileError> {
        if kind.accepts(value) {
            Ok(())
        } else {
            Err(error(
                lines.find(path),
                format!(
                    "{} is \"{value}\"; expected {}",
                    path.join("."),
                    kind.expected()
                ),
            ))
        }
    };
    let check_all = |values: &[String], kind: Kind, path: &[&str]| {
        values.iter().try_for_each(|v| check(v, kind, path))
    };
    let check_archive = |archive: &str, path: &[&str]| -> Result<(), ModuleFileError> {
        check(archive, Kind::FileName, path)?;
        if ARCHIVE_SUFFIXES.iter().any(|s| archive.ends_with(s)) {
            Ok(())
        } else {
            Err(error(
                lines.find(path),
                format!(
                    "{} is \"{archive}\"; expected an archive ending in {}",
                    path.join("."),
                    ARCHIVE_SUFFIXES.join(", ")
                ),
            ))
        }
    };

    let b = raw.base;
    check(&b.version, Kind::Word, &["base", "version"])?;
    check(&b.release, Kind::Word, &["base", "release"])?;
    check_archive(&b.archive, &["base", "archive"])?;
    if let Some(sum) = &b.sha256 {
        check(sum, Kind::Sha256, &["base", "sha256"])?;
    }
    check(&b.host_arch, Kind::Word, &["base", "host_arch"])?;
    check_all(&b.packages, Kind::Package, &["base", "packages"])?;
    check_all(&b.purge, Kind::Package, &["base", "purge"])?;
    let base = Base {
        version: b.version,
        release: b.release,
        archive: b.archive,
        sha256: b.sha256.map(|s| s.to_ascii_lowercase()),
        host_arch: b.host_arch,
        packages: b.packages,
        purge: b.purge,
    };

    let e = raw.ioc_exec;
    check(&e.release, Kind::Word, &["ioc_exec", "release"])?;
    check(&e.executable, Kind::Word, &["ioc_exec", "executable"])?;
    check_all(&e.packages, Kind::Package, &["ioc_exec", "packages"])?;
    check_all(&e.purge, Kind::Package, &["ioc_exec", "purge"])?;
    let ioc_exec = IocExec {
        release: e.release,
        executable: e.executable,
        packages: e.packages,
        purge: e.purge,
    };

    let mut modules = BTreeMap::new();
    let mut variables: BTreeMap<String, String> = BTreeMap::new();
    for (name, m) in raw.modules {
        let at = |key: &'static str| ["modules", name.as_str(), key];
        check(&name, Kind::Word, &["modules", &name])?;
        check(&m.version, Kind::Word, &at("version"))?;
        check_archive(&m.archive, &at("archive"))?;
        if let Some(sum) = &m.sha256 {
            check(sum, Kind::Sha256, &at("sha256"))?;
        }
        check(&m.variable, Kind::Variable, &at("variable"))?;
        if m.variable == "EPICS_BASE" || m.variable == "TOP" {
            return Err(error(
                lines.find(&at("variable")),
                format!(
                    "modules.{name}.variable is {}, which EPICS itself defines",
                    m.variable
                ),
            ));
        }
        if let Some(other) = variables.insert(m.variable.clone(), name.clone()) {
            return Err(error(
                lines.find(&at("variable")),
                format!(
                    "modules.{name}.variable is {}, which module \"{other}\" uses already",
                    m.variable
                ),
            ));
        }
        check_all(&m.libs, Kind::FileName, &at("libs"))?;
        check_all(&m.dbd, Kind::FileName, &at("dbd"))?;
        check_all(&m.db, Kind::FileName, &at("db"))?;
        modules.insert(
            name.clone(),
            Module {
                name: name.clone(),
                version: m.version,
                archive: m.archive,
                sha256: m.sha256.map(|s| s.to_ascii_lowercase()),
                variable: m.variable,
                depends: m.depends,
                libs: m.libs,
                dbd: m.dbd,
                db: m.db,
            },
        );
    }
    for module in modules.values() {
        for dependency in &module.depends {
            if !modules.contains_key(dependency) {
                return Err(error(
                    lines.find(&["modules", &module.name, "depends"]),
                    format!(
                        "module \"{}\" depends on \"{dependency}\", which is not under modules",
                        module.name
                    ),
                ));
            }
        }
    }

    let mut sets = BTreeMap::new();
    for (key, value) in raw.sets {
        let name = match &key {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Number(n) => n.to_string(),
            _ => {
                return Err(error(
                    lines.find(&["sets"]),
                    "a set name must be a word".into(),
                ));
            }
        };
        check(&name, Kind::Word, &["sets", &name])?;
        let members: Vec<String> = serde_yaml::from_value(value).map_err(|_| {
            error(
                lines.find(&["sets", &name]),
                format!("set \"{name}\" must be a list of module names"),
            )
        })?;
        let line = || lines.find(&["sets", &name]);
        if members.is_empty() {
            return Err(error(line(), format!("set \"{name}\" lists no module")));
        }
        let listed: BTreeSet<&str> = members.iter().map(String::as_str).collect();
        for member in &members {
            let Some(module) = modules.get(member) else {
                return Err(error(
                    line(),
                    format!("set \"{name}\" lists \"{member}\", which is not under modules"),
                ));
            };
            if let Some(missing) = module.depends.iter().find(|d| !listed.contains(d.as_str())) {
                return Err(error(
                    line(),
                    format!(
                        "set \"{name}\": module \"{member}\" depends on \"{missing}\", which the set does not list"
                    ),
                ));
            }
        }
        let ordered = build_order(&members, &modules).ok_or_else(|| {
            error(
                line(),
                format!("set \"{name}\": its modules depend on each other in a circle"),
            )
        })?;
        sets.insert(name, ordered);
    }
    if sets.is_empty() {
        return Err(error(lines.find(&["sets"]), "no set is defined".into()));
    }
    Ok(ModuleSets {
        origin: origin.to_string(),
        base,
        ioc_exec,
        modules,
        sets,
    })
}

/// `members` ordered so each module comes after the modules it depends on, otherwise
/// in the order listed; None on a dependency circle.
fn build_order(members: &[String], modules: &BTreeMap<String, Module>) -> Option<Vec<String>> {
    let mut done: Vec<String> = Vec::new();
    let mut pending: Vec<&String> = members.iter().collect();
    pending.dedup();
    while !pending.is_empty() {
        let ready = pending.iter().position(|m| {
            modules[*m]
                .depends
                .iter()
                .all(|d| done.iter().any(|x| x == d))
        })?;
        done.push(pending.remove(ready).clone());
    }
    Some(done)
}

/// Line numbers of keys in the block-style YAML of the file, for errors found after
/// parsing (the YAML library keeps no positions of values).
struct KeyLines<'a>(&'a str);

impl KeyLines<'_> {
    /// The line of the last key of `path` that can be found, each key searched after
    /// the line of the one before it.
    fn find(&self, path: &[&str]) -> Option<usize> {
        let lines: Vec<&str> = self.0.lines().collect();
        let mut from = 0;
        let mut found = None;
        for key in path {
            let hit = lines.iter().enumerate().skip(from).find_map(|(i, line)| {
                let t = line.trim_start();
                let t = t.strip_prefix("- ").unwrap_or(t);
                [
                    format!("{key}:"),
                    format!("\"{key}\":"),
                    format!("'{key}':"),
                ]
                .iter()
                .any(|k| t.starts_with(k.as_str()))
                .then_some(i)
            });
            match hit {
                Some(i) => {
                    found = Some(i + 1);
                    from = i + 1;
                }
                None => break,
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILT_IN: &str = include_str!("../../templates/image/modules.yaml");

    #[test]
    fn the_built_in_file_has_the_original_sets_in_build_order() {
        let sets = parse(BUILT_IN, "built-in").unwrap();
        assert_eq!(sets.base.version, "7.0.8.1");
        assert_eq!(sets.base.release, "1.0.1");
        assert_eq!(sets.ioc_exec.release, "1.1");
        assert_eq!(
            sets.sets.keys().collect::<Vec<_>>(),
            ["0", "1", "2", "3", "A"]
        );
        assert_eq!(
            sets.sets["1"],
            [
                "seq",
                "asyn",
                "autosave",
                "caPutLog",
                "iocStats",
                "StreamDevice",
                "modbus"
            ]
        );
        let names: Vec<&str> = sets
            .set("2")
            .unwrap()
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "seq", "asyn", "autosave", "caPutLog", "iocStats", "s7nodave"
            ]
        );
    }

    #[test]
    fn dependencies_come_first_whatever_the_listed_order() {
        let text = BUILT_IN.replace(
            "\"1\": [seq, asyn, autosave, caPutLog, iocStats, StreamDevice, modbus]",
            "\"1\": [StreamDevice, modbus, asyn]",
        );
        let sets = parse(&text, "f").unwrap();
        assert_eq!(sets.sets["1"], ["asyn", "StreamDevice", "modbus"]);
    }

    fn error_of(text: &str) -> String {
        parse(text, "modules.yaml").unwrap_err().to_string()
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn errors_name_the_line() {
        let text = BUILT_IN.replace(
            "depends: [asyn]\n    libs: [stream]",
            "depends: [asin]\n    libs: [stream]",
        );
        let line = line_of(&text, "depends: [asin]");
        assert_eq!(
            error_of(&text),
            format!(
                "modules.yaml:{line}: module \"StreamDevice\" depends on \"asin\", which is not under modules"
            )
        );

        let text = BUILT_IN.replace("\"3\": [seq,", "\"3\": [asyn2, seq,");
        let line = line_of(&text, "\"3\": [asyn2");
        assert!(
            error_of(&text).starts_with(&format!("modules.yaml:{line}: set \"3\" lists \"asyn2\"")),
            "{}",
            error_of(&text)
        );

        let text = BUILT_IN.replace("\"2\": [seq, asyn,", "\"2\": [seq,");
        let line = line_of(&text, "\"2\": [seq,");
        assert_eq!(
            error_of(&text),
            format!(
                "modules.yaml:{line}: set \"2\": module \"s7nodave\" depends on \"asyn\", which the set does not list"
            )
        );

        let text = BUILT_IN.replace("archive: seq.zip", "archive: ../seq.zip");
        let line = line_of(&text, "../seq.zip");
        assert!(
            error_of(&text).starts_with(&format!(
                "modules.yaml:{line}: modules.seq.archive is \"../seq.zip\""
            )),
            "{}",
            error_of(&text)
        );

        let text = BUILT_IN.replace("libs: [seq, pv]", "libs: [seq, pv]\n    lib: [x]");
        let line = line_of(&text, "lib: [x]");
        let message = error_of(&text);
        assert!(
            message.starts_with(&format!(
                "modules.yaml:{line}: modules.seq: unknown field `lib`"
            )),
            "{message}"
        );
    }

    #[test]
    fn nothing_can_reach_a_shell_line() {
        for (from, to) in [
            ("version: 7.0.8.1", "version: \"7.0; rm -rf /\""),
            (
                "purge: [build-essential, libreadline-dev]\n\nioc_exec",
                "purge: [\"$(reboot)\"]\n\nioc_exec",
            ),
            ("executable: ST-IOC", "executable: \"ST IOC\""),
            ("variable: ASYN", "variable: \"ASYN=/x\""),
            ("dbd: [asSupport.dbd]", "dbd: [\"../x.dbd\"]"),
            ("release: \"1.1\"", "release: \"1.1\\n\""),
            ("variable: AUTOSAVE", "variable: EPICS_BASE"),
            ("variable: AUTOSAVE", "variable: ASYN"),
        ] {
            let text = BUILT_IN.replacen(from, to, 1);
            assert_ne!(text, BUILT_IN, "{from}");
            assert!(parse(&text, "f").is_err(), "{to}");
        }
    }

    #[test]
    fn numeric_set_names_and_circles() {
        let text = BUILT_IN.replace("\"0\": [seq,", "0: [seq,");
        assert!(parse(&text, "f").unwrap().sets.contains_key("0"));
        let text = BUILT_IN.replace(
            "    variable: SNCSEQ\n",
            "    variable: SNCSEQ\n    depends: [iocStats]\n",
        );
        let text = text.replace(
            "    variable: IOCADMIN\n",
            "    variable: IOCADMIN\n    depends: [seq]\n",
        );
        assert!(
            error_of(&text).contains("in a circle"),
            "{}",
            error_of(&text)
        );
    }
}
