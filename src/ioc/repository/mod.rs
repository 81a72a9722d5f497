//! The IOC repository on disk: which IOC projects exist, reading them (tolerating
//! broken ones), and writing their ioc.ini and state safely.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::leftovers::{self, Cleared, Kind, Leftover};
use crate::fsutil::{self, FsError, IoContext, PathError, StagedDir};
use crate::ioc::config::{self, InvalidHost, SWARM_HOST};
use crate::ioc::ini::{IniDocument, IniError};
use crate::ioc::name::{self, InvalidName};
use crate::ioc::state::{IocState, STATE_SIZE_LIMIT, StateError, StateFormat};
use crate::schema::{ioc_ini, names};
use crate::settings::{Paths, Settings};
use crate::swarm::managed::ReservedNames;

pub(crate) const INI_FILE: &str = "ioc.ini";
pub(crate) const STATE_FILE: &str = ".info.ini";
pub(crate) const SRC_DIR: &str = "src";
pub(crate) const PROJECT_DIR: &str = "project";
pub(crate) const SERVICE_FILE: &str = "compose-swarm.yaml";
/// `$MOUNT_PATH/swarm/iocs`: the run folders of the swarm IOCs, apart from the
/// built-in services' folders in `$MOUNT_PATH/swarm`.
pub(crate) const SWARM_IOCS_DIR: &str = "iocs";
/// `$MOUNT_PATH/swarm/iocLog`: the log files of iocLogServer, which IOCs read.
pub(crate) const IOC_LOG_DIR: &str = "iocLog";

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
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{0}; fix it first (iocdock set {ioc} -o host=swarm or a host name)", ioc = .0.ioc)]
    Host(InvalidHost),
    #[error(transparent)]
    Name(#[from] InvalidName),
}

