use std::process::Command;

use anyhow::{Context, bail};

use crate::ExitStatus;
use crate::ioc::name;
use crate::ioc::repository::{Repository, RepositoryError, read_ini_file};
use crate::printer::Printer;
use crate::settings::Settings;

/// `$VISUAL`, then `$EDITOR`, then vi, as other Unix tools choose.
fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .into_iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string())
}

// The repository lock is not held while the editor is open: an operator's editing
// session must not block a cron backup for hours.
pub(crate) fn run(ioc: &str, settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    name::validate(ioc)?;
    let repository = Repository::new(&settings.paths);
    if !repository.exists(ioc) {
        return Err(RepositoryError::Missing(ioc.to_string()).into());
    }
    let path = repository.ini_path(ioc);
    let editor = editor();
    // Through the shell, so an editor given with arguments ("code --wait") works.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .with_context(|| format!("cannot start the editor \"{editor}\""))?;
    if !status.success() {
        bail!(
            "the editor \"{editor}\" failed ({status}); {} was not checked",
            path.display()
        );
    }
    let doc = read_ini_file(&path)?;
    // The file is the operator's now; a host that can be no folder, or health check
    // options that cannot be deployed, are reported so they are fixed before anything
    // is exported.
    crate::ioc::config::checked_host(ioc, &doc)?;
    crate::ioc::health::options(ioc, &doc)?;
    printer.status(&format!("{} is valid", path.display()));
    Ok(ExitStatus::Success)
}
