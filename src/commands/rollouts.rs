//! Rolling a change out over many IOC services a batch at a time: at most
//! `rollout_batch_size` IOC services change at once, the next batch only after every
//! service of this one runs its new spec, and the first batch with a failure ends the
//! rollout: the services after it are not touched, and are named.

use std::collections::BTreeMap;

use crate::commands::deployment::deploy_placed_and_report;
use crate::commands::service::wait_for_rollout;
use crate::printer::Printer;
use crate::settings::Settings;
use crate::swarm::deploy::{Deployed, OnExisting};
use crate::swarm::engine::Engine;
use crate::swarm::lifecycle;
use crate::swarm::managed::ManagedService;
use crate::swarm::rollout::Watch;

/// The batch size the settings give (at least 1).
pub(crate) fn batch_size(settings: &Settings) -> usize {
    usize::try_from(settings.rollout_batch_size)
        .unwrap_or(usize::MAX)
        .max(1)
}

/// What marks the new copies of a service a batch changed: the ForceUpdate counter
/// after a rolling restart of a deployed service, nothing for a new one.
pub(crate) fn watches(
    engine: &Engine,
    services: &[ManagedService],
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
    printer: &Printer,
) -> (Vec<Watch>, usize) {
    let mut watches = Vec::with_capacity(services.len());
    let mut failures = 0;
    for service in services {
        let restarted =
            on_existing == OnExisting::Restart && existing.contains_key(&service.service_name);
        if !restarted {
            watches.push(Watch {
                service_name: service.service_name.clone(),
                force_update: None,
                rollback: false,
            });
            continue;
        }
        match lifecycle::watch_current(engine, service) {
            Ok(watch) => watches.push(watch),
            Err(e) => {
                printer.error(&e.to_string());
                failures += 1;
            }
        }
    }
    (watches, failures)
}

/// How a rollout in batches ended.
#[derive(Debug, Default)]
pub(crate) struct Rollout {
    /// Services that failed (deploy, or not running after it).
    pub(crate) failures: usize,
    /// The batch that failed, when one did: the rollout stopped after it.
    pub(crate) failed_batch: Vec<ManagedService>,
}

/// Rolls `iocs` out in batches (see the module): `deploy` deploys one batch and
/// returns how many of it failed; the batch is then waited for.
pub(crate) fn in_batches(
    engine: &Engine,
    settings: &Settings,
    iocs: &[ManagedService],
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
    printer: &Printer,
    deploy: &mut dyn FnMut(&[ManagedService]) -> anyhow::Result<usize>,
) -> anyhow::Result<Rollout> {
    let size = batch_size(settings);
    let batches: Vec<&[ManagedService]> = iocs.chunks(size).collect();
    for (i, batch) in batches.iter().enumerate() {
        if batches.len() > 1 {
            printer.status(&format!(
                "batch {} of {}: {}",
                i + 1,
                batches.len(),
                names(batch).join(", ")
            ));
        }
        let mut failures = deploy(batch)?;
        if failures == 0 {
            let (watches, missed) = watches(engine, batch, existing, on_existing, printer);
            failures += missed;
            if !watches.is_empty() {
                failures += wait_for_rollout(engine, settings, &watches, printer)?;
            }
        }
        if failures > 0 {
            report_untouched(&batches[i + 1..], printer);
            return Ok(Rollout {
                failures,
                failed_batch: batch.to_vec(),
            });
        }
    }
    Ok(Rollout::default())
}

/// `in_batches` with the deployment of `service --deploy`: an IOC no node can run
/// is refused unless `force`. With `detach`, every service at once, no waiting.
#[allow(clippy::too_many_arguments)]
pub(crate) fn deploy_in_batches(
    engine: &Engine,
    settings: &Settings,
    iocs: &[ManagedService],
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
    force: bool,
    detach: bool,
    printer: &Printer,
) -> anyhow::Result<usize> {
    let mut deploy = |batch: &[ManagedService]| {
        deploy_placed_and_report(
            engine,
            settings,
            batch,
            existing,
            on_existing,
            force,
            printer,
        )
    };
    if detach {
        return deploy(iocs);
    }
    Ok(in_batches(
        engine,
        settings,
        iocs,
        existing,
        on_existing,
        printer,
        &mut deploy,
    )?
    .failures)
}

/// The error line for the batches a failure kept from being changed.
fn report_untouched(rest: &[&[ManagedService]], printer: &Printer) {
    let left: Vec<String> = rest.iter().flat_map(|b| names(b)).collect();
    if !left.is_empty() {
        printer.error(&format!(
            "rollout stopped at the failed batch; not changed: {}",
            left.join(", ")
        ));
    }
}

fn names(services: &[ManagedService]) -> Vec<String> {
    services.iter().map(|s| s.name.clone()).collect()
}
