//! `service NAME --exec CMD…` and `service NAME --attach`: a command in, or the
//! console of, the container of a service's running task.
//!
//! Only the engine of the node that runs a container can exec into it or attach to
//! it (the manager answers `No such container` for the others), so the task is found
//! through the manager first: its container and its node.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{Node, TaskState};
use bollard::query_parameters::{
    AttachContainerOptions, InspectContainerOptions, ListTasksOptions, ResizeContainerTTYOptions,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::Receiver;

use crate::interrupt::{Interruption, Signals};
use crate::swarm::client::{deliver, next_keys};
use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::format::timestamp;
use crate::swarm::logs::LogStream;

/// The key sequence that leaves an attached console and the IOC running: Docker's
/// own default (`docker attach`), passed to the engine as `detachKeys`.
pub(crate) const DETACH_KEYS: &str = "ctrl-p,ctrl-q";
/// The bytes of `DETACH_KEYS`, sent when the input ends (a pipe, not a person).
const DETACH_BYTES: [u8; 2] = [0x10, 0x11];

#[derive(Debug, thiserror::Error)]
pub(crate) enum AttachError {
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error("{name} is not deployed: no swarm service {service}")]
    NotDeployed { name: String, service: String },
    #[error("{service} has no running task; see `iocdock service {name} --show-info`")]
    NoRunningTask { name: String, service: String },
    #[error("node {node} has no address in the swarm's node list; cannot reach its engine")]
    NoAddress { node: String },
}

/// The container of a service's running task and where it runs.
#[derive(Debug, Clone)]
pub(crate) struct TaskContainer {
    pub(crate) id: String,
    node_id: String,
    /// The node that runs it when that is not this one; its engine is the one to ask.
    pub(crate) elsewhere: Option<OtherNode>,
}

/// Another swarm node: its hostname and swarm address (`Status.Addr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OtherNode {
    pub(crate) hostname: String,
    pub(crate) address: String,
}

/// The container of the running task of swarm service `service` (`name` is the IOC's
/// name, for messages): this node's when there is one, else the newest; and its node
/// when that is another one.
pub(crate) fn locate(
    engine: &Engine,
    name: &str,
    service: &str,
) -> Result<TaskContainer, AttachError> {
    let docker = engine.docker();
    let filters = HashMap::from([
        ("service".to_string(), vec![service.to_string()]),
        ("desired-state".to_string(), vec!["running".to_string()]),
    ]);
    let tasks = engine
        .run(docker.list_tasks(Some(ListTasksOptions {
            filters: Some(filters),
        })))?
        .map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            } => AttachError::NotDeployed {
                name: name.to_string(),
                service: service.to_string(),
            },
            e => SwarmError::api("task list", e).into(),
        })?;
    let info = engine.request("info", docker.info())?;
    let here = info.swarm.and_then(|s| s.node_id).unwrap_or_default();
    // A global service (the client) runs everywhere: this node's copy, when it has
    // one, needs no other engine. Otherwise the newest copy (an update may have left two).
    let mut newest = tasks
        .into_iter()
        .filter_map(|t| {
            let status = t.status?;
            if status.state != Some(TaskState::RUNNING) {
                return None;
            }
            let id = status.container_status?.container_id?;
            let node_id = t.node_id.unwrap_or_default();
            Some((
                (node_id == here, timestamp(status.timestamp.as_deref())),
                TaskContainer {
                    id,
                    node_id,
                    elsewhere: None,
                },
            ))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, task)| task)
        .ok_or_else(|| AttachError::NoRunningTask {
            name: name.to_string(),
            service: service.to_string(),
        })?;
    if newest.node_id != here {
        let node = engine.request(
            &format!("inspect of node {}", newest.node_id),
            docker.inspect_node(&newest.node_id),
        )?;
        let hostname = hostname_of(&node);
        let address = address_of(&node).ok_or_else(|| AttachError::NoAddress {
            node: hostname.clone(),
        })?;
        newest.elsewhere = Some(OtherNode { hostname, address });
    }
    Ok(newest)
}

