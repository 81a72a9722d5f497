//! `edit`: the operator edits a copy of ioc.ini, which replaces ioc.ini only when the
//! schema accepts it. A copy that is refused stays beside ioc.ini as
//! `.ioc.ini.edit`, and the next `edit` of the IOC opens it again, so no edit is lost
//! and no broken file is ever saved.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::fsutil::{self, IoContext};
use crate::ini::{IniDocument, IniError};
use crate::ioc::repository::{INI_FILE, INI_MODE, Repository, RepositoryError};
use crate::schema::ioc_ini::{self, Context, Violation};
use crate::settings::Settings;

/// The copy the editor works on, beside ioc.ini (so `rename` and `remove` take it
/// along and a backup, which names its entries, leaves it out).
pub(crate) const EDIT_COPY: &str = ".ioc.ini.edit";

/// An edit in progress: the copy the editor opens, and ioc.ini as it was when the
/// edit began (a save never overwrites what another command wrote meanwhile).
#[derive(Debug)]
pub(crate) struct EditSession {
    ioc: String,
    ini: PathBuf,
    copy: PathBuf,
    base: Vec<u8>,
    /// The copy was kept from an earlier edit; when ioc.ini changed after it was kept.
    pub(crate) resumed: Option<Resumed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resumed {
    /// ioc.ini is older than the kept copy.
    Current,
    /// ioc.ini was written after the copy was kept: saving the copy replaces that.
    IniChangedSince,
}

/// How an edit ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// ioc.ini was replaced by the edited copy; problems it had before and still has.
    Saved {
        older: Vec<Violation>,
        warnings: Vec<Violation>,
    },
    /// The copy is what ioc.ini holds: nothing to save.
    Unchanged { older: Vec<Violation> },
    /// The copy does not parse or breaks the schema: ioc.ini stays, the copy is kept.
    Refused {
        syntax: Option<IniError>,
        violations: Vec<Violation>,
        kept: PathBuf,
    },
    /// Another command wrote ioc.ini while it was edited: the copy is kept.
    Conflict { kept: PathBuf },
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::symlink_metadata(path).and_then(|m| m.modified()).ok()
}

impl EditSession {
    /// Starts an edit of IOC `name`: opens the copy an earlier refused edit kept, or
    /// makes a fresh copy of ioc.ini (`discard` drops a kept copy first).
    pub(crate) fn begin(
        repository: &Repository,
        name: &str,
        discard: bool,
    ) -> Result<EditSession, RepositoryError> {
        if !repository.exists(name) {
            return Err(RepositoryError::Missing(name.to_string()));
        }
        let dir = repository.dir_checked(name)?;
        let ini = dir.join(INI_FILE);
        let copy = dir.join(EDIT_COPY);
        let base = fsutil::read_small(&ini).at(&ini, "cannot read")?;
        let kept = match fs::symlink_metadata(&copy) {
            Ok(meta) if meta.is_file() && !discard => true,
            // Never edit through a link or into anything but a file: remove it.
            Ok(_) => {
                fs::remove_file(&copy).at(&copy, "cannot remove the kept edit")?;
                false
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e).at(&copy, "cannot read").map_err(Into::into),
        };
        let resumed = if kept {
            Some(match (modified(&ini), modified(&copy)) {
                (Some(ini_time), Some(copy_time)) if ini_time > copy_time => {
                    Resumed::IniChangedSince
                }
                _ => Resumed::Current,
            })
        } else {
            fsutil::atomic_write(&copy, &base, INI_MODE)?;
            None
        };
        Ok(EditSession {
            ioc: name.to_string(),
            ini,
            copy,
            base,
            resumed,
        })
    }

    /// The file the editor opens.
    pub(crate) fn path(&self) -> &Path {
        &self.copy
    }

    /// After the editor: an unchanged copy is dropped, a refused one kept, an accepted
    /// one replaces ioc.ini atomically. The caller holds the repository lock.
    pub(crate) fn finish(self, settings: &Settings) -> Result<Outcome, RepositoryError> {
        let edited = fsutil::read_small(&self.copy).at(&self.copy, "cannot read")?;
        let current = fsutil::read_small(&self.ini).at(&self.ini, "cannot read")?;
        let context = Context::new(&self.ioc, settings);
        let before = parse(&current, &self.ini).ok();
        if current != self.base {
            return Ok(Outcome::Conflict { kept: self.copy });
        }
        let after = match parse(&edited, &self.copy) {
            Ok(doc) => doc,
            Err(syntax) => {
                return Ok(Outcome::Refused {
                    syntax: Some(syntax),
                    violations: Vec::new(),
                    kept: self.copy,
                });
            }
        };
        let verdict = ioc_ini::judge_change(before.as_ref(), &after, &context);
        if !verdict.refused.is_empty() {
            return Ok(Outcome::Refused {
                syntax: None,
                violations: verdict.refused,
                kept: self.copy,
            });
        }
        if edited == current {
            fs::remove_file(&self.copy).at(&self.copy, "cannot remove")?;
            return Ok(Outcome::Unchanged {
                older: verdict.older,
            });
        }
        // The operator's bytes, comments and layout included, under the usual mode.
        fsutil::atomic_write(&self.ini, &edited, INI_MODE)?;
        fs::remove_file(&self.copy).at(&self.copy, "cannot remove")?;
        Ok(Outcome::Saved {
            older: verdict.older,
            warnings: verdict.warnings,
        })
    }

    /// When the editor could not run: a copy nobody changed is not worth keeping.
    pub(crate) fn abandon(self) -> Option<PathBuf> {
        match fsutil::read_small(&self.copy) {
            Ok(bytes) if bytes == self.base && self.resumed.is_none() => {
                let _ = fs::remove_file(&self.copy);
                None
            }
            _ => Some(self.copy),
        }
    }
}

fn parse(bytes: &[u8], path: &Path) -> Result<IniDocument, IniError> {
    let text = std::str::from_utf8(bytes).map_err(|e| IniError::Syntax {
        path: path.to_path_buf(),
        line: bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1,
        message: "not valid UTF-8 text".to_string(),
    })?;
    IniDocument::parse(text, path)
}
