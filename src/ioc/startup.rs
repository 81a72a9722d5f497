//! The startup files of an IOC (SPEC §7): st.cmd, the substitutions file, copies of the
//! loaded databases, module files and `[RAW] file_copy` results.
//!
//! Generation is split in three: pure rendering of st.cmd and the substitutions file,
//! `plan` (validate everything and compute every file without writing), and `write`
//! (replace `project/startup` as a whole). So a validation failure never leaves a
//! half-generated startup folder, and rendering is testable without a file system.
//!
//! A load line without macros (`file.db`) becomes `pattern {  }` / `{  }`: the form the
//! original tool wrote (so an IOC regenerated after switching tools shows no difference
//! in `--check-deploy`), and one EPICS `dbLoadTemplate` accepts, loading the database
//! once without macros (checked with EPICS 7.0.10). `file db/x.db { }` would instead
//! load nothing.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::fsutil::{self, FsError, IoContext};
use crate::ioc::config::{self, Module};
use crate::ioc::ini::{IniDocument, value_lines};
use crate::ioc::repository::SRC_DIR;
use crate::schema::ioc_ini::{self as schema, Stage};
use crate::schema::values::{
    CopySource, SUBSTITUTION_KEYWORDS, env_assignment, parse_file_copy, parse_load_line,
};
use crate::settings::Settings;
use crate::templates::Templates;

/// One validation failure, worded like the original tool's state reasons, e.g.
/// reason `option "load" in section "DB" invalid.` message `db file "missing.db" not found.`
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) reason: String,
    pub(crate) message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GeneratedFile {
    /// Relative to `project/`.
    pub(crate) path: PathBuf,
    pub(crate) contents: Vec<u8>,
    pub(crate) mode: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct StartupFiles {
    pub(crate) files: Vec<GeneratedFile>,
    /// Relative to `project/`; created but never emptied, because they hold run-time
    /// data (autosave request and save files).
    pub(crate) dirs: Vec<PathBuf>,
}

const STARTUP_DIR: &str = "startup";
const ST_CMD_MODE: u32 = 0o555;
const READ_ONLY: u32 = 0o444;
const DIR_MODE: u32 = 0o755;
/// Hidden names inside `project/` used while `startup` is being replaced.
const NEW_PREFIX: &str = crate::fsutil::leftovers::STARTUP_NEW;
const OLD_PREFIX: &str = crate::fsutil::leftovers::STARTUP_OLD;

fn invalid(option: &str, section: &str) -> String {
    format!("option \"{option}\" in section \"{section}\" invalid.")
}

impl Problem {
    fn new(reason: String, message: String) -> Self {
        Problem { reason, message }
    }
}

/// The modules of `[IOC] module` that the tool knows, in the order the file lists them.
pub(crate) fn modules(ini: &IniDocument) -> Vec<Module> {
    let mut found = Vec::new();
    for word in ini.get(config::IOC, "module").unwrap_or("").split(',') {
        if let Some(module) = Module::parse(word)
            && !found.contains(&module)
        {
            found.push(module);
        }
    }
    found
}

fn flag(ini: &IniDocument, option: &str) -> bool {
    ini.get(config::SETTING, option)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A `[RAW]` command value as configparser returns it; a missing option reads as
/// empty, as in the original tool.
fn raw_value<'a>(ini: &'a IniDocument, option: &str) -> &'a str {
    ini.get(config::RAW, option).unwrap_or("")
}

fn lines_of<'a>(ini: &'a IniDocument, section: &str, option: &str) -> Vec<&'a str> {
    value_lines(ini.get(section, option).unwrap_or(""))
}

/// Characters `dbLoadTemplate` reads as part of an unquoted word.
fn is_bareword_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-+:./[]<>;".contains(c)
}

/// A value as the substitutions file must carry it: bare when the original tool would
/// have written the same bytes and EPICS reads it as one word, else double-quoted.
fn substitution_word(value: &str) -> Cow<'_, str> {
    if !value.is_empty()
        && value.chars().all(is_bareword_char)
        && !SUBSTITUTION_KEYWORDS.contains(&value)
    {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("\"{value}\""))
    }
}

/// The substitutions file: per load line a blank line then a `file` block (SPEC §7).
/// Lines `plan` would refuse are left out; `plan` never renders an invalid ioc.ini.
pub(crate) fn render_substitutions(ini: &IniDocument) -> String {
    let mut out = String::new();
    for line in lines_of(ini, config::DB, "load") {
        let Ok(load) = parse_load_line(line) else {
            continue;
        };
        let names: Vec<&str> = load.macros.iter().map(|(n, _)| *n).collect();
        let values: Vec<Cow<'_, str>> = load
            .macros
            .iter()
            .map(|(_, v)| substitution_word(v))
            .collect();
        let _ = write!(
            out,
            "\nfile {} {{\n    pattern {{ {} }}\n        {{ {} }}\n}}\n",
            substitution_word(&format!("db/{}", load.db)),
            names.join(", "),
            values.join(", "),
        );
    }
    out
}

/// st.cmd in the order of SPEC §7. `container_top_path` is the settings value
/// (`/opt/EPICS`): the IOC binaries live under `<top>/IOC`, the run folders under `<top>/RUN`.
pub(crate) fn render_st_cmd(name: &str, ini: &IniDocument, container_top_path: &str) -> String {
    let top = container_top_path.trim_end_matches('/');
    let bin = ini.get(config::IOC, "bin").unwrap_or("").trim();
    let run = format!("{top}/RUN/{name}");
    let ioc = format!("{top}/IOC/{bin}");
    let modules = modules(ini);
    let has = |m: Module| modules.contains(&m);
    let raw = ini.has_section(config::RAW);
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push('\n');
    };

    line(&format!("#!{ioc}/bin/linux-x86_64/{bin}"));
    line("");
    line(&format!("cd {ioc}/iocBoot/ioc{bin}"));
    line("< envPaths");
    line("");
    line("cd \"${TOP}\"");
    line(&format!("dbLoadDatabase \"dbd/{bin}.dbd\""));
    line(&format!(
        "{}_registerRecordDeviceDriver pdbbase",
        bin.replace('-', "_")
    ));
    line("");

    line("#settings");
    for env in lines_of(ini, config::SETTING, "epics_env") {
        if let Some((env_name, value)) = env_assignment(env) {
            line(&format!("epicsEnvSet(\"{env_name}\",\"{value}\")"));
        }
    }
    line("");

    if has(Module::Autosave) {
        line("#autosave");
        line(&format!("epicsEnvSet REQ_DIR {run}/settings/autosave"));
        line(&format!("epicsEnvSet SAVE_DIR {run}/logs/autosave"));
        line("set_requestfile_path(\"$(REQ_DIR)\")");
        line("set_savefile_path(\"$(SAVE_DIR)\")");
        line(&format!(
            "set_pass0_restoreFile(\"{name}-automake-pass0.sav\")"
        ));
        line(&format!(
            "set_pass1_restoreFile(\"{name}-automake-pass1.sav\")"
        ));
        line("save_restoreSet_DatedBackupFiles(1)");
        line("save_restoreSet_NumSeqFiles(3)");
        line("save_restoreSet_SeqPeriodInSeconds(600)");
        line("save_restoreSet_RetrySeconds(60)");
        line("save_restoreSet_CAReconnect(1)");
        line("save_restoreSet_CallbackTimeout(-1)");
        line("");
    }
    if has(Module::Caputlog) {
        line("#caPutLog");
        line(&format!("asSetFilename(\"{run}/startup/{name}.acf\")"));
        line("epicsEnvSet(\"EPICS_IOC_LOG_INET\",\"127.0.0.1\")");
        line(&format!("iocLogPrefix(\"{name} \")"));
        line("iocLogInit()");
        line("");
    }
    // [RAW] values go in exactly as configparser returns them, as the original tool
    // wrote them (`f'{value}\n'`): a value that starts on the line after `key =`
    // begins with a line break, and an empty or missing value still gives its line.
    if raw {
        line(raw_value(ini, "cmd_before_dbload"));
        line("");
    }

    line(&format!("cd {run}/startup"));
    line(&format!("dbLoadTemplate \"db/{name}.substitutions\""));
    if has(Module::StatusIoc) {
        line(&format!(
            "dbLoadRecords(\"db/status_ioc.db\",\"IOC={name}\")"
        ));
    }
    if has(Module::StatusOs) {
        line(&format!(
            "dbLoadRecords(\"db/status_OS.db\",\"HOST={name}:docker\")"
        ));
    }
    if raw {
        line(raw_value(ini, "cmd_at_dbload"));
    }
    line("");
    line("iocInit");
    line("");

    if has(Module::Autosave) {
        line("#autosave after iocInit");
        line(&format!(
            "makeAutosaveFileFromDbInfo(\"$(REQ_DIR)/{name}-automake-pass0.req\",\"autosaveFields_pass0\")"
        ));
        line(&format!(
            "makeAutosaveFileFromDbInfo(\"$(REQ_DIR)/{name}-automake-pass1.req\",\"autosaveFields\")"
        ));
        line(&format!(
            "create_monitor_set(\"{name}-automake-pass0.req\",10)"
        ));
        line(&format!(
            "create_monitor_set(\"{name}-automake-pass1.req\",10)"
        ));
        line("");
    }
    if has(Module::Caputlog) {
        line("#caPutLog after iocInit");
        if flag(ini, "caputlog_json") {
            line("caPutJsonLogInit \"127.0.0.1:7004\" 0");
        } else {
            line("caPutLogInit \"127.0.0.1:7004\" 0");
        }
        line("");
    }
    if raw {
        line(raw_value(ini, "cmd_after_iocinit"));
        line("");
    }
    if flag(ini, "report_info") {
        let info = format!("{run}/logs/{name}.info");
        line("#report info");
        line(&format!("system \"touch {info}\""));
        line(&format!("system \"echo \\#date > {info}\""));
        line(&format!("date >> {info}"));
        line(&format!("system \"echo >> {info}\""));
        line(&format!("system \"echo \\#ip >> {info}\""));
        line(&format!("system \"hostname -I >> {info}\""));
        line(&format!("system \"echo >> {info}\""));
        line(&format!("system \"echo \\#pv list >> {info}\""));
        line(&format!("dbl >> {info}"));
        line(&format!("system \"echo >> {info}\""));
        line("");
    }
    out
}