/// A node's hostname (its id when it reports none).
fn hostname_of(node: &Node) -> String {
    node.description
        .as_ref()
        .and_then(|d| d.hostname.clone())
        .or_else(|| node.id.clone())
        .unwrap_or_default()
}

/// A node's swarm address: `Status.Addr`, or for a manager that reports 0.0.0.0 there
/// (engines before 18.09 did) the host of its manager address.
fn address_of(node: &Node) -> Option<String> {
    let usable = |a: &String| !a.is_empty() && a != "0.0.0.0";
    node.status
        .as_ref()
        .and_then(|s| s.addr.clone())
        .filter(usable)
        .or_else(|| {
            let manager = node.manager_status.as_ref()?.addr.clone()?;
            let (host, _port) = manager.rsplit_once(':')?;
            Some(host.trim_matches(['[', ']']).to_string()).filter(usable)
        })
}

/// Every node of the swarm by hostname and swarm address, for their engines'
/// certificates; a node without an address is left out.
pub(crate) fn node_addresses(engine: &Engine) -> Result<Vec<OtherNode>, SwarmError> {
    let nodes = crate::swarm::nodes::all(engine)?;
    Ok(nodes
        .iter()
        .filter_map(|node| {
            Some(OtherNode {
                hostname: hostname_of(node),
                address: address_of(node)?,
            })
        })
        .collect())
}

/// How long a held-back Ctrl-C or Ctrl-D waits for its repetition.
const CONFIRM: Duration = Duration::from_secs(2);

/// Holds back Ctrl-C and Ctrl-D on the way to the IOC's console: on its tty they stop
/// the IOC (SIGINT, or the end of the iocsh's input), which an operator used to
/// leaving a program with them does not mean. The same key again within `CONFIRM`
/// goes through.
#[derive(Debug, Default)]
struct EndingKeys {
    held: Option<(u8, Instant)>,
}

impl EndingKeys {
    /// The bytes to send and, when one was held back, the key's name.
    fn filter(&mut self, bytes: &[u8], now: Instant) -> (Vec<u8>, Option<&'static str>) {
        let mut out = Vec::with_capacity(bytes.len());
        let mut warned = None;
        for &byte in bytes {
            let name = match byte {
                0x03 => "Ctrl-C",
                0x04 => "Ctrl-D",
                _ => {
                    self.held = None;
                    out.push(byte);
                    continue;
                }
            };
            match self.held {
                Some((key, when)) if key == byte && now.duration_since(when) <= CONFIRM => {
                    self.held = None;
                    out.push(byte);
                }
                _ => {
                    self.held = Some((byte, now));
                    warned = Some(name);
                }
            }
        }
        (out, warned)
    }
}

/// The operator's terminal size (columns, rows) whenever it is asked for.
pub(crate) type TerminalSize = Box<dyn Fn() -> Option<(u16, u16)>>;

/// How an attached console ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttachOutcome {
    /// The detach keys (or the end of the input): the container goes on running.
    Detached,
    /// The container stopped while attached (e.g. `exit` at the iocsh prompt).
    Stopped,
    /// SIGTERM, SIGHUP or Ctrl-C without a terminal: iocdock left, the IOC runs on.
    Interrupted(Interruption),
}

