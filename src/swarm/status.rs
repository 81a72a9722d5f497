//! Deployment status of managed services (SPEC §8), true under node faults: replica
//! counts from the tasks on nodes that are up, the node each copy runs on, the error
//! of the current task only, and copies that may still run on a node the manager
//! lost. A whole table costs one services call, one tasks call (current tasks only)
//! and one nodes call, made at once; a second tasks call, for the nodes that are not
//! Ready, is made only when there are such nodes.
//!
//! Every state and its words live here ([`DeployState`], [`Health`]), so the
//! digest, `list -p`, their JSON and the `list` filters say the same thing.

mod deployed;
mod view;

use bollard::models::{Service, ServiceUpdateStatusStateEnum};
use chrono::{DateTime, Utc};
use std::fmt;

use crate::process::one_line;
use crate::swarm::managed::{ManagedService, ServiceType};
pub(crate) use view::SwarmView;

/// What a service is doing, at a glance. The words are what tables, JSON and the
/// `deploy=` condition of `list` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DeployState {
    /// Every copy that should run is running, on a node that is Ready.
    Running,
    /// Copies are being created, prepared or started (health check not passed yet).
    Starting,
    /// The scheduler finds no node for a copy.
    Pending,
    /// A copy failed or was rejected, or waits out its restart delay after a failure.
    Failing,
    /// A copy that should run is on a node that is not Ready (down, unknown,
    /// disconnected): the manager cannot tell whether it still runs.
    NodeDown,
    /// More copies than desired may run: for an IOC, two IOCs serving the same PVs.
    Duplicate,
    /// An update or rollback is under way.
    Updating,
    /// The update or rollback stopped half-way and waits for the operator.
    UpdatePaused,
    /// Deployed with nothing to run: 0 replicas (`service --stop`), or a global service
    /// on no node.
    Stopped,
    Undeployed,
    /// The engine could not be asked.
    Unknown,
}

impl DeployState {
    pub(crate) const ALL: [DeployState; 11] = [
        DeployState::Running,
        DeployState::Starting,
        DeployState::Pending,
        DeployState::Failing,
        DeployState::NodeDown,
        DeployState::Duplicate,
        DeployState::Updating,
        DeployState::UpdatePaused,
        DeployState::Stopped,
        DeployState::Undeployed,
        DeployState::Unknown,
    ];

    pub(crate) fn word(self) -> &'static str {
        match self {
            DeployState::Running => "running",
            DeployState::Starting => "starting",
            DeployState::Pending => "pending",
            DeployState::Failing => "failing",
            DeployState::NodeDown => "node-down",
            DeployState::Duplicate => "duplicate",
            DeployState::Updating => "updating",
            DeployState::UpdatePaused => "update-paused",
            DeployState::Stopped => "stopped",
            DeployState::Undeployed => "undeployed",
            DeployState::Unknown => "unknown",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<DeployState> {
        DeployState::ALL.into_iter().find(|s| s.word() == word)
    }

    /// Rows the digest pins first: anything an operator should look at. A stopped
    /// service was stopped on purpose (`service --stop`).
    pub(crate) fn is_problem(self) -> bool {
        !matches!(
            self,
            DeployState::Running | DeployState::Stopped | DeployState::Undeployed
        )
    }
}

impl serde::Serialize for DeployState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.word())
    }
}

impl fmt::Display for DeployState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Whether the service's own health check passes, as the engine's task states tell
/// it: swarm reports a task with a health check Running only once it is healthy,
/// keeps it Starting until then and fails it when it turns unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Health {
    Healthy,
    Unhealthy,
    Starting,
    /// No health check in the service, or no copy to judge (not running).
    None,
    /// The engine could not be asked.
    Unknown,
}

impl Health {
    pub(crate) const ALL: [Health; 5] = [
        Health::Healthy,
        Health::Unhealthy,
        Health::Starting,
        Health::None,
        Health::Unknown,
    ];

    pub(crate) fn word(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Starting => "starting",
            Health::None => "none",
            Health::Unknown => "unknown",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<Health> {
        Health::ALL.into_iter().find(|h| h.word() == word)
    }
}

impl serde::Serialize for Health {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.word())
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A node a copy of a service is on, with its trouble if it has one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub(crate) struct NodeMark {
    pub(crate) hostname: String,
    /// `down`, `unknown`, `disconnected`, `drain`, `pause`; None when Ready and active.
    pub(crate) trouble: Option<String>,
}

impl fmt::Display for NodeMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.trouble {
            Some(trouble) => write!(f, "{} ({trouble})", self.hostname),
            None => f.write_str(&self.hostname),
        }
    }
}

