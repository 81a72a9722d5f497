//! The IOC repository on disk: which IOC projects exist, reading them (tolerating
//! broken ones), and writing their ioc.ini and state safely.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::{self, FsError, IoContext, StagedDir};
use crate::ioc::config;
use crate::ioc::ini::{IniDocument, IniError};
use crate::ioc::state::{IocState, STATE_SIZE_LIMIT, StateError, StateFormat};
use crate::settings::Paths;

pub(crate) const INI_FILE: &str = "ioc.ini";
pub(crate) const STATE_FILE: &str = ".info.ini";
pub(crate) const SRC_DIR: &str = "src";
pub(crate) const PROJECT_DIR: &str = "project";
pub(crate) const SERVICE_FILE: &str = "compose-swarm.yaml";

/// ioc.ini is edited by hand, so it stays writable; generated files are read-only.
pub(crate) const INI_MODE: u32 = 0o644;
pub(crate) const STATE_MODE: u32 = 0o644;

#[derive(Debug, thiserror::Error)]
pub(crate) enum RepositoryError {
    #[error("IOC \"{0}\" does not exist in the repository")]
    Missing(String),
    #[error("IOC \"{0}\" already exists in the repository")]
    Exists(String),
    #[error(transparent)]
    Ini(#[from] IniError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("IOC \"{ioc}\": {message}")]
    ServiceFile { ioc: String, message: String },
}

/// Local time in the format the original tool stored in its state reasons.
pub(crate) fn now_stamp() -> String {
    chrono::Local::now().format("%Y/%m/%d %H:%M:%S").to_string()
}

/// One IOC project as read from disk. A broken ioc.ini or state file does not stop
/// it from loading: the problem becomes an error reason in `state`, so the IOC still
/// lists and the operator sees why.
#[derive(Debug, Clone)]
pub(crate) struct IocProject {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) ini: Option<IniDocument>,
    /// The bytes of ioc.ini as read, for comparing with its copies without reading it again.
    pub(crate) ini_bytes: Option<Vec<u8>>,
    pub(crate) state: IocState,
}

impl IocProject {
    pub(crate) fn get(&self, section: &str, option: &str) -> Option<&str> {
        self.ini.as_ref()?.get(section, option)
    }

