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

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bollard::models::{LocalNodeState, SwarmInitRequest};
use chrono::{DateTime, Local};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use tempfile::NamedTempFile;
use walkdir::WalkDir;

use crate::archive::{
    Capped, EntryKind, LinkEscape, STAMP_FORMAT, entry_parts, resolve_link, size_text,
};
use crate::fsutil::{FsError, IoContext};
use crate::swarm::engine::{Engine, SwarmError};

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

#[derive(Debug, thiserror::Error)]
pub(crate) enum SwarmBackupError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Engine(#[from] SwarmError),
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
    #[error("{}: cannot write archive: {cause}", archive.display())]
    Write { archive: PathBuf, cause: io::Error },
    #[error(
        "{}: no free archive name from {first} to {last}; remove some archives",
        dir.display()
    )]
    NoFreeName {
        dir: PathBuf,
        first: String,
        last: String,
    },
    #[error("{}: not a readable .tar.gz archive (damaged or truncated?): {cause}", archive.display())]
    Unreadable { archive: PathBuf, cause: io::Error },
    #[error(
        "{}: more than {} once unpacked; larger archives are refused",
        archive.display(),
        size_text(*limit)
    )]
    TooLarge { archive: PathBuf, limit: u64 },
    #[error("{}: entry \"{entry}\": {problem}", archive.display())]
    Entry {
        archive: PathBuf,
        entry: String,
        problem: String,
    },
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

/// Runs a settings command through `sh -c`. Its output is diagnostics, so stdout goes
/// to our stderr and stdout keeps only data; stdin is closed so it cannot wait for
/// an answer nobody gives.
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
    let stdout = io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::null(), Stdio::from);
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(stdout)
        .status()
        .map_err(|e| failed(format!("could not run: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(failed(exit_text(status)))
    }
}

fn exit_text(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "failed".to_string(),
    }
}

/// Writes the archive into `temp`, then gives it the first free stamp name.
fn write_archive(
    swarm_dir: &Path,
    temp: NamedTempFile,
    dest_dir: &Path,
    now: DateTime<Local>,
) -> Result<PathBuf, SwarmBackupError> {
    let shown = dest_dir.join(format!("{}{ARCHIVE_SUFFIX}", now.format(STAMP_FORMAT)));
    let write_error = |source| SwarmBackupError::Write {
        archive: shown.clone(),
        cause: source,
    };
    // The archive keeps the folder's absolute path, as `tar czf X /var/lib/docker/swarm` does.
    let prefix: PathBuf = swarm_dir
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let encoder = GzEncoder::new(BufWriter::new(temp.as_file()), Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    for entry in WalkDir::new(swarm_dir).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(swarm_dir).to_path_buf();
            FsError {
                path,
                action: "cannot read",
                cause: e.into(),
            }
        })?;
        let kind = entry.file_type();
        if !(kind.is_dir() || kind.is_file() || kind.is_symlink()) {
            return Err(SwarmBackupError::Unarchivable {
                path: entry.path().to_path_buf(),
            });
        }
        let relative = entry
            .path()
            .strip_prefix(swarm_dir)
            .unwrap_or(Path::new(""));
        builder
            .append_path_with_name(entry.path(), prefix.join(relative))
            .map_err(write_error)?;
    }
    let buffered = builder
        .into_inner()
        .and_then(GzEncoder::finish)
        .map_err(write_error)?;
    buffered
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))
        .at(&shown, "cannot set permissions")?;
    temp.as_file().sync_all().map_err(write_error)?;
    persist_free_name(temp, dest_dir, now)
}

fn persist_free_name(
    mut temp: NamedTempFile,
    dest_dir: &Path,
    now: DateTime<Local>,
) -> Result<PathBuf, SwarmBackupError> {
    let names = crate::archive::archive_names(now, ARCHIVE_SUFFIX);
    for name in &names {
        let path = dest_dir.join(name);
        match temp.persist_noclobber(&path) {
            Ok(_) => {
                // Makes the new name durable too; some file systems cannot sync a
                // folder, and the archive is complete either way.
                let _ = File::open(dest_dir).and_then(|dir| dir.sync_all());
                return Ok(path);
            }
            Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => temp = err.file,
            Err(err) => {
                return Err(FsError {
                    path,
                    action: "cannot create archive",
                    cause: err.error,
                }
                .into());
            }
        }
    }
    Err(SwarmBackupError::NoFreeName {
        dir: dest_dir.to_path_buf(),
        first: names.first().cloned().unwrap_or_default(),
        last: names.last().cloned().unwrap_or_default(),
    })
}

