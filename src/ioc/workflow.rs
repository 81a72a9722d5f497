//! The exec workflow of one IOC with its state transitions (SPEC §5, §6):
//! startup generation, export to the run directory and the swarm service file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::embedded::Templates;
use crate::fsutil::{self, FsError, IoContext};
use crate::ini::IniDocument;
use crate::ioc::config::{self, InvalidHost, SWARM_HOST};
use crate::ioc::health::{self, HealthError};
use crate::ioc::repository::{
    INI_FILE, PROJECT_DIR, Repository, RepositoryError, SERVICE_FILE, now_stamp,
};
use crate::ioc::reserved::{ReservedName, ReservedNames};
use crate::ioc::service_file;
use crate::ioc::startup::{self, Problem, StartupFiles};
use crate::ioc::state::{Health, Status};
use crate::schema::ioc_ini::{self, Stage, Violation};
use crate::schema::names::{self, UndeployableName};
use crate::schema::settings::{self as schema_settings, BadSetting};
use crate::settings::Settings;

/// The exported ioc.ini documents what runs; nobody edits it in place.
const EXPORTED_INI_MODE: u32 = 0o444;
/// Service files say what runs as root on every node: only root reads them.
const SERVICE_FILE_MODE: u32 = 0o400;
const SERVICE_DIR_MODE: u32 = 0o700;
/// Run-time folders the exported copy gets the first time (and with --force-overwrite).
const RUNNING_DATA: [&str; 2] = ["settings", "logs"];

#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkflowError {
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "IOC \"{name}\" cannot be exported: state is {health} and status {status} (expected state normal and status generated or exported; run --gen-startup-file first)"
    )]
    NotReadyForExport {
        name: String,
        health: Health,
        status: Status,
    },
    #[error("IOC \"{name}\" is not exported (no {path}); run --export-for-mount first")]
    NotExported { name: String, path: PathBuf },
    #[error(
        "IOC \"{name}\" runs on host \"{host}\": swarm service files are made for IOCs with host swarm"
    )]
    NotASwarmIoc { name: String, host: String },
    #[error(
        "IOC \"{name}\" has no startup files made under its name (status created); run iocdock exec {name} --deploy first"
    )]
    NotGenerated { name: String },
    #[error(transparent)]
    Compose(#[from] crate::compose::ComposeError),
    #[error(transparent)]
    Health(#[from] HealthError),
    #[error("{0}; rename the IOC first (iocdock rename {name} NEW_NAME)", name = .0.name)]
    Reserved(ReservedName),
    #[error("{0}; fix it first (iocdock set {ioc} -o host=swarm or a host name)", ioc = .0.ioc)]
    Host(InvalidHost),
    #[error("{0}; rename the IOC first (iocdock rename {name} {new})", name = .0.name, new = .0.new_name())]
    Undeployable(UndeployableName),
    #[error(transparent)]
    Setting(#[from] BadSetting),
    /// Options of ioc.ini that break the schema, one line each.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Violation>),
    #[error(
        "IOC \"{name}\": {} differs from what {} renders (diff above); nothing was deployed for it (run iocdock exec {name} --gen-swarm-file, or --deploy)",
        file.display(),
        ini.display()
    )]
    Drift {
        name: String,
        file: PathBuf,
        ini: PathBuf,
        diff: String,
    },
}

// By hand rather than `#[from]`: these messages already show the wrapped error, which
// as a `source()` too would be printed twice in an error chain.
impl From<ReservedName> for WorkflowError {
    fn from(error: ReservedName) -> Self {
        WorkflowError::Reserved(error)
    }
}

impl From<InvalidHost> for WorkflowError {
    fn from(error: InvalidHost) -> Self {
        WorkflowError::Host(error)
    }
}

