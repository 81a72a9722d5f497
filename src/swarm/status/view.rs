//! The services of a stack, their current tasks and the nodes, read at one moment.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{Node, NodeSpecAvailabilityEnum, NodeState, Service, Task};
use bollard::query_parameters::{ListNodesOptions, ListTasksOptions};
use chrono::{DateTime, Utc};

use super::DeployStatus;
use super::deployed::{deployed_status, is_current};
use crate::swarm::engine::{Raw, SwarmError};

/// A node as the status needs it.
#[derive(Debug, Clone)]
pub(super) struct NodeInfo {
    pub(super) hostname: String,
    pub(super) ready: bool,
    pub(super) trouble: Option<String>,
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

    /// The current tasks of the swarm service `service_name` (none when not deployed).
    pub(crate) fn current_tasks(&self, service_name: &str) -> &[Task] {
        self.services
            .get(service_name)
            .and_then(|s| s.id.as_ref())
            .and_then(|id| self.tasks.get(id))
            .map_or(&[], Vec::as_slice)
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
