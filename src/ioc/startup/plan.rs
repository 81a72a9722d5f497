//! Validation of an IOC's startup files and the list of files to write: every
//! problem at once, nothing written.

use std::io;
use std::path::{Path, PathBuf};

use super::render::{lines_of, modules, render_st_cmd, render_substitutions};
use super::{GeneratedFile, Problem, READ_ONLY, ST_CMD_MODE, STARTUP_DIR, StartupFiles};
use crate::embedded::Templates;
use crate::ini::IniDocument;
use crate::ioc::config::{self, Module};
use crate::ioc::repository::SRC_DIR;
use crate::schema::ioc_ini::{self as schema, Stage};
use crate::schema::values::{CopySource, parse_file_copy, parse_load_line};
use crate::settings::Settings;

fn invalid(option: &str, section: &str) -> String {
    format!("option \"{option}\" in section \"{section}\" invalid.")
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
