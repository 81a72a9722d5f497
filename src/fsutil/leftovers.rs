//! What an interrupted command leaves beside the files it was replacing: a staged
//! folder that never got its name, the old folder moved aside for a swap, a folder
//! being removed, a temporary file. Every such entry is hidden (`.iocdock-…`) and,
//! when made for one entry of a folder shared by many IOCs, carries that entry's
//! name (`.iocdock-new-<name>-XXXXXX`), so the next command that touches the IOC
//! can tell which are its own.
//!
//! Cleaning them is safe only under the repository lock, which every command that
//! stages anything holds: then nothing that is still in use can be in the way.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Staged folder of a new or replacing tree: `.iocdock-new-<target>-XXXXXX`.
pub(crate) const NEW: &str = ".iocdock-new-";
/// An old tree moved aside by a swap, inside as `d`: `.iocdock-old-<target>-XXXXXX/d`.
pub(crate) const OLD: &str = ".iocdock-old-";
/// An old IOC folder moved aside by a swap, inside under its own name.
pub(crate) const REPLACED: &str = ".iocdock-replaced-";
/// A folder being removed, inside as `d`.
pub(crate) const REMOVED: &str = ".iocdock-removed-";
/// A startup folder being built or swapped in `project/` (`<pid>-<n>` follows).
pub(crate) const STARTUP_NEW: &str = ".iocdock-startup-new-";
pub(crate) const STARTUP_OLD: &str = ".iocdock-startup-old-";
/// The inside name of an aside or removed folder.
pub(crate) const INSIDE: &str = "d";
const HIDDEN: &str = ".iocdock-";
const TEMP_SUFFIX: &str = ".tmp";
/// Random characters tempfile adds to a name (its default).
const RANDOM_LEN: usize = 6;

/// The prefix of a staged or aside folder for `target`: `<kind><target>-`.
pub(crate) fn prefix_for(kind: &str, target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{kind}{name}-")
}

/// What a leftover is, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Never got its name: deleted.
    Staged,
    /// Was moved aside to make room; `inside` holds the old tree (the leftover
    /// itself when None). Put back when its target is missing, else deleted.
    Aside { inside: Option<String> },
    /// Deleted: its removal was under way.
    Removed,
    /// A temporary file of an atomic write: deleted.
    Temp,
}

#[derive(Debug, Clone)]
pub(crate) struct Leftover {
    pub(crate) path: PathBuf,
    pub(crate) kind: Kind,
    /// The entry of the same folder it was made for, when its name says so (made
    /// by earlier versions, a staged or aside folder does not say).
    pub(crate) target: Option<String>,
}

/// What cleaning did.
#[derive(Debug, Default)]
pub(crate) struct Cleared {
    pub(crate) removed: Vec<PathBuf>,
    /// (the aside tree, where it went back to)
    pub(crate) put_back: Vec<(PathBuf, PathBuf)>,
    pub(crate) failed: Vec<(PathBuf, String)>,
}

/// `<target>-XXXXXX` → `<target>`; None for the bare `XXXXXX` of earlier versions.
fn target_of(rest: &str) -> Option<String> {
    let (target, random) = rest.rsplit_once('-')?;
    (!target.is_empty()
        && random.len() == RANDOM_LEN
        && random.bytes().all(|b| b.is_ascii_alphanumeric()))
    .then(|| target.to_string())
}

/// Reads a leftover's kind and target from its name; None for anything else.
pub(crate) fn classify(dir: &Path, name: &str, is_dir: bool) -> Option<Leftover> {
    if !name.starts_with(HIDDEN) {
        return None;
    }
    let leftover = |kind, target| {
        Some(Leftover {
            path: dir.join(name),
            kind,
            target,
        })
    };
    if !is_dir {
        return if name.ends_with(TEMP_SUFFIX) {
            leftover(Kind::Temp, None)
        } else {
            None
        };
    }
    if name.starts_with(STARTUP_NEW) {
        leftover(Kind::Staged, Some("startup".to_string()))
    } else if name.starts_with(STARTUP_OLD) {
        leftover(Kind::Aside { inside: None }, Some("startup".to_string()))
    } else if let Some(rest) = name.strip_prefix(NEW) {
        leftover(Kind::Staged, target_of(rest))
    } else if let Some(rest) = name.strip_prefix(OLD) {
        leftover(
            Kind::Aside {
                inside: Some(INSIDE.to_string()),
            },
            target_of(rest),
        )
    } else if let Some(rest) = name.strip_prefix(REPLACED) {
        let target = target_of(rest);
        leftover(
            Kind::Aside {
                inside: target.clone(),
            },
            target,
        )
    } else if let Some(rest) = name.strip_prefix(REMOVED) {
        leftover(Kind::Removed, target_of(rest))
    } else {
        None
    }
}

/// The leftovers in `dir` (not below it); none when it cannot be read.
pub(crate) fn list(dir: &Path) -> Vec<Leftover> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            // A link is never a folder here: it is not followed.
            let is_dir = entry.file_type().ok()?.is_dir();
            classify(dir, &name, is_dir)
        })
        .collect()
}

