//! File-system primitives every repository write goes through: atomic replacement of
//! a file, atomic appearance of a folder, and the repository lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

mod confine;
pub(crate) mod leftovers;
pub(crate) mod nofollow;
mod tree;
pub(crate) use confine::{PathError, join_names, path_below};
#[cfg(test)]
pub(crate) use tree::files_below;
pub(crate) use tree::{copy_holds, is_current_copy, plain_files_below, same_tree};

/// Error of a file-system step, carrying the path it concerned so the one-line message
/// tells the operator which file to look at. The OS error is part of the message and
/// not a `source()`, so an error chain printed with `{:#}` does not repeat it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {action}: {cause}", path.display())]
pub(crate) struct FsError {
    pub(crate) path: PathBuf,
    pub(crate) action: &'static str,
    pub(crate) cause: io::Error,
}

pub(crate) trait IoContext<T> {
    fn at(self, path: &Path, action: &'static str) -> Result<T, FsError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path, action: &'static str) -> Result<T, FsError> {
        self.map_err(|source| FsError {
            path: path.to_path_buf(),
            action,
            cause: source,
        })
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `contents` so that a reader (or a crash) sees either the old
/// file or the new one, never a torn one: the data goes to a temporary file in the
/// same folder, gets its final mode, and is renamed over the target.
pub(crate) fn atomic_write(path: &Path, contents: &[u8], mode: u32) -> Result<(), FsError> {
    atomic_write_timed(path, contents, mode, None)
}

/// `atomic_write` that also gives the file a modification time (a copy keeps its
/// source's, which the quick check of `same_tree` relies on).
fn atomic_write_timed(
    path: &Path,
    contents: &[u8],
    mode: u32,
    modified: Option<SystemTime>,
) -> Result<(), FsError> {
    let dir = parent_of(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".iocdock-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .at(path, "cannot create a temporary file beside it")?;
    temp.write_all(contents).at(path, "cannot write")?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .at(path, "cannot set permissions")?;
    if let Some(modified) = modified {
        temp.as_file()
            .set_modified(modified)
            .at(path, "cannot set modification time")?;
    }
    temp.persist(path)
        .map_err(|e| e.error)
        .at(path, "cannot replace")?;
    Ok(())
}

/// A folder that is filled under a hidden temporary name and appears under its final
/// name in one rename, so a half-made IOC project never shows in the repository.
pub(crate) struct StagedDir {
    temp: Option<tempfile::TempDir>,
    target: PathBuf,
}

impl StagedDir {
    pub(crate) fn new(target: &Path) -> Result<Self, FsError> {
        let dir = parent_of(target);
        fs::create_dir_all(dir).at(dir, "cannot create folder")?;
        let temp = tempfile::Builder::new()
            .prefix(&leftovers::prefix_for(leftovers::NEW, target))
            .tempdir_in(dir)
            .at(target, "cannot create a temporary folder beside it")?;
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o755))
            .at(temp.path(), "cannot set permissions")?;
        Ok(StagedDir {
            temp: Some(temp),
            target: target.to_path_buf(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        self.temp.as_ref().map_or(&self.target, |t| t.path())
    }

    /// Moves the folder to its final name; fails rather than replace an existing one.
    pub(crate) fn commit(mut self) -> Result<(), FsError> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        if self.target.exists() {
            return Err(FsError {
                path: self.target.clone(),
                action: "cannot create",
                cause: io::Error::from(io::ErrorKind::AlreadyExists),
            });
        }
        let staged = temp.keep();
        fs::rename(&staged, &self.target).map_err(|source| {
            let _ = fs::remove_dir_all(&staged);
            FsError {
                path: self.target.clone(),
                action: "cannot create",
                cause: source,
            }
        })
    }

    /// Puts the folder in place of an existing one. std offers no atomic exchange of
    /// two folders, so it takes two renames: the old folder moves into a hidden folder
    /// beside it, the staged one takes its name, then the old one is deleted. If the
    /// second rename fails the old folder is moved back. A crash between the two
    /// renames leaves the old folder whole under `.iocdock-replaced-<name>-*/<name>`,
    /// never a mix of old and new files.
    pub(crate) fn replace(mut self) -> Result<(), FsError> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        let name = self.target.file_name().unwrap_or_default().to_os_string();
        let aside = tempfile::Builder::new()
            .prefix(&leftovers::prefix_for(leftovers::REPLACED, &self.target))
            .tempdir_in(parent_of(&self.target))
            .at(&self.target, "cannot prepare replacement")?;
        let old = aside.path().join(&name);
        fs::rename(&self.target, &old).at(&self.target, "cannot move aside")?;
        let staged = temp.keep();
        if let Err(source) = fs::rename(&staged, &self.target) {
            let _ = fs::rename(&old, &self.target);
            let _ = fs::remove_dir_all(&staged);
            return Err(FsError {
                path: self.target.clone(),
                action: "cannot replace",
                cause: source,
            });
        }
        // The new folder is in place: a failure to delete the old one leaves only a
        // hidden folder behind, which is no reason to report the replacement failed.
        let _ = aside.close();
        Ok(())
    }
}

/// Makes sure `dir` is a folder with exactly `mode` (its parent must exist): created
/// with it, or given it when it has another.
pub(crate) fn private_dir(dir: &Path, mode: u32) -> Result<(), FsError> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).at(dir, "cannot create folder"),
    }
    let metadata = fs::metadata(dir).at(dir, "cannot read")?;
    // The umask may have taken bits away on creation, and an older folder may have more.
    if metadata.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .at(dir, "cannot set permissions")?;
    }
    Ok(())
}

