use crate::cli::RegistryArgs;
use crate::cluster::registry::Registry;
use crate::commands::ExitStatus;
use crate::printer::Printer;
use crate::settings::Settings;

pub(crate) fn run(
    args: &RegistryArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let registry = Registry::from_settings(settings)?;
    let names = match &args.list {
        Some(Some(image)) => registry.tags(image)?,
        _ => registry.repositories()?,
    };
    for name in names {
        printer.line(&name);
    }
    Ok(ExitStatus::Success)
}
