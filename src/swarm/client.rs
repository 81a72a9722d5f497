//! `iocdock client`: run an EPICS client tool in the running container of the
//! `<prefix>_srv-client` service on this node, like `docker exec [-it]` would, and
//! report the tool's exit code.
//!
//! The tools live in the EPICS bin folder of the client image. That folder is the
//! value of the container label `iocdock.epics-bin-dir` (set it with `LABEL` in the
//! client image, or under `labels:` of the client service), else
//! `/opt/EPICS/base/bin/linux-x86_64`: the image knows where its tools are, so the
//! image (not each operator's environment) says so.

use std::collections::HashMap;

use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::models::TaskState;
use bollard::query_parameters::{InspectContainerOptions, ListTasksOptions};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::Receiver;

use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::format::timestamp;
use crate::swarm::logs::LogStream;

pub(crate) const BIN_DIR_LABEL: &str = "iocdock.epics-bin-dir";
pub(crate) const DEFAULT_BIN_DIR: &str = "/opt/EPICS/base/bin/linux-x86_64";

/// What Ctrl-C is on a terminal in raw mode; the remote tty turns it into SIGINT.
const CTRL_C: u8 = 0x03;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error(
        "the client service {service} is not deployed; deploy it with `iocdock swarm --deploy-global-services`"
    )]
    NotDeployed { service: String },
    #[error(
        "no running task of the client service {service} on this node ({node}); see `iocdock service client --show-info`"
    )]
    NoTaskHere { service: String, node: String },
}

/// The container to run tools in, and where they are.
#[derive(Debug, Clone)]
pub(crate) struct ClientContainer {
    pub(crate) id: String,
    pub(crate) bin_dir: String,
}

/// The running container of `service` on this node (the newest one when a restart
/// left two).
pub(crate) fn find(engine: &Engine, service: &str) -> Result<ClientContainer, ClientError> {
    let docker = engine.docker();
    let info = engine.request("info", docker.info())?;
    let node_id = info.swarm.and_then(|s| s.node_id).unwrap_or_default();
    let filters = HashMap::from([
        ("service".to_string(), vec![service.to_string()]),
        ("node".to_string(), vec![node_id.clone()]),
        ("desired-state".to_string(), vec!["running".to_string()]),
    ]);
    let tasks = engine
        .run(docker.list_tasks(Some(ListTasksOptions {
            filters: Some(filters),
        })))?
        .map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            } => ClientError::NotDeployed {
                service: service.to_string(),
            },
            e => SwarmError::api("task list", e).into(),
        })?;
    let newest = tasks
        .into_iter()
        .filter_map(|t| {
            let status = t.status?;
            if status.state != Some(TaskState::RUNNING) {
                return None;
            }
            let id = status.container_status?.container_id?;
            Some((timestamp(status.timestamp.as_deref()), id))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, id)| id)
        .ok_or_else(|| ClientError::NoTaskHere {
            service: service.to_string(),
            node: info.name.clone().unwrap_or(node_id),
        })?;
    let container = engine.request(
        &format!("inspect of container {newest}"),
        docker.inspect_container(&newest, None::<InspectContainerOptions>),
    )?;
    let bin_dir = container
        .config
        .and_then(|c| c.labels)
        .and_then(|labels| labels.get(BIN_DIR_LABEL).cloned())
        .filter(|dir| !dir.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_BIN_DIR.to_string());
    Ok(ClientContainer {
        id: newest,
        bin_dir,
    })
}

