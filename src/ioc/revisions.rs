//! Revisions of an IOC: what each accepted deploy or update of its service ran (the
//! ioc.ini, the generated startup files and the service file), with when, who and
//! which command, so `service NAME --history` can show what changed and `--rollback`
//! can put an earlier one back.
//!
//! Layout: `$REPOSITORY_PATH/<name>/.revisions/<N>/` holding `ioc.ini`, `startup/`
//! (a copy of `project/startup`), `compose-swarm.yaml` and `revision.json` (time in
//! UTC, user, command, note). In the repository, never in the run folder: containers
//! write the run folder, and what a rollback deploys must not be theirs to change.
//! The folder is root-only (0700) like the service files it holds.
//!
//! Rules:
//! - A revision is written in a staged folder and renamed into place, so a crash
//!   leaves none or a whole one; numbers only grow (the next is the newest + 1).
//! - A deploy whose files are byte for byte the newest revision's records nothing.
//! - Only the newest `keep` revisions stay (settings `ioc_revisions_kept`).
//! - A revision folder is untrusted when read back (a backup may have brought it):
//!   only folders and regular files count, a link anywhere makes it unusable, and
//!   its entries are numbers or they are ignored.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::fsutil::{self, FsError, IoContext, StagedDir};
use crate::ioc::repository::{
    INI_FILE, INI_MODE, PROJECT_DIR, Repository, RepositoryError, SERVICE_FILE,
};
use crate::schema::ioc_name as name;

/// The folder of an IOC's revisions, inside its repository folder.
pub(crate) const REVISIONS_DIR: &str = ".revisions";
const META_FILE: &str = "revision.json";
const STARTUP_DIR: &str = "startup";
/// Revisions hold service files, which only root reads.
const REVISIONS_DIR_MODE: u32 = 0o700;
const STORED_MODE: u32 = 0o400;
const SERVICE_DIR_MODE: u32 = 0o700;
/// A revision's files are read whole into memory; a larger file is refused.
const FILE_LIMIT: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub(crate) enum RevisionError {
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Path(#[from] fsutil::PathError),
    #[error(
        "\"{text}\" is not a revision number (expected a whole number such as 3, as --history lists them)"
    )]
    BadNumber { text: String },
    #[error(
        "IOC \"{ioc}\" has no revision {number} (it has {})",
        existing_text(existing)
    )]
    NoSuchRevision {
        ioc: String,
        number: u64,
        existing: Vec<u64>,
    },
    #[error(
        "IOC \"{ioc}\" has no revision before revision {newest} to roll back to (name one: it has {})",
        existing_text(existing)
    )]
    NothingBefore {
        ioc: String,
        newest: u64,
        existing: Vec<u64>,
    },
    #[error(
        "IOC \"{ioc}\" has no revisions: one is recorded by each deploy or update of its service (iocdock service {ioc} --deploy)"
    )]
    NoRevisions { ioc: String },
    #[error(
        "IOC \"{ioc}\": revision {number} is of IOC \"{named}\" (its ioc.ini says so; the IOC was renamed since), so it is not rolled back to"
    )]
    OtherIoc {
        ioc: String,
        number: u64,
        named: String,
    },
    #[error("IOC \"{ioc}\": revision {number} cannot be used: {} {problem}", path.display())]
    Unusable {
        ioc: String,
        number: u64,
        path: PathBuf,
        problem: String,
    },
    #[error("IOC \"{ioc}\": {} {problem}", path.display())]
    Current {
        ioc: String,
        path: PathBuf,
        problem: String,
    },
}

fn existing_text(existing: &[u64]) -> String {
    if existing.is_empty() {
        return "none".to_string();
    }
    let numbers: Vec<String> = existing.iter().map(u64::to_string).collect();
    numbers.join(", ")
}

/// Who recorded a revision, when and with which command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Meta {
    /// RFC 3339, UTC.
    pub(crate) time: String,
    pub(crate) user: String,
    pub(crate) command: String,
    /// Why it was recorded when it was not a plain deploy (a rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

impl Meta {
    pub(crate) fn new(time: DateTime<Utc>, user: &str, command: &str) -> Meta {
        Meta {
            time: time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            user: user.to_string(),
            command: command.to_string(),
            note: None,
        }
    }

