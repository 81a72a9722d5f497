//! `--restart`, `--stop`, `--start`, and waiting for a change to converge.

use crate::commands::ExitStatus;
use crate::printer::Printer;
use crate::settings::Settings;
use crate::swarm::engine::{Engine, EngineFailure};
use crate::swarm::lifecycle::{self, LifecycleError, Verb};
use crate::swarm::managed::ServiceType;
use crate::swarm::rollout;

use super::resolve;

/// `--restart`, `--stop` and `--start`: one field of each deployed service's spec
/// changes, the service stays. Each service is reported; one that cannot be changed
/// fails alone. An engine that stops answering is one error for the services left.
/// Unless `detach`, the command then waits until the restarted or started services
/// run again, and fails for each that the engine gave up on or that did not.
pub(super) fn lifecycle_verb(
    names: &[String],
    kind: Option<ServiceType>,
    verb: Verb,
    detach: bool,
    settings: &Settings,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (services, mut failures) = resolve(names, kind, settings, printer);
    if services.is_empty() {
        return Ok(ExitStatus::from_failures(failures));
    }
    let engine = Engine::connect_for_changes()?;
    let mut watches = Vec::new();
    for (i, service) in services.iter().enumerate() {
        match lifecycle::apply(&engine, service, &settings.prefix_stack_name, verb) {
            Ok(change) => {
                printer.status(&change.to_string());
                watches.extend(change.watch());
            }
            Err(LifecycleError::Swarm(error)) if error.is_engine_failure() => {
                let left: Vec<&str> = services[i..]
                    .iter()
                    .map(|s| s.service_name.as_str())
                    .collect();
                return Err(EngineFailure {
                    error,
                    consequence: format!("not known to be changed: {}", left.join(", ")),
                }
                .into());
            }
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    if !detach && !watches.is_empty() {
        failures += wait_for_rollout(&engine, settings, &watches, printer)?;
    }
    Ok(ExitStatus::from_failures(failures))
}

/// Waits for `watches` to converge, a line for each as it does (or does not), a
/// progress bar meanwhile on a terminal; returns how many did not.
pub(crate) fn wait_for_rollout(
    engine: &Engine,
    settings: &Settings,
    watches: &[rollout::Watch],
    printer: &Printer,
) -> anyhow::Result<usize> {
    let progress = printer.progress(watches.len(), "waiting for");
    let mut failed = 0;
    let outcome = rollout::wait(
        engine,
        &settings.prefix_stack_name,
        watches,
        rollout::LIMIT,
        &mut |watch, outcome| {
            progress.step(&watch.service_name);
            match describe_rollout(&watch.service_name, outcome) {
                Ok(line) => printer.status(&line),
                Err(line) => {
                    printer.error(&line);
                    failed += 1;
                }
            }
        },
    );
    drop(progress);
    match outcome {
        Ok(_) => Ok(failed),
        Err(error) => Err(EngineFailure {
            error,
            consequence: "the change was made; whether it converged is not known (see `iocdock swarm --show-digest`)".to_string(),
        }
        .into()),
    }
}

/// The line for one service's outcome: Ok for a status line, Err for an error line.
fn describe_rollout(service: &str, outcome: &rollout::Outcome) -> Result<String, String> {
    use rollout::Outcome;
    match outcome {
        Outcome::Converged { status, after } => {
            let health = if status.health == crate::swarm::status::Health::Healthy {
                " (healthy)"
            } else {
                ""
            };
            let nodes = status.node_text();
            let on = if nodes.is_empty() {
                String::new()
            } else {
                format!(" on {nodes}")
            };
            Ok(format!(
                "{service}: {} running{health}{on}, after {} s",
                status.replicas(),
                after.as_secs()
            ))
        }
        Outcome::GaveUp { state, message } => {
            let what = match state.as_str() {
                "rollback_completed" => "rolled the change back",
                "rollback_paused" => "paused the rollback of the change",
                _ => "paused the change",
            };
            Err(format!("{service}: the engine {what}: {message}"))
        }
        Outcome::TimedOut { status } => Err(format!(
            "{service}: not running after {} s: {} (the engine keeps trying; see `iocdock swarm --show-digest`)",
            rollout::LIMIT.as_secs(),
            status.text
        )),
        Outcome::Removed => Err(format!("{service}: removed while waiting for it")),
    }
}
