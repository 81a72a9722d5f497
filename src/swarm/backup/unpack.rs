//! Unpacking a checked swarm archive beside the swarm folder.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{CONTENT_LIMIT, CheckedArchive, SwarmBackupError};
use crate::archive::{self, EntryKind, entry_parts};
use crate::fsutil::IoContext;

/// Unpacks the swarm folder of a checked archive into `dest` (an existing, empty
/// folder), checking that the archive is still the one that was checked.
pub(super) fn unpack(archive: &CheckedArchive, dest: &Path) -> Result<(), SwarmBackupError> {
    let path = &archive.path;
    let changed = || SwarmBackupError::Changed {
        archive: path.clone(),
    };
    let mut tar = archive::open(path, CONTENT_LIMIT)?;
    let unreadable = archive::unreadable(path);
    let mut planned = archive.entries.iter();
    let mut dir_modes = Vec::new();
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let raw = entry.path_bytes().into_owned();
        let Ok(parts) = entry_parts(&raw) else {
            return Err(changed());
        };
        if parts.is_empty() {
            continue;
        }
        let kind = EntryKind::of(entry.header().entry_type()).map_err(|_| changed())?;
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let expected = planned.next().ok_or_else(changed)?;
        if expected.parts != parts
            || expected.kind != kind
            || (kind != EntryKind::File && kind != EntryKind::Dir && expected.link != link)
        {
            return Err(changed());
        }
        let Some(inside) = expected.parts.get(archive.root.len()..) else {
            continue; // a folder above the swarm folder
        };
        let target: PathBuf = std::iter::once(dest.as_os_str())
            .chain(inside.iter().map(|p| p.as_ref()))
            .collect();
        let mode = entry.header().mode().unwrap_or(0o600) & 0o777;
        if kind != EntryKind::Dir
            && let Some(parent) = target.parent()
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .at(parent, "cannot create folder")?;
        }
        match kind {
            EntryKind::Dir => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&target)
                    .at(&target, "cannot create folder")?;
                // Applied at the end: a read-only folder must still take its content.
                dir_modes.push((target, mode));
            }
            EntryKind::File => {
                let mut out = File::create_new(&target).at(&target, "cannot create")?;
                let copied = copy_sparse(&mut entry, &mut out).map_err(unreadable)?;
                if copied != entry.size() {
                    return Err(changed());
                }
                out.set_permissions(fs::Permissions::from_mode(mode))
                    .at(&target, "cannot set permissions")?;
                out.sync_all().at(&target, "cannot write")?;
            }
            EntryKind::Symlink => {
                let link = expected.link.as_deref().unwrap_or_default();
                std::os::unix::fs::symlink(link, &target).at(&target, "cannot create link")?;
            }
            EntryKind::HardLink => {
                let link = expected.link.as_deref().unwrap_or_default();
                let Ok(link_parts) = entry_parts(link.as_bytes()) else {
                    return Err(changed());
                };
                let source: PathBuf = std::iter::once(dest.as_os_str())
                    .chain(
                        link_parts
                            .get(archive.root.len()..)
                            .unwrap_or_default()
                            .iter()
                            .map(|p| p.as_ref()),
                    )
                    .collect();
                fs::hard_link(&source, &target).at(&target, "cannot create link")?;
            }
        }
    }
    if planned.next().is_some() {
        return Err(changed());
    }
    let mut rest = tar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(unreadable)?;
    // Deepest first, so a parent's mode never blocks a child's.
    dir_modes.sort_by(|a, b| b.0.cmp(&a.0));
    for (dir, mode) in dir_modes {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
            .at(&dir, "cannot set permissions")?;
    }
    Ok(())
}

/// Copies like `io::copy` but leaves holes where the content is zeros: raft logs
/// are preallocated sparse files, and a restore should not fill them in.
fn copy_sparse(from: &mut impl Read, to: &mut File) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let read = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..read];
        if chunk.iter().all(|b| *b == 0) {
            to.seek(SeekFrom::Current(read as i64))?;
        } else {
            to.write_all(chunk)?;
        }
        total += read as u64;
    }
    // A file ending in a hole has no bytes written there yet.
    to.set_len(total)?;
    Ok(total)
}
