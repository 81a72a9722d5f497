//! Walking and comparing small folder trees: the startup files of an IOC against
//! their exported copy, its src/ against the snapshot. `list -p` does this for every
//! IOC of the repository, so the walk is built around the system calls it costs.
//!
//! The comparison is rsync's quick check: two files whose size and modification
//! time (to the nanosecond) agree are taken as equal without reading them, and two
//! folders whose modification times agree as holding the same entries. `copy_tree`
//! gives every copied file and folder its source's time. Any later change to either
//! side gives what changed a new time (writing a file sets its time; adding, removing
//! or renaming an entry sets its folder's), so the pair is compared in full: files
//! byte for byte, folders by listing both.
//!
//! Nothing is read through a symbolic link: a link is an entry like a file, equal to
//! a link with the same target text on the other side, and different from anything
//! else. So a link is never dropped silently, and a copy whose file was swapped for
//! a link is inconsistent.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType};

use super::nofollow::{self, Found, link_target, open_folder};
use super::read_small;

/// Calls `visit` for `dir` itself and every folder, file and link below it (see
/// [`nofollow::walk`]); a missing folder yields nothing. Returns false when some
/// folder could not be opened or read to its end, or `dir` is not a folder.
fn walk(dir: &Path, visit: &mut impl FnMut(Found<'_>) -> Result<(), ()>) -> bool {
    match open_folder(dir) {
        Ok(root) => nofollow::walk(root, visit, &|_, _| ()).is_ok(),
        Err(error) => error.kind() == io::ErrorKind::NotFound,
    }
}

/// Files below `dir` by path relative to it; a missing folder has none. Links are
/// left out.
#[cfg(test)]
pub(crate) fn files_below(dir: &Path) -> BTreeMap<PathBuf, PathBuf> {
    let mut out = BTreeMap::new();
    walk(dir, &mut |found| {
        if let Found::File(relative, _, _) = found {
            let path = dir.join(&relative);
            out.insert(relative, path);
        }
        Ok(())
    });
    out
}

/// The regular files below `dir` by relative path, or None when it holds anything
/// else than folders and regular files (a link, a fifo) or cannot be read whole.
pub(crate) fn plain_files_below(dir: &Path) -> Option<BTreeMap<PathBuf, PathBuf>> {
    let mut out = BTreeMap::new();
    let complete = walk(dir, &mut |found| match found {
        Found::Folder(..) => Ok(()),
        Found::File(relative, _, _) => {
            let path = dir.join(&relative);
            out.insert(relative, path);
            Ok(())
        }
        Found::Link(..) | Found::Other(_) => Err(()),
    });
    complete.then_some(out)
}

/// What kind of entry a stamp describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Folder,
    File,
    Link,
    Other,
}

/// What the quick check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    kind: Kind,
    len: u64,
    modified: (i64, i64),
    mode: u32,
}

impl Stamp {
    // The field types of `Stat` differ between targets; the conversions are lossless
    // where they are not the identity.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn of(stat: &rfs::Stat) -> Self {
        Stamp {
            kind: match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => Kind::Folder,
                FileType::RegularFile => Kind::File,
                FileType::Symlink => Kind::Link,
                _ => Kind::Other,
            },
            len: u64::try_from(stat.st_size).unwrap_or(u64::MAX),
            modified: (stat.st_mtime as i64, stat.st_mtime_nsec as i64),
            mode: u32::from(stat.st_mode) & 0o7777,
        }
    }

    fn of_path(path: &Path) -> Option<Self> {
        rfs::statat(rfs::CWD, path, AtFlags::SYMLINK_NOFOLLOW)
            .ok()
            .map(|stat| Stamp::of(&stat))
    }
}

/// Every folder, file and link of a tree with its stamp (a link with its target
/// text), by path relative to the tree.
#[derive(Default)]
struct TreeStamps {
    folders: Vec<(PathBuf, Stamp)>,
    files: BTreeMap<PathBuf, Stamp>,
    links: BTreeMap<PathBuf, Vec<u8>>,
    /// False when part of the tree could not be read: it then equals nothing.
    complete: bool,
}