/// Where a planned file comes from, to name the culprit when two want the same path.
#[derive(Debug, Clone)]
enum Origin {
    Generated(&'static str),
    Module(Module),
    Load(String),
    FileCopy(String),
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::Generated(what) => format!("the generated {what}"),
            Origin::Module(module) => format!("the {module} module"),
            Origin::Load(line) => format!("the load line \"{line}\""),
            Origin::FileCopy(item) => format!("the file_copy entry \"{item}\""),
        }
    }

    fn problem(&self, detail: String) -> Problem {
        match self {
            Origin::Generated(_) | Origin::Module(_) => {
                Problem::new(invalid("module", config::IOC), detail)
            }
            Origin::Load(line) => Problem::new(
                invalid("load", config::DB),
                format!("in \"{line}\". {detail}"),
            ),
            Origin::FileCopy(item) => Problem::new(
                invalid("file_copy", config::RAW),
                format!("in \"{item}\". {detail}"),
            ),
        }
    }
}

/// Files being planned, refusing two writers of one path (or a file where a folder
/// must be) so that nothing is silently overwritten by something else.
#[derive(Default)]
struct Planned {
    files: Vec<(GeneratedFile, Origin)>,
    dirs: Vec<PathBuf>,
}

/// Folders of `project/` that must stay folders.
const RESERVED: [&str; 3] = [STARTUP_DIR, "settings", "logs"];

impl Planned {
    fn add(&mut self, file: GeneratedFile, origin: Origin, problems: &mut Vec<Problem>) {
        if RESERVED.iter().any(|r| file.path == Path::new(r)) {
            problems.push(origin.problem(format!(
                "\"{}\" is a folder of the project and cannot be a file.",
                file.path.display()
            )));
            return;
        }
        for dir in &self.dirs {
            if dir.starts_with(&file.path) {
                problems.push(origin.problem(format!(
                    "\"{}\" must be a folder (the autosave folder \"{}\" is there).",
                    file.path.display(),
                    dir.display()
                )));
                return;
            }
        }
        for (other, other_origin) in &self.files {
            let detail = if other.path == file.path {
                // The same db loaded by two lines is copied once.
                if other.contents == file.contents && other.mode == file.mode {
                    return;
                }
                format!(
                    "\"{}\" is also written by {}.",
                    file.path.display(),
                    other_origin.describe()
                )
            } else if other.path.starts_with(&file.path) {
                format!(
                    "\"{}\" must be a folder (it holds \"{}\" of {}).",
                    file.path.display(),
                    other.path.display(),
                    other_origin.describe()
                )
            } else if file.path.starts_with(&other.path) {
                format!(
                    "\"{}\" is a file of {}, so it cannot hold \"{}\".",
                    other.path.display(),
                    other_origin.describe(),
                    file.path.display()
                )
            } else {
                continue;
            };
            problems.push(origin.problem(detail));
            return;
        }
        self.files.push((file, origin));
    }
}

/// Why a source file cannot be used.
pub(crate) enum SourceError {
    NotFound,
    Link,
    Unreadable(io::Error),
}