    pub(crate) fn with_note(mut self, note: impl Into<String>) -> Meta {
        self.note = Some(note.into());
        self
    }
}

/// The files a revision holds, in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Content {
    pub(crate) ini: Vec<u8>,
    /// By path relative to the startup folder.
    pub(crate) startup: BTreeMap<PathBuf, StartupFile>,
    /// None when the IOC had no service file.
    pub(crate) service: Option<Vec<u8>>,
}

impl Content {
    /// Every file by the name history shows it under.
    fn files(&self) -> BTreeMap<String, &[u8]> {
        let mut files = BTreeMap::new();
        files.insert(INI_FILE.to_string(), self.ini.as_slice());
        for (path, file) in &self.startup {
            files.insert(
                format!("{STARTUP_DIR}/{}", path.display()),
                file.bytes.as_slice(),
            );
        }
        if let Some(service) = &self.service {
            files.insert(SERVICE_FILE.to_string(), service.as_slice());
        }
        files
    }

    /// The `[IOC] name` of its ioc.ini, if it has one that parses.
    fn ioc_name(&self) -> Option<String> {
        let text = std::str::from_utf8(&self.ini).ok()?;
        let doc = crate::ini::IniDocument::parse(text, Path::new(INI_FILE)).ok()?;
        doc.get(crate::ioc::config::IOC, "name").map(str::to_string)
    }
}

/// One startup file: st.cmd is executable, so the mode is part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartupFile {
    pub(crate) bytes: Vec<u8>,
    pub(crate) mode: u32,
}

/// The mode a startup file gets back: its own, without write for group and others
/// and without setuid or setgid (a revision may come from a backup archive).
fn restored_mode(stored: u32) -> u32 {
    stored & 0o755
}

/// One revision as read back.
#[derive(Debug, Clone)]
pub(crate) struct Revision {
    pub(crate) number: u64,
    pub(crate) meta: Meta,
    pub(crate) content: Content,
}

/// What recording did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// A new revision, and the old ones deleted to keep the limit.
    New { number: u64, pruned: Vec<u64> },
    /// The files are the newest revision's: nothing new.
    Unchanged { number: u64 },
}

/// How one file differs between a revision and the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileChange {
    Added { file: String },
    Removed { file: String },
    Changed { file: String, diff: String },
}

impl FileChange {
    pub(crate) fn summary(&self) -> String {
        match self {
            FileChange::Added { file } => format!("added {file}"),
            FileChange::Removed { file } => format!("removed {file}"),
            FileChange::Changed { file, .. } => format!("changed {file}"),
        }
    }
}

/// One block of `--history`: a revision and what changed against the one before it
/// (None for the oldest one kept).
#[derive(Debug, Clone)]
pub(crate) struct HistoryEntry {
    pub(crate) number: u64,
    pub(crate) meta: Meta,
    pub(crate) files: usize,
    pub(crate) changes: Option<Vec<FileChange>>,
}

/// A revision number as an operator types it: digits only, no sign, at least 1.
pub(crate) fn parse_number(text: &str) -> Result<u64, RevisionError> {
    let bad = || RevisionError::BadNumber {
        text: text.escape_default().to_string(),
    };
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u64>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n),
    }
}

/// The number a folder of revisions is named by: canonical decimal only, so `01` or
/// `+1` (made by hand) never counts twice.
fn folder_number(name: &str) -> Option<u64> {
    let n = parse_number(name).ok()?;
    (n.to_string() == name).then_some(n)
}

/// The number the next revision gets.
pub(crate) fn next_number(existing: &[u64]) -> u64 {
    existing.iter().max().map_or(1, |n| n.saturating_add(1))
}

/// The revisions to delete so that `keep` stay, the oldest first.
pub(crate) fn to_prune(existing: &[u64], keep: usize) -> Vec<u64> {
    let mut sorted = existing.to_vec();
    sorted.sort_unstable();
    let excess = sorted.len().saturating_sub(keep.max(1));
    sorted.truncate(excess);
    sorted
}