    pub(crate) fn host(&self) -> &str {
        self.ini.as_ref().map_or("swarm", config::host)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Repository {
    paths: Paths,
}

impl Repository {
    pub(crate) fn new(paths: &Paths) -> Self {
        Repository {
            paths: paths.clone(),
        }
    }

    pub(crate) fn paths(&self) -> &Paths {
        &self.paths
    }

    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        self.paths.repository.join(name)
    }

    pub(crate) fn ini_path(&self, name: &str) -> PathBuf {
        self.dir(name).join(INI_FILE)
    }

    pub(crate) fn state_path(&self, name: &str) -> PathBuf {
        self.dir(name).join(STATE_FILE)
    }

    pub(crate) fn snapshot_dir(&self, name: &str) -> PathBuf {
        self.paths.snapshot.join(name)
    }

    /// `$MOUNT_PATH/<host>/<name>`: the exported copy the containers run from.
    pub(crate) fn export_dir(&self, host: &str, name: &str) -> PathBuf {
        self.paths.mount.join(host).join(name)
    }

    /// `$MOUNT_PATH/swarm/<name>`: the folder of the IOC's swarm service file.
    pub(crate) fn swarm_dir(&self, name: &str) -> PathBuf {
        self.paths.mount.join("swarm").join(name)
    }

    pub(crate) fn exists(&self, name: &str) -> bool {
        self.dir(name).is_dir()
    }

    /// Names of all IOC projects, sorted. Hidden entries (the lock file, folders of
    /// an interrupted create or remove) are not IOC projects.
    pub(crate) fn names(&self) -> Result<Vec<String>, FsError> {
        let entries = match fs::read_dir(&self.paths.repository) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at(&self.paths.repository, "cannot read folder"),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.at(&self.paths.repository, "cannot read folder")?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let is_dir = match entry.file_type() {
                Ok(t) if t.is_symlink() => entry.path().is_dir(),
                Ok(t) => t.is_dir(),
                Err(_) => false,
            };
            if is_dir {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    pub(crate) fn read_ini(&self, name: &str) -> Result<IniDocument, RepositoryError> {
        self.read_ini_and_bytes(name).map(|(doc, _)| doc)
    }

    /// `read_ini` with the bytes the document was parsed from.
    pub(crate) fn read_ini_and_bytes(
        &self,
        name: &str,
    ) -> Result<(IniDocument, Vec<u8>), RepositoryError> {
        if !self.exists(name) {
            return Err(RepositoryError::Missing(name.to_string()));
        }
        read_ini_with_bytes(&self.ini_path(name))
    }

    /// Reads the state file; a missing one is an error like an unreadable one
    /// (SPEC §5), so `list` shows the IOC in state error.
    pub(crate) fn read_state(
        &self,
        name: &str,
    ) -> Result<(IocState, StateFormat), RepositoryError> {
        let path = self.state_path(name);
        match fsutil::read_small_capped(&path, STATE_SIZE_LIMIT) {
            Ok(bytes) => Ok(IocState::from_bytes(&bytes, &path)?),
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                Err(StateError::TooLarge { path }.into())
            }
            Err(e) => Err(RepositoryError::Fs(FsError {
                path,
                action: "cannot read state file",
                source: e,
            })),
        }
    }

    /// Loads an IOC for display; never fails and never writes.
    pub(crate) fn load(&self, name: &str) -> IocProject {
        let dir = self.dir(name);
        let mut state = match self.read_state(name) {
            Ok((state, _)) => state,
            Err(e) => {
                let mut state = IocState::created();
                state.add_error("state file unreadable", &e.to_string(), &now_stamp());
                state
            }
        };
        let (ini, ini_bytes) = match read_ini_with_bytes(&dir.join(INI_FILE)) {
            Ok((doc, bytes)) => (Some(doc), Some(bytes)),
            Err(e) => {
                state.add_error("ioc.ini unreadable", &e.to_string(), &now_stamp());
                (None, None)
            }
        };
        IocProject {
            name: name.to_string(),
            dir,
            ini,
            ini_bytes,
            state,
        }
    }

    /// Loads several IOCs, spreading the file reads over the machine's cores; the
    /// result keeps the order of `names`.
    pub(crate) fn load_many(&self, names: &[&str]) -> Vec<IocProject> {
        crate::parallel::map(names, |name| self.load(name))
    }

    pub(crate) fn write_ini(&self, name: &str, doc: &IniDocument) -> Result<(), FsError> {
        fsutil::atomic_write(&self.ini_path(name), doc.render().as_bytes(), INI_MODE)
    }

    pub(crate) fn write_state(&self, name: &str, state: &IocState) -> Result<(), FsError> {
        // Unchanged state keeps its file and time (re-running an action is cheap).
        fsutil::write_if_changed(
            &self.state_path(name),
            state.to_json().as_bytes(),
            STATE_MODE,
        )
        .map(|_| ())
    }

    /// Creates a new IOC project with its ioc.ini, a fresh state and an empty `src/`;
    /// the folder appears complete or not at all.
    pub(crate) fn create(&self, name: &str, doc: &IniDocument) -> Result<(), RepositoryError> {
        let target = self.dir(name);
        if target.exists() {
            return Err(RepositoryError::Exists(name.to_string()));
        }
        let staged = StagedDir::new(&target)?;
        let src = staged.path().join(SRC_DIR);
        fs::create_dir(&src).at(&src, "cannot create folder")?;
        fsutil::atomic_write(
            &staged.path().join(INI_FILE),
            doc.render().as_bytes(),
            INI_MODE,
        )?;
        fsutil::atomic_write(
            &staged.path().join(STATE_FILE),
            IocState::created().to_json().as_bytes(),
            STATE_MODE,
        )?;
        staged.commit().map_err(|e| {
            if e.source.kind() == io::ErrorKind::AlreadyExists {
                RepositoryError::Exists(name.to_string())
            } else {
                RepositoryError::Fs(e)
            }
        })
    }
}

pub(crate) fn read_ini_file(path: &Path) -> Result<IniDocument, RepositoryError> {
    read_ini_with_bytes(path).map(|(doc, _)| doc)
}

/// The parsed ioc.ini and its bytes, which `list -p` compares with the copies.
fn read_ini_with_bytes(path: &Path) -> Result<(IniDocument, Vec<u8>), RepositoryError> {
    let bytes = fsutil::read_small(path).at(path, "cannot read")?;
    let text = std::str::from_utf8(&bytes).map_err(|e| IniError::Syntax {
        path: path.to_path_buf(),
        line: line_of_byte(&bytes, e.valid_up_to()),
        message: "not valid UTF-8 text".to_string(),
    })?;
    let doc = IniDocument::parse(text, path)?;
    Ok((doc, bytes))
}

fn line_of_byte(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1
}

/// What `update` did to one IOC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    Current,
    Rewritten { state_recreated: bool },
}

impl Repository {
    /// Removes an IOC project; with `everything`, also its snapshot, exported run
    /// folder and swarm service folder. Returns the folders removed.
    pub(crate) fn remove(
        &self,
        name: &str,
        everything: bool,
    ) -> Result<Vec<PathBuf>, RepositoryError> {
        if !self.exists(name) {
            return Err(RepositoryError::Missing(name.to_string()));
        }
        // The host is needed to find the exported copy; read it before the folder goes.
        let host = self.load(name).host().to_string();
        let mut folders = vec![self.dir(name)];
        if everything {
            folders.push(self.snapshot_dir(name));
            folders.push(self.export_dir(&host, name));
            folders.push(self.swarm_dir(name));
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
    /// already taken is undone. Returns the folders moved.
    /// An IOC with a swarm service file gets it rewritten for the new name by
    /// `rewrite_service_file(new)` (run after the moves, undone with them on failure);
    /// the caller makes sure the service is not deployed.
    pub(crate) fn rename(
        &self,
        old: &str,
        new: &str,
        rewrite_service_file: &dyn Fn(&str) -> Result<(), RepositoryError>,
    ) -> Result<Vec<(PathBuf, PathBuf)>, RepositoryError> {
        let ini = self.read_ini(old)?;
        if old == new {
            return Err(RepositoryError::Exists(new.to_string()));
        }
        let host = config::host(&ini).to_string();
        let mut candidates = vec![
            (self.dir(old), self.dir(new), INI_MODE),
            (self.snapshot_dir(old), self.snapshot_dir(new), INI_MODE),
            (
                self.export_dir(&host, old),
                self.export_dir(&host, new),
                0o444,
            ),
        ];
        // For host swarm the service file lives in the exported folder itself.
        if self.swarm_dir(old) != self.export_dir(&host, old) {
            candidates.push((self.swarm_dir(old), self.swarm_dir(new), 0o444));
        }
        let had_service_file = self.swarm_dir(old).join(SERVICE_FILE).is_file();
        let mut plan = Vec::new();
        for (from, to, mode) in candidates {
            if to.exists() {
                return Err(if to == self.dir(new) {
                    RepositoryError::Exists(new.to_string())
                } else {
                    RepositoryError::Fs(FsError {
                        path: to,
                        action: "cannot rename onto an existing folder",
                        source: io::Error::from(io::ErrorKind::AlreadyExists),
                    })
                });
            }
            if from.is_dir() {
                plan.push((from, to, mode));
            }
        }

        let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
        let mut rewritten: Vec<(PathBuf, Vec<u8>, u32)> = Vec::new();
        let result = (|| -> Result<(), RepositoryError> {
            for (from, to, _) in &plan {
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
                rewritten.push((path, before, *mode));
            }
            if had_service_file {
                let path = self.swarm_dir(new).join(SERVICE_FILE);
                let before = fs::read(&path).at(&path, "cannot read")?;
                rewritten.push((path, before, 0o444));
                rewrite_service_file(new)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (path, before, mode) in rewritten.iter().rev() {
                let _ = fsutil::atomic_write(path, before, *mode);
            }
            for (from, to) in moved.iter().rev() {
                let _ = fs::rename(to, from);
            }
            return Err(e);
        }
        Ok(moved)
    }

    /// Rewrites ioc.ini and the state file of one IOC in the current format (adding
    /// options newer versions know, turning a legacy pickle state into JSON). Files
    /// already current are not touched.
    pub(crate) fn upgrade(
        &self,
        name: &str,
        settings: &crate::settings::Settings,
    ) -> Result<Upgrade, RepositoryError> {
        let path = self.ini_path(name);
        let before = fs::read(&path).at(&path, "cannot read")?;
        let mut doc = read_ini_file(&path)?;
        config::add_missing_defaults(&mut doc, name, settings);
        let ini_text = doc.render();

        let state_path = self.state_path(name);
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
