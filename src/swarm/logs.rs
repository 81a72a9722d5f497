//! Raw service logs through the Engine API, the way `docker service logs --raw`
//! prints them: no task prefix, stdout and stderr kept apart. IOC services run with
//! a tty, for which the daemon only has raw logs at all.

use bollard::container::LogOutput;
use bollard::models::{Task, TaskState};
use bollard::query_parameters::LogsOptions;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};

use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::format::timestamp;

/// Which stream of the service a piece of log belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogStream {
    Out,
    Err,
}

/// What to read: the last `tail` lines (all when None) logged `since` a time (from the
/// start when None), each with the engine's timestamp in front when `timestamps`,
/// then new output while `follow`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogRequest {
    pub(crate) follow: bool,
    pub(crate) tail: Option<u64>,
    pub(crate) since: Option<Since>,
    pub(crate) timestamps: bool,
}

/// Whose log to read: a service's, which is every task's it still keeps (`docker
/// service logs SERVICE`), or one task's (`docker service logs TASK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogSource {
    Service(String),
    Task { service: String, task: String },
}

impl LogSource {
    fn describe(&self) -> String {
        match self {
            LogSource::Service(service) => format!("logs of service {service}"),
            LogSource::Task { service, task } => {
                format!("logs of task {task} of service {service}")
            }
        }
    }
}

/// The first moment a log is asked from, in whole seconds since 1970: the engine's
/// unit for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Since(i32);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SinceError {
    #[error(
        "\"{0}\": expected a duration back from now such as 10m, 2h or 1h30m, or an RFC 3339 time such as 2026-12-04T15:30:00Z"
    )]
    Unreadable(String),
    #[error("\"{0}\": the engine takes times from 1970 to 2038 only")]
    OutOfRange(String),
}

impl Since {
    /// Reads `text` as `docker logs --since` does: an RFC 3339 time, or a duration
    /// back from `now` in Go's notation (`10m`, `2h`, `1h30m`, `1.5h`, `90s`). A time
    /// within a second counts from the start of that second.
    pub(crate) fn parse(text: &str, now: DateTime<Utc>) -> Result<Since, SinceError> {
        let text = text.trim();
        let at = match DateTime::parse_from_rfc3339(text) {
            Ok(at) => at.timestamp(),
            Err(_) => {
                let back = go_duration_seconds(text)
                    .ok_or_else(|| SinceError::Unreadable(text.to_string()))?;
                let micros = now.timestamp_micros() as f64 - back * 1e6;
                (micros / 1e6).floor() as i64
            }
        };
        i32::try_from(at)
            .ok()
            .filter(|at| *at > 0)
            .map(Since)
            .ok_or_else(|| SinceError::OutOfRange(text.to_string()))
    }

    pub(crate) fn unix_seconds(self) -> i32 {
        self.0
    }
}

/// Seconds of a Go duration made of hours, minutes and seconds (`1h30m`, `1.5h`,
/// `45s`); None for anything else, a sign or another unit included.
fn go_duration_seconds(text: &str) -> Option<f64> {
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            _ => return None,
        };
        total += value * scale;
        rest = next;
    }
    // A duration longer than the time since 1970 is out of the engine's range anyway.
    total.is_finite().then_some(total.min(1e12))
}

/// The task of a service that ran before its current one: the newest that has ended
/// (crashed, completed, or shut down by an update) and had a container, whose log
/// the node still keeps. None when no such task is left in the swarm's task history.
pub(crate) fn previous_task(tasks: &[Task]) -> Option<&Task> {
    tasks
        .iter()
        .filter(|t| ended(t) && had_container(t))
        .max_by_key(|t| {
            (
                timestamp(t.created_at.as_deref()),
                t.version.as_ref().and_then(|v| v.index),
            )
        })
}

fn ended(task: &Task) -> bool {
    let stopped_by_swarm = matches!(
        task.desired_state,
        Some(TaskState::SHUTDOWN | TaskState::REMOVE | TaskState::COMPLETE)
    );
    let over = matches!(
        task.status.as_ref().and_then(|s| s.state),
        Some(
            TaskState::COMPLETE
                | TaskState::FAILED
                | TaskState::SHUTDOWN
                | TaskState::REJECTED
                | TaskState::ORPHANED
                | TaskState::REMOVE
        )
    );
    stopped_by_swarm || over
}

fn had_container(task: &Task) -> bool {
    task.status
        .as_ref()
        .and_then(|s| s.container_status.as_ref())
        .and_then(|c| c.container_id.as_deref())
        .is_some_and(|id| !id.is_empty())
}

/// Streams the logs of `sources` (all at once, interleaved as they arrive, when
/// following several) and hands each piece to `sink` as soon as it arrives.
pub(crate) fn stream_logs(
    engine: &Engine,
    sources: &[LogSource],
    request: LogRequest,
    sink: &mut dyn FnMut(LogStream, &[u8]),
) -> Result<(), SwarmError> {
    let options = LogsOptions {
        follow: request.follow,
        stdout: true,
        stderr: true,
        tail: request
            .tail
            .map_or_else(|| "all".to_string(), |n| n.to_string()),
        since: request.since.map_or(0, Since::unix_seconds),
        timestamps: request.timestamps,
        ..Default::default()
    };
    let one =
        |source: &LogSource| -> BoxStream<'_, (String, Result<LogOutput, bollard::errors::Error>)> {
            let what = source.describe();
            let docker = engine.docker();
            let logs = match source {
                LogSource::Service(service) => {
                    docker.service_logs(service, Some(options.clone())).boxed()
                }
                LogSource::Task { task, .. } => {
                    docker.task_logs(task, Some(options.clone())).boxed()
                }
            };
            logs.map(move |item| (what.clone(), item)).boxed()
        };
    if request.follow {
        // Following never ends by itself: read every source at once, for as long as
        // the operator wants (each request's first answer still has its deadline).
        return engine.unbounded(async {
            let mut all = stream::select_all(sources.iter().map(one));
            while let Some((what, item)) = all.next().await {
                deliver(&what, item, sink)?;
            }
            Ok(())
        });
    }
    // Logs read to their end may be long: no limit on the whole, but each piece must
    // come within the read deadline, so a hung engine cannot keep the command waiting.
    let piece = engine.piece_limit();
    engine.unbounded(async {
        for source in sources {
            let mut logs = one(source);
            loop {
                match tokio::time::timeout(piece, logs.next()).await {
                    Ok(Some((what, item))) => deliver(&what, item, sink)?,
                    Ok(None) => break,
                    Err(_) => return Err(engine.piece_missing()),
                }
            }
        }
        Ok(())
    })
}