// By hand rather than `#[from]`: the message already shows the host error, which as a
// `source()` too would be printed twice in an error chain.
impl From<InvalidHost> for RepositoryError {
    fn from(error: InvalidHost) -> Self {
        RepositoryError::Host(error)
    }
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
        self.ini.as_ref().map_or(SWARM_HOST, config::host)
    }

    /// What stops the IOC from being exported or deployed: a reserved name, a name
    /// swarm refuses, a host that is no host name, options that break the schema; as
    /// (reason, message), each message saying how to fix it.
    pub(crate) fn problems(
        &self,
        reserved: &ReservedNames,
        settings: &Settings,
    ) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let name = &self.name;
        if let Err(e) = reserved.check(name) {
            let message = format!("{e}; rename it (iocdock rename {name} NEW_NAME)");
            problems.push(("reserved name", message));
        }
        // Against a prefix swarm refuses no IOC name can be judged; the commands say so.
        // An IOC run on a host of its own is no swarm service.
        let prefix = &settings.prefix_stack_name;
        if self.host() == SWARM_HOST
            && names::prefix_problem(prefix).is_none()
            && let Err(e) = names::check_ioc_name(prefix, name)
        {
            let message = format!("{e}; rename it (iocdock rename {name} {})", e.new_name());
            problems.push(("name swarm refuses", message));
        }
        if let Some(doc) = &self.ini {
            if let Err(e) = config::checked_host(name, doc) {
                let message =
                    format!("{e}; fix it (iocdock set {name} -o host=swarm or a host name)");
                problems.push(("invalid host", message));
            }
            let context = ioc_ini::Context::new(name, settings);
            for violation in ioc_ini::check(doc, &context, ioc_ini::Stage::Store).errors {
                // The host has its reason above.
                if violation.section == config::IOC && violation.key == "host" {
                    continue;
                }
                let message = format!("{violation}; fix it (iocdock edit {name})");
                problems.push(("invalid option", message));
            }
        }
        problems
    }

    /// Adds the `problems` as error reasons to the state in memory (never written).
    pub(crate) fn note_problems(&mut self, reserved: &ReservedNames, settings: &Settings) {
        let now = now_stamp();
        for (reason, message) in self.problems(reserved, settings) {
            self.state.add_error(reason, &message, &now);
        }
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

    /// The IOC's folder in the repository, for writing or deleting: the name is
    /// checked and the folder must not lead out of the repository through a link.
    pub(crate) fn dir_checked(&self, name: &str) -> Result<PathBuf, RepositoryError> {
        name::validate(name)?;
        Ok(fsutil::path_below(&self.paths.repository, &[name])?)
    }

    /// `dir_checked` for the snapshot folder.
    pub(crate) fn snapshot_dir_checked(&self, name: &str) -> Result<PathBuf, RepositoryError> {
        name::validate(name)?;
        Ok(fsutil::path_below(&self.paths.snapshot, &[name])?)
    }

    /// Names of the run folder below `$MOUNT_PATH`: `swarm/iocs/<name>` for an IOC of
    /// the swarm, `<host>/<name>` for one run on a host of its own.
    fn run_names<'a>(host: &'a str, name: &'a str) -> Result<Vec<&'a str>, RepositoryError> {
        name::validate(name)?;
        if !config::is_valid_host(host) {
            return Err(InvalidHost {
                ioc: name.to_string(),
                value: host.escape_default().to_string(),
            }
            .into());
        }
        Ok(if host == SWARM_HOST {
            vec![SWARM_HOST, SWARM_IOCS_DIR, name]
        } else {
            vec![host, name]
        })
    }

    /// The exported copy the containers run from, for reading: `$MOUNT_PATH/swarm/iocs/
    /// <name>` or `$MOUNT_PATH/<host>/<name>`. A host that is no host name is refused.
    pub(crate) fn run_dir(&self, host: &str, name: &str) -> Result<PathBuf, RepositoryError> {
        Ok(fsutil::join_names(
            &self.paths.mount,
            &Self::run_names(host, name)?,
        )?)
    }

    /// `run_dir` for writing or deleting: it must not lead out of `$MOUNT_PATH`.
    pub(crate) fn run_dir_checked(
        &self,
        host: &str,
        name: &str,
    ) -> Result<PathBuf, RepositoryError> {
        Ok(fsutil::path_below(
            &self.paths.mount,
            &Self::run_names(host, name)?,
        )?)
    }

    /// `$MOUNT_PATH/swarm/iocLog`, checked for writing.
    pub(crate) fn ioc_log_dir_checked(&self) -> Result<PathBuf, RepositoryError> {
        Ok(fsutil::path_below(
            &self.paths.mount,
            &[SWARM_HOST, IOC_LOG_DIR],
        )?)
    }

    /// `$SERVICE_FILE_PATH/<name>/compose-swarm.yaml`: the IOC's swarm service file.
    pub(crate) fn service_file(&self, name: &str) -> PathBuf {
        self.paths.service_files.join(name).join(SERVICE_FILE)
    }

    /// The folder of the IOC's service file, checked for writing or deleting.
    pub(crate) fn service_file_dir_checked(&self, name: &str) -> Result<PathBuf, RepositoryError> {
        name::validate(name)?;
        Ok(fsutil::path_below(&self.paths.service_files, &[name])?)
    }

    /// `$MOUNT_PATH/swarm/<name>/compose-swarm.yaml`, where older versions kept the
    /// service file, for asking whether a service may still run from there.
    pub(crate) fn legacy_service_file(&self, name: &str) -> Option<PathBuf> {
        name::validate(name).ok()?;
        let dir = fsutil::join_names(&self.paths.mount, &[SWARM_HOST, name]).ok()?;
        Some(dir.join(SERVICE_FILE))
    }

    /// `$MOUNT_PATH/swarm/<name>`, where older versions exported a swarm IOC and kept
    /// its service file, when it is that: a real folder (not a link) holding an
    /// ioc.ini of this IOC, under a name that is not a built-in folder's.
    pub(crate) fn legacy_run_dir(&self, name: &str, reserved: &ReservedNames) -> Option<PathBuf> {
        if name::validate(name).is_err() || reserved.check(name).is_err() {
            return None;
        }
        let dir = fsutil::path_below(&self.paths.mount, &[SWARM_HOST, name]).ok()?;
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return None;
        }
        let ini = dir.join(INI_FILE);
        if !fs::symlink_metadata(&ini).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let doc = read_ini_file(&ini).ok()?;
        (doc.get(config::IOC, "name") == Some(name)).then_some(dir)
    }

    /// Whether the IOC could be deployed, so the engine has to be asked before its
    /// folders move or go: it has a service file (here or where older versions kept
    /// it), a run folder, or its state says it was exported.
    pub(crate) fn may_be_deployed(&self, name: &str) -> bool {
        let ioc = self.load(name);
        self.service_file(name).is_file()
            || self.legacy_service_file(name).is_some_and(|f| f.is_file())
            || self
                .run_dir(ioc.host(), name)
                .is_ok_and(|dir| fs::symlink_metadata(dir).is_ok())
            || ioc.state.is_exported
    }

    pub(crate) fn exists(&self, name: &str) -> bool {
        self.dir(name).is_dir()
    }

    /// Names of all IOC projects, sorted: the folders whose names are IOC names.
    /// Others (see `invalid_folders`) never become a path, a service or a command.
    pub(crate) fn names(&self) -> Result<Vec<String>, FsError> {
        Ok(self
            .folder_names()?
            .into_iter()
            .filter(|n| name::validate(n).is_ok())
            .collect())
    }

    /// Folders of the repository whose names are not IOC names (made by hand), with
    /// why, for `list` and `update` to report.
    pub(crate) fn invalid_folders(&self) -> Result<Vec<(PathBuf, InvalidName)>, FsError> {
        Ok(self
            .folder_names()?
            .into_iter()
            .filter_map(|n| name::validate(&n).err().map(|e| (self.dir(&n), e)))
            .collect())
    }

    /// Every folder of the repository, sorted. Hidden entries (the lock file, folders
    /// of an interrupted create or remove) are not IOC projects.
    pub(crate) fn folder_names(&self) -> Result<Vec<String>, FsError> {
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
                cause: e,
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

    pub(crate) fn write_ini(&self, name: &str, doc: &IniDocument) -> Result<(), RepositoryError> {
        let path = self.dir_checked(name)?.join(INI_FILE);
        Ok(fsutil::atomic_write(
            &path,
            doc.render().as_bytes(),
            INI_MODE,
        )?)
    }

    pub(crate) fn write_state(&self, name: &str, state: &IocState) -> Result<(), RepositoryError> {
        let path = self.dir_checked(name)?.join(STATE_FILE);
        // Unchanged state keeps its file and time (re-running an action is cheap).
        fsutil::write_if_changed(&path, state.to_json().as_bytes(), STATE_MODE)?;
        Ok(())
    }

    /// Creates a new IOC project with its ioc.ini, a fresh state and an empty `src/`;
    /// the folder appears complete or not at all.
    pub(crate) fn create(&self, name: &str, doc: &IniDocument) -> Result<(), RepositoryError> {
        let target = self.dir_checked(name)?;
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
            if e.cause.kind() == io::ErrorKind::AlreadyExists {
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
