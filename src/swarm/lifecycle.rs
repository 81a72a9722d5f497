//! Restart, stop and start of a deployed service, as `docker service update --force`
//! and `docker service scale` do them: the engine's own spec is read as JSON, one
//! field is changed (`TaskTemplate.ForceUpdate` or `Mode.Replicated.Replicas`) and
//! the spec is sent back with the version it was read at. Everything else stays as
//! the engine has it, fields bollard's models lack included, so the service keeps
//! its ID, its update_config and its image digest; the engine
//! replaces the tasks as that update_config says.

use std::fmt;

use serde_json::Value;

use crate::swarm::deploy;
use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::managed::{ManagedService, ServiceType};
use crate::swarm::rollout::Watch;

/// How often a change is tried again when the service changed between reading and
/// writing it (the engine moves the version on during a rolling update).
const ATTEMPTS: usize = 3;

/// What was asked of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    /// Replace every task in a rolling update, nothing else changed.
    Restart,
    /// Scale to 0 replicas.
    Stop,
    /// Scale back to the replicas of the service file.
    Start,
}

/// What a verb did to a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Restarted { service: String, force_update: u64 },
    Stopped { service: String, replicas: u64 },
    Started { service: String, replicas: u64 },
    AlreadyStopped { service: String },
    AlreadyRunning { service: String, replicas: u64 },
    RolledBack { service: String },
}

fn replicas_word(n: u64) -> &'static str {
    if n == 1 { "replica" } else { "replicas" }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Restarted { service, .. } => write!(
                f,
                "restarting service {service}: its tasks are replaced as its update_config says"
            ),
            Change::Stopped { service, replicas } => write!(
                f,
                "stopped service {service} (0 of {replicas} {}; --start runs it again)",
                replicas_word(*replicas)
            ),
            Change::Started { service, replicas } => write!(
                f,
                "started service {service} ({replicas} {}, as its service file says)",
                replicas_word(*replicas)
            ),
            Change::AlreadyStopped { service } => {
                write!(f, "service {service} is already stopped; nothing to stop")
            }
            Change::RolledBack { service } => write!(
                f,
                "rolling back service {service} to its previous spec (the engine's, as `docker service rollback`)"
            ),
            Change::AlreadyRunning { service, replicas } => write!(
                f,
                "service {service} is already running ({replicas} {} wanted); nothing to start",
                replicas_word(*replicas)
            ),
        }
    }
}

impl Change {
    /// What to wait for until the change has converged: the new copies of a restart,
    /// the replicas of a start. A stop ends its tasks at once; what was already so
    /// changed nothing.
    pub(crate) fn watch(&self) -> Option<Watch> {
        match self {
            Change::Restarted {
                service,
                force_update,
            } => Some(Watch {
                service_name: service.clone(),
                force_update: Some(*force_update),
                rollback: false,
            }),
            Change::Started { service, .. } => Some(Watch {
                service_name: service.clone(),
                force_update: None,
                rollback: false,
            }),
            Change::RolledBack { service } => Some(Watch {
                service_name: service.clone(),
                force_update: None,
                rollback: true,
            }),
            Change::Stopped { .. }
            | Change::AlreadyStopped { .. }
            | Change::AlreadyRunning { .. } => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LifecycleError {
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error(
        "{kind} service \"{name}\" is not deployed ({service} does not exist); deploy it with --deploy"
    )]
    NotDeployed {
        kind: ServiceType,
        name: String,
        service: String,
    },
    #[error(
        "{kind} service \"{name}\" runs in global mode (one task on every node) and cannot be scaled: --stop and --start are for replicated services (use --remove, then --deploy)"
    )]
    Global { kind: ServiceType, name: String },
    #[error(
        "{kind} service \"{name}\" is stopped (0 replicas): nothing to restart; run it with --start"
    )]
    NothingToRestart { kind: ServiceType, name: String },
    #[error("{kind} service \"{name}\": cannot tell how many replicas to start: {why}")]
    NoReplicas {
        kind: ServiceType,
        name: String,
        why: String,
    },
}

