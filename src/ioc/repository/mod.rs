//! The IOC repository on disk: which IOC projects exist, reading them (tolerating
//! broken ones), and writing their ioc.ini and state safely.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::{self, FsError, IoContext, PathError, StagedDir};
use crate::ini::{IniDocument, IniError};
use crate::ioc::config::{self, InvalidHost, SWARM_HOST};
use crate::ioc::reserved::ReservedNames;
use crate::ioc::state::{IocState, STATE_SIZE_LIMIT, StateError, StateFormat};
use crate::schema::ioc_name::{self as name, InvalidName};
use crate::schema::{ioc_ini, names};
use crate::settings::{Paths, Settings};

mod cleanup;
mod lifecycle;

pub(crate) use lifecycle::Upgrade;

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