/// Connects `input` (keystrokes, or lines of a pipe) to the console of `container` and
/// its output to `output`, until the engine sees `DETACH_KEYS`, the input ends (then
/// iocdock sends them itself), the container stops, or a signal arrives. With `size`
/// (the operator's terminal's columns and rows) the container's terminal follows it.
pub(crate) fn attach(
    engine: &Engine,
    container: &TaskContainer,
    input: Receiver<Vec<u8>>,
    size: Option<TerminalSize>,
    signals: &mut Signals,
    output: &mut dyn FnMut(LogStream, &[u8]),
    notice: &mut dyn FnMut(&str),
) -> Result<AttachOutcome, SwarmError> {
    let docker = engine.docker();
    let id = container.id.clone();
    let mut guard = EndingKeys::default();
    let outcome = engine.unbounded(async {
        let attached = docker
            .attach_container(
                &id,
                Some(AttachContainerOptions {
                    detach_keys: Some(DETACH_KEYS.to_string()),
                    logs: false,
                    stream: true,
                    stdin: true,
                    stdout: true,
                    stderr: true,
                }),
            )
            .await
            .map_err(|e| SwarmError::api("attach", e))?;
        let mut stream = attached.output;
        let mut writer = attached.input;
        let resize = || {
            let id = id.clone();
            let now = size.as_ref().and_then(|s| s());
            async move {
                if let Some((w, h)) = now {
                    // A failed resize only makes the layout worse; the console works.
                    let _ = docker
                        .resize_container_tty(
                            &id,
                            ResizeContainerTTYOptions {
                                w: i32::from(w),
                                h: i32::from(h),
                            },
                        )
                        .await;
                }
            }
        };
        resize().await;
        let mut window_changes = signal(SignalKind::window_change())
            .map_err(|e| SwarmError::Runtime(format!("cannot watch signals: {e}")))?;
        let mut input = Some(input);
        loop {
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(chunk)) => deliver(chunk, output),
                    Some(Err(e)) => return Err(SwarmError::api("attach output", e)),
                    None => return Ok(None),
                },
                bytes = next_keys(&mut input) => {
                    let bytes = match bytes {
                        Some(bytes) => {
                            let (bytes, held) = guard.filter(&bytes, Instant::now());
                            if let Some(key) = held {
                                notice(&format!(
                                    "{key} would end the IOC; press it again within {} s to send it, or leave with {DETACH_KEYS}",
                                    CONFIRM.as_secs()
                                ));
                            }
                            bytes
                        }
                        None => {
                            input = None;
                            DETACH_BYTES.to_vec()
                        }
                    };
                    // A console that closed its input ends the output stream too.
                    let _ = writer.write_all(&bytes).await;
                    let _ = writer.flush().await;
                },
                which = signals.next() => return Ok(Some(which)),
                _ = window_changes.recv(), if size.is_some() => resize().await,
            }
        }
    })?;
    if let Some(which) = outcome {
        return Ok(AttachOutcome::Interrupted(which));
    }
    let inspected = engine.request(
        &format!("inspect of container {}", container.id),
        docker.inspect_container(&container.id, None::<InspectContainerOptions>),
    )?;
    let running = inspected.state.and_then(|s| s.running).unwrap_or(false);
    Ok(if running {
        AttachOutcome::Detached
    } else {
        AttachOutcome::Stopped
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_and_ctrl_d_reach_the_ioc_only_when_pressed_twice() {
        let start = Instant::now();
        let mut guard = EndingKeys::default();
        assert_eq!(guard.filter(b"dbl\r", start), (b"dbl\r".to_vec(), None));
        // Held back, with the key named.
        assert_eq!(guard.filter(&[0x03], start), (Vec::new(), Some("Ctrl-C")));
        // Again in time: it goes through.
        let soon = start + Duration::from_millis(500);
        assert_eq!(guard.filter(&[0x03], soon), (vec![0x03], None));
        // Too late, or another key in between: held back again.
        assert_eq!(guard.filter(&[0x04], soon), (Vec::new(), Some("Ctrl-D")));
        let late = soon + CONFIRM + Duration::from_millis(1);
        assert_eq!(guard.filter(&[0x04], late), (Vec::new(), Some("Ctrl-D")));
        assert_eq!(guard.filter(b"x", late), (b"x".to_vec(), None));
        assert_eq!(guard.filter(&[0x04], late), (Vec::new(), Some("Ctrl-D")));
        // Both in one read (a paste, a quick double press).
        let mut guard = EndingKeys::default();
        assert_eq!(
            guard.filter(&[b'a', 0x03, 0x03], start),
            (vec![b'a', 0x03], Some("Ctrl-C"))
        );
    }
}