/// One entry of a checked archive, as unpacking must find it again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    parts: Vec<String>,
    kind: EntryKind,
    /// Target of a link, as written in the archive.
    link: Option<String>,
}

/// Where the restored node listened and what it advertised (`docker-state.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RestoredNode {
    pub(crate) node_id: Option<String>,
    listen_addr: Option<String>,
    advertise_addr: Option<String>,
    data_path_port: Option<u32>,
}

/// An archive that passed every check; only such an archive can be restored.
#[derive(Debug)]
pub(crate) struct CheckedArchive {
    path: PathBuf,
    /// Parts of the swarm folder's path inside the archive.
    root: Vec<String>,
    entries: Vec<Planned>,
    pub(crate) node: RestoredNode,
}

impl CheckedArchive {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The swarm folder's path inside the archive, as an operator recognises it.
    pub(crate) fn archived_folder(&self) -> String {
        if self.root.is_empty() {
            ".".to_string()
        } else {
            format!("/{}", self.root.join("/"))
        }
    }
}

fn unreadable(archive: &Path) -> impl Fn(io::Error) -> SwarmBackupError + Copy + '_ {
    move |source| SwarmBackupError::Unreadable {
        archive: archive.to_path_buf(),
        cause: source,
    }
}

/// Reads the whole archive and checks it (see the module notes); nothing is written.
pub(crate) fn check_archive(path: &Path) -> Result<CheckedArchive, SwarmBackupError> {
    check_archive_limited(path, CONTENT_LIMIT)
}

fn check_archive_limited(path: &Path, limit: u64) -> Result<CheckedArchive, SwarmBackupError> {
    let file = File::open(path).at(path, "cannot open archive")?;
    let mut tar = tar::Archive::new(Capped::new(GzDecoder::new(BufReader::new(file)), limit));
    let scanned = scan(&mut tar, path, limit);
    let mut rest = tar.into_inner();
    // The tar end marker comes before the end of the gzip stream; reading on checks
    // the gzip trailer, so a file cut after its last entry is noticed too.
    let scanned = scanned.and_then(|scanned| {
        io::copy(&mut rest, &mut io::sink()).map_err(unreadable(path))?;
        Ok(scanned)
    });
    if rest.exceeded {
        return Err(SwarmBackupError::TooLarge {
            archive: path.to_path_buf(),
            limit,
        });
    }
    let Scanned {
        entries,
        contents,
        dirs,
    } = scanned?;
    let not_swarm = |problem: String| SwarmBackupError::NotSwarm {
        archive: path.to_path_buf(),
        problem,
    };
    // The archive's top (`tar -C <swarm dir> .`) is a folder too.
    let top = Vec::new();
    let is_dir = |parts: &[String]| dirs.contains(parts);
    let mut roots: Vec<&Vec<String>> = std::iter::once(&top)
        .chain(&dirs)
        .filter(|dir| is_dir(&with(dir, RAFT_DIR)) && is_dir(&with(dir, CERTIFICATES_DIR)))
        .collect();
    roots.sort();
    let root = match roots.as_slice() {
        [root] => (*root).clone(),
        [] => {
            return Err(not_swarm(
                "no folder holding raft/ and certificates/ (the layout of a swarm folder)"
                    .to_string(),
            ));
        }
        several => {
            let shown: Vec<String> = several
                .iter()
                .map(|r| format!("/{}", r.join("/")))
                .collect();
            return Err(not_swarm(format!(
                "more than one swarm folder: {}",
                shown.join(", ")
            )));
        }
    };
    let is_file = |parts: &[String]| {
        entries
            .iter()
            .any(|e| e.parts == parts && e.kind == EntryKind::File)
    };
    for name in NODE_FILES {
        if !is_file(&with(&with(&root, CERTIFICATES_DIR), name)) {
            return Err(not_swarm(format!("{CERTIFICATES_DIR}/{name} is missing")));
        }
    }
    if !is_file(&with(&root, DOCKER_STATE_FILE)) && !is_file(&with(&root, STATE_FILE)) {
        return Err(not_swarm(format!(
            "neither {DOCKER_STATE_FILE} nor {STATE_FILE} is in the swarm folder"
        )));
    }
    let links: HashMap<&[String], &str> = entries
        .iter()
        .filter(|entry| entry.kind == EntryKind::Symlink)
        .filter_map(|entry| Some((entry.parts.as_slice(), entry.link.as_deref()?)))
        .collect();
    let lookup = |at: &[String]| links.get(at).copied();
    for entry in &entries {
        check_placement(entry, &root, &lookup).map_err(|problem| SwarmBackupError::Entry {
            archive: path.to_path_buf(),
            entry: entry.parts.join("/"),
            problem,
        })?;
    }
    let node = restored_node(
        contents.get(&with(&root, DOCKER_STATE_FILE)),
        contents.get(&with(&root, STATE_FILE)),
    )
    .map_err(not_swarm)?;
    Ok(CheckedArchive {
        path: path.to_path_buf(),
        root,
        entries,
        node,
    })
}