/// The service's UpdateStatus when it says more than "completed".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct UpdateNote {
    /// The engine's word: updating, paused, rollback_started, rollback_paused,
    /// rollback_completed.
    pub(crate) state: String,
    pub(crate) message: String,
}

impl UpdateNote {
    pub(crate) fn rolled_back(&self) -> bool {
        self.state == "rollback_completed"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct DeployStatus {
    pub(crate) state: DeployState,
    /// Copies running on Ready nodes and copies that should run; None when not
    /// deployed or unknown.
    pub(crate) running: Option<u64>,
    pub(crate) desired: Option<u64>,
    /// Nodes of the current copies (and of copies that may still run on a lost node).
    pub(crate) nodes: Vec<NodeMark>,
    pub(crate) health: Health,
    /// When the newest running copy was created: the uptime's start.
    #[serde(serialize_with = "rfc3339")]
    pub(crate) running_since: Option<DateTime<Utc>>,
    /// The error of a current task (the scheduler's reason for a pending one).
    pub(crate) error: Option<String>,
    pub(crate) update: Option<UpdateNote>,
    /// `Running 5 hours ago (healthy)`, `Undeployed (Available)`, `Pending 3 seconds
    /// ago: "no suitable node ..."`: the Status/DeployStatus column.
    pub(crate) text: String,
}

fn rfc3339<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => {
            serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
        None => serializer.serialize_none(),
    }
}

impl DeployStatus {
    /// `running/desired`, `-/-` when not deployed.
    pub(crate) fn replicas(&self) -> String {
        match (self.running, self.desired) {
            (Some(running), Some(desired)) => format!("{running}/{desired}"),
            _ => "-/-".to_string(),
        }
    }

    /// The Node column: every node of a copy, a node in trouble marked.
    pub(crate) fn node_text(&self) -> String {
        self.nodes
            .iter()
            .map(NodeMark::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The status of every service when the engine cannot be asked.
    pub(crate) fn unknown(why: &str) -> DeployStatus {
        DeployStatus {
            state: DeployState::Unknown,
            running: None,
            desired: None,
            nodes: Vec::new(),
            health: Health::Unknown,
            running_since: None,
            error: None,
            update: None,
            text: format!("unknown ({why})"),
        }
    }

    fn undeployed(available: bool) -> DeployStatus {
        DeployStatus {
            state: DeployState::Undeployed,
            running: None,
            desired: None,
            nodes: Vec::new(),
            health: Health::None,
            running_since: None,
            error: None,
            update: None,
            text: format!(
                "Undeployed ({})",
                if available {
                    "Available"
                } else {
                    "Unavailable"
                }
            ),
        }
    }
}

/// The service's UpdateStatus, unless it is empty or says "completed".
pub(crate) fn update_note(service: &Service) -> Option<UpdateNote> {
    let update = service.update_status.as_ref()?;
    let state = update.state?;
    if matches!(
        state,
        ServiceUpdateStatusStateEnum::EMPTY | ServiceUpdateStatusStateEnum::COMPLETED
    ) {
        return None;
    }
    Some(UpdateNote {
        state: state.to_string(),
        message: update.message.as_deref().map(one_line).unwrap_or_default(),
    })
}

/// One row of `swarm --show-digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestRow {
    pub(crate) name: String,
    pub(crate) service_name: String,
    pub(crate) kind: ServiceType,
    pub(crate) status: DeployStatus,
}

/// Digest rows in SPEC order: problems first, then local, global, custom and IOC
/// services, each by name.
pub(crate) fn digest(view: &SwarmView, services: &[ManagedService]) -> Vec<DigestRow> {
    let mut rows: Vec<DigestRow> = services
        .iter()
        .map(|s| DigestRow {
            name: s.name.clone(),
            service_name: s.service_name.clone(),
            kind: s.kind,
            status: view.status(&s.service_name, s.available()),
        })
        .collect();
    rows.sort_by(|a, b| {
        let pinned = |r: &DigestRow| !r.status.state.is_problem();
        (pinned(a), a.kind, &a.name).cmp(&(pinned(b), b.kind, &b.name))
    });
    rows
}

#[cfg(test)]
mod tests;