/// Removes a folder so that it disappears in one step: it is first renamed to a
/// hidden name beside itself, then deleted. An interrupted removal leaves only a
/// hidden folder that no listing shows.
pub(crate) fn remove_dir_atomically(dir: &Path) -> Result<(), FsError> {
    let parent = parent_of(dir);
    let trash = tempfile::Builder::new()
        .prefix(&leftovers::prefix_for(leftovers::REMOVED, dir))
        .tempdir_in(parent)
        .at(dir, "cannot prepare removal")?;
    let trash_path = trash.keep();
    let target = trash_path.join(leftovers::INSIDE);
    fs::rename(dir, &target).at(dir, "cannot remove")?;
    fs::remove_dir_all(&trash_path).at(dir, "cannot remove")
}

/// Like `atomic_write`, but leaves the file alone (returning false) when it already
/// holds exactly these bytes with this mode: re-running an action on unchanged IOCs
/// then costs reads only, and files keep their times.
pub(crate) fn write_if_changed(path: &Path, contents: &[u8], mode: u32) -> Result<bool, FsError> {
    write_if_changed_timed(path, contents, mode, None)
}

/// `write_if_changed` for a copy that is to carry `modified`, its source's time: a
/// file with the right bytes and mode but another time gets the time.
pub(crate) fn write_if_changed_timed(
    path: &Path,
    contents: &[u8],
    mode: u32,
    modified: Option<SystemTime>,
) -> Result<bool, FsError> {
    let Ok(metadata) = fs::symlink_metadata(path) else {
        atomic_write_timed(path, contents, mode, modified)?;
        return Ok(true);
    };
    let same_mode = metadata.is_file() && metadata.permissions().mode() & 0o7777 == mode;
    if same_mode && fs::read(path).is_ok_and(|old| old == contents) {
        if let Some(modified) = modified
            && metadata.modified().ok() != Some(modified)
        {
            // Only a shortcut for later comparisons, which read the bytes without it:
            // a file owned by someone else keeps its time rather than failing the write.
            let _ = set_modified(path, modified);
        }
        return Ok(false);
    }
    atomic_write_timed(path, contents, mode, modified)?;
    Ok(true)
}

/// `write_if_changed` for a file that belongs to `uid`: a service that runs as that
/// user reads its secret from it, and mode 0600 keeps everyone else out. The owner is
/// given to the temporary file, so the file never appears under its name with
/// another owner; a file with the right bytes but another owner or mode is replaced.
pub(crate) fn write_owned_if_changed(
    path: &Path,
    contents: &[u8],
    mode: u32,
    uid: u32,
) -> Result<bool, FsError> {
    if let Ok(metadata) = fs::symlink_metadata(path)
        && metadata.is_file()
        && metadata.permissions().mode() & 0o7777 == mode
        && metadata.uid() == uid
        && fs::read(path).is_ok_and(|old| old == contents)
    {
        return Ok(false);
    }
    let mut temp = tempfile::Builder::new()
        .prefix(".iocdock-")
        .suffix(".tmp")
        .tempfile_in(parent_of(path))
        .at(path, "cannot create a temporary file beside it")?;
    temp.write_all(contents).at(path, "cannot write")?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .at(path, "cannot set permissions")?;
    std::os::unix::fs::fchown(temp.as_file(), Some(uid), None).at(
        path,
        "cannot give it to the user its service runs as (only root can)",
    )?;
    temp.persist(path)
        .map_err(|e| e.error)
        .at(path, "cannot replace")?;
    Ok(true)
}

