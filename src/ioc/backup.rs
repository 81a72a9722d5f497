//! IOC backups (SPEC §6 `exec -b/--gen-backup-file`, `exec -r/--restore-backup-file`).
//!
//! An archive is `<YYYYmmddHHMMSS>.ioc.tar.gz` holding one top folder of the same
//! stamp and, per IOC, `<stamp>/<name>/` with `ioc.ini`, the state file `.info.ini`,
//! `src/` and (mode all) `project/{startup,logs,settings}` — the layout the original
//! tool wrote, so its archives (with their pickled states) restore here.
//!
//! Decisions:
//! - Names: the stamp is the local time of the backup, in the name and as the top
//!   folder. When an archive of that second already exists, the name takes a number,
//!   `<stamp>-2.ioc.tar.gz`, `-3`, … (the top folder keeps the stamp), so a second
//!   backup never replaces the first and no name claims a later time than its own.
//!   `prune` orders by stamp, then number; archives named `<stamp>.ioc.tar.gz` only,
//!   as the original tool and earlier versions wrote them, sort among them.
//! - Size: an archive is checked completely before anything is restored, so its
//!   content is held in memory; more than [`CONTENT_LIMIT`] (1 GiB) of unpacked tar
//!   stream is refused, which also stops gzip bombs. `create` refuses to write an
//!   archive over the same limit rather than produce a backup that cannot be restored.
//! - An archive is untrusted: only folders and regular files below
//!   `<stamp>/<ioc>/{ioc.ini,.info.ini,src/,project/}` are accepted, every IOC needs an
//!   ioc.ini, and an archive without any IOC is refused as not being an IOC backup.
//!   For the same reason `create` refuses an IOC folder without ioc.ini or with an
//!   invalid name, and an empty repository, naming what to fix, rather than write an
//!   archive that restore would refuse.
//! - Restoring an existing IOC replaces what the archive brings (ioc.ini, state, src/,
//!   and project/ when archived) and keeps everything else of the IOC folder, notably
//!   the generated project/ when the archive has none.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, Local};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use tempfile::NamedTempFile;
use walkdir::WalkDir;

use crate::archive::{
    Capped, EntryKind, LinkEscape, entry_parts, is_stamp, resolve_link, size_text,
};
use crate::fsutil::nofollow::{self, Found};
use crate::fsutil::{FsError, IoContext, StagedDir};
use crate::ini::IniDocument;
use crate::ioc::repository::{
    INI_FILE, INI_MODE, PROJECT_DIR, Repository, SRC_DIR, STATE_FILE, STATE_MODE,
};
use crate::ioc::state::{IocState, Status};
use crate::schema::ioc_name::{self as name, InvalidName};

pub(crate) const ARCHIVE_SUFFIX: &str = ".ioc.tar.gz";

/// Most bytes of unpacked tar stream an archive may hold (see the module notes).
pub(crate) const CONTENT_LIMIT: u64 = 1 << 30;

const DIR_MODE: u32 = 0o755;

/// Archives are private to their owner (see `write_temp`).
pub(crate) const ARCHIVE_MODE: u32 = 0o600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackupMode {
    /// ioc.ini, state and src/ of every IOC.
    Src,
    /// Also project/startup from the repository and logs/, settings/ from the export.
    All,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackupError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("cannot back up folder {}: {cause}", path.display())]
    InvalidFolder { path: PathBuf, cause: InvalidName },
    #[error(
        "cannot back up IOC \"{ioc}\": {} is missing (an archive without it could not be restored)",
        path.display()
    )]
    IniMissing { ioc: String, path: PathBuf },
    #[error("cannot back up IOC \"{ioc}\": {cause}")]
    IocUnreadable { ioc: String, cause: FsError },
    #[error(
        "IOC \"{ioc}\": {}: {problem} (a restore accepts only relative links that stay inside the IOC folder)",
        path.display()
    )]
    LinkLeftOut {
        ioc: String,
        path: PathBuf,
        problem: String,
    },
    #[error(
        "{}: no IOC could be backed up ({} left out, each named above)",
        repository.display(),
        problems.len()
    )]
    NoneReadable {
        repository: PathBuf,
        problems: Vec<BackupError>,
    },
    #[error("{}: no IOC to back up", repository.display())]
    NothingToBackUp { repository: PathBuf },
    #[error(
        "{}: no IOC {} in the repository; nothing was backed up",
        repository.display(),
        quoted(names)
    )]
    NotInRepository {
        repository: PathBuf,
        names: Vec<String>,
    },
    #[error(
        "{}: holds no IOC {} (it holds {}); nothing was restored",
        archive.display(),
        quoted(missing),
        quoted(held)
    )]
    NotInArchive {
        archive: PathBuf,
        missing: Vec<String>,
        held: Vec<String>,
    },
    #[error(
        "cannot back up into {}: the IOCs hold more than {}, the most a restore accepts",
        dir.display(),
        size_text(*limit)
    )]
    TooLargeToBackUp { dir: PathBuf, limit: u64 },
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
        "{}: more than {} once unpacked; archives are checked in memory before restoring, so larger ones are refused",
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
    #[error("{}: entry \"{entry}\": {cause}", archive.display())]
    EntryName {
        archive: PathBuf,
        entry: String,
        cause: InvalidName,
    },
    #[error("{}: IOC \"{ioc}\" has no ioc.ini", archive.display())]
    NoIni { archive: PathBuf, ioc: String },
    /// A host that is no host name would become a path outside the run directory.
    #[error("{}: {cause}; nothing was restored", archive.display())]
    Host {
        archive: PathBuf,
        cause: crate::ioc::config::InvalidHost,
    },
    #[error(
        "{}: holds no IOC (expected entries <stamp>/<ioc>/ioc.ini); is it an IOC backup?",
        archive.display()
    )]
    NoIoc { archive: PathBuf },
}

/// `"a", "b"`: names as the messages quote them.
fn quoted(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    quoted.join(", ")
}

/// One file or folder of an archived IOC.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir {
        mode: u32,
    },
    File {
        bytes: Vec<u8>,
        mode: u32,
        /// Seconds since the epoch.
        mtime: u64,
    },
    /// A symbolic link, by its target text.
    Symlink {
        target: String,
    },
}

/// The content of one IOC folder, keyed by `/`-separated paths relative to it.
#[derive(Debug, Default)]
struct ArchivedIoc {
    entries: BTreeMap<String, Node>,
}

impl ArchivedIoc {
    /// Adds an entry and the folders above it; refuses what a file system could not
    /// hold (a path under a file, a file and a folder of one name, a file twice).
    fn insert(&mut self, path: &str, node: Node) -> Result<(), &'static str> {
        for (end, _) in path.match_indices('/') {
            let parent = self
                .entries
                .entry(path[..end].to_owned())
                .or_insert(Node::Dir { mode: DIR_MODE });
            match parent {
                Node::Dir { .. } => {}
                Node::File { .. } => return Err("lies below an entry that is a file"),
                Node::Symlink { .. } => {
                    return Err("lies below an entry that is a symbolic link");
                }
            }
        }
        let is_dir = matches!(node, Node::Dir { .. });
        match self.entries.get_mut(path) {
            None => {
                self.entries.insert(path.to_owned(), node);
                Ok(())
            }
            // A folder seen first as the parent of an entry gets its own mode later.
            Some(existing @ Node::Dir { .. }) if is_dir => {
                *existing = node;
                Ok(())
            }
            Some(Node::File { .. }) if matches!(node, Node::File { .. }) => Err("appears twice"),
            Some(Node::Symlink { .. }) if matches!(node, Node::Symlink { .. }) => {
                Err("appears twice")
            }
            Some(_) => Err("appears twice as different kinds (file, folder, symbolic link)"),
        }
    }

    fn file(&self, path: &str) -> Option<&[u8]> {
        match self.entries.get(path) {
            Some(Node::File { bytes, .. }) => Some(bytes),
            _ => None,
        }
    }

    fn has_project(&self) -> bool {
        self.entries.contains_key(PROJECT_DIR)
    }
}

/// A backup held in memory: what `create` writes and what `read_archive` checked.
#[derive(Debug)]
pub(crate) struct Archive {
    stamp: String,
    iocs: BTreeMap<String, ArchivedIoc>,
}

impl Archive {
    pub(crate) fn ioc_names(&self) -> Vec<&str> {
        self.iocs.keys().map(String::as_str).collect()
    }

    /// Keeps only the IOCs `names`; one the archive does not hold is an error naming
    /// it (and what the archive holds), so nothing is restored for a mistyped name.
    pub(crate) fn select(&mut self, names: &[String], path: &Path) -> Result<(), BackupError> {
        let missing: Vec<String> = names
            .iter()
            .filter(|name| !self.iocs.contains_key(name.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(BackupError::NotInArchive {
                archive: path.to_path_buf(),
                missing,
                held: self.iocs.keys().cloned().collect(),
            });
        }
        self.iocs.retain(|name, _| names.contains(name));
        Ok(())
    }

    /// The entry paths an archive of this content holds, in the order written.
    pub(crate) fn members(&self) -> Vec<String> {
        let mut members = vec![format!("{}/", self.stamp)];
        for (name, ioc) in &self.iocs {
            members.push(format!("{}/{name}/", self.stamp));
            for (path, node) in &ioc.entries {
                let slash = if matches!(node, Node::Dir { .. }) {
                    "/"
                } else {
                    ""
                };
                members.push(format!("{}/{name}/{path}{slash}", self.stamp));
            }
        }
        members
    }

    /// What restoring it into `repository` would write, per IOC: the folder, whether
    /// the IOC exists there, and each file, folder and link below the folder.
    pub(crate) fn restore_plan(&self, repository: &Repository) -> Vec<PlannedIoc> {
        self.iocs
            .iter()
            .map(|(name, ioc)| {
                let dir = repository.dir(name);
                let mut paths: Vec<PathBuf> = ioc.entries.keys().map(|key| dir.join(key)).collect();
                if !ioc.entries.contains_key(STATE_FILE) {
                    paths.push(dir.join(STATE_FILE));
                }
                if !ioc.entries.contains_key(SRC_DIR) {
                    paths.push(dir.join(SRC_DIR));
                }
                paths.sort();
                PlannedIoc {
                    name: name.clone(),
                    exists: fs::symlink_metadata(&dir).is_ok(),
                    dir,
                    paths,
                }
            })
            .collect()
    }
}

/// One IOC a restore would write (see `Archive::restore_plan`).
#[derive(Debug)]
pub(crate) struct PlannedIoc {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) exists: bool,
    pub(crate) paths: Vec<PathBuf>,
}