impl TreeStamps {
    /// A missing folder has no folders and no files. Fifos, sockets and devices are
    /// left out: nothing copies them.
    fn of(dir: &Path) -> Self {
        let mut tree = TreeStamps::default();
        let walked = walk(dir, &mut |found| {
            match found {
                Found::Folder(relative, fd) => {
                    let stat = rfs::fstat(fd).map_err(drop)?;
                    tree.folders
                        .push((relative.to_path_buf(), Stamp::of(&stat)));
                }
                Found::File(relative, folder, name) => {
                    let stat =
                        rfs::statat(folder, name, AtFlags::SYMLINK_NOFOLLOW).map_err(drop)?;
                    tree.files.insert(relative, Stamp::of(&stat));
                }
                Found::Link(relative, folder, name) => {
                    tree.links
                        .insert(relative, link_target(folder, name).map_err(drop)?);
                }
                Found::Other(_) => {}
            }
            Ok(())
        });
        tree.complete = walked;
        tree
    }

    /// The stamps of `copy`'s counterparts of this tree's files, looked up by path
    /// without listing `copy`; None when a folder's time differs (then entries may
    /// have come or gone), something is missing or of another kind, or a link of the
    /// copy has another target.
    fn counterparts(&self, copy: &Path) -> Option<Vec<Stamp>> {
        if self.folders.is_empty() {
            return None;
        }
        for (relative, stamp) in &self.folders {
            // `join("")` would end the path in a slash, which follows a symbolic link.
            let folder = if relative.as_os_str().is_empty() {
                copy.to_path_buf()
            } else {
                copy.join(relative)
            };
            let theirs = Stamp::of_path(&folder)?;
            if theirs.kind != Kind::Folder || theirs.modified != stamp.modified {
                return None;
            }
        }
        for (relative, target) in &self.links {
            let theirs = rfs::readlinkat(rfs::CWD, copy.join(relative), Vec::new()).ok()?;
            if theirs.as_bytes() != target.as_slice() {
                return None;
            }
        }
        self.files
            .keys()
            .map(|relative| Stamp::of_path(&copy.join(relative)).filter(|s| s.kind == Kind::File))
            .collect()
    }
}

/// Whether two files have the same bytes: without reading them when their sizes
/// differ or their times agree.
fn same_content(a: &Stamp, b: &Stamp, paths: impl FnOnce() -> (PathBuf, PathBuf)) -> bool {
    a.len == b.len
        && (a.modified == b.modified || {
            let (a, b) = paths();
            matches!((read_small(&a), read_small(&b)), (Ok(x), Ok(y)) if x == y)
        })
}

/// Whether the file `copy` holds `bytes`, the contents of the file `source` read
/// earlier; None when there is no file `copy` (a link is none).
pub(crate) fn copy_holds(source: &Path, bytes: &[u8], copy: &Path) -> Option<bool> {
    let theirs = Stamp::of_path(copy)?;
    match theirs.kind {
        Kind::File => {}
        Kind::Folder => return None,
        // Something put in the file's place is a difference, not an absence.
        Kind::Link | Kind::Other => return Some(false),
    }
    if theirs.len != bytes.len() as u64 {
        return Some(false);
    }
    if Stamp::of_path(source)
        .is_some_and(|ours| ours.len == theirs.len && ours.modified == theirs.modified)
    {
        return Some(true);
    }
    Some(read_small(copy).is_ok_and(|read| read == bytes))
}

/// Whether `copy` holds the same files with the same bytes, and the same symbolic
/// links with the same target text, as `source` (a missing folder holds none).
pub(crate) fn same_tree(source: &Path, copy: &Path) -> bool {
    let ours = TreeStamps::of(source);
    if !ours.complete {
        return false;
    }
    if let Some(theirs) = ours.counterparts(copy) {
        return ours.files.iter().zip(&theirs).all(|((relative, a), b)| {
            same_content(a, b, || (source.join(relative), copy.join(relative)))
        });
    }
    let theirs = TreeStamps::of(copy);
    theirs.complete
        && ours.links == theirs.links
        && ours.files.len() == theirs.files.len()
        && ours
            .files
            .iter()
            .zip(&theirs.files)
            .all(|((ra, a), (rb, b))| {
                ra == rb && same_content(a, b, || (source.join(ra), copy.join(rb)))
            })
}