/// What changed from `before` to `after`, file by file, with a unified diff of each
/// changed text file.
pub(crate) fn changes(before: &Content, after: &Content, old: u64, new: u64) -> Vec<FileChange> {
    let (before, after) = (before.files(), after.files());
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for file in names {
        match (before.get(file), after.get(file)) {
            (None, Some(_)) => out.push(FileChange::Added { file: file.clone() }),
            (Some(_), None) => out.push(FileChange::Removed { file: file.clone() }),
            (Some(a), Some(b)) if a != b => out.push(FileChange::Changed {
                file: file.clone(),
                diff: diff_text(file, a, b, old, new),
            }),
            _ => {}
        }
    }
    out
}

fn diff_text(file: &str, before: &[u8], after: &[u8], old: u64, new: u64) -> String {
    match (std::str::from_utf8(before), std::str::from_utf8(after)) {
        (Ok(a), Ok(b)) => similar::TextDiff::from_lines(a, b)
            .unified_diff()
            .context_radius(2)
            .header(
                &format!("{file} (revision {old})"),
                &format!("{file} (revision {new})"),
            )
            .to_string(),
        _ => format!("{file}: binary content differs\n"),
    }
}

/// `$REPOSITORY_PATH/<name>/.revisions`, for reading.
fn revisions_dir(repository: &Repository, name: &str) -> PathBuf {
    repository.dir(name).join(REVISIONS_DIR)
}

/// `revisions_dir` for writing or deleting: the name checked, no link on the way.
fn revisions_dir_checked(repository: &Repository, name: &str) -> Result<PathBuf, RevisionError> {
    name::validate(name).map_err(RepositoryError::from)?;
    Ok(fsutil::path_below(
        &repository.paths().repository,
        &[name, REVISIONS_DIR],
    )?)
}

/// The numbers of the IOC's revisions, oldest first. Entries that are not real
/// folders named by a number (a link, a leftover of an interrupted write) are not
/// revisions.
pub(crate) fn numbers(repository: &Repository, name: &str) -> Result<Vec<u64>, RevisionError> {
    let dir = revisions_dir(repository, name);
    match fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(RevisionError::Current {
                ioc: name.to_string(),
                path: dir,
                problem: "is not a folder (a link or a file in its place)".to_string(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at(&dir, "cannot read").map_err(Into::into),
    }
    let mut found = Vec::new();
    for entry in fs::read_dir(&dir).at(&dir, "cannot read folder")? {
        let entry = entry.at(&dir, "cannot read folder")?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if let (true, Some(number)) = (is_dir, entry.file_name().to_str().and_then(folder_number)) {
            found.push(number);
        }
    }
    found.sort_unstable();
    Ok(found)
}

fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    fsutil::read_small_capped(path, FILE_LIMIT)
}

/// The regular files below `dir` (none when it does not exist); None when it holds
/// anything else (a link, a fifo).
fn read_tree(dir: &Path) -> Result<Option<BTreeMap<PathBuf, StartupFile>>, FsError> {
    use std::os::unix::fs::PermissionsExt;
    let Some(files) = fsutil::plain_files_below(dir) else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for (relative, path) in files {
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Ok(None);
        }
        let bytes = read_file(&path).at(&path, "cannot read")?;
        let mode = fs::symlink_metadata(&path)
            .at(&path, "cannot read")?
            .permissions()
            .mode()
            & 0o777;
        out.insert(relative, StartupFile { bytes, mode });
    }
    Ok(Some(out))
}

/// The files the IOC has now: its ioc.ini, `project/startup` and its service file.
pub(crate) fn current(repository: &Repository, name: &str) -> Result<Content, RevisionError> {
    let problem = |path: PathBuf, problem: &str| RevisionError::Current {
        ioc: name.to_string(),
        path,
        problem: problem.to_string(),
    };
    let dir = repository.dir(name);
    if !repository.exists(name) {
        return Err(RepositoryError::Missing(name.to_string()).into());
    }
    let ini_path = dir.join(INI_FILE);
    let ini = read_file(&ini_path).at(&ini_path, "cannot read")?;
    let startup_dir = dir.join(PROJECT_DIR).join(STARTUP_DIR);
    let startup = read_tree(&startup_dir)?.ok_or_else(|| {
        problem(
            startup_dir,
            "holds something else than folders and files (a link?)",
        )
    })?;
    let service_path = repository.service_file(name);
    let service = match read_file(&service_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).at(&service_path, "cannot read").map_err(Into::into),
    };
    Ok(Content {
        ini,
        startup,
        service,
    })
}

