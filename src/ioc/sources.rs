//! `exec --add-src-file`: the user's source files in `src/` and the `[SRC]` lists
//! that mirror them.

use std::fs;
use std::path::Path;

use crate::fsutil::{self, IoContext};
use crate::ioc::config::SRC;
use crate::ioc::repository::{Repository, RepositoryError, SRC_DIR};

/// Extensions of source files and the `[SRC]` option that lists each kind.
const KINDS: [(&str, &str); 3] = [
    ("db", "db_file"),
    ("proto", "protocol_file"),
    ("im", "others_file"),
];

/// Source files are the user's: writable, like anything they copy in by hand.
const SRC_MODE: u32 = 0o644;

fn kind_of(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?;
    KINDS.iter().find(|(e, _)| *e == ext).map(|(e, _)| *e)
}

fn source_files(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>, RepositoryError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).at(dir, "cannot read folder")? {
        let entry = entry.at(dir, "cannot read folder")?;
        let path = entry.path();
        if !path.is_file() || kind_of(&path).is_none() {
            continue;
        }
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            files.push((name.to_string(), path));
        }
    }
    files.sort();
    Ok(files)
}

/// What `--add-src-file` did for one IOC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SourceUpdate {
    pub(crate) copied: Vec<String>,
    pub(crate) ini_changed: bool,
}

/// Copies the source files of `from` (if given) into the IOC's `src/`, then sets the
/// `[SRC]` lists from what `src/` holds now.
pub(crate) fn add_source_files(
    repository: &Repository,
    name: &str,
    from: Option<&Path>,
) -> Result<SourceUpdate, RepositoryError> {
    let mut doc = repository.read_ini(name)?;
    let src = repository.dir_checked(name)?.join(SRC_DIR);
    fs::create_dir_all(&src).at(&src, "cannot create folder")?;
    let mut update = SourceUpdate::default();
    if let Some(from) = from {
        if !from.is_dir() {
            return Err(RepositoryError::Fs(fsutil::FsError {
                path: from.to_path_buf(),
                action: "cannot copy source files from it",
                source: std::io::Error::from(std::io::ErrorKind::NotADirectory),
            }));
        }
        for (file, path) in source_files(from)? {
            fsutil::copy_file_atomically(&path, &src.join(&file), SRC_MODE)?;
            update.copied.push(file);
        }
    }
    let present = source_files(&src)?;
    let before = doc.clone();
    for (ext, option) in KINDS {
        let names: Vec<&str> = present
            .iter()
            .filter(|(_, p)| kind_of(p) == Some(ext))
            .map(|(n, _)| n.as_str())
            .collect();
        doc.set(SRC, option, &names.join(", "));
    }
    if doc != before {
        repository.write_ini(name, &doc)?;
        update.ini_changed = true;
    }
    Ok(update)
}
