//! Deployment status of managed services (SPEC §8): replicas and the state of their
//! tasks, read with one services call and one tasks call for a whole table, so a
//! digest of hundreds of IOCs costs two requests, not two per IOC.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{Service, Task, TaskState};
use bollard::query_parameters::{ListServicesOptions, ListTasksOptions};
use chrono::{DateTime, Utc};

use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::format::{ago, one_line, pretty, timestamp};
use crate::swarm::managed::{ManagedService, ServiceType};

/// How a status reads at a glance; the digest pins `Problem` rows first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// Every task that should run is running.
    Running,
    Undeployed,
    /// Anything else: pending, starting, failing, rejected, fewer tasks than desired.
    Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeployStatus {
    /// `running/desired`, `-/-` when not deployed.
    pub(crate) replicas: String,
    /// `Running 5 hours ago`, `Undeployed (Available)`, `Rejected 3 seconds ago: "..."`.
    pub(crate) text: String,
    pub(crate) health: Health,
}

/// The services of one stack and every task, as read at one moment.
pub(crate) struct SwarmView {
    services: HashMap<String, Service>,
    tasks: HashMap<String, Vec<Task>>,
    now: DateTime<Utc>,
}

impl SwarmView {
    /// Reads the services whose name starts with `<prefix>_` (with the replica counts
    /// the daemon computes, as `docker service ls` shows them) and all tasks.
    pub(crate) async fn fetch(docker: &Docker, prefix: &str) -> Result<SwarmView, SwarmError> {
        let filters = HashMap::from([("name".to_string(), vec![format!("{prefix}_")])]);
        let services = docker
            .list_services(Some(ListServicesOptions {
                filters: Some(filters),
                status: Some(true),
            }))
            .await
            .map_err(|e| SwarmError::api("service list", e))?;
        let tasks = if services.is_empty() {
            Vec::new()
        } else {
            docker
                .list_tasks(None::<ListTasksOptions>)
                .await
                .map_err(|e| SwarmError::api("task list", e))?
        };
        Ok(SwarmView::new(services, tasks, Utc::now()))
    }

    pub(crate) fn new(services: Vec<Service>, tasks: Vec<Task>, now: DateTime<Utc>) -> SwarmView {
        let mut by_service: HashMap<String, Vec<Task>> = HashMap::new();
        for task in tasks {
            if let Some(id) = task.service_id.clone() {
                by_service.entry(id).or_default().push(task);
            }
        }
        let services = services
            .into_iter()
            .filter_map(|s| Some((s.spec.as_ref()?.name.clone()?, s)))
            .collect();
        SwarmView {
            services,
            tasks: by_service,
            now,
        }
    }

    /// The status of the swarm service `service_name`; `available` tells what an
    /// undeployed service lacks (its service file).
    pub(crate) fn status(&self, service_name: &str, available: bool) -> DeployStatus {
        let Some(service) = self.services.get(service_name) else {
            return DeployStatus {
                replicas: "-/-".to_string(),
                text: format!(
                    "Undeployed ({})",
                    if available {
                        "Available"
                    } else {
                        "Unavailable"
                    }
                ),
                health: Health::Undeployed,
            };
        };
        let tasks = service
            .id
            .as_ref()
            .and_then(|id| self.tasks.get(id))
            .map(Vec::as_slice)
            .unwrap_or_default();
        deployed_status(service, tasks, self.now)
    }
}

/// Connects with a short limit and reads the view, for `list -p`, which must print its
/// table even when the daemon hangs.
pub(crate) fn fetch_quickly(prefix: &str, limit: Duration) -> Result<SwarmView, SwarmError> {
    let engine = Engine::connect_for_view(limit)?;
    engine
        .run(SwarmView::fetch(engine.docker(), prefix))?
        .map_err(|e| engine.explain(e))
}

/// Tasks that stand for the service now: desired running, or ready (a replacement
/// waiting out its restart delay after a failure, which is exactly when the
/// operator needs to see the failure).
fn is_current(task: &Task) -> bool {
    matches!(
        task.desired_state,
        Some(TaskState::RUNNING | TaskState::READY)
    )
}