/// Reads the regular file `base/relative` without following any symbolic link on the
/// way or at the end: `src/` cannot be used to copy files from elsewhere, nor be
/// swapped for a link while it is read.
pub(crate) fn read_inside(base: &Path, relative: &str) -> Result<Vec<u8>, SourceError> {
    use crate::fsutil::nofollow::{self, Refused};
    use std::io::Read;
    let classify = |e: io::Error| match (nofollow::refusal(&e), e.kind()) {
        (Some(Refused::Link), _) => SourceError::Link,
        (Some(Refused::Kind { .. }), _)
        | (_, io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => SourceError::NotFound,
        _ => SourceError::Unreadable(e),
    };
    let dir = nofollow::open_folder(base).map_err(classify)?;
    let (mut file, _) =
        nofollow::open_file_beneath(std::os::fd::AsFd::as_fd(&dir), Path::new(relative))
            .map_err(classify)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(SourceError::Unreadable)?;
    Ok(bytes)
}

fn template(
    templates: &Templates,
    relative: &str,
    origin: &Origin,
    problems: &mut Vec<Problem>,
) -> Option<Vec<u8>> {
    match templates.read(relative) {
        Ok(Some(bytes)) => Some(bytes),
        Ok(None) => {
            problems.push(origin.problem(format!("template \"{relative}\" not found.")));
            None
        }
        Err(e) => {
            problems.push(origin.problem(format!("template \"{relative}\" unreadable: {e}.")));
            None
        }
    }
}

/// Validates (listing EVERY problem, not only the first) and computes every file to
/// write. Reads src/ and templates; writes nothing.
pub(crate) fn plan(
    name: &str,
    ioc_dir: &Path,
    ini: &IniDocument,
    settings: &Settings,
    templates: &Templates,
) -> Result<StartupFiles, Vec<Problem>> {
    let mut problems = Vec::new();
    let src = ioc_dir.join(SRC_DIR);

    // Every option's own rule, and the options generation needs set; what remains
    // here is what only the files can tell (sources present, no file written twice).
    let context = schema::Context::new(name, settings);
    for violation in schema::check(ini, &context, Stage::Generate).errors {
        let (reason, message) = violation.reason_and_message();
        problems.push(Problem::new(reason, message));
    }

    let modules = modules(ini);
    let mut planned = Planned::default();
    // Generated files first: a user-named file that collides with one of them is the
    // one reported.
    planned.add(
        GeneratedFile {
            path: PathBuf::from("startup/iocBoot/st.cmd"),
            contents: render_st_cmd(name, ini, &settings.container_top_path).into_bytes(),
            mode: ST_CMD_MODE,
        },
        Origin::Generated("st.cmd"),
        &mut problems,
    );
    planned.add(
        GeneratedFile {
            path: PathBuf::from(format!("startup/db/{name}.substitutions")),
            contents: render_substitutions(ini).into_bytes(),
            mode: READ_ONLY,
        },
        Origin::Generated("substitutions file"),
        &mut problems,
    );
    if modules.contains(&Module::Autosave) {
        planned.dirs.push(PathBuf::from("settings/autosave"));
        planned.dirs.push(PathBuf::from("logs/autosave"));
    }
    for module in &modules {
        let (template_name, destination) = match module {
            Module::Autosave => continue,
            Module::Caputlog => ("caputlog.acf", format!("startup/{name}.acf")),
            Module::StatusIoc => ("db/status_ioc.db", "startup/db/status_ioc.db".to_string()),
            Module::StatusOs => ("db/status_OS.db", "startup/db/status_OS.db".to_string()),
        };
        let origin = Origin::Module(*module);
        if let Some(contents) = template(templates, template_name, &origin, &mut problems) {
            planned.add(
                GeneratedFile {
                    path: PathBuf::from(destination),
                    contents,
                    mode: READ_ONLY,
                },
                origin,
                &mut problems,
            );
        }
    }

    for line in lines_of(ini, config::DB, "load") {
        // The schema reported the lines that do not parse.
        let Ok(load) = parse_load_line(line) else {
            continue;
        };
        let db = load.db;
        let message = match read_inside(&src, db) {
            Ok(contents) => {
                planned.add(
                    GeneratedFile {
                        path: Path::new("startup/db").join(db),
                        contents,
                        mode: READ_ONLY,
                    },
                    Origin::Load(line.to_string()),
                    &mut problems,
                );
                continue;
            }
            Err(SourceError::NotFound) => format!("db file \"{db}\" not found."),
            Err(SourceError::Link) => format!(
                "db file \"{db}\" is a symbolic link; links in src/ are not read (copy the file itself into src/)."
            ),
            Err(SourceError::Unreadable(e)) => format!("db file \"{db}\" unreadable: {e}."),
        };
        problems.push(Problem::new(invalid("load", config::DB), message));
    }

    if ini.has_section(config::RAW) {
        for item in lines_of(ini, config::RAW, "file_copy") {
            plan_file_copy(item, &src, templates, &mut planned, &mut problems);
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(StartupFiles {
        files: planned.files.into_iter().map(|(file, _)| file).collect(),
        dirs: planned.dirs,
    })
}

/// One `src_path:dest_path[:mode]` entry of `[RAW] file_copy`: its source must be
/// there and its destination free. The schema reported entries that do not parse.
fn plan_file_copy(
    item: &str,
    src: &Path,
    templates: &Templates,
    planned: &mut Planned,
    problems: &mut Vec<Problem>,
) {
    let Ok(copy) = parse_file_copy(item) else {
        return;
    };
    let origin = Origin::FileCopy(item.to_string());
    let contents = match copy.source {
        CopySource::Src(relative) => {
            let source = format!("src/{relative}");
            let why = match read_inside(src, relative) {
                Ok(contents) => Ok(contents),
                Err(SourceError::NotFound) => Err(format!("source file \"{source}\" not found.")),
                Err(SourceError::Link) => Err(format!(
                    "source file \"{source}\" is a symbolic link; links in src/ are not read (copy the file itself into src/)."
                )),
                Err(SourceError::Unreadable(e)) => {
                    Err(format!("source file \"{source}\" unreadable: {e}."))
                }
            };
            match why {
                Ok(contents) => Some(contents),
                Err(message) => {
                    problems.push(origin.problem(message));
                    None
                }
            }
        }
        CopySource::Templates(relative) => template(templates, relative, &origin, problems),
    };
    if let Some(contents) = contents {
        planned.add(
            GeneratedFile {
                path: PathBuf::from(copy.destination),
                contents,
                mode: copy.mode,
            },
            origin,
            problems,
        );
    }
}

/// Replaces `<project_dir>/startup` as a whole: builds the new tree beside it (hidden
/// temp name in project/), then swaps it in with renames and deletes the old one, so a
/// crash or SIGKILL leaves either the old or the new startup, never a mix. Creates
/// `dirs` (keeping their content). Sets each file's mode.
///
/// Files outside `startup/` (file_copy into settings/ or logs/) are each replaced
/// atomically once the new tree is complete, just before the swap, so a tree that
/// cannot be built (a full disk) changes nothing.
/// Returns whether `startup/` changed; an unchanged tree is left as it is.
pub(crate) fn write(project_dir: &Path, files: &StartupFiles) -> Result<bool, FsError> {
    fs::create_dir_all(project_dir).at(project_dir, "cannot create folder")?;
    remove_leftovers(project_dir);

    let target = project_dir.join(STARTUP_DIR);
    let unchanged = startup_matches(&target, files);
    let staged = if unchanged {
        None
    } else {
        let staged = tempfile::Builder::new()
            .prefix(NEW_PREFIX)
            .tempdir_in(project_dir)
            .at(project_dir, "cannot create a temporary folder in")?;
        fill_staged(staged.path(), files)?;
        Some(staged)
    };

    for dir in &files.dirs {
        if !dir.starts_with(STARTUP_DIR) {
            let path = project_dir.join(dir);
            fs::create_dir_all(&path).at(&path, "cannot create folder")?;
        }
    }
    for file in &files.files {
        if file.path.starts_with(STARTUP_DIR) {
            continue;
        }
        let path = project_dir.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).at(parent, "cannot create folder")?;
        }
        fsutil::write_if_changed(&path, &file.contents, file.mode)?;
    }

    // Regenerating an unchanged IOC rewrites nothing, so a deploy of a large
    // repository after a few edits costs reads only.
    let Some(staged) = staged else {
        return Ok(false);
    };
    let old = match fs::symlink_metadata(&target) {
        Ok(_) => Some(swap_in(staged.path(), &target, project_dir)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::rename(staged.path(), &target).at(&target, "cannot create")?;
            None
        }
        Err(e) => return Err(e).at(&target, "cannot inspect"),
    };
    // The tree now lives under its final name; the guard must not delete it.
    let _ = staged.keep();
    if let Some(old) = old {
        remove_tree(&old);
    }
    Ok(true)
}

/// Whether `startup/` already holds exactly the planned files (bytes and modes), no
/// others, and every planned folder.
fn startup_matches(target: &Path, files: &StartupFiles) -> bool {
    // A link (say, restored from an archive) is never what generation writes.
    let Some(existing) = fsutil::plain_files_below(target) else {
        return false;
    };
    let planned: Vec<(&Path, &GeneratedFile)> = files
        .files
        .iter()
        .filter_map(|f| Some((f.path.strip_prefix(STARTUP_DIR).ok()?, f)))
        .collect();
    let dirs_present = files
        .dirs
        .iter()
        .filter_map(|d| d.strip_prefix(STARTUP_DIR).ok())
        .all(|d| target.join(d).is_dir());
    dirs_present
        && existing.len() == planned.len()
        && planned.iter().all(|(relative, file)| {
            existing.get(*relative).is_some_and(|path| {
                fs::symlink_metadata(path)
                    .is_ok_and(|m| m.permissions().mode() & 0o7777 == file.mode)
                    && fsutil::read_small(path).is_ok_and(|bytes| bytes == file.contents)
            })
        })
}

/// Writes every `startup/` file and folder into the staging folder. Like every
/// repository write, this guards against a killed or crashed process, not a power cut:
/// flushing each of the thousands of small files of a large deploy to disk would cost
/// more than the whole deploy (see docs/DECISIONS.md).
fn fill_staged(staged: &Path, files: &StartupFiles) -> Result<(), FsError> {
    fs::set_permissions(staged, fs::Permissions::from_mode(DIR_MODE))
        .at(staged, "cannot set permissions")?;
    let mut folders = vec![staged.to_path_buf()];
    let mut make_dirs = |dir: &Path| -> Result<(), FsError> {
        let mut current = staged.to_path_buf();
        for part in dir.iter() {
            current.push(part);
            if !folders.contains(&current) {
                fs::create_dir(&current).at(&current, "cannot create folder")?;
                fs::set_permissions(&current, fs::Permissions::from_mode(DIR_MODE))
                    .at(&current, "cannot set permissions")?;
                folders.push(current.clone());
            }
        }
        Ok(())
    };
    for dir in &files.dirs {
        if let Ok(inside) = dir.strip_prefix(STARTUP_DIR) {
            make_dirs(inside)?;
        }
    }
    for file in &files.files {
        let Ok(inside) = file.path.strip_prefix(STARTUP_DIR) else {
            continue;
        };
        if let Some(parent) = inside.parent() {
            make_dirs(parent)?;
        }
        let path = staged.join(inside);
        let mut out = File::create_new(&path).at(&path, "cannot create")?;
        out.write_all(&file.contents).at(&path, "cannot write")?;
        out.set_permissions(fs::Permissions::from_mode(file.mode))
            .at(&path, "cannot set permissions")?;
    }
    Ok(())
}

/// Puts the staged tree at `target` and returns where the old tree went. One atomic
/// exchange where the file system supports it; otherwise the old tree is first renamed
/// aside, which leaves a moment without `startup` (never a mixed one).
fn swap_in(staged: &Path, target: &Path, project_dir: &Path) -> Result<PathBuf, FsError> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        staged,
        rustix::fs::CWD,
        target,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        // After the exchange the staging name holds the old tree.
        Ok(()) => {
            let aside = hidden_name(project_dir, OLD_PREFIX);
            return match fs::rename(staged, &aside) {
                Ok(()) => Ok(aside),
                Err(_) => Ok(staged.to_path_buf()),
            };
        }
        Err(e)
            if e == rustix::io::Errno::INVAL
                || e == rustix::io::Errno::NOSYS
                || e == rustix::io::Errno::OPNOTSUPP => {}
        Err(e) => return Err(io::Error::from(e)).at(target, "cannot replace"),
    }
    swap_by_renames(staged, target, project_dir)
}