/// Reads revision `number` of IOC `name`, checking it as untrusted.
pub(crate) fn read(
    repository: &Repository,
    name: &str,
    number: u64,
) -> Result<Revision, RevisionError> {
    let dir = revisions_dir(repository, name).join(number.to_string());
    let unusable = |path: PathBuf, problem: String| RevisionError::Unusable {
        ioc: name.to_string(),
        number,
        path,
        problem,
    };
    let io_problem =
        |path: &Path, e: io::Error| unusable(path.to_path_buf(), format!("cannot be read: {e}"));
    if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Err(RevisionError::NoSuchRevision {
            ioc: name.to_string(),
            number,
            existing: numbers(repository, name)?,
        });
    }
    let meta_path = dir.join(META_FILE);
    let meta_bytes = read_file(&meta_path).map_err(|e| io_problem(&meta_path, e))?;
    let meta: Meta = serde_json::from_slice(&meta_bytes)
        .map_err(|e| unusable(meta_path.clone(), format!("is not a revision record: {e}")))?;
    let ini_path = dir.join(INI_FILE);
    let ini = read_file(&ini_path).map_err(|e| io_problem(&ini_path, e))?;
    let startup_dir = dir.join(STARTUP_DIR);
    let startup = read_tree(&startup_dir)?.ok_or_else(|| {
        unusable(
            startup_dir,
            "holds something else than folders and files (a link?)".to_string(),
        )
    })?;
    let service_path = dir.join(SERVICE_FILE);
    let service = match read_file(&service_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_problem(&service_path, e)),
    };
    Ok(Revision {
        number,
        meta,
        content: Content {
            ini,
            startup,
            service,
        },
    })
}

/// Records the IOC's files as they are now as a new revision, unless they are the
/// newest revision's; then deletes the oldest beyond `keep`.
pub(crate) fn record(
    repository: &Repository,
    name: &str,
    meta: &Meta,
    keep: usize,
) -> Result<Recorded, RevisionError> {
    let content = current(repository, name)?;
    record_content(repository, name, &content, meta, keep)
}

fn record_content(
    repository: &Repository,
    name: &str,
    content: &Content,
    meta: &Meta,
    keep: usize,
) -> Result<Recorded, RevisionError> {
    let existing = numbers(repository, name)?;
    if let Some(&newest) = existing.last()
        && read(repository, name, newest).is_ok_and(|r| r.content == *content)
    {
        return Ok(Recorded::Unchanged { number: newest });
    }
    let dir = revisions_dir_checked(repository, name)?;
    fsutil::private_dir(&dir, REVISIONS_DIR_MODE)?;
    clear_staged(&dir);
    let number = next_number(&existing);
    let target = dir.join(number.to_string());
    let staged = StagedDir::new(&target)?;
    write_content(staged.path(), content, meta)?;
    staged.commit()?;
    let mut pruned = Vec::new();
    let mut all = existing;
    all.push(number);
    for old in to_prune(&all, keep) {
        let path = dir.join(old.to_string());
        fsutil::remove_dir_atomically(&path)?;
        pruned.push(old);
    }
    Ok(Recorded::New { number, pruned })
}

/// Deletes what an interrupted recording left (a staged folder under a hidden name);
/// the caller holds the repository lock, so no other recording is under way.
fn clear_staged(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && entry.file_name().to_string_lossy().starts_with(".iocdock-") {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn write_content(root: &Path, content: &Content, meta: &Meta) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    let write = |path: &Path, bytes: &[u8], mode: u32| -> Result<(), FsError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .at(path, "cannot create")?;
        file.write_all(bytes).at(path, "cannot write")?;
        // The umask must not take bits away from st.cmd.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .at(path, "cannot set permissions")
    };
    let meta_json = serde_json::to_vec_pretty(meta).unwrap_or_default();
    write(&root.join(INI_FILE), &content.ini, STORED_MODE)?;
    if let Some(service) = &content.service {
        write(&root.join(SERVICE_FILE), service, STORED_MODE)?;
    }
    let startup = root.join(STARTUP_DIR);
    fs::create_dir(&startup).at(&startup, "cannot create folder")?;
    for (relative, file) in &content.startup {
        let path = startup.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).at(parent, "cannot create folder")?;
        }
        write(&path, &file.bytes, file.mode)?;
    }
    // Last: a revision is complete once its record is there.
    write(&root.join(META_FILE), &meta_json, STORED_MODE)
}

