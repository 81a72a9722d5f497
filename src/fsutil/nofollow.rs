//! Reading folders that someone else may fill with symbolic links (an IOC container
//! writes its run folder as root; an archive or a hand-made `src/` may hold links)
//! without ever reading through a link.
//!
//! Every file is opened relative to its already opened folder with `O_NOFOLLOW`, and
//! a path below a folder with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so a
//! file or folder swapped for a link between a check and the open is refused by the
//! kernel, not followed. What an open returns is then `fstat`ed: the descriptor, not
//! the name, decides whether it is a file or a folder.

use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Opening a folder: `O_NOFOLLOW` makes a link in its place fail (with `ENOTDIR`,
/// together with `O_DIRECTORY`).
pub(crate) const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opening a file: `O_NONBLOCK` so a fifo put in a file's place cannot hang the open;
/// the `fstat` that follows refuses it.
const FILE: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// Why an open refused what it found; carried inside the `io::Error` it returns.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    #[error("is a symbolic link, which is not followed")]
    Link,
    #[error("is {found}, not {expected}")]
    Kind {
        found: &'static str,
        expected: &'static str,
    },
    #[error("leads outside its folder, which is not allowed")]
    Outside,
}

/// The refusal an error of this module carries, if it is one.
pub(crate) fn refusal(error: &io::Error) -> Option<&Refused> {
    error.get_ref()?.downcast_ref::<Refused>()
}

/// The error for a link where a file or folder was expected.
pub(crate) fn link_refused() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Refused::Link)
}

fn not_a(expected: &'static str, kind: FileType) -> io::Error {
    if kind == FileType::Symlink {
        return link_refused();
    }
    let found = match kind {
        FileType::Directory => "a folder",
        FileType::RegularFile => "a file",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a fifo",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        FileType::Unknown => "of an unknown kind",
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        Refused::Kind { found, expected },
    )
}

/// Opens the folder `path`. A symbolic link as its last component is not followed
/// (the folders above it are the operator's and may be links).
pub(crate) fn open_folder(path: &Path) -> io::Result<OwnedFd> {
    match rfs::open(path, FOLDER, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOTDIR) => Err(explain(rfs::CWD, path, "a folder")),
        Err(e) => Err(e.into()),
    }
}

/// Opens the folder `name` of the open folder `dir` without following a link.
pub(crate) fn open_folder_at<P: rustix::path::Arg + Copy>(
    dir: BorrowedFd<'_>,
    name: P,
) -> io::Result<OwnedFd> {
    match rfs::openat(dir, name, FOLDER, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOTDIR) => Err(explain(dir, name, "a folder")),
        Err(e) => Err(e.into()),
    }
}

/// Why `name` could not be opened as `what`: what it is instead.
fn explain<P: rustix::path::Arg>(dir: BorrowedFd<'_>, name: P, what: &'static str) -> io::Error {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => not_a(what, FileType::from_raw_mode(stat.st_mode)),
        Err(e) => e.into(),
    }
}

/// Opens the regular file `name` of the open folder `dir` without following a link,
/// with its `fstat`; a link, a folder or anything else is an error saying what it is.
pub(crate) fn open_file_at<P: rustix::path::Arg>(
    dir: BorrowedFd<'_>,
    name: P,
) -> io::Result<(File, rfs::Stat)> {
    let fd = match rfs::openat(dir, name, FILE, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(link_refused()),
        Err(e) => return Err(e.into()),
    };
    checked_file(fd)
}

/// Opens the regular file `path` with its `fstat`; a symbolic link as its last
/// component is not followed (the folders above it are the operator's).
pub(crate) fn open_file(path: &Path) -> io::Result<(File, rfs::Stat)> {
    match rfs::open(path, FILE, Mode::empty()) {
        Ok(fd) => checked_file(fd),
        Err(Errno::LOOP) => Err(link_refused()),
        Err(e) => Err(e.into()),
    }
}

