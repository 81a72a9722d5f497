use crate::cli::MakeCertsArgs;
use crate::cluster::certs::{
    self, CertFiles, CertReport, ENGINE_TLS_PORT, EngineNode, MakeOptions, ServerNames,
};
use crate::commands::ExitStatus;
use crate::printer::Printer;
use crate::settings::Settings;
use crate::swarm::attach;
use crate::swarm::engine::Engine;
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
    if args.node_engines {
        return node_engines(args.days, settings, printer);
    }
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

/// `--node-engines`: certificates for every swarm node's engine endpoint and the
/// manager's client certificate.
fn node_engines(days: u32, settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let engine = Engine::connect()?;
    let mut nodes = Vec::new();
    for node in attach::node_addresses(&engine)? {
        let address = node.address.parse().map_err(|_| {
            anyhow::anyhow!(
                "node {}: swarm address {:?} is not an IP address",
                node.hostname,
                node.address
            )
        })?;
        nodes.push(EngineNode {
            hostname: node.hostname,
            address,
        });
    }
    let made = certs::make_engine_certs(&CertFiles::of(settings), &nodes, days)?;
    let mut rows: Vec<Vec<String>> = made
        .nodes
        .iter()
        .map(|(node, dir)| {
            vec![
                node.hostname.clone(),
                format!("{}:{ENGINE_TLS_PORT}", node.address),
                dir.display().to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        "(manager client)".to_string(),
        String::new(),
        made.client.display().to_string(),
    ]);
    printer.table(&Table::new(&["Node", "Engine endpoint", "Folder"], rows));
    printer.status(
        "give each node its folder (ca.pem, server-cert.pem, server-key.pem, 0600) and a dockerd endpoint tcp://ADDRESS:2376 with --tlsverify (README, \"Node engines\")",
    );
    Ok(ExitStatus::Success)
}
