//! The status rules, fed with services, tasks and nodes shaped as the engine returns
//! them (the JSON of `GET /services`, `/tasks`, `/nodes`).

use serde_json::json;

use super::*;
use crate::swarm::format::timestamp;

const NOW: &str = "2024-05-01T12:00:00Z";

fn service(name: &str, mode: serde_json::Value) -> serde_json::Value {
    json!({
        "ID": format!("id-{name}"),
        "Spec": {
            "Name": name,
            "TaskTemplate": {"ContainerSpec": {"Image": "img:1"}},
            "Mode": mode,
        },
    })
}

fn replicated(name: &str) -> serde_json::Value {
    service(name, json!({"Replicated": {"Replicas": 1}}))
}

fn node(id: &str, state: &str, availability: &str) -> serde_json::Value {
    json!({
        "ID": id,
        "Description": {"Hostname": id.replace("id-", "")},
        "Spec": {"Availability": availability, "Role": "worker"},
        "Status": {"State": state, "Addr": "10.0.0.1"},
    })
}

struct T {
    service: String,
    slot: i64,
    node: Option<String>,
    desired: &'static str,
    state: &'static str,
    created: &'static str,
    at: &'static str,
    err: Option<&'static str>,
}

fn t(service: &str, node: Option<&str>, desired: &'static str, state: &'static str) -> T {
    T {
        service: service.to_string(),
        slot: 1,
        node: node.map(|n| format!("id-{n}")),
        desired,
        state,
        created: "2024-05-01T07:00:00Z",
        at: "2024-05-01T07:00:01Z",
        err: None,
    }
}

impl T {
    fn created(mut self, at: &'static str) -> T {
        self.created = at;
        self.at = at;
        self
    }
    fn at(mut self, at: &'static str) -> T {
        self.at = at;
        self
    }
    fn err(mut self, err: &'static str) -> T {
        self.err = Some(err);
        self
    }
    fn slot(mut self, slot: i64) -> T {
        self.slot = slot;
        self
    }
    fn json(&self) -> serde_json::Value {
        let mut status = json!({"State": self.state, "Timestamp": self.at, "Message": "x"});
        if let Some(err) = self.err {
            status["Err"] = json!(err);
        }
        let mut task = json!({
            "ID": format!("task-{}-{}-{}", self.service, self.created, self.state),
            "ServiceID": format!("id-{}", self.service),
            "Slot": self.slot,
            "CreatedAt": self.created,
            "DesiredState": self.desired,
            "Status": status,
        });
        if let Some(node) = &self.node {
            task["NodeID"] = json!(node);
        }
        task
    }
}

fn parse<T: serde::de::DeserializeOwned>(values: Vec<serde_json::Value>) -> Vec<T> {
    values
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("engine JSON"))
        .collect()
}

/// The view as the fetch builds it: `tasks` is what the desired-state filter
/// returns, `stray` the shut-down tasks of the nodes that are not Ready.
fn view(
    services: Vec<serde_json::Value>,
    tasks: Vec<T>,
    nodes: Vec<serde_json::Value>,
    stray: Vec<T>,
) -> SwarmView {
    SwarmView::new(
        parse(services),
        parse(tasks.iter().map(T::json).collect()),
        parse(nodes),
        parse(stray.iter().map(T::json).collect()),
        timestamp(Some(NOW)).expect("now"),
    )
}

fn two_workers() -> Vec<serde_json::Value> {
    vec![
        node("id-node1", "ready", "active"),
        node("id-node2", "ready", "active"),
    ]
}

#[test]
fn a_running_copy_counts_from_its_creation() {
    // A manager restart refreshes every status timestamp; the creation time stays.
    let v = view(
        vec![replicated("p_srv-a")],
        vec![t("p_srv-a", Some("node1"), "running", "running").at("2024-05-01T11:59:57Z")],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.state, DeployState::Running);
    assert_eq!(status.replicas(), "1/1");
    assert_eq!(status.text, "Running 5 hours ago");
    assert_eq!(status.node_text(), "node1");
    assert_eq!(
        status.running_since,
        timestamp(Some("2024-05-01T07:00:00Z"))
    );
    assert_eq!(status.health, Health::None);
}

#[test]
fn undeployed_says_whether_it_could_be_deployed() {
    let v = view(vec![], vec![], two_workers(), vec![]);
    assert_eq!(v.status("p_srv-x", true).text, "Undeployed (Available)");
    assert_eq!(v.status("p_srv-x", false).text, "Undeployed (Unavailable)");
    assert_eq!(v.status("p_srv-x", false).replicas(), "-/-");
    assert_eq!(v.status("p_srv-x", false).state, DeployState::Undeployed);
}

