//! What `list -p` says about each IOC's deployment: its status (as in the digest)
//! and whether the deployed service drifted from its service file; the `list`
//! conditions on them (`deploy=`, `health=`, `consistency=`) and the verdict of
//! `list -p --check`.

use std::time::Duration;

use crate::ioc::repository::Repository;
use crate::services::catalog;
use crate::settings::Settings;
use crate::swarm::drift::{self, Consistency, Drift, Planned};
use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::status::{DeployState, DeployStatus, Health, SwarmView};

/// The view of the swarm `list -p` reads, with the names of the networks the
/// services attach to (for the drift check).
pub(crate) struct PanelView {
    pub(crate) swarm: SwarmView,
    networks: std::collections::HashMap<String, String>,
}

/// Connects with a short limit and reads the view, for `list -p`, which must print its
/// table even when the daemon hangs.
pub(crate) fn fetch_quickly(prefix: &str, limit: Duration) -> Result<PanelView, SwarmError> {
    let engine = Engine::connect_for_view(limit)?;
    engine
        .run(async {
            let (swarm, networks) =
                SwarmView::fetch_with_networks(engine.docker(), engine.raw(), prefix, true).await?;
            Ok::<_, SwarmError>(PanelView { swarm, networks })
        })?
        .map_err(|e| engine.explain(e))
}

/// One IOC's deployment as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IocDeployment {
    pub(crate) status: DeployStatus,
    pub(crate) drift: Drift,
}

impl IocDeployment {
    /// What every IOC gets when the swarm could not be read.
    pub(crate) fn unknown(why: &str) -> IocDeployment {
        IocDeployment {
            status: DeployStatus::unknown(why),
            drift: Drift::unknown(why),
        }
    }

    /// `list -p --check`: the IOC runs, its health check (if any) passes and the
    /// deployed service is what its file says. An IOC stopped with `service --stop`
    /// is fine too: an operator stopped it on purpose.
    pub(crate) fn is_fine(&self) -> bool {
        matches!(
            self.status.state,
            DeployState::Running | DeployState::Stopped
        ) && matches!(self.status.health, Health::Healthy | Health::None)
            && self.drift.consistency == Consistency::Consistent
    }
}

/// What each named IOC's service file deploys (None without a service file): the
/// file translations, on every core. They need no engine, so `list -p` makes them
/// while it waits for the engine's answer.
pub(crate) fn planned(
    settings: &Settings,
    repository: &Repository,
    names: &[&str],
) -> Vec<Option<Planned>> {
    let namespace = &settings.prefix_stack_name;
    crate::parallel::map_with(names, 16, |name| {
        let service = catalog::ioc_service(settings, repository, name);
        service
            .available()
            .then(|| drift::plan(&service, namespace))
    })
}

/// The deployment of each named IOC; `planned` is what [`planned`] returned for
/// the same names, or empty: then only the deployed services' files are translated,
/// here.
pub(crate) fn deployments(
    settings: &Settings,
    repository: &Repository,
    names: &[&str],
    planned: &[Option<Planned>],
    view: &PanelView,
) -> Vec<IocDeployment> {
    let indices: Vec<usize> = (0..names.len()).collect();
    crate::parallel::map_with(&indices, 16, |&i| {
        let service = catalog::ioc_service(settings, repository, names[i]);
        let available = service.available();
        let status = view.swarm.status(&service.service_name, available);
        let drift = match (view.swarm.service(&service.service_name), planned.get(i)) {
            (None, _) => Drift::not_deployed(),
            (Some(deployed), Some(Some(planned))) => {
                drift::check(planned, deployed, &view.networks, status.update.as_ref())
            }
            (Some(deployed), _) => drift::check(
                &drift::plan(&service, &settings.prefix_stack_name),
                deployed,
                &view.networks,
                status.update.as_ref(),
            ),
        };
        IocDeployment { status, drift }
    })
}

/// A `list` condition on the deployment: `deploy=STATE`, `health=HEALTH`,
/// `consistency=CONSISTENCY`. Conditions are ANDed with the others; using one makes
/// `list` ask the engine, whatever the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PanelCondition {
    Deploy(DeployState),
    Health(Health),
    Consistency(Consistency),
}

impl PanelCondition {
    /// None when `key` is not one of these conditions; an error names the accepted
    /// values when the value is none of them.
    pub(crate) fn parse(key: &str, value: &str) -> Option<Result<PanelCondition, String>> {
        let words = |all: Vec<&str>| all.join(", ");
        Some(match key {
            "deploy" => DeployState::parse(value)
                .map(PanelCondition::Deploy)
                .ok_or_else(|| words(DeployState::ALL.iter().map(|s| s.word()).collect())),
            "health" => Health::parse(value)
                .map(PanelCondition::Health)
                .ok_or_else(|| words(Health::ALL.iter().map(|h| h.word()).collect())),
            "consistency" => Consistency::parse(value)
                .map(PanelCondition::Consistency)
                .ok_or_else(|| words(Consistency::ALL.iter().map(|c| c.word()).collect())),
            _ => return None,
        })
    }

    pub(crate) fn matches(&self, deployment: &IocDeployment) -> bool {
        match self {
            PanelCondition::Deploy(state) => deployment.status.state == *state,
            PanelCondition::Health(health) => deployment.status.health == *health,
            PanelCondition::Consistency(c) => deployment.drift.consistency == *c,
        }
    }
}
