//! Checking a swarm archive through once before anything is stopped or replaced.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{
    CERTIFICATES_DIR, CONTENT_LIMIT, DOCKER_STATE_FILE, NODE_FILES, RAFT_DIR, STATE_FILE,
    STATE_FILE_LIMIT, SwarmBackupError, TOO_LARGE,
};
use crate::archive::{
    self, ArchiveError, EntryHead, EntryKind, LinkEscape, entry_parts, resolve_link,
};

/// One entry of a checked archive, as unpacking must find it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Planned {
    pub(super) parts: Vec<String>,
    pub(super) kind: EntryKind,
    /// Target of a link, as written in the archive.
    pub(super) link: Option<String>,
}

/// Where the restored node listened and what it advertised (`docker-state.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RestoredNode {
    pub(crate) node_id: Option<String>,
    pub(super) listen_addr: Option<String>,
    pub(super) advertise_addr: Option<String>,
    pub(super) data_path_port: Option<u32>,
}

/// An archive that passed every check; only such an archive can be restored.
#[derive(Debug)]
pub(crate) struct CheckedArchive {
    pub(super) path: PathBuf,
    /// Parts of the swarm folder's path inside the archive.
    pub(super) root: Vec<String>,
    pub(super) entries: Vec<Planned>,
    pub(crate) node: RestoredNode,
}

impl CheckedArchive {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The swarm folder's path inside the archive, as an operator recognises it.
    pub(crate) fn archived_folder(&self) -> String {
        if self.root.is_empty() {
            ".".to_string()
        } else {
            format!("/{}", self.root.join("/"))
        }
    }
}

/// Reads the whole archive and checks it (see the module notes); nothing is written.
pub(crate) fn check_archive(path: &Path) -> Result<CheckedArchive, SwarmBackupError> {
    check_archive_limited(path, CONTENT_LIMIT)
}

pub(super) fn check_archive_limited(
    path: &Path,
    limit: u64,
) -> Result<CheckedArchive, SwarmBackupError> {
    let scanned = archive::read_whole(path, limit, TOO_LARGE, |tar| scan(tar, path, limit));
    let Scanned {
        entries,
        contents,
        dirs,
    } = scanned?;
    let not_swarm = |problem: String| SwarmBackupError::NotSwarm {
        archive: path.to_path_buf(),
        problem,
    };
    // The archive's top (`tar -C <swarm dir> .`) is a folder too.
    let top = Vec::new();
    let is_dir = |parts: &[String]| dirs.contains(parts);
    let mut roots: Vec<&Vec<String>> = std::iter::once(&top)
        .chain(&dirs)
        .filter(|dir| is_dir(&with(dir, RAFT_DIR)) && is_dir(&with(dir, CERTIFICATES_DIR)))
        .collect();
    roots.sort();
    let root = match roots.as_slice() {
        [root] => (*root).clone(),
        [] => {
            return Err(not_swarm(
                "no folder holding raft/ and certificates/ (the layout of a swarm folder)"
                    .to_string(),
            ));
        }
        several => {
            let shown: Vec<String> = several
                .iter()
                .map(|r| format!("/{}", r.join("/")))
                .collect();
            return Err(not_swarm(format!(
                "more than one swarm folder: {}",
                shown.join(", ")
            )));
        }
    };
    let is_file = |parts: &[String]| {
        entries
            .iter()
            .any(|e| e.parts == parts && e.kind == EntryKind::File)
    };
    for name in NODE_FILES {
        if !is_file(&with(&with(&root, CERTIFICATES_DIR), name)) {
            return Err(not_swarm(format!("{CERTIFICATES_DIR}/{name} is missing")));
        }
    }
    if !is_file(&with(&root, DOCKER_STATE_FILE)) && !is_file(&with(&root, STATE_FILE)) {
        return Err(not_swarm(format!(
            "neither {DOCKER_STATE_FILE} nor {STATE_FILE} is in the swarm folder"
        )));
    }
    let links: HashMap<&[String], &str> = entries
        .iter()
        .filter(|entry| entry.kind == EntryKind::Symlink)
        .filter_map(|entry| Some((entry.parts.as_slice(), entry.link.as_deref()?)))
        .collect();
    let lookup = |at: &[String]| links.get(at).copied();
    for entry in &entries {
        check_placement(entry, &root, &lookup)
            .map_err(|problem| ArchiveError::entry(path, &entry.parts.join("/"), &problem))?;
    }
    let node = restored_node(
        contents.get(&with(&root, DOCKER_STATE_FILE)),
        contents.get(&with(&root, STATE_FILE)),
    )
    .map_err(not_swarm)?;
    Ok(CheckedArchive {
        path: path.to_path_buf(),
        root,
        entries,
        node,
    })
}

fn with(parts: &[String], name: &str) -> Vec<String> {
    let mut joined = parts.to_vec();
    joined.push(name.to_string());
    joined
}

struct Scanned {
    entries: Vec<Planned>,
    /// Content of the small files named like swarm state files.
    contents: HashMap<Vec<String>, Vec<u8>>,
    /// Every folder, named in the archive or implied by an entry below it.
    dirs: HashSet<Vec<String>>,
}

