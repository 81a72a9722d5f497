//! Swarm state backups (SPEC §6 `swarm -b/--backup-swarm`, `-r/--restore-swarm`, §8).
//!
//! Decisions:
//! - An archive holds `docker_swarm_dir` under its own path without the leading `/`
//!   (`var/lib/docker/swarm/raft/…`), as the original tool's
//!   `tar -czvf <stamp>.swarm.tar.gz /var/lib/docker/swarm` wrote it, so archives move
//!   between the two tools. Restore finds the swarm folder in an archive by its
//!   layout (`raft/` and `certificates/` side by side), whatever path it was
//!   archived under, and puts it at this node's `docker_swarm_dir`.
//! - Raft files copied from a running manager may be torn, so the engine is stopped
//!   (settings `docker_stop_command`) before anything is read or replaced. Once the
//!   stop command has run, the start command runs too, whatever failed in between.
//! - After the stop the engine is not probed: with systemd's socket activation an API
//!   call would start it again.
//! - Backup names follow IOC backups: `<YYYYmmddHHMMSS>.swarm.tar.gz`, the next free
//!   second when one is taken, written to a temporary file and renamed without ever
//!   replacing an archive. The temporary file is created before the engine is
//!   stopped, so an unwritable backup folder costs no downtime.
//! - An archive is untrusted: it is read through once before anything happens
//!   (readable to the gzip trailer; relative paths without `..`; files, folders and
//!   links only; links that stay inside the swarm folder; the swarm layout with the
//!   node's certificate and key and its state file). It is streamed, not held in
//!   memory; more than [`CONTENT_LIMIT`] unpacked is refused so it cannot fill a disk.
//! - Restore unpacks into a hidden folder beside the swarm folder while the engine
//!   still runs, so the engine is down only for two renames and a failed unpack
//!   changes nothing. The current swarm folder becomes `<dir>.before-restore-<stamp>`
//!   and is never deleted; removing it is the operator's call.
//! - Restored files get the archived permission bits (without setuid, setgid and
//!   sticky) and belong to the user running iocdock: root on a manager, which is what
//!   dockerd expects.
//! - `swarm init --force-new-cluster` listens where the restored node listened
//!   (`docker-state.json`, else `0.0.0.0:2377`) and advertises the settings'
//!   `swarm_advertise_ip` when set (a restore onto another machine), else what the
//!   restored node advertised.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::models::{LocalNodeState, SwarmInitRequest};
use chrono::{DateTime, Local};

use crate::archive::{ArchiveError, STAMP_FORMAT};
use crate::fsutil::{FsError, IoContext};
use crate::process::{self, Exit};
use crate::swarm::engine::{Engine, SwarmError};

mod check;
mod unpack;
mod write;

pub(crate) use check::{CheckedArchive, RestoredNode, check_archive};
use unpack::unpack;
use write::write_archive;

pub(crate) const ARCHIVE_SUFFIX: &str = ".swarm.tar.gz";

/// Most bytes of unpacked tar stream a swarm archive may hold. A manager's raft log
/// is compacted into snapshots and stays far below this.
pub(crate) const CONTENT_LIMIT: u64 = 16 << 30;

/// How long a started engine may take to answer, and a restored node to become a
/// manager again.
const ENGINE_START_LIMIT: Duration = Duration::from_secs(60);
const MANAGER_LIMIT: Duration = Duration::from_secs(60);

/// Files whose content restore reads while checking (node addresses); more than
/// this is not a swarm state file.
const STATE_FILE_LIMIT: u64 = 1 << 20;

const RAFT_DIR: &str = "raft";
const CERTIFICATES_DIR: &str = "certificates";
const NODE_FILES: [&str; 2] = ["swarm-node.crt", "swarm-node.key"];
const DOCKER_STATE_FILE: &str = "docker-state.json";
const STATE_FILE: &str = "state.json";