fn deliver(
    what: &str,
    item: Result<LogOutput, bollard::errors::Error>,
    sink: &mut dyn FnMut(LogStream, &[u8]),
) -> Result<(), SwarmError> {
    match item.map_err(|e| SwarmError::api(what, e))? {
        LogOutput::StdErr { message } => sink(LogStream::Err, &message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            sink(LogStream::Out, &message)
        }
        LogOutput::StdIn { .. } => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerStatus, TaskStatus};

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T16:00:00.700Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn seconds(text: &str) -> i64 {
        now().timestamp() - i64::from(Since::parse(text, now()).unwrap().unix_seconds())
    }

    #[test]
    fn durations_count_back_from_now_to_the_second() {
        // now is 16:00:00.7; the start of the second a line was logged in counts.
        assert_eq!(seconds("10m"), 600);
        assert_eq!(seconds("2h"), 7200);
        assert_eq!(seconds("1h30m"), 5400);
        assert_eq!(seconds("1.5h"), 5400);
        assert_eq!(seconds("90s"), 90);
        assert_eq!(seconds("0.5s"), 0);
        assert_eq!(seconds("2h0m5s"), 7205);
    }

    #[test]
    fn rfc_3339_times_with_any_offset() {
        let at = |text: &str| i64::from(Since::parse(text, now()).unwrap().unix_seconds());
        let utc = DateTime::parse_from_rfc3339("2026-12-04T15:30:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(at("2026-12-04T15:30:00Z"), utc);
        assert_eq!(at("2026-12-04T16:30:00+01:00"), utc);
        assert_eq!(at("2026-12-04T15:30:00.999999999Z"), utc);
    }

    #[test]
    fn anything_else_is_refused_with_the_accepted_forms() {
        for bad in [
            "",
            "yesterday",
            "10",
            "-10m",
            "10d",
            "10 m",
            "1h-5m",
            "m",
            "2026-12-04",
            "2026-12-04 15:30",
            "15:30",
            "1e3s",
        ] {
            let error = Since::parse(bad, now()).unwrap_err();
            assert_eq!(
                error,
                SinceError::Unreadable(bad.trim().to_string()),
                "{bad}"
            );
        }
        assert_eq!(
            Since::parse("yesterday", now()).unwrap_err().to_string(),
            "\"yesterday\": expected a duration back from now such as 10m, 2h or 1h30m, or an RFC 3339 time such as 2026-12-04T15:30:00Z"
        );
        for far in ["1000000h", "2040-01-01T00:00:00Z", "1969-12-31T00:00:00Z"] {
            assert_eq!(
                Since::parse(far, now()).unwrap_err(),
                SinceError::OutOfRange(far.to_string())
            );
        }
    }

    fn task(
        id: &str,
        created: &str,
        desired: TaskState,
        state: TaskState,
        container: bool,
    ) -> Task {
        Task {
            id: Some(id.to_string()),
            created_at: Some(created.to_string()),
            desired_state: Some(desired),
            status: Some(TaskStatus {
                state: Some(state),
                container_status: container.then(|| ContainerStatus {
                    container_id: Some(format!("c-{id}")),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn previous(tasks: &[Task]) -> Option<&str> {
        previous_task(tasks).and_then(|t| t.id.as_deref())
    }

    #[test]
    fn the_previous_task_is_the_newest_that_ended_with_a_container() {
        use TaskState::*;
        let current = task("now", "2026-12-04T15:00:00Z", RUNNING, RUNNING, true);
        let crashed = task("crashed", "2026-12-04T14:00:00Z", SHUTDOWN, FAILED, true);
        let older = task("older", "2026-12-04T13:00:00Z", SHUTDOWN, SHUTDOWN, true);
        assert_eq!(
            previous(&[older.clone(), current.clone(), crashed.clone()]),
            Some("crashed")
        );
        // Only the current task: nothing ran before it.
        assert_eq!(previous(std::slice::from_ref(&current)), None);
        // A rejected task never had a container, so it has no log to show.
        let rejected = task(
            "rejected",
            "2026-12-04T14:30:00Z",
            SHUTDOWN,
            REJECTED,
            false,
        );
        assert_eq!(
            previous(&[current.clone(), rejected, crashed.clone()]),
            Some("crashed")
        );
        // A crash the orchestrator has not yet marked: failed, still desired running;
        // its replacement waits out the restart delay without a container.
        let just_crashed = task("just", "2026-12-04T15:00:00Z", RUNNING, FAILED, true);
        let waiting = task("waiting", "2026-12-04T15:00:05Z", RUNNING, READY, false);
        assert_eq!(previous(&[crashed, just_crashed, waiting]), Some("just"));
    }
}
