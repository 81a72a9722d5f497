//! Deployment status of managed services (SPEC §8), true under node faults: replica
//! counts from the tasks on nodes that are up, the node each copy runs on, the error
//! of the current task only, and copies that may still run on a node the manager
//! lost. A whole table costs one services call, one tasks call (current tasks only)
//! and one nodes call, made at once; a second tasks call, for the nodes that are not
//! Ready, is made only when there are such nodes.
//!
//! Every state and its words live here ([`DeployState`], [`Health`]), so the
//! digest, `list -p`, their JSON and the `list` filters say the same thing.

use bollard::Docker;
use bollard::models::{
    Node, NodeSpecAvailabilityEnum, NodeState, Service, ServiceUpdateStatusStateEnum, Task,
    TaskState,
};
use bollard::query_parameters::{ListNodesOptions, ListTasksOptions};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::swarm::engine::{Raw, SwarmError};
use crate::swarm::format::{ago, one_line, pretty, timestamp};
use crate::swarm::managed::{ManagedService, ServiceType};

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
    /// Deployed with nothing to run (0 replicas, or a global service on no node).
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

    /// Rows the digest pins first: anything an operator should look at.
    pub(crate) fn is_problem(self) -> bool {
        !matches!(self, DeployState::Running | DeployState::Undeployed)
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

/// A node as the status needs it.
#[derive(Debug, Clone)]
struct NodeInfo {
    hostname: String,
    ready: bool,
    trouble: Option<String>,
}

fn node_info(node: &Node) -> NodeInfo {
    let state = node.status.as_ref().and_then(|s| s.state);
    let availability = node.spec.as_ref().and_then(|s| s.availability);
    let ready = state == Some(NodeState::READY);
    let trouble = if !ready {
        Some(state.map_or("unknown".to_string(), |s| s.to_string()))
    } else {
        match availability {
            Some(NodeSpecAvailabilityEnum::DRAIN) => Some("drain".to_string()),
            Some(NodeSpecAvailabilityEnum::PAUSE) => Some("pause".to_string()),
            _ => None,
        }
    };
    NodeInfo {
        hostname: node
            .description
            .as_ref()
            .and_then(|d| d.hostname.clone())
            .unwrap_or_else(|| node.id.clone().unwrap_or_default()),
        ready,
        trouble,
    }
}

/// The services of one stack, their current tasks and the nodes, as read at one
/// moment.
pub(crate) struct SwarmView {
    services: HashMap<String, Service>,
    /// Current tasks (desired running or ready) by service ID.
    tasks: HashMap<String, Vec<Task>>,
    /// Tasks on nodes that are not Ready that are no longer current, by service ID:
    /// the manager gave up on them, but they may still run.
    stray: HashMap<String, Vec<Task>>,
    nodes: HashMap<String, NodeInfo>,
    now: DateTime<Utc>,
}

/// Desired states of the tasks that stand for a service now: running, or ready (a
/// replacement waiting out its restart delay after a failure). The engine's filter
/// takes any task state and ORs the values, so one call fetches both.
const CURRENT: [&str; 2] = ["running", "ready"];

impl SwarmView {
    /// Reads the services whose name starts with `<prefix>_`, the current tasks and
    /// the nodes at once; then, only when a node is not Ready, the tasks the manager
    /// shut down on those nodes.
    pub(crate) async fn fetch(
        docker: &Docker,
        raw: &Raw,
        prefix: &str,
    ) -> Result<SwarmView, SwarmError> {
        Ok(SwarmView::fetch_with_networks(docker, raw, prefix, false)
            .await?
            .0)
    }

    /// Like [`SwarmView::fetch`]; with `networks`, also the names of the networks the
    /// services attach to (for the drift check), asked as soon as the services are
    /// known, while the tasks and nodes are still on their way.
    pub(crate) async fn fetch_with_networks(
        docker: &Docker,
        raw: &Raw,
        prefix: &str,
        networks: bool,
    ) -> Result<(SwarmView, HashMap<String, String>), SwarmError> {
        let services = async {
            // Without `status`: the counts come from the tasks, and the daemon's own
            // would cost it a scan of every task, history included.
            let services = raw
                .services_named(docker, &format!("{prefix}_"))
                .await
                .map_err(|e| SwarmError::api("service list", e))?;
            let names = if networks {
                crate::swarm::drift::network_names(docker, services.iter()).await
            } else {
                HashMap::new()
            };
            Ok::<_, SwarmError>((services, names))
        };
        let tasks = docker.list_tasks(Some(ListTasksOptions {
            filters: Some(HashMap::from([(
                "desired-state".to_string(),
                CURRENT.iter().map(|s| s.to_string()).collect(),
            )])),
        }));
        let nodes = docker.list_nodes(None::<ListNodesOptions>);
        let (services, tasks, nodes) = tokio::join!(services, tasks, nodes);
        let (services, network_names) = services?;
        let tasks = tasks.map_err(|e| SwarmError::api("task list", e))?;
        let nodes = nodes.map_err(|e| SwarmError::api("node list", e))?;
        let lost: Vec<String> = nodes
            .iter()
            .filter(|n| !node_info(n).ready)
            .filter_map(|n| n.id.clone())
            .collect();
        let stray = if lost.is_empty() || services.is_empty() {
            Vec::new()
        } else {
            docker
                .list_tasks(Some(ListTasksOptions {
                    filters: Some(HashMap::from([
                        ("node".to_string(), lost),
                        ("desired-state".to_string(), vec!["shutdown".to_string()]),
                    ])),
                }))
                .await
                .map_err(|e| SwarmError::api("task list", e))?
        };
        Ok((
            SwarmView::new(services, tasks, nodes, stray, Utc::now()),
            network_names,
        ))
    }

    pub(crate) fn new(
        services: Vec<Service>,
        tasks: Vec<Task>,
        nodes: Vec<Node>,
        stray: Vec<Task>,
        now: DateTime<Utc>,
    ) -> SwarmView {
        let by_service = |tasks: Vec<Task>| {
            let mut map: HashMap<String, Vec<Task>> = HashMap::new();
            for task in tasks {
                if let Some(id) = task.service_id.clone() {
                    map.entry(id).or_default().push(task);
                }
            }
            map
        };
        let services = services
            .into_iter()
            .filter_map(|s| Some((s.spec.as_ref()?.name.clone()?, s)))
            .collect();
        let nodes = nodes
            .iter()
            .filter_map(|n| Some((n.id.clone()?, node_info(n))))
            .collect();
        SwarmView {
            services,
            tasks: by_service(tasks.into_iter().filter(is_current).collect()),
            stray: by_service(stray.into_iter().filter(|t| !is_current(t)).collect()),
            nodes,
            now,
        }
    }

    /// The deployed service called `service_name`, if any.
    pub(crate) fn service(&self, service_name: &str) -> Option<&Service> {
        self.services.get(service_name)
    }

    /// The status of the swarm service `service_name`; `available` tells what an
    /// undeployed service lacks (its service file).
    pub(crate) fn status(&self, service_name: &str, available: bool) -> DeployStatus {
        let Some(service) = self.services.get(service_name) else {
            return DeployStatus::undeployed(available);
        };
        let id = service.id.clone().unwrap_or_default();
        let none = Vec::new();
        deployed_status(
            service,
            self.tasks.get(&id).unwrap_or(&none),
            self.stray.get(&id).unwrap_or(&none),
            &self.nodes,
            self.now,
        )
    }
}

fn is_current(task: &Task) -> bool {
    matches!(
        task.desired_state,
        Some(TaskState::RUNNING | TaskState::READY)
    )
}

fn state_of(task: &Task) -> TaskState {
    task.status
        .as_ref()
        .and_then(|s| s.state)
        .unwrap_or_default()
}

/// Last seen running (or starting): a copy that may still serve its PVs.
fn may_run(task: &Task) -> bool {
    matches!(state_of(task), TaskState::RUNNING | TaskState::STARTING)
}

fn has_failed(task: &Task) -> bool {
    matches!(
        state_of(task),
        TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED | TaskState::SHUTDOWN
    )
}

fn error_of(task: &Task) -> Option<String> {
    task.status
        .as_ref()
        .and_then(|s| s.err.as_deref())
        .filter(|e| !e.trim().is_empty())
        .map(one_line)
}

fn created(task: &Task) -> Option<DateTime<Utc>> {
    timestamp(task.created_at.as_deref())
}

/// The newest task of each slot (replicated) or node (global): what the service is
/// doing now, as opposed to copies on their way out.
fn newest_per_slot(tasks: &[Task]) -> Vec<&Task> {
    let mut newest: BTreeMap<(i64, String), &Task> = BTreeMap::new();
    for task in tasks {
        let key = match task.slot {
            Some(slot) if slot != 0 => (slot, String::new()),
            _ => (0, task.node_id.clone().unwrap_or_default()),
        };
        match newest.get(&key) {
            Some(other) if created(other) >= created(task) => {}
            _ => {
                newest.insert(key, task);
            }
        }
    }
    newest.into_values().collect()
}

fn has_health_check(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref())
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.health_check.as_ref())
        .and_then(|h| h.test.as_ref())
        .and_then(|test| test.first())
        .is_some_and(|first| first != "NONE")
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