/// Why an archive larger than [`CONTENT_LIMIT`] is refused.
const TOO_LARGE: &str = "larger archives are refused";

#[derive(Debug, thiserror::Error)]
pub(crate) enum SwarmBackupError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Engine(#[from] SwarmError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(
        "{}: not a swarm folder (expected raft/ and certificates/ in it); set docker_swarm_dir in settings.yaml to this manager's swarm folder",
        dir.display()
    )]
    NoSwarmDir { dir: PathBuf },
    #[error("{action} the Docker engine failed: `{command}` (settings key {key}) {outcome}")]
    EngineCommand {
        action: &'static str,
        key: &'static str,
        command: String,
        outcome: String,
    },
    #[error(
        "{}: cannot archive what is neither a file, a folder nor a symbolic link",
        path.display()
    )]
    Unarchivable { path: PathBuf },
    #[error("{}: not a swarm backup: {problem}", archive.display())]
    NotSwarm { archive: PathBuf, problem: String },
    #[error(
        "{}: the archive changed while it was being unpacked; nothing was replaced",
        archive.display()
    )]
    Changed { archive: PathBuf },
    #[error(
        "this node did not become a swarm manager within {seconds} s after swarm init --force-new-cluster (swarm state: {state})"
    )]
    NotManager { seconds: u64, state: String },
    #[error("{first}; then {then}")]
    Both {
        first: Box<SwarmBackupError>,
        then: Box<SwarmBackupError>,
    },
}

/// How this node's Docker engine is stopped and started, and where it keeps the
/// swarm state (settings `docker_stop_command`, `docker_start_command`,
/// `docker_swarm_dir`).
pub(crate) struct EngineHost<'a> {
    pub(crate) stop_command: &'a str,
    pub(crate) start_command: &'a str,
    pub(crate) swarm_dir: &'a Path,
}

/// What a backup did: the archive, and whether the engine came back. Both are
/// reported, since an archive can be written and the engine still fail to start.
#[derive(Debug)]
pub(crate) struct BackupOutcome {
    pub(crate) archive: Result<PathBuf, SwarmBackupError>,
    pub(crate) restart: Result<(), SwarmBackupError>,
}

/// Stops the engine, archives the swarm folder into `dest_dir`, starts the engine
/// again and waits until it answers. Errors before the engine is stopped are
/// returned as such; after it, the outcome tells both parts. `progress` hears each
/// step.
pub(crate) fn backup(
    host: &EngineHost<'_>,
    dest_dir: &Path,
    progress: &dyn Fn(&str),
) -> Result<BackupOutcome, SwarmBackupError> {
    let swarm_dir = std::path::absolute(host.swarm_dir).at(host.swarm_dir, "cannot resolve")?;
    if !is_swarm_dir(&swarm_dir) {
        return Err(SwarmBackupError::NoSwarmDir { dir: swarm_dir });
    }
    crate::archive::create_private_dir(dest_dir)?;
    let temp = tempfile::Builder::new()
        .prefix(".iocdock-swarm-backup-")
        .suffix(".tmp")
        .tempfile_in(dest_dir)
        .at(dest_dir, "cannot create a temporary file in")?;

    progress(&format!(
        "stopping the Docker engine: {}",
        host.stop_command
    ));
    if let Err(stop) = run_engine_command(EngineStep::Stop, host.stop_command) {
        // The stop may have half happened; starting leaves the engine as it was.
        let restart = restart(host, progress).map(drop);
        return Ok(BackupOutcome {
            archive: Err(stop),
            restart,
        });
    }
    progress(&format!("archiving {}", swarm_dir.display()));
    let archive = write_archive(&swarm_dir, temp, dest_dir, Local::now());
    if let Ok(path) = &archive {
        progress(&format!("swarm state archived to {}", path.display()));
    }
    let restart = restart(host, progress).map(drop);
    Ok(BackupOutcome { archive, restart })
}