#[test]
fn pending_is_never_one_of_one_and_says_why() {
    let v = view(
        vec![replicated("p_srv-p")],
        vec![
            t("p_srv-p", None, "running", "pending")
                .created("2024-05-01T11:59:55Z")
                .err("no suitable node (scheduling constraints not satisfied on 3 nodes)"),
        ],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-p", true);
    assert_eq!(status.state, DeployState::Pending);
    assert_eq!(status.replicas(), "0/1");
    assert_eq!(
        status.text,
        "Pending 5 seconds ago: \"no suitable node (scheduling constraints not satisfied on 3 nodes)\""
    );
    assert_eq!(status.node_text(), "");
}

#[test]
fn a_copy_on_a_node_that_went_down_is_marked_and_not_counted() {
    let v = view(
        vec![replicated("p_srv-a")],
        vec![t("p_srv-a", Some("node2"), "running", "running")],
        vec![
            node("id-node1", "ready", "active"),
            node("id-node2", "down", "active"),
        ],
        vec![],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.state, DeployState::NodeDown);
    assert_eq!(status.replicas(), "0/1");
    assert_eq!(status.node_text(), "node2 (down)");
    assert!(
        status
            .text
            .ends_with("; its node is not ready: node2 (down)"),
        "{}",
        status.text
    );
}

#[test]
fn a_moved_copy_counts_once_and_warns_of_the_one_left_behind() {
    // Swarm marks the copy on the lost node desired shutdown but cannot stop it: a
    // crash and a partition look the same from the manager.
    let v = view(
        vec![replicated("p_srv-a")],
        vec![t("p_srv-a", Some("node1"), "running", "running").created("2024-05-01T11:59:00Z")],
        vec![
            node("id-node1", "ready", "active"),
            node("id-node2", "down", "active"),
        ],
        vec![t("p_srv-a", Some("node2"), "shutdown", "running")],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.state, DeployState::Duplicate);
    assert_eq!(status.replicas(), "1/1");
    assert_eq!(status.node_text(), "node1, node2 (down)");
    assert_eq!(
        status.text,
        "Running about a minute ago; possible duplicate: a copy may still run on node2 (down)"
    );
}

#[test]
fn a_stopped_copy_on_a_lost_node_is_no_duplicate() {
    let v = view(
        vec![replicated("p_srv-a")],
        vec![t("p_srv-a", Some("node1"), "running", "running")],
        vec![
            node("id-node1", "ready", "active"),
            node("id-node2", "unknown", "active"),
        ],
        vec![t("p_srv-a", Some("node2"), "shutdown", "shutdown")],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.state, DeployState::Running);
    assert_eq!(status.node_text(), "node1");
}

#[test]
fn two_live_copies_on_ready_nodes_are_a_duplicate() {
    let v = view(
        vec![replicated("p_srv-a")],
        vec![
            t("p_srv-a", Some("node1"), "running", "running"),
            t("p_srv-a", Some("node2"), "running", "running").slot(2),
        ],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.state, DeployState::Duplicate);
    assert_eq!(status.replicas(), "2/1");
    assert!(
        status.text.ends_with("; duplicate: 2 copies run, 1 wanted"),
        "{}",
        status.text
    );
}

#[test]
fn only_the_current_tasks_error_is_shown() {
    // The filter returns current tasks only; an old failure handed in anyway (as
    // with an unfiltered list) must not leak into the status.
    let v = view(
        vec![replicated("p_srv-a")],
        vec![
            t("p_srv-a", Some("node1"), "running", "running").created("2024-05-01T11:00:00Z"),
            t("p_srv-a", Some("node1"), "shutdown", "failed")
                .created("2024-05-01T11:58:00Z")
                .err("task: non-zero exit (1)"),
        ],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.text, "Running about an hour ago");
    assert_eq!(status.error, None);
}

#[test]
fn a_replacement_waiting_out_its_restart_delay_is_failing() {
    let v = view(
        vec![replicated("p_srv-a")],
        vec![
            t("p_srv-a", Some("node1"), "ready", "ready")
                .created("2024-05-01T11:59:58Z")
                .at("2024-05-01T11:59:59Z"),
        ],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.state, DeployState::Failing);
    assert_eq!(status.replicas(), "0/1");
    assert_eq!(
        status.text,
        "Ready 1 second ago; restarting after a failure (see service --show-info)"
    );
}

#[test]
fn a_rejected_current_task_shows_its_error() {
    let v = view(
        vec![replicated("p_srv-bad")],
        vec![
            t("p_srv-bad", Some("node1"), "ready", "rejected")
                .created("2024-05-01T11:59:57Z")
                .err("No such image: x:1"),
        ],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-bad", true);
    assert_eq!(status.state, DeployState::Failing);
    assert_eq!(
        status.text,
        "Rejected 3 seconds ago: \"No such image: x:1\""
    );
    assert_eq!(status.replicas(), "0/1");
}

#[test]
fn a_rolled_back_update_is_told_with_its_message() {
    let mut s = replicated("p_srv-a");
    s["UpdateStatus"] = json!({
        "State": "rollback_completed",
        "StartedAt": "2024-05-01T11:58:00Z",
        "CompletedAt": "2024-05-01T11:59:00Z",
        "Message": "rollback completed",
    });
    let v = view(
        vec![s],
        vec![t("p_srv-a", Some("node1"), "running", "running")],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.state, DeployState::Running);
    assert!(status.update.as_ref().is_some_and(UpdateNote::rolled_back));
    assert_eq!(
        status.text,
        "Running 5 hours ago; rolled back: \"rollback completed\""
    );
}

#[test]
fn an_update_in_progress_is_not_a_failure() {
    let mut s = replicated("p_srv-a");
    s["UpdateStatus"] = json!({"State": "updating", "Message": "update in progress"});
    let v = view(
        vec![s],
        vec![t("p_srv-a", Some("node1"), "ready", "preparing").created("2024-05-01T11:59:58Z")],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.state, DeployState::Updating);
    assert_eq!(
        status.text,
        "Preparing 2 seconds ago; updating: \"update in progress\""
    );

    let mut s = replicated("p_srv-b");
    s["UpdateStatus"] = json!({"State": "paused", "Message": "update paused due to failure"});
    let v = view(
        vec![s],
        vec![t("p_srv-b", Some("node1"), "running", "running")],
        two_workers(),
        vec![],
    );
    assert_eq!(v.status("p_srv-b", true).state, DeployState::UpdatePaused);
}

#[test]
fn health_follows_the_task_state_when_the_service_has_a_check() {
    let mut s = replicated("p_srv-h");
    s["Spec"]["TaskTemplate"]["ContainerSpec"]["HealthCheck"] = json!({"Test": ["CMD", "true"]});
    let starting = view(
        vec![s.clone()],
        vec![t("p_srv-h", Some("node1"), "running", "starting").created("2024-05-01T11:59:50Z")],
        two_workers(),
        vec![],
    );
    let status = starting.status("p_srv-h", true);
    assert_eq!(
        (status.state, status.health),
        (DeployState::Starting, Health::Starting)
    );
    assert_eq!(status.text, "Starting 10 seconds ago (health: starting)");

    let healthy = view(
        vec![s.clone()],
        vec![t("p_srv-h", Some("node1"), "running", "running")],
        two_workers(),
        vec![],
    );
    let status = healthy.status("p_srv-h", true);
    assert_eq!(status.health, Health::Healthy);
    assert_eq!(status.text, "Running 5 hours ago (healthy)");

    let unhealthy = view(
        vec![s],
        vec![
            t("p_srv-h", Some("node1"), "running", "failed")
                .err("task: non-zero exit (137): dockerexec: unhealthy container"),
        ],
        two_workers(),
        vec![],
    );
    let status = unhealthy.status("p_srv-h", true);
    assert_eq!(
        (status.state, status.health),
        (DeployState::Failing, Health::Unhealthy)
    );
}

#[test]
fn a_global_service_wants_one_copy_per_ready_node() {
    let g = service("p_srv-g", json!({"Global": {}}));
    let v = view(
        vec![g],
        vec![
            t("p_srv-g", Some("node1"), "running", "running").slot(0),
            t("p_srv-g", Some("node2"), "running", "running").slot(0),
            t("p_srv-g", Some("node3"), "running", "running").slot(0),
        ],
        vec![
            node("id-node1", "ready", "active"),
            node("id-node2", "ready", "drain"),
            node("id-node3", "down", "active"),
        ],
        vec![],
    );
    let status = v.status("p_srv-g", true);
    assert_eq!(status.replicas(), "2/2");
    assert_eq!(status.state, DeployState::NodeDown);
    assert_eq!(status.node_text(), "node1, node2 (drain), node3 (down)");
}

#[test]
fn a_copy_that_ended_and_stays_ended_is_failing() {
    let v = view(
        vec![replicated("p_srv-a")],
        vec![t("p_srv-a", Some("node1"), "running", "complete").created("2024-05-01T11:00:00Z")],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-a", true);
    assert_eq!(status.state, DeployState::Failing);
    assert_eq!(status.text, "Complete about an hour ago");

    // A service just created, its task not made yet, is starting.
    let v = view(vec![replicated("p_srv-b")], vec![], two_workers(), vec![]);
    let status = v.status("p_srv-b", true);
    assert_eq!(
        (status.state, status.replicas()),
        (DeployState::Starting, "0/1".to_string())
    );
}

#[test]
fn nothing_to_run_is_stopped() {
    let v = view(
        vec![service("p_srv-z", json!({"Replicated": {"Replicas": 0}}))],
        vec![],
        two_workers(),
        vec![],
    );
    let status = v.status("p_srv-z", true);
    assert_eq!(
        (status.state, status.replicas()),
        (DeployState::Stopped, "0/0".to_string())
    );
    assert_eq!(status.text, "Stopped");
    assert_eq!(status.health, Health::None);
    assert!(!status.state.is_problem(), "stopped on purpose");
}

#[test]
fn words_parse_back() {
    for state in DeployState::ALL {
        assert_eq!(DeployState::parse(state.word()), Some(state));
    }
    for health in Health::ALL {
        assert_eq!(Health::parse(health.word()), Some(health));
    }
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
            replicated("p_srv-ioc1"),
            replicated("p_srv-ioc2"),
            replicated("p_srv-client"),
        ],
        vec![
            t("p_srv-ioc1", Some("node1"), "running", "running"),
            t("p_srv-ioc2", None, "running", "pending"),
            t("p_srv-client", Some("node1"), "running", "running"),
        ],
        two_workers(),
        vec![],
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