/// The swap for file systems without an atomic exchange (NFS, older kernels).
fn swap_by_renames(staged: &Path, target: &Path, project_dir: &Path) -> Result<PathBuf, FsError> {
    let aside = hidden_name(project_dir, OLD_PREFIX);
    fs::rename(target, &aside).at(target, "cannot move aside")?;
    if let Err(e) = fs::rename(staged, target) {
        // Put the old tree back so a failed generation changes nothing.
        let _ = fs::rename(&aside, target);
        return Err(e).at(target, "cannot replace");
    }
    Ok(aside)
}

/// A name in `dir` that nothing uses yet.
fn hidden_name(dir: &Path, prefix: &str) -> PathBuf {
    let stamp = std::process::id();
    let mut n: u32 = 0;
    loop {
        let candidate = dir.join(format!("{prefix}{stamp}-{n}"));
        if fs::symlink_metadata(&candidate).is_err() {
            return candidate;
        }
        n += 1;
    }
}

/// Staging and old trees of an earlier run that was killed half-way; they are hidden
/// and no longer needed, whichever side of the swap the kill happened.
fn remove_leftovers(project_dir: &Path) {
    let Ok(entries) = fs::read_dir(project_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(NEW_PREFIX) || name.starts_with(OLD_PREFIX) {
            remove_tree(&entry.path());
        }
    }
}

