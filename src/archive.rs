//! What every `.tar.gz` the tool reads back must pass, whatever it holds (IOC
//! backups, swarm backups): archives are untrusted input, since an operator may
//! restore one copied from anywhere. Each reader adds its own layout rules on top.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use tempfile::NamedTempFile;

use crate::fsutil::{FsError, IoContext};

/// What can go wrong writing or reading an archive, whatever it holds; each backup
/// adds the errors of its own layout and wraps these.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ArchiveError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{}: cannot write archive: {cause}", archive.display())]
    Write { archive: PathBuf, cause: io::Error },
    #[error(
        "{}: no free archive name from {first} to {last}; remove some archives",
        dir.display()
    )]
    NoFreeName {
        dir: PathBuf,
        first: String,
        last: String,
    },
    #[error("{}: not a readable .tar.gz archive (damaged or truncated?): {cause}", archive.display())]
    Unreadable { archive: PathBuf, cause: io::Error },
    /// `refused` says why the limit exists for this kind of archive.
    #[error(
        "{}: more than {} once unpacked; {refused}",
        archive.display(),
        size_text(*limit)
    )]
    TooLarge {
        archive: PathBuf,
        limit: u64,
        refused: &'static str,
    },
    #[error("{}: entry \"{entry}\": {problem}", archive.display())]
    Entry {
        archive: PathBuf,
        entry: String,
        problem: String,
    },
}

impl ArchiveError {
    /// An entry the archive may not hold, by its path as shown to the operator.
    pub(crate) fn entry(archive: &Path, entry: &str, problem: &str) -> ArchiveError {
        ArchiveError::Entry {
            archive: archive.to_path_buf(),
            entry: entry.to_owned(),
            problem: problem.to_owned(),
        }
    }
}

/// The error of a read that failed on the gzip or tar level.
pub(crate) fn unreadable(archive: &Path) -> impl Fn(io::Error) -> ArchiveError + Copy + '_ {
    move |source| ArchiveError::Unreadable {
        archive: archive.to_path_buf(),
        cause: source,
    }
}

/// Creates a backup folder and the folders above it that are missing, each readable
/// by its owner only (0700): backups hold every IOC's files and the swarm's keys.
/// An existing folder keeps its mode; the archives in it are 0600 either way.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), FsError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .at(dir, "cannot create folder")
}

/// `strftime` form of the stamp that names backup archives.
pub(crate) const STAMP_FORMAT: &str = "%Y%m%d%H%M%S";

/// How many archives of one second can be named: `<stamp>`, `<stamp>-2` … up to this.
pub(crate) const NAME_ATTEMPTS: u32 = 1000;

/// The file names an archive made at `now` may take, first choice first:
/// `<stamp><suffix>`, then `<stamp>-2<suffix>`, `<stamp>-3<suffix>`, … The stamp is
/// always the second the archive was made, so no name claims a later time, and the
/// number orders the archives of one second (see `archive_name_order`).
pub(crate) fn archive_names(now: chrono::DateTime<chrono::Local>, suffix: &str) -> Vec<String> {
    let stamp = now.format(STAMP_FORMAT).to_string();
    (1..=NAME_ATTEMPTS)
        .map(|n| match n {
            1 => format!("{stamp}{suffix}"),
            n => format!("{stamp}-{n}{suffix}"),
        })
        .collect()
}

/// The stamp and number of an archive file name of either form (`<stamp><suffix>`,
/// number 1, or `<stamp>-<n><suffix>` with n from 2, no leading zero), which sort
/// archives oldest first; None for any other name.
pub(crate) fn archive_name_order<'a>(name: &'a str, suffix: &str) -> Option<(&'a str, u32)> {
    let base = name.strip_suffix(suffix)?;
    let (stamp, number) = match base.split_once('-') {
        None => (base, 1),
        Some((stamp, digits)) => {
            let plain = !digits.is_empty()
                && !digits.starts_with('0')
                && digits.bytes().all(|b| b.is_ascii_digit());
            let number: u32 = digits.parse().ok().filter(|n| plain && *n >= 2)?;
            (stamp, number)
        }
    };
    is_stamp(stamp).then_some((stamp, number))
}

/// Archives hold every IOC's files or the swarm's keys: only their owner reads them.
pub(crate) const ARCHIVE_MODE: u32 = 0o600;

/// The first name of `archive_names` that nothing in `dir` holds yet. Free now is
/// not free later: `persist_free_name` settles a race with another backup.
pub(crate) fn first_free_name(
    dir: &Path,
    now: chrono::DateTime<chrono::Local>,
    suffix: &str,
) -> Option<PathBuf> {
    archive_names(now, suffix)
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| fs::symlink_metadata(path).is_err())
}

