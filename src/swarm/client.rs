//! `iocdock client`: run an EPICS client tool in the running container of the
//! `<prefix>_srv-client` service on this node, like `docker exec [-it]` would, and
//! report the tool's exit code.
//!
//! The tools are those of the client image, found where the image says EPICS base
//! is: the folder of the container label `iocdock.epics-bin-dir` (set it with `LABEL`
//! in the client image, or under `labels:` of the client service) when set, else
//! `$EPICS_BASE/bin/$EPICS_HOST_ARCH` from the container's environment (EPICS' own
//! convention, which IocDock's images follow), else the container's `PATH`. The
//! image, not a fixed folder, knows where its tools are: IocDock's image has base in
//! `/opt/EPICS/base-7.0.8.1`.

use std::collections::HashMap;

use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::models::TaskState;
use bollard::query_parameters::{InspectContainerOptions, ListTasksOptions};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::Receiver;

use crate::interrupt::{Interruption, Signals};
use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::format::timestamp;
use crate::swarm::logs::LogStream;

pub(crate) const BIN_DIR_LABEL: &str = "iocdock.epics-bin-dir";

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
    pub(crate) tools: ToolLocation,
}

/// Where the client tools of a container are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolLocation {
    /// The EPICS bin folder: tools run as `./CMD` with it as working folder.
    Folder(String),
    /// Neither label nor environment names one: tools run as `CMD`, found through
    /// the container's `PATH`.
    Path,
}

impl ToolLocation {
    /// From the container's labels and environment (`NAME=value` entries).
    pub(crate) fn of_container(labels: &HashMap<String, String>, env: &[String]) -> Self {
        if let Some(dir) = labels.get(BIN_DIR_LABEL).filter(|d| !d.trim().is_empty()) {
            return ToolLocation::Folder(dir.clone());
        }
        let var = |name: &str| {
            env.iter()
                .rev()
                .filter_map(|entry| entry.split_once('='))
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.trim())
                .filter(|value| !value.is_empty())
        };
        match (var("EPICS_BASE"), var("EPICS_HOST_ARCH")) {
            (Some(base), Some(arch)) => {
                ToolLocation::Folder(format!("{}/bin/{arch}", base.trim_end_matches('/')))
            }
            _ => ToolLocation::Path,
        }
    }

    /// The command line to run `tool` with `args` from here.
    pub(crate) fn command(&self, tool: &str, args: &[String]) -> Vec<String> {
        let mut command = Vec::with_capacity(args.len() + 1);
        command.push(match self {
            ToolLocation::Folder(_) => format!("./{tool}"),
            ToolLocation::Path => tool.to_string(),
        });
        command.extend(args.iter().cloned());
        command
    }

    fn working_dir(&self) -> Option<String> {
        match self {
            ToolLocation::Folder(dir) => Some(dir.clone()),
            ToolLocation::Path => None,
        }
    }
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
    let config = container.config.unwrap_or_default();
    let tools = ToolLocation::of_container(
        &config.labels.unwrap_or_default(),
        &config.env.unwrap_or_default(),
    );
    Ok(ClientContainer { id: newest, tools })
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
    /// The operator pressed Ctrl-C twice, or iocdock was sent SIGTERM or SIGHUP; the
    /// tool was asked to stop once and may still be running.
    Interrupted(Interruption),
}

/// Runs `command` in the client container's bin folder and streams its output to
/// `output` as it comes. With a `tty` the tool gets a terminal and the keystrokes;
/// without one, Ctrl-C sends SIGINT to the tool. A second Ctrl-C, SIGTERM or SIGHUP
/// (from `signals`, caught by the caller before it changed the terminal) ends the
/// session. `notice` hears what the operator should know on the way (e.g. that the
/// tool could not be stopped).
pub(crate) fn exec(
    engine: &Engine,
    container: &ClientContainer,
    command: Vec<String>,
    tty: Option<Tty>,
    signals: &mut Signals,
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
                working_dir: container.tools.working_dir(),
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
                which = signals.next() => {
                    if interrupted {
                        return Ok(ExecOutcome::Interrupted(which));
                    }
                    interrupted = true;
                    // SIGTERM and SIGHUP end the session at once: whoever sent them
                    // wants iocdock gone, and a hung-up terminal has nobody to ask.
                    let leave = which != Interruption::Interrupt;
                    if with_tty {
                        let _ = input.write_all(&[CTRL_C]).await;
                        let _ = input.flush().await;
                    } else if let Err(why) = interrupt_tool(docker, &exec_id, &container.id).await
                        && !leave
                    {
                        notice(&format!("cannot pass Ctrl-C to the tool ({why}); press Ctrl-C again to leave it running"));
                    }
                    if leave {
                        return Ok(ExecOutcome::Interrupted(which));
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

/// Hands a piece of a container's output to `output`, by stream.
pub(crate) fn deliver(
    chunk: bollard::container::LogOutput,
    output: &mut dyn FnMut(LogStream, &[u8]),
) {
    use bollard::container::LogOutput;
    match chunk {
        LogOutput::StdErr { message } => output(LogStream::Err, &message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            output(LogStream::Out, &message)
        }
        LogOutput::StdIn { .. } => {}
    }
}

/// The next keystrokes, or never when there is no input.
pub(crate) async fn next_keys(keys: &mut Option<Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn tools_are_where_the_image_environment_puts_epics_base() {
        let labels = HashMap::new();
        let found = ToolLocation::of_container(
            &labels,
            &env(&[
                "PATH=/opt/EPICS/base-7.0.8.1/bin/linux-x86_64:/usr/bin",
                "EPICS_BASE=/opt/EPICS/base-7.0.8.1",
                "EPICS_HOST_ARCH=linux-x86_64",
            ]),
        );
        assert_eq!(
            found,
            ToolLocation::Folder("/opt/EPICS/base-7.0.8.1/bin/linux-x86_64".to_string())
        );
        assert_eq!(
            found.command("caget", &["-w".to_string(), "2".to_string()]),
            ["./caget", "-w", "2"]
        );
        // The service's environment comes after the image's and wins, as in the process.
        let found = ToolLocation::of_container(
            &labels,
            &env(&[
                "EPICS_BASE=/image/base/",
                "EPICS_HOST_ARCH=linux-x86_64",
                "EPICS_BASE=/service/base/",
            ]),
        );
        assert_eq!(
            found,
            ToolLocation::Folder("/service/base/bin/linux-x86_64".to_string())
        );
    }

    #[test]
    fn the_label_wins_and_without_base_the_path_finds_the_tool() {
        let labels = HashMap::from([(BIN_DIR_LABEL.to_string(), "/opt/tools".to_string())]);
        let base = env(&["EPICS_BASE=/opt/EPICS/base", "EPICS_HOST_ARCH=linux-x86_64"]);
        assert_eq!(
            ToolLocation::of_container(&labels, &base),
            ToolLocation::Folder("/opt/tools".to_string())
        );
        let blank = HashMap::from([(BIN_DIR_LABEL.to_string(), " ".to_string())]);
        for environment in [
            env(&["PATH=/usr/bin"]),
            env(&["EPICS_BASE=/opt/EPICS/base-7.0.8.1"]),
            env(&["EPICS_BASE=", "EPICS_HOST_ARCH=linux-x86_64"]),
            env(&["EPICS_HOST_ARCH=linux-x86_64"]),
        ] {
            let found = ToolLocation::of_container(&blank, &environment);
            assert_eq!(found, ToolLocation::Path, "{environment:?}");
            assert_eq!(found.command("caget", &[]), ["caget"]);
            assert_eq!(found.working_dir(), None);
        }
    }
}
