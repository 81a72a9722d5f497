//! Waiting for a change of services to converge: every copy of the new spec running
//! (and healthy, where the service has a health check), or the engine giving up on it
//! (the update paused or rolled back). The swarm is read as `list -p` reads it, so
//! "converged" means what the panel would show as `Running`.

use std::time::{Duration, Instant};

use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::status::{DeployState, DeployStatus, Health, SwarmView};

/// How long a change may take before the command stops waiting. Generous: an IOC's
/// update_config waits 10 s between copies and a health check may take a while to
/// pass; an operator who does not want to wait gives `--detach`.
pub(crate) const LIMIT: Duration = Duration::from_secs(600);

/// How often the swarm is read while waiting.
const POLL: Duration = Duration::from_secs(1);

/// A service to wait for, and what marks its new copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Watch {
    pub(crate) service_name: String,
    /// For a restart: the ForceUpdate counter the new copies carry, so a copy of the
    /// old spec still running does not count.
    pub(crate) force_update: Option<u64>,
    /// For an operator's rollback to the engine's previous spec: the engine marks it
    /// `rollback_started` when it takes it and `rollback_completed` when it is done, so
    /// only that mark counts (a copy of the old spec may run until then), and it is
    /// success, not the engine giving up.
    pub(crate) rollback: bool,
}

/// How a change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every copy runs (healthy, with a health check), or none should run.
    Converged {
        status: DeployStatus,
        after: Duration,
    },
    /// The engine rolled the change back, or paused it, as the service's
    /// update_config says for a failure; `message` is the engine's.
    GaveUp { state: String, message: String },
    /// The limit passed first; the status as last seen.
    TimedOut { status: DeployStatus },
    /// The service is gone.
    Removed,
}

/// Where one service stands at one reading.
fn judge(view: &SwarmView, watch: &Watch, since: Instant) -> Option<Outcome> {
    if view.service(&watch.service_name).is_none() {
        return Some(Outcome::Removed);
    }
    let mut status = view.status(&watch.service_name, true);
    let rolled_back = status
        .update
        .as_ref()
        .is_some_and(|u| u.state == "rollback_completed");
    if watch.rollback && rolled_back {
        status.update = None;
    }
    if let Some(update) = &status.update
        && matches!(
            update.state.as_str(),
            "paused" | "rollback_paused" | "rollback_completed"
        )
    {
        return Some(Outcome::GaveUp {
            state: update.state.clone(),
            message: update.message.clone(),
        });
    }
    let new_copies = match watch.force_update {
        Some(wanted) => view
            .current_tasks(&watch.service_name)
            .iter()
            .all(|t| t.spec.as_ref().and_then(|s| s.force_update) == Some(wanted)),
        None => true,
    };
    let settled = match status.state {
        DeployState::Running => {
            status.update.is_none() && matches!(status.health, Health::Healthy | Health::None)
        }
        DeployState::Stopped => true,
        _ => false,
    };
    let marked = !watch.rollback || rolled_back;
    (settled && new_copies && marked).then(|| Outcome::Converged {
        status,
        after: since.elapsed(),
    })
}