/// The error when every name of `archive_names` is taken.
pub(crate) fn no_free_name(
    dir: &Path,
    now: chrono::DateTime<chrono::Local>,
    suffix: &str,
) -> ArchiveError {
    let names = archive_names(now, suffix);
    ArchiveError::NoFreeName {
        dir: dir.to_path_buf(),
        first: names.first().cloned().unwrap_or_default(),
        last: names.last().cloned().unwrap_or_default(),
    }
}

/// The gzip stream of an archive being written into a temporary file.
pub(crate) type GzOut<'a> = GzEncoder<BufWriter<&'a File>>;

pub(crate) fn gz_writer(temp: &NamedTempFile) -> GzOut<'_> {
    GzEncoder::new(BufWriter::new(temp.as_file()), Compression::default())
}

/// Ends the gzip stream of a written archive and makes it private and durable, so
/// only a complete archive can ever get its final name; `shown` names it in errors.
pub(crate) fn finish(
    encoder: GzOut<'_>,
    temp: &NamedTempFile,
    shown: &Path,
) -> Result<(), ArchiveError> {
    let write_error = |source| ArchiveError::Write {
        archive: shown.to_path_buf(),
        cause: source,
    };
    let buffered = encoder.finish().map_err(write_error)?;
    buffered
        .into_inner()
        .map_err(|err| write_error(err.into_error()))?;
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(ARCHIVE_MODE))
        .at(shown, "cannot set permissions")?;
    temp.as_file().sync_all().map_err(write_error)?;
    Ok(())
}

/// Gives a finished archive the first free name of `archive_names(now, suffix)` in
/// `dir`. A name is taken without ever replacing what holds it, so a backup running
/// in parallel, or any file of that name, is never overwritten.
pub(crate) fn persist_free_name(
    mut temp: NamedTempFile,
    dir: &Path,
    now: chrono::DateTime<chrono::Local>,
    suffix: &str,
) -> Result<PathBuf, ArchiveError> {
    for name in archive_names(now, suffix) {
        let path = dir.join(name);
        match temp.persist_noclobber(&path) {
            Ok(_) => {
                // Makes the new name durable too; some file systems cannot sync a
                // folder, and the archive is complete either way.
                let _ = File::open(dir).and_then(|dir| dir.sync_all());
                return Ok(path);
            }
            Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => temp = err.file,
            Err(err) => {
                return Err(FsError {
                    path,
                    action: "cannot create archive",
                    cause: err.error,
                }
                .into());
            }
        }
    }
    Err(no_free_name(dir, now, suffix))
}

pub(crate) const STAMP_LEN: usize = 14;

/// Whether `text` is a backup stamp: 14 digits.
pub(crate) fn is_stamp(text: &str) -> bool {
    text.len() == STAMP_LEN && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// Splits an entry path into its parts, refusing absolute paths and `..`; `.` and
/// empty parts (`./x`, `a//b`, the trailing `/` of a folder) carry no meaning.
pub(crate) fn entry_parts(raw: &[u8]) -> Result<Vec<&str>, &'static str> {
    if raw.starts_with(b"/") {
        return Err("absolute paths are not allowed");
    }
    let text = std::str::from_utf8(raw).map_err(|_| "the path is not UTF-8 text")?;
    let parts: Vec<&str> = text
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("\"..\" is not allowed in a path");
    }
    Ok(parts)
}

/// The kinds of entry an archive may hold at all; devices, fifos and the rarer tar
/// types never belong in a backup, and unpacking a device node would be dangerous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink,
    HardLink,
}

impl EntryKind {
    pub(crate) fn of(kind: tar::EntryType) -> Result<EntryKind, &'static str> {
        match kind {
            // GNU sparse entries are files with holes; the tar crate reads them
            // back whole, and writes them for sparse files such as raft logs.
            tar::EntryType::Regular | tar::EntryType::GNUSparse => Ok(EntryKind::File),
            tar::EntryType::Directory => Ok(EntryKind::Dir),
            tar::EntryType::Symlink => Ok(EntryKind::Symlink),
            tar::EntryType::Link => Ok(EntryKind::HardLink),
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                Err("devices and fifos are not allowed")
            }
            _ => Err("unsupported entry type"),
        }
    }
}

/// What every reader checks first of an entry: its path split into parts, and its
/// kind; `shown` is the path as messages quote it.
pub(crate) struct EntryHead {
    pub(crate) shown: String,
    pub(crate) parts: Vec<String>,
    pub(crate) kind: EntryKind,
}

impl EntryHead {
    pub(crate) fn of<R: Read>(
        entry: &tar::Entry<'_, R>,
        archive: &Path,
    ) -> Result<EntryHead, ArchiveError> {
        let raw = entry.path_bytes();
        let shown = String::from_utf8_lossy(&raw).escape_debug().to_string();
        let refuse = |problem: &str| ArchiveError::entry(archive, &shown, problem);
        let parts = entry_parts(&raw)
            .map_err(refuse)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        let kind = EntryKind::of(entry.header().entry_type()).map_err(refuse)?;
        Ok(EntryHead { shown, parts, kind })
    }