/// The bytes of a small file (an ioc.ini, a database, a startup file) in as few
/// system calls as possible: open, read, the read that finds the end, close. The
/// bytes go to a buffer on the stack first, so the heap holds only what the file has:
/// `list -p` keeps a thousand ioc.ini files in memory. A symbolic link, a fifo or a
/// folder in the file's place is an error, never read through.
pub(crate) fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    read_small_capped(path, u64::MAX)
}

/// `read_small` of a file that may hold at most `limit` bytes: a larger one is an
/// error of kind `FileTooLarge`, decided by its size before anything is read (and
/// held to while reading, should it grow).
pub(crate) fn read_small_capped(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, stat) = nofollow::open_file(path)?;
    let too_large = || {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {limit} bytes"),
        )
    };
    if u64::try_from(stat.st_size).unwrap_or(u64::MAX) > limit {
        return Err(too_large());
    }
    let mut file = file.take(limit.saturating_add(1));
    let mut buffer = [0u8; 16 * 1024];
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => return Ok(buffer[..filled].to_vec()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut bytes = buffer.to_vec();
    file.read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The bytes of a file and its modification time; a link is not read through.
fn read_with_time(path: &Path) -> io::Result<(Vec<u8>, SystemTime)> {
    use std::io::Read;
    let (mut file, _) = nofollow::open_file(path)?;
    let modified = file.metadata()?.modified()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok((bytes, modified))
}

/// Copies a file's bytes and modification time atomically to `dest` with the given
/// mode, as `cp -p` would; a symbolic link at `src` is refused, not followed.
pub(crate) fn copy_file_atomically(src: &Path, dest: &Path, mode: u32) -> Result<(), FsError> {
    let (bytes, modified) = read_with_time(src).at(src, "cannot read")?;
    atomic_write_timed(dest, &bytes, mode, Some(modified))
}

/// Writes `bytes` atomically to `dest` with `mode` and the modification time
/// `modified` (a copy of something read earlier, through a descriptor).
pub(crate) fn write_copy(
    dest: &Path,
    bytes: &[u8],
    mode: u32,
    modified: SystemTime,
) -> Result<(), FsError> {
    atomic_write_timed(dest, bytes, mode, Some(modified))
}

/// Replaces `path` with a symbolic link to `target` in one rename, so a reader sees
/// the old entry or the new link.
pub(crate) fn atomic_symlink(target: &Path, path: &Path) -> Result<(), FsError> {
    let dir = parent_of(path);
    for attempt in 0..100u32 {
        let temp = dir.join(format!(
            ".iocdock-link-{}-{attempt}.tmp",
            std::process::id()
        ));
        match std::os::unix::fs::symlink(target, &temp) {
            Ok(()) => {
                return fs::rename(&temp, path).map_err(|source| {
                    let _ = fs::remove_file(&temp);
                    FsError {
                        path: path.to_path_buf(),
                        action: "cannot replace",
                        cause: source,
                    }
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).at(path, "cannot create link"),
        }
    }
    Err(io::Error::from(io::ErrorKind::AlreadyExists)).at(path, "cannot create link")
}

/// Advisory lock on the repository, held by every mutating command so that a cron
/// backup and an operator never interleave their writes. Released on drop.
///
/// The holder of the exclusive lock writes its process id into the lock file and
/// empties it when it is done; a lock file found holding one therefore means that
/// the last command that changed the repository was killed (or crashed) half-way,
/// and may have left staged or moved-aside folders (`leftovers`) behind.
pub(crate) struct RepositoryLock {
    file: File,
    exclusive: bool,
    interrupted: bool,
}

impl RepositoryLock {
    /// Whether the previous holder of the exclusive lock never finished.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupted
    }
}

impl Drop for RepositoryLock {
    fn drop(&mut self) {
        if self.exclusive {
            // Finished: the next command has nothing of this one to clear.
            let _ = self.file.set_len(0);
        }
    }
}

/// How a command that only reads the repository (a backup) holds it.
pub(crate) enum ReadLock {
    /// A shared lock: other readers go on, writers wait for it and it for them.
    Shared(RepositoryLock),
    /// No lock, and why: the lock file cannot be read or made by this user, or the
    /// repository does not exist. Whoever cannot read or make the lock file cannot
    /// take it either, so nothing this command could wait for is being skipped
    /// except another user's writes, which are atomic file by file.
    Unlocked(String),
}

pub(crate) const LOCK_FILE: &str = ".iocdock.lock";

impl RepositoryLock {
    /// Blocks until the lock is free; `on_wait` runs once if someone else holds it.
    pub(crate) fn acquire(repository: &Path, on_wait: impl FnOnce()) -> Result<Self, FsError> {
        fs::create_dir_all(repository).at(repository, "cannot create folder")?;
        let path = repository.join(LOCK_FILE);
        // Private and never through a link: a user who could open the file, even for
        // reading, could take the lock and stall every mutating command and cron job.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| {
                if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                    io::Error::other("is a symbolic link; remove it, iocdock makes its own")
                } else {
                    e
                }
            })
            .at(&path, "cannot open lock file")?;
        let metadata = file.metadata().at(&path, "cannot open lock file")?;
        if !metadata.is_file() {
            return Err(FsError {
                path,
                action: "cannot open lock file",
                cause: io::Error::other("not a regular file; remove it, iocdock makes its own"),
            });
        }
        if metadata.mode() & 0o077 != 0 {
            // Left readable by an older iocdock.
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .at(&path, "cannot make the lock file private")?;
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                on_wait();
                file.lock().at(&path, "cannot lock")?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(e).at(&path, "cannot lock"),
        }
        let mut previous = [0u8; 1];
        let interrupted = std::os::unix::fs::FileExt::read_at(&file, &mut previous, 0)
            .at(&path, "cannot read lock file")?
            > 0;
        let mark = format!("{}\n", std::process::id());
        file.set_len(0).at(&path, "cannot write lock file")?;
        std::os::unix::fs::FileExt::write_all_at(&file, mark.as_bytes(), 0)
            .at(&path, "cannot write lock file")?;
        Ok(RepositoryLock {
            file,
            exclusive: true,
            interrupted,
        })
    }

    /// A shared lock for a command that only reads the repository, taken without
    /// writing anything it cannot: an existing lock file is opened for reading; a
    /// missing one is made (0600) only when this user may; a lock file this user
    /// cannot read or make (a read-only home, another user's 0600 file) means no lock
    /// (`ReadLock::Unlocked`, with why). A link in its place is refused, as for
    /// writers. Blocks while a writer holds the lock; `on_wait` runs once if so.
    pub(crate) fn acquire_shared(
        repository: &Path,
        on_wait: impl FnOnce(),
    ) -> Result<ReadLock, FsError> {
        let path = repository.join(LOCK_FILE);
        let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
        let cannot = |e: &io::Error| {
            matches!(
                rustix::io::Errno::from_io_error(e),
                Some(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM | rustix::io::Errno::ROFS)
            )
        };
        let link_refused = |e: io::Error| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                io::Error::other("is a symbolic link; remove it, iocdock makes its own")
            } else {
                e
            }
        };
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(nofollow)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if cannot(&e) => {
                return Ok(ReadLock::Unlocked(format!(
                    "{}: cannot read: {e}",
                    path.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !repository.is_dir() {
                    return Ok(ReadLock::Unlocked(format!(
                        "{}: no repository",
                        repository.display()
                    )));
                }
                match OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .mode(0o600)
                    .custom_flags(nofollow)
                    .open(&path)
                {
                    Ok(file) => file,
                    Err(e) if cannot(&e) => {
                        return Ok(ReadLock::Unlocked(format!(
                            "{}: cannot create: {e}",
                            path.display()
                        )));
                    }
                    Err(e) => return Err(link_refused(e)).at(&path, "cannot open lock file"),
                }
            }
            Err(e) => return Err(link_refused(e)).at(&path, "cannot open lock file"),
        };
        let metadata = file.metadata().at(&path, "cannot open lock file")?;
        if !metadata.is_file() {
            return Err(FsError {
                path,
                action: "cannot open lock file",
                cause: io::Error::other("not a regular file; remove it, iocdock makes its own"),
            });
        }
        if metadata.mode() & 0o077 != 0 {
            // Only its owner can; the next writer does it otherwise.
            let _ = file.set_permissions(fs::Permissions::from_mode(0o600));
        }
        match file.try_lock_shared() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                on_wait();
                file.lock_shared().at(&path, "cannot lock")?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(e).at(&path, "cannot lock"),
        }
        Ok(ReadLock::Shared(RepositoryLock {
            file,
            exclusive: false,
            interrupted: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_read_only_files_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ioc.ini");
        atomic_write(&file, b"one", 0o444).unwrap();
        atomic_write(&file, b"two", 0o444).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o444);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file may stay behind");
    }

    #[test]
    fn a_timed_write_gives_the_file_its_time_even_when_the_bytes_stay() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ioc.ini");
        let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
        let modified = |file: &Path| fs::metadata(file).unwrap().modified().unwrap();
        assert!(write_if_changed_timed(&file, b"one", 0o444, Some(hour_ago)).unwrap());
        assert_eq!(modified(&file), hour_ago);
        let two_hours_ago = hour_ago - std::time::Duration::from_secs(3600);
        assert!(!write_if_changed_timed(&file, b"one", 0o444, Some(two_hours_ago)).unwrap());
        assert_eq!(modified(&file), two_hours_ago);
        assert!(write_if_changed_timed(&file, b"two", 0o444, Some(hour_ago)).unwrap());
        assert_eq!(
            (fs::read(&file).unwrap(), modified(&file)),
            (b"two".to_vec(), hour_ago)
        );
        assert!(!write_if_changed_timed(&file, b"two", 0o444, None).unwrap());
        assert_eq!(modified(&file), hour_ago);
    }

    #[test]
    fn staged_dir_appears_whole_and_refuses_to_replace() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ioc");
        let staged = StagedDir::new(&target).unwrap();
        fs::write(staged.path().join("f"), "x").unwrap();
        assert!(!target.exists());
        staged.commit().unwrap();
        assert!(target.join("f").exists());
        let again = StagedDir::new(&target).unwrap();
        assert!(again.commit().is_err());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn staged_dir_replaces_an_existing_folder_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ioc");
        fs::create_dir_all(target.join("old")).unwrap();
        fs::write(target.join("old/f"), "old").unwrap();
        let staged = StagedDir::new(&target).unwrap();
        fs::write(staged.path().join("f"), "new").unwrap();
        staged.replace().unwrap();
        assert_eq!(fs::read_to_string(target.join("f")).unwrap(), "new");
        assert!(!target.join("old").exists());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "nothing may stay beside the folder");
    }

    #[test]
    fn the_lock_file_is_private_and_never_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let lock_file = dir.path().join(LOCK_FILE);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        drop(RepositoryLock::acquire(dir.path(), || {}).unwrap());
        assert_eq!(mode(&lock_file), 0o600);
        fs::set_permissions(&lock_file, fs::Permissions::from_mode(0o644)).unwrap();
        drop(RepositoryLock::acquire(dir.path(), || {}).unwrap());
        assert_eq!(mode(&lock_file), 0o600);

        fs::remove_file(&lock_file).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, "").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &lock_file).unwrap();
        let err = RepositoryLock::acquire(dir.path(), || {})
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(".iocdock.lock: cannot open lock file: is a symbolic link"),
            "{err}"
        );
    }

    #[test]
    fn a_lock_file_left_marked_says_the_last_writer_was_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let lock_file = dir.path().join(LOCK_FILE);
        let lock = RepositoryLock::acquire(dir.path(), || {}).unwrap();
        assert!(!lock.interrupted());
        let mark = format!("{}\n", std::process::id());
        assert_eq!(fs::read_to_string(&lock_file).unwrap(), mark);
        drop(lock);
        assert_eq!(
            fs::read_to_string(&lock_file).unwrap(),
            "",
            "done: unmarked"
        );
        // A killed holder never empties it.
        fs::write(&lock_file, "4242\n").unwrap();
        let lock = RepositoryLock::acquire(dir.path(), || {}).unwrap();
        assert!(lock.interrupted());
        assert_eq!(fs::read_to_string(&lock_file).unwrap(), mark);
        drop(lock);
        // Readers neither read nor change the mark.
        fs::write(&lock_file, "4242\n").unwrap();
        drop(RepositoryLock::acquire_shared(dir.path(), || {}).unwrap());
        assert_eq!(fs::read_to_string(&lock_file).unwrap(), "4242\n");
    }

    #[test]
    fn readers_share_the_lock_and_writers_wait_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let lock_file = dir.path().join(LOCK_FILE);
        let shared =
            |dir: &Path| match RepositoryLock::acquire_shared(dir, || panic!("waited")).unwrap() {
                ReadLock::Shared(lock) => lock,
                ReadLock::Unlocked(why) => panic!("{why}"),
            };
        let first = shared(dir.path());
        let mode = fs::metadata(&lock_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a missing lock file is made private");
        let second = shared(dir.path());
        let writer = File::open(&lock_file).unwrap();
        assert!(matches!(
            writer.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        drop((first, second));
        writer.try_lock().unwrap();
        drop(writer);

        let missing = dir.path().join("no-repository");
        assert!(matches!(
            RepositoryLock::acquire_shared(&missing, || {}).unwrap(),
            ReadLock::Unlocked(_)
        ));
        assert!(!missing.exists(), "a reader makes no repository");

        fs::remove_file(&lock_file).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &lock_file).unwrap();
        let err = RepositoryLock::acquire_shared(dir.path(), || {})
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert!(!dir.path().join("elsewhere").exists());
    }

    #[test]
    fn remove_dir_atomically_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ioc");
        fs::create_dir_all(target.join("src")).unwrap();
        fs::write(target.join("src/a.db"), "x").unwrap();
        remove_dir_atomically(&target).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

/// Replaces the folder `target` as a whole: `fill` builds the new content in a hidden
/// folder beside it, which is then swapped in with two renames. A crash leaves the old
/// folder or the new one under the target name (plus a hidden leftover at worst),
/// never a mix of both.
pub(crate) fn replace_dir<E: From<FsError>>(
    target: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let parent = parent_of(target);
    fs::create_dir_all(parent).at(parent, "cannot create folder")?;
    let staged = tempfile::Builder::new()
        .prefix(&leftovers::prefix_for(leftovers::NEW, target))
        .tempdir_in(parent)
        .at(target, "cannot create a temporary folder beside it")?;
    fs::set_permissions(staged.path(), fs::Permissions::from_mode(0o755))
        .at(staged.path(), "cannot set permissions")?;
    fill(staged.path())?;
    let staged = staged.keep();
    let result = swap_in(&staged, target);
    if result.is_err() {
        let _ = fs::remove_dir_all(&staged);
    }
    Ok(result?)
}

fn swap_in(staged: &Path, target: &Path) -> Result<(), FsError> {
    if target.exists() {
        let parent = parent_of(target);
        let old = tempfile::Builder::new()
            .prefix(&leftovers::prefix_for(leftovers::OLD, target))
            .tempdir_in(parent)
            .at(target, "cannot prepare replacement")?
            .keep();
        let old_target = old.join(leftovers::INSIDE);
        fs::rename(target, &old_target).at(target, "cannot replace")?;
        if let Err(source) = fs::rename(staged, target) {
            let _ = fs::rename(&old_target, target);
            let _ = fs::remove_dir_all(&old);
            return Err(FsError {
                path: target.to_path_buf(),
                action: "cannot replace",
                cause: source,
            });
        }
        fs::remove_dir_all(&old).at(&old, "cannot remove the replaced folder")?;
    } else {
        fs::rename(staged, target).at(target, "cannot create")?;
    }
    Ok(())
}

/// The permission bits a copy gets: its source's without setuid, setgid and sticky,
/// which a copy into a run folder that containers mount must not carry.
pub(crate) fn copied_mode(mode: u32) -> u32 {
    mode & 0o777
}

/// Copies the files, folders and symbolic links below `from` into `to` (which must
/// exist), keeping each file's permission bits (see [`copied_mode`]) and the
/// modification times of files and folders (`to` takes `from`'s), which the quick
/// check of `same_tree` relies on. Nothing is read through a link: a link is copied
/// as a link with the same target text, and a link in place of `from` is an error.
/// Fifos, sockets and devices are left out.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), FsError> {
    use nofollow::Found;
    let root = nofollow::open_folder(from).at(from, "cannot read")?;
    let read_error = |relative: &Path, source| FsError {
        path: from.join(relative),
        action: "cannot read",
        cause: source,
    };
    // Folder times are set last: every entry made in a folder sets its time to now.
    let mut folder_times = Vec::new();
    nofollow::walk(
        root,
        &mut |found| {
            match found {
                Found::Folder(relative, fd) => {
                    let dest = if relative.as_os_str().is_empty() {
                        to.to_path_buf()
                    } else {
                        let dest = to.join(relative);
                        fs::create_dir(&dest).at(&dest, "cannot create folder")?;
                        dest
                    };
                    let stat = rustix::fs::fstat(fd).map_err(|e| read_error(relative, e.into()))?;
                    folder_times.push((dest, modified_of(&stat)));
                }
                Found::File(relative, dir, name) => {
                    let (reader, stat) =
                        nofollow::open_file_at(dir, name).map_err(|e| read_error(&relative, e))?;
                    copy_file(reader, &stat, &to.join(&relative))?;
                }
                Found::Link(relative, dir, name) => {
                    let target =
                        nofollow::link_target(dir, name).map_err(|e| read_error(&relative, e))?;
                    let dest = to.join(&relative);
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &dest)
                        .at(&dest, "cannot create link")?;
                }
                Found::Other(_) => {}
            }
            Ok(())
        },
        &|relative, source| read_error(relative, source),
    )?;
    for (folder, time) in folder_times {
        set_modified(&folder, time)?;
    }
    Ok(())
}

