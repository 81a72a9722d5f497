//! IOC backups (SPEC §6 `exec -b/--gen-backup-file`, `exec -r/--restore-backup-file`).
//!
//! An archive is `<YYYYmmddHHMMSS>.ioc.tar.gz` holding one top folder of the same
//! stamp and, per IOC, `<stamp>/<name>/` with `ioc.ini`, the state file `.info.ini`,
//! `src/`, the revisions `.revisions/` (see `ioc::revisions`) and (mode all)
//! `project/{startup,logs,settings}` — the layout the original tool wrote, plus the
//! revisions, so its archives (with their pickled states) restore here.
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
//!   `<stamp>/<ioc>/{ioc.ini,.info.ini,src/,project/,.revisions/}` are accepted, every IOC needs an
//!   ioc.ini, and an archive without any IOC is refused as not being an IOC backup.
//!   For the same reason `create` refuses an IOC folder without ioc.ini or with an
//!   invalid name, and an empty repository, naming what to fix, rather than write an
//!   archive that restore would refuse.
//! - Restoring an existing IOC replaces what the archive brings (ioc.ini, state, src/,
//!   and project/ when archived) and keeps everything else of the IOC folder, notably
//!   the generated project/ when the archive has none.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::archive::{ArchiveError, LinkEscape, resolve_link, size_text};
use crate::fsutil::{FsError, IoContext};
use crate::ioc::repository::{PROJECT_DIR, Repository, SRC_DIR, STATE_FILE};
use crate::schema::ioc_name::InvalidName;

mod read;
mod restore;
mod write;

pub(crate) use read::read_archive;
pub(crate) use restore::restore;
pub(crate) use write::{create, plan};

pub(crate) const ARCHIVE_SUFFIX: &str = ".ioc.tar.gz";

/// Most bytes of unpacked tar stream an archive may hold (see the module notes).
pub(crate) const CONTENT_LIMIT: u64 = 1 << 30;

const DIR_MODE: u32 = 0o755;

/// Why an archive larger than [`CONTENT_LIMIT`] is refused.
const TOO_LARGE: &str =
    "archives are checked in memory before restoring, so larger ones are refused";

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
    #[error(transparent)]
    Archive(#[from] ArchiveError),
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

#[cfg(test)]
mod tests;
