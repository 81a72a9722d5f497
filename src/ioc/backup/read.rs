//! Reading an IOC archive back: every entry checked against the layout before
//! anything is restored.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::{Archive, BackupError, CONTENT_LIMIT, Node, TOO_LARGE, escaping_links, link_problem};
use crate::archive::{self, ArchiveError, EntryHead, EntryKind, is_stamp};
use crate::ini::IniDocument;
use crate::ioc::repository::{INI_FILE, PROJECT_DIR, SRC_DIR, STATE_FILE};
use crate::ioc::revisions::REVISIONS_DIR;
use crate::schema::ioc_name as name;

/// Reads and checks a whole archive; nothing of it may be restored unless this
/// succeeds. See the module notes for what is accepted.
pub(crate) fn read_archive(path: &Path) -> Result<Archive, BackupError> {
    read_archive_limited(path, CONTENT_LIMIT)
}

pub(super) fn read_archive_limited(path: &Path, limit: u64) -> Result<Archive, BackupError> {
    let archive = archive::read_whole(path, limit, TOO_LARGE, |tar| parse_entries(tar, path));
    let archive = archive?;
    if archive.iocs.is_empty() {
        return Err(BackupError::NoIoc {
            archive: path.to_path_buf(),
        });
    }
    if let Some(name) = archive
        .iocs
        .iter()
        .find_map(|(name, ioc)| ioc.file(INI_FILE).is_none().then_some(name))
    {
        return Err(BackupError::NoIni {
            archive: path.to_path_buf(),
            ioc: name.clone(),
        });
    }
    for (name, ioc) in &archive.iocs {
        // An ioc.ini that does not parse restores as it is (the IOC lists in state
        // error); one that parses must name a host that can be a folder name.
        let doc = ioc
            .file(INI_FILE)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| IniDocument::parse(text, Path::new(INI_FILE)).ok());
        if let Some(doc) = doc
            && let Err(source) = crate::ioc::config::checked_host(name, &doc)
        {
            return Err(BackupError::Host {
                archive: path.to_path_buf(),
                cause: source,
            });
        }
    }
    Ok(archive)
}

fn parse_entries<R: Read>(tar: &mut tar::Archive<R>, path: &Path) -> Result<Archive, BackupError> {
    let unreadable = archive::unreadable(path);
    let mut archive = Archive {
        stamp: String::new(),
        iocs: BTreeMap::new(),
    };
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let EntryHead { shown, parts, kind } = EntryHead::of(&entry, path)?;
        let refuse = |problem: &str| BackupError::from(ArchiveError::entry(path, &shown, problem));
        if kind == EntryKind::HardLink {
            return Err(refuse("hard links are not allowed"));
        }
        let is_dir = kind == EntryKind::Dir;

        let (stamp, rest) = parts.split_first().ok_or_else(|| refuse("empty path"))?;
        if !is_stamp(stamp) {
            return Err(refuse(
                "outside <stamp>/<ioc>/ (the top folder must be the 14-digit backup stamp)",
            ));
        }
        if archive.stamp.is_empty() {
            archive.stamp = stamp.clone();
        } else if archive.stamp != *stamp {
            return Err(refuse(&format!(
                "outside <stamp>/<ioc>/ (every entry must be below {}/)",
                archive.stamp
            )));
        }
        let Some((ioc_name, inside)) = rest.split_first() else {
            if is_dir {
                continue;
            }
            return Err(refuse("a file outside <stamp>/<ioc>/"));
        };
        // The name's own message says what is wrong with it.
        name::validate(ioc_name).map_err(|source| refuse(&source.to_string()))?;
        let ioc = archive.iocs.entry(ioc_name.clone()).or_default();
        let Some(first) = inside.first() else {
            if is_dir {
                continue;
            }
            return Err(refuse("a file outside <stamp>/<ioc>/ (an IOC is a folder)"));
        };
        match (first.as_str(), inside.len(), kind) {
            (INI_FILE | STATE_FILE, 1, EntryKind::File) => {}
            (INI_FILE | STATE_FILE, _, _) => return Err(refuse("must be a file")),
            (SRC_DIR | PROJECT_DIR | REVISIONS_DIR, 1, EntryKind::Dir) => {}
            (SRC_DIR | PROJECT_DIR | REVISIONS_DIR, 1, _) => {
                return Err(refuse("must be a folder"));
            }
            (SRC_DIR | PROJECT_DIR | REVISIONS_DIR, _, _) => {}
            _ => {
                return Err(refuse(
                    "expected only ioc.ini, .info.ini, src/, project/ and .revisions/ in an IOC folder",
                ));
            }
        }

        let mode = entry
            .header()
            .mode()
            .map_err(|_| refuse("unreadable file mode"))?
            & 0o777;
        let node = if is_dir {
            Node::Dir { mode }
        } else if kind == EntryKind::Symlink {
            let target = archive::link_target(&entry)
                .map_err(refuse)?
                .ok_or_else(|| refuse("a symbolic link without a target"))?;
            Node::Symlink { target }
        } else {
            let mtime = entry.header().mtime().unwrap_or(0);
            let size = entry.size();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(unreadable)?;
            if bytes.len() as u64 != size {
                return Err(refuse("truncated content"));
            }
            Node::File { bytes, mode, mtime }
        };
        ioc.insert(&inside.join("/"), node).map_err(refuse)?;
    }
    check_links(&archive, path)?;
    Ok(archive)
}

/// Every symbolic link must be relative and, resolved against its folder with every
/// link of its IOC followed on the way, stay inside its IOC's folder; otherwise the
/// whole archive is refused (a restored link leading out would let the next read of
/// the IOC, by any tool, reach the host's files).
fn check_links(archive: &Archive, path: &Path) -> Result<(), BackupError> {
    for (name, ioc) in &archive.iocs {
        if let Some((key, target, escape)) = escaping_links(ioc).into_iter().next() {
            let entry = format!("{}/{name}/{key}", archive.stamp);
            let problem = link_problem(name, &target, escape);
            return Err(ArchiveError::entry(path, &entry, &problem).into());
        }
    }
    Ok(())
}