/// What `restore` did with each IOC of the archive.
#[derive(Debug, Default)]
pub(crate) struct RestoreReport {
    pub(crate) restored: Vec<String>,
    /// Existing IOCs the caller chose not to overwrite.
    pub(crate) skipped: Vec<String>,
    /// IOCs whose restore failed on the file system; each is left as it was, and the
    /// others are still restored (SPEC §6: exit 1, the others are processed).
    pub(crate) failed: Vec<(String, BackupError)>,
}

/// A written backup and the IOC folders it could not hold.
#[derive(Debug)]
pub(crate) struct Backup {
    pub(crate) path: PathBuf,
    /// Folders a restore would refuse (an invalid name, no ioc.ini) or that could not
    /// be read whole, and links a restore would refuse. They are left out rather than
    /// failing the whole backup: one broken IOC must not cost a cron job the backup of
    /// all the others. The caller reports them and exits non-zero.
    pub(crate) skipped: Vec<BackupError>,
}

/// A backup that was only planned (`--dry-run`): the archive it would write (the
/// name free now) and what it would hold.
#[derive(Debug)]
pub(crate) struct PlannedBackup {
    pub(crate) path: PathBuf,
    pub(crate) members: Vec<String>,
    pub(crate) skipped: Vec<BackupError>,
}

/// Writes `<YYYYmmddHHMMSS>.ioc.tar.gz` of every IOC, or of the IOCs `only` names,
/// into `dest_dir`; see the module notes for naming and size.
pub(crate) fn create(
    repository: &Repository,
    dest_dir: &Path,
    mode: BackupMode,
    only: Option<&[String]>,
) -> Result<Backup, BackupError> {
    create_at(
        repository,
        dest_dir,
        mode,
        only,
        Local::now(),
        CONTENT_LIMIT,
    )
}

/// What `create` would write, reading the IOCs as it would but writing nothing.
pub(crate) fn plan(
    repository: &Repository,
    dest_dir: &Path,
    mode: BackupMode,
    only: Option<&[String]>,
) -> Result<PlannedBackup, BackupError> {
    let now = Local::now();
    let (iocs, skipped) = collect(repository, mode, only, dest_dir, CONTENT_LIMIT)?;
    let names = crate::archive::archive_names(now, ARCHIVE_SUFFIX);
    let name = names
        .iter()
        .find(|name| fs::symlink_metadata(dest_dir.join(name)).is_err())
        .cloned()
        .unwrap_or_default();
    let archive = Archive {
        stamp: now.format(crate::archive::STAMP_FORMAT).to_string(),
        iocs,
    };
    Ok(PlannedBackup {
        path: dest_dir.join(name),
        members: archive.members(),
        skipped,
    })
}

fn create_at(
    repository: &Repository,
    dest_dir: &Path,
    mode: BackupMode,
    only: Option<&[String]>,
    now: DateTime<Local>,
    limit: u64,
) -> Result<Backup, BackupError> {
    let (iocs, skipped) = collect(repository, mode, only, dest_dir, limit)?;
    let archive = Archive {
        stamp: now.format(crate::archive::STAMP_FORMAT).to_string(),
        iocs,
    };
    crate::archive::create_private_dir(dest_dir)?;
    let mtime = u64::try_from(now.timestamp()).unwrap_or(0);
    let names = crate::archive::archive_names(now, ARCHIVE_SUFFIX);
    for name in &names {
        let path = dest_dir.join(name);
        // Skipping a visibly taken name saves building the archive; the no-clobber
        // persist below still settles a race with a backup running in parallel.
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        let temp = write_temp(&archive, dest_dir, &path, mtime, limit)?;
        match temp.persist_noclobber(&path) {
            Ok(_) => {
                // Makes the new name itself durable; some file systems cannot sync a
                // folder, and the archive is complete either way.
                let _ = File::open(dest_dir).and_then(|dir| dir.sync_all());
                return Ok(Backup { path, skipped });
            }
            Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => {}
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
    Err(BackupError::NoFreeName {
        dir: dest_dir.to_path_buf(),
        first: names.first().cloned().unwrap_or_default(),
        last: names.last().cloned().unwrap_or_default(),
    })
}

/// Reads every IOC of the repository into memory, leaving out (and returning) the
/// folders a restore would refuse or that could not be read whole, so a backup that
/// was written can always be restored and one broken IOC costs only its own backup.
fn collect(
    repository: &Repository,
    mode: BackupMode,
    only: Option<&[String]>,
    dest_dir: &Path,
    limit: u64,
) -> Result<(BTreeMap<String, ArchivedIoc>, Vec<BackupError>), BackupError> {
    let mut budget = Budget {
        remaining: limit,
        limit,
        dest_dir,
    };
    let mut folders = repository.folder_names()?;
    if let Some(names) = only {
        // A name that is no IOC here is a mistake in the command, not a broken IOC:
        // nothing is written rather than an archive without the IOC asked for.
        let missing: Vec<String> = names
            .iter()
            .filter(|name| !folders.contains(name))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(BackupError::NotInRepository {
                repository: repository.paths().repository.clone(),
                names: missing,
            });
        }
        folders.retain(|folder| names.contains(folder));
    }
    let mut iocs = BTreeMap::new();
    let mut skipped = Vec::new();
    for name in folders {
        let dir = repository.dir(&name);
        if let Err(source) = name::validate(&name) {
            skipped.push(BackupError::InvalidFolder {
                path: dir,
                cause: source,
            });
            continue;
        }
        match collect_ioc(repository, &name, mode, &mut budget) {
            Ok((ioc, left_out)) => {
                iocs.insert(name, ioc);
                skipped.extend(left_out);
            }
            Err(err @ BackupError::TooLargeToBackUp { .. }) => return Err(err),
            Err(err) => skipped.push(err),
        }
    }
    if iocs.is_empty() && !skipped.is_empty() {
        return Err(BackupError::NoneReadable {
            repository: repository.paths().repository.clone(),
            problems: skipped,
        });
    }
    if iocs.is_empty() {
        return Err(BackupError::NothingToBackUp {
            repository: repository.paths().repository.clone(),
        });
    }
    Ok((iocs, skipped))
}

/// Reads one IOC: ioc.ini, the state, src/ and (mode all) the startup files and the
/// run folder's logs/ and settings/. Nothing is read through a symbolic link: a link
/// below src/ or project/ is archived as a link with its target text, and a link in
/// place of ioc.ini, the state file or one of those folders makes the IOC unreadable.
/// The IOC folder itself and the run folder are opened as named (the repository and
/// the run directory are the operator's); everything below them relative to the
/// opened folder.
fn collect_ioc(
    repository: &Repository,
    name: &str,
    mode: BackupMode,
    budget: &mut Budget<'_>,
) -> Result<(ArchivedIoc, Vec<BackupError>), BackupError> {
    let dir = repository.dir(name);
    let unreadable = |path: PathBuf, source: io::Error| BackupError::IocUnreadable {
        ioc: name.to_owned(),
        cause: FsError {
            path,
            action: "cannot read",
            cause: source,
        },
    };
    let folder = open_named_folder(&dir).map_err(|e| unreadable(dir.clone(), e))?;
    let mut ioc = ArchivedIoc::default();
    let ini = dir.join(INI_FILE);
    match nofollow::open_file_at(folder.as_fd(), INI_FILE) {
        Ok((file, stat)) => add_file(&mut ioc, INI_FILE, file, &stat, budget)
            .map_err(|e| e.into_backup_error(name, &ini))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BackupError::IniMissing {
                ioc: name.to_owned(),
                path: ini,
            });
        }
        Err(e) => return Err(unreadable(ini, e)),
    }
    let state = dir.join(STATE_FILE);
    match nofollow::open_file_at(folder.as_fd(), STATE_FILE) {
        Ok((file, stat)) => add_file(&mut ioc, STATE_FILE, file, &stat, budget)
            .map_err(|e| e.into_backup_error(name, &state))?,
        // A missing state restores as a new IOC's.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(unreadable(state, e)),
    }
    let mut trees = vec![(SRC_DIR.to_owned(), dir.clone(), vec![SRC_DIR])];
    if mode == BackupMode::All {
        trees.push((
            format!("{PROJECT_DIR}/startup"),
            dir.clone(),
            vec![PROJECT_DIR, "startup"],
        ));
        // The run folder is the container's to write: logs/ and settings/ may hold
        // anything, links to the host's files included. An IOC whose host is no host
        // name has no run folder to read from.
        if let Ok(export) = repository.run_dir(repository.load(name).host(), name) {
            for running in ["logs", "settings"] {
                trees.push((
                    format!("{PROJECT_DIR}/{running}"),
                    export.clone(),
                    vec![running],
                ));
            }
        }
    }
    let mut shown_roots = Vec::new();
    for (archived, base, parts) in trees {
        let shown = parts
            .iter()
            .fold(base.clone(), |path, part| path.join(part));
        shown_roots.push((archived.clone(), shown.clone()));
        let root = match open_folder_below(&base, &parts) {
            Ok(Some(root)) => root,
            Ok(None) => continue,
            Err(e) => return Err(unreadable(shown, e)),
        };
        add_tree(&mut ioc, &archived, root, budget).map_err(|e| match e {
            TreeError::Backup(err) => err,
            TreeError::Read(relative, source) => unreadable(shown.join(relative), source),
        })?;
    }
    // A link a restore would refuse stays out, so the archive can always be
    // restored; the rest of the IOC is still worth keeping.
    let mut left_out = Vec::new();
    for (key, target, escape) in escaping_links(&ioc) {
        ioc.entries.remove(&key);
        let path = shown_roots
            .iter()
            .find_map(|(archived, shown)| {
                let rest = key.strip_prefix(archived.as_str())?;
                Some(shown.join(rest.trim_start_matches('/')))
            })
            .unwrap_or_else(|| dir.join(&key));
        left_out.push(BackupError::LinkLeftOut {
            ioc: name.to_owned(),
            path,
            problem: link_problem(name, &target, escape),
        });
    }
    Ok((ioc, left_out))
}