/// Whether `copy` is what `copy_tree` made of `source` and nothing changed since:
/// every folder and file has its source's time, files their size and the permission
/// bits `copy_tree` gives them, and links their source's target. Bytes are not read;
/// a copy that fails this is simply made again, which also restores the times the
/// quick check of `same_tree` relies on.
pub(crate) fn is_current_copy(source: &Path, copy: &Path) -> bool {
    let ours = TreeStamps::of(source);
    ours.complete
        && ours.counterparts(copy).is_some_and(|theirs| {
            ours.files.values().zip(&theirs).all(|(a, b)| {
                a.len == b.len && a.modified == b.modified && super::copied_mode(a.mode) == b.mode
            })
        })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::fsutil::copy_tree;

    fn source_tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        fs::create_dir_all(source.join("db")).unwrap();
        fs::write(source.join("st.cmd"), "iocInit\n").unwrap();
        fs::write(source.join("db/a.db"), "record(ai, \"a\") {}\n").unwrap();
        // Times far from now, so a write during the test cannot hit them by chance.
        let old = SystemTime::now() - Duration::from_secs(3600);
        for path in ["st.cmd", "db/a.db", "db", ""] {
            set_mtime(&source.join(path), old);
        }
        let copy = dir.path().join("copy");
        fs::create_dir(&copy).unwrap();
        copy_tree(&source, &copy).unwrap();
        (dir, source, copy)
    }

    fn set_mtime(path: &Path, time: SystemTime) {
        fs::File::open(path).unwrap().set_modified(time).unwrap();
    }

    fn mtime(path: &Path) -> SystemTime {
        fs::metadata(path).unwrap().modified().unwrap()
    }

    #[test]
    fn a_copy_carries_the_times_of_its_files_and_folders() {
        let (_dir, source, copy) = source_tree();
        for path in ["st.cmd", "db/a.db", "db", ""] {
            assert_eq!(mtime(&source.join(path)), mtime(&copy.join(path)), "{path}");
        }
        assert!(same_tree(&source, &copy));
        assert!(is_current_copy(&source, &copy));
    }

    #[test]
    fn a_rewritten_file_of_the_same_size_is_a_difference() {
        let (_dir, source, copy) = source_tree();
        fs::write(copy.join("db/a.db"), "record(ai, \"b\") {}\n").unwrap();
        assert!(!same_tree(&source, &copy));
        assert!(!is_current_copy(&source, &copy));
    }

    #[test]
    fn equal_bytes_with_another_time_are_the_same_tree_but_not_a_current_copy() {
        let (_dir, source, copy) = source_tree();
        fs::write(source.join("st.cmd"), "iocInit\n").unwrap();
        assert!(same_tree(&source, &copy));
        assert!(!is_current_copy(&source, &copy));
    }

    #[test]
    fn an_added_or_removed_file_is_a_difference() {
        let (_dir, source, copy) = source_tree();
        fs::write(copy.join("db/extra.db"), "").unwrap();
        assert!(!same_tree(&source, &copy));
        assert!(!is_current_copy(&source, &copy));

        let (_dir, source, copy) = source_tree();
        fs::remove_file(source.join("db/a.db")).unwrap();
        assert!(!same_tree(&source, &copy));
        assert!(!is_current_copy(&source, &copy));
    }

    #[test]
    fn a_file_added_with_its_folder_time_put_back_is_still_found() {
        // Someone restoring the folder's time by hand defeats the folder check, but
        // not the file check: the stray file is only missed in the listing.
        let (_dir, source, copy) = source_tree();
        let folder_time = mtime(&copy.join("db"));
        fs::write(copy.join("db/a.db"), "changed\n").unwrap();
        set_mtime(&copy.join("db"), folder_time);
        assert!(!same_tree(&source, &copy));
    }

    #[test]
    fn symbolic_links_count_by_their_target_and_missing_folders_hold_nothing() {
        let (dir, source, copy) = source_tree();
        let link = |target: &str, at: &Path| std::os::unix::fs::symlink(target, at).unwrap();
        link("/etc/passwd", &copy.join("link"));
        assert!(!same_tree(&source, &copy), "an extra link is a difference");
        link("/etc/passwd", &source.join("link"));
        assert!(
            same_tree(&source, &copy),
            "the same target is the same link"
        );
        fs::remove_file(copy.join("link")).unwrap();
        link("/etc/shadow", &copy.join("link"));
        assert!(!same_tree(&source, &copy), "another target is a difference");
        fs::remove_file(copy.join("link")).unwrap();
        fs::write(copy.join("link"), "/etc/passwd").unwrap();
        assert!(!same_tree(&source, &copy), "a file is not a link");

        assert!(same_tree(
            &dir.path().join("none"),
            &dir.path().join("neither")
        ));
        assert!(!same_tree(&source, &dir.path().join("none")));
        assert_eq!(
            files_below(&source).into_keys().collect::<Vec<_>>(),
            [PathBuf::from("db/a.db"), PathBuf::from("st.cmd")]
        );
        assert_eq!(plain_files_below(&source), None);
        fs::remove_file(source.join("link")).unwrap();
        assert_eq!(plain_files_below(&source).map(|f| f.len()), Some(2));
    }

    #[test]
    fn copies_carry_links_as_links_and_drop_set_id_bits() {
        let (dir, source, _) = source_tree();
        let secret = dir.path().join("secret");
        fs::write(&secret, "secret").unwrap();
        std::os::unix::fs::symlink(&secret, source.join("db/link.db")).unwrap();
        std::os::unix::fs::symlink(dir.path(), source.join("up")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(source.join("st.cmd"), fs::Permissions::from_mode(0o6755)).unwrap();
        let copy = dir.path().join("copy2");
        fs::create_dir(&copy).unwrap();
        copy_tree(&source, &copy).unwrap();
        assert_eq!(fs::read_link(copy.join("db/link.db")).unwrap(), secret);
        assert_eq!(fs::read_link(copy.join("up")).unwrap(), dir.path());
        let mode = fs::metadata(copy.join("st.cmd"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
        assert!(same_tree(&source, &copy));
        assert!(is_current_copy(&source, &copy));
        // A set-id bit put on the copy afterwards makes it stale.
        fs::set_permissions(copy.join("st.cmd"), fs::Permissions::from_mode(0o4755)).unwrap();
        assert!(!is_current_copy(&source, &copy));
    }

    #[test]
    fn a_tree_that_cannot_be_opened_equals_nothing() {
        // A symbolic link in place of the copy's folder is not followed: a run folder
        // must not point elsewhere.
        let (dir, source, copy) = source_tree();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&copy, &link).unwrap();
        assert!(same_tree(&source, &copy));
        assert!(!same_tree(&source, &link));
        assert!(!same_tree(&link, &copy));
        assert!(!is_current_copy(&source, &link));
        // Nor is a file where the folder should be.
        fs::write(dir.path().join("file"), "").unwrap();
        assert!(!same_tree(
            &dir.path().join("file"),
            &dir.path().join("none")
        ));
    }

    #[test]
    fn copy_holds_compares_with_bytes_read_earlier() {
        let (_dir, source, copy) = source_tree();
        let bytes = fs::read(source.join("st.cmd")).unwrap();
        assert_eq!(
            copy_holds(&source.join("st.cmd"), &bytes, &copy.join("st.cmd")),
            Some(true)
        );
        assert_eq!(
            copy_holds(&source.join("st.cmd"), &bytes, &copy.join("none")),
            None
        );
        fs::write(copy.join("st.cmd"), "iocInix\n").unwrap();
        assert_eq!(
            copy_holds(&source.join("st.cmd"), &bytes, &copy.join("st.cmd")),
            Some(false)
        );
        fs::write(copy.join("st.cmd"), "iocInit\n").unwrap();
        assert_eq!(
            copy_holds(&source.join("st.cmd"), &bytes, &copy.join("st.cmd")),
            Some(true)
        );
    }
}
