use std::process::Command;

use anyhow::Context;

use crate::commands::ExitStatus;
use crate::commands::lock_repository;
use crate::ioc::editing::{EditSession, Outcome, Resumed};
use crate::ioc::repository::Repository;
use crate::printer::Printer;
use crate::schema::ioc_name as name;
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
// session must not block a cron backup for hours. It is taken to save.
pub(crate) fn run(
    ioc: &str,
    discard: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    name::validate(ioc)?;
    let repository = Repository::new(&settings.paths);
    let session = EditSession::begin(&repository, ioc, discard)?;
    let path = session.path().to_path_buf();
    match session.resumed {
        Some(Resumed::Current) => printer.status(&format!(
            "IOC \"{ioc}\": continuing the edit kept at {} (--discard starts again from ioc.ini)",
            path.display()
        )),
        Some(Resumed::IniChangedSince) => printer.warn(&format!(
            "IOC \"{ioc}\": continuing the edit kept at {}, but ioc.ini changed after it was kept: saving it replaces those changes (--discard starts again from ioc.ini)",
            path.display()
        )),
        None => {}
    }
    let editor = editor();
    // Through the shell, so an editor given with arguments ("code --wait") works.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status();
    let failed = match &status {
        Ok(status) if status.success() => None,
        Ok(status) => Some(status.to_string()),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = failed {
        let kept = session.abandon();
        let kept = kept
            .map(|p| format!("; the edit is kept at {}", p.display()))
            .unwrap_or_default();
        return Err(anyhow::anyhow!(
            "the editor \"{editor}\" failed ({why}); ioc.ini of IOC \"{ioc}\" was not changed{kept}"
        ));
    }
    let _lock = lock_repository(settings, printer)?;
    let outcome = session
        .finish(settings)
        .with_context(|| format!("IOC \"{ioc}\": ioc.ini was not changed"))?;
    let retry = |kept: &std::path::Path| {
        format!(
            "IOC \"{ioc}\": ioc.ini was not changed; the edit is kept at {} and `iocdock edit {ioc}` opens it again (--discard drops it)",
            kept.display()
        )
    };
    Ok(match outcome {
        Outcome::Saved { older, warnings } => {
            for problem in warnings.iter().chain(&older) {
                printer.warn(&problem.to_string());
            }
            printer.status(&format!("IOC \"{ioc}\": ioc.ini saved"));
            ExitStatus::Success
        }
        Outcome::Unchanged { older } => {
            for problem in &older {
                printer.warn(&problem.to_string());
            }
            printer.status(&format!("IOC \"{ioc}\": ioc.ini unchanged"));
            ExitStatus::Success
        }
        Outcome::Refused {
            syntax,
            violations,
            kept,
        } => {
            if let Some(e) = syntax {
                printer.error(&e.to_string());
            }
            for violation in &violations {
                printer.error(&violation.to_string());
            }
            printer.warn(&retry(&kept));
            ExitStatus::Failure
        }
        Outcome::Conflict { kept } => {
            printer.error(&format!(
                "IOC \"{ioc}\": ioc.ini was written by another command while it was edited; merge the two: {}",
                retry(&kept)
            ));
            ExitStatus::Failure
        }
    })
}
