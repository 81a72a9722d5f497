//! Clearing what interrupted commands left in the repository and the folders every
//! IOC shares.

use std::fs;
use std::path::{Path, PathBuf};

use super::{INI_FILE, PROJECT_DIR, Repository, SRC_DIR, SWARM_IOCS_DIR, read_ini_file};
use crate::fsutil::leftovers::{self, Cleared, Kind, Leftover};
use crate::fsutil::{self, FsError};
use crate::ioc::config::{self, SWARM_HOST};
use crate::schema::ioc_name as name;

/// Leftovers of interrupted commands in the folders all IOCs share (the repository,
/// the snapshot folder, `swarm/iocs`, the service file folder), listed once per
/// command: by the IOC they were made for, and those of earlier versions, whose
/// names say none.
#[derive(Debug, Default)]
struct SharedLeftovers {
    named: std::collections::HashMap<String, Vec<Leftover>>,
    unnamed: Vec<Leftover>,
}

/// The run folder entries a swap replaces whole (`workflow::export`).
const SWAPPED_IN_RUN_FOLDER: [&str; 3] = ["startup", "settings", "logs"];

impl Repository {
    /// The folders every IOC stages into, each holding leftovers named for the IOC:
    /// the repository, the snapshot folder, `swarm/iocs`, the service file folder and
    /// the folders of other hosts in the run directory.
    fn shared_folders(&self) -> Vec<PathBuf> {
        let mut folders = vec![
            self.paths.repository.clone(),
            self.paths.snapshot.clone(),
            self.paths.mount.join(SWARM_HOST).join(SWARM_IOCS_DIR),
            self.paths.service_files.clone(),
        ];
        let hosts = fs::read_dir(&self.paths.mount)
            .into_iter()
            .flatten()
            .flatten();
        for entry in hosts {
            let Ok(host) = entry.file_name().into_string() else {
                continue;
            };
            if host != SWARM_HOST
                && config::is_valid_host(&host)
                && entry.file_type().is_ok_and(|t| t.is_dir())
                && let Ok(dir) = fsutil::path_below(&self.paths.mount, &[&host])
            {
                folders.push(dir);
            }
        }
        folders
    }

    /// Lists the leftovers of the shared folders, by the IOC they were made for.
    fn shared_leftovers(&self) -> SharedLeftovers {
        let mut shared = SharedLeftovers::default();
        for dir in self.shared_folders() {
            for leftover in leftovers::list(&dir) {
                match (&leftover.target, &leftover.kind) {
                    // Temporary files of the shared folders are not ours.
                    (_, Kind::Temp) => {}
                    (Some(name), _) => shared.named.entry(name.clone()).or_default().push(leftover),
                    (None, _) => shared.unnamed.push(leftover),
                }
            }
        }
        shared
    }

    /// Clears what interrupted commands left, which only a command holding the
    /// repository lock may do. In the shared folders, every leftover named for an IOC,
    /// whether the IOC exists or not (a create or remove killed half-way leaves one
    /// for a folder that is not there); in each IOC's own folders (its folder, `src/`,
    /// `project/` but for `startup/`, its run folder and its service file folder)
    /// every leftover. A staged or half-removed folder and a temporary file are
    /// deleted; a folder moved aside for a swap goes back when what replaced it is
    /// missing (the command stopped between its two renames), else it is deleted.
    /// With `earlier_versions`, also those of the shared folders whose names say no
    /// IOC (see `clear_unnamed`).
    pub(crate) fn clear_leftovers(&self, earlier_versions: bool) -> Result<Cleared, FsError> {
        let mut cleared = Cleared::default();
        let shared = self.shared_leftovers();
        for leftover in shared.named.values().flatten() {
            if name::validate(leftover.target.as_deref().unwrap_or_default()).is_ok() {
                leftover.clear(&mut cleared);
            }
        }
        if earlier_versions {
            self.clear_unnamed(&shared.unnamed, &mut cleared);
        }
        for name in self.names()? {
            self.clear_own_leftovers(&name, &mut cleared);
        }
        Ok(cleared)
    }

