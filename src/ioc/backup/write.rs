//! Writing an IOC archive: every IOC read into memory without following a link,
//! then written in one go under a free name.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use tempfile::NamedTempFile;

use super::{
    ARCHIVE_SUFFIX, Archive, ArchivedIoc, Backup, BackupError, BackupMode, CONTENT_LIMIT, DIR_MODE,
    Node, PlannedBackup, escaping_links, link_problem,
};
use crate::archive::{self, ArchiveError};
use crate::fsutil::nofollow::{self, Found};
use crate::fsutil::{FsError, IoContext};
use crate::ioc::repository::{INI_FILE, PROJECT_DIR, Repository, SRC_DIR, STATE_FILE};
use crate::ioc::revisions::REVISIONS_DIR;
use crate::schema::ioc_name as name;

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
    let path = archive::first_free_name(dest_dir, now, ARCHIVE_SUFFIX)
        .unwrap_or_else(|| dest_dir.join(""));
    let archive = Archive {
        stamp: now.format(archive::STAMP_FORMAT).to_string(),
        iocs,
    };
    Ok(PlannedBackup {
        path,
        members: archive.members(),
        skipped,
    })
}

pub(super) fn create_at(
    repository: &Repository,
    dest_dir: &Path,
    mode: BackupMode,
    only: Option<&[String]>,
    now: DateTime<Local>,
    limit: u64,
) -> Result<Backup, BackupError> {
    let (iocs, skipped) = collect(repository, mode, only, dest_dir, limit)?;
    let archive = Archive {
        stamp: now.format(archive::STAMP_FORMAT).to_string(),
        iocs,
    };
    archive::create_private_dir(dest_dir)?;
    let mtime = u64::try_from(now.timestamp()).unwrap_or(0);
    // Skipping the visibly taken names saves building an archive that cannot be kept;
    // persisting settles a race with a backup running in parallel.
    let path = archive::first_free_name(dest_dir, now, ARCHIVE_SUFFIX)
        .ok_or_else(|| archive::no_free_name(dest_dir, now, ARCHIVE_SUFFIX))?;
    let temp = write_temp(&archive, dest_dir, &path, mtime, limit)?;
    let path = archive::persist_free_name(temp, dest_dir, now, ARCHIVE_SUFFIX)?;
    Ok(Backup { path, skipped })
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
    // The revisions go in every mode: without them a restored IOC could not be
    // rolled back to what ran before the backup.
    let mut trees = vec![
        (SRC_DIR.to_owned(), dir.clone(), vec![SRC_DIR]),
        (REVISIONS_DIR.to_owned(), dir.clone(), vec![REVISIONS_DIR]),
    ];
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
    let write_error = |source| ArchiveError::Write {
        archive: path.to_path_buf(),
        cause: source,
    };
    let Counted {
        inner: encoder,
        count,
    } = write_tar(archive, Counted::new(archive::gz_writer(&temp)), mtime).map_err(write_error)?;
    // File content was limited while reading; this adds the headers to the count.
    if count > limit {
        return Err(BackupError::TooLargeToBackUp {
            dir: dest_dir.to_path_buf(),
            limit,
        });
    }
    // An archive holds every IOC's files, the run folders' logs and settings
    // included: `finish` makes it private.
    archive::finish(encoder, &temp, path)?;
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
