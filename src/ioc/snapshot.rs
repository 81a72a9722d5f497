//! Snapshots (`$SNAPSHOT_PATH/<name>`: ioc.ini and src/) and the comparisons of the
//! repository with its snapshot and with its exported copy.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::fsutil::nofollow::{self, Content};
use crate::fsutil::{self, FsError, IoContext};
use crate::ioc::config;
use crate::ioc::diff::{diff_file, diff_tree};
use crate::ioc::repository::{
    INI_FILE, INI_MODE, PROJECT_DIR, Repository, RepositoryError, SRC_DIR,
};
use crate::ioc::state::SnapshotState;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("IOC \"{0}\" has no snapshot; make one with --add-snapshot-file")]
    NoSnapshot(String),
    #[error("IOC \"{name}\" is not exported (no {path})")]
    NotExported { name: String, path: PathBuf },
    #[error(
        "\"{file}\" is not a file of a snapshot (expected ioc.ini, the name of a file in src/, or all)"
    )]
    BadFile { file: String },
}

/// Copies ioc.ini and src/ to the snapshot folder, replacing an older snapshot whole.
/// Symbolic links of src/ are copied as links, never read through.
pub(crate) fn add(repository: &Repository, name: &str) -> Result<PathBuf, SnapshotError> {
    repository.read_ini(name)?;
    let (mut state, _) = repository.read_state(name)?;
    let source = repository.dir(name);
    let target = repository.snapshot_dir_checked(name)?;
    fsutil::replace_dir::<FsError>(&target, |staged| {
        fsutil::copy_file_atomically(&source.join(INI_FILE), &staged.join(INI_FILE), INI_MODE)?;
        let src = staged.join(SRC_DIR);
        fs::create_dir_all(&src).at(&src, "cannot create folder")?;
        fsutil::copy_tree(&source.join(SRC_DIR), &src)
    })?;
    state.snapshot = SnapshotState::Tracked;
    repository.write_state(name, &state)?;
    Ok(target)
}

fn existing_snapshot(repository: &Repository, name: &str) -> Result<PathBuf, SnapshotError> {
    if !repository.exists(name) {
        return Err(RepositoryError::Missing(name.to_string()).into());
    }
    let dir = repository.snapshot_dir(name);
    if !dir.join(INI_FILE).is_file() {
        return Err(SnapshotError::NoSnapshot(name.to_string()));
    }
    Ok(dir)
}

/// Unified diffs snapshot → repository of ioc.ini and every file of src/.
pub(crate) fn check(repository: &Repository, name: &str) -> Result<Vec<String>, SnapshotError> {
    let snapshot = existing_snapshot(repository, name)?;
    let current = repository.dir(name);
    let mut diffs: Vec<String> = diff_file(
        &snapshot.join(INI_FILE),
        &current.join(INI_FILE),
        &format!("snapshot/{name}/{INI_FILE}"),
        &format!("repository/{name}/{INI_FILE}"),
    )
    .into_iter()
    .collect();
    diffs.extend(diff_tree(
        &snapshot.join(SRC_DIR),
        &current.join(SRC_DIR),
        &format!("snapshot/{name}/{SRC_DIR}"),
        &format!("repository/{name}/{SRC_DIR}"),
    ));
    Ok(diffs)
}

/// Unified diffs exported copy → repository of ioc.ini and the startup files.
pub(crate) fn check_deploy(
    repository: &Repository,
    name: &str,
) -> Result<Vec<String>, SnapshotError> {
    let ini = repository.read_ini(name)?;
    let exported = repository.run_dir(config::host(&ini), name)?;
    if !exported.join(INI_FILE).is_file() {
        return Err(SnapshotError::NotExported {
            name: name.to_string(),
            path: exported.join(INI_FILE),
        });
    }
    let current = repository.dir(name);
    let mut diffs: Vec<String> = diff_file(
        &exported.join(INI_FILE),
        &current.join(INI_FILE),
        &format!("exported/{name}/{INI_FILE}"),
        &format!("repository/{name}/{INI_FILE}"),
    )
    .into_iter()
    .collect();
    diffs.extend(diff_tree(
        &exported.join("startup"),
        &current.join(PROJECT_DIR).join("startup"),
        &format!("exported/{name}/startup"),
        &format!("repository/{name}/project/startup"),
    ));
    Ok(diffs)
}