    /// The leftovers in the folders of IOC `name` alone. The folders are read plainly
    /// first (links below the IOC folder are not followed) and checked the way writes
    /// are only when something is found.
    fn clear_own_leftovers(&self, name: &str, cleared: &mut Cleared) {
        let mut in_ioc = Vec::new();
        scan_for_leftovers(&self.dir(name), 0, &mut in_ioc);
        if !in_ioc.is_empty() && self.dir_checked(name).is_ok() {
            in_ioc.iter().for_each(|l| l.clear(cleared));
        }
        let service_dir = self.paths.service_files.join(name);
        let in_service = leftovers::list(&service_dir);
        if !in_service.is_empty() && self.service_file_dir_checked(name).is_ok() {
            in_service.iter().for_each(|l| l.clear(cleared));
        }
        let host = self.read_ini(name).ok();
        let host = host.as_ref().map_or(SWARM_HOST, config::host);
        let Ok(run) = self.run_dir(host, name) else {
            return;
        };
        let in_run = leftovers::list(&run);
        if in_run.is_empty() || self.run_dir_checked(host, name).is_err() {
            return;
        }
        for leftover in in_run {
            match (&leftover.kind, &leftover.target) {
                (Kind::Aside { .. }, None) => {
                    clear_unnamed_aside(&leftover, &run, &SWAPPED_IN_RUN_FOLDER, cleared)
                }
                _ => leftover.clear(cleared),
            }
        }
    }

    /// Leftovers of the shared folders made by earlier versions, whose names say no
    /// IOC. Staged, half-removed and temporary ones are deleted; a snapshot moved aside
    /// goes back when its IOC (named by its ioc.ini) has none.
    fn clear_unnamed(&self, unnamed: &[Leftover], cleared: &mut Cleared) {
        for leftover in unnamed {
            if !matches!(leftover.kind, Kind::Aside { .. }) {
                leftover.forget(cleared);
                continue;
            }
            let inside = leftover.path.join(leftovers::INSIDE);
            let owner = read_ini_file(&inside.join(INI_FILE))
                .ok()
                .and_then(|doc| doc.get(config::IOC, "name").map(str::to_string))
                .filter(|n| name::validate(n).is_ok());
            let folder = leftover.path.parent().unwrap_or(Path::new("."));
            match owner {
                Some(owner) => clear_unnamed_aside(leftover, folder, &[owner.as_str()], cleared),
                None => cleared.failed.push((
                    leftover.path.clone(),
                    "an earlier version moved a folder aside here and did not say which; left alone"
                        .to_string(),
                )),
            }
        }
    }
}

/// Lists the leftovers of an IOC folder (`depth` 0), its `src/` and `project/` but
/// for `project/startup/` (built whole elsewhere), from one listing per folder. Only
/// real folders are entered, never a link.
fn scan_for_leftovers(dir: &Path, depth: usize, found: &mut Vec<Leftover>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let parent_is = |name: &str| dir.file_name().is_some_and(|n| n == name);
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if name.starts_with('.') {
            found.extend(leftovers::classify(dir, &name, kind.is_dir()));
            continue;
        }
        let enter = kind.is_dir()
            && match depth {
                0 => name == SRC_DIR || name == PROJECT_DIR,
                1 => parent_is(PROJECT_DIR) && name != "startup",
                _ => true,
            };
        if enter {
            scan_for_leftovers(&entry.path(), depth + 1, found);
        }
    }
}

/// An aside tree of an earlier version, whose name does not say what it replaced,
/// in `folder` where it can only have replaced one of `candidates`: deleted when
/// they all exist, put back when exactly one is missing, else left alone.
fn clear_unnamed_aside(
    leftover: &Leftover,
    folder: &Path,
    candidates: &[&str],
    cleared: &mut Cleared,
) {
    let missing: Vec<&&str> = candidates
        .iter()
        .filter(|c| fs::symlink_metadata(folder.join(c)).is_err())
        .collect();
    match missing.as_slice() {
        [] => leftover.forget(cleared),
        [one] => Leftover {
            target: Some(one.to_string()),
            ..leftover.clone()
        }
        .clear(cleared),
        _ => cleared.failed.push((
            leftover.path.clone(),
            "an earlier version moved a folder aside here and did not say which; left alone"
                .to_string(),
        )),
    }
}