fn with(parts: &[String], name: &str) -> Vec<String> {
    let mut joined = parts.to_vec();
    joined.push(name.to_string());
    joined
}

struct Scanned {
    entries: Vec<Planned>,
    /// Content of the small files named like swarm state files.
    contents: HashMap<Vec<String>, Vec<u8>>,
    /// Every folder, named in the archive or implied by an entry below it.
    dirs: HashSet<Vec<String>>,
}

/// The checks each entry must pass on its own and against the earlier ones.
fn scan<R: Read>(
    tar: &mut tar::Archive<R>,
    path: &Path,
    limit: u64,
) -> Result<Scanned, SwarmBackupError> {
    let unreadable = unreadable(path);
    let mut entries = Vec::new();
    let mut kinds: HashMap<Vec<String>, EntryKind> = HashMap::new();
    let mut dirs: HashSet<Vec<String>> = HashSet::new();
    let mut contents = HashMap::new();
    // Sparse entries unpack to more than the tar stream holds; both are limited.
    let mut unpacked_size: u64 = 0;
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).escape_debug().to_string();
        let refuse = |problem: &str| SwarmBackupError::Entry {
            archive: path.to_path_buf(),
            entry: shown.clone(),
            problem: problem.to_owned(),
        };
        let parts: Vec<String> = entry_parts(&raw)
            .map_err(refuse)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        let kind = EntryKind::of(entry.header().entry_type()).map_err(refuse)?;
        if parts.is_empty() {
            if kind == EntryKind::Dir {
                // `./` of `tar -C dir .`: the archive's own top.
                continue;
            }
            return Err(refuse("empty path"));
        }
        for end in 1..parts.len() {
            let parent = &parts[..end];
            if kinds.get(parent).is_some_and(|k| *k != EntryKind::Dir) {
                return Err(refuse("lies below an entry that is not a folder"));
            }
            dirs.insert(parent.to_vec());
        }
        if kinds.contains_key(&parts) {
            return Err(refuse("appears twice"));
        }
        if kind != EntryKind::Dir && dirs.contains(&parts) {
            return Err(refuse("is both a file and a folder"));
        }
        let link = match kind {
            EntryKind::Symlink | EntryKind::HardLink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refuse("a link without a target"))?;
                let target = std::str::from_utf8(&target)
                    .map_err(|_| refuse("the link target is not UTF-8 text"))?
                    .to_owned();
                if target.is_empty() {
                    return Err(refuse("a link without a target"));
                }
                Some(target)
            }
            EntryKind::File | EntryKind::Dir => None,
        };
        if kind == EntryKind::HardLink {
            let target = link.as_deref().unwrap_or_default();
            let target_parts: Vec<String> = entry_parts(target.as_bytes())
                .map_err(refuse)?
                .into_iter()
                .map(str::to_owned)
                .collect();
            if kinds.get(&target_parts) != Some(&EntryKind::File) {
                return Err(refuse(
                    "a hard link must point to a file that comes earlier in the archive",
                ));
            }
        }
        if kind == EntryKind::File {
            let size = entry.size();
            unpacked_size = unpacked_size.saturating_add(size);
            if unpacked_size > limit {
                return Err(SwarmBackupError::TooLarge {
                    archive: path.to_path_buf(),
                    limit,
                });
            }
            let name = parts.last().map(String::as_str);
            let read = if matches!(name, Some(DOCKER_STATE_FILE | STATE_FILE))
                && size <= STATE_FILE_LIMIT
            {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(unreadable)?;
                let read = bytes.len() as u64;
                contents.insert(parts.clone(), bytes);
                read
            } else {
                io::copy(&mut entry, &mut io::sink()).map_err(unreadable)?
            };
            if read != size {
                return Err(refuse("truncated content"));
            }
        }
        if kind == EntryKind::Dir {
            dirs.insert(parts.clone());
        }
        kinds.insert(parts.clone(), kind);
        entries.push(Planned { parts, kind, link });
    }
    Ok(Scanned {
        entries,
        contents,
        dirs,
    })
}