impl From<UndeployableName> for WorkflowError {
    fn from(error: UndeployableName) -> Self {
        WorkflowError::Undeployable(error)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exported {
    pub(crate) target: PathBuf,
    /// Whether settings/ and logs/ were (re)placed as well.
    pub(crate) with_running_data: bool,
    /// The run folder of the old layout that was moved to `target` first.
    pub(crate) migrated_from: Option<PathBuf>,
}

/// The host of an IOC that may run: a name that is not reserved (and, in the swarm,
/// that swarm takes as a service name), a host that is `swarm` or a host name, and an
/// ioc.ini the schema accepts for export (an image, every option valid, the host one
/// of the nodes). Every command that makes a path of them or deploys them asks this.
pub(crate) fn runnable_host<'a>(
    reserved: &ReservedNames,
    settings: &Settings,
    name: &str,
    ini: &'a IniDocument,
) -> Result<&'a str, WorkflowError> {
    reserved.check(name)?;
    let host = config::checked_host(name, ini)?;
    if host == SWARM_HOST {
        schema_settings::ensure(settings, &["prefix_stack_name"])?;
        names::check_ioc_name(&settings.prefix_stack_name, name)?;
    }
    let report = ioc_ini::check(ini, &ioc_ini::Context::new(name, settings), Stage::Export);
    if !report.errors.is_empty() {
        return Err(WorkflowError::Invalid(report.errors));
    }
    Ok(host)
}

/// The IOC's state when it may be exported: state normal, status generated or
/// exported (a rollback asks before it changes any file).
pub(crate) fn ready_for_export(
    repository: &Repository,
    name: &str,
) -> Result<crate::ioc::state::IocState, WorkflowError> {
    let (state, _) = repository.read_state(name)?;
    let ready = state.health == Health::Normal
        && matches!(state.status, Status::Generated | Status::Exported);
    if !ready {
        return Err(WorkflowError::NotReadyForExport {
            name: name.to_string(),
            health: state.health,
            status: state.status,
        });
    }
    Ok(state)
}

/// Copies ioc.ini and the startup files to the IOC's run folder (`$MOUNT_PATH/swarm/
/// iocs/<name>`, or `$MOUNT_PATH/<host>/<name>`). Running data (settings/, logs/) is
/// copied only the first time or when `force` says so, so a re-export never wipes
/// autosave files or logs of a running IOC. A swarm IOC still exported where older
/// versions put it (`$MOUNT_PATH/swarm/<name>`) is moved to the new place first,
/// running data and all.
pub(crate) fn export(
    repository: &Repository,
    settings: &Settings,
    reserved: &ReservedNames,
    name: &str,
    force: bool,
) -> Result<Exported, WorkflowError> {
    let (ini, ini_bytes) = repository.read_ini_and_bytes(name)?;
    let mut state = ready_for_export(repository, name)?;
    let host = runnable_host(reserved, settings, name, &ini)?;
    let target = repository.run_dir_checked(host, name)?;
    let migrated_from = if host == SWARM_HOST {
        migrate(repository, reserved, name, &target)?
    } else {
        None
    };
    let project = repository.dir_checked(name)?.join(PROJECT_DIR);
    let first_time = !target.join(INI_FILE).is_file();
    let with_running_data = first_time || force;
    fs::create_dir_all(&target).at(&target, "cannot create folder")?;

    let startup = project.join("startup");
    if !fsutil::is_current_copy(&startup, &target.join("startup")) {
        fsutil::replace_dir::<FsError>(&target.join("startup"), |staged| {
            fsutil::copy_tree(&startup, staged)
        })?;
    }
    for folder in RUNNING_DATA {
        // The service binds each of them: one that is missing would stop its task.
        if with_running_data || fs::symlink_metadata(target.join(folder)).is_err() {
            fsutil::replace_dir::<FsError>(&target.join(folder), |staged| {
                let from = project.join(folder);
                if from.is_dir() {
                    fsutil::copy_tree(&from, staged)?;
                }
                Ok(())
            })?;
        }
    }
    // ioc.ini last: its presence is what marks a complete export. When the rendered
    // file is the repository's byte for byte it is a copy, and keeps its time.
    let rendered = ini.render();
    let modified = (ini_bytes == rendered.as_bytes())
        .then(|| {
            fs::metadata(repository.ini_path(name))
                .and_then(|m| m.modified())
                .ok()
        })
        .flatten();
    fsutil::write_if_changed_timed(
        &target.join(INI_FILE),
        rendered.as_bytes(),
        EXPORTED_INI_MODE,
        modified,
    )?;

    state.status = Status::Exported;
    state.is_exported = true;
    repository.write_state(name, &state)?;
    Ok(Exported {
        target,
        with_running_data,
        migrated_from,
    })
}