/// Opens a folder the operator named (a link to it is followed).
fn open_named_folder(path: &Path) -> io::Result<OwnedFd> {
    Ok(OwnedFd::from(File::open(path)?)).and_then(|fd| match rustix::fs::fstat(&fd) {
        Ok(stat) if rustix::fs::FileType::from_raw_mode(stat.st_mode).is_dir() => Ok(fd),
        Ok(_) => Err(io::Error::from(io::ErrorKind::NotADirectory)),
        Err(e) => Err(e.into()),
    })
}

/// Opens `base/parts…`, `base` as named and each part without following a link;
/// None when something on the way does not exist.
fn open_folder_below(base: &Path, parts: &[&str]) -> io::Result<Option<OwnedFd>> {
    let mut current = match open_named_folder(base) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for part in parts {
        current = match nofollow::open_folder_at(current.as_fd(), *part) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
    }
    Ok(Some(current))
}

/// Bytes of file content `collect` may still read before the backup is too large.
struct Budget<'a> {
    remaining: u64,
    limit: u64,
    dest_dir: &'a Path,
}

impl Budget<'_> {
    fn take(&mut self, bytes: u64) -> Result<(), BackupError> {
        self.remaining =
            self.remaining
                .checked_sub(bytes)
                .ok_or_else(|| BackupError::TooLargeToBackUp {
                    dir: self.dest_dir.to_path_buf(),
                    limit: self.limit,
                })?;
        Ok(())
    }
}

/// Why a tree could not be added: the backup as a whole is too large, or an entry
/// (by path relative to the tree) could not be read.
enum TreeError {
    Backup(BackupError),
    Read(PathBuf, io::Error),
}

/// Why one file could not be added.
enum FileError {
    Backup(BackupError),
    Read(io::Error),
}

impl FileError {
    fn into_backup_error(self, ioc: &str, path: &Path) -> BackupError {
        match self {
            FileError::Backup(err) => err,
            FileError::Read(source) => BackupError::IocUnreadable {
                ioc: ioc.to_owned(),
                cause: FsError {
                    path: path.to_path_buf(),
                    action: "cannot read",
                    cause: source,
                },
            },
        }
    }
}

/// Adds an opened regular file under `key`.
fn add_file(
    ioc: &mut ArchivedIoc,
    key: &str,
    mut file: File,
    stat: &rustix::fs::Stat,
    budget: &mut Budget<'_>,
) -> Result<(), FileError> {
    let len = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
    budget.take(len).map_err(FileError::Backup)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(FileError::Read)?;
    // A file growing while it is read (a live log) must not slip past the limit.
    budget
        .take((bytes.len() as u64).saturating_sub(len))
        .map_err(FileError::Backup)?;
    let mtime = u64::try_from(stat.st_mtime).unwrap_or(0);
    let mode = stat.st_mode & 0o777;
    ioc.insert(key, Node::File { bytes, mode, mtime })
        .map_err(|problem| FileError::Read(io::Error::new(io::ErrorKind::InvalidData, problem)))
}

/// Adds the opened folder `root` and everything below it under `archived`: folders,
/// regular files, and symbolic links as links (their target text; never the content
/// they point to, never a folder they point to). Anything else, or an entry that
/// vanishes or cannot be read while the walk goes, is an error.
fn add_tree(
    ioc: &mut ArchivedIoc,
    archived: &str,
    root: OwnedFd,
    budget: &mut Budget<'_>,
) -> Result<(), TreeError> {
    let invalid = |relative: &Path, problem: &str| {
        TreeError::Read(
            relative.to_path_buf(),
            io::Error::new(io::ErrorKind::InvalidData, problem.to_owned()),
        )
    };
    let key_of = |relative: &Path| -> Result<String, TreeError> {
        let mut key = archived.to_owned();
        for part in relative {
            let part = part
                .to_str()
                .ok_or_else(|| invalid(relative, "cannot back up a name that is not UTF-8 text"))?;
            key.push('/');
            key.push_str(part);
        }
        Ok(key)
    };
    nofollow::walk(
        root,
        &mut |found| {
            match found {
                Found::Folder(relative, fd) => {
                    let stat = rustix::fs::fstat(fd)
                        .map_err(|e| TreeError::Read(relative.to_path_buf(), e.into()))?;
                    let key = key_of(relative)?;
                    ioc.insert(
                        &key,
                        Node::Dir {
                            mode: stat.st_mode & 0o777,
                        },
                    )
                    .map_err(|problem| invalid(relative, problem))?;
                }
                Found::File(relative, dir, name) => {
                    let key = key_of(&relative)?;
                    let (file, stat) = nofollow::open_file_at(dir, name)
                        .map_err(|e| TreeError::Read(relative.clone(), e))?;
                    add_file(ioc, &key, file, &stat, budget).map_err(|e| match e {
                        FileError::Backup(err) => TreeError::Backup(err),
                        FileError::Read(source) => TreeError::Read(relative.clone(), source),
                    })?;
                }
                Found::Link(relative, dir, name) => {
                    let key = key_of(&relative)?;
                    let target = nofollow::link_target(dir, name)
                        .map_err(|e| TreeError::Read(relative.clone(), e))?;
                    let target = String::from_utf8(target).map_err(|_| {
                        invalid(
                            &relative,
                            "cannot back up a link whose target is not UTF-8 text",
                        )
                    })?;
                    ioc.insert(&key, Node::Symlink { target })
                        .map_err(|problem| invalid(&relative, problem))?;
                }
                Found::Other(relative) => {
                    return Err(invalid(
                        &relative,
                        "cannot back up what is neither a file, a folder nor a symbolic link",
                    ));
                }
            }
            Ok(())
        },
        &|relative, source| TreeError::Read(relative.to_path_buf(), source),
    )
}

/// Builds the archive in a hidden temporary file of `dest_dir`, synced to disk, so
/// that only a complete archive can ever get the final name.
fn write_temp(
    archive: &Archive,
    dest_dir: &Path,
    path: &Path,
    mtime: u64,
    limit: u64,
) -> Result<NamedTempFile, BackupError> {
    let temp = tempfile::Builder::new()
        .prefix(".iocdock-backup-")
        .suffix(".tmp")
        .tempfile_in(dest_dir)
        .at(path, "cannot create a temporary file beside it")?;
    let write_error = |source| BackupError::Write {
        archive: path.to_path_buf(),
        cause: source,
    };
    let encoder = GzEncoder::new(BufWriter::new(temp.as_file()), Compression::default());
    let Counted {
        inner: encoder,
        count,
    } = write_tar(archive, Counted::new(encoder), mtime).map_err(write_error)?;
    // File content was limited while reading; this adds the headers to the count.
    if count > limit {
        return Err(BackupError::TooLargeToBackUp {
            dir: dest_dir.to_path_buf(),
            limit,
        });
    }
    let buffered = encoder.finish().map_err(write_error)?;
    buffered
        .into_inner()
        .map_err(|err| write_error(err.into_error()))?;
    // An archive holds every IOC's files, the run folders' logs and settings
    // included: only the owner reads it.
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(ARCHIVE_MODE))
        .at(path, "cannot set permissions")?;
    temp.as_file().sync_all().map_err(write_error)?;
    Ok(temp)
}

fn write_tar<W: Write>(archive: &Archive, out: W, mtime: u64) -> io::Result<W> {
    let mut builder = tar::Builder::new(out);
    let mut append = |path: &str, node: &Node| {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        match node {
            Node::Dir { mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_mtime(mtime);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), io::empty())
            }
            Node::File {
                bytes,
                mode,
                mtime: modified,
            } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_mtime(*modified);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, bytes.as_slice())
            }
            Node::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_mtime(mtime);
                header.set_size(0);
                builder.append_link(&mut header, path, target)
            }
        }
    };
    let folder = Node::Dir { mode: DIR_MODE };
    append(&archive.stamp, &folder)?;
    for (name, ioc) in &archive.iocs {
        let top = format!("{}/{name}", archive.stamp);
        append(&top, &folder)?;
        for (path, node) in &ioc.entries {
            append(&format!("{top}/{path}"), node)?;
        }
    }
    builder.into_inner()
}

/// Counts the unpacked tar stream, the quantity the restore limit applies to.
struct Counted<W> {
    inner: W,
    count: u64,
}