fn deployed_status(service: &Service, tasks: &[Task], now: DateTime<Utc>) -> DeployStatus {
    let (running, desired) = replica_counts(service, tasks);
    // Latest time per current state; Running goes last so trouble reads first.
    let mut states: BTreeMap<(bool, TaskState), Option<DateTime<Utc>>> = BTreeMap::new();
    for task in tasks.iter().filter(|t| is_current(t)) {
        let status = task.status.clone().unwrap_or_default();
        let state = status.state.unwrap_or_default();
        let at = timestamp(status.timestamp.as_deref());
        let latest = states
            .entry((state == TaskState::RUNNING, state))
            .or_insert(at);
        if at > *latest {
            *latest = at;
        }
    }
    let all_running = !states.is_empty() && states.keys().all(|(is_running, _)| *is_running);
    let health = if all_running && running >= desired {
        Health::Running
    } else {
        Health::Problem
    };
    let mut text = if states.is_empty() {
        "No tasks".to_string()
    } else {
        states
            .iter()
            .map(|((_, state), at)| match at {
                Some(at) => format!("{} {}", pretty(&state.to_string()), ago(*at, now)),
                None => pretty(&state.to_string()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if health == Health::Problem
        && let Some(error) = latest_error(tasks)
    {
        text.push_str(&format!(": \"{error}\""));
    }
    DeployStatus {
        replicas: format!("{running}/{desired}"),
        text,
        health,
    }
}

/// Running and desired tasks: the daemon's own counts (API ≥ 1.41, what `docker
/// service ls` prints); otherwise counted from the tasks the way the docker CLI does
/// for older daemons.
fn replica_counts(service: &Service, tasks: &[Task]) -> (u64, u64) {
    if let Some(status) = &service.service_status
        && let (Some(running), Some(desired)) = (status.running_tasks, status.desired_tasks)
    {
        return (running, desired);
    }
    let running = tasks
        .iter()
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
        .count() as u64;
    let replicas = service
        .spec
        .as_ref()
        .and_then(|s| s.mode.as_ref())
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas);
    let desired = match replicas {
        Some(n) => n.max(0) as u64,
        None => tasks
            .iter()
            .filter(|t| t.desired_state.is_some_and(|d| d != TaskState::SHUTDOWN))
            .count() as u64,
    };
    (running, desired)
}

/// The most recent task error of the service (old tasks included: a rejected task
/// is replaced at once and the replacement has no error yet).
fn latest_error(tasks: &[Task]) -> Option<String> {
    tasks
        .iter()
        .filter_map(|t| {
            let status = t.status.as_ref()?;
            let error = status.err.as_deref().filter(|e| !e.trim().is_empty())?;
            Some((timestamp(status.timestamp.as_deref()), one_line(error)))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, error)| error)
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
        let pinned = |r: &DigestRow| r.status.health != Health::Problem;
        (pinned(a), a.kind, &a.name).cmp(&(pinned(b), b.kind, &b.name))
    });
    rows
}

#[cfg(test)]
mod tests {
    use bollard::models::{ServiceServiceStatus, ServiceSpec, TaskStatus};

    use super::*;

    const NOW: &str = "2024-05-01T12:00:00Z";

    fn service(name: &str, running: u64, desired: u64) -> Service {
        Service {
            id: Some(format!("id-{name}")),
            spec: Some(ServiceSpec {
                name: Some(name.to_string()),
                ..Default::default()
            }),
            service_status: Some(ServiceServiceStatus {
                running_tasks: Some(running),
                desired_tasks: Some(desired),
                completed_tasks: Some(0),
            }),
            ..Default::default()
        }
    }

    fn task(
        service: &str,
        desired: TaskState,
        state: TaskState,
        at: &str,
        err: Option<&str>,
    ) -> Task {
        Task {
            service_id: Some(format!("id-{service}")),
            desired_state: Some(desired),
            status: Some(TaskStatus {
                state: Some(state),
                timestamp: Some(at.to_string()),
                err: err.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn view(services: Vec<Service>, tasks: Vec<Task>) -> SwarmView {
        SwarmView::new(services, tasks, timestamp(Some(NOW)).expect("now"))
    }

    #[test]
    fn running_service() {
        let v = view(
            vec![service("p_srv-a", 1, 1)],
            vec![
                task(
                    "p_srv-a",
                    TaskState::RUNNING,
                    TaskState::RUNNING,
                    "2024-05-01T07:00:00Z",
                    None,
                ),
                task(
                    "p_srv-a",
                    TaskState::SHUTDOWN,
                    TaskState::FAILED,
                    "2024-05-01T06:00:00Z",
                    Some("old"),
                ),
            ],
        );
        let status = v.status("p_srv-a", true);
        assert_eq!(status.replicas, "1/1");
        assert_eq!(status.text, "Running 5 hours ago");
        assert_eq!(status.health, Health::Running);
    }

    #[test]
    fn undeployed_says_whether_it_could_be_deployed() {
        let v = view(vec![], vec![]);
        assert_eq!(v.status("p_srv-x", true).text, "Undeployed (Available)");
        assert_eq!(v.status("p_srv-x", false).text, "Undeployed (Unavailable)");
        assert_eq!(v.status("p_srv-x", false).replicas, "-/-");
        assert_eq!(v.status("p_srv-x", false).health, Health::Undeployed);
    }

    #[test]
    fn a_rejected_task_shows_its_error() {
        let v = view(
            vec![service("p_srv-bad", 0, 1)],
            vec![
                task(
                    "p_srv-bad",
                    TaskState::READY,
                    TaskState::REJECTED,
                    "2024-05-01T11:59:57Z",
                    Some("No such image: x:1"),
                ),
                task(
                    "p_srv-bad",
                    TaskState::SHUTDOWN,
                    TaskState::REJECTED,
                    "2024-05-01T11:59:50Z",
                    Some("older"),
                ),
            ],
        );
        let status = v.status("p_srv-bad", true);
        assert_eq!(
            status.text,
            "Rejected 3 seconds ago: \"No such image: x:1\""
        );
        assert_eq!(status.replicas, "0/1");
        assert_eq!(status.health, Health::Problem);
    }

    #[test]
    fn several_states_are_listed_trouble_first() {
        let v = view(
            vec![service("p_srv-g", 1, 2)],
            vec![
                task(
                    "p_srv-g",
                    TaskState::RUNNING,
                    TaskState::RUNNING,
                    "2024-05-01T10:00:00Z",
                    None,
                ),
                task(
                    "p_srv-g",
                    TaskState::RUNNING,
                    TaskState::PENDING,
                    "2024-05-01T11:59:58Z",
                    Some("no suitable node"),
                ),
            ],
        );
        let status = v.status("p_srv-g", true);
        assert_eq!(
            status.text,
            "Pending 2 seconds ago, Running 2 hours ago: \"no suitable node\""
        );
        assert_eq!(status.health, Health::Problem);
    }

    #[test]
    fn fewer_running_than_desired_is_a_problem() {
        let v = view(
            vec![service("p_srv-g", 1, 2)],
            vec![task(
                "p_srv-g",
                TaskState::RUNNING,
                TaskState::RUNNING,
                "2024-05-01T11:00:00Z",
                None,
            )],
        );
        let status = v.status("p_srv-g", true);
        assert_eq!(status.text, "Running about an hour ago");
        assert_eq!(status.health, Health::Problem);
    }

    #[test]
    fn counts_without_daemon_status_follow_the_docker_cli() {
        let mut s = service("p_srv-a", 0, 0);
        s.service_status = None;
        let tasks = vec![
            task("p_srv-a", TaskState::RUNNING, TaskState::RUNNING, NOW, None),
            task(
                "p_srv-a",
                TaskState::RUNNING,
                TaskState::STARTING,
                NOW,
                None,
            ),
            task("p_srv-a", TaskState::SHUTDOWN, TaskState::FAILED, NOW, None),
        ];
        assert_eq!(replica_counts(&s, &tasks), (1, 2));
    }

    #[test]
    fn digest_pins_problems_then_orders_by_type_and_name() {
        let managed = |name: &str, kind| ManagedService {
            name: name.to_string(),
            kind,
            key: format!("srv-{name}"),
            service_name: format!("p_srv-{name}"),
            file: std::path::PathBuf::from("/nonexistent"),
        };
        let v = view(
            vec![
                service("p_srv-ioc1", 1, 1),
                service("p_srv-ioc2", 0, 1),
                service("p_srv-client", 1, 1),
            ],
            vec![
                task(
                    "p_srv-ioc1",
                    TaskState::RUNNING,
                    TaskState::RUNNING,
                    NOW,
                    None,
                ),
                task(
                    "p_srv-ioc2",
                    TaskState::RUNNING,
                    TaskState::PENDING,
                    NOW,
                    None,
                ),
                task(
                    "p_srv-client",
                    TaskState::RUNNING,
                    TaskState::RUNNING,
                    NOW,
                    None,
                ),
            ],
        );
        let rows = digest(
            &v,
            &[
                managed("ioc1", ServiceType::Ioc),
                managed("ioc2", ServiceType::Ioc),
                managed("b", ServiceType::Ioc),
                managed("client", ServiceType::Global),
                managed("registry", ServiceType::Local),
            ],
        );
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ioc2", "registry", "client", "b", "ioc1"]);
    }
}
