//! The status of one deployed service, from its current tasks, the tasks the manager
//! gave up on and the nodes they are on.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::models::{Service, Task, TaskState};
use chrono::{DateTime, Utc};

use super::view::NodeInfo;
use super::{DeployState, DeployStatus, Health, NodeMark, update_note};
use crate::process::one_line;
use crate::swarm::format::{ago, pretty, timestamp};

pub(super) fn is_current(task: &Task) -> bool {
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

pub(super) fn deployed_status(
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

    // Scaled to 0 (`service --stop`): an operator's choice, said as such. A global
    // service with no node to run on keeps "No tasks".
    let mut text = if state == DeployState::Stopped && !global {
        "Stopped".to_string()
    } else {
        states_text(&current, now)
    };
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