impl<W> Counted<W> {
    fn new(inner: W) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Deletes all but the newest `keep` archives of `dir` and returns them. Only regular
/// files named `<14 digits>.ioc.tar.gz` or `<14 digits>-<n>.ioc.tar.gz` count; newest
/// is decided by the stamp and number in the name, which survive copies that reset
/// modification times.
pub(crate) fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    let excess = prunable(dir, keep, 0)?;
    let mut removed = Vec::with_capacity(excess.len());
    for path in excess {
        fs::remove_file(&path).at(&path, "cannot delete old backup")?;
        removed.push(path);
    }
    Ok(removed)
}

/// The archives `prune` would delete once `adding` newer archives are written.
pub(crate) fn prunable(
    dir: &Path,
    keep: usize,
    adding: usize,
) -> Result<Vec<PathBuf>, BackupError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).at(dir, "cannot read folder").map_err(Into::into),
    };
    let mut archives = Vec::new();
    for entry in entries {
        let entry = entry.at(dir, "cannot read folder")?;
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        if let Some(name) = entry.file_name().to_str()
            && is_file
            && is_archive_name(name)
        {
            archives.push(entry.path());
        }
    }
    archives.sort_by_cached_key(|path| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        crate::archive::archive_name_order(name, ARCHIVE_SUFFIX)
            .map(|(stamp, number)| (stamp.to_string(), number))
    });
    let excess = (archives.len() + adding).saturating_sub(keep);
    archives.truncate(excess);
    Ok(archives)
}

fn is_archive_name(name: &str) -> bool {
    crate::archive::archive_name_order(name, ARCHIVE_SUFFIX).is_some()
}

/// Reads and checks a whole archive; nothing of it may be restored unless this
/// succeeds. See the module notes for what is accepted.
pub(crate) fn read_archive(path: &Path) -> Result<Archive, BackupError> {
    read_archive_limited(path, CONTENT_LIMIT)
}

fn read_archive_limited(path: &Path, limit: u64) -> Result<Archive, BackupError> {
    let file = File::open(path).at(path, "cannot open archive")?;
    let stream = Capped::new(GzDecoder::new(BufReader::new(file)), limit);
    let mut tar = tar::Archive::new(stream);
    let parsed = parse_entries(&mut tar, path);
    let mut rest = tar.into_inner();
    // The tar end marker comes before the end of the gzip stream; reading on to the
    // end checks the gzip trailer, so a file cut after its last entry is noticed too.
    let parsed = parsed.and_then(|archive| {
        io::copy(&mut rest, &mut io::sink()).map_err(unreadable(path))?;
        Ok(archive)
    });
    if rest.exceeded {
        return Err(BackupError::TooLarge {
            archive: path.to_path_buf(),
            limit,
        });
    }
    let archive = parsed?;
    if archive.iocs.is_empty() {
        return Err(BackupError::NoIoc {
            archive: path.to_path_buf(),
        });
    }
    if let Some(name) = archive
        .iocs
        .iter()
        .find_map(|(name, ioc)| ioc.file(INI_FILE).is_none().then_some(name))
    {
        return Err(BackupError::NoIni {
            archive: path.to_path_buf(),
            ioc: name.clone(),
        });
    }
    for (name, ioc) in &archive.iocs {
        // An ioc.ini that does not parse restores as it is (the IOC lists in state
        // error); one that parses must name a host that can be a folder name.
        let doc = ioc
            .file(INI_FILE)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| IniDocument::parse(text, Path::new(INI_FILE)).ok());
        if let Some(doc) = doc
            && let Err(source) = crate::ioc::config::checked_host(name, &doc)
        {
            return Err(BackupError::Host {
                archive: path.to_path_buf(),
                cause: source,
            });
        }
    }
    Ok(archive)
}

fn unreadable(archive: &Path) -> impl Fn(io::Error) -> BackupError + Copy + '_ {
    move |source| BackupError::Unreadable {
        archive: archive.to_path_buf(),
        cause: source,
    }
}

fn parse_entries<R: Read>(tar: &mut tar::Archive<R>, path: &Path) -> Result<Archive, BackupError> {
    let unreadable = unreadable(path);
    let mut archive = Archive {
        stamp: String::new(),
        iocs: BTreeMap::new(),
    };
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).escape_debug().to_string();
        let refuse = |problem: &str| BackupError::Entry {
            archive: path.to_path_buf(),
            entry: shown.clone(),
            problem: problem.to_owned(),
        };
        let parts = entry_parts(&raw).map_err(refuse)?;
        let kind = EntryKind::of(entry.header().entry_type()).map_err(refuse)?;
        if kind == EntryKind::HardLink {
            return Err(refuse("hard links are not allowed"));
        }
        let is_dir = kind == EntryKind::Dir;

        let (stamp, rest) = parts.split_first().ok_or_else(|| refuse("empty path"))?;
        if !is_stamp(stamp) {
            return Err(refuse(
                "outside <stamp>/<ioc>/ (the top folder must be the 14-digit backup stamp)",
            ));
        }
        if archive.stamp.is_empty() {
            archive.stamp = (*stamp).to_owned();
        } else if archive.stamp != *stamp {
            return Err(refuse(&format!(
                "outside <stamp>/<ioc>/ (every entry must be below {}/)",
                archive.stamp
            )));
        }
        let Some((ioc_name, inside)) = rest.split_first() else {
            if is_dir {
                continue;
            }
            return Err(refuse("a file outside <stamp>/<ioc>/"));
        };
        name::validate(ioc_name).map_err(|source| BackupError::EntryName {
            archive: path.to_path_buf(),
            entry: shown.clone(),
            cause: source,
        })?;
        let ioc = archive.iocs.entry((*ioc_name).to_owned()).or_default();
        let Some(first) = inside.first() else {
            if is_dir {
                continue;
            }
            return Err(refuse("a file outside <stamp>/<ioc>/ (an IOC is a folder)"));
        };
        match (*first, inside.len(), kind) {
            (INI_FILE | STATE_FILE, 1, EntryKind::File) => {}
            (INI_FILE | STATE_FILE, _, _) => return Err(refuse("must be a file")),
            (SRC_DIR | PROJECT_DIR, 1, EntryKind::Dir) => {}
            (SRC_DIR | PROJECT_DIR, 1, _) => return Err(refuse("must be a folder")),
            (SRC_DIR | PROJECT_DIR, _, _) => {}
            _ => {
                return Err(refuse(
                    "expected only ioc.ini, .info.ini, src/ and project/ in an IOC folder",
                ));
            }
        }

        let mode = entry
            .header()
            .mode()
            .map_err(|_| refuse("unreadable file mode"))?
            & 0o777;
        let node = if is_dir {
            Node::Dir { mode }
        } else if kind == EntryKind::Symlink {
            let target = entry
                .link_name_bytes()
                .filter(|target| !target.is_empty())
                .ok_or_else(|| refuse("a symbolic link without a target"))?;
            let target = std::str::from_utf8(&target)
                .map_err(|_| refuse("the link target is not UTF-8 text"))?
                .to_owned();
            Node::Symlink { target }
        } else {
            let mtime = entry.header().mtime().unwrap_or(0);
            let size = entry.size();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(unreadable)?;
            if bytes.len() as u64 != size {
                return Err(refuse("truncated content"));
            }
            Node::File { bytes, mode, mtime }
        };
        ioc.insert(&inside.join("/"), node).map_err(refuse)?;
    }
    check_links(&archive, path)?;
    Ok(archive)
}

/// Every symbolic link must be relative and, resolved against its folder with every
/// link of its IOC followed on the way, stay inside its IOC's folder; otherwise the
/// whole archive is refused (a restored link leading out would let the next read of
/// the IOC, by any tool, reach the host's files).
fn check_links(archive: &Archive, path: &Path) -> Result<(), BackupError> {
    for (name, ioc) in &archive.iocs {
        if let Some((key, target, escape)) = escaping_links(ioc).into_iter().next() {
            return Err(BackupError::Entry {
                archive: path.to_path_buf(),
                entry: format!("{}/{name}/{key}", archive.stamp),
                problem: link_problem(name, &target, escape),
            });
        }
    }
    Ok(())
}

fn link_problem(ioc: &str, target: &str, escape: LinkEscape) -> String {
    match escape {
        LinkEscape::Absolute => format!(
            "a symbolic link to \"{target}\": links with an absolute target (or through one) are not allowed"
        ),
        LinkEscape::Outside => format!(
            "a symbolic link to \"{target}\" leads outside IOC \"{ioc}\", which is not allowed"
        ),
        LinkEscape::Loop => format!("a symbolic link to \"{target}\" is part of a loop of links"),
    }
}

/// The links of an IOC that a restore refuses (see `check_links`), by key, with their
/// target. A link that passes through a refused one is refused too, so leaving these
/// out changes nothing for the others.
fn escaping_links(ioc: &ArchivedIoc) -> Vec<(String, String, LinkEscape)> {
    let split = |key: &str| -> Vec<String> { key.split('/').map(str::to_owned).collect() };
    let links: HashMap<Vec<String>, &str> = ioc
        .entries
        .iter()
        .filter_map(|(key, node)| match node {
            Node::Symlink { target } => Some((split(key), target.as_str())),
            _ => None,
        })
        .collect();
    let lookup = |at: &[String]| links.get(at).copied();
    ioc.entries
        .iter()
        .filter_map(|(key, node)| {
            let Node::Symlink { target } = node else {
                return None;
            };
            let escape = resolve_link(&split(key), target, &[], &lookup).err()?;
            Some((key.clone(), target.clone(), escape))
        })
        .collect()
}