fn checked_file(fd: OwnedFd) -> io::Result<(File, rfs::Stat)> {
    let stat = rfs::fstat(&fd)?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::RegularFile {
        return Err(not_a("a file", kind));
    }
    Ok((File::from(fd), stat))
}

/// Opens `relative` below the open folder `dir` with `flags`, following no symbolic
/// link on the way and never leaving `dir` (no `..`, no absolute path).
pub(crate) fn open_beneath(
    dir: BorrowedFd<'_>,
    relative: &Path,
    flags: OFlags,
) -> io::Result<OwnedFd> {
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    // EAGAIN: a rename elsewhere raced with the lookup; the kernel asks to try again.
    for _ in 0..8 {
        match rfs::openat2(dir, relative, flags, Mode::empty(), resolve) {
            Err(Errno::AGAIN) => continue,
            // Kernels before 5.6 (or a filter) lack openat2: the same walk by hand.
            Err(Errno::NOSYS) => return open_beneath_by_parts(dir, relative, flags),
            Err(Errno::LOOP) => return Err(link_refused()),
            Err(Errno::XDEV) => return Err(outside()),
            other => return other.map_err(Into::into),
        }
    }
    Err(Errno::AGAIN.into())
}

fn outside() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, Refused::Outside)
}

fn open_beneath_by_parts(
    dir: BorrowedFd<'_>,
    relative: &Path,
    flags: OFlags,
) -> io::Result<OwnedFd> {
    let parts: Vec<&OsStr> = relative
        .components()
        .map(|part| match part {
            Component::Normal(name) => Ok(name),
            _ => Err(outside()),
        })
        .collect::<io::Result<_>>()?;
    let Some((last, folders)) = parts.split_last() else {
        return Err(outside());
    };
    let mut current: Option<OwnedFd> = None;
    for folder in folders {
        let at = current.as_ref().map_or(dir, |fd| fd.as_fd());
        current = Some(
            rfs::openat(at, *folder, FOLDER, Mode::empty()).map_err(|e| {
                if e == Errno::NOTDIR || e == Errno::LOOP {
                    link_refused()
                } else {
                    e.into()
                }
            })?,
        );
    }
    let at = current.as_ref().map_or(dir, |fd| fd.as_fd());
    rfs::openat(at, *last, flags, Mode::empty()).map_err(|e| {
        if e == Errno::LOOP {
            link_refused()
        } else {
            e.into()
        }
    })
}

/// Opens the regular file `relative` below the open folder `dir` (see
/// [`open_beneath`]), with its `fstat`.
pub(crate) fn open_file_beneath(
    dir: BorrowedFd<'_>,
    relative: &Path,
) -> io::Result<(File, rfs::Stat)> {
    checked_file(open_beneath(dir, relative, FILE)?)
}

/// What a look that follows no link finds at a path: the bytes of a regular file or
/// the target text of a symbolic link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    File(Vec<u8>),
    Link(Vec<u8>),
}

/// The content of `relative` below the folder `root`, following no link on the way
/// (a path through a link, like a folder or a fifo, has no content: `None`). The root
/// itself is opened without following a link as its last component.
pub(crate) fn content_beneath(root: &Path, relative: &Path) -> Option<Content> {
    let root = open_folder(root).ok()?;
    let (parent, name) = match (relative.parent(), relative.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            (Some(open_beneath(root.as_fd(), parent, FOLDER).ok()?), name)
        }
        (_, Some(name)) => (None, name),
        _ => return None,
    };
    let dir = parent.as_ref().map_or(root.as_fd(), |fd| fd.as_fd());
    match open_file_at(dir, name) {
        Ok((mut file, _)) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).ok()?;
            Some(Content::File(bytes))
        }
        Err(_) => rfs::readlinkat(dir, name, Vec::new())
            .ok()
            .map(|target| Content::Link(target.into_bytes())),
    }
}

