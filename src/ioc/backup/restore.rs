//! Restoring checked IOC archives into the repository, each IOC swapped in whole.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use walkdir::WalkDir;

use super::{Archive, ArchivedIoc, BackupError, DIR_MODE, Node, RestoreReport};
use crate::fsutil::{FsError, IoContext, StagedDir};
use crate::ioc::repository::{
    INI_FILE, INI_MODE, PROJECT_DIR, Repository, SRC_DIR, STATE_FILE, STATE_MODE,
};
use crate::ioc::revisions::REVISIONS_DIR;
use crate::ioc::state::{IocState, Status};

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
        keep_unarchived(target, root, ioc)?;
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
/// project/ (or .revisions/) when the archive has none, and anything else kept in
/// the IOC folder.
fn keep_unarchived(old: &Path, staged: &Path, ioc: &ArchivedIoc) -> Result<(), FsError> {
    for entry in fs::read_dir(old).at(old, "cannot read folder")? {
        let entry = entry.at(old, "cannot read folder")?;
        let name = entry.file_name();
        let replaced = name == INI_FILE
            || name == STATE_FILE
            || name == SRC_DIR
            || (name == PROJECT_DIR && ioc.has_project())
            || (name == REVISIONS_DIR && ioc.entries.contains_key(REVISIONS_DIR));
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