/// The checks each entry must pass on its own and against the earlier ones.
fn scan<R: Read>(
    tar: &mut tar::Archive<R>,
    path: &Path,
    limit: u64,
) -> Result<Scanned, SwarmBackupError> {
    let unreadable = archive::unreadable(path);
    let mut entries = Vec::new();
    let mut kinds: HashMap<Vec<String>, EntryKind> = HashMap::new();
    let mut dirs: HashSet<Vec<String>> = HashSet::new();
    let mut contents = HashMap::new();
    // Sparse entries unpack to more than the tar stream holds; both are limited.
    let mut unpacked_size: u64 = 0;
    for entry in tar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let head = EntryHead::of(&entry, path)?;
        let refuse = |problem: &str| SwarmBackupError::from(head.refuse(path, problem));
        let (parts, kind) = (head.parts.clone(), head.kind);
        if parts.is_empty() {
            if kind == EntryKind::Dir {
                // `./` of `tar -C dir .`: the archive's own top.
                continue;
            }
            return Err(refuse("empty path"));
        }
        for end in 1..parts.len() {
            let parent = &parts[..end];
            if kinds.get(parent).is_some_and(|k| *k != EntryKind::Dir) {
                return Err(refuse("lies below an entry that is not a folder"));
            }
            dirs.insert(parent.to_vec());
        }
        if kinds.contains_key(&parts) {
            return Err(refuse("appears twice"));
        }
        if kind != EntryKind::Dir && dirs.contains(&parts) {
            return Err(refuse("is both a file and a folder"));
        }
        let link = match kind {
            EntryKind::Symlink | EntryKind::HardLink => Some(
                archive::link_target(&entry)
                    .map_err(refuse)?
                    .ok_or_else(|| refuse("a link without a target"))?,
            ),
            EntryKind::File | EntryKind::Dir => None,
        };
        if kind == EntryKind::HardLink {
            let target = link.as_deref().unwrap_or_default();
            let target_parts: Vec<String> = entry_parts(target.as_bytes())
                .map_err(refuse)?
                .into_iter()
                .map(str::to_owned)
                .collect();
            if kinds.get(&target_parts) != Some(&EntryKind::File) {
                return Err(refuse(
                    "a hard link must point to a file that comes earlier in the archive",
                ));
            }
        }
        if kind == EntryKind::File {
            let size = entry.size();
            unpacked_size = unpacked_size.saturating_add(size);
            if unpacked_size > limit {
                return Err(ArchiveError::TooLarge {
                    archive: path.to_path_buf(),
                    limit,
                    refused: TOO_LARGE,
                }
                .into());
            }
            let name = parts.last().map(String::as_str);
            let read = if matches!(name, Some(DOCKER_STATE_FILE | STATE_FILE))
                && size <= STATE_FILE_LIMIT
            {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(unreadable)?;
                let read = bytes.len() as u64;
                contents.insert(parts.clone(), bytes);
                read
            } else {
                io::copy(&mut entry, &mut io::sink()).map_err(unreadable)?
            };
            if read != size {
                return Err(refuse("truncated content"));
            }
        }
        if kind == EntryKind::Dir {
            dirs.insert(parts.clone());
        }
        kinds.insert(parts.clone(), kind);
        entries.push(Planned { parts, kind, link });
    }
    Ok(Scanned {
        entries,
        contents,
        dirs,
    })
}

/// An entry must lie in the swarm folder, or be a folder above it; a link must
/// point inside the swarm folder once every link of the archive on its way is
/// followed (`links` gives the target of each symbolic link entry), so a chain of
/// links that each look harmless cannot lead out.
fn check_placement<'a>(
    entry: &Planned,
    root: &[String],
    links: &dyn Fn(&[String]) -> Option<&'a str>,
) -> Result<(), String> {
    if !entry.parts.starts_with(root) {
        if entry.kind == EntryKind::Dir && root.starts_with(&entry.parts) {
            return Ok(());
        }
        return Err(format!(
            "outside the swarm folder /{} of the archive",
            root.join("/")
        ));
    }
    let Some(target) = &entry.link else {
        return Ok(());
    };
    let outside = || "links pointing outside the swarm folder are not allowed".to_string();
    match entry.kind {
        EntryKind::HardLink => {
            let resolved: Vec<String> = target
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .map(str::to_owned)
                .collect();
            if resolved.starts_with(root) {
                Ok(())
            } else {
                Err(outside())
            }
        }
        _ => match resolve_link(&entry.parts, target, root, links) {
            Ok(_) => Ok(()),
            Err(LinkEscape::Loop) => Err("links that form a loop are not allowed".to_string()),
            Err(LinkEscape::Absolute | LinkEscape::Outside) => Err(outside()),
        },
    }
}

fn restored_node(
    docker_state: Option<&Vec<u8>>,
    state: Option<&Vec<u8>>,
) -> Result<RestoredNode, String> {
    let mut node = RestoredNode::default();
    if let Some(bytes) = docker_state {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("{DOCKER_STATE_FILE} is not valid JSON: {e}"))?;
        let text = |key: &str| {
            value
                .get(key)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        node.listen_addr = text("ListenAddr");
        node.advertise_addr = text("AdvertiseAddr");
        node.data_path_port = value
            .get("DataPathPort")
            .and_then(serde_json::Value::as_u64)
            .and_then(|port| u32::try_from(port).ok())
            .filter(|port| *port != 0);
    }
    if let Some(bytes) = state {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("{STATE_FILE} is not valid JSON: {e}"))?;
        node.node_id = value
            .get(0)
            .and_then(|n| n.get("node_id"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
    }
    Ok(node)
}
