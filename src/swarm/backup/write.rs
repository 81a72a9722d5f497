//! Writing the swarm folder into an archive, as `tar czf` of it would.

use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Local};
use tempfile::NamedTempFile;
use walkdir::WalkDir;

use super::{ARCHIVE_SUFFIX, SwarmBackupError};
use crate::archive::{self, ArchiveError, STAMP_FORMAT};
use crate::fsutil::FsError;

/// Writes the archive into `temp`, then gives it the first free stamp name.
pub(super) fn write_archive(
    swarm_dir: &Path,
    temp: NamedTempFile,
    dest_dir: &Path,
    now: DateTime<Local>,
) -> Result<PathBuf, SwarmBackupError> {
    let shown = dest_dir.join(format!("{}{ARCHIVE_SUFFIX}", now.format(STAMP_FORMAT)));
    let write_error = |source| ArchiveError::Write {
        archive: shown.clone(),
        cause: source,
    };
    // The archive keeps the folder's absolute path, as `tar czf X /var/lib/docker/swarm` does.
    let prefix: PathBuf = swarm_dir
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let mut builder = tar::Builder::new(archive::gz_writer(&temp));
    builder.follow_symlinks(false);
    for entry in WalkDir::new(swarm_dir).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(swarm_dir).to_path_buf();
            FsError {
                path,
                action: "cannot read",
                cause: e.into(),
            }
        })?;
        let kind = entry.file_type();
        if !(kind.is_dir() || kind.is_file() || kind.is_symlink()) {
            return Err(SwarmBackupError::Unarchivable {
                path: entry.path().to_path_buf(),
            });
        }
        let relative = entry
            .path()
            .strip_prefix(swarm_dir)
            .unwrap_or(Path::new(""));
        builder
            .append_path_with_name(entry.path(), prefix.join(relative))
            .map_err(write_error)?;
    }
    let encoder = builder.into_inner().map_err(write_error)?;
    archive::finish(encoder, &temp, &shown)?;
    Ok(archive::persist_free_name(
        temp,
        dest_dir,
        now,
        ARCHIVE_SUFFIX,
    )?)
}