/// The content of the file or link `path` (see [`content_beneath`]).
pub(crate) fn content_of(path: &Path) -> Option<Content> {
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir = rfs::open(parent, FOLDER.difference(OFlags::NOFOLLOW), Mode::empty()).ok()?;
    match open_file_at(dir.as_fd(), name) {
        Ok((mut file, _)) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).ok()?;
            Some(Content::File(bytes))
        }
        Err(_) => rfs::readlinkat(&dir, name, Vec::new())
            .ok()
            .map(|target| Content::Link(target.into_bytes())),
    }
}

/// What a walk finds: a folder (relative path, opened), a regular file or a symbolic
/// link (relative path, the open folder holding it, its name there), or something
/// else (a fifo, a socket, a device).
pub(crate) enum Found<'a> {
    Folder(&'a Path, BorrowedFd<'a>),
    File(PathBuf, BorrowedFd<'a>, &'a CStr),
    Link(PathBuf, BorrowedFd<'a>, &'a CStr),
    Other(PathBuf),
}

/// Calls `visit` for the open folder `root` itself and every folder, file, link and
/// other entry below it. Links are reported, never followed. Each folder is opened
/// relative to its parent and read with `getdents`, and entries are looked up relative
/// to their open folder: no path is resolved twice, so nothing can be swapped for a
/// link under the walk. The first error (of the walk, at a relative path, or of
/// `visit`) ends it.
pub(crate) fn walk<E>(
    root: OwnedFd,
    visit: &mut impl FnMut(Found<'_>) -> Result<(), E>,
    error: &impl Fn(&Path, io::Error) -> E,
) -> Result<(), E> {
    walk_folder(root, Path::new(""), visit, error)
}

fn walk_folder<E>(
    folder: OwnedFd,
    relative: &Path,
    visit: &mut impl FnMut(Found<'_>) -> Result<(), E>,
    error: &impl Fn(&Path, io::Error) -> E,
) -> Result<(), E> {
    visit(Found::Folder(relative, folder.as_fd()))?;
    let mut entries = rfs::Dir::new(folder).map_err(|e| error(relative, e.into()))?;
    while let Some(entry) = entries.read() {
        let entry = entry.map_err(|e| error(relative, e.into()))?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let fd = entries.fd().map_err(|e| error(relative, e.into()))?;
        let path = relative.join(OsStr::from_bytes(name.to_bytes()));
        let kind = match entry.file_type() {
            // Some file systems do not fill in the type: ask the inode.
            FileType::Unknown => rfs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|stat| FileType::from_raw_mode(stat.st_mode))
                .map_err(|e| error(&path, e.into()))?,
            kind => kind,
        };
        match kind {
            FileType::Directory => {
                let sub = open_folder_at(fd, name).map_err(|e| error(&path, e))?;
                walk_folder(sub, &path, visit, error)?;
            }
            FileType::RegularFile => visit(Found::File(path, fd, name))?,
            FileType::Symlink => visit(Found::Link(path, fd, name))?,
            _ => visit(Found::Other(path))?,
        }
    }
    Ok(())
}

/// Renames every entry of the folder `base/parts…` whose name starts with `from` to
/// the same name starting with `to`, never replacing an entry that exists: `base` is
/// opened as named, each part without following a link, and the renames happen
/// inside that opened folder, so a link planted on the way redirects nothing.
/// Returns the new names; a folder that does not exist has nothing to rename.
pub(crate) fn rename_prefixed(
    base: &Path,
    parts: &[&str],
    from: &str,
    to: &str,
) -> io::Result<Vec<String>> {
    let mut folder = match open_folder(base) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for part in parts {
        folder = match open_folder_at(folder.as_fd(), *part) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
    }
    let mut names = Vec::new();
    let mut entries = rfs::Dir::read_from(&folder)?;
    while let Some(entry) = entries.read() {
        let name = entry?.file_name().to_bytes().to_vec();
        if let Some(rest) = name.strip_prefix(from.as_bytes()) {
            names.push((name.clone(), [to.as_bytes(), rest].concat()));
        }
    }
    let mut renamed = Vec::with_capacity(names.len());
    for (old, new) in names {
        let (old, new) = (OsStr::from_bytes(&old), OsStr::from_bytes(&new));
        match rfs::renameat_with(&folder, old, &folder, new, rfs::RenameFlags::NOREPLACE) {
            Ok(()) => {}
            // Taken already: the entry stays as it is rather than replace another.
            Err(Errno::EXIST) => continue,
            // File systems without RENAME_NOREPLACE (NFS): look first, then rename.
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                if rfs::statat(&folder, new, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                    continue;
                }
                rfs::renameat(&folder, old, &folder, new)?;
            }
            Err(e) => return Err(e.into()),
        }
        renamed.push(new.to_string_lossy().into_owned());
    }
    Ok(renamed)
}

