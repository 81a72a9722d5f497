//! Putting planned startup files in place: `project/startup` is replaced as a whole.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{DIR_MODE, GeneratedFile, NEW_PREFIX, OLD_PREFIX, STARTUP_DIR, StartupFiles};
use crate::fsutil::{self, FsError, IoContext};

/// Replaces `<project_dir>/startup` as a whole: builds the new tree beside it (hidden
/// temp name in project/), then swaps it in with renames and deletes the old one, so a
/// crash or SIGKILL leaves either the old or the new startup, never a mix. Creates
/// `dirs` (keeping their content). Sets each file's mode.
///
/// Files outside `startup/` (file_copy into settings/ or logs/) are each replaced
/// atomically once the new tree is complete, just before the swap, so a tree that
/// cannot be built (a full disk) changes nothing.
/// Returns whether `startup/` changed; an unchanged tree is left as it is.
pub(crate) fn write(project_dir: &Path, files: &StartupFiles) -> Result<bool, FsError> {
    fs::create_dir_all(project_dir).at(project_dir, "cannot create folder")?;
    remove_leftovers(project_dir);

    let target = project_dir.join(STARTUP_DIR);
    let unchanged = startup_matches(&target, files);
    let staged = if unchanged {
        None
    } else {
        let staged = tempfile::Builder::new()
            .prefix(NEW_PREFIX)
            .tempdir_in(project_dir)
            .at(project_dir, "cannot create a temporary folder in")?;
        fill_staged(staged.path(), files)?;
        Some(staged)
    };

    for dir in &files.dirs {
        if !dir.starts_with(STARTUP_DIR) {
            let path = project_dir.join(dir);
            fs::create_dir_all(&path).at(&path, "cannot create folder")?;
        }
    }
    for file in &files.files {
        if file.path.starts_with(STARTUP_DIR) {
            continue;
        }
        let path = project_dir.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).at(parent, "cannot create folder")?;
        }
        fsutil::write_if_changed(&path, &file.contents, file.mode)?;
    }

    // Regenerating an unchanged IOC rewrites nothing, so a deploy of a large
    // repository after a few edits costs reads only.
    let Some(staged) = staged else {
        return Ok(false);
    };
    let old = match fs::symlink_metadata(&target) {
        Ok(_) => Some(swap_in(staged.path(), &target, project_dir)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::rename(staged.path(), &target).at(&target, "cannot create")?;
            None
        }
        Err(e) => return Err(e).at(&target, "cannot inspect"),
    };
    // The tree now lives under its final name; the guard must not delete it.
    let _ = staged.keep();
    if let Some(old) = old {
        remove_tree(&old);
    }
    Ok(true)
}

/// Whether `startup/` already holds exactly the planned files (bytes and modes), no
/// others, and every planned folder.
fn startup_matches(target: &Path, files: &StartupFiles) -> bool {
    // A link (say, restored from an archive) is never what generation writes.
    let Some(existing) = fsutil::plain_files_below(target) else {
        return false;
    };
    let planned: Vec<(&Path, &GeneratedFile)> = files
        .files
        .iter()
        .filter_map(|f| Some((f.path.strip_prefix(STARTUP_DIR).ok()?, f)))
        .collect();
    let dirs_present = files
        .dirs
        .iter()
        .filter_map(|d| d.strip_prefix(STARTUP_DIR).ok())
        .all(|d| target.join(d).is_dir());
    dirs_present
        && existing.len() == planned.len()
        && planned.iter().all(|(relative, file)| {
            existing.get(*relative).is_some_and(|path| {
                fs::symlink_metadata(path)
                    .is_ok_and(|m| m.permissions().mode() & 0o7777 == file.mode)
                    && fsutil::read_small(path).is_ok_and(|bytes| bytes == file.contents)
            })
        })
}

