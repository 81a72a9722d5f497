//! Whether the snapshot and the exported copy of an IOC still match the repository,
//! decided by comparing bytes in-process (the `list -p` columns).

use std::fmt;
use std::path::Path;

use crate::fsutil;
use crate::ioc::repository::{INI_FILE, IocProject, PROJECT_DIR, Repository, SRC_DIR};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Consistency {
    Consistent,
    Inconsistent,
    NoSnapshot,
    NotExported,
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consistency::Consistent => "consistent",
            Consistency::Inconsistent => "inconsistent",
            Consistency::NoSnapshot => "no snapshot",
            Consistency::NotExported => "not exported",
        })
    }
}

fn verdict(same: bool) -> Consistency {
    if same {
        Consistency::Consistent
    } else {
        Consistency::Inconsistent
    }
}

/// The copy's ioc.ini compared with the repository's, None when the copy has none.
/// The repository's bytes come from loading the IOC, so they are not read twice.
fn same_ini(ioc: &IocProject, copy: &Path) -> Option<bool> {
    let ours = ioc.ini_bytes.as_deref()?;
    fsutil::copy_holds(&ioc.dir.join(INI_FILE), ours, &copy.join(INI_FILE))
}

/// Snapshot versus repository: ioc.ini and every file of src/.
pub(crate) fn snapshot_consistency(repository: &Repository, ioc: &IocProject) -> Consistency {
    let snapshot = repository.snapshot_dir(&ioc.name);
    match same_ini(ioc, &snapshot) {
        None => Consistency::NoSnapshot,
        Some(same) => {
            verdict(same && fsutil::same_tree(&ioc.dir.join(SRC_DIR), &snapshot.join(SRC_DIR)))
        }
    }
}

/// Exported copy versus repository: ioc.ini and the generated startup files.
pub(crate) fn running_consistency(repository: &Repository, ioc: &IocProject) -> Consistency {
    if !ioc.state.is_exported {
        return Consistency::NotExported;
    }
    let Ok(exported) = repository.run_dir(ioc.host(), &ioc.name) else {
        return Consistency::NotExported;
    };
    match same_ini(ioc, &exported) {
        None => Consistency::NotExported,
        Some(same) => verdict(
            same && fsutil::same_tree(
                &ioc.dir.join(PROJECT_DIR).join("startup"),
                &exported.join("startup"),
            ),
        ),
    }
}