    /// An error about this entry.
    pub(crate) fn refuse(&self, archive: &Path, problem: &str) -> ArchiveError {
        ArchiveError::entry(archive, &self.shown, problem)
    }
}

/// The target of a link entry as text; None when it has none (each reader names
/// that its own way).
pub(crate) fn link_target<R: Read>(
    entry: &tar::Entry<'_, R>,
) -> Result<Option<String>, &'static str> {
    let Some(target) = entry.link_name_bytes().filter(|target| !target.is_empty()) else {
        return Ok(None);
    };
    let target = std::str::from_utf8(&target).map_err(|_| "the link target is not UTF-8 text")?;
    Ok(Some(target.to_owned()))
}

/// Why a symbolic link of an archive may not be unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkEscape {
    Absolute,
    Outside,
    Loop,
}

/// Most links one resolution may pass through, as the kernel allows (`ELOOP`).
const MAX_LINK_HOPS: usize = 40;

/// Where the symbolic link at `link` (entry path as parts, inside `root`) leads once
/// unpacked: its target is resolved against the link's folder, and every link of the
/// archive met on the way (`links` gives the target of an entry that is a link) is
/// followed as the kernel would, so a chain of links that each look harmless cannot
/// lead out. Refused: an absolute target anywhere on the way, any step above
/// `root` (even one that comes back in), and loops. Names the archive does not hold
/// are taken as plain folders or files.
pub(crate) fn resolve_link<'a>(
    link: &[String],
    target: &str,
    root: &[String],
    links: &dyn Fn(&[String]) -> Option<&'a str>,
) -> Result<Vec<String>, LinkEscape> {
    let mut at: Vec<String> = link[..link.len().saturating_sub(1)].to_vec();
    if !at.starts_with(root) {
        return Err(LinkEscape::Outside);
    }
    let parts_of = |text: &str| -> Result<Vec<String>, LinkEscape> {
        if text.starts_with('/') {
            return Err(LinkEscape::Absolute);
        }
        Ok(text.split('/').map(str::to_owned).collect())
    };
    // Parts still to walk, next one last.
    let mut pending: Vec<String> = parts_of(target)?;
    pending.reverse();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                if at.len() <= root.len() {
                    return Err(LinkEscape::Outside);
                }
                at.pop();
            }
            _ => {
                at.push(part);
                if let Some(next) = links(&at) {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(LinkEscape::Loop);
                    }
                    at.pop();
                    let mut more = parts_of(next)?;
                    more.reverse();
                    pending.extend(more);
                }
            }
        }
    }
    Ok(at)
}

/// Fails once more than `limit` bytes come through, so neither a gzip bomb nor a huge
/// archive can exhaust memory or disk; `exceeded` tells that failure from others.
pub(crate) struct Capped<R> {
    inner: R,
    remaining: u64,
    pub(crate) exceeded: bool,
}

impl<R> Capped<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Capped {
            inner,
            remaining: limit,
            exceeded: false,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            // Ending exactly at the limit is fine; only one byte more is too much.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded = true;
            return Err(io::Error::other("archive exceeds the size limit"));
        }
        let len = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..len])?;
        self.remaining -= read as u64;
        Ok(read)
    }
}

/// A `.tar.gz` being read, at most the limit it was opened with of tar stream.
pub(crate) type TarGz = tar::Archive<Capped<GzDecoder<BufReader<File>>>>;

/// Opens an archive for reading at most `limit` bytes of unpacked tar stream.
pub(crate) fn open(path: &Path, limit: u64) -> Result<TarGz, ArchiveError> {
    let file = File::open(path).at(path, "cannot open archive")?;
    Ok(tar::Archive::new(Capped::new(
        GzDecoder::new(BufReader::new(file)),
        limit,
    )))
}

/// Reads a whole archive through `read`, then on to the end of the gzip stream: the
/// tar end marker comes before it, and reading on checks the gzip trailer, so a file
/// cut after its last entry is noticed too. More than `limit` bytes of tar stream
/// is `TooLarge`, whatever `read` made of the cut-off stream; `refused` says why.
pub(crate) fn read_whole<T, E: From<ArchiveError>>(
    path: &Path,
    limit: u64,
    refused: &'static str,
    read: impl FnOnce(&mut TarGz) -> Result<T, E>,
) -> Result<T, E> {
    let mut tar = open(path, limit)?;
    let read = read(&mut tar);
    let mut rest = tar.into_inner();
    let read = read.and_then(|value| {
        io::copy(&mut rest, &mut io::sink()).map_err(unreadable(path))?;
        Ok(value)
    });
    if rest.exceeded {
        return Err(ArchiveError::TooLarge {
            archive: path.to_path_buf(),
            limit,
            refused,
        }
        .into());
    }
    read
}