/// Runs the start command and waits until the engine answers.
fn restart(host: &EngineHost<'_>, progress: &dyn Fn(&str)) -> Result<Engine, SwarmBackupError> {
    progress(&format!(
        "starting the Docker engine: {}",
        host.start_command
    ));
    run_engine_command(EngineStep::Start, host.start_command)?;
    progress("waiting for the Docker engine to answer");
    Ok(Engine::wait_until_answering(ENGINE_START_LIMIT)?)
}

fn is_swarm_dir(dir: &Path) -> bool {
    dir.join(RAFT_DIR).is_dir() && dir.join(CERTIFICATES_DIR).is_dir()
}

#[derive(Clone, Copy)]
enum EngineStep {
    Stop,
    Start,
}

/// Runs a settings command (see `process::run_diagnostic_shell`).
fn run_engine_command(step: EngineStep, command: &str) -> Result<(), SwarmBackupError> {
    let (action, key) = match step {
        EngineStep::Stop => ("stopping", "docker_stop_command"),
        EngineStep::Start => ("starting", "docker_start_command"),
    };
    let failed = |outcome: String| SwarmBackupError::EngineCommand {
        action,
        key,
        command: command.to_string(),
        outcome,
    };
    if command.trim().is_empty() {
        return Err(failed("is empty".to_string()));
    }
    let status = process::run_diagnostic_shell(command)
        .map_err(|e| failed(format!("could not run: {e}")))?;
    if status.success() {
        return Ok(());
    }
    Err(failed(match Exit::of(status) {
        Exit::Code(code) => format!("exited with status {code}"),
        Exit::Signal(signal) => format!("was killed by signal {signal}"),
        Exit::Other(_) => "failed".to_string(),
    }))
}

/// What a restore left behind.
#[derive(Debug)]
pub(crate) struct Restored {
    /// The swarm folder that was in place before, kept under a new name.
    pub(crate) kept: Option<PathBuf>,
    pub(crate) node_id: String,
}

/// Restores a checked archive: unpack beside the swarm folder, stop the engine, put
/// the current folder aside and the restored one in its place, start the engine,
/// `swarm init --force-new-cluster`, wait until this node manages the swarm again.
pub(crate) fn restore(
    host: &EngineHost<'_>,
    archive: &CheckedArchive,
    advertise_ip: &str,
    progress: &dyn Fn(&str),
) -> Result<Restored, SwarmBackupError> {
    let swarm_dir = std::path::absolute(host.swarm_dir).at(host.swarm_dir, "cannot resolve")?;
    let parent = swarm_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    let name = swarm_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "swarm".to_string());
    fs::create_dir_all(&parent).at(&parent, "cannot create folder")?;
    let staged = tempfile::Builder::new()
        .prefix(&format!(".iocdock-restore-{name}-"))
        .tempdir_in(&parent)
        .at(&swarm_dir, "cannot create a temporary folder beside it")?;
    progress(&format!(
        "unpacking {} beside {}",
        archive.path.display(),
        swarm_dir.display()
    ));
    unpack(archive, staged.path())?;

    progress(&format!(
        "stopping the Docker engine: {}",
        host.stop_command
    ));
    if let Err(stop) = run_engine_command(EngineStep::Stop, host.stop_command) {
        return Err(with_restart(stop, host, progress));
    }
    let kept = match swap_in(staged, &swarm_dir) {
        Ok(kept) => kept,
        Err(error) => return Err(with_restart(error, host, progress)),
    };
    if let Some(kept) = &kept {
        progress(&format!("previous swarm folder kept at {}", kept.display()));
    }
    let engine = restart(host, progress)?;
    progress("swarm init --force-new-cluster");
    let request = init_request(&archive.node, advertise_ip);
    engine.request(
        "swarm init --force-new-cluster",
        engine.docker().init_swarm(request),
    )?;
    progress("waiting for this node to manage the swarm again");
    let node_id = wait_for_manager(&engine, MANAGER_LIMIT)?;
    Ok(Restored { kept, node_id })
}