/// Moves the run folder of the old layout to `target` when `target` does not exist
/// yet, and drops the service file it held (service files live elsewhere now).
fn migrate(
    repository: &Repository,
    reserved: &ReservedNames,
    name: &str,
    target: &Path,
) -> Result<Option<PathBuf>, WorkflowError> {
    if fs::symlink_metadata(target).is_ok() {
        return Ok(None);
    }
    let Some(old) = repository.legacy_run_dir(name, reserved) else {
        return Ok(None);
    };
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).at(parent, "cannot create folder")?;
    }
    fs::rename(&old, target).at(&old, "cannot move to the new run folder")?;
    let stale = target.join(SERVICE_FILE);
    match fs::remove_file(&stale) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(FsError {
                path: stale,
                action: "cannot remove the service file of the old layout",
                cause: e,
            }
            .into());
        }
        _ => {}
    }
    Ok(Some(old))
}

/// The service file of an IOC as it is to be: its path and its text, rendered from
/// the repository's ioc.ini (the exported copy lives where containers write).
fn rendered_service_file(
    repository: &Repository,
    settings: &Settings,
    reserved: &ReservedNames,
    name: &str,
) -> Result<(PathBuf, String), WorkflowError> {
    let ini = repository.read_ini(name)?;
    let host = runnable_host(reserved, settings, name, &ini)?;
    schema_settings::ensure(settings, schema_settings::IOC_SERVICE)?;
    if host != SWARM_HOST {
        return Err(WorkflowError::NotASwarmIoc {
            name: name.to_string(),
            host: host.to_string(),
        });
    }
    let run = repository.run_dir(host, name)?;
    let exported_ini = run.join(INI_FILE);
    if !exported_ini.is_file() {
        return Err(WorkflowError::NotExported {
            name: name.to_string(),
            path: exported_ini,
        });
    }
    // No startup files of its own (a rename that could not regenerate them leaves
    // this status): what the run folder holds would start under another name.
    if let Ok((state, _)) = repository.read_state(name)
        && state.status == Status::Created
    {
        return Err(WorkflowError::NotGenerated {
            name: name.to_string(),
        });
    }
    let log = repository.ioc_log_dir_checked()?;
    let health_pv = health::checked_pv(name, &ini, &repository.dir(name))?;
    let yaml = service_file::render(name, &ini, settings, &run, &log, health_pv.as_deref())?;
    Ok((repository.service_file(name), yaml))
}

/// Writes `$SERVICE_FILE_PATH/<name>/compose-swarm.yaml` (root-only) and makes sure
/// the shared iocLog folder the service mounts exists.
pub(crate) fn write_service_file(
    repository: &Repository,
    settings: &Settings,
    reserved: &ReservedNames,
    name: &str,
) -> Result<PathBuf, WorkflowError> {
    let (path, yaml) = rendered_service_file(repository, settings, reserved, name)?;
    let log = repository.ioc_log_dir_checked()?;
    fs::create_dir_all(&log).at(&log, "cannot create folder")?;
    let dir = repository.service_file_dir_checked(name)?;
    if let Some(parent) = dir.parent() {
        fsutil::private_dir(parent, SERVICE_DIR_MODE)?;
    }
    fsutil::private_dir(&dir, SERVICE_DIR_MODE)?;
    fsutil::write_if_changed(&path, yaml.as_bytes(), SERVICE_FILE_MODE)?;
    Ok(path)
}

