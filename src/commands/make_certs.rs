use crate::cli::MakeCertsArgs;
use crate::cluster::certs::{self, CertFiles, CertReport, MakeOptions, ServerNames};
use crate::commands::ExitStatus;
use crate::printer::Printer;
use crate::settings::Settings;
use crate::table::Table;

fn show(report: &CertReport, printer: &Printer) {
    let row = |info: &certs::CertInfo| {
        vec![
            info.path.display().to_string(),
            info.subject.clone(),
            info.names.join(", "),
            info.not_after.clone(),
        ]
    };
    let rows = vec![row(&report.ca), row(&report.server)];
    printer.table(&Table::new(
        &["File", "Subject", "Names", "Valid until"],
        rows,
    ));
    for warning in &report.warnings {
        printer.warn(warning);
    }
}

pub(crate) fn run(
    args: &MakeCertsArgs,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let names = ServerNames::required(settings)?.with(&args.san, args.localhost)?;
    if args.verify {
        let report = certs::verify(&CertFiles::of(settings), &names)?;
        show(&report, printer);
        return Ok(ExitStatus::Success);
    }
    let made = certs::make_for_registry(
        settings,
        &names,
        MakeOptions {
            force: args.force,
            new_ca: args.new_ca,
            days: args.days,
        },
    )?;
    if let Some(moved) = &made.moved {
        printer.status(&format!(
            "moved the CA private key from the run directory to {} ({} is gone)",
            moved.to.display(),
            moved.from.display()
        ));
    }
    show(&made.report, printer);
    if !made.server_made {
        printer
            .status("the existing certificates are kept (--force renews the server certificate)");
    } else if made.new_ca {
        printer.status(
            "new cluster root CA: run `iocdock cluster --set-up-root-cert` so every node trusts it",
        );
    } else {
        printer.status(&format!(
            "signed by the existing CA {}",
            made.report.ca.path.display()
        ));
    }
    Ok(ExitStatus::Success)
}