/// An entry must lie in the swarm folder, or be a folder above it; a link must
/// point inside the swarm folder once every link of the archive on its way is
/// followed (`links` gives the target of each symbolic link entry), so a chain of
/// links that each look harmless cannot lead out.
fn check_placement<'a>(
    entry: &Planned,
    root: &[String],
    links: &dyn Fn(&[String]) -> Option<&'a str>,
) -> Result<(), String> {
    if !entry.parts.starts_with(root) {
        if entry.kind == EntryKind::Dir && root.starts_with(&entry.parts) {
            return Ok(());
        }
        return Err(format!(
            "outside the swarm folder /{} of the archive",
            root.join("/")
        ));
    }
    let Some(target) = &entry.link else {
        return Ok(());
    };
    let outside = || "links pointing outside the swarm folder are not allowed".to_string();
    match entry.kind {
        EntryKind::HardLink => {
            let resolved: Vec<String> = target
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .map(str::to_owned)
                .collect();
            if resolved.starts_with(root) {
                Ok(())
            } else {
                Err(outside())
            }
        }
        _ => match resolve_link(&entry.parts, target, root, links) {
            Ok(_) => Ok(()),
            Err(LinkEscape::Loop) => Err("links that form a loop are not allowed".to_string()),
            Err(LinkEscape::Absolute | LinkEscape::Outside) => Err(outside()),
        },
    }
}

fn restored_node(
    docker_state: Option<&Vec<u8>>,
    state: Option<&Vec<u8>>,
) -> Result<RestoredNode, String> {
    let mut node = RestoredNode::default();
    if let Some(bytes) = docker_state {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("{DOCKER_STATE_FILE} is not valid JSON: {e}"))?;
        let text = |key: &str| {
            value
                .get(key)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        node.listen_addr = text("ListenAddr");
        node.advertise_addr = text("AdvertiseAddr");
        node.data_path_port = value
            .get("DataPathPort")
            .and_then(serde_json::Value::as_u64)
            .and_then(|port| u32::try_from(port).ok())
            .filter(|port| *port != 0);
    }
    if let Some(bytes) = state {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("{STATE_FILE} is not valid JSON: {e}"))?;
        node.node_id = value
            .get(0)
            .and_then(|n| n.get("node_id"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
    }
    Ok(node)
}

/// Unpacks the swarm folder of a checked archive into `dest` (an existing, empty
/// folder), checking that the archive is still the one that was checked.
fn unpack(archive: &CheckedArchive, dest: &Path) -> Result<(), SwarmBackupError> {
    let path = &archive.path;
    let changed = || SwarmBackupError::Changed {
        archive: path.clone(),
    };
    let file = File::open(path).at(path, "cannot open archive")?;
    let mut tar = tar::Archive::new(Capped::new(
        GzDecoder::new(BufReader::new(file)),
        CONTENT_LIMIT,
    ));
    let unreadable = unreadable(path);
    let mut planned = archive.entries.iter();
    let mut dir_modes = Vec::new();
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let raw = entry.path_bytes().into_owned();
        let Ok(parts) = entry_parts(&raw) else {
            return Err(changed());
        };
        if parts.is_empty() {
            continue;
        }
        let kind = EntryKind::of(entry.header().entry_type()).map_err(|_| changed())?;
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let expected = planned.next().ok_or_else(changed)?;
        if expected.parts != parts
            || expected.kind != kind
            || (kind != EntryKind::File && kind != EntryKind::Dir && expected.link != link)
        {
            return Err(changed());
        }
        let Some(inside) = expected.parts.get(archive.root.len()..) else {
            continue; // a folder above the swarm folder
        };
        let target: PathBuf = std::iter::once(dest.as_os_str())
            .chain(inside.iter().map(|p| p.as_ref()))
            .collect();
        let mode = entry.header().mode().unwrap_or(0o600) & 0o777;
        if kind != EntryKind::Dir
            && let Some(parent) = target.parent()
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .at(parent, "cannot create folder")?;
        }
        match kind {
            EntryKind::Dir => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&target)
                    .at(&target, "cannot create folder")?;
                // Applied at the end: a read-only folder must still take its content.
                dir_modes.push((target, mode));
            }
            EntryKind::File => {
                let mut out = File::create_new(&target).at(&target, "cannot create")?;
                let copied = copy_sparse(&mut entry, &mut out).map_err(unreadable)?;
                if copied != entry.size() {
                    return Err(changed());
                }
                out.set_permissions(fs::Permissions::from_mode(mode))
                    .at(&target, "cannot set permissions")?;
                out.sync_all().at(&target, "cannot write")?;
            }
            EntryKind::Symlink => {
                let link = expected.link.as_deref().unwrap_or_default();
                std::os::unix::fs::symlink(link, &target).at(&target, "cannot create link")?;
            }
            EntryKind::HardLink => {
                let link = expected.link.as_deref().unwrap_or_default();
                let Ok(link_parts) = entry_parts(link.as_bytes()) else {
                    return Err(changed());
                };
                let source: PathBuf = std::iter::once(dest.as_os_str())
                    .chain(
                        link_parts
                            .get(archive.root.len()..)
                            .unwrap_or_default()
                            .iter()
                            .map(|p| p.as_ref()),
                    )
                    .collect();
                fs::hard_link(&source, &target).at(&target, "cannot create link")?;
            }
        }
    }
    if planned.next().is_some() {
        return Err(changed());
    }
    let mut rest = tar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(unreadable)?;
    // Deepest first, so a parent's mode never blocks a child's.
    dir_modes.sort_by(|a, b| b.0.cmp(&a.0));
    for (dir, mode) in dir_modes {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
            .at(&dir, "cannot set permissions")?;
    }
    Ok(())
}

