//! Paths below a root folder (the repository, the snapshot folder, the run directory,
//! the service files), built from names that were checked one by one and, before
//! anything is written or deleted there, resolved: a path whose existing part leads
//! through a symbolic link to somewhere outside its root is refused.
//!
//! The resolution is a check before the write, not a lock: a link made between the
//! check and the write is not seen. The folders checked are only writable by root on
//! the manager (no container mounts them read-write), which is what makes a check
//! enough; the folders containers write into (an IOC's `settings/` and `logs/`) are
//! only ever replaced whole by iocdock, never written into.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::FsError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum PathError {
    #[error(
        "{}: \"{name}\" is not a plain folder or file name (expected one name: not empty, no '/', not \".\" or \"..\")",
        root.display()
    )]
    NotAName { root: PathBuf, name: String },
    #[error(
        "{} leads to {}, outside {} (through a symbolic link); nothing was written or deleted there",
        path.display(),
        resolved.display(),
        root.display()
    )]
    Outside {
        path: PathBuf,
        resolved: PathBuf,
        root: PathBuf,
    },
    #[error(
        "{}: a symbolic link that leads nowhere is in the way; nothing was written or deleted there",
        path.display()
    )]
    DanglingLink { path: PathBuf },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// `root/names[0]/names[1]/…`, each name checked to be exactly one normal path
/// component, so no name can climb out of `root` or replace it (`Path::join` of an
/// absolute name would). Nothing on disk is looked at: for reading.
pub(crate) fn join_names(root: &Path, names: &[&str]) -> Result<PathBuf, PathError> {
    let mut path = root.to_path_buf();
    for name in names {
        let mut components = Path::new(name).components();
        let plain = matches!(components.next(), Some(Component::Normal(_)))
            && components.next().is_none()
            && !name.contains('/')
            && !name.contains('\0');
        if !plain {
            return Err(PathError::NotAName {
                root: root.to_path_buf(),
                name: name.escape_default().to_string(),
            });
        }
        path.push(name);
    }
    Ok(path)
}

/// `join_names`, then checked on disk: resolved through every symbolic link of its
/// deepest existing part, the path must still lie below `root` (resolved the same
/// way). For every path that is written or deleted.
pub(crate) fn path_below(root: &Path, names: &[&str]) -> Result<PathBuf, PathError> {
    let path = join_names(root, names)?;
    ensure_below(root, &path)?;
    Ok(path)
}

/// Checks that `path` (lexically below `root`) also lies below it once resolved.
fn ensure_below(root: &Path, path: &Path) -> Result<(), PathError> {
    let real_root = resolve(root)?;
    let resolved = resolve(path)?;
    if resolved.starts_with(&real_root) {
        Ok(())
    } else {
        Err(PathError::Outside {
            path: path.to_path_buf(),
            resolved,
            root: root.to_path_buf(),
        })
    }
}

/// The path with its deepest existing ancestor resolved (`realpath`) and the names
/// that do not exist yet appended as they are. A link that exists but leads nowhere
/// cannot be resolved: what a write there would create is unknown, so it is refused.
fn resolve(path: &Path) -> Result<PathBuf, PathError> {
    let path = std::path::absolute(path).map_err(|source| FsError {
        path: path.to_path_buf(),
        action: "cannot resolve",
        cause: source,
    })?;
    let mut existing: &Path = &path;
    let mut missing: Vec<OsString> = Vec::new();
    loop {
        match fs::canonicalize(existing) {
            Ok(mut real) => {
                for name in missing.iter().rev() {
                    real.push(name);
                }
                return Ok(real);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if fs::symlink_metadata(existing).is_ok() {
                    return Err(PathError::DanglingLink {
                        path: existing.to_path_buf(),
                    });
                }
                match (existing.parent(), existing.file_name()) {
                    (Some(parent), Some(name)) => {
                        missing.push(name.to_os_string());
                        existing = parent;
                    }
                    // Only `/` has no parent, and it exists.
                    _ => return Ok(path),
                }
            }
            Err(source) => {
                return Err(FsError {
                    path: existing.to_path_buf(),
                    action: "cannot resolve",
                    cause: source,
                }
                .into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn names_are_single_components() {
        let root = Path::new("/data");
        assert_eq!(
            join_names(root, &["swarm", "iocs", "a.b-1"]).unwrap(),
            Path::new("/data/swarm/iocs/a.b-1")
        );
        for bad in ["", ".", "..", "a/b", "/etc", "a/", "x\0y"] {
            assert!(
                matches!(join_names(root, &[bad]), Err(PathError::NotAName { .. })),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn missing_folders_below_the_root_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("not/yet");
        let path = path_below(&root, &["swarm", "iocs", "x"]).unwrap();
        assert_eq!(path, root.join("swarm/iocs/x"));
    }

    #[test]
    fn a_link_out_of_the_root_is_refused_wherever_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run");
        let outside = dir.path().join("outside");
        fs::create_dir_all(root.join("swarm/iocs")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        symlink(&outside, root.join("swarm/iocs/a")).unwrap();
        symlink(&outside, root.join("host")).unwrap();
        for names in [
            &["swarm", "iocs", "a"][..],
            &["swarm", "iocs", "a", "ioc.ini"],
            &["host", "b"],
        ] {
            let err = path_below(&root, names).unwrap_err();
            assert!(matches!(err, PathError::Outside { .. }), "{names:?}: {err}");
        }
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn links_inside_the_root_and_a_linked_root_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("nfs");
        fs::create_dir_all(real.join("swarm/iocs/b")).unwrap();
        let root = dir.path().join("run");
        symlink(&real, &root).unwrap();
        symlink(real.join("swarm/iocs/b"), real.join("swarm/iocs/a")).unwrap();
        path_below(&root, &["swarm", "iocs", "a", "logs"]).unwrap();
    }

    #[test]
    fn a_dangling_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run");
        fs::create_dir_all(&root).unwrap();
        symlink(dir.path().join("later"), root.join("a")).unwrap();
        assert!(matches!(
            path_below(&root, &["a", "x"]),
            Err(PathError::DanglingLink { .. })
        ));
    }
}