/// Restores every IOC of `archive` into the repository. An existing IOC is restored
/// only when `overwrite(name)` agrees; each IOC is swapped in whole (see
/// `StagedDir::replace`), so a failure or crash leaves it old or new, never mixed.
pub(crate) fn restore(
    repository: &Repository,
    archive: &Archive,
    overwrite: &mut dyn FnMut(&str) -> bool,
) -> Result<RestoreReport, BackupError> {
    let root = &repository.paths().repository;
    fs::create_dir_all(root).at(root, "cannot create folder")?;
    let mut report = RestoreReport::default();
    for (name, ioc) in &archive.iocs {
        let target = repository.dir(name);
        let exists = fs::symlink_metadata(&target).is_ok();
        if exists && !overwrite(name) {
            report.skipped.push(name.clone());
            continue;
        }
        match restore_ioc(&target, ioc, exists) {
            Ok(()) => report.restored.push(name.clone()),
            Err(err) => report.failed.push((name.clone(), err)),
        }
    }
    Ok(report)
}

fn restore_ioc(target: &Path, ioc: &ArchivedIoc, replace: bool) -> Result<(), BackupError> {
    let staged = StagedDir::new(target)?;
    let root = staged.path();
    // Parents sort before their children, so each folder exists before its content.
    for (path, node) in &ioc.entries {
        let dest = root.join(path);
        match node {
            // The state is rewritten below, converted and marked restored.
            Node::File { .. } if path == STATE_FILE => {}
            // ioc.ini is edited by hand, whatever mode the archive recorded.
            Node::File { bytes, mtime, .. } if path == INI_FILE => {
                write_file(&dest, bytes, INI_MODE, Some(*mtime))?;
            }
            // The tool must be able to read what it restores, to back it up again.
            Node::File { bytes, mode, mtime } => {
                write_file(&dest, bytes, restored_mode(*mode) | 0o400, Some(*mtime))?;
            }
            // and to write into the folders it restores.
            Node::Dir { mode } => {
                fs::create_dir(&dest).at(&dest, "cannot create folder")?;
                fs::set_permissions(
                    &dest,
                    fs::Permissions::from_mode(restored_mode(*mode) | 0o700),
                )
                .at(&dest, "cannot set permissions")?;
            }
            // Checked by `check_links` to stay inside the IOC folder.
            Node::Symlink { target } => {
                std::os::unix::fs::symlink(target, &dest).at(&dest, "cannot create link")?;
            }
        }
    }
    let src = root.join(SRC_DIR);
    if !src.is_dir() {
        fs::create_dir(&src).at(&src, "cannot create folder")?;
    }
    let state = restored_state(ioc);
    write_file(
        &root.join(STATE_FILE),
        state.to_json().as_bytes(),
        STATE_MODE,
        None,
    )?;
    if replace {
        keep_unarchived(target, root, ioc.has_project())?;
        staged.replace()?;
    } else {
        staged.commit()?;
    }
    Ok(())
}

/// The permission bits a restored file or folder gets: the archived ones without
/// write for others (and, as the archive keeps only the low nine bits, never setuid,
/// setgid or sticky). An archive may come from anywhere; a world-writable file in the
/// repository would let any local user change what the next deploy runs.
fn restored_mode(archived: u32) -> u32 {
    archived & 0o775
}

/// The archive's state, legacy pickle or JSON; one that is missing or unreadable
/// becomes the state of a new IOC, since the IOC itself is still worth restoring.
fn restored_state(ioc: &ArchivedIoc) -> IocState {
    let mut state = ioc
        .file(STATE_FILE)
        .and_then(|bytes| IocState::from_bytes(bytes, Path::new(STATE_FILE)).ok())
        .map_or_else(IocState::created, |(state, _)| state);
    state.status = Status::Restored;
    state
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, mtime: Option<u64>) -> Result<(), FsError> {
    let mut file = File::create(path).at(path, "cannot create")?;
    file.write_all(bytes).at(path, "cannot write")?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .at(path, "cannot set permissions")?;
    if let Some(time) = mtime.and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs))) {
        file.set_modified(time)
            .at(path, "cannot set modification time")?;
    }
    Ok(())
}

/// Copies into the staged folder what the archive does not replace: the generated
/// project/ when the archive has none, and anything else kept in the IOC folder.
fn keep_unarchived(old: &Path, staged: &Path, archive_has_project: bool) -> Result<(), FsError> {
    for entry in fs::read_dir(old).at(old, "cannot read folder")? {
        let entry = entry.at(old, "cannot read folder")?;
        let name = entry.file_name();
        let replaced = name == INI_FILE
            || name == STATE_FILE
            || name == SRC_DIR
            || (name == PROJECT_DIR && archive_has_project);
        // Leftovers of an interrupted atomic write are not worth keeping.
        let leftover = name.to_string_lossy().starts_with(".iocdock-");
        if !replaced && !leftover {
            copy_tree(&entry.path(), &staged.join(&name))?;
        }
    }
    Ok(())
}

