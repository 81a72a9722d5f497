use crate::cli::ConfigArgs;
use crate::commands::ExitStatus;
use crate::printer::Printer;
use crate::settings::Settings;

pub(crate) fn run(
    args: &ConfigArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if args.list {
        for (name, value) in settings.entries() {
            printer.line(&format!("{name}={value}"));
        }
        return Ok(ExitStatus::Success);
    }
    let name = args.name.as_deref().unwrap_or_default();
    match settings.lookup(name) {
        Some(value) => {
            printer.line(&value);
            Ok(ExitStatus::Success)
        }
        None => {
            printer.error(&format!(
                "unknown setting or path \"{name}\" (see `iocdock config --list`)"
            ));
            Ok(ExitStatus::UnknownName)
        }
    }
}
