//! Files compiled into the binary so a bare install works, each overridable by a
//! file of the same relative path in a folder on disk so a site can adapt them
//! without rebuilding: the IOC templates (`templates/`, over `$TEMPLATE_PATH`) and
//! the built-in services' templates (`imsrvs/`, over `$SERVICES_PATH`, where files
//! also add to the built-in ones: a site's own alert rules or dashboards).

pub(crate) mod placeholder;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use include_dir::{Dir, DirEntry, include_dir};

use crate::fsutil::{FsError, IoContext};

static IOC_TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");
static SERVICE_TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/imsrvs");

/// One file with where it came from, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// Path relative to the template root, `/`-separated.
    pub(crate) relative: String,
    /// The override file, or `built-in <folder>/<relative>`.
    pub(crate) origin: String,
    pub(crate) bytes: Vec<u8>,
}

/// Built-in files under a folder of overrides.
#[derive(Debug, Clone)]
struct Overlay {
    built_in: &'static Dir<'static>,
    /// The built-in folder's name in the source tree, for `Source::origin`.
    built_in_name: &'static str,
    override_dir: PathBuf,
    /// The error message's action when an override cannot be read.
    cannot_read: &'static str,
}

impl Overlay {
    /// `relative` like "db/status_ioc.db": the on-disk override if that file exists,
    /// else the built-in copy, else None. A path that could leave the folder
    /// (absolute, `..`) names no file, so it is None rather than a read elsewhere on
    /// the disk.
    fn read(&self, relative: &str) -> Result<Option<Vec<u8>>, FsError> {
        if !is_plain_relative(relative) {
            return Ok(None);
        }
        let path = self.override_dir.join(relative);
        match fs::read(&path) {
            Ok(bytes) => return Ok(Some(bytes)),
            // A folder of that name is no override either; the built-in copy applies.
            Err(e) if e.kind() == io::ErrorKind::NotFound || path.is_dir() => {}
            Err(e) => return Err(e).at(&path, self.cannot_read),
        }
        Ok(self
            .built_in
            .get_file(relative)
            .map(|f| f.contents().to_vec()))
    }

    /// Every file, built-in ones replaced or added to by the overrides, sorted by
    /// relative path.
    fn all(&self) -> Result<Vec<Source>, FsError> {
        let mut sources = BTreeMap::new();
        let mut built_in = Vec::new();
        files_of(self.built_in, &mut built_in);
        for (relative, bytes) in built_in {
            let source = Source {
                origin: format!("built-in {}/{relative}", self.built_in_name),
                relative: relative.clone(),
                bytes: bytes.to_vec(),
            };
            sources.insert(relative, source);
        }
        if self.override_dir.is_dir() {
            for entry in walkdir::WalkDir::new(&self.override_dir).follow_links(true) {
                let entry = entry.map_err(|e| {
                    let path = e.path().unwrap_or(&self.override_dir).to_path_buf();
                    let source = e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("file system loop"));
                    FsError {
                        path,
                        action: self.cannot_read,
                        cause: source,
                    }
                })?;
                if !entry.file_type().is_file() {
                    continue;
                }
                let Ok(relative) = entry.path().strip_prefix(&self.override_dir) else {
                    continue;
                };
                if ignored(relative) {
                    continue;
                }
                let Some(relative) = relative.to_str().map(str::to_string) else {
                    continue;
                };
                let bytes = fs::read(entry.path()).at(entry.path(), self.cannot_read)?;
                sources.insert(
                    relative.clone(),
                    Source {
                        relative,
                        origin: entry.path().display().to_string(),
                        bytes,
                    },
                );
            }
        }
        Ok(sources.into_values().collect())
    }
}

/// Every file of a built-in folder: relative path and contents.
fn files_of(dir: &'static Dir<'static>, out: &mut Vec<(String, &'static [u8])>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(sub) => files_of(sub, out),
            DirEntry::File(file) => {
                if ignored(file.path()) {
                    continue;
                }
                if let Some(relative) = file.path().to_str() {
                    out.push((relative.to_string(), file.contents()));
                }
            }
        }
    }
}