/// Writes every `startup/` file and folder into the staging folder. Like every
/// repository write, this guards against a killed or crashed process, not a power cut:
/// flushing each of the thousands of small files of a large deploy to disk would cost
/// more than the whole deploy (see docs/DECISIONS.md).
fn fill_staged(staged: &Path, files: &StartupFiles) -> Result<(), FsError> {
    fs::set_permissions(staged, fs::Permissions::from_mode(DIR_MODE))
        .at(staged, "cannot set permissions")?;
    let mut folders = vec![staged.to_path_buf()];
    let mut make_dirs = |dir: &Path| -> Result<(), FsError> {
        let mut current = staged.to_path_buf();
        for part in dir.iter() {
            current.push(part);
            if !folders.contains(&current) {
                fs::create_dir(&current).at(&current, "cannot create folder")?;
                fs::set_permissions(&current, fs::Permissions::from_mode(DIR_MODE))
                    .at(&current, "cannot set permissions")?;
                folders.push(current.clone());
            }
        }
        Ok(())
    };
    for dir in &files.dirs {
        if let Ok(inside) = dir.strip_prefix(STARTUP_DIR) {
            make_dirs(inside)?;
        }
    }
    for file in &files.files {
        let Ok(inside) = file.path.strip_prefix(STARTUP_DIR) else {
            continue;
        };
        if let Some(parent) = inside.parent() {
            make_dirs(parent)?;
        }
        let path = staged.join(inside);
        let mut out = File::create_new(&path).at(&path, "cannot create")?;
        out.write_all(&file.contents).at(&path, "cannot write")?;
        out.set_permissions(fs::Permissions::from_mode(file.mode))
            .at(&path, "cannot set permissions")?;
    }
    Ok(())
}

/// Puts the staged tree at `target` and returns where the old tree went. One atomic
/// exchange where the file system supports it; otherwise the old tree is first renamed
/// aside, which leaves a moment without `startup` (never a mixed one).
fn swap_in(staged: &Path, target: &Path, project_dir: &Path) -> Result<PathBuf, FsError> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        staged,
        rustix::fs::CWD,
        target,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        // After the exchange the staging name holds the old tree.
        Ok(()) => {
            let aside = hidden_name(project_dir, OLD_PREFIX);
            return match fs::rename(staged, &aside) {
                Ok(()) => Ok(aside),
                Err(_) => Ok(staged.to_path_buf()),
            };
        }
        Err(e)
            if e == rustix::io::Errno::INVAL
                || e == rustix::io::Errno::NOSYS
                || e == rustix::io::Errno::OPNOTSUPP => {}
        Err(e) => return Err(io::Error::from(e)).at(target, "cannot replace"),
    }
    swap_by_renames(staged, target, project_dir)
}

/// The swap for file systems without an atomic exchange (NFS, older kernels).
pub(super) fn swap_by_renames(
    staged: &Path,
    target: &Path,
    project_dir: &Path,
) -> Result<PathBuf, FsError> {
    let aside = hidden_name(project_dir, OLD_PREFIX);
    fs::rename(target, &aside).at(target, "cannot move aside")?;
    if let Err(e) = fs::rename(staged, target) {
        // Put the old tree back so a failed generation changes nothing.
        let _ = fs::rename(&aside, target);
        return Err(e).at(target, "cannot replace");
    }
    Ok(aside)
}

/// A name in `dir` that nothing uses yet.
fn hidden_name(dir: &Path, prefix: &str) -> PathBuf {
    let stamp = std::process::id();
    let mut n: u32 = 0;
    loop {
        let candidate = dir.join(format!("{prefix}{stamp}-{n}"));
        if fs::symlink_metadata(&candidate).is_err() {
            return candidate;
        }
        n += 1;
    }
}

/// Staging and old trees of an earlier run that was killed half-way; they are hidden
/// and no longer needed, whichever side of the swap the kill happened.
fn remove_leftovers(project_dir: &Path) {
    let Ok(entries) = fs::read_dir(project_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(NEW_PREFIX) || name.starts_with(OLD_PREFIX) {
            remove_tree(&entry.path());
        }
    }
}

/// Best-effort removal of a replaced tree. Its files are read-only and an older tool may
/// have left read-only folders, so folders are made writable first. A failure only
/// leaves a hidden folder that the next generation removes; the new startup is in place.
fn remove_tree(path: &Path) {
    if fs::remove_dir_all(path).is_ok() {
        return;
    }
    for entry in walkdir::WalkDir::new(path).into_iter().flatten() {
        if entry.file_type().is_dir() {
            let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(DIR_MODE));
        }
    }
    let _ = fs::remove_dir_all(path);
}