fn deployed_status(
    service: &Service,
    tasks: &[Task],
    stray: &[Task],
    nodes: &HashMap<String, NodeInfo>,
    now: DateTime<Utc>,
) -> DeployStatus {
    let node_of = |task: &Task| task.node_id.as_deref().and_then(|id| nodes.get(id));
    let on_ready_node = |task: &Task| node_of(task).is_some_and(|n| n.ready);
    let lost = |task: &Task| node_of(task).is_some_and(|n| !n.ready);
    let global = service
        .spec
        .as_ref()
        .and_then(|s| s.mode.as_ref())
        .is_some_and(|m| m.global.is_some());

    let running_here: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.desired_state == Some(TaskState::RUNNING))
        .filter(|t| state_of(t) == TaskState::RUNNING && on_ready_node(t))
        .collect();
    let running = running_here.len() as u64;
    let desired = if global {
        tasks
            .iter()
            .filter(|t| on_ready_node(t))
            .filter_map(|t| t.node_id.clone())
            .collect::<BTreeSet<_>>()
            .len() as u64
    } else {
        service
            .spec
            .as_ref()
            .and_then(|s| s.mode.as_ref())
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas)
            .unwrap_or(1)
            .max(0) as u64
    };
    // Copies the manager lost sight of: current ones on a lost node, and the ones it
    // shut down there, which it cannot have stopped.
    let lost_copies: Vec<&Task> = tasks
        .iter()
        .chain(stray)
        .filter(|t| lost(t) && may_run(t))
        .collect();
    let copies = running + lost_copies.len() as u64;

    let current = newest_per_slot(tasks);
    let mut marks: BTreeSet<NodeMark> = BTreeSet::new();
    for task in current.iter().copied().chain(lost_copies.iter().copied()) {
        if let Some(node) = node_of(task) {
            marks.insert(NodeMark {
                hostname: node.hostname.clone(),
                trouble: node.trouble.clone(),
            });
        }
    }
    let error = current.iter().find_map(|t| error_of(t));
    let update = update_note(service);
    let health_check = has_health_check(service);

    let update_paused = update
        .as_ref()
        .is_some_and(|u| matches!(u.state.as_str(), "paused" | "rollback_paused"));
    let updating = update
        .as_ref()
        .is_some_and(|u| matches!(u.state.as_str(), "updating" | "rollback_started"));
    // An update creates its new tasks desired ready too; outside one, a task desired
    // ready is the replacement of a failed one, waiting out its restart delay.
    let restarting = |t: &Task| !updating && t.desired_state == Some(TaskState::READY);
    let failing = current.iter().any(|t| has_failed(t) || restarting(t));
    let pending = current.iter().any(|t| state_of(t) == TaskState::PENDING);
    let on_lost_node = current.iter().any(|t| lost(t));
    let starting = current.iter().any(|t| {
        matches!(
            state_of(t),
            TaskState::NEW
                | TaskState::ALLOCATED
                | TaskState::ASSIGNED
                | TaskState::ACCEPTED
                | TaskState::PREPARING
                | TaskState::READY
                | TaskState::STARTING
        )
    });

    // A global service has one copy per node: one on a lost node is that node's own.
    let duplicate = running > desired || (!global && copies > desired && !lost_copies.is_empty());
    let state = if update_paused {
        DeployState::UpdatePaused
    } else if duplicate {
        DeployState::Duplicate
    } else if failing {
        DeployState::Failing
    } else if pending {
        DeployState::Pending
    } else if on_lost_node && (global || running < desired) {
        DeployState::NodeDown
    } else if updating {
        DeployState::Updating
    } else if starting || (current.len() as u64) < desired {
        // Copies on their way, or not created yet (a service just deployed).
        DeployState::Starting
    } else if running < desired {
        // A copy that ended (complete) and will not be started again.
        DeployState::Failing
    } else if desired == 0 && current.is_empty() {
        DeployState::Stopped
    } else {
        DeployState::Running
    };

    let health = if !health_check {
        Health::None
    } else if current
        .iter()
        .any(|t| error_of(t).is_some_and(|e| e.contains("unhealthy")))
    {
        Health::Unhealthy
    } else if current.iter().any(|t| state_of(t) == TaskState::STARTING) {
        Health::Starting
    } else if running > 0 && running_here.len() >= current.len() {
        Health::Healthy
    } else {
        Health::None
    };
    let running_since = running_here.iter().filter_map(|t| created(t)).max();

    let mut text = states_text(&current, now);
    if let Some(word) = match health {
        Health::Healthy => Some("healthy"),
        Health::Unhealthy => Some("unhealthy"),
        Health::Starting => Some("health: starting"),
        Health::None | Health::Unknown => None,
    } {
        text.push_str(&format!(" ({word})"));
    }
    if let Some(error) = &error {
        text.push_str(&format!(": \"{error}\""));
    }
    if current
        .iter()
        .any(|t| restarting(t) && error_of(t).is_none())
    {
        text.push_str("; restarting after a failure (see service --show-info)");
    }
    if state == DeployState::Duplicate {
        let elsewhere: Vec<String> = lost_copies
            .iter()
            .filter_map(|t| node_of(t))
            .map(|n| {
                NodeMark {
                    hostname: n.hostname.clone(),
                    trouble: n.trouble.clone(),
                }
                .to_string()
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if elsewhere.is_empty() {
            text.push_str(&format!(
                "; duplicate: {copies} copies run, {desired} wanted"
            ));
        } else {
            text.push_str(&format!(
                "; possible duplicate: a copy may still run on {}",
                elsewhere.join(", ")
            ));
        }
    } else if state == DeployState::NodeDown {
        let lost_nodes: BTreeSet<String> = current
            .iter()
            .filter(|t| lost(t))
            .filter_map(|t| node_of(t))
            .map(|n| {
                NodeMark {
                    hostname: n.hostname.clone(),
                    trouble: n.trouble.clone(),
                }
                .to_string()
            })
            .collect();
        text.push_str(&format!(
            "; its node is not ready: {}",
            lost_nodes.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(update) = &update {
        let what = match update.state.as_str() {
            "updating" => "updating",
            "paused" => "update paused",
            "rollback_started" => "rolling back",
            "rollback_paused" => "rollback paused",
            "rollback_completed" => "rolled back",
            other => other,
        };
        if update.message.is_empty() {
            text.push_str(&format!("; {what}"));
        } else {
            text.push_str(&format!("; {what}: \"{}\"", update.message));
        }
    }
    DeployStatus {
        state,
        running: Some(running),
        desired: Some(desired),
        nodes: marks.into_iter().collect(),
        health,
        running_since,
        error,
        update,
        text,
    }
}

/// `Pending 2 seconds ago, Running 2 hours ago`: the state of each current task,
/// trouble first, with the time of the newest task in it. A running task counts
/// from its creation (swarm starts a new task for every restart, and the creation
/// time survives a manager restart, which refreshes every status timestamp); any
/// other state from when the task reached it.
fn states_text(current: &[&Task], now: DateTime<Utc>) -> String {
    if current.is_empty() {
        return "No tasks".to_string();
    }
    let mut states: BTreeMap<(bool, TaskState), Option<DateTime<Utc>>> = BTreeMap::new();
    for task in current {
        let state = state_of(task);
        let at = if state == TaskState::RUNNING {
            created(task)
        } else {
            timestamp(task.status.as_ref().and_then(|s| s.timestamp.as_deref()))
        };
        let latest = states
            .entry((state == TaskState::RUNNING, state))
            .or_insert(at);
        if at > *latest {
            *latest = at;
        }
    }
    states
        .iter()
        .map(|((_, state), at)| match at {
            Some(at) => format!("{} {}", pretty(&state.to_string()), ago(*at, now)),
            None => pretty(&state.to_string()),
        })
        .collect::<Vec<_>>()
        .join(", ")
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