/// Editor leftovers and hidden files are never templates.
fn ignored(relative: &Path) -> bool {
    relative.components().any(|c| {
        let name = c.as_os_str().to_string_lossy();
        name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp")
    })
}

/// The templates the tool copies into IOC projects (`templates/`, `$TEMPLATE_PATH`).
#[derive(Debug, Clone)]
pub(crate) struct Templates(Overlay);

impl Templates {
    pub(crate) fn new(override_dir: &Path) -> Self {
        Templates(Overlay {
            built_in: &IOC_TEMPLATES,
            built_in_name: "templates",
            override_dir: override_dir.to_path_buf(),
            cannot_read: "cannot read template",
        })
    }

    /// See `Overlay::read`.
    pub(crate) fn read(&self, relative: &str) -> Result<Option<Vec<u8>>, FsError> {
        self.0.read(relative)
    }
}

/// The templates of the built-in services (`imsrvs/`, `$SERVICES_PATH`).
#[derive(Debug, Clone)]
pub(crate) struct ServiceSources(Overlay);

impl ServiceSources {
    pub(crate) fn new(override_dir: &Path) -> Self {
        ServiceSources(Overlay {
            built_in: &SERVICE_TEMPLATES,
            built_in_name: "imsrvs",
            override_dir: override_dir.to_path_buf(),
            cannot_read: "cannot read service template",
        })
    }

    /// Every template, sorted by relative path.
    pub(crate) fn all(&self) -> Result<Vec<Source>, FsError> {
        self.0.all()
    }
}

/// A non-empty relative path made only of plain names (no `.`, `..`, root or prefix).
pub(crate) fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.ends_with('/')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        // `Path::components` silently drops `.` between names; it still is not plain.
        && !path.split('/').any(|part| part.is_empty() || part == ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_are_found_without_an_override_folder() {
        let templates = Templates::new(Path::new("/nonexistent/iocdock-templates"));
        let mut built_in = Vec::new();
        files_of(&IOC_TEMPLATES, &mut built_in);
        assert!(!built_in.is_empty());
        for (name, bytes) in built_in {
            let name = name.as_str();
            assert_eq!(
                templates.read(name).unwrap().as_deref(),
                Some(bytes),
                "{name}"
            );
            assert!(!bytes.is_empty(), "{name}");
        }
        assert_eq!(templates.read("db/none.db").unwrap(), None);
    }

    #[test]
    fn an_override_file_wins_and_other_names_fall_back() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("db")).unwrap();
        fs::write(dir.path().join("db/status_ioc.db"), "# site copy\n").unwrap();
        fs::write(dir.path().join("site.acf"), "ASG(DEFAULT) {}\n").unwrap();
        // A folder named like a template is not an override.
        fs::create_dir_all(dir.path().join("caputlog.acf")).unwrap();
        let templates = Templates::new(dir.path());
        assert_eq!(
            templates.read("db/status_ioc.db").unwrap().as_deref(),
            Some(&b"# site copy\n"[..])
        );
        assert_eq!(
            templates.read("site.acf").unwrap().as_deref(),
            Some(&b"ASG(DEFAULT) {}\n"[..])
        );
        assert!(
            templates
                .read("caputlog.acf")
                .unwrap()
                .is_some_and(|b| b.starts_with(b"#"))
        );
    }

    #[test]
    fn paths_leaving_the_folder_name_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("templates");
        fs::create_dir_all(&inner).unwrap();
        fs::write(dir.path().join("secret"), "x").unwrap();
        let templates = Templates::new(&inner);
        for path in [
            "../secret",
            "/etc/passwd",
            "db/../../secret",
            "./caputlog.acf",
            "db/./status_ioc.db",
            "",
            "db/",
        ] {
            assert_eq!(templates.read(path).unwrap(), None, "{path}");
        }
    }

    fn service_built_ins() -> usize {
        let mut files = Vec::new();
        files_of(&SERVICE_TEMPLATES, &mut files);
        files.len()
    }

    #[test]
    fn built_ins_come_without_an_override_folder() {
        let sources = ServiceSources::new(Path::new("/nonexistent/imsrvs"))
            .all()
            .unwrap();
        assert_eq!(sources.len(), service_built_ins());
        assert!(sources.iter().all(|s| !s.bytes.is_empty()));
        assert!(
            sources
                .iter()
                .any(|s| s.relative == "global-services/client.yaml"
                    && s.origin == "built-in imsrvs/global-services/client.yaml")
        );
    }

    #[test]
    fn overrides_replace_and_add() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("prometheus/config/rules")).unwrap();
        std::fs::write(dir.path().join("images.yaml"), "site\n").unwrap();
        std::fs::write(
            dir.path().join("prometheus/config/rules/site.yml"),
            "groups: []\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("prometheus/.site.yml.swp"), "x").unwrap();
        std::fs::write(dir.path().join("images.yaml~"), "x").unwrap();
        let sources = ServiceSources::new(dir.path()).all().unwrap();
        assert_eq!(sources.len(), service_built_ins() + 1);
        let images = sources
            .iter()
            .find(|s| s.relative == "images.yaml")
            .unwrap();
        assert_eq!(images.bytes, b"site\n");
        assert_eq!(
            images.origin,
            dir.path().join("images.yaml").display().to_string()
        );
        assert!(
            sources
                .iter()
                .any(|s| s.relative == "prometheus/config/rules/site.yml")
        );
    }

    #[test]
    fn plain_relative_paths() {
        assert!(is_plain_relative("a"));
        assert!(is_plain_relative("db/a.db"));
        assert!(!is_plain_relative("db//a.db"));
        assert!(!is_plain_relative("/a"));
        assert!(!is_plain_relative("a/.."));
    }
}