/// Reads the swarm every second until each of `watches` converged or failed, or
/// `limit` passed; `done` hears of each service as soon as its outcome is known.
/// Each reading has the command's request deadline; a reading that fails ends the
/// wait with its error.
pub(crate) fn wait(
    engine: &Engine,
    prefix: &str,
    watches: &[Watch],
    limit: Duration,
    done: &mut dyn FnMut(&Watch, &Outcome),
) -> Result<Vec<(Watch, Outcome)>, SwarmError> {
    let since = Instant::now();
    let mut pending: Vec<Watch> = watches.to_vec();
    let mut outcomes = Vec::with_capacity(watches.len());
    while !pending.is_empty() {
        engine.renew();
        let view = engine.run(SwarmView::fetch(engine.docker(), engine.raw(), prefix))??;
        let timed_out = since.elapsed() >= limit;
        pending.retain(|watch| {
            let outcome = judge(&view, watch, since).or_else(|| {
                timed_out.then(|| Outcome::TimedOut {
                    status: view.status(&watch.service_name, true),
                })
            });
            match outcome {
                Some(outcome) => {
                    done(watch, &outcome);
                    outcomes.push((watch.clone(), outcome));
                    false
                }
                None => true,
            }
        });
        if !pending.is_empty() {
            std::thread::sleep(POLL);
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const NOW: &str = "2024-05-01T12:00:00Z";

    fn service(replicas: u64, update: Option<&str>) -> Value {
        let mut service = json!({
            "ID": "id-a",
            "Spec": {
                "Name": "p_srv-a",
                "TaskTemplate": {"ContainerSpec": {"Image": "img:1"}, "ForceUpdate": 3},
                "Mode": {"Replicated": {"Replicas": replicas}},
            },
        });
        if let Some(state) = update {
            service["UpdateStatus"] = json!({"State": state, "Message": "update rolled back"});
        }
        service
    }

    fn task(state: &str, force_update: u64) -> Value {
        json!({
            "ID": format!("task-{state}-{force_update}"),
            "ServiceID": "id-a",
            "NodeID": "id-node1",
            "Slot": 1,
            "CreatedAt": "2024-05-01T11:59:00Z",
            "DesiredState": "running",
            "Spec": {"ContainerSpec": {"Image": "img:1"}, "ForceUpdate": force_update},
            "Status": {"State": state, "Timestamp": "2024-05-01T11:59:01Z"},
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).expect("engine JSON")
    }

    fn view(service: Value, tasks: Vec<Value>) -> SwarmView {
        let node = json!({
            "ID": "id-node1",
            "Description": {"Hostname": "node1"},
            "Spec": {"Availability": "active", "Role": "worker"},
            "Status": {"State": "ready", "Addr": "10.0.0.1"},
        });
        SwarmView::new(
            vec![parse(service)],
            tasks.into_iter().map(parse).collect(),
            vec![parse(node)],
            vec![],
            crate::swarm::format::timestamp(Some(NOW)).expect("now"),
        )
    }

    fn watch(force_update: Option<u64>) -> Watch {
        Watch {
            service_name: "p_srv-a".to_string(),
            force_update,
            rollback: false,
        }
    }

    fn word(outcome: Option<Outcome>) -> &'static str {
        match outcome {
            None => "waiting",
            Some(Outcome::Converged { .. }) => "converged",
            Some(Outcome::GaveUp { .. }) => "gave up",
            Some(Outcome::TimedOut { .. }) => "timed out",
            Some(Outcome::Removed) => "removed",
        }
    }

    #[test]
    fn a_restart_converges_only_on_copies_of_the_new_spec() {
        let since = Instant::now();
        let restarted = watch(Some(3));
        // The old copy still runs: the engine has not replaced it yet.
        let old = view(service(1, None), vec![task("running", 2)]);
        assert_eq!(word(judge(&old, &restarted, since)), "waiting");
        let starting = view(service(1, Some("updating")), vec![task("starting", 3)]);
        assert_eq!(word(judge(&starting, &restarted, since)), "waiting");
        let updating = view(service(1, Some("updating")), vec![task("running", 3)]);
        assert_eq!(word(judge(&updating, &restarted, since)), "waiting");
        let done = view(service(1, Some("completed")), vec![task("running", 3)]);
        assert_eq!(word(judge(&done, &restarted, since)), "converged");
    }

    #[test]
    fn a_rollback_or_pause_is_giving_up_and_a_failing_copy_is_waited_for() {
        let since = Instant::now();
        let started = watch(None);
        for state in ["rollback_completed", "paused", "rollback_paused"] {
            let v = view(service(1, Some(state)), vec![task("running", 3)]);
            assert_eq!(word(judge(&v, &started, since)), "gave up", "{state}");
        }
        let v = view(
            service(1, Some("rollback_started")),
            vec![task("running", 3)],
        );
        assert_eq!(word(judge(&v, &started, since)), "waiting");
        // A copy that fails may still come up (restart policy): the limit decides.
        let v = view(service(1, None), vec![task("failed", 3)]);
        assert_eq!(word(judge(&v, &started, since)), "waiting");
        let v = view(service(1, None), vec![]);
        assert_eq!(word(judge(&v, &started, since)), "waiting");
    }

    #[test]
    fn an_operators_rollback_converges_once_the_engine_marks_it_done() {
        let since = Instant::now();
        let rollback = Watch {
            rollback: true,
            ..watch(None)
        };
        let v = view(service(1, None), vec![task("running", 3)]);
        assert_eq!(word(judge(&v, &rollback, since)), "waiting");
        let v = view(
            service(1, Some("rollback_started")),
            vec![task("running", 3)],
        );
        assert_eq!(word(judge(&v, &rollback, since)), "waiting");
        let v = view(
            service(1, Some("rollback_completed")),
            vec![task("running", 3)],
        );
        assert_eq!(word(judge(&v, &rollback, since)), "converged");
        let v = view(
            service(1, Some("rollback_paused")),
            vec![task("running", 3)],
        );
        assert_eq!(word(judge(&v, &rollback, since)), "gave up");
    }

    #[test]
    fn a_start_converges_when_every_replica_runs_and_a_stop_at_once() {
        let since = Instant::now();
        let v = view(service(1, None), vec![task("running", 3)]);
        assert_eq!(word(judge(&v, &watch(None), since)), "converged");
        let v = view(service(0, None), vec![]);
        assert_eq!(word(judge(&v, &watch(None), since)), "converged");
        let gone = SwarmView::new(
            vec![],
            vec![],
            vec![],
            vec![],
            crate::swarm::format::timestamp(Some(NOW)).expect("now"),
        );
        assert_eq!(word(judge(&gone, &watch(None), since)), "removed");
    }
}
