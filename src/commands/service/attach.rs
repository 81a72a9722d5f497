//! `--exec CMD…` and `--attach`: a command in, or the iocsh console of, the IOC's
//! running container.

use std::io::{self, IsTerminal};

use anyhow::Context;

use crate::cluster::certs::{self, CertFiles, ENGINE_TLS_PORT};
use crate::commands::client::{RawMode, exec_with_terminal, forward_stdin, terminal_size};
use crate::commands::{ExitStatus, UsageError};
use crate::interrupt::{Interrupted, Watch};
use crate::printer::Printer;
use crate::process::shell_line;
use crate::settings::Settings;
use crate::swarm::attach::{self, AttachOutcome, DETACH_KEYS, TaskContainer};
use crate::swarm::client::{ClientContainer, ToolLocation};
use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::logs::LogStream;
use crate::swarm::managed::ServiceType;

use super::resolve;

/// The one running container of the one service `names` stands for, with the engine
/// of its node and, for another node's, that engine's endpoint (for errors).
fn container_of(
    names: &[String],
    kind: Option<ServiceType>,
    action: &str,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<Option<(Engine, TaskContainer, String)>> {
    if names.len() != 1 {
        return Err(UsageError(format!("{action} takes one IOC or service name")).into());
    }
    let (services, _) = resolve(names, kind, settings, printer);
    let Some(service) = services.first() else {
        return Ok(None);
    };
    let manager = Engine::connect()?;
    let container = attach::locate(&manager, &service.name, &service.service_name)?;
    let Some(node) = &container.elsewhere else {
        return Ok(Some((manager, container, String::new())));
    };
    // Only the node's own engine knows its containers: its TLS endpoint, with the
    // manager's client certificate from the cluster CA.
    let certs = certs::engine_client(&CertFiles::of(settings))?;
    let host = if node.address.contains(':') {
        format!("[{}]", node.address)
    } else {
        node.address.clone()
    };
    let address = format!("{host}:{ENGINE_TLS_PORT}");
    printer.detail(&format!(
        "{} runs on node {}: connecting to its engine at tcp://{address}",
        service.name, node.hostname
    ));
    let engine = Engine::connect_node(&address, &certs)?;
    Ok(Some((engine, container, format!("tcp://{address}"))))
}

/// A node engine's error naming its endpoint; this node's as it is (empty endpoint).
fn on_node(error: SwarmError, endpoint: &str) -> SwarmError {
    if endpoint.is_empty() {
        error
    } else {
        error.at(endpoint)
    }
}

/// `--exec CMD…`: like `docker exec [-it]` on the IOC's container, with its output
/// streamed and its exit code passed on.
pub(super) fn exec(
    names: &[String],
    kind: Option<ServiceType>,
    command: &[String],
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((engine, found, endpoint)) = container_of(names, kind, "--exec", settings, printer)?
    else {
        return Ok(ExitStatus::Failure);
    };
    let container = ClientContainer {
        id: found.id,
        tools: ToolLocation::Path,
    };
    printer.status(&format!("executing \"{}\".", shell_line(command)));
    exec_with_terminal(
        &engine,
        &container,
        command.to_vec(),
        "the command was asked to stop and may still be running in the container",
        &|e| on_node(e, &endpoint),
        printer,
    )
}

/// `--attach`: the terminal on the IOC's console (its iocsh) until the detach keys.
pub(super) fn attach(
    names: &[String],
    kind: Option<ServiceType>,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some((engine, container, endpoint)) =
        container_of(names, kind, "--attach", settings, printer)?
    else {
        return Ok(ExitStatus::Failure);
    };
    printer.status(&format!(
        "attached to {}; leave with {DETACH_KEYS} (the IOC keeps running)",
        names[0]
    ));
    let interactive = io::stdin().is_terminal() && io::stdout().is_terminal();
    let mut watch = Watch::start().context("cannot watch for Ctrl-C and SIGTERM")?;
    let raw_mode = if interactive { RawMode::enable() } else { None };
    let size: Option<attach::TerminalSize> = raw_mode
        .as_ref()
        .map(|_| Box::new(terminal_size) as attach::TerminalSize);
    let outcome = attach::attach(
        &engine,
        &container,
        forward_stdin(),
        size,
        watch.signals(),
        &mut |stream, bytes| match stream {
            LogStream::Out => printer.stream_out(bytes),
            LogStream::Err => printer.stream_err(bytes),
        },
        // On a raw terminal a line needs its carriage return.
        &mut |text| printer.warn(&format!("\r\n{text}\r")),
    );
    drop(raw_mode);
    match outcome.map_err(|e| on_node(e, &endpoint))? {
        AttachOutcome::Detached => {
            printer.status(&format!("\r\ndetached from {}; it keeps running", names[0]));
            Ok(ExitStatus::Success)
        }
        AttachOutcome::Stopped => {
            printer.error(&format!(
                "the container of {} stopped while attached; the swarm starts a new one",
                names[0]
            ));
            Ok(ExitStatus::Failure)
        }
        AttachOutcome::Interrupted(which) => {
            printer.status(&format!(
                "\r\nleft {} on {}; it keeps running",
                names[0],
                which.name()
            ));
            Err(Interrupted(which).into())
        }
    }
}
