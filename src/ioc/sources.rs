//! `exec --add-src-file`: the user's source files in `src/` and the `[SRC]` lists
//! that mirror them.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use crate::fsutil::{self, FsError, IoContext, nofollow};
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

/// The source files of `dir` by name: regular files with a source extension. Links
/// and anything else that is not a regular file are not source files.
fn source_files(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>, RepositoryError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).at(dir, "cannot read folder")? {
        let entry = entry.at(dir, "cannot read folder")?;
        let path = entry.path();
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        if !is_file || kind_of(&path).is_none() {
            continue;
        }
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            files.push((name.to_string(), path));
        }
    }
    files.sort();
    Ok(files)
}

/// Why the folder of `--add-src-file DIR` is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SourceFolderError {
    /// `exec --add-src-file ioc1 ioc2` (as `xargs` writes it) makes the first IOC name
    /// the folder: refused rather than read from a folder of that name.
    #[error(
        "--add-src-file {value}: \"{value}\" is the name of an IOC{folder}; to rescan src/ of IOCs put their names before the flag (iocdock exec NAME... --add-src-file), to copy from a folder of that name write it with a slash (--add-src-file ./{value})"
    )]
    IocName { value: String, folder: &'static str },
    #[error(
        "--add-src-file {value}: no such folder (expected the folder to copy *.db, *.proto and *.im files from)"
    )]
    NotAFolder { value: String },
}

/// The folder `--add-src-file DIR` copies from: an existing folder, and not the name
/// of an IOC unless written as a path (`./NAME`), since `xargs` puts IOC names right
/// after the flag.
pub(crate) fn source_folder<'a>(
    repository: &Repository,
    value: &'a Path,
) -> Result<&'a Path, SourceFolderError> {
    let text = value.to_string_lossy();
    let is_folder = value.is_dir();
    let bare = !text.contains('/');
    if bare && crate::schema::ioc_name::validate(&text).is_ok() && repository.exists(&text) {
        return Err(SourceFolderError::IocName {
            value: text.into_owned(),
            folder: if is_folder {
                " as well as a folder here"
            } else {
                " and no folder here"
            },
        });
    }
    if !is_folder {
        return Err(SourceFolderError::NotAFolder {
            value: text.into_owned(),
        });
    }
    Ok(value)
}

/// What `--add-src-file` did for one IOC.
#[derive(Debug, Default)]
pub(crate) struct SourceUpdate {
    pub(crate) copied: Vec<String>,
    /// Entries of the source folder with a source extension that were not copied: a
    /// symbolic link (never read through), a folder, a fifo, or one that could not be
    /// read. Each names the entry and why.
    pub(crate) refused: Vec<FsError>,
    pub(crate) ini_changed: bool,
}

/// Copies the source files of `from` (if given) into the IOC's `src/`, then sets the
/// `[SRC]` lists from what `src/` holds now. Every file is opened relative to the
/// opened folder `from` without following a link, and copied from that descriptor,
/// so nothing can be swapped for a link between looking and reading.
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
        copy_sources(from, &src, &mut update)?;
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

fn copy_sources(from: &Path, src: &Path, update: &mut SourceUpdate) -> Result<(), FsError> {
    use std::io::Read;
    // The folder named on the command line is the operator's: a link to it is fine.
    let dir = fs::File::open(from).at(from, "cannot copy source files from it")?;
    if !dir.metadata().at(from, "cannot read")?.is_dir() {
        return Err(FsError {
            path: from.to_path_buf(),
            action: "cannot copy source files from it",
            cause: io::Error::from(io::ErrorKind::NotADirectory),
        });
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(from).at(from, "cannot read folder")? {
        let entry = entry.at(from, "cannot read folder")?;
        let path = entry.path();
        if kind_of(&path).is_none() {
            continue;
        }
        match entry.file_name().into_string() {
            Ok(file) => names.push(file),
            Err(_) => update.refused.push(FsError {
                path,
                action: "not copied",
                cause: io::Error::new(io::ErrorKind::InvalidData, "the name is not UTF-8 text"),
            }),
        }
    }
    names.sort();
    for file in names {
        let path = from.join(&file);
        let read = nofollow::open_file_at(dir.as_fd(), file.as_str()).and_then(|(mut f, _)| {
            let modified = f.metadata()?.modified()?;
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            Ok((bytes, modified))
        });
        match read {
            Ok((bytes, modified)) => {
                fsutil::write_copy(&src.join(&file), &bytes, SRC_MODE, modified)?;
                update.copied.push(file);
            }
            Err(source) => update.refused.push(FsError {
                path,
                action: "not copied",
                cause: source,
            }),
        }
    }
    Ok(())
}
