//! The exec workflow of one IOC with its state transitions (SPEC §5, §6):
//! startup generation, export to the run directory and the swarm service file.

use std::fs;
use std::path::PathBuf;

use crate::compose::ioc_service;
use crate::fsutil::{self, FsError, IoContext};
use crate::ioc::config;
use crate::ioc::repository::{
    INI_FILE, PROJECT_DIR, Repository, RepositoryError, SERVICE_FILE, now_stamp,
};
use crate::ioc::startup::{self, Problem, StartupFiles};
use crate::ioc::state::{Health, Status};
use crate::settings::Settings;
use crate::templates::Templates;

/// The exported ioc.ini documents what runs; nobody edits it in place.
const EXPORTED_INI_MODE: u32 = 0o444;
const SERVICE_FILE_MODE: u32 = 0o444;
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
    #[error(transparent)]
    Compose(#[from] crate::compose::ComposeError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exported {
    pub(crate) target: PathBuf,
    /// Whether settings/ and logs/ were (re)placed as well.
    pub(crate) with_running_data: bool,
}

/// Copies ioc.ini and the startup files to `$MOUNT_PATH/<host>/<name>`. Running data
/// (settings/, logs/) is copied only the first time or when `force` says so, so a
/// re-export never wipes autosave files or logs of a running IOC.
pub(crate) fn export(
    repository: &Repository,
    name: &str,
    force: bool,
) -> Result<Exported, WorkflowError> {
    let (ini, ini_bytes) = repository.read_ini_and_bytes(name)?;
    let (mut state, _) = repository.read_state(name)?;
    let ready = state.health == Health::Normal
        && matches!(state.status, Status::Generated | Status::Exported);
    if !ready {
        return Err(WorkflowError::NotReadyForExport {
            name: name.to_string(),
            health: state.health,
            status: state.status,
        });
    }
    let target = repository.export_dir(config::host(&ini), name);
    let project = repository.dir(name).join(PROJECT_DIR);
    let first_time = !target.join(INI_FILE).is_file();
    let with_running_data = first_time || force;
    fs::create_dir_all(&target).at(&target, "cannot create folder")?;

    let startup = project.join("startup");
    if !fsutil::is_current_copy(&startup, &target.join("startup")) {
        fsutil::replace_dir::<FsError>(&target.join("startup"), |staged| {
            fsutil::copy_tree(&startup, staged)
        })?;
    }
    if with_running_data {
        for folder in RUNNING_DATA {
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
    })
}

/// Writes `$MOUNT_PATH/swarm/<name>/compose-swarm.yaml` from the exported ioc.ini
/// (what runs, not what is being edited) and makes sure the shared iocLog folder
/// the service mounts exists.
pub(crate) fn write_service_file(
    repository: &Repository,
    settings: &Settings,
    name: &str,
) -> Result<PathBuf, WorkflowError> {
    let ioc = repository.load(name);
    let host = ioc.host().to_string();
    if host != "swarm" {
        return Err(WorkflowError::NotASwarmIoc {
            name: name.to_string(),
            host,
        });
    }
    let exported_ini = repository.export_dir(&host, name).join(INI_FILE);
    if !exported_ini.is_file() {
        return Err(WorkflowError::NotExported {
            name: name.to_string(),
            path: exported_ini,
        });
    }
    let doc = crate::ioc::repository::read_ini_file(&exported_ini)?;
    let yaml = ioc_service::render(name, &doc, settings)?;
    let dir = repository.swarm_dir(name);
    fs::create_dir_all(&dir).at(&dir, "cannot create folder")?;
    let log_dir = settings.paths.mount.join("swarm").join("iocLog");
    fs::create_dir_all(&log_dir).at(&log_dir, "cannot create folder")?;
    let path = dir.join(SERVICE_FILE);
    fsutil::write_if_changed(&path, yaml.as_bytes(), SERVICE_FILE_MODE)?;
    Ok(path)
}

/// IOCs `exec alliocs --gen-swarm-file` covers: every exported IOC of host swarm.
pub(crate) fn exported_swarm_iocs(repository: &Repository) -> Result<Vec<String>, FsError> {
    Ok(repository
        .names()?
        .into_iter()
        .filter(|name| {
            let ioc = repository.load(name);
            ioc.ini.is_some()
                && ioc.host() == "swarm"
                && repository
                    .export_dir("swarm", name)
                    .join(INI_FILE)
                    .is_file()
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
    let planned = startup::plan(name, &repository.dir(name), &ini, settings, templates);
    if dry_run {
        return Ok(match planned {
            Ok(files) => Generation::Planned(files),
            Err(problems) => Generation::Invalid(problems),
        });
    }
    state.clear_warnings();
    let outcome = match planned {
        Ok(files) => {
            let changed = startup::write(&repository.dir(name).join(PROJECT_DIR), &files)?;
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