/// Runs the start command after a failure that followed the stop command, and
/// reports both when starting fails too.
fn with_restart(
    error: SwarmBackupError,
    host: &EngineHost<'_>,
    progress: &dyn Fn(&str),
) -> SwarmBackupError {
    match restart(host, progress) {
        Ok(_) => error,
        Err(then) => SwarmBackupError::Both {
            first: Box::new(error),
            then: Box::new(then),
        },
    }
}

/// Moves the current swarm folder (if any) aside and the staged one into its place;
/// on failure puts the old one back. Returns where the old one went.
fn swap_in(
    staged: tempfile::TempDir,
    swarm_dir: &Path,
) -> Result<Option<PathBuf>, SwarmBackupError> {
    let kept = if fs::symlink_metadata(swarm_dir).is_ok() {
        let aside = aside_name(swarm_dir, Local::now())?;
        fs::rename(swarm_dir, &aside).at(swarm_dir, "cannot move aside")?;
        Some(aside)
    } else {
        None
    };
    let staged = staged.keep();
    if let Err(source) = fs::rename(&staged, swarm_dir) {
        if let Some(aside) = &kept {
            let _ = fs::rename(aside, swarm_dir);
        }
        let _ = fs::remove_dir_all(&staged);
        return Err(FsError {
            path: swarm_dir.to_path_buf(),
            action: "cannot put the restored swarm folder in place",
            cause: source,
        }
        .into());
    }
    if let Some(parent) = swarm_dir.parent() {
        let _ = File::open(parent).and_then(|dir| dir.sync_all());
    }
    Ok(kept)
}

/// `<dir>.before-restore-<stamp>`, with `-2`, `-3`, … when restores meet in a second.
fn aside_name(swarm_dir: &Path, now: DateTime<Local>) -> Result<PathBuf, SwarmBackupError> {
    // Numbered as archives of one second are, so the kept folders sort the same way.
    let aside =
        |stamp: &str| PathBuf::from(format!("{}.before-restore-{stamp}", swarm_dir.display()));
    crate::archive::archive_names(now, "")
        .iter()
        .map(|stamp| aside(stamp))
        .find(|candidate| fs::symlink_metadata(candidate).is_err())
        .ok_or_else(|| {
            FsError {
                path: aside(&now.format(STAMP_FORMAT).to_string()),
                action: "cannot find a free name to keep the current swarm folder",
                cause: io::Error::from(io::ErrorKind::AlreadyExists),
            }
            .into()
        })
}

fn init_request(node: &RestoredNode, advertise_ip: &str) -> SwarmInitRequest {
    let advertise_ip = advertise_ip.trim();
    SwarmInitRequest {
        listen_addr: Some(
            node.listen_addr
                .clone()
                .unwrap_or_else(|| "0.0.0.0:2377".to_string()),
        ),
        advertise_addr: if advertise_ip.is_empty() {
            node.advertise_addr.clone()
        } else {
            Some(advertise_ip.to_string())
        },
        data_path_port: node.data_path_port,
        force_new_cluster: Some(true),
        ..Default::default()
    }
}

fn wait_for_manager(engine: &Engine, limit: Duration) -> Result<String, SwarmBackupError> {
    const POLL: Duration = Duration::from_millis(250);
    let deadline = Instant::now() + limit;
    loop {
        // Each poll is one request with its own deadline; this loop has its limit.
        engine.renew();
        let info = engine.request("info", engine.docker().info())?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.control_available == Some(true)
            && swarm.local_node_state == Some(LocalNodeState::ACTIVE)
        {
            return Ok(swarm.node_id.unwrap_or_default());
        }
        if Instant::now() >= deadline {
            return Err(SwarmBackupError::NotManager {
                seconds: limit.as_secs(),
                state: swarm
                    .local_node_state
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "unknown".to_string()),
            });
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests;