/// Copies like `io::copy` but leaves holes where the content is zeros: raft logs
/// are preallocated sparse files, and a restore should not fill them in.
fn copy_sparse(from: &mut impl Read, to: &mut File) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let read = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..read];
        if chunk.iter().all(|b| *b == 0) {
            to.seek(SeekFrom::Current(read as i64))?;
        } else {
            to.write_all(chunk)?;
        }
        total += read as u64;
    }
    // A file ending in a hole has no bytes written there yet.
    to.set_len(total)?;
    Ok(total)
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
    let base = format!(
        "{}.before-restore-{}",
        swarm_dir.display(),
        now.format(STAMP_FORMAT)
    );
    for n in 1..=crate::archive::NAME_ATTEMPTS {
        let candidate = if n == 1 {
            PathBuf::from(&base)
        } else {
            PathBuf::from(format!("{base}-{n}"))
        };
        if fs::symlink_metadata(&candidate).is_err() {
            return Ok(candidate);
        }
    }
    Err(FsError {
        path: PathBuf::from(base),
        action: "cannot find a free name to keep the current swarm folder",
        cause: io::Error::from(io::ErrorKind::AlreadyExists),
    }
    .into())
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
mod tests {
    use super::*;

    /// A swarm folder as dockerd 20.10 leaves it, at `<dir>/var/lib/docker/swarm`.
    fn swarm_folder(dir: &Path) -> PathBuf {
        let swarm = dir.join("var/lib/docker/swarm");
        for sub in [
            "raft/wal-v3-encrypted",
            "raft/snap-v3-encrypted",
            "certificates",
            "worker",
        ] {
            fs::create_dir_all(swarm.join(sub)).unwrap();
        }
        fs::write(swarm.join("raft/wal-v3-encrypted/0.wal"), vec![7u8; 5000]).unwrap();
        // Raft logs are preallocated sparse: data, then a hole.
        let wal = File::create(swarm.join("raft/wal-v3-encrypted/1.wal")).unwrap();
        (&wal).write_all(b"entry").unwrap();
        wal.set_len(64 << 20).unwrap();
        for name in ["swarm-node.crt", "swarm-node.key", "swarm-root-ca.crt"] {
            fs::write(swarm.join("certificates").join(name), name).unwrap();
        }
        fs::set_permissions(
            swarm.join("certificates/swarm-node.key"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        fs::write(
            swarm.join(DOCKER_STATE_FILE),
            r#"{"LocalAddr":"127.0.0.1","ListenAddr":"127.0.0.1:2378","AdvertiseAddr":"127.0.0.1:2378","DataPathPort":4790}"#,
        )
        .unwrap();
        fs::write(
            swarm.join(STATE_FILE),
            r#"[{"node_id":"abc123","addr":"127.0.0.1:2378"}]"#,
        )
        .unwrap();
        fs::write(swarm.join("worker/tasks.db"), "db").unwrap();
        std::os::unix::fs::symlink("../certificates/swarm-node.crt", swarm.join("worker/cert"))
            .unwrap();
        swarm
    }

    fn tree(dir: &Path) -> Vec<(String, Vec<u8>, u32, bool)> {
        let mut out = Vec::new();
        for entry in WalkDir::new(dir).sort_by_file_name().min_depth(1) {
            let entry = entry.unwrap();
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            let bytes = if meta.is_file() {
                fs::read(entry.path()).unwrap()
            } else if meta.file_type().is_symlink() {
                fs::read_link(entry.path())
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                Vec::new()
            };
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap()
                .display()
                .to_string();
            out.push((rel, bytes, meta.permissions().mode() & 0o777, meta.is_dir()));
        }
        out
    }

    fn local(secs: u32) -> DateTime<Local> {
        use chrono::TimeZone;
        Local
            .with_ymd_and_hms(2026, 11, 22, 0, 7, secs)
            .single()
            .unwrap()
    }

    fn write_to(dir: &Path, swarm: &Path, now: DateTime<Local>) -> PathBuf {
        let temp = tempfile::Builder::new().tempfile_in(dir).unwrap();
        write_archive(swarm, temp, dir, now).unwrap()
    }

    #[test]
    fn archive_round_trips_the_swarm_folder() {
        let dir = tempfile::tempdir().unwrap();
        let swarm = swarm_folder(dir.path());
        let backups = dir.path().join("backups");
        fs::create_dir_all(&backups).unwrap();
        let path = write_to(&backups, &swarm, local(30));
        assert_eq!(path, backups.join("20261122000730.swarm.tar.gz"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "swarm keys are in it");

        let checked = check_archive(&path).unwrap();
        let expected_root: Vec<String> = swarm
            .components()
            .filter_map(|c| match c {
                Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(checked.root, expected_root);
        assert_eq!(checked.node.node_id.as_deref(), Some("abc123"));
        let request = init_request(&checked.node, "");
        assert_eq!(request.listen_addr.as_deref(), Some("127.0.0.1:2378"));
        assert_eq!(request.advertise_addr.as_deref(), Some("127.0.0.1:2378"));
        assert_eq!(request.data_path_port, Some(4790));
        assert_eq!(request.force_new_cluster, Some(true));
        let request = init_request(&checked.node, " 10.0.0.5 ");
        assert_eq!(request.advertise_addr.as_deref(), Some("10.0.0.5"));

        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        unpack(&checked, &out).unwrap();
        assert_eq!(tree(&out), tree(&swarm));
        use std::os::unix::fs::MetadataExt;
        let wal = fs::metadata(out.join("raft/wal-v3-encrypted/1.wal")).unwrap();
        assert_eq!(wal.len(), 64 << 20);
        assert!(wal.blocks() * 512 < 1 << 20, "the hole stays a hole");
        assert!(fs::metadata(&path).unwrap().len() < 1 << 20);

        // A second backup in the same second takes a number, not a later second.
        let second = write_to(&backups, &swarm, local(30));
        assert_eq!(second, backups.join("20261122000730-2.swarm.tar.gz"));
        assert_eq!(
            fs::read_dir(&backups).unwrap().count(),
            2,
            "no temporary file stays"
        );
    }

    #[test]
    fn restore_finds_the_swarm_folder_under_any_path() {
        let dir = tempfile::tempdir().unwrap();
        let swarm = swarm_folder(dir.path());
        for (args, root) in [
            (vec!["-C", swarm.to_str().unwrap(), "."], vec![]),
            (
                vec!["-C", swarm.parent().unwrap().to_str().unwrap(), "swarm"],
                vec!["swarm".to_string()],
            ),
        ] {
            let path = dir.path().join("by-tar.swarm.tar.gz");
            let status = Command::new("tar")
                .arg("czf")
                .arg(&path)
                .args(&args)
                .status()
                .unwrap();
            assert!(status.success());
            let checked = check_archive(&path).unwrap();
            assert_eq!(checked.root, root, "{args:?}");
            let out = dir.path().join(format!("out{}", root.len()));
            fs::create_dir(&out).unwrap();
            unpack(&checked, &out).unwrap();
            assert_eq!(tree(&out), tree(&swarm));
        }
    }

    use crate::archive::crafted::{Raw, crafted, file, folder, special};

    fn valid_entries() -> Vec<Raw<'static>> {
        vec![
            folder("swarm/"),
            folder("swarm/raft/"),
            file("swarm/raft/0.wal"),
            file("swarm/certificates/swarm-node.crt"),
            file("swarm/certificates/swarm-node.key"),
            Raw {
                data: br#"{"ListenAddr":"0.0.0.0:2377"}"#,
                ..file("swarm/docker-state.json")
            },
        ]
    }

    #[test]
    fn crafted_valid_archive_passes() {
        use tar::EntryType::Symlink;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("valid.swarm.tar.gz");
        let mut entries = valid_entries();
        // A chain that stays inside is fine.
        entries.push(special("swarm/raft/up", Symlink, ".."));
        entries.push(special(
            "swarm/raft/cert",
            Symlink,
            "up/certificates/swarm-node.crt",
        ));
        fs::write(&path, crafted(&entries)).unwrap();
        let checked = check_archive(&path).unwrap();
        assert_eq!(checked.archived_folder(), "/swarm");
        let request = init_request(&checked.node, "");
        assert_eq!(request.listen_addr.as_deref(), Some("0.0.0.0:2377"));
        assert_eq!(request.advertise_addr, None);
    }

    #[test]
    fn hostile_or_foreign_archives_are_refused() {
        use tar::EntryType::{Block, Char, Continuous, Fifo, Link, Symlink};
        let cases: Vec<(Vec<Raw<'_>>, &str)> = vec![
            (vec![file("swarm/raft/../../evil")], "\"..\""),
            (vec![file("../evil")], "\"..\""),
            (vec![file("/etc/evil")], "absolute"),
            (
                vec![special("swarm/raft/link", Symlink, "/etc/passwd")],
                "outside the swarm folder",
            ),
            (
                vec![special("swarm/raft/link", Symlink, "../../etc")],
                "outside the swarm folder",
            ),
            // Each link looks inside on its own; followed through the first, the
            // second leads two folders above raft/, out of the swarm folder.
            (
                vec![
                    special("swarm/raft/up", Symlink, ".."),
                    special("swarm/raft/chain", Symlink, "up/../etc"),
                ],
                "outside the swarm folder",
            ),
            (
                vec![
                    special("swarm/raft/a", Symlink, "b/x"),
                    special("swarm/raft/b", Symlink, "../../.."),
                ],
                "outside the swarm folder",
            ),
            (
                vec![
                    special("swarm/raft/loop1", Symlink, "loop2"),
                    special("swarm/raft/loop2", Symlink, "loop1"),
                ],
                "loop",
            ),
            (
                vec![special("swarm/raft/hard", Link, "etc/passwd")],
                "hard link must point to a file",
            ),
            (
                vec![
                    file("etc/passwd"),
                    special("swarm/raft/hard", Link, "etc/passwd"),
                ],
                "outside the swarm folder",
            ),
            (
                vec![
                    special("swarm/raft/l", Symlink, "."),
                    file("swarm/raft/l/x"),
                ],
                "below an entry that is not a folder",
            ),
            (vec![special("swarm/tty", Char, "")], "devices"),
            (vec![special("swarm/sda", Block, "")], "devices"),
            (vec![special("swarm/pipe", Fifo, "")], "fifos"),
            (
                vec![special("swarm/c", Continuous, "")],
                "unsupported entry type",
            ),
            (vec![file("swarm/raft/0.wal")], "appears twice"),
            (vec![file("notes.txt")], "outside the swarm folder"),
            (
                vec![folder("other/raft/"), folder("other/certificates/")],
                "more than one swarm folder",
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (extra, expected) in cases {
            let shown = extra.first().map(|e| e.path.to_owned()).unwrap_or_default();
            let mut entries = valid_entries();
            entries.extend(extra);
            let path = dir.path().join("crafted.swarm.tar.gz");
            fs::write(&path, crafted(&entries)).unwrap();
            let err = check_archive(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{shown}: {err}");
            assert!(err.starts_with(&path.display().to_string()), "{err}");
        }

        let missing_key: Vec<Raw<'_>> = valid_entries()
            .into_iter()
            .filter(|e| !e.path.ends_with("swarm-node.key"))
            .collect();
        let no_state: Vec<Raw<'_>> = valid_entries()
            .into_iter()
            .filter(|e| !e.path.ends_with(".json"))
            .collect();
        let bad_json: Vec<Raw<'_>> = valid_entries()
            .into_iter()
            .map(|e| {
                if e.path.ends_with(".json") {
                    Raw { data: b"{", ..e }
                } else {
                    e
                }
            })
            .collect();
        let ioc_backup = vec![
            folder("20261122000730/"),
            file("20261122000730/ioc1/ioc.ini"),
        ];
        for (entries, expected) in [
            (missing_key, "certificates/swarm-node.key is missing"),
            (no_state, "neither docker-state.json nor state.json"),
            (bad_json, "docker-state.json is not valid JSON"),
            (ioc_backup, "no folder holding raft/ and certificates/"),
        ] {
            let path = dir.path().join("foreign.swarm.tar.gz");
            fs::write(&path, crafted(&entries)).unwrap();
            let err = check_archive(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn damaged_and_oversized_archives_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let swarm = swarm_folder(dir.path());
        let path = write_to(dir.path(), &swarm, local(30));
        let bytes = fs::read(&path).unwrap();
        let damaged = dir.path().join("damaged.swarm.tar.gz");
        for len in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
            fs::write(&damaged, &bytes[..len]).unwrap();
            let err = check_archive(&damaged).unwrap_err();
            assert!(
                matches!(
                    err,
                    SwarmBackupError::Unreadable { .. } | SwarmBackupError::Entry { .. }
                ),
                "cut at {len}: {err}"
            );
        }
        let err = check_archive(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("cannot open archive"), "{err}");
        let err = check_archive_limited(&path, 4096).unwrap_err();
        assert!(matches!(err, SwarmBackupError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn a_changed_archive_is_noticed_while_unpacking() {
        let dir = tempfile::tempdir().unwrap();
        let swarm = swarm_folder(dir.path());
        let path = write_to(dir.path(), &swarm, local(30));
        let checked = check_archive(&path).unwrap();
        fs::write(swarm.join("raft/extra"), "new").unwrap();
        let temp = tempfile::Builder::new().tempfile_in(dir.path()).unwrap();
        let other = write_archive(&swarm, temp, dir.path(), local(40)).unwrap();
        fs::rename(&other, &path).unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        let err = unpack(&checked, &out).unwrap_err();
        assert!(matches!(err, SwarmBackupError::Changed { .. }), "{err}");
    }

    fn host<'a>(stop: &'a str, start: &'a str, swarm_dir: &'a Path) -> EngineHost<'a> {
        EngineHost {
            stop_command: stop,
            start_command: start,
            swarm_dir,
        }
    }

    #[test]
    fn backup_refuses_a_folder_that_is_no_swarm_before_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("stopped");
        let stop = format!("touch {}", marker.display());
        let err = backup(
            &host(&stop, "true", &dir.path().join("nothing")),
            &dir.path().join("backups"),
            &|_| {},
        )
        .unwrap_err();
        assert!(matches!(err, SwarmBackupError::NoSwarmDir { .. }), "{err}");
        assert!(!marker.exists(), "the engine must not be stopped");
    }

    #[test]
    fn a_failed_stop_still_runs_the_start_command() {
        let dir = tempfile::tempdir().unwrap();
        let swarm = swarm_folder(dir.path());
        let marker = dir.path().join("started");
        // A failing start command: the engine is never waited for.
        let start = format!("touch {}; exit 3", marker.display());
        let outcome = backup(
            &host("exit 5", &start, &swarm),
            &dir.path().join("backups"),
            &|_| {},
        )
        .unwrap();
        let archive = outcome.archive.unwrap_err().to_string();
        assert!(
            archive.contains("stopping the Docker engine failed"),
            "{archive}"
        );
        assert!(archive.contains("exited with status 5"), "{archive}");
        let restart = outcome.restart.unwrap_err().to_string();
        assert!(restart.contains("docker_start_command"), "{restart}");
        assert!(marker.exists());
        let left = fs::read_dir(dir.path().join("backups")).unwrap().count();
        assert_eq!(left, 0, "no archive and no temporary file");
    }

    #[test]
    fn archiving_failure_still_starts_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let swarm = swarm_folder(dir.path());
        let marker = dir.path().join("started");
        let fifo = swarm.join("raft/pipe");
        let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        let start = format!("touch {}; exit 1", marker.display());
        let outcome = backup(
            &host("true", &start, &swarm),
            &dir.path().join("b"),
            &|_| {},
        )
        .unwrap();
        let archive = outcome.archive.unwrap_err().to_string();
        assert!(archive.contains("neither a file, a folder"), "{archive}");
        assert!(outcome.restart.is_err());
        assert!(marker.exists());
        assert_eq!(fs::read_dir(dir.path().join("b")).unwrap().count(), 0);
    }

    #[test]
    fn swap_keeps_the_old_folder_and_never_overwrites_a_kept_one() {
        let dir = tempfile::tempdir().unwrap();
        let swarm = dir.path().join("swarm");
        fs::create_dir_all(swarm.join("raft")).unwrap();
        fs::write(swarm.join("raft/old"), "old").unwrap();
        let taken = aside_name(&swarm, Local::now()).unwrap();
        fs::create_dir(&taken).unwrap();
        let staged = tempfile::Builder::new().tempdir_in(dir.path()).unwrap();
        fs::write(staged.path().join("new"), "new").unwrap();
        let kept = swap_in(staged, &swarm).unwrap().unwrap();
        assert_ne!(kept, taken);
        assert!(kept.to_string_lossy().contains(".before-restore-"));
        assert_eq!(fs::read(kept.join("raft/old")).unwrap(), b"old");
        assert_eq!(fs::read(swarm.join("new")).unwrap(), b"new");
    }
}