/// The IOC's revisions, newest first, each with what changed against the one before.
pub(crate) fn history(
    repository: &Repository,
    name: &str,
) -> Result<Vec<HistoryEntry>, RevisionError> {
    let existing = numbers(repository, name)?;
    let mut revisions = Vec::with_capacity(existing.len());
    for number in existing {
        revisions.push(read(repository, name, number)?);
    }
    let mut out = Vec::with_capacity(revisions.len());
    for (i, revision) in revisions.iter().enumerate().rev() {
        let changes = i.checked_sub(1).map(|before| {
            let before = &revisions[before];
            changes(
                &before.content,
                &revision.content,
                before.number,
                revision.number,
            )
        });
        out.push(HistoryEntry {
            number: revision.number,
            meta: revision.meta.clone(),
            files: revision.content.files().len(),
            changes,
        });
    }
    Ok(out)
}

/// The revision a rollback goes to: `asked`, or the one before the newest. It must
/// exist and be of this IOC (after a rename, older revisions name the old IOC).
pub(crate) fn rollback_target(
    repository: &Repository,
    name: &str,
    asked: Option<u64>,
) -> Result<Revision, RevisionError> {
    let existing = numbers(repository, name)?;
    let Some(&newest) = existing.last() else {
        return Err(RevisionError::NoRevisions {
            ioc: name.to_string(),
        });
    };
    let number = match asked {
        Some(n) if existing.contains(&n) => n,
        Some(n) => {
            return Err(RevisionError::NoSuchRevision {
                ioc: name.to_string(),
                number: n,
                existing,
            });
        }
        None => match existing.iter().rev().nth(1) {
            Some(&before) => before,
            None => {
                return Err(RevisionError::NothingBefore {
                    ioc: name.to_string(),
                    newest,
                    existing,
                });
            }
        },
    };
    let revision = read(repository, name, number)?;
    match revision.content.ioc_name() {
        Some(named) if named == name => Ok(revision),
        Some(named) => Err(RevisionError::OtherIoc {
            ioc: name.to_string(),
            number,
            named,
        }),
        None => Err(RevisionError::Unusable {
            ioc: name.to_string(),
            number,
            path: revisions_dir(repository, name)
                .join(number.to_string())
                .join(INI_FILE),
            problem: "has no [IOC] name (not an ioc.ini iocdock wrote)".to_string(),
        }),
    }
}

/// Puts the files of `revision` back in the repository: ioc.ini, `project/startup`
/// (swapped in whole) and the service file. The run folder is the export's to update.
pub(crate) fn restore(
    repository: &Repository,
    name: &str,
    revision: &Revision,
) -> Result<(), RevisionError> {
    let content = &revision.content;
    let dir = repository.dir_checked(name)?;
    let startup = fsutil::path_below(
        &repository.paths().repository,
        &[name, PROJECT_DIR, STARTUP_DIR],
    )?;
    fsutil::replace_dir::<FsError>(&startup, |staged| {
        for (relative, file) in &content.startup {
            let path = staged.join(relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).at(parent, "cannot create folder")?;
            }
            fsutil::atomic_write(&path, &file.bytes, restored_mode(file.mode))?;
        }
        Ok(())
    })?;
    if let Some(service) = &content.service {
        let service_dir = repository.service_file_dir_checked(name)?;
        if let Some(parent) = service_dir.parent() {
            fsutil::private_dir(parent, SERVICE_DIR_MODE)?;
        }
        fsutil::private_dir(&service_dir, SERVICE_DIR_MODE)?;
        fsutil::atomic_write(&repository.service_file(name), service, STORED_MODE)?;
    }
    // ioc.ini last: the IOC's own file says which revision it is at.
    fsutil::atomic_write(&dir.join(INI_FILE), &content.ini, INI_MODE)?;
    Ok(())
}

#[cfg(test)]
mod tests;