/// What `--restore-snapshot-file` would do, shown to the operator before it happens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RestorePlan {
    /// Files (ioc.ini or src/<file>) that differ and will be restored.
    pub(crate) restore: Vec<String>,
    /// Files that will not be restored, with the reason.
    pub(crate) keep: Vec<(String, &'static str)>,
}

fn snapshot_file(snapshot: &Path, file: &str) -> PathBuf {
    if file == INI_FILE {
        snapshot.join(INI_FILE)
    } else {
        snapshot.join(SRC_DIR).join(file)
    }
}

fn repository_file(repository: &Repository, name: &str, file: &str) -> PathBuf {
    if file == INI_FILE {
        repository.ini_path(name)
    } else {
        repository.dir(name).join(SRC_DIR).join(file)
    }
}

/// What `file` is in the folder `ioc` (a snapshot or the repository's IOC folder),
/// looked at without following a link.
fn content(ioc: &Path, file: &str) -> Option<Content> {
    if file == INI_FILE {
        nofollow::content_of(&ioc.join(INI_FILE))
    } else {
        nofollow::content_beneath(&ioc.join(SRC_DIR), Path::new(file))
    }
}

pub(crate) fn plan_restore(
    repository: &Repository,
    name: &str,
    files: &[String],
) -> Result<RestorePlan, SnapshotError> {
    let snapshot = existing_snapshot(repository, name)?;
    let mut wanted: Vec<String> = Vec::new();
    for file in files {
        if file == "all" {
            wanted.push(INI_FILE.to_string());
            let src = snapshot.join(SRC_DIR);
            if let Ok(entries) = fs::read_dir(&src) {
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .filter(|e| {
                        e.file_type()
                            .is_ok_and(|kind| kind.is_file() || kind.is_symlink())
                    })
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect();
                names.sort();
                wanted.extend(names);
            }
        } else if file.is_empty() || file.contains('/') || file == "." || file == ".." {
            return Err(SnapshotError::BadFile { file: file.clone() });
        } else {
            wanted.push(file.clone());
        }
    }
    let current = repository.dir(name);
    let mut plan = RestorePlan::default();
    for file in wanted {
        if plan.restore.contains(&file) || plan.keep.iter().any(|(f, _)| *f == file) {
            continue;
        }
        match content(&snapshot, &file) {
            None => plan.keep.push((file, "not in the snapshot")),
            // ioc.ini must be a file; a snapshot made by iocdock never holds a link there.
            Some(Content::Link(_)) if file == INI_FILE => {
                plan.keep.push((file, "a symbolic link in the snapshot"))
            }
            Some(ours) if Some(&ours) == content(&current, &file).as_ref() => {
                plan.keep.push((file, "unchanged"))
            }
            Some(_) => plan.restore.push(file),
        }
    }
    Ok(plan)
}

/// Restores the planned files; a symbolic link of the snapshot comes back as a link
/// with the same target, never as the content it points to.
pub(crate) fn restore(
    repository: &Repository,
    name: &str,
    plan: &RestorePlan,
) -> Result<(), SnapshotError> {
    let snapshot = existing_snapshot(repository, name)?;
    // Restored files go where the checked folder is, not through a link out of it.
    repository.dir_checked(name)?;
    for file in &plan.restore {
        let from = snapshot_file(&snapshot, file);
        let to = repository_file(repository, name, file);
        match content(&snapshot, file) {
            Some(Content::Link(target)) => {
                fsutil::atomic_symlink(Path::new(OsStr::from_bytes(&target)), &to)?
            }
            _ => fsutil::copy_file_atomically(&from, &to, INI_MODE)?,
        }
    }
    Ok(())
}
