//! The startup files of an IOC (SPEC §7): st.cmd, the substitutions file, copies of the
//! loaded databases, module files and `[RAW] file_copy` results.
//!
//! Generation is split in three modules: pure rendering of st.cmd and the substitutions
//! file (`render`), `plan` (validate everything and compute every file without
//! writing), and `write` (replace `project/startup` as a whole). So a validation
//! failure never leaves a half-generated startup folder, and rendering is testable
//! without a file system.
//!
//! A load line without macros (`file.db`) becomes `pattern {  }` / `{  }`: the form the
//! original tool wrote (so an IOC regenerated after switching tools shows no difference
//! in `--check-deploy`), and one EPICS `dbLoadTemplate` accepts, loading the database
//! once without macros (checked with EPICS 7.0.10). `file db/x.db { }` would instead
//! load nothing.

mod plan;
mod render;
#[cfg(test)]
mod tests;
mod write;

use std::path::PathBuf;

pub(crate) use plan::{SourceError, plan, read_inside};
pub(crate) use render::modules;
pub(crate) use write::write;

/// One validation failure, worded like the original tool's state reasons, e.g.
/// reason `option "load" in section "DB" invalid.` message `db file "missing.db" not found.`
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) reason: String,
    pub(crate) message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GeneratedFile {
    /// Relative to `project/`.
    pub(crate) path: PathBuf,
    pub(crate) contents: Vec<u8>,
    pub(crate) mode: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct StartupFiles {
    pub(crate) files: Vec<GeneratedFile>,
    /// Relative to `project/`; created but never emptied, because they hold run-time
    /// data (autosave request and save files).
    pub(crate) dirs: Vec<PathBuf>,
}

const STARTUP_DIR: &str = "startup";
const ST_CMD_MODE: u32 = 0o555;
const READ_ONLY: u32 = 0o444;
const DIR_MODE: u32 = 0o755;
/// Hidden names inside `project/` used while `startup` is being replaced.
const NEW_PREFIX: &str = crate::fsutil::leftovers::STARTUP_NEW;
const OLD_PREFIX: &str = crate::fsutil::leftovers::STARTUP_OLD;

impl Problem {
    fn new(reason: String, message: String) -> Self {
        Problem { reason, message }
    }
}