impl Leftover {
    /// Cleans it: a staged, removed or temporary entry is deleted; an aside tree goes
    /// back to its target when the target is missing (the command stopped between the
    /// two renames of its swap, so that tree is the only one), else it is deleted. An
    /// aside tree whose target is not known is left alone (`forget` deletes it).
    pub(crate) fn clear(&self, cleared: &mut Cleared) {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if let (Kind::Aside { inside }, Some(target)) = (&self.kind, &self.target) {
            let target = dir.join(target);
            let tree = match inside {
                Some(inside) => self.path.join(inside),
                None => self.path.clone(),
            };
            if fs::symlink_metadata(&target).is_err() && fs::symlink_metadata(&tree).is_ok() {
                if let Err(e) = fs::rename(&tree, &target) {
                    cleared.failed.push((self.path.clone(), e.to_string()));
                    return;
                }
                let whole = tree == self.path;
                cleared.put_back.push((tree, target));
                if whole {
                    return;
                }
            }
        } else if matches!(self.kind, Kind::Aside { .. }) {
            cleared.failed.push((
                self.path.clone(),
                "an earlier version moved a folder aside here and did not say which; left alone"
                    .to_string(),
            ));
            return;
        }
        self.forget(cleared);
    }

    /// Deletes it, whatever it holds.
    pub(crate) fn forget(&self, cleared: &mut Cleared) {
        match remove_entry(&self.path) {
            Ok(()) => cleared.removed.push(self.path.clone()),
            Err(e) => cleared.failed.push((self.path.clone(), e.to_string())),
        }
    }
}

/// Removes a file, link or folder tree. Generated trees hold read-only folders
/// (an older tool made them so), which are made writable first when needed.
fn remove_entry(path: &Path) -> io::Result<()> {
    let metadata = fs::symlink_metadata(path)?;
    if !metadata.is_dir() {
        return fs::remove_file(path);
    }
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(path).into_iter().flatten() {
        if entry.file_type().is_dir() {
            let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o755));
        }
    }
    fs::remove_dir_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_and_for_which_entry() {
        let dir = Path::new("/x");
        let of = |name: &str, is_dir: bool| {
            classify(dir, name, is_dir).map(|l| (l.kind, l.target.unwrap_or_default()))
        };
        let aside = |inside: Option<&str>| Kind::Aside {
            inside: inside.map(str::to_string),
        };
        assert_eq!(
            of(".iocdock-new-a-b-Ab3dE9", true),
            Some((Kind::Staged, "a-b".into()))
        );
        assert_eq!(
            of(".iocdock-new-Ab3dE9", true),
            Some((Kind::Staged, String::new()))
        );
        assert_eq!(
            of(".iocdock-old-startup-x1y2z3", true),
            Some((aside(Some("d")), "startup".into()))
        );
        assert_eq!(
            of(".iocdock-replaced-ioc1-x1y2z3", true),
            Some((aside(Some("ioc1")), "ioc1".into()))
        );
        assert_eq!(
            of(".iocdock-removed-ioc1-x1y2z3", true),
            Some((Kind::Removed, "ioc1".into()))
        );
        assert_eq!(
            of(".iocdock-startup-old-42-0", true),
            Some((aside(None), "startup".into()))
        );
        assert_eq!(
            of(".iocdock-Ab3dE9.tmp", false),
            Some((Kind::Temp, String::new()))
        );
        for other in [".iocdock.lock", ".iocdock-shipped", "ioc1", "x.tmp"] {
            assert_eq!(of(other, false), None, "{other}");
            assert_eq!(of(other, true), None, "{other}");
        }
        assert_eq!(
            of(".iocdock-new-a-b-Ab3dE9", false),
            None,
            "a file is no staged folder"
        );
    }

    #[test]
    fn an_aside_tree_goes_back_only_when_its_target_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let aside = dir.path().join(".iocdock-old-startup-x1y2z3");
        fs::create_dir_all(aside.join("d")).unwrap();
        fs::write(aside.join("d/st.cmd"), "old").unwrap();
        let mut cleared = Cleared::default();
        for leftover in list(dir.path()) {
            leftover.clear(&mut cleared);
        }
        assert_eq!(
            fs::read_to_string(dir.path().join("startup/st.cmd")).unwrap(),
            "old"
        );
        assert_eq!(cleared.put_back.len(), 1);
        assert!(!aside.exists());

        fs::create_dir_all(aside.join("d")).unwrap();
        fs::write(aside.join("d/st.cmd"), "older").unwrap();
        let staged = dir.path().join(".iocdock-new-startup-a1b2c3");
        fs::create_dir_all(staged.join("iocBoot")).unwrap();
        fs::set_permissions(staged.join("iocBoot"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::write(dir.path().join(".iocdock-q1w2e3.tmp"), "half").unwrap();
        let mut cleared = Cleared::default();
        for leftover in list(dir.path()) {
            leftover.clear(&mut cleared);
        }
        assert_eq!(cleared.removed.len(), 3, "{cleared:?}");
        assert_eq!(
            fs::read_to_string(dir.path().join("startup/st.cmd")).unwrap(),
            "old"
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["startup"]);
    }
}
