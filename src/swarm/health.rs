//! What the engine says about the health of a service's containers: whether the
//! service runs a container health check, and what the state of one of its tasks
//! means when it does.
//!
//! A swarm task of a service with a health check stays `starting` until a check
//! passes, becomes `running` then, and is stopped by the engine when `retries`
//! checks in a row fail; the task then ends with an error such as
//! `task: non-zero exit (137): dockerexec: unhealthy container` and the restart
//! policy starts a new task. Tasks carry no health field of their own (API 1.41),
//! so these states are everything a manager learns about health; the checks' output
//! stays on the node (`docker inspect` of the container).

use bollard::models::{ServiceSpec, Task, TaskState};

use crate::compose::PV_LABEL;

/// What the engine's error of a task stopped by its health check ends with.
const UNHEALTHY_ERROR: &str = "unhealthy container";

/// Whether the tasks of `spec` run a health check: an IOC service labelled with the
/// PV its check reads, or a spec whose check has a test other than `NONE`. The
/// second only holds for specs built here: bollard drops the check of a spec read
/// from the engine (see `compose::PV_LABEL`). An empty test means the image's own
/// `HEALTHCHECK`, which the spec cannot tell.
pub(crate) fn has_health_check(spec: &ServiceSpec) -> bool {
    checked_pv(spec).is_some()
        || spec
            .task_template
            .as_ref()
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.health_check.as_ref())
            .and_then(|h| h.test.as_ref())
            .and_then(|test| test.first())
            .is_some_and(|kind| kind != "NONE")
}

/// The PV the health check of an IOC service reads, from its service label.
pub(crate) fn checked_pv(spec: &ServiceSpec) -> Option<&str> {
    spec.labels
        .as_ref()?
        .get(PV_LABEL)
        .map(String::as_str)
        .filter(|pv| !pv.is_empty())
}

/// The health a task of a service with a health check shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskHealth {
    /// The container runs and no check has passed yet (`starting`): the start period
    /// of a slow iocInit, or an IOC that will turn unhealthy.
    Starting,
    /// `running`: a check passed, and fewer than `retries` failed in a row since.
    Healthy,
    /// The engine stopped the task because its checks failed.
    Unhealthy,
}

/// What the state of `task` says about health, for a service with a health check
/// (see [`has_health_check`]); `None` when the state says nothing about it (not yet
/// started, rejected, completed, shut down, failed for another reason). A slot whose
/// newest task is `starting` and whose previous task was stopped unhealthy is an IOC
/// restarted by its check.
pub(crate) fn task_health(task: &Task) -> Option<TaskHealth> {
    let status = task.status.as_ref()?;
    match status.state? {
        TaskState::STARTING => Some(TaskHealth::Starting),
        TaskState::RUNNING => Some(TaskHealth::Healthy),
        _ if stopped_unhealthy(task) => Some(TaskHealth::Unhealthy),
        _ => None,
    }
}

/// Whether the engine stopped `task` because its health checks failed.
pub(crate) fn stopped_unhealthy(task: &Task) -> bool {
    task.status
        .as_ref()
        .and_then(|s| s.err.as_deref())
        .is_some_and(|err| err.ends_with(UNHEALTHY_ERROR))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tasks of an IOC service as this engine (Docker 20.10, API 1.41) reported them:
    /// starting, then running, and the task its health check stopped.
    fn task(json: &str) -> Task {
        serde_json::from_str(json).unwrap()
    }

    const STARTING: &str = r#"{"ID":"a","Status":{"Timestamp":"2026-05-07T21:09:36.1Z","State":"starting","Message":"starting","ContainerStatus":{"ContainerID":"c1","PID":42}},"DesiredState":"running"}"#;
    const RUNNING: &str = r#"{"ID":"b","Status":{"Timestamp":"2026-05-07T21:09:46.1Z","State":"running","Message":"started","ContainerStatus":{"ContainerID":"c1","PID":42}},"DesiredState":"running"}"#;
    const UNHEALTHY: &str = r#"{"ID":"c","Status":{"Timestamp":"2026-05-07T21:10:06.1Z","State":"failed","Message":"started","Err":"task: non-zero exit (143): dockerexec: unhealthy container","ContainerStatus":{"ContainerID":"c2","ExitCode":143}},"DesiredState":"shutdown"}"#;
    const CRASHED: &str = r#"{"ID":"d","Status":{"Timestamp":"2026-05-07T21:10:06.1Z","State":"failed","Message":"started","Err":"task: non-zero exit (1)","ContainerStatus":{"ContainerID":"c3","ExitCode":1}},"DesiredState":"shutdown"}"#;
    const PENDING: &str = r#"{"ID":"e","Status":{"Timestamp":"2026-05-07T21:10:06.1Z","State":"pending","Message":"pending task scheduling","Err":"no suitable node"},"DesiredState":"running"}"#;

    #[test]
    fn task_states_read_as_health() {
        assert_eq!(task_health(&task(STARTING)), Some(TaskHealth::Starting));
        assert_eq!(task_health(&task(RUNNING)), Some(TaskHealth::Healthy));
        assert_eq!(task_health(&task(UNHEALTHY)), Some(TaskHealth::Unhealthy));
        assert!(stopped_unhealthy(&task(UNHEALTHY)));
        assert_eq!(task_health(&task(CRASHED)), None);
        assert!(!stopped_unhealthy(&task(CRASHED)));
        assert_eq!(task_health(&task(PENDING)), None);
        assert_eq!(task_health(&Task::default()), None);
    }

    fn spec(json: &str) -> ServiceSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_health_check_is_a_test_other_than_none() {
        // Keyed as bollard writes it (the specs the translation builds).
        let checked = spec(
            r#"{"TaskTemplate":{"ContainerSpec":{"Image":"x","HealthCheck":{"Test":["CMD-SHELL","caget x"],"Interval":30000000000}}}}"#,
        );
        assert!(has_health_check(&checked));
        let disabled = spec(
            r#"{"TaskTemplate":{"ContainerSpec":{"Image":"x","HealthCheck":{"Test":["NONE"]}}}}"#,
        );
        assert!(!has_health_check(&disabled));
        let inherited = spec(
            r#"{"TaskTemplate":{"ContainerSpec":{"Image":"x","HealthCheck":{"Interval":1000000000}}}}"#,
        );
        assert!(!has_health_check(&inherited));
        assert!(!has_health_check(&spec(
            r#"{"TaskTemplate":{"ContainerSpec":{"Image":"x"}}}"#
        )));
        assert!(!has_health_check(&ServiceSpec::default()));
    }

    #[test]
    fn an_ioc_service_read_back_is_known_by_its_label() {
        // As the engine returns it: `Healthcheck`, which bollard does not read.
        let read_back = spec(
            r#"{"Name":"p_srv-a","Labels":{"com.docker.stack.namespace":"p","iocdock.health-pv":"a:HEARTBEAT"},"TaskTemplate":{"ContainerSpec":{"Image":"x","Healthcheck":{"Test":["CMD-SHELL","caget"]}}}}"#,
        );
        assert!(
            read_back
                .task_template
                .as_ref()
                .unwrap()
                .container_spec
                .as_ref()
                .unwrap()
                .health_check
                .is_none(),
            "bollard reads the engine's health check now: the label may go"
        );
        assert!(has_health_check(&read_back));
        assert_eq!(checked_pv(&read_back), Some("a:HEARTBEAT"));
    }
}