/// The status databases against the device supports of the IOC image (test data of
/// tests/data/iocstats, taken from IocDock's image): a misspelt DTYP or INP parameter
/// would only show as a failed record on a real IOC, so it fails here first.
#[cfg(test)]
mod status_databases {
    use std::collections::{BTreeMap, BTreeSet};

    use super::IOC_TEMPLATES;

    const DEVICES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/iocstats/devices.dbd"
    ));
    const PARAMETERS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/iocstats/parameters.txt"
    ));

    /// `word(arg, ...)`.
    type Call = (String, Vec<String>);
    /// A call with the calls of its `{ ... }` body.
    type Statement = (String, Vec<String>, Vec<Call>);

    #[derive(Debug)]
    struct Record {
        kind: String,
        name: String,
        fields: BTreeMap<String, String>,
    }

    /// `word(arg, "arg", ...)` calls of a dbd or db text, with `{ ... }` bodies of
    /// records parsed into their field calls. Comments run from `#` outside quotes to
    /// the end of the line.
    fn calls(text: &str) -> Result<Vec<Statement>, String> {
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '#' => while chars.next_if(|&c| c != '\n').is_some() {},
                '"' => {
                    let mut s = String::new();
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => s.extend(chars.next()),
                            Some(c) => s.push(c),
                            None => return Err("unterminated string".to_string()),
                        }
                    }
                    tokens.push(format!("\"{s}"));
                }
                '(' | ')' | '{' | '}' | ',' => tokens.push(c.to_string()),
                c if c.is_whitespace() => {}
                c => {
                    let mut word = c.to_string();
                    while let Some(c) =
                        chars.next_if(|c| !c.is_whitespace() && !"(){},\"#".contains(*c))
                    {
                        word.push(c);
                    }
                    tokens.push(word);
                }
            }
        }
        let mut tokens = tokens.into_iter().peekable();
        let call = |tokens: &mut std::iter::Peekable<std::vec::IntoIter<String>>| {
            let word = tokens.next().ok_or("expected a word")?;
            if tokens.next().as_deref() != Some("(") {
                return Err(format!("expected ( after {word}"));
            }
            let mut args = Vec::new();
            loop {
                let arg = tokens.next().ok_or(format!("unclosed {word}("))?;
                args.push(arg.strip_prefix('"').unwrap_or(&arg).to_string());
                match tokens.next().as_deref() {
                    Some(",") => continue,
                    Some(")") => break,
                    other => return Err(format!("{word}: unexpected {other:?}")),
                }
            }
            Ok::<Call, String>((word, args))
        };
        let mut out = Vec::new();
        while tokens.peek().is_some() {
            let (word, args) = call(&mut tokens)?;
            let mut body = Vec::new();
            if tokens.peek().map(String::as_str) == Some("{") {
                tokens.next();
                while tokens.peek().map(String::as_str) != Some("}") {
                    if tokens.peek().is_none() {
                        return Err(format!("unclosed body of {args:?}"));
                    }
                    body.push(call(&mut tokens)?);
                }
                tokens.next();
            }
            out.push((word, args, body));
        }
        Ok(out)
    }

    fn records(text: &str) -> Result<Vec<Record>, String> {
        let mut records = Vec::new();
        for (word, args, body) in calls(text)? {
            if word != "record" || args.len() != 2 {
                return Err(format!("unexpected {word}{args:?}"));
            }
            let mut fields = BTreeMap::new();
            for (call, field) in body {
                match (call.as_str(), field.as_slice()) {
                    ("field", [name, value]) => {
                        if fields.insert(name.clone(), value.clone()).is_some() {
                            return Err(format!("{}: field {name} twice", args[1]));
                        }
                    }
                    ("info", [_, _]) | ("alias", [_]) => {}
                    _ => return Err(format!("{}: unexpected {call}{field:?}", args[1])),
                }
            }
            records.push(Record {
                kind: args[0].clone(),
                name: args[1].clone(),
                fields,
            });
        }
        Ok(records)
    }

    /// What the IOC image's database definition offers.
    struct Image {
        types: BTreeSet<String>,
        /// (record type, DTYP) → dset.
        devices: BTreeMap<(String, String), String>,
        /// dset → the parameters it accepts (None: any text).
        parameters: BTreeMap<String, Option<BTreeSet<String>>>,
    }

    fn image() -> Image {
        let mut types = BTreeSet::new();
        let mut devices = BTreeMap::new();
        for (word, args, _) in calls(DEVICES).expect("devices.dbd") {
            match (word.as_str(), args.as_slice()) {
                ("recordtype", [kind]) => {
                    types.insert(kind.clone());
                }
                ("device", [kind, link, dset, choice]) => {
                    assert_eq!(link, "INST_IO", "{dset}");
                    devices.insert((kind.clone(), choice.clone()), dset.clone());
                }
                other => panic!("devices.dbd: unexpected {other:?}"),
            }
        }
        let mut parameters = BTreeMap::new();
        for line in PARAMETERS.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (dset, words) = line.split_once(':').expect("parameters.txt: <dset>: ...");
            let words: BTreeSet<String> = words.split_whitespace().map(str::to_string).collect();
            let accepted = (!words.contains("*")).then_some(words);
            parameters.insert(dset.trim().to_string(), accepted);
        }
        Image {
            types,
            devices,
            parameters,
        }
    }

    /// Every problem of a status database: unknown record types, DTYPs without device
    /// support for the record type, INP/OUT parameters the device support rejects,
    /// links to records the database does not have, names outside `prefix`.
    fn problems(text: &str, prefix: &str) -> Vec<String> {
        let Image {
            types,
            devices,
            parameters,
        } = image();
        let records = match records(text) {
            Ok(records) => records,
            Err(e) => return vec![e],
        };
        let names: BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
        let mut problems = Vec::new();
        if records.is_empty() {
            problems.push("no records".to_string());
        }
        for record in &records {
            let name = &record.name;
            if !name.starts_with(prefix) {
                problems.push(format!("{name}: not named {prefix}..."));
            }
            if !types.contains(&record.kind) {
                problems.push(format!(
                    "{name}: record type {} not in the image",
                    record.kind
                ));
            }
            for (field, value) in &record.fields {
                let target = value.split_whitespace().next().unwrap_or("");
                let is_link = field == "FLNK" || (field.starts_with("INP") && field.len() == 4);
                if is_link && target.starts_with("$(") && !names.contains(target) {
                    problems.push(format!("{name}: {field} names {target}, which is not here"));
                }
            }
            let Some(dtyp) = record.fields.get("DTYP") else {
                continue;
            };
            let Some(dset) = devices.get(&(record.kind.clone(), dtyp.clone())) else {
                problems.push(format!(
                    "{name}: no device support \"{dtyp}\" for record type {}",
                    record.kind
                ));
                continue;
            };
            let link = if record.kind == "ao" { "OUT" } else { "INP" };
            let Some(parameter) = record.fields.get(link).and_then(|v| v.strip_prefix('@')) else {
                problems.push(format!("{name}: DTYP \"{dtyp}\" needs {link} \"@...\""));
                continue;
            };
            match parameters.get(dset) {
                None => problems.push(format!("{name}: no parameters known for {dset}")),
                Some(Some(accepted)) if !accepted.contains(parameter) => problems.push(format!(
                    "{name}: {dset} does not know {link} \"@{parameter}\""
                )),
                Some(_) => {}
            }
        }
        problems
    }

    fn template(name: &str) -> &'static str {
        let bytes = IOC_TEMPLATES
            .get_file(name)
            .map(|f| f.contents())
            .expect("built-in template");
        std::str::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn status_databases_use_only_the_device_support_of_the_image() {
        for (file, prefix, device_records) in [
            ("db/status_ioc.db", "$(IOC):", 12),
            ("db/status_OS.db", "$(HOST):", 6),
        ] {
            let text = template(file);
            let found = problems(text, prefix);
            assert!(found.is_empty(), "{file}:\n{}", found.join("\n"));
            // What the modules exist for: devIocStats records, not only base ones.
            let records = records(text).unwrap();
            let stats = records
                .iter()
                .filter(|r| r.fields.get("DTYP").is_some_and(|d| d.starts_with("IOC ")))
                .count();
            assert!(
                stats >= device_records,
                "{file}: {stats} devIocStats records"
            );
            // The IOC health check reads the heartbeat.
            assert!(
                records
                    .iter()
                    .any(|r| r.name == format!("{prefix}HEARTBEAT")),
                "{file}"
            );
        }
    }

    #[test]
    fn the_check_finds_misspelt_device_support() {
        let db = r#"
            record(ai, "$(IOC):A") { field(DTYP, "IOC Stats") field(INP, "@ioc_cpuload") }
            record(ai, "$(IOC):B") { field(DTYP, "IOC stats") field(INP, "@ioc_cpu_load") }
            record(stringin, "$(IOC):C") { field(DTYP, "IOC epics var") field(INP, "@EPICS_CA_ADR_LIST") }
            record(stringin, "$(IOC):D") { field(DTYP, "IOC stats") field(INP, "up_time") }
            record(calcout, "$(IOC):E") { field(INPA, "$(IOC):F NPP") }
            record(ai, "X:G") { field(DTYP, "Soft Timestamp") field(INP, "@%H") }
        "#;
        let found = problems(db, "$(IOC):");
        assert_eq!(
            found,
            [
                "$(IOC):A: no device support \"IOC Stats\" for record type ai",
                "$(IOC):B: devAiStats does not know INP \"@ioc_cpu_load\"",
                "$(IOC):C: devStringinEpics does not know INP \"@EPICS_CA_ADR_LIST\"",
                "$(IOC):D: DTYP \"IOC stats\" needs INP \"@...\"",
                "$(IOC):E: record type calcout not in the image",
                "$(IOC):E: INPA names $(IOC):F, which is not here",
                "X:G: not named $(IOC):...",
            ]
        );
    }
}