// The field types of `Stat` differ between targets.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn modified_of(stat: &rustix::fs::Stat) -> SystemTime {
    let (secs, nanos) = (stat.st_mtime as i64, stat.st_mtime_nsec as i64);
    let since = std::time::Duration::new(secs.unsigned_abs(), u32::try_from(nanos).unwrap_or(0));
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + since
    } else {
        SystemTime::UNIX_EPOCH - since
    }
}

/// Copies one opened file with its permission bits and modification time, in as few
/// system calls as it takes: a first deploy copies thousands.
fn copy_file(mut reader: File, stat: &rustix::fs::Stat, to: &Path) -> Result<(), FsError> {
    let mut writer = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .at(to, "cannot create")?;
    io::copy(&mut reader, &mut writer).at(to, "cannot copy")?;
    writer
        .set_permissions(fs::Permissions::from_mode(copied_mode(stat.st_mode)))
        .at(to, "cannot set permissions")?;
    writer
        .set_modified(modified_of(stat))
        .at(to, "cannot set modification time")
}

/// Gives a file or folder a modification time.
fn set_modified(path: &Path, time: SystemTime) -> Result<(), FsError> {
    File::open(path)
        .and_then(|file| file.set_modified(time))
        .at(path, "cannot set modification time")
}

#[cfg(test)]
mod replace_tests {
    use super::*;

