//! Changes to an IOC as a whole: removing it, renaming it everywhere it has files, and
//! bringing its files up to the current format.

use std::fs;
use std::io;
use std::path::PathBuf;

use super::{
    INI_FILE, INI_MODE, Repository, RepositoryError, SERVICE_FILE, STATE_FILE, STATE_MODE,
    read_ini_file,
};
use crate::fsutil::{self, FsError, IoContext};
use crate::ioc::config::{self, SWARM_HOST};
use crate::ioc::reserved::ReservedNames;
use crate::ioc::state::{IocState, STATE_SIZE_LIMIT, StateError};
use crate::schema::ioc_name as name;

/// What `rename` did: the folders moved, and the run folder of the old layout it
/// moved to the new one, if any.
#[derive(Debug)]
pub(crate) struct Renamed {
    pub(crate) moved: Vec<(PathBuf, PathBuf)>,
    pub(crate) migrated_from: Option<PathBuf>,
}

/// What `update` did to one IOC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    Current,
    Rewritten { state_recreated: bool },
}

impl Repository {
    /// Removes an IOC project; with `everything`, also its snapshot, exported run
    /// folder (and one an older version left in `$MOUNT_PATH/swarm/<name>`) and its
    /// service file. Every folder is checked before the first is removed. Returns the
    /// folders removed.
    pub(crate) fn remove(
        &self,
        name: &str,
        everything: bool,
        reserved: &ReservedNames,
    ) -> Result<Vec<PathBuf>, RepositoryError> {
        if !self.exists(name) {
            return Err(RepositoryError::Missing(name.to_string()));
        }
        let mut folders = vec![self.dir_checked(name)?];
        if everything {
            // The host is needed to find the exported copy; read it before the folder
            // goes. An unreadable ioc.ini names no host: the swarm is the default.
            let ioc = self.load(name);
            let host = match &ioc.ini {
                Some(doc) => config::checked_host(name, doc)?,
                None => SWARM_HOST,
            };
            folders.push(self.snapshot_dir_checked(name)?);
            folders.push(self.run_dir_checked(host, name)?);
            folders.push(self.service_file_dir_checked(name)?);
            if host == SWARM_HOST
                && let Some(legacy) = self.legacy_run_dir(name, reserved)
            {
                folders.push(legacy);
            }
        }
        let mut removed = Vec::new();
        for folder in folders {
            if folder.is_dir() {
                fsutil::remove_dir_atomically(&folder)?;
                removed.push(folder);
            }
        }
        Ok(removed)
    }