/// Best-effort removal of a replaced tree. Its files are read-only and an older tool may
/// have left read-only folders, so folders are made writable first. A failure only
/// leaves a hidden folder that the next generation removes; the new startup is in place.
fn remove_tree(path: &Path) {
    if fs::remove_dir_all(path).is_ok() {
        return;
    }
    for entry in walkdir::WalkDir::new(path).into_iter().flatten() {
        if entry.file_type().is_dir() {
            let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(DIR_MODE));
        }
    }
    let _ = fs::remove_dir_all(path);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::config::{IniChanges, RawTemplate, new_ioc_ini};
    use crate::ioc::state::IocState;
    use crate::settings::Overrides;
    use std::os::unix::fs::symlink;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn settings() -> Settings {
        match Settings::load(Overrides {
            home_flag: Some(PathBuf::from("/nonexistent/iocdock-test-home")),
            ..Default::default()
        }) {
            Ok(loaded) => loaded.settings,
            Err(e) => panic!("default settings: {e}"),
        }
    }

    fn templates() -> Templates {
        Templates::new(Path::new("/nonexistent/iocdock-test-templates"))
    }

    fn fixture_ini(ioc: &str) -> IniDocument {
        let path = Path::new(FIXTURES)
            .join("repository")
            .join(ioc)
            .join("ioc.ini");
        let text = fs::read_to_string(&path).expect("fixture ioc.ini readable");
        IniDocument::parse(&text, &path).expect("fixture ioc.ini parses")
    }

    /// A new IOC "demo" as `create` makes it, with the given modules and load value.
    fn demo_ini(modules: &str, load: &str) -> IniDocument {
        let mut ini = new_ioc_ini("demo", &settings());
        ini.set(config::IOC, "module", modules);
        ini.set(config::DB, "load", load);
        ini
    }

    /// An IOC folder with `src/` holding the given files.
    fn ioc_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join(SRC_DIR)).expect("src");
        for (name, text) in files {
            let path = dir.path().join(SRC_DIR).join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("src subfolder");
            }
            fs::write(path, text).expect("src file");
        }
        dir
    }

    fn problems_of(result: Result<StartupFiles, Vec<Problem>>) -> String {
        match result {
            Ok(files) => panic!(
                "expected problems, planned {:?}",
                files.files.iter().map(|f| &f.path).collect::<Vec<_>>()
            ),
            Err(problems) => problems
                .iter()
                .map(|p| format!("{} {}\n", p.reason, p.message))
                .collect(),
        }
    }

    fn planned(result: Result<StartupFiles, Vec<Problem>>) -> StartupFiles {
        match result {
            Ok(files) => files,
            Err(problems) => panic!("unexpected problems: {problems:#?}"),
        }
    }

    fn listing(files: &StartupFiles) -> String {
        let mut out = String::new();
        for file in &files.files {
            let _ = writeln!(out, "{:o} {}", file.mode, file.path.display());
        }
        for dir in &files.dirs {
            let _ = writeln!(out, "dir {}", dir.display());
        }
        out
    }

    #[test]
    fn fixture_worker_test_1_is_generated_byte_for_byte() {
        let ini = fixture_ini("worker_test_1");
        let expected = Path::new(FIXTURES).join("expected/worker_test_1");
        let st_cmd = fs::read_to_string(expected.join("st.cmd")).expect("fixture st.cmd");
        let substitutions = fs::read_to_string(expected.join("worker_test_1.substitutions"))
            .expect("fixture substitutions");
        assert_eq!(render_st_cmd("worker_test_1", &ini, "/opt/EPICS"), st_cmd);
        assert_eq!(render_substitutions(&ini), substitutions);
        // A trailing slash in the setting changes nothing.
        assert_eq!(render_st_cmd("worker_test_1", &ini, "/opt/EPICS/"), st_cmd);

        let dir = Path::new(FIXTURES).join("repository/worker_test_1");
        let files = planned(plan("worker_test_1", &dir, &ini, &settings(), &templates()));
        insta::assert_snapshot!(listing(&files), @"
        555 startup/iocBoot/st.cmd
        444 startup/db/worker_test_1.substitutions
        444 startup/worker_test_1.acf
        444 startup/db/status_ioc.db
        444 startup/db/status_OS.db
        444 startup/db/ramper.db
        dir settings/autosave
        dir logs/autosave
        ");
        let by_path = |p: &str| {
            files
                .files
                .iter()
                .find(|f| f.path == Path::new(p))
                .map(|f| f.contents.clone())
                .unwrap_or_default()
        };
        assert_eq!(by_path("startup/iocBoot/st.cmd"), st_cmd.as_bytes());
        assert_eq!(
            by_path("startup/db/worker_test_1.substitutions"),
            substitutions.as_bytes()
        );
        assert_eq!(
            by_path("startup/db/ramper.db"),
            fs::read(dir.join("src/ramper.db")).expect("fixture db")
        );
        assert_eq!(
            Some(by_path("startup/worker_test_1.acf")),
            templates().read("caputlog.acf").expect("template")
        );
    }

    #[test]
    fn fixture_worker_test_3_fails_with_the_original_reason_and_message() {
        let dir = Path::new(FIXTURES).join("repository/worker_test_3");
        let result = plan(
            "worker_test_3",
            &dir,
            &fixture_ini("worker_test_3"),
            &settings(),
            &templates(),
        );
        let Err(problems) = result else {
            panic!("worker_test_3 must not generate");
        };
        let state_path = dir.join(".info.ini");
        let bytes = fs::read(&state_path).expect("fixture state");
        let (state, _) = IocState::from_bytes(&bytes, &state_path).expect("fixture state parses");
        let original: Vec<(String, String)> = state
            .warnings
            .iter()
            .flat_map(|(reason, messages)| messages.keys().map(|m| (reason.clone(), m.clone())))
            .collect();
        let ours: Vec<(String, String)> = problems
            .into_iter()
            .map(|p| (p.reason, p.message))
            .collect();
        assert_eq!(ours, original);
    }

    #[test]
    fn st_cmd_without_modules() {
        let ini = demo_ini("", "ramper.db");
        insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"

        iocInit

        #report info
        system "touch /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#date > /opt/EPICS/RUN/demo/logs/demo.info"
        date >> /opt/EPICS/RUN/demo/logs/demo.info
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#ip >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "hostname -I >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#pv list >> /opt/EPICS/RUN/demo/logs/demo.info"
        dbl >> /opt/EPICS/RUN/demo/logs/demo.info
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        "#);
    }

    #[test]
    fn st_cmd_autosave_alone() {
        let mut ini = demo_ini("autosave", "ramper.db");
        ini.set(config::SETTING, "report_info", "false");
        insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        #autosave
        epicsEnvSet REQ_DIR /opt/EPICS/RUN/demo/settings/autosave
        epicsEnvSet SAVE_DIR /opt/EPICS/RUN/demo/logs/autosave
        set_requestfile_path("$(REQ_DIR)")
        set_savefile_path("$(SAVE_DIR)")
        set_pass0_restoreFile("demo-automake-pass0.sav")
        set_pass1_restoreFile("demo-automake-pass1.sav")
        save_restoreSet_DatedBackupFiles(1)
        save_restoreSet_NumSeqFiles(3)
        save_restoreSet_SeqPeriodInSeconds(600)
        save_restoreSet_RetrySeconds(60)
        save_restoreSet_CAReconnect(1)
        save_restoreSet_CallbackTimeout(-1)

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"

        iocInit

        #autosave after iocInit
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/demo-automake-pass0.req","autosaveFields_pass0")
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/demo-automake-pass1.req","autosaveFields")
        create_monitor_set("demo-automake-pass0.req",10)
        create_monitor_set("demo-automake-pass1.req",10)
        "#);
    }

    #[test]
    fn st_cmd_caputlog_alone() {
        let mut ini = demo_ini("caputlog", "ramper.db");
        ini.set(config::SETTING, "report_info", "false");
        insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        #caPutLog
        asSetFilename("/opt/EPICS/RUN/demo/startup/demo.acf")
        epicsEnvSet("EPICS_IOC_LOG_INET","127.0.0.1")
        iocLogPrefix("demo ")
        iocLogInit()

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"

        iocInit

        #caPutLog after iocInit
        caPutLogInit "127.0.0.1:7004" 0
        "#);
    }

    #[test]
    fn st_cmd_status_ioc_alone() {
        let mut ini = demo_ini("status-ioc", "ramper.db");
        ini.set(config::SETTING, "report_info", "false");
        insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"
        dbLoadRecords("db/status_ioc.db","IOC=demo")

        iocInit
        "#);
    }

    #[test]
    fn st_cmd_status_os_alone() {
        let mut ini = demo_ini("status-os", "ramper.db");
        ini.set(config::SETTING, "report_info", "false");
        insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"
        dbLoadRecords("db/status_OS.db","HOST=demo:docker")

        iocInit
        "#);
    }

    #[test]
    fn st_cmd_all_modules_json_log_and_environment() {
        let mut ini = demo_ini("status-os, STATUS-IOC, caputlog, autosave", "ramper.db");
        ini.set(config::IOC, "bin", "my-ioc-2");
        ini.set(config::SETTING, "caputlog_json", "true");
        ini.set(
            config::SETTING,
            "epics_env",
            "\nEPICS_CA_MAX_ARRAY_BYTES=1000000\nSTREAM_PATH=/opt/proto",
        );
        insta::assert_snapshot!(render_st_cmd("lab-1", &ini, "/srv/epics"), @r#"
        #!/srv/epics/IOC/my-ioc-2/bin/linux-x86_64/my-ioc-2

        cd /srv/epics/IOC/my-ioc-2/iocBoot/iocmy-ioc-2
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/my-ioc-2.dbd"
        my_ioc_2_registerRecordDeviceDriver pdbbase

        #settings
        epicsEnvSet("EPICS_CA_MAX_ARRAY_BYTES","1000000")
        epicsEnvSet("STREAM_PATH","/opt/proto")

        #autosave
        epicsEnvSet REQ_DIR /srv/epics/RUN/lab-1/settings/autosave
        epicsEnvSet SAVE_DIR /srv/epics/RUN/lab-1/logs/autosave
        set_requestfile_path("$(REQ_DIR)")
        set_savefile_path("$(SAVE_DIR)")
        set_pass0_restoreFile("lab-1-automake-pass0.sav")
        set_pass1_restoreFile("lab-1-automake-pass1.sav")
        save_restoreSet_DatedBackupFiles(1)
        save_restoreSet_NumSeqFiles(3)
        save_restoreSet_SeqPeriodInSeconds(600)
        save_restoreSet_RetrySeconds(60)
        save_restoreSet_CAReconnect(1)
        save_restoreSet_CallbackTimeout(-1)

        #caPutLog
        asSetFilename("/srv/epics/RUN/lab-1/startup/lab-1.acf")
        epicsEnvSet("EPICS_IOC_LOG_INET","127.0.0.1")
        iocLogPrefix("lab-1 ")
        iocLogInit()

        cd /srv/epics/RUN/lab-1/startup
        dbLoadTemplate "db/lab-1.substitutions"
        dbLoadRecords("db/status_ioc.db","IOC=lab-1")
        dbLoadRecords("db/status_OS.db","HOST=lab-1:docker")

        iocInit

        #autosave after iocInit
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/lab-1-automake-pass0.req","autosaveFields_pass0")
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/lab-1-automake-pass1.req","autosaveFields")
        create_monitor_set("lab-1-automake-pass0.req",10)
        create_monitor_set("lab-1-automake-pass1.req",10)

        #caPutLog after iocInit
        caPutJsonLogInit "127.0.0.1:7004" 0

        #report info
        system "touch /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "echo \#date > /srv/epics/RUN/lab-1/logs/lab-1.info"
        date >> /srv/epics/RUN/lab-1/logs/lab-1.info
        system "echo >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "echo \#ip >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "hostname -I >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "echo >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "echo \#pv list >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        dbl >> /srv/epics/RUN/lab-1/logs/lab-1.info
        system "echo >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        "#);
    }

    fn with_raw(raw: RawTemplate) -> IniDocument {
        let mut ini = demo_ini("", "ramper.db");
        ini.set(config::SETTING, "report_info", "false");
        let changes = IniChanges {
            raw: Some(raw),
            ..Default::default()
        };
        changes.apply(&mut ini, "demo", &settings());
        ini
    }

    #[test]
    fn st_cmd_raw_asyn_template() {
        let ini = with_raw(RawTemplate::Asyn);
        insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings


        drvAsynIPPortConfigure("L0", "192.168.0.23:4001", 0, 0, 0)
        drvAsynSerialPortConfigure("L0", "/dev/tty.PL2303-000013FA", 0, 0, 0)
        asynSetOption("L0", -1, "baud", "9600")
        asynSetOption("L0", -1, "bits", "8")
        asynSetOption("L0", -1, "parity", "none")
        asynSetOption("L0", -1, "stop", "1")
        asynSetOption("L0", -1, "clocal", "Y")
        asynSetOption("L0", -1, "crtscts", "Y")

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"
        dbLoadRecords("db/asynRecord.db","P=xxx,R=:asyn,PORT=xxx,ADDR=xxx,IMAX=xxx,OMAX=xxx")

        iocInit
        "#);
    }

    #[test]
    fn st_cmd_raw_stream_template() {
        let ini = with_raw(RawTemplate::Stream);
        insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings


        epicsEnvSet("STREAM_PROTOCOL_PATH", "/opt/EPICS/RUN/demo/startup")
        drvAsynIPPortConfigure("L0", "192.168.0.23:4001", 0, 0, 0)
        drvAsynSerialPortConfigure("L0", "/dev/tty.PL2303-000013FA", 0, 0, 0)
        asynSetOption("L0", -1, "baud", "9600")
        asynSetOption("L0", -1, "bits", "8")
        asynSetOption("L0", -1, "parity", "none")
        asynSetOption("L0", -1, "stop", "1")
        asynSetOption("L0", -1, "clocal", "Y")
        asynSetOption("L0", -1, "crtscts", "Y")

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"


        iocInit
        "#);
    }

    #[test]
    fn st_cmd_raw_empty_template() {
        let ini = with_raw(RawTemplate::Empty);
        insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings



        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"


        iocInit
        "#);
    }

    /// The blocks between which the `[RAW]` values of a hand-written ioc.ini land, as
    /// configparser returns them: a leading line break, a blank line inside a value and
    /// an empty or missing option each keep their lines.
    #[test]
    fn st_cmd_raw_values_are_written_verbatim() {
        let text = "[IOC]\nname = demo\nhost = swarm\nimage = x\nbin = ST-IOC\nmodule = \n\n\
                    [DB]\nload = ramper.db\n\n[SETTING]\nreport_info = false\n\n\
                    [RAW]\ncmd_before_dbload = \n\tepicsEnvSet(\"A\",\"1\")\n\n\tepicsEnvSet(\"B\",\"2\")\n\
                    cmd_at_dbload = \n";
        let ini = IniDocument::parse(text, Path::new("ioc.ini")).expect("parses");
        assert_eq!(
            ini.get(config::RAW, "cmd_before_dbload"),
            Some("\nepicsEnvSet(\"A\",\"1\")\n\nepicsEnvSet(\"B\",\"2\")")
        );
        let st_cmd = render_st_cmd("demo", &ini, "/opt/EPICS");
        let expected = "#settings\n\n\
                        \nepicsEnvSet(\"A\",\"1\")\n\nepicsEnvSet(\"B\",\"2\")\n\n\
                        cd /opt/EPICS/RUN/demo/startup\n\
                        dbLoadTemplate \"db/demo.substitutions\"\n\
                        \n\
                        \niocInit\n\n\
                        \n\n";
        assert!(
            st_cmd.ends_with(expected),
            "st.cmd ends with:\n{}",
            &st_cmd[st_cmd.find("#settings").unwrap_or(0)..]
        );
    }

    #[test]
    fn st_cmd_raw_commands_in_every_place() {
        let mut ini = demo_ini("autosave", "ramper.db");
        ini.set(config::RAW, "cmd_before_dbload", "\nbefore1\nbefore2");
        ini.set(
            config::RAW,
            "cmd_at_dbload",
            "dbLoadRecords(\"db/extra.db\",\"P=x\")",
        );
        ini.set(config::RAW, "cmd_after_iocinit", "\ndbpf x 1\ndbl");
        insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        #autosave
        epicsEnvSet REQ_DIR /opt/EPICS/RUN/demo/settings/autosave
        epicsEnvSet SAVE_DIR /opt/EPICS/RUN/demo/logs/autosave
        set_requestfile_path("$(REQ_DIR)")
        set_savefile_path("$(SAVE_DIR)")
        set_pass0_restoreFile("demo-automake-pass0.sav")
        set_pass1_restoreFile("demo-automake-pass1.sav")
        save_restoreSet_DatedBackupFiles(1)
        save_restoreSet_NumSeqFiles(3)
        save_restoreSet_SeqPeriodInSeconds(600)
        save_restoreSet_RetrySeconds(60)
        save_restoreSet_CAReconnect(1)
        save_restoreSet_CallbackTimeout(-1)


        before1
        before2

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"
        dbLoadRecords("db/extra.db","P=x")

        iocInit

        #autosave after iocInit
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/demo-automake-pass0.req","autosaveFields_pass0")
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/demo-automake-pass1.req","autosaveFields")
        create_monitor_set("demo-automake-pass0.req",10)
        create_monitor_set("demo-automake-pass1.req",10)


        dbpf x 1
        dbl

        #report info
        system "touch /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#date > /opt/EPICS/RUN/demo/logs/demo.info"
        date >> /opt/EPICS/RUN/demo/logs/demo.info
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#ip >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "hostname -I >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#pv list >> /opt/EPICS/RUN/demo/logs/demo.info"
        dbl >> /opt/EPICS/RUN/demo/logs/demo.info
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        "#);
    }

    #[test]
    fn substitutions_of_several_load_lines() {
        let ini = demo_ini(
            "",
            "\nramper.db, name=a\nplain.db\nramper.db, name=b, DESC=two words, P=$(IOC):, Q=file\nweird name.db, A=1",
        );
        insta::assert_snapshot!(render_substitutions(&ini), @r#"

        file db/ramper.db {
            pattern { name }
                { a }
        }

        file db/plain.db {
            pattern {  }
                {  }
        }

        file db/ramper.db {
            pattern { name, DESC, P, Q }
                { b, "two words", "$(IOC):", "file" }
        }

        file "db/weird name.db" {
            pattern { A }
                { 1 }
        }
        "#);
    }

    #[test]
    fn plan_with_the_raw_asyn_template_copies_the_asyn_database() {
        let dir = ioc_dir(&[("ramper.db", "record(ai, \"$(name)\") {}\n")]);
        let ini = with_raw(RawTemplate::Asyn);
        let files = planned(plan("demo", dir.path(), &ini, &settings(), &templates()));
        insta::assert_snapshot!(listing(&files), @"
        555 startup/iocBoot/st.cmd
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        444 startup/db/asynRecord.db
        ");
    }

    #[test]
    fn plan_with_the_raw_stream_template_names_the_missing_protocol() {
        let dir = ioc_dir(&[("ramper.db", "x")]);
        let ini = with_raw(RawTemplate::Stream);
        insta::assert_snapshot!(
            problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
            @r#"option "file_copy" in section "RAW" invalid. in "src/protocol_file.proto:startup/protocol_file.proto:r". source file "src/protocol_file.proto" not found."#
        );
        let dir = ioc_dir(&[("ramper.db", "x"), ("protocol_file.proto", "p")]);
        let files = planned(plan("demo", dir.path(), &ini, &settings(), &templates()));
        assert!(
            files
                .files
                .iter()
                .any(|f| f.path == Path::new("startup/protocol_file.proto") && f.mode == 0o444)
        );
    }

    #[test]
    fn plan_lists_every_problem() {
        let dir = ioc_dir(&[("ramper.db", "x")]);
        let mut ini = demo_ini(
            "autosave, epics-magic, caputlog, devIocStats",
            "\nramper.db, name=x, 1bad=2, name=y\nmissing.db\nramper.db, P=, Q\n../ramper.db, A=1",
        );
        ini.set(config::IOC, "bin", "");
        ini.set(
            config::SETTING,
            "epics_env",
            "\nGOOD=1\nno equals sign\n9BAD=x\nQUOTE=say \"hi\"",
        );
        ini.set(config::SETTING, "report_info", "yes");
        ini.set(
            config::RAW,
            "file_copy",
            "\nsrc/ramper.db\nelsewhere/x.db:startup/x.db\nsrc/ramper.db:startup/x.db:rq\nsrc/none.db:startup/none.db",
        );
        insta::assert_snapshot!(
            problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
            @r#"
        option "module" in section "IOC" invalid. "epics-magic": not a module (known: autosave, caputlog, status-ioc, status-os).
        option "module" in section "IOC" invalid. "devIocStats": not a module (known: autosave, caputlog, status-ioc, status-os).
        option "load" in section "DB" invalid. in "ramper.db, name=x, 1bad=2, name=y". invalid macro definition "1bad=2": a macro name is letters, digits and "_", not starting with a digit.
        option "load" in section "DB" invalid. in "ramper.db, name=x, 1bad=2, name=y". invalid macro definition "name=y": the macro is already defined on this line.
        option "load" in section "DB" invalid. in "ramper.db, P=, Q". invalid macro definition "P=": the value is empty.
        option "load" in section "DB" invalid. in "ramper.db, P=, Q". invalid macro definition "Q": expected NAME=value.
        option "load" in section "DB" invalid. in "../ramper.db, A=1". db file "../ramper.db" must be the name of a file in src/ (no folder, quote or backslash).
        option "report_info" in section "SETTING" invalid. "yes": expected true or false.
        option "epics_env" in section "SETTING" invalid. in "no equals sign". expected NAME=value, NAME of letters, digits and "_", value without double quotes.
        option "epics_env" in section "SETTING" invalid. in "9BAD=x". expected NAME=value, NAME of letters, digits and "_", value without double quotes.
        option "epics_env" in section "SETTING" invalid. in "QUOTE=say "hi"". expected NAME=value, NAME of letters, digits and "_", value without double quotes.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db". expected src/FILE:DEST[:MODE] or templates/FILE:DEST[:MODE], MODE of r, w, x.
        option "file_copy" in section "RAW" invalid. in "elsewhere/x.db:startup/x.db". source files can only be in "src/" or "templates/" directory.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/x.db:rq". mode "rq" must be made of r, w and x, each at most once, with r.
        option "bin" in section "IOC" not set. expected the name of the IOC executable in the image: letters, digits, "_" and "-", not starting with a digit or "-" (e.g. ST-IOC); it is needed to generate the startup files.
        option "load" in section "DB" invalid. db file "missing.db" not found.
        option "file_copy" in section "RAW" invalid. in "src/none.db:startup/none.db". source file "src/none.db" not found.
        "#
        );
    }

    #[test]
    fn plan_refuses_empty_load_and_bad_bin() {
        let dir = ioc_dir(&[]);
        let mut ini = demo_ini("", "");
        ini.set(config::IOC, "bin", "my ioc");
        insta::assert_snapshot!(
            problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
            @r#"
        option "bin" in section "IOC" invalid. "my ioc": expected the name of the IOC executable in the image: letters, digits, "_" and "-", not starting with a digit or "-" (e.g. ST-IOC).
        option "load" in section "DB" not set. expected lines FILE.db or FILE.db, MACRO=value, ... (FILE.db a file of src/); it is needed to generate the startup files.
        "#
        );
    }

    #[test]
    fn file_copy_cannot_leave_its_folders() {
        let dir = ioc_dir(&[("ramper.db", "x"), ("sub/inner.proto", "p")]);
        fs::write(dir.path().join("ioc.ini"), "[IOC]\n").expect("write");
        let outside = tempfile::tempdir().expect("temp dir");
        fs::write(outside.path().join("secret"), "s").expect("write");
        symlink(
            outside.path().join("secret"),
            dir.path().join("src/link.proto"),
        )
        .expect("symlink");
        let mut ini = demo_ini("", "ramper.db");
        ini.set(
            config::RAW,
            "file_copy",
            "\nsrc/ramper.db:../escape.db\nsrc/ramper.db:/etc/escape.db\nsrc/ramper.db:startup/../../escape.db\nsrc/ramper.db:./startup/x.db\nsrc/../ioc.ini:startup/ioc.ini\ntemplates/../settings.yaml:startup/s.yaml\n/etc/passwd:startup/passwd\nsrc/link.proto:startup/link.proto\nsrc/sub/inner.proto:startup/inner.proto",
        );
        insta::assert_snapshot!(
            problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
            @r#"
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:../escape.db". destination "../escape.db" must be a path inside project/ (no leading "/", no "." or "..").
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:/etc/escape.db". destination "/etc/escape.db" must be a path inside project/ (no leading "/", no "." or "..").
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/../../escape.db". destination "startup/../../escape.db" must be a path inside project/ (no leading "/", no "." or "..").
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:./startup/x.db". destination "./startup/x.db" must be a path inside project/ (no leading "/", no "." or "..").
        option "file_copy" in section "RAW" invalid. in "src/../ioc.ini:startup/ioc.ini". source "src/../ioc.ini" must be a path inside src/ (no "." or "..").
        option "file_copy" in section "RAW" invalid. in "templates/../settings.yaml:startup/s.yaml". source "templates/../settings.yaml" must be a path inside templates/ (no "." or "..").
        option "file_copy" in section "RAW" invalid. in "/etc/passwd:startup/passwd". source files can only be in "src/" or "templates/" directory.
        option "file_copy" in section "RAW" invalid. in "src/link.proto:startup/link.proto". source file "src/link.proto" is a symbolic link; links in src/ are not read (copy the file itself into src/).
        "#
        );
    }

    #[test]
    fn load_cannot_name_files_outside_src() {
        let dir = ioc_dir(&[("ramper.db", "x"), ("sub/x.db", "y")]);
        fs::write(dir.path().join("outside.db"), "o").expect("write");
        symlink(
            dir.path().join("outside.db"),
            dir.path().join("src/link.db"),
        )
        .expect("symlink");
        // Even a link to a file inside src/ is not read: it could be swapped.
        symlink("ramper.db", dir.path().join("src/inner.db")).expect("symlink");
        let ini = demo_ini(
            "",
            "\n../outside.db\n/etc/passwd\nsub/x.db\nlink.db\ninner.db\n.\nsrc",
        );
        fs::create_dir_all(dir.path().join("src/src")).expect("folder");
        insta::assert_snapshot!(
            problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
            @r#"
        option "load" in section "DB" invalid. in "../outside.db". db file "../outside.db" must be the name of a file in src/ (no folder, quote or backslash).
        option "load" in section "DB" invalid. in "/etc/passwd". db file "/etc/passwd" must be the name of a file in src/ (no folder, quote or backslash).
        option "load" in section "DB" invalid. in "sub/x.db". db file "sub/x.db" must be the name of a file in src/ (no folder, quote or backslash).
        option "load" in section "DB" invalid. in ".". db file "." must be the name of a file in src/ (no folder, quote or backslash).
        option "load" in section "DB" invalid. db file "link.db" is a symbolic link; links in src/ are not read (copy the file itself into src/).
        option "load" in section "DB" invalid. db file "inner.db" is a symbolic link; links in src/ are not read (copy the file itself into src/).
        option "load" in section "DB" invalid. db file "src" not found.
        "#
        );
    }

    #[test]
    fn files_that_would_overwrite_each_other_are_refused() {
        let dir = ioc_dir(&[("status_ioc.db", "mine"), ("ramper.db", "x")]);
        let mut ini = demo_ini(
            "autosave, status-ioc",
            "\nstatus_ioc.db\nramper.db, name=a\nramper.db, name=b",
        );
        ini.set(
            config::RAW,
            "file_copy",
            "\nsrc/ramper.db:startup/iocBoot/st.cmd\nsrc/ramper.db:startup/db\nsrc/ramper.db:settings/autosave\nsrc/ramper.db:logs\nsrc/ramper.db:startup/extra.db:rw\nsrc/ramper.db:startup/extra.db:rx",
        );
        insta::assert_snapshot!(
            problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
            @r#"
        option "load" in section "DB" invalid. in "status_ioc.db". "startup/db/status_ioc.db" is also written by the status-ioc module.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/iocBoot/st.cmd". "startup/iocBoot/st.cmd" is also written by the generated st.cmd.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/db". "startup/db" must be a folder (it holds "startup/db/demo.substitutions" of the generated substitutions file).
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:settings/autosave". "settings/autosave" must be a folder (the autosave folder "settings/autosave" is there).
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:logs". "logs" is a folder of the project and cannot be a file.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/extra.db:rx". "startup/extra.db" is also written by the file_copy entry "src/ramper.db:startup/extra.db:rw".
        "#
        );
    }

    #[test]
    fn file_copy_modes_and_destinations_outside_startup() {
        let dir = ioc_dir(&[("ramper.db", "x"), ("run.sh", "#!/bin/sh\n")]);
        let mut ini = demo_ini("autosave", "\nramper.db, name=a\nramper.db, name=b");
        ini.set(
            config::RAW,
            "file_copy",
            "\nsrc/run.sh:startup/run.sh:rwx\nsrc/run.sh:startup/run2.sh:xr\nsrc/ramper.db:settings/autosave/extra.req:wr\nsrc/ramper.db:startup/copy.db\ntemplates/db/asynRecord.db:startup/db/asynRecord.db:r",
        );
        let files = planned(plan("demo", dir.path(), &ini, &settings(), &templates()));
        insta::assert_snapshot!(listing(&files), @"
        555 startup/iocBoot/st.cmd
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        755 startup/run.sh
        555 startup/run2.sh
        644 settings/autosave/extra.req
        444 startup/copy.db
        444 startup/db/asynRecord.db
        dir settings/autosave
        dir logs/autosave
        ");
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Every file and folder under `dir`, relative, sorted. Modes are shown for files
    /// and for the folders of startup/, which `write` sets; other folders get the umask.
    fn tree(dir: &Path) -> String {
        let mut entries: Vec<(String, String)> = walkdir::WalkDir::new(dir)
            .min_depth(1)
            .into_iter()
            .map(|e| {
                let e = e.expect("walk");
                let relative = e
                    .path()
                    .strip_prefix(dir)
                    .expect("inside")
                    .display()
                    .to_string();
                let shown = if !e.file_type().is_dir() {
                    format!("{:o} {relative}", mode_of(e.path()))
                } else if relative.starts_with(STARTUP_DIR) {
                    format!("{:o} {relative}/", mode_of(e.path()))
                } else {
                    format!("    {relative}/")
                };
                (relative, shown)
            })
            .collect();
        entries.sort();
        entries
            .into_iter()
            .map(|(_, shown)| shown)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn write_makes_a_complete_tree_and_replaces_an_older_one() {
        let dir = ioc_dir(&[("ramper.db", "record(ai, \"$(name)\") {}\n")]);
        let project = dir.path().join("project");
        let old_ini = demo_ini(
            "autosave, caputlog, status-ioc, status-os",
            "ramper.db, name=a",
        );
        let old = planned(plan(
            "demo",
            dir.path(),
            &old_ini,
            &settings(),
            &templates(),
        ));
        write(&project, &old).expect("first write");
        // Run-time data in the autosave folders must survive regeneration.
        fs::write(project.join("settings/autosave/demo.req"), "kept").expect("write");
        fs::write(project.join("logs/autosave/demo.sav"), "kept").expect("write");
        insta::assert_snapshot!(tree(&project), @"
            logs/
            logs/autosave/
        644 logs/autosave/demo.sav
            settings/
            settings/autosave/
        644 settings/autosave/demo.req
        755 startup/
        755 startup/db/
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        444 startup/db/status_OS.db
        444 startup/db/status_ioc.db
        444 startup/demo.acf
        755 startup/iocBoot/
        555 startup/iocBoot/st.cmd
        ");

        let mut new_ini = demo_ini("status-ioc", "ramper.db, name=b");
        new_ini.set(
            config::RAW,
            "file_copy",
            "src/ramper.db:settings/extra.db:rw",
        );
        let new = planned(plan(
            "demo",
            dir.path(),
            &new_ini,
            &settings(),
            &templates(),
        ));
        write(&project, &new).expect("second write");
        insta::assert_snapshot!(tree(&project), @"
            logs/
            logs/autosave/
        644 logs/autosave/demo.sav
            settings/
            settings/autosave/
        644 settings/autosave/demo.req
        644 settings/extra.db
        755 startup/
        755 startup/db/
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        444 startup/db/status_ioc.db
        755 startup/iocBoot/
        555 startup/iocBoot/st.cmd
        ");
        for file in &new.files {
            assert_eq!(
                fs::read(project.join(&file.path)).expect("written"),
                file.contents,
                "{}",
                file.path.display()
            );
        }
        assert_eq!(
            fs::read_to_string(project.join("settings/autosave/demo.req")).expect("kept"),
            "kept"
        );
    }

    #[test]
    fn write_removes_leftovers_of_an_interrupted_run() {
        let dir = ioc_dir(&[("ramper.db", "x")]);
        let project = dir.path().join("project");
        let files = planned(plan(
            "demo",
            dir.path(),
            &demo_ini("", "ramper.db"),
            &settings(),
            &templates(),
        ));
        // What a kill between building and swapping leaves: a hidden staging tree with
        // read-only files and folders.
        let stale = project.join(format!("{NEW_PREFIX}killed"));
        fs::create_dir_all(stale.join("db")).expect("stale");
        fs::write(stale.join("db/x.db"), "x").expect("stale file");
        fs::set_permissions(stale.join("db/x.db"), fs::Permissions::from_mode(0o444))
            .expect("chmod");
        fs::set_permissions(stale.join("db"), fs::Permissions::from_mode(0o555)).expect("chmod");
        fs::create_dir_all(project.join(format!("{OLD_PREFIX}killed/iocBoot"))).expect("stale");
        write(&project, &files).expect("write");
        insta::assert_snapshot!(tree(&project), @"
        755 startup/
        755 startup/db/
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        755 startup/iocBoot/
        555 startup/iocBoot/st.cmd
        ");
    }

    #[test]
    fn the_swap_without_exchange_replaces_the_tree_too() {
        let project = tempfile::tempdir().expect("temp dir");
        let target = project.path().join(STARTUP_DIR);
        let staged = project.path().join(format!("{NEW_PREFIX}test"));
        fs::create_dir_all(target.join("db")).expect("old");
        fs::write(target.join("db/old.db"), "old").expect("old file");
        fs::create_dir_all(staged.join("iocBoot")).expect("new");
        fs::write(staged.join("iocBoot/st.cmd"), "new").expect("new file");
        let aside = swap_by_renames(&staged, &target, project.path()).expect("swap");
        assert!(aside.join("db/old.db").is_file());
        assert!(!staged.exists());
        assert_eq!(
            fs::read_to_string(target.join("iocBoot/st.cmd")).expect("new"),
            "new"
        );
        assert!(!target.join("db").exists());
    }

    #[test]
    fn a_failed_write_keeps_the_old_startup() {
        let dir = ioc_dir(&[("ramper.db", "x")]);
        let project = dir.path().join("project");
        let files = planned(plan(
            "demo",
            dir.path(),
            &demo_ini("", "ramper.db"),
            &settings(),
            &templates(),
        ));
        write(&project, &files).expect("first write");
        let before = tree(&project);
        // A tree that cannot be built (a file where a folder must be) stops the write
        // before the swap.
        let mut broken = files.clone();
        broken.files.push(GeneratedFile {
            path: PathBuf::from("startup/iocBoot/st.cmd/inside"),
            contents: b"x".to_vec(),
            mode: 0o444,
        });
        assert!(write(&project, &broken).is_err());
        assert_eq!(tree(&project), before);
        // So does a file outside startup/ that cannot be written.
        fs::write(project.join("blocker"), "x").expect("write");
        let before = tree(&project);
        let mut broken = files.clone();
        broken.files.push(GeneratedFile {
            path: PathBuf::from("blocker/inside"),
            contents: b"x".to_vec(),
            mode: 0o444,
        });
        assert!(write(&project, &broken).is_err());
        assert_eq!(tree(&project), before);
    }
}