/// The target text of the link `name` in the open folder `dir`.
pub(crate) fn link_target(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    Ok(rfs::readlinkat(dir, name, Vec::new())?.into_bytes())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn links_are_refused_on_the_way_and_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/file"), "inside").unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, "secret").unwrap();
        symlink(&secret, root.join("link")).unwrap();
        symlink(dir.path(), root.join("up")).unwrap();
        let fd = open_folder(&root).unwrap();

        let (mut file, _) = open_file_beneath(fd.as_fd(), Path::new("sub/file")).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "inside");
        for refused in ["link", "up/secret", "../secret", "sub/../link"] {
            let err = open_file_beneath(fd.as_fd(), Path::new(refused)).unwrap_err();
            assert!(
                err.to_string().contains("symbolic link") || err.to_string().contains("outside"),
                "{refused}: {err}"
            );
        }
        assert!(
            open_file_at(fd.as_fd(), "link")
                .unwrap_err()
                .to_string()
                .contains("symbolic link")
        );
        assert!(
            open_file_at(fd.as_fd(), "sub")
                .unwrap_err()
                .to_string()
                .contains("is a folder, not a file")
        );
        assert!(
            open_folder(&root.join("up"))
                .unwrap_err()
                .to_string()
                .contains("is a symbolic link, which is not followed")
        );
        // The by-hand walk of old kernels refuses the same.
        for refused in ["link", "up/secret", "../secret"] {
            assert!(open_beneath_by_parts(fd.as_fd(), Path::new(refused), FILE).is_err());
        }
        assert!(open_beneath_by_parts(fd.as_fd(), Path::new("sub/file"), FILE).is_ok());

        assert_eq!(
            content_beneath(&root, Path::new("link")),
            Some(Content::Link(secret.as_os_str().as_bytes().to_vec()))
        );
        assert_eq!(content_beneath(&root, Path::new("up/secret")), None);
        assert_eq!(
            content_of(&root.join("sub/file")),
            Some(Content::File(b"inside".to_vec()))
        );
    }

    #[test]
    fn a_walk_reports_links_and_does_not_enter_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/file"), "x").unwrap();
        symlink(dir.path(), root.join("sub/up")).unwrap();
        let mut seen = Vec::new();
        walk::<io::Error>(
            open_folder(&root).unwrap(),
            &mut |found| {
                seen.push(match found {
                    Found::Folder(path, _) => format!("folder {}", path.display()),
                    Found::File(path, _, _) => format!("file {}", path.display()),
                    Found::Link(path, dir, name) => format!(
                        "link {} -> {}",
                        path.display(),
                        String::from_utf8(link_target(dir, name).unwrap()).unwrap()
                    ),
                    Found::Other(path) => format!("other {}", path.display()),
                });
                Ok(())
            },
            &|_, e| e,
        )
        .unwrap();
        seen.sort();
        assert_eq!(
            seen,
            [
                "file sub/file".to_string(),
                "folder ".to_string(),
                "folder sub".to_string(),
                format!("link sub/up -> {}", dir.path().display()),
            ]
        );
    }
}