    /// Renames an IOC everywhere it has files, or nowhere: on any failure every step
    /// already taken is undone. An IOC still exported where older versions put it
    /// (`$MOUNT_PATH/swarm/<old>`) moves to the new place under its new name.
    /// An IOC with a swarm service file gets it rewritten for the new name by
    /// `rewrite_service_file(new)` (run after the moves, undone with them on failure);
    /// the caller makes sure the service is not deployed.
    pub(crate) fn rename(
        &self,
        old: &str,
        new: &str,
        reserved: &ReservedNames,
        rewrite_service_file: &dyn Fn(&str) -> Result<(), RepositoryError>,
    ) -> Result<Renamed, RepositoryError> {
        let ini = self.read_ini(old)?;
        if old == new {
            return Err(RepositoryError::Exists(new.to_string()));
        }
        name::validate(new)?;
        let host = config::checked_host(old, &ini)?;
        let run_old = self.run_dir_checked(host, old)?;
        let legacy = if host == SWARM_HOST && fs::symlink_metadata(&run_old).is_err() {
            self.legacy_run_dir(old, reserved)
        } else {
            None
        };
        let had_service_file = self.service_file(old).is_file()
            || legacy
                .as_ref()
                .is_some_and(|dir| dir.join(SERVICE_FILE).is_file());
        let candidates = [
            (self.dir_checked(old)?, self.dir_checked(new)?, INI_MODE),
            (
                self.snapshot_dir_checked(old)?,
                self.snapshot_dir_checked(new)?,
                INI_MODE,
            ),
            (
                legacy.clone().unwrap_or(run_old),
                self.run_dir_checked(host, new)?,
                0o444,
            ),
            // Holds no ioc.ini: its service file is rendered again below.
            (
                self.service_file_dir_checked(old)?,
                self.service_file_dir_checked(new)?,
                0o400,
            ),
        ];
        let mut plan = Vec::new();
        for (from, to, mode) in candidates {
            if fs::symlink_metadata(&to).is_ok() {
                return Err(if to == self.dir(new) {
                    RepositoryError::Exists(new.to_string())
                } else {
                    RepositoryError::Fs(FsError {
                        path: to,
                        action: "cannot rename onto an existing folder",
                        cause: io::Error::from(io::ErrorKind::AlreadyExists),
                    })
                });
            }
            if from.is_dir() {
                plan.push((from, to, mode));
            }
        }

        let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
        // (file, its bytes before, mode); no bytes: the file did not exist.
        let mut rewritten: Vec<(PathBuf, Option<Vec<u8>>, u32)> = Vec::new();
        let result = (|| -> Result<(), RepositoryError> {
            for (from, to, _) in &plan {
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent).at(parent, "cannot create folder")?;
                }
                fs::rename(from, to).at(from, "cannot move")?;
                moved.push((from.clone(), to.clone()));
            }
            for (_, to, mode) in &plan {
                let path = to.join(INI_FILE);
                if !path.is_file() {
                    continue;
                }
                let before = fs::read(&path).at(&path, "cannot read")?;
                let mut doc = read_ini_file(&path)?;
                doc.set(config::IOC, "name", new);
                config::rename_in_raw(&mut doc, old, new);
                fsutil::atomic_write(&path, doc.render().as_bytes(), *mode)?;
                rewritten.push((path, Some(before), *mode));
            }
            if had_service_file {
                let path = self.service_file(new);
                let before = match fs::read(&path) {
                    Ok(bytes) => Some(bytes),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => return Err(e).at(&path, "cannot read").map_err(Into::into),
                };
                rewritten.push((path, before, 0o400));
                rewrite_service_file(new)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (path, before, mode) in rewritten.iter().rev() {
                let _ = match before {
                    Some(bytes) => fsutil::atomic_write(path, bytes, *mode),
                    None => fs::remove_file(path).at(path, "cannot remove"),
                };
            }
            for (from, to) in moved.iter().rev() {
                let _ = fs::rename(to, from);
            }
            return Err(e);
        }
        let migrated_from = legacy.filter(|from| moved.iter().any(|(f, _)| f == from));
        if migrated_from.is_some() {
            // The service file of the old layout; the new one is rendered elsewhere.
            let stale = self.run_dir(host, new)?.join(SERVICE_FILE);
            let _ = fs::remove_file(stale);
        }
        Ok(Renamed {
            moved,
            migrated_from,
        })
    }

    /// Rewrites ioc.ini and the state file of one IOC in the current format (adding
    /// options newer versions know, turning a legacy pickle state into JSON). Files
    /// already current are not touched.
    pub(crate) fn upgrade(
        &self,
        name: &str,
        settings: &crate::settings::Settings,
    ) -> Result<Upgrade, RepositoryError> {
        let dir = self.dir_checked(name)?;
        let path = dir.join(INI_FILE);
        let before = fs::read(&path).at(&path, "cannot read")?;
        let mut doc = read_ini_file(&path)?;
        config::add_missing_defaults(&mut doc, name, settings);
        let ini_text = doc.render();

        let state_path = dir.join(STATE_FILE);
        let (state, state_recreated) =
            match fsutil::read_small_capped(&state_path, STATE_SIZE_LIMIT) {
                Ok(bytes) => (IocState::from_bytes(&bytes, &state_path)?.0, false),
                Err(e) if e.kind() == io::ErrorKind::NotFound => (IocState::created(), true),
                Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                    return Err(StateError::TooLarge { path: state_path }.into());
                }
                Err(e) => {
                    return Err(e)
                        .at(&state_path, "cannot read state file")
                        .map_err(Into::into);
                }
            };
        let state_text = state.to_json();
        let state_before =
            fsutil::read_small_capped(&state_path, STATE_SIZE_LIMIT).unwrap_or_default();

        let mut changed = false;
        if ini_text.as_bytes() != before.as_slice() {
            fsutil::atomic_write(&path, ini_text.as_bytes(), INI_MODE)?;
            changed = true;
        }
        if state_text.as_bytes() != state_before.as_slice() {
            fsutil::atomic_write(&state_path, state_text.as_bytes(), STATE_MODE)?;
            changed = true;
        }
        Ok(if changed {
            Upgrade::Rewritten { state_recreated }
        } else {
            Upgrade::Current
        })
    }
}
