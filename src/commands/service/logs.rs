//! `--show-logs`, of the current tasks or of the one before.

use crate::commands::ExitStatus;
use crate::printer::Printer;
use crate::settings::Settings;
use crate::swarm::engine::Engine;
use crate::swarm::inspect;
use crate::swarm::logs::{self, LogRequest, LogSource, LogStream, stream_logs};
use crate::swarm::managed::ServiceType;

use super::{deployed, deployed_of, resolve};

pub(super) fn show_logs(
    names: &[String],
    kind: Option<ServiceType>,
    request: LogRequest,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    // Checked first: a log request for a missing service would fail mid-stream.
    let Some((engine, deployed, failures)) = deployed_of(names, kind, settings, printer)? else {
        return Ok(ExitStatus::Failure);
    };
    let sources: Vec<LogSource> = deployed
        .into_iter()
        .filter_map(|s| s.spec?.name)
        .map(LogSource::Service)
        .collect();
    print_logs(&engine, &sources, request, printer)?;
    Ok(ExitStatus::from_failures(failures))
}

/// `--show-logs --previous`: the log of each service's task before its current one,
/// the one an operator looks at after a crash. A service without one is reported and
/// counted; the others are still shown.
pub(super) fn show_previous_logs(
    names: &[String],
    kind: Option<ServiceType>,
    request: LogRequest,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (services, mut failures) = resolve(names, kind, settings, printer);
    if services.is_empty() {
        return Ok(ExitStatus::Failure);
    }
    let engine = Engine::connect()?;
    let deployed = deployed(&engine, &services, printer, &mut failures)?;
    let ids: Vec<String> = deployed.iter().filter_map(|s| s.id.clone()).collect();
    let tasks = inspect::tasks_of(&engine, &ids)?;
    let mut sources = Vec::with_capacity(deployed.len());
    for service in &deployed {
        let (Some(id), Some(service_name)) = (
            service.id.as_deref(),
            service.spec.as_ref().and_then(|s| s.name.as_deref()),
        ) else {
            continue;
        };
        let own: Vec<bollard::models::Task> = tasks
            .iter()
            .filter(|t| t.service_id.as_deref() == Some(id))
            .cloned()
            .collect();
        match logs::previous_task(&own).and_then(|t| t.id.clone()) {
            Some(task) => sources.push(LogSource::Task {
                service: service_name.to_string(),
                task,
            }),
            None => {
                let shown = services
                    .iter()
                    .find(|s| s.service_name == service_name)
                    .map_or_else(
                        || service_name.to_string(),
                        |s| format!("{} service \"{}\" ({service_name})", s.kind, s.name),
                    );
                printer.error(&format!(
                    "{shown} has no previous task: none of the tasks the swarm keeps for it has ended (crashed or been replaced)"
                ));
                failures += 1;
            }
        }
    }
    print_logs(&engine, &sources, request, printer)?;
    Ok(ExitStatus::from_failures(failures))
}

fn print_logs(
    engine: &Engine,
    sources: &[LogSource],
    request: LogRequest,
    printer: &Printer,
) -> anyhow::Result<()> {
    stream_logs(
        engine,
        sources,
        request,
        &mut |stream, bytes| match stream {
            LogStream::Out => printer.stream_out(bytes),
            LogStream::Err => printer.stream_err(bytes),
        },
    )?;
    Ok(())
}