/// Copies a file or folder as it is, links as links.
fn copy_tree(from: &Path, to: &Path) -> Result<(), FsError> {
    for entry in WalkDir::new(from).sort_by_file_name() {
        let entry = entry.map_err(|err| FsError {
            path: err.path().unwrap_or(from).to_path_buf(),
            action: "cannot read",
            cause: err.into(),
        })?;
        let source = entry.path();
        // The root itself maps to `to`; joining an empty path would add a slash.
        let dest = match source.strip_prefix(from) {
            Ok(inside) if !inside.as_os_str().is_empty() => to.join(inside),
            _ => to.to_path_buf(),
        };
        let kind = entry.file_type();
        if kind.is_symlink() {
            let link = fs::read_link(source).at(source, "cannot read link")?;
            std::os::unix::fs::symlink(link, &dest).at(&dest, "cannot create link")?;
        } else if kind.is_dir() {
            let mode = entry
                .metadata()
                .map_or(DIR_MODE, |metadata| metadata.permissions().mode());
            fs::create_dir(&dest).at(&dest, "cannot create folder")?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode | 0o700))
                .at(&dest, "cannot set permissions")?;
        } else if kind.is_file() {
            fs::copy(source, &dest).at(source, "cannot copy")?;
        } else {
            return Err(FsError {
                path: source.to_path_buf(),
                action: "cannot keep what is neither a file, a folder nor a link",
                cause: io::Error::from(io::ErrorKind::Unsupported),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::STAMP_LEN;
    use crate::ini::IniDocument;
    use crate::ioc::state::{Health, SnapshotState, StateFormat};
    use crate::settings::Paths;
    use chrono::TimeZone;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/backups/20261122000730.ioc.tar.gz"
    );
    const STAMP: &str = "20261122000730";

    struct Home {
        dir: tempfile::TempDir,
        repository: Repository,
    }

    impl Home {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let repository = Repository::new(&Paths::new(dir.path().to_path_buf(), None));
            Home { dir, repository }
        }

        fn root(&self) -> &Path {
            &self.repository.paths().repository
        }

        fn backups(&self) -> &Path {
            &self.repository.paths().ioc_backup
        }

        /// An IOC with sources in a subfolder and a file of an unusual mode, so both
        /// survive a round trip visibly.
        fn add_ioc(&self, name: &str, host: &str) {
            let text = format!(
                "[IOC]\nname = {name}\nhost = {host}\nbin = ST-IOC\n\n[DB]\nload = ramper.db, name={name}\n\n"
            );
            let doc = IniDocument::parse(&text, Path::new("test.ini")).unwrap();
            self.repository.create(name, &doc).unwrap();
            let src = self.repository.dir(name).join(SRC_DIR);
            write(
                &src.join("ramper.db"),
                format!("record(ai, \"{name}\") {{}}\n"),
                0o644,
            );
            write(&src.join("sub/extra.proto"), "Terminator = LF;\n", 0o640);
            // Longer than the 100 bytes a plain tar header holds.
            let deep = format!("{}{}.im", "deep/".repeat(20), "x".repeat(60));
            write(&src.join(deep), "deep", 0o644);
        }

        fn restore_file(&self, archive: &Path) -> Result<RestoreReport, BackupError> {
            let archive = read_archive(archive)?;
            restore(&self.repository, &archive, &mut |_| true)
        }
    }

    fn write(path: &Path, content: impl AsRef<[u8]>, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Every file, folder and link below `dir` with its content and mode.
    fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
        let mut tree = BTreeMap::new();
        if !dir.exists() {
            return tree;
        }
        for entry in WalkDir::new(dir).min_depth(1) {
            let entry = entry.unwrap();
            let metadata = entry.path().symlink_metadata().unwrap();
            let content = if entry.file_type().is_file() {
                fs::read(entry.path()).unwrap()
            } else if entry.file_type().is_symlink() {
                b"-> ".to_vec()
            } else {
                b"/".to_vec()
            };
            let path = entry.path().strip_prefix(dir).unwrap();
            tree.insert(
                path.display().to_string(),
                (content, metadata.permissions().mode() & 0o7777),
            );
        }
        tree
    }

    fn local(secs: u32) -> DateTime<Local> {
        Local
            .with_ymd_and_hms(2026, 11, 22, 0, 7, secs)
            .single()
            .unwrap()
    }

    /// Entry paths of an archive as stored, folders with their trailing `/`.
    fn listing(path: &Path) -> Vec<String> {
        let file = File::open(path).unwrap();
        let mut tar = tar::Archive::new(GzDecoder::new(file));
        tar.entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let mut name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
                if entry.header().entry_type().is_dir() && !name.ends_with('/') {
                    name.push('/');
                }
                name
            })
            .collect()
    }

    fn read_state(home: &Home, name: &str) -> IocState {
        let (state, format) = home.repository.read_state(name).unwrap();
        assert_eq!(format, StateFormat::Json, "{name}: restored state is JSON");
        state
    }

    #[test]
    fn src_backup_round_trips() {
        let home = Home::new();
        home.add_ioc("ioc1", "swarm");
        home.add_ioc("ioc2", "swarm");
        let mut state = IocState::created();
        state.status = Status::Exported;
        state.snapshot = SnapshotState::Tracked;
        state.is_exported = true;
        state.add_warning("reason", "message", "2026/11/22 00:07:40");
        home.repository.write_state("ioc2", &state).unwrap();
        write(
            &home
                .repository
                .dir("ioc1")
                .join("project/startup/iocBoot/st.cmd"),
            "#!",
            0o555,
        );
        let before: Vec<_> = ["ioc1", "ioc2"]
            .map(|name| {
                let dir = home.repository.dir(name);
                let state = home.repository.read_state(name).unwrap().0;
                (
                    fs::read(dir.join(INI_FILE)).unwrap(),
                    tree(&dir.join(SRC_DIR)),
                    state,
                )
            })
            .into();

        let path = create(&home.repository, home.backups(), BackupMode::Src, None)
            .unwrap()
            .path;
        let file_name = path.file_name().unwrap().to_str().unwrap();
        assert!(is_archive_name(file_name), "{file_name}");
        assert_eq!(
            fs::read_dir(home.backups()).unwrap().count(),
            1,
            "no temporary file may stay behind"
        );
        let stamp = &file_name[..STAMP_LEN];
        let entries = listing(&path);
        assert_eq!(entries[0], format!("{stamp}/"));
        assert!(entries.contains(&format!("{stamp}/ioc1/src/sub/extra.proto")));
        assert!(entries.contains(&format!("{stamp}/ioc2/.info.ini")));
        assert!(
            entries
                .iter()
                .all(|entry| entry.starts_with(&format!("{stamp}/")))
        );
        assert!(!entries.iter().any(|entry| entry.contains("project")));

        fs::remove_dir_all(home.root()).unwrap();
        let archive = read_archive(&path).unwrap();
        assert_eq!(archive.ioc_names(), ["ioc1", "ioc2"]);
        let report = restore(&home.repository, &archive, &mut |name| {
            panic!("asked about {name}, which does not exist")
        })
        .unwrap();
        assert_eq!(report.restored, ["ioc1", "ioc2"]);
        assert!(report.skipped.is_empty() && report.failed.is_empty());

        for (name, (ini, src, mut state)) in ["ioc1", "ioc2"].into_iter().zip(before) {
            let dir = home.repository.dir(name);
            assert_eq!(fs::read(dir.join(INI_FILE)).unwrap(), ini, "{name}");
            assert_eq!(tree(&dir.join(SRC_DIR)), src, "{name}");
            state.status = Status::Restored;
            assert_eq!(read_state(&home, name), state, "{name}");
            assert!(!dir.join(PROJECT_DIR).exists(), "{name}");
        }
    }

    #[test]
    fn all_backup_round_trips_project() {
        let home = Home::new();
        home.add_ioc("ioc1", "swarm");
        home.add_ioc("ioc2", "otherhost");
        let project = home.repository.dir("ioc1").join(PROJECT_DIR);
        write(&project.join("startup/iocBoot/st.cmd"), "#!st.cmd\n", 0o555);
        write(&project.join("startup/db/ramper.db"), "record", 0o444);
        // Run-time data comes from the export, not from the repository's project/.
        write(&project.join("logs/stale.sav"), "stale", 0o644);
        let export = home.repository.run_dir("swarm", "ioc1").unwrap();
        write(&export.join(INI_FILE), "exported", 0o444);
        write(&export.join("logs/ioc1.info"), "info", 0o644);
        write(&export.join("logs/autosave/a.sav"), "saved", 0o644);
        write(&export.join("settings/autosave/a.req"), "req", 0o644);
        let other = home.repository.run_dir("otherhost", "ioc2").unwrap();
        write(&other.join("logs/b.sav"), "b", 0o600);

        let path = create(&home.repository, home.backups(), BackupMode::All, None)
            .unwrap()
            .path;
        let stamp = &path.file_name().unwrap().to_str().unwrap()[..STAMP_LEN];
        let entries = listing(&path);
        for expected in [
            "ioc1/project/",
            "ioc1/project/startup/iocBoot/st.cmd",
            "ioc1/project/logs/autosave/a.sav",
            "ioc1/project/settings/autosave/a.req",
            "ioc2/project/logs/b.sav",
        ] {
            let expected = format!("{stamp}/{expected}");
            assert!(entries.contains(&expected), "{expected} in {entries:?}");
        }
        assert!(!entries.iter().any(|entry| entry.contains("stale")));
        assert!(
            !entries
                .iter()
                .any(|entry| entry.ends_with("project/ioc.ini"))
        );

        fs::remove_dir_all(home.root()).unwrap();
        let report = home.restore_file(&path).unwrap();
        assert_eq!(report.restored, ["ioc1", "ioc2"]);
        let restored = tree(&project);
        assert_eq!(
            restored["startup/iocBoot/st.cmd"],
            (b"#!st.cmd\n".to_vec(), 0o555)
        );
        assert_eq!(
            restored["startup/db/ramper.db"],
            (b"record".to_vec(), 0o444)
        );
        assert_eq!(restored["logs/autosave/a.sav"].0, b"saved");
        assert_eq!(restored["settings/autosave/a.req"].0, b"req");
        assert_eq!(restored["logs/ioc1.info"].0, b"info");
        assert!(!restored.contains_key("logs/stale.sav"));
        let other = tree(&home.repository.dir("ioc2").join(PROJECT_DIR));
        assert_eq!(other["logs/b.sav"], (b"b".to_vec(), 0o600));
    }

    #[test]
    fn restores_the_original_tools_archive() {
        let home = Home::new();
        let archive = read_archive(Path::new(FIXTURE)).unwrap();
        assert_eq!(archive.stamp, STAMP);
        assert_eq!(
            archive.ioc_names(),
            ["worker_test_1", "worker_test_2", "worker_test_3"]
        );
        let report = restore(&home.repository, &archive, &mut |_| true).unwrap();
        assert_eq!(report.restored.len(), 3);

        for (name, ioc) in &archive.iocs {
            let dir = home.repository.dir(name);
            assert_eq!(
                fs::read(dir.join(INI_FILE)).unwrap(),
                ioc.file(INI_FILE).unwrap()
            );
            assert_eq!(
                fs::read(dir.join("src/ramper.db")).unwrap(),
                ioc.file("src/ramper.db").unwrap()
            );
            let (mut legacy, format) =
                IocState::from_bytes(ioc.file(STATE_FILE).unwrap(), Path::new(name)).unwrap();
            assert_eq!(format, StateFormat::LegacyPickle);
            legacy.status = Status::Restored;
            assert_eq!(read_state(&home, name), legacy);
        }
        let state = read_state(&home, "worker_test_1");
        assert_eq!(state.health, Health::Normal);
        assert_eq!(state.snapshot, SnapshotState::Untracked);
        assert!(!state.is_exported);
        assert_eq!(
            home.repository
                .load("worker_test_2")
                .get("DEPLOY", "labels"),
            Some("\ntest=true\nrack=a")
        );
    }

    use crate::archive::crafted::{Raw, crafted, file, folder, special};

    fn valid_entries() -> Vec<Raw<'static>> {
        vec![
            folder("20261122000730/"),
            folder("20261122000730/ioc1/"),
            file("20261122000730/ioc1/ioc.ini"),
            file("20261122000730/ioc1/src/a.db"),
        ]
    }

    #[test]
    fn crafted_valid_archive_restores() {
        let home = Home::new();
        let path = home.dir.path().join("valid.ioc.tar.gz");
        fs::write(&path, crafted(&valid_entries())).unwrap();
        let report = home.restore_file(&path).unwrap();
        assert_eq!(report.restored, ["ioc1"]);
        assert_eq!(
            fs::read(home.repository.dir("ioc1").join("src/a.db")).unwrap(),
            b"x"
        );
    }

    #[test]
    fn hostile_archives_are_refused_before_anything_is_written() {
        use tar::EntryType::{Block, Char, Continuous, Fifo, Link, Symlink};
        let cases = [
            (file("20261122000730/ioc1/src/../../../evil"), "\"..\""),
            (file("20261122000730/../evil"), "\"..\""),
            (file("/etc/evil"), "absolute"),
            (file("/20261122000730/ioc1/src/b.db"), "absolute"),
            (
                special("20261122000730/ioc1/src/link", Symlink, "/etc/passwd"),
                "absolute target",
            ),
            (
                special(
                    "20261122000730/ioc1/src/link",
                    Symlink,
                    "../../other/ioc.ini",
                ),
                "leads outside IOC \"ioc1\"",
            ),
            (
                special("20261122000730/ioc1/ioc.ini", Symlink, "src/a.db"),
                "must be a file",
            ),
            (
                special("20261122000730/ioc1/src", Symlink, "project"),
                "must be a folder",
            ),
            (
                special(
                    "20261122000730/ioc1/src/hard",
                    Link,
                    "20261122000730/ioc1/ioc.ini",
                ),
                "hard links are not allowed",
            ),
            (special("20261122000730/ioc1/src/tty", Char, ""), "devices"),
            (special("20261122000730/ioc1/src/sda", Block, ""), "devices"),
            (special("20261122000730/ioc1/src/pipe", Fifo, ""), "fifos"),
            (file("20261122000730/notes.txt"), "outside <stamp>/<ioc>/"),
            (file("backup/ioc1/ioc.ini"), "outside <stamp>/<ioc>/"),
            (
                file("20261122000731/ioc1/src/b.db"),
                "outside <stamp>/<ioc>/",
            ),
            (file("20261122000730/ioc1"), "outside <stamp>/<ioc>/"),
            (
                file("20261122000730/ioc1/notes.txt"),
                "expected only ioc.ini",
            ),
            (file("20261122000730/ioc1/src"), "must be a folder"),
            (folder("20261122000730/ioc1/ioc.ini/"), "must be a file"),
            (file("20261122000730/ioc1/src/a.db"), "appears twice"),
            (
                file("20261122000730/ioc1/src/a.db/b"),
                "below an entry that is a file",
            ),
            (file("20261122000730/bad name/ioc.ini"), "invalid IOC name"),
            (file("20261122000730/../x/ioc.ini"), "\"..\""),
            (
                file("20261122000730/ioc2/src/a.db"),
                "IOC \"ioc2\" has no ioc.ini",
            ),
            (
                special("20261122000730/ioc1/src/c.db", Continuous, ""),
                "unsupported entry type",
            ),
        ];
        for (bad, expected) in cases {
            let home = Home::new();
            home.add_ioc("ioc1", "swarm");
            home.add_ioc("other", "swarm");
            let before = tree(home.root());
            let shown = bad.path.to_owned();
            let mut entries = valid_entries();
            entries.push(bad);
            let path = home.dir.path().join("crafted.ioc.tar.gz");
            fs::write(&path, crafted(&entries)).unwrap();

            let err = home.restore_file(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{shown}: {err}");
            assert!(err.starts_with(&path.display().to_string()), "{err}");
            assert!(!err.contains('\n'), "{err}");
            assert_eq!(tree(home.root()), before, "{shown}");
        }
    }

    #[test]
    fn chained_links_leading_out_are_refused_and_links_inside_restore_as_links() {
        use tar::EntryType::Symlink;
        // Each link on its own stays inside ioc1; through `up`, `chain` leads to the
        // folder above the IOC.
        let chained = [
            special("20261122000730/ioc1/src/up", Symlink, ".."),
            special(
                "20261122000730/ioc1/src/chain",
                Symlink,
                "up/../other/ioc.ini",
            ),
        ];
        let home = Home::new();
        home.add_ioc("other", "swarm");
        let before = tree(home.root());
        let mut entries = valid_entries();
        entries.extend(chained);
        let path = home.dir.path().join("chained.ioc.tar.gz");
        fs::write(&path, crafted(&entries)).unwrap();
        let err = home.restore_file(&path).unwrap_err().to_string();
        assert!(err.contains("ioc1/src/chain"), "{err}");
        assert!(err.contains("leads outside IOC \"ioc1\""), "{err}");
        assert_eq!(tree(home.root()), before, "nothing is written");

        let mut entries = valid_entries();
        entries.push(special("20261122000730/ioc1/src/up", Symlink, ".."));
        entries.push(special(
            "20261122000730/ioc1/src/same.db",
            Symlink,
            "up/src/a.db",
        ));
        fs::write(&path, crafted(&entries)).unwrap();
        home.restore_file(&path).unwrap();
        let src = home.repository.dir("ioc1").join(SRC_DIR);
        assert_eq!(fs::read_link(src.join("up")).unwrap(), Path::new(".."));
        assert_eq!(
            fs::read_link(src.join("same.db")).unwrap(),
            Path::new("up/src/a.db")
        );
    }

    #[test]
    fn restored_modes_lose_world_write_and_set_id_bits() {
        let mode = |mode: u32| Raw {
            mode,
            ..file("20261122000730/ioc1/src/x.db")
        };
        let home = Home::new();
        let mut entries = valid_entries();
        entries.push(mode(0o777));
        entries.push(Raw {
            mode: 0o4755,
            ..file("20261122000730/ioc1/src/setuid")
        });
        entries.push(Raw {
            mode: 0o666,
            ..file("20261122000730/ioc1/src/open.db")
        });
        entries.push(Raw {
            mode: 0o1777,
            ..folder("20261122000730/ioc1/src/shared/")
        });
        let path = home.dir.path().join("modes.ioc.tar.gz");
        fs::write(&path, crafted(&entries)).unwrap();
        home.restore_file(&path).unwrap();
        let restored = tree(&home.repository.dir("ioc1").join(SRC_DIR));
        assert_eq!(restored["x.db"].1, 0o775);
        assert_eq!(restored["setuid"].1, 0o755);
        assert_eq!(restored["open.db"].1, 0o664);
        assert_eq!(restored["shared"].1, 0o775);
        assert_eq!(restored["a.db"].1, 0o644);
    }

    #[test]
    fn damaged_archives_are_refused() {
        let home = Home::new();
        home.add_ioc("ioc1", "swarm");
        let path = create(&home.repository, home.backups(), BackupMode::Src, None)
            .unwrap()
            .path;
        let bytes = fs::read(&path).unwrap();
        let before = tree(home.root());
        let damaged = home.dir.path().join("damaged.ioc.tar.gz");
        for len in 0..bytes.len() {
            fs::write(&damaged, &bytes[..len]).unwrap();
            let err = home.restore_file(&damaged).unwrap_err();
            assert!(
                matches!(err, BackupError::Unreadable { .. }),
                "cut at {len}: {err}"
            );
        }
        fs::write(&damaged, b"not a gzip file at all").unwrap();
        let err = home.restore_file(&damaged).unwrap_err().to_string();
        assert!(err.contains("not a readable .tar.gz archive"), "{err}");
        let err = home
            .restore_file(&home.dir.path().join("missing"))
            .unwrap_err();
        assert!(err.to_string().contains("cannot open archive"), "{err}");
        assert_eq!(tree(home.root()), before);
    }

    #[test]
    fn oversized_archives_are_refused() {
        let home = Home::new();
        let err = read_archive_limited(Path::new(FIXTURE), 4096).unwrap_err();
        assert!(
            matches!(err, BackupError::TooLarge { limit: 4096, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("more than 4096 bytes"), "{err}");
        // The fixture's tar stream is exactly 40960 bytes: the limit is inclusive.
        read_archive_limited(Path::new(FIXTURE), 40960).unwrap();
        assert!(read_archive_limited(Path::new(FIXTURE), 40959).is_err());

        home.add_ioc("ioc1", "swarm");
        for limit in [10, 2048] {
            let err = create_at(
                &home.repository,
                home.backups(),
                BackupMode::Src,
                None,
                local(30),
                limit,
            )
            .unwrap_err();
            assert!(
                matches!(err, BackupError::TooLargeToBackUp { .. }),
                "{limit}: {err}"
            );
        }
        let left = fs::read_dir(home.backups()).map_or(0, Iterator::count);
        assert_eq!(left, 0, "a refused backup leaves no file");
        assert_eq!(size_text(CONTENT_LIMIT), "1 GiB");
    }

    #[test]
    fn existing_iocs_are_skipped_or_replaced() {
        let home = Home::new();
        home.add_ioc("ioc1", "swarm");
        home.add_ioc("ioc2", "swarm");
        let dir = home.repository.dir("ioc1");
        let original_ini = fs::read(dir.join(INI_FILE)).unwrap();
        let original_src = tree(&dir.join(SRC_DIR));
        let src_backup = create_at(
            &home.repository,
            home.backups(),
            BackupMode::Src,
            None,
            local(30),
            CONTENT_LIMIT,
        )
        .unwrap()
        .path;

        // Work done after the backup: edits, a new source, a generated project.
        write(&dir.join(INI_FILE), "[IOC]\nname = changed\n", 0o644);
        write(&dir.join("src/new.db"), "new", 0o644);
        write(&dir.join("project/startup/iocBoot/st.cmd"), "#!", 0o555);
        write(&dir.join("notes.txt"), "kept", 0o644);
        fs::remove_dir_all(home.repository.dir("ioc2")).unwrap();
        let archive = read_archive(&src_backup).unwrap();

        let before = tree(home.root());
        let mut asked = Vec::new();
        let report = restore(&home.repository, &archive, &mut |name| {
            asked.push(name.to_owned());
            false
        })
        .unwrap();
        assert_eq!(asked, ["ioc1"], "only existing IOCs are asked about");
        assert_eq!(report.skipped, ["ioc1"]);
        assert_eq!(report.restored, ["ioc2"]);
        let mut after = tree(home.root());
        after.retain(|path, _| !path.starts_with("ioc2"));
        assert_eq!(after, before, "a skipped IOC is left untouched");

        let all_backup = {
            let report = restore(&home.repository, &archive, &mut |_| true).unwrap();
            assert_eq!(report.restored, ["ioc1", "ioc2"], "{:?}", report.failed);
            assert_eq!(fs::read(dir.join(INI_FILE)).unwrap(), original_ini);
            assert_eq!(tree(&dir.join(SRC_DIR)), original_src);
            assert_eq!(read_state(&home, "ioc1").status, Status::Restored);
            let st_cmd = dir.join("project/startup/iocBoot/st.cmd");
            assert_eq!(
                fs::read(&st_cmd).unwrap(),
                b"#!",
                "generated project/ stays"
            );
            assert_eq!(fs::read(dir.join("notes.txt")).unwrap(), b"kept");
            create_at(
                &home.repository,
                home.backups(),
                BackupMode::All,
                None,
                local(40),
                CONTENT_LIMIT,
            )
            .unwrap()
            .path
        };

        // An archive with project/ brings its own, replacing what is there.
        write(&dir.join("project/startup/extra.db"), "extra", 0o644);
        let report = home.restore_file(&all_backup).unwrap();
        assert_eq!(report.restored, ["ioc1", "ioc2"]);
        assert!(!dir.join("project/startup/extra.db").exists());
        assert!(dir.join("project/startup/iocBoot/st.cmd").exists());
        let hidden: Vec<_> = fs::read_dir(home.root())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".iocdock-") && name != ".iocdock.lock")
            .collect();
        assert!(hidden.is_empty(), "{hidden:?}");
    }

    #[test]
    fn missing_or_unreadable_state_restores_as_created() {
        let home = Home::new();
        home.add_ioc("ioc1", "swarm");
        home.add_ioc("ioc2", "swarm");
        fs::remove_file(home.repository.state_path("ioc1")).unwrap();
        fs::write(home.repository.state_path("ioc2"), b"garbage").unwrap();
        let path = create(&home.repository, home.backups(), BackupMode::Src, None)
            .unwrap()
            .path;
        fs::remove_dir_all(home.root()).unwrap();
        home.restore_file(&path).unwrap();
        let mut expected = IocState::created();
        expected.status = Status::Restored;
        assert_eq!(read_state(&home, "ioc1"), expected);
        assert_eq!(read_state(&home, "ioc2"), expected);
    }

    #[test]
    fn backups_leave_out_what_could_not_be_restored() {
        let home = Home::new();
        let err = create(&home.repository, home.backups(), BackupMode::Src, None).unwrap_err();
        assert!(err.to_string().ends_with("no IOC to back up"), "{err}");
        home.add_ioc("ioc1", "swarm");
        fs::create_dir_all(home.root().join("bad name")).unwrap();
        fs::create_dir_all(home.root().join("noini/src")).unwrap();
        let backup = create(&home.repository, home.backups(), BackupMode::Src, None).unwrap();
        assert_eq!(backup.skipped.len(), 2);
        assert!(
            backup.skipped[0].to_string().contains("invalid IOC name"),
            "{:?}",
            backup.skipped
        );
        assert!(
            matches!(&backup.skipped[1], BackupError::IniMissing { ioc, .. } if ioc == "noini"),
            "{:?}",
            backup.skipped
        );
        let archive = read_archive(&backup.path).unwrap();
        assert_eq!(archive.ioc_names(), vec!["ioc1"]);
    }

    #[test]
    fn links_are_archived_as_links_and_an_unreadable_ioc_is_left_out() {
        use std::os::unix::fs::symlink;
        let home = Home::new();
        home.add_ioc("ioc1", "swarm");
        home.add_ioc("ioc2", "swarm");
        home.add_ioc("ioc3", "swarm");
        let secret = home.dir.path().join("secret.db");
        fs::write(&secret, "secret content").unwrap();
        let src = home.repository.dir("ioc1").join(SRC_DIR);
        symlink(&secret, src.join("shadow.db")).unwrap();
        symlink(home.dir.path(), src.join("outside")).unwrap();
        symlink("missing.db", src.join("dangling.db")).unwrap();
        // Mode all reads the run folder, which the container writes.
        let export = home.repository.run_dir("swarm", "ioc1").unwrap();
        fs::create_dir_all(export.join("logs")).unwrap();
        symlink(&secret, export.join("logs/ioc1.log")).unwrap();
        symlink(home.dir.path(), export.join("settings")).unwrap();
        // ioc2 holds something that is neither file, folder nor link.
        let fifo = home.repository.dir("ioc2").join("src/pipe.db");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();

        let backup = create(&home.repository, home.backups(), BackupMode::All, None).unwrap();
        assert_eq!(backup.skipped.len(), 2, "{:?}", backup.skipped);
        let messages: Vec<String> = backup.skipped.iter().map(|e| e.to_string()).collect();
        assert!(
            messages[0].contains("IOC \"ioc1\"") && messages[0].contains("settings"),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("IOC \"ioc2\"") && messages[1].contains("pipe.db"),
            "{messages:?}"
        );

        // Without the linked settings folder ioc1 is archived: links that stay inside
        // as links, the others left out and named, and no content read through one.
        fs::remove_file(export.join("settings")).unwrap();
        fs::remove_file(&fifo).unwrap();
        fs::write(export.join("logs/ioc1.0.log"), "log").unwrap();
        symlink("ioc1.0.log", export.join("logs/current.log")).unwrap();
        let backup = create(&home.repository, home.backups(), BackupMode::All, None).unwrap();
        let mut left_out: Vec<String> = backup
            .skipped
            .iter()
            .map(|e| match e {
                BackupError::LinkLeftOut { path, .. } => path.display().to_string(),
                other => panic!("{other}"),
            })
            .collect();
        left_out.sort();
        assert_eq!(
            left_out,
            [
                export.join("logs/ioc1.log").display().to_string(),
                src.join("outside").display().to_string(),
                src.join("shadow.db").display().to_string(),
            ]
        );
        let bytes = {
            let mut out = Vec::new();
            GzDecoder::new(File::open(&backup.path).unwrap())
                .read_to_end(&mut out)
                .unwrap();
            out
        };
        assert!(
            !bytes.windows(14).any(|w| w == b"secret content"),
            "the content a link points to is never archived"
        );
        let archive = read_archive(&backup.path).unwrap();
        let ioc1 = &archive.iocs["ioc1"];
        let link = |key: &str| match ioc1.entries.get(key) {
            Some(Node::Symlink { target }) => Some(target.clone()),
            None => None,
            Some(other) => panic!("{key}: {other:?}"),
        };
        assert_eq!(
            link("project/logs/current.log").as_deref(),
            Some("ioc1.0.log")
        );
        assert_eq!(link("src/dangling.db").as_deref(), Some("missing.db"));
        assert_eq!(link("src/shadow.db"), None);
        let mode = fs::metadata(&backup.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(home.backups()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);

        // Restored, the links are links again.
        fs::remove_dir_all(home.root()).unwrap();
        home.restore_file(&backup.path).unwrap();
        let restored = home.repository.dir("ioc1");
        assert_eq!(
            fs::read_link(restored.join("project/logs/current.log")).unwrap(),
            Path::new("ioc1.0.log")
        );
        assert_eq!(
            fs::read_link(restored.join("src/dangling.db")).unwrap(),
            Path::new("missing.db")
        );
    }

    #[test]
    fn backups_in_the_same_second_both_survive() {
        let home = Home::new();
        home.add_ioc("ioc1", "swarm");
        let backup = || {
            create_at(
                &home.repository,
                home.backups(),
                BackupMode::Src,
                None,
                local(30),
                CONTENT_LIMIT,
            )
            .unwrap()
            .path
        };
        let first = backup();
        let second = backup();
        assert_eq!(first, home.backups().join("20261122000730.ioc.tar.gz"));
        assert_eq!(second, home.backups().join("20261122000730-2.ioc.tar.gz"));
        // Something else holding the next name is never replaced either.
        fs::write(
            home.backups().join("20261122000730-3.ioc.tar.gz"),
            "foreign",
        )
        .unwrap();
        let third = backup();
        assert_eq!(third, home.backups().join("20261122000730-4.ioc.tar.gz"));
        assert_eq!(
            fs::read(home.backups().join("20261122000730-3.ioc.tar.gz")).unwrap(),
            b"foreign"
        );
        // Every one says the second it was made, inside as in its name.
        for path in [&first, &second, &third] {
            assert_eq!(read_archive(path).unwrap().stamp, "20261122000730");
        }
        assert_eq!(fs::read_dir(home.backups()).unwrap().count(), 4);
        // The next second starts without a number again, and sorts after them all.
        let later = create_at(
            &home.repository,
            home.backups(),
            BackupMode::Src,
            None,
            local(31),
            CONTENT_LIMIT,
        )
        .unwrap()
        .path;
        assert_eq!(later, home.backups().join("20261122000731.ioc.tar.gz"));
        let pruned = prune(home.backups(), 2).unwrap();
        assert_eq!(
            pruned,
            [
                first,
                second,
                home.backups().join("20261122000730-3.ioc.tar.gz")
            ]
        );
    }

    #[test]
    fn prune_keeps_the_newest_archives_only() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "20250101000000.ioc.tar.gz",
            "20261122000730-10.ioc.tar.gz",
            "20261122000730.ioc.tar.gz",
            "20240101000000.ioc.tar.gz",
            "20261122000730-2.ioc.tar.gz",
            "20230101000000.ioc.tar.gz",
        ];
        let others = [
            "notes.txt",
            "2026.ioc.tar.gz",
            "20261122000730.ioc.tar.gz.bak",
            "20261122000730.swarm.tar.gz",
            "20261122000730-1.ioc.tar.gz",
            "20261122000730-02.ioc.tar.gz",
            "20261122000730-.ioc.tar.gz",
            "20261122000730-x.ioc.tar.gz",
            ".iocdock-backup-x.tmp",
        ];
        for name in names.iter().chain(&others) {
            fs::write(dir.path().join(name), name).unwrap();
        }
        fs::create_dir(dir.path().join("20200101000000.ioc.tar.gz")).unwrap();

        let removed = prune(dir.path(), 2).unwrap();
        let removed: Vec<_> = removed
            .iter()
            .map(|path| path.file_name().unwrap().to_str().unwrap())
            .collect();
        // Within one second by number: -10 is the newest.
        assert_eq!(
            removed,
            [
                "20230101000000.ioc.tar.gz",
                "20240101000000.ioc.tar.gz",
                "20250101000000.ioc.tar.gz",
                "20261122000730.ioc.tar.gz"
            ]
        );
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected: Vec<_> = others
            .iter()
            .chain(&[
                "20200101000000.ioc.tar.gz",
                "20261122000730-2.ioc.tar.gz",
                "20261122000730-10.ioc.tar.gz",
            ])
            .map(|name| name.to_string())
            .collect();
        expected.sort();
        assert_eq!(left, expected);

        assert!(prune(dir.path(), 5).unwrap().is_empty());
        assert!(prune(&dir.path().join("missing"), 1).unwrap().is_empty());
    }
}