/// Restarts, stops or starts `service` (deployed into stack `namespace`). Starting a
/// stopped service reads the replicas from its service file; nothing else is read
/// from the file.
pub(crate) fn apply(
    engine: &Engine,
    service: &ManagedService,
    namespace: &str,
    verb: Verb,
) -> Result<Change, LifecycleError> {
    let mut target = None;
    let mut attempt = 1;
    loop {
        let (id, version, mut spec) = read(engine, service)?;
        // The file is read only when there is something to start.
        let stopped = spec
            .pointer("/Mode/Replicated/Replicas")
            .and_then(Value::as_u64)
            == Some(0);
        if verb == Verb::Start && stopped && target.is_none() {
            target = Some(file_replicas(service, namespace)?);
        }
        let change = match change(service, verb, target, &mut spec)? {
            Edit::Send(change) => change,
            Edit::Nothing(change) => return Ok(change),
        };
        match write(engine, &id, version, &spec) {
            Ok(()) => return Ok(change),
            Err(e) if attempt < ATTEMPTS && out_of_sequence(&e) => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Puts the engine's previous spec of `service` back, as `docker service rollback`
/// does: the current spec is sent with `rollback=previous`, and the engine swaps in
/// the spec it kept from before the last update (it refuses when it has none).
pub(crate) fn rollback(
    engine: &Engine,
    service: &ManagedService,
) -> Result<Change, LifecycleError> {
    let mut attempt = 1;
    loop {
        let (id, version, spec) = read(engine, service)?;
        let path = format!(
            "/services/{}/update?version={version}&rollback=previous",
            encoded(&id)
        );
        match send(engine, &id, &path, &spec) {
            Ok(()) => {
                return Ok(Change::RolledBack {
                    service: service.service_name.clone(),
                });
            }
            Err(e) if attempt < ATTEMPTS && out_of_sequence(&e) => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// What to wait for after a change made elsewhere (a deploy with a rolling restart):
/// copies of the spec the engine has now, told by its ForceUpdate counter.
pub(crate) fn watch_current(
    engine: &Engine,
    service: &ManagedService,
) -> Result<Watch, LifecycleError> {
    let (_, _, spec) = read(engine, service)?;
    Ok(Watch {
        service_name: service.service_name.clone(),
        force_update: Some(
            spec.pointer("/TaskTemplate/ForceUpdate")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        ),
        rollback: false,
    })
}

/// The replicas the service file of `service` deploys.
fn file_replicas(service: &ManagedService, namespace: &str) -> Result<u64, LifecycleError> {
    let no_replicas = |why: String| LifecycleError::NoReplicas {
        kind: service.kind,
        name: service.name.clone(),
        why,
    };
    if !service.available() {
        return Err(no_replicas(format!(
            "its service file {} does not exist",
            service.file.display()
        )));
    }
    let plan = deploy::planned(service, namespace).map_err(|e| no_replicas(e.to_string()))?;
    let mode = plan.spec.mode.unwrap_or_default();
    if mode.global.is_some() {
        return Err(LifecycleError::Global {
            kind: service.kind,
            name: service.name.clone(),
        });
    }
    let replicas = mode.replicated.and_then(|r| r.replicas).unwrap_or(1).max(0) as u64;
    if replicas == 0 {
        return Err(no_replicas(format!(
            "its service file {} deploys 0 replicas",
            service.file.display()
        )));
    }
    Ok(replicas)
}

/// The service's ID, version and spec as the engine stores them.
fn read(engine: &Engine, service: &ManagedService) -> Result<(String, u64, Value), LifecycleError> {
    let name = &service.service_name;
    let path = format!("/services/{}", encoded(name));
    let found = engine
        .run(engine.raw().get_json(engine.docker(), &path))?
        .map_err(|e| SwarmError::api(format!("inspect of service {name}"), e))?;
    let Some(mut found) = found else {
        return Err(LifecycleError::NotDeployed {
            kind: service.kind,
            name: service.name.clone(),
            service: name.clone(),
        });
    };
    let malformed = |what: &str| SwarmError::Api {
        action: format!("inspect of service {name}"),
        detail: format!("the answer has no {what}"),
    };
    let id = found
        .get("ID")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("ID"))?
        .to_string();
    let version = found
        .pointer("/Version/Index")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("version"))?;
    let spec = found
        .get_mut("Spec")
        .map(Value::take)
        .filter(Value::is_object)
        .ok_or_else(|| malformed("spec"))?;
    Ok((id, version, spec))
}

/// What to do after looking at the engine's spec.
enum Edit {
    /// The spec was changed: send it.
    Send(Change),
    /// It already is as asked.
    Nothing(Change),
}

/// Changes `spec` (the engine's JSON) for `verb`; `target` is the file's replicas
/// for a start.
fn change(
    service: &ManagedService,
    verb: Verb,
    target: Option<u64>,
    spec: &mut Value,
) -> Result<Edit, LifecycleError> {
    let service_name = service.service_name.clone();
    // Global (or a job, which iocdock never deploys): no replica count to change.
    let replicated = spec.pointer("/Mode/Replicated").is_some();
    // The engine writes the count even when it is 0.
    let replicas = spec
        .pointer("/Mode/Replicated/Replicas")
        .and_then(Value::as_u64)
        .unwrap_or(if replicated { 1 } else { 0 });
    if !replicated && verb != Verb::Restart {
        return Err(LifecycleError::Global {
            kind: service.kind,
            name: service.name.clone(),
        });
    }
    match verb {
        Verb::Restart => {
            if replicated && replicas == 0 {
                return Err(LifecycleError::NothingToRestart {
                    kind: service.kind,
                    name: service.name.clone(),
                });
            }
            let force_update = spec
                .pointer("/TaskTemplate/ForceUpdate")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let force_update = force_update.wrapping_add(1);
            set_at(
                spec,
                &["TaskTemplate", "ForceUpdate"],
                Value::from(force_update),
            );
            Ok(Edit::Send(Change::Restarted {
                service: service_name,
                force_update,
            }))
        }
        Verb::Stop if replicas == 0 => Ok(Edit::Nothing(Change::AlreadyStopped {
            service: service_name,
        })),
        Verb::Stop => {
            set_replicas(spec, 0);
            Ok(Edit::Send(Change::Stopped {
                service: service_name,
                replicas,
            }))
        }
        Verb::Start if replicas > 0 => Ok(Edit::Nothing(Change::AlreadyRunning {
            service: service_name,
            replicas,
        })),
        Verb::Start => {
            let replicas = target.unwrap_or(1);
            set_replicas(spec, replicas);
            Ok(Edit::Send(Change::Started {
                service: service_name,
                replicas,
            }))
        }
    }
}

/// Sets the value at `path` of `spec`, making the objects on the way.
fn set_at(spec: &mut Value, path: &[&str], value: Value) {
    let mut at = spec;
    for key in path {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        at = match at {
            Value::Object(map) => map.entry(key.to_string()).or_insert(Value::Null),
            _ => return,
        };
    }
    *at = value;
}

fn set_replicas(spec: &mut Value, replicas: u64) {
    set_at(
        spec,
        &["Mode", "Replicated", "Replicas"],
        Value::from(replicas),
    );
}

/// Sends `spec` as the new spec of service `id`, read at `version`. No registry
/// credentials go with it: the engine keeps the ones the service was deployed with.
fn write(engine: &Engine, id: &str, version: u64, spec: &Value) -> Result<(), SwarmError> {
    let path = format!("/services/{}/update?version={version}", encoded(id));
    send(engine, id, &path, spec)
}

/// Posts `spec` to the update endpoint `path` of service `id`.
fn send(engine: &Engine, id: &str, path: &str, spec: &Value) -> Result<(), SwarmError> {
    let action = format!("update of service {id}");
    match engine.run(engine.raw().post_json(engine.docker(), path, spec))? {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(SwarmError::Api {
            action,
            detail: "the service was removed meanwhile".to_string(),
        }),
        Err(e) => Err(SwarmError::api(action, e)),
    }
}

/// The engine's answer when the service changed since it was read.
fn out_of_sequence(error: &SwarmError) -> bool {
    matches!(error, SwarmError::Api { detail, .. } if detail.contains("out of sequence"))
}

fn encoded(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ioc() -> ManagedService {
        ManagedService {
            name: "ioc1".to_string(),
            kind: ServiceType::Ioc,
            key: "srv-ioc1".to_string(),
            service_name: "p_srv-ioc1".to_string(),
            file: std::path::PathBuf::from("/nonexistent/ioc1.yaml"),
        }
    }

    fn stored(replicas: u64) -> Value {
        json!({
            "Name": "p_srv-ioc1",
            "Labels": {"com.docker.stack.namespace": "p"},
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "img:1@sha256:abc",
                    "Healthcheck": {"Test": ["CMD-SHELL", "true"], "StartInterval": 5},
                },
                "ForceUpdate": 2,
            },
            "Mode": {"Replicated": {"Replicas": replicas}},
            "UpdateConfig": {"Parallelism": 1, "FailureAction": "rollback"},
        })
    }

    #[test]
    fn a_restart_bumps_force_update_and_changes_nothing_else() {
        let mut spec = stored(1);
        let edit = change(&ioc(), Verb::Restart, None, &mut spec).unwrap();
        assert!(matches!(edit, Edit::Send(Change::Restarted { .. })));
        let mut expected = stored(1);
        expected["TaskTemplate"]["ForceUpdate"] = json!(3);
        assert_eq!(spec, expected);
    }

    #[test]
    fn stop_and_start_change_only_the_replicas() {
        let mut spec = stored(1);
        let Edit::Send(stopped) = change(&ioc(), Verb::Stop, None, &mut spec).unwrap() else {
            panic!("a running service is stopped")
        };
        assert_eq!(
            stopped.to_string(),
            "stopped service p_srv-ioc1 (0 of 1 replica; --start runs it again)"
        );
        assert_eq!(spec, stored(0));
        let Edit::Send(started) = change(&ioc(), Verb::Start, Some(1), &mut spec).unwrap() else {
            panic!("a stopped service is started")
        };
        assert!(matches!(started, Change::Started { replicas: 1, .. }));
        assert_eq!(spec, stored(1));
    }

    #[test]
    fn what_is_already_so_is_left_alone() {
        let mut spec = stored(0);
        assert!(matches!(
            change(&ioc(), Verb::Stop, None, &mut spec).unwrap(),
            Edit::Nothing(Change::AlreadyStopped { .. })
        ));
        let mut spec = stored(2);
        let Edit::Nothing(running) = change(&ioc(), Verb::Start, Some(1), &mut spec).unwrap()
        else {
            panic!("a running service is not started again")
        };
        assert_eq!(
            running.to_string(),
            "service p_srv-ioc1 is already running (2 replicas wanted); nothing to start"
        );
        assert_eq!(spec, stored(2));
    }

    #[test]
    fn a_stopped_service_is_not_restarted_and_a_global_one_not_scaled() {
        let mut spec = stored(0);
        let error = change(&ioc(), Verb::Restart, None, &mut spec)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "ioc service \"ioc1\" is stopped (0 replicas): nothing to restart; run it with --start"
        );
        let mut global =
            json!({"Name": "p_srv-client", "Mode": {"Global": {}}, "TaskTemplate": {}});
        let client = ManagedService {
            kind: ServiceType::Global,
            name: "client".to_string(),
            ..ioc()
        };
        for verb in [Verb::Stop, Verb::Start] {
            let error = change(&client, verb, Some(1), &mut global).err().unwrap();
            assert!(
                error.to_string().starts_with(
                    "global service \"client\" runs in global mode (one task on every node) and cannot be scaled"
                ),
                "{error}"
            );
        }
        assert!(matches!(
            change(&client, Verb::Restart, None, &mut global).unwrap(),
            Edit::Send(Change::Restarted { .. })
        ));
        assert_eq!(global["TaskTemplate"]["ForceUpdate"], json!(1));
    }
}
