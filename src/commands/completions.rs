use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::commands::ExitStatus;
use crate::completion;
use crate::ioc::repository::Repository;
use crate::printer::Printer;
use crate::settings::{Overrides, Settings};

pub(crate) fn run(shell: Shell, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // Completes the name it was called by, so the IocManager symlink gets its own.
    let bin = std::env::args_os()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "iocdock".to_string());
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), bin.clone(), &mut script);
    let script = String::from_utf8_lossy(&script);
    match shell {
        Shell::Bash => printer.data(&completion::bash_script(&script, &bin)),
        _ => printer.data(&script),
    }
    Ok(ExitStatus::Success)
}

/// The IOC names the next word can be, one per line; nothing when it is not an IOC
/// name.
pub(crate) fn ioc_names(words: &[String], printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut cli = Cli::command();
    cli.build();
    let position = completion::position(&cli, words);
    if !position.wants_ioc_name {
        return Ok(ExitStatus::Success);
    }
    let loaded = Settings::load(Overrides::from_env(position.home.map(Into::into)))?;
    for name in Repository::new(&loaded.settings.paths).names()? {
        printer.line(&name);
    }
    Ok(ExitStatus::Success)
}

/// `iocdock __man-pages DIR`: the manual pages, written into DIR.
pub(crate) fn man_pages(dir: Option<&String>, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let Some(dir) = dir else {
        return Err(crate::commands::UsageError(format!(
            "{}: name the folder to write the manual pages into",
            crate::manual::WRITE_MAN_PAGES
        ))
        .into());
    };
    for path in crate::manual::write(std::path::Path::new(dir))? {
        printer.detail(&format!("wrote {}", path.display()));
    }
    Ok(ExitStatus::Success)
}
