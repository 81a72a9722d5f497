use anyhow::Context;

use crate::commands::ExitStatus;
use crate::fsutil;
use crate::printer::Printer;
use crate::settings::{SETTINGS_FILE, Settings};

/// A settings file whose every key is commented out, so operators see what exists.
/// Private from the start: it will hold passwords and commands that run as root.
const SETTINGS_EXAMPLE: &str = include_str!("../../docs/settings.example.yaml");

pub(crate) fn run(settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    for folder in settings.paths.layout_folders() {
        if !folder.is_dir() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("{}: cannot create folder", folder.display()))?;
            printer.status(&format!("created {}", folder.display()));
        }
    }
    // Root-only: the service files say what every IOC service mounts.
    let service_files = &settings.paths.service_files;
    if !service_files.is_dir() {
        fsutil::private_dir(service_files, 0o700)?;
        printer.status(&format!("created {}", service_files.display()));
    }
    super::cluster::install_playbooks(settings, printer)?;
    let file = settings.paths.home.join(SETTINGS_FILE);
    if !file.exists() {
        fsutil::atomic_write(&file, SETTINGS_EXAMPLE.as_bytes(), 0o600)?;
        printer.status(&format!("created {}", file.display()));
    }
    Ok(ExitStatus::Success)
}