/// Before a deploy: the service file on disk must be exactly what the repository's
/// ioc.ini renders now, so nothing but iocdock decides what an IOC service mounts.
pub(crate) fn verify_service_file(
    repository: &Repository,
    settings: &Settings,
    reserved: &ReservedNames,
    name: &str,
) -> Result<(), WorkflowError> {
    let (path, yaml) = rendered_service_file(repository, settings, reserved, name)?;
    let on_disk = fs::read(&path).at(&path, "cannot read")?;
    if on_disk == yaml.as_bytes() {
        return Ok(());
    }
    let on_disk = String::from_utf8_lossy(&on_disk);
    let diff = similar::TextDiff::from_lines(on_disk.as_ref(), yaml.as_str())
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{} (on disk)", path.display()),
            &format!("{} (rendered)", path.display()),
        )
        .to_string();
    Err(WorkflowError::Drift {
        name: name.to_string(),
        ini: repository.ini_path(name),
        file: path,
        diff,
    })
}

/// IOCs `exec alliocs --gen-swarm-file` covers: every exported IOC of host swarm.
pub(crate) fn exported_swarm_iocs(repository: &Repository) -> Result<Vec<String>, FsError> {
    Ok(repository
        .names()?
        .into_iter()
        .filter(|name| {
            let ioc = repository.load(name);
            ioc.ini.is_some()
                && ioc.host() == SWARM_HOST
                && repository
                    .run_dir(SWARM_HOST, name)
                    .is_ok_and(|dir| dir.join(INI_FILE).is_file())
        })
        .collect())
}

/// Result of `--gen-startup-file` for one IOC.
#[derive(Debug, Clone)]
pub(crate) enum Generation {
    Written(StartupFiles),
    /// `--dry-run`: what would have been written.
    Planned(StartupFiles),
    /// Validation failed; every problem is listed and recorded in the state.
    Invalid(Vec<Problem>),
}

/// Validates the IOC and generates `project/startup`. Problems become `warning`
/// reasons in the state (replacing those of an earlier run); success clears them
/// and sets status `generated`. A dry run writes nothing at all.
pub(crate) fn generate(
    repository: &Repository,
    settings: &Settings,
    templates: &Templates,
    name: &str,
    dry_run: bool,
) -> Result<Generation, WorkflowError> {
    let ini = repository.read_ini(name)?;
    let (mut state, _) = repository.read_state(name)?;
    let dir = repository.dir_checked(name)?;
    let planned = startup::plan(name, &dir, &ini, settings, templates);
    if dry_run {
        return Ok(match planned {
            Ok(files) => Generation::Planned(files),
            Err(problems) => Generation::Invalid(problems),
        });
    }
    state.clear_warnings();
    let outcome = match planned {
        Ok(files) => {
            let changed = startup::write(&dir.join(PROJECT_DIR), &files)?;
            // Unchanged startup files keep an export current; only new ones need one.
            if changed || !matches!(state.status, Status::Generated | Status::Exported) {
                state.status = Status::Generated;
            }
            Generation::Written(files)
        }
        Err(problems) => {
            let now = now_stamp();
            for problem in &problems {
                state.add_warning(&problem.reason, &problem.message, &now);
            }
            Generation::Invalid(problems)
        }
    };
    repository.write_state(name, &state)?;
    Ok(outcome)
}

/// What following a rename did to the startup files and the export.
#[derive(Debug)]
pub(crate) enum Followed {
    /// The IOC never had startup files: nothing names it yet.
    NothingGenerated,
    /// Startup files made again under the new name, and exported again when the IOC
    /// was exported; `autosave` lists the autosave files renamed with it.
    Regenerated {
        exported: Option<Exported>,
        autosave: Vec<PathBuf>,
    },
    /// The files could not be made under the new name: status `created` now keeps
    /// the IOC from being exported or deployed until they are.
    Blocked { reason: String },
}

/// Reason recorded in the state when a rename could not remake the startup files.
pub(crate) const RENAMED_REASON: &str = "startup files not made under the new name.";