/// Size in the unit an operator reads best in an error message.
pub(crate) fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{bytes} bytes")
    }
}

/// Archives with hostile entries for tests of the archive readers.
#[cfg(test)]
pub(crate) mod crafted {
    use flate2::Compression;
    use flate2::write::GzEncoder;

    /// One raw tar entry; the path and link bytes go into the header as they are,
    /// since the tar crate's own setters refuse the hostile ones.
    pub(crate) struct Raw<'a> {
        pub(crate) path: &'a str,
        pub(crate) kind: tar::EntryType,
        pub(crate) link: &'a str,
        pub(crate) data: &'a [u8],
        pub(crate) mode: u32,
    }

    pub(crate) fn file(path: &str) -> Raw<'_> {
        Raw {
            path,
            kind: tar::EntryType::Regular,
            link: "",
            data: b"x",
            mode: 0o644,
        }
    }

    pub(crate) fn folder(path: &str) -> Raw<'_> {
        Raw {
            path,
            kind: tar::EntryType::Directory,
            link: "",
            data: b"",
            mode: 0o755,
        }
    }

    pub(crate) fn special<'a>(path: &'a str, kind: tar::EntryType, link: &'a str) -> Raw<'a> {
        Raw {
            path,
            kind,
            link,
            data: b"",
            mode: 0o644,
        }
    }

    pub(crate) fn crafted(entries: &[Raw<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            let old = header.as_old_mut();
            old.name[..entry.path.len()].copy_from_slice(entry.path.as_bytes());
            old.linkname[..entry.link.len()].copy_from_slice(entry.link.as_bytes());
            header.set_entry_type(entry.kind);
            header.set_mode(entry.mode);
            header.set_size(entry.data.len() as u64);
            header.set_cksum();
            builder.append(&header, entry.data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_parts_refuse_escapes() {
        assert_eq!(entry_parts(b"./a//b/").unwrap(), ["a", "b"]);
        assert!(entry_parts(b"/etc/passwd").is_err());
        assert!(entry_parts(b"a/../../b").is_err());
        assert!(entry_parts(b"a/\xff").is_err());
    }

    #[test]
    fn capped_stops_one_byte_over_the_limit() {
        let mut exact = Capped::new(&b"abcd"[..], 4);
        let mut out = Vec::new();
        exact.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcd");
        let mut over = Capped::new(&b"abcde"[..], 4);
        assert!(over.read_to_end(&mut Vec::new()).is_err());
        assert!(over.exceeded);
    }

    #[test]
    fn links_are_resolved_through_every_link_of_the_archive() {
        let parts = |text: &str| -> Vec<String> {
            text.split('/')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let links: std::collections::HashMap<Vec<String>, &str> = [
            ("ioc/src/up", ".."),
            ("ioc/src/chain", "up/.."),
            ("ioc/src/deep/chain", "../chain/x"),
            ("ioc/src/ok", "up/ioc.ini"),
            ("ioc/src/loop1", "loop2"),
            ("ioc/src/loop2", "loop1"),
            ("ioc/src/abs", "/etc"),
            ("ioc/src/via_abs", "abs/shadow"),
        ]
        .into_iter()
        .map(|(path, target)| (parts(path), target))
        .collect();
        let lookup = |at: &[String]| links.get(at).copied();
        let root = parts("ioc");
        let resolve = |path: &str| resolve_link(&parts(path), links[&parts(path)], &root, &lookup);
        assert_eq!(resolve("ioc/src/up"), Ok(parts("ioc")));
        assert_eq!(resolve("ioc/src/ok"), Ok(parts("ioc/ioc.ini")));
        // Each step looks inside lexically; resolved, the chain leaves the IOC.
        assert_eq!(resolve("ioc/src/chain"), Err(LinkEscape::Outside));
        assert_eq!(resolve("ioc/src/deep/chain"), Err(LinkEscape::Outside));
        assert_eq!(resolve("ioc/src/loop1"), Err(LinkEscape::Loop));
        assert_eq!(resolve("ioc/src/abs"), Err(LinkEscape::Absolute));
        assert_eq!(resolve("ioc/src/via_abs"), Err(LinkEscape::Absolute));
        assert_eq!(
            resolve_link(&parts("ioc/src/x"), "../../ioc/src", &root, &lookup),
            Err(LinkEscape::Outside),
            "a step above the root is refused even when it comes back"
        );
    }

    #[test]
    fn entry_kinds() {
        assert_eq!(EntryKind::of(tar::EntryType::Link), Ok(EntryKind::HardLink));
        assert!(EntryKind::of(tar::EntryType::Block).is_err());
        assert!(EntryKind::of(tar::EntryType::Continuous).is_err());
    }
}