    #[test]
    fn replace_dir_swaps_whole_trees() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("startup");
        fs::create_dir_all(&target).unwrap();
        fs::write(target.join("old-only"), "x").unwrap();
        replace_dir::<FsError>(&target, |staged| {
            fs::write(staged.join("new"), "y").at(staged, "write")
        })
        .unwrap();
        assert!(target.join("new").exists());
        assert!(!target.join("old-only").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_fill_keeps_the_old_tree() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("startup");
        fs::create_dir_all(&target).unwrap();
        fs::write(target.join("old"), "x").unwrap();
        let result = replace_dir::<FsError>(&target, |staged| {
            Err(io::Error::other("boom")).at(staged, "fill")
        });
        assert!(result.is_err());
        assert!(target.join("old").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn copy_tree_keeps_modes() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("a");
        fs::create_dir_all(from.join("iocBoot")).unwrap();
        fs::write(from.join("iocBoot/st.cmd"), "x").unwrap();
        fs::set_permissions(
            from.join("iocBoot/st.cmd"),
            fs::Permissions::from_mode(0o555),
        )
        .unwrap();
        let to = dir.path().join("b");
        fs::create_dir_all(&to).unwrap();
        copy_tree(&from, &to).unwrap();
        let mode = fs::metadata(to.join("iocBoot/st.cmd"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o555);
    }
}