/// After `Repository::rename` from `old` to `new`: st.cmd, the acf and the autosave
/// file names carry the IOC's name, so the startup files are generated again under
/// the new one, and exported again when the IOC was exported (settings/ and logs/
/// stay, their autosave files renamed so a restart restores them). When that fails
/// (validation, a file system error) the IOC gets status `created` with the reason,
/// which export and deploy refuse until `exec --deploy` makes new files.
pub(crate) fn follow_rename(
    repository: &Repository,
    settings: &Settings,
    templates: &Templates,
    reserved: &ReservedNames,
    old: &str,
    new: &str,
) -> Result<Followed, WorkflowError> {
    let (state, _) = repository.read_state(new)?;
    let project = repository.dir_checked(new)?.join(PROJECT_DIR);
    let had_startup = project.join("startup").exists()
        || matches!(state.status, Status::Generated | Status::Exported);
    if !had_startup {
        return Ok(Followed::NothingGenerated);
    }
    let outcome = regenerate_renamed(repository, settings, templates, reserved, old, new);
    match outcome {
        Ok(Ok((exported, autosave))) => Ok(Followed::Regenerated { exported, autosave }),
        Ok(Err(problems)) => {
            let list: Vec<String> = problems
                .iter()
                .map(|p| format!("{} {}", p.reason, p.message))
                .collect();
            block(repository, new, &list.join("; "))
        }
        Err(e) => block(repository, new, &e.to_string()),
    }
}

type Regenerated = (Option<Exported>, Vec<PathBuf>);

fn regenerate_renamed(
    repository: &Repository,
    settings: &Settings,
    templates: &Templates,
    reserved: &ReservedNames,
    old: &str,
    new: &str,
) -> Result<Result<Regenerated, Vec<Problem>>, WorkflowError> {
    let ini = repository.read_ini(new)?;
    let from = format!("{old}-automake-pass");
    let to = format!("{new}-automake-pass");
    let mut folders = vec![repository.dir_checked(new)?.join(PROJECT_DIR)];
    let run = match config::checked_host(new, &ini) {
        Ok(host) => Some(repository.run_dir_checked(host, new)?),
        Err(_) => None,
    };
    let exported = run.as_ref().is_some_and(|dir| dir.join(INI_FILE).is_file());
    if let (Some(dir), true) = (&run, exported) {
        folders.push(dir.clone());
    }
    let mut autosave = Vec::new();
    for base in &folders {
        for running in RUNNING_DATA {
            let renamed =
                fsutil::nofollow::rename_prefixed(base, &[running, "autosave"], &from, &to).at(
                    &base.join(running).join("autosave"),
                    "cannot rename autosave files",
                )?;
            autosave.extend(
                renamed
                    .into_iter()
                    .map(|file| base.join(running).join("autosave").join(file)),
            );
        }
    }
    match generate(repository, settings, templates, new, false)? {
        Generation::Written(_) | Generation::Planned(_) => {}
        Generation::Invalid(problems) => return Ok(Err(problems)),
    }
    let exported = if exported {
        Some(export(repository, settings, reserved, new, false)?)
    } else {
        None
    };
    Ok(Ok((exported, autosave)))
}

/// Status `created` with the reason, so export and deploy refuse the IOC; its service
/// file goes too (it would list the IOC as available), `exec --deploy` writes it again.
fn block(repository: &Repository, name: &str, cause: &str) -> Result<Followed, WorkflowError> {
    let service_file = repository
        .service_file_dir_checked(name)?
        .join(SERVICE_FILE);
    match fs::remove_file(&service_file) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(e)
                .at(&service_file, "cannot remove")
                .map_err(Into::into);
        }
        _ => {}
    }
    let (mut state, _) = repository.read_state(name)?;
    state.status = Status::Created;
    let reason =
        format!("{cause}; fix it, then run iocdock exec {name} --deploy (or --gen-startup-file)");
    state.add_warning(RENAMED_REASON, &reason, &now_stamp());
    repository.write_state(name, &state)?;
    Ok(Followed::Blocked {
        reason: cause.to_string(),
    })
}