/// A terminal session: keystrokes to forward (raw, so Ctrl-C travels as a byte) and
/// the terminal's size (columns, rows) whenever it is asked for.
pub(crate) struct Tty {
    pub(crate) input: Receiver<Vec<u8>>,
    pub(crate) size: Box<dyn Fn() -> Option<(u16, u16)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExecOutcome {
    /// The tool ended with this exit code.
    Exited(i64),
    /// The operator pressed Ctrl-C twice; the tool may still be running.
    Interrupted,
}

/// Runs `command` in the client container's bin folder and streams its output to
/// `output` as it comes. With a `tty` the tool gets a terminal and the keystrokes;
/// without one, Ctrl-C sends SIGINT to the tool. `notice` hears what the operator
/// should know on the way (e.g. that the tool could not be stopped).
pub(crate) fn exec(
    engine: &Engine,
    container: &ClientContainer,
    command: Vec<String>,
    tty: Option<Tty>,
    output: &mut dyn FnMut(LogStream, &[u8]),
    notice: &mut dyn FnMut(&str),
) -> Result<ExecOutcome, SwarmError> {
    let docker = engine.docker();
    let with_tty = tty.is_some();
    let created = engine.request(
        "exec create",
        docker.create_exec(
            &container.id,
            CreateExecOptions {
                attach_stdin: Some(with_tty),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(with_tty),
                cmd: Some(command),
                working_dir: Some(container.bin_dir.clone()),
                ..Default::default()
            },
        ),
    )?;
    // The tool runs as long as the operator wants; its start and the exit code's
    // inspect still have their deadlines.
    engine.unbounded(async move {
        let exec_id = created.id;
        let started = docker
            .start_exec(
                &exec_id,
                Some(StartExecOptions {
                    detach: false,
                    tty: with_tty,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| SwarmError::api("exec start", e))?;
        let StartExecResults::Attached {
            output: mut stream,
            mut input,
        } = started
        else {
            return Err(SwarmError::Api {
                action: "exec start".to_string(),
                detail: "the daemon did not attach the output".to_string(),
            });
        };
        let (mut keys, size) = match tty {
            Some(tty) => (Some(tty.input), Some(tty.size)),
            None => (None, None),
        };
        let resize = |size: Option<(u16, u16)>| {
            let exec_id = exec_id.clone();
            async move {
                if let Some((width, height)) = size {
                    // A failed resize only makes the layout worse; the tool still runs.
                    let _ = docker
                        .resize_exec(&exec_id, ResizeExecOptions { width, height })
                        .await;
                }
            }
        };
        resize(size.as_ref().and_then(|s| s())).await;
        let signal_error = |e: std::io::Error| SwarmError::Runtime(format!("cannot watch signals: {e}"));
        let mut interrupts = signal(SignalKind::interrupt()).map_err(signal_error)?;
        let mut window_changes = signal(SignalKind::window_change()).map_err(signal_error)?;
        let mut interrupted = false;
        loop {
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(chunk)) => deliver(chunk, output),
                    Some(Err(e)) => return Err(SwarmError::api("exec output", e)),
                    None => break,
                },
                bytes = next_keys(&mut keys) => match bytes {
                    // The tool may have closed its input; its output tells the rest.
                    Some(bytes) => { let _ = input.write_all(&bytes).await; let _ = input.flush().await; }
                    None => keys = None,
                },
                _ = interrupts.recv() => {
                    if interrupted {
                        return Ok(ExecOutcome::Interrupted);
                    }
                    interrupted = true;
                    if with_tty {
                        let _ = input.write_all(&[CTRL_C]).await;
                        let _ = input.flush().await;
                    } else if let Err(why) = interrupt_tool(docker, &exec_id, &container.id).await {
                        notice(&format!("cannot pass Ctrl-C to the tool ({why}); press Ctrl-C again to leave it running"));
                    }
                },
                _ = window_changes.recv(), if with_tty => {
                    resize(size.as_ref().and_then(|s| s())).await;
                },
            }
        }
        let inspected = docker
            .inspect_exec(&exec_id)
            .await
            .map_err(|e| SwarmError::api("exec inspect", e))?;
        Ok(ExecOutcome::Exited(inspected.exit_code.unwrap_or(0)))
    })
}

fn deliver(chunk: bollard::container::LogOutput, output: &mut dyn FnMut(LogStream, &[u8])) {
    use bollard::container::LogOutput;
    match chunk {
        LogOutput::StdErr { message } => output(LogStream::Err, &message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            output(LogStream::Out, &message)
        }
        LogOutput::StdIn { .. } => {}
    }
}

async fn next_keys(keys: &mut Option<Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match keys {
        Some(keys) => keys.recv().await,
        None => std::future::pending().await,
    }
}

/// Without a tty there is no Ctrl-C byte to send, and the Engine API cannot signal
/// an exec'd process. The daemon reports the tool's host PID; when that daemon is
/// this machine's and the PID really is a process of the client container (its
/// cgroup names the container), SIGINT goes to it directly.
async fn interrupt_tool(
    docker: &bollard::Docker,
    exec_id: &str,
    container_id: &str,
) -> Result<(), String> {
    if !crate::swarm::engine::endpoint().starts_with("unix://") {
        return Err("the Docker daemon is not on this machine".to_string());
    }
    let pid = docker
        .inspect_exec(exec_id)
        .await
        .map_err(|e| e.to_string())?
        .pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
        .ok_or("the daemon reports no process id")?;
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.as_raw_nonzero()))
        .map_err(|e| format!("cannot read the process's cgroup: {e}"))?;
    if !cgroup.contains(container_id) {
        return Err("the process id is not one of the client container".to_string());
    }
    rustix::process::kill_process(pid, rustix::process::Signal::INT).map_err(|e| e.to_string())
}
