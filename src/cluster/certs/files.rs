//! The CA's private key on disk: a private folder on the manager, keys written to
//! survive a crash, and a key an earlier version left in the run directory moved
//! out of it.

use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use rcgen::KeyPair;

use super::{CA_KEY, CertError, CertFiles, MovedKey};
use crate::fsutil::{self, FsError, IoContext};

/// `$MANAGER_PATH/pki`, private to its owner whatever it was before.
pub(super) fn private_folder(dir: &Path) -> Result<(), FsError> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).at(parent, "cannot create folder")?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).at(dir, "cannot create folder"),
    }
    let mode = std::fs::metadata(dir)
        .at(dir, "cannot read")?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .at(dir, "cannot set permissions")?;
    }
    Ok(())
}

/// Writes a private key so that it survives a crash right after (the copy it
/// replaces may be deleted next).
pub(super) fn write_key(path: &Path, pem: &[u8]) -> Result<(), FsError> {
    fsutil::atomic_write(path, pem, 0o600)?;
    File::open(path)
        .and_then(|f| f.sync_all())
        .at(path, "cannot flush to disk")?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .at(dir, "cannot flush to disk")?;
    }
    Ok(())
}

/// The bytes of a regular file, read without following a link; None when it does
/// not exist.
fn read_regular_file(path: &Path) -> Result<Option<Vec<u8>>, CertError> {
    use rustix::fs::{Mode, OFlags};
    use std::io::Read as _;
    let fd = match rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(rustix::io::Errno::LOOP) => {
            return Err(CertError::Unreadable {
                path: path.to_path_buf(),
                problem: "is a symbolic link, which iocdock does not follow; put the key file itself there or remove the link".to_string(),
            });
        }
        Err(e) => {
            return Err(FsError {
                path: path.to_path_buf(),
                action: "cannot open",
                cause: e.into(),
            }
            .into());
        }
    };
    let mut file = File::from(fd);
    let meta = file.metadata().at(path, "cannot read")?;
    if !meta.is_file() {
        return Err(CertError::Unreadable {
            path: path.to_path_buf(),
            problem: "is not a regular file".to_string(),
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).at(path, "cannot read")?;
    Ok(Some(bytes))
}

/// Moves a CA key that an earlier version left in the run directory to the
/// manager's key folder. The copy there is flushed to disk before the one in the
/// run directory is removed. A different key already in the folder is kept; the
/// moved one then gets the next free name (`ca.key.1`, ...).
pub(super) fn move_run_directory_key(files: &CertFiles) -> Result<Option<MovedKey>, CertError> {
    let from = files.run_directory_ca_key();
    let Some(bytes) = read_regular_file(&from)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    KeyPair::from_pem(&text).map_err(|e| CertError::Unreadable {
        path: from.clone(),
        problem: format!(
            "not a PKCS#8 PEM private key ({e}); iocdock moves only the CA key out of the run directory"
        ),
    })?;
    private_folder(&files.pki)?;
    let mut to = files.ca_key();
    let mut n = 0;
    loop {
        match std::fs::read(&to) {
            Ok(existing) if existing == bytes => break,
            Ok(_) => {
                n += 1;
                to = files.pki.join(format!("{CA_KEY}.{n}"));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_key(&to, &bytes)?;
                break;
            }
            Err(e) => return Err(e).at(&to, "cannot read")?,
        }
    }
    std::fs::remove_file(&from).at(&from, "cannot remove")?;
    Ok(Some(MovedKey { from, to }))
}

pub(super) fn read_text(path: &Path) -> Result<String, CertError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(CertError::Missing(path.to_path_buf()))
        }
        Err(e) => Err(FsError {
            path: path.to_path_buf(),
            action: "cannot read",
            cause: e,
        }
        .into()),
    }
}

pub(super) fn read_key(path: &Path) -> Result<KeyPair, CertError> {
    let pem = read_text(path)?;
    KeyPair::from_pem(&pem).map_err(|e| CertError::Unreadable {
        path: path.to_path_buf(),
        problem: format!("not a PKCS#8 PEM private key ({e})"),
    })
}
