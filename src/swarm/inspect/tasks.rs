//! `docker service ps --no-trunc`, and the same tasks as JSON.

use std::collections::HashMap;

use bollard::models::Task;
use chrono::{DateTime, Utc};

use super::services::ports;
use crate::process::one_line;
use crate::swarm::format::{ago, pretty, timestamp};
use crate::table::Table;

/// Task names as `docker service ps` builds them: `<service>.<slot>` for replicated
/// services, `<service>.<node id>` for global ones.
fn task_name(task: &Task, services: &HashMap<String, String>) -> String {
    let service_id = task.service_id.clone().unwrap_or_default();
    let service = services.get(&service_id).cloned().unwrap_or(service_id);
    match task.slot {
        Some(slot) if slot != 0 => format!("{service}.{slot}"),
        _ => format!("{service}.{}", task.node_id.clone().unwrap_or_default()),
    }
}

/// Tasks with their names, those of a slot together, the newest first.
fn by_slot<'a>(
    tasks: &'a [Task],
    service_names: &HashMap<String, String>,
) -> Vec<(String, &'a Task)> {
    let mut named: Vec<(String, &Task)> = tasks
        .iter()
        .map(|t| (task_name(t, service_names), t))
        .collect();
    named.sort_by(|(a_name, a), (b_name, b)| {
        a_name.cmp(b_name).then_with(|| {
            timestamp(b.created_at.as_deref()).cmp(&timestamp(a.created_at.as_deref()))
        })
    });
    named
}

/// `docker service ps --no-trunc`: tasks of a slot together, the newest first and
/// the older ones indented under it.
pub(crate) fn tasks_table(
    tasks: &[Task],
    service_names: &HashMap<String, String>,
    node_names: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Table {
    let named = by_slot(tasks, service_names);
    let mut previous = String::new();
    let rows: Vec<Vec<String>> = named
        .iter()
        .map(|(name, t)| {
            let shown = if *name == previous {
                format!(" \\_ {name}")
            } else {
                name.clone()
            };
            previous = name.clone();
            let status = t.status.clone().unwrap_or_default();
            let node_id = t.node_id.clone().unwrap_or_default();
            let image = t
                .spec
                .as_ref()
                .and_then(|s| s.container_spec.as_ref())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let state = pretty(&status.state.unwrap_or_default().to_string());
            let current = match timestamp(status.timestamp.as_deref()) {
                Some(at) => format!("{state} {}", ago(at, now)),
                None => state,
            };
            let error = status
                .err
                .as_deref()
                .filter(|e| !e.is_empty())
                .map(|e| format!("\"{}\"", one_line(e)))
                .unwrap_or_default();
            let task_ports = status.port_status.and_then(|p| p.ports).unwrap_or_default();
            vec![
                t.id.clone().unwrap_or_default(),
                shown,
                image,
                node_names.get(&node_id).cloned().unwrap_or(node_id),
                pretty(&t.desired_state.unwrap_or_default().to_string()),
                current,
                error,
                ports(&task_ports),
            ]
        })
        .collect();
    Table::new(
        &[
            "ID",
            "NAME",
            "IMAGE",
            "NODE",
            "DESIRED STATE",
            "CURRENT STATE",
            "ERROR",
            "PORTS",
        ],
        rows,
    )
}

/// `service --show-info --format json`: docs/schema/service-info.schema.json.
#[derive(serde::Serialize)]
pub(crate) struct TasksJson {
    version: u32,
    tasks: Vec<TaskJson>,
}

#[derive(serde::Serialize)]
struct TaskJson {
    id: String,
    /// `<service>.<slot>` or `<service>.<node id>`, as `docker service ps` names it.
    name: String,
    service: String,
    image: String,
    node: String,
    desired_state: String,
    state: String,
    /// When the task reached its state (RFC 3339, as the engine reports it).
    state_since: Option<String>,
    created_at: Option<String>,
    error: Option<String>,
    ports: Vec<String>,
}

/// Every task of the services, newest first within a slot, with nothing left out:
/// the history `--show-info` exists for.
pub(crate) fn tasks_json(
    tasks: &[Task],
    service_names: &HashMap<String, String>,
    node_names: &HashMap<String, String>,
) -> TasksJson {
    let named = by_slot(tasks, service_names);
    let tasks = named
        .into_iter()
        .map(|(name, t)| {
            let status = t.status.clone().unwrap_or_default();
            let node_id = t.node_id.clone().unwrap_or_default();
            let service_id = t.service_id.clone().unwrap_or_default();
            TaskJson {
                id: t.id.clone().unwrap_or_default(),
                name,
                service: service_names
                    .get(&service_id)
                    .cloned()
                    .unwrap_or(service_id),
                image: t
                    .spec
                    .as_ref()
                    .and_then(|s| s.container_spec.as_ref())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default(),
                node: node_names.get(&node_id).cloned().unwrap_or(node_id),
                desired_state: t.desired_state.unwrap_or_default().to_string(),
                state: status.state.unwrap_or_default().to_string(),
                state_since: status.timestamp.clone(),
                created_at: t.created_at.clone(),
                error: status.err.filter(|e| !e.is_empty()).map(|e| one_line(&e)),
                ports: status
                    .port_status
                    .and_then(|p| p.ports)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| ports(std::slice::from_ref(p)))
                    .collect(),
            }
        })
        .collect();
    TasksJson { version: 1, tasks }
}

#[cfg(test)]
mod tests {
    use bollard::models::{TaskState, TaskStatus};

    use super::*;

    fn now() -> DateTime<Utc> {
        timestamp(Some("2024-05-01T12:00:00Z")).expect("now")
    }

    #[test]
    fn tasks_group_by_slot_newest_first() {
        let task = |id: &str, created: &str, state: TaskState, err: Option<&str>| Task {
            id: Some(id.to_string()),
            service_id: Some("sid".to_string()),
            slot: Some(1),
            node_id: Some("n1".to_string()),
            created_at: Some(created.to_string()),
            desired_state: Some(TaskState::RUNNING),
            status: Some(TaskStatus {
                state: Some(state),
                timestamp: Some(created.to_string()),
                err: err.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        };
        let out = tasks_table(
            &[
                task(
                    "old",
                    "2024-05-01T11:00:00Z",
                    TaskState::FAILED,
                    Some("boom"),
                ),
                task("new", "2024-05-01T11:59:00Z", TaskState::RUNNING, None),
            ],
            &HashMap::from([("sid".to_string(), "p_srv-a".to_string())]),
            &HashMap::from([("n1".to_string(), "vm".to_string())]),
            now(),
        )
        .render();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("new   p_srv-a.1 "), "{out}");
        assert!(lines[1].contains("Running about a minute ago"), "{out}");
        assert!(lines[2].starts_with("old    \\_ p_srv-a.1"), "{out}");
        assert!(lines[2].contains("\"boom\""), "{out}");
        assert!(lines[2].contains(" vm "), "{out}");
    }
}
