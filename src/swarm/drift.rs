//! Drift: whether a deployed service still is what its service file deploys. The
//! file is translated by the function deploy uses, and the result is compared with
//! the engine's copy of the spec field by field, without contacting a registry or
//! the engine again (the caller hands in the deployed service and the names of the
//! networks it is attached to).
//!
//! Both sides go through one normalisation: values the engine fills in when they
//! are absent (`Order: stop-first`, `EndpointSpec.Mode: vip`, `Isolation`, zero
//! counts) and the registry digest a deploy pins to a tagged image do not count.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use bollard::models::{Service, ServiceSpec, TaskSpec, TaskSpecContainerSpec};
use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use crate::swarm::deploy;
use crate::swarm::format::bytes_size;
use crate::swarm::managed::ManagedService;
use crate::swarm::status::UpdateNote;

/// The ServiceConsistency column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Consistency {
    Consistent,
    Drifted,
    NotDeployed,
    /// The file or the engine could not be read.
    Unknown,
}

impl Consistency {
    pub(crate) const ALL: [Consistency; 4] = [
        Consistency::Consistent,
        Consistency::Drifted,
        Consistency::NotDeployed,
        Consistency::Unknown,
    ];

    pub(crate) fn word(self) -> &'static str {
        match self {
            Consistency::Consistent => "consistent",
            Consistency::Drifted => "drifted",
            Consistency::NotDeployed => "not deployed",
            Consistency::Unknown => "unknown",
        }
    }

    /// The word, or its spelling with `-` for a space (easier in a `list` condition).
    pub(crate) fn parse(word: &str) -> Option<Consistency> {
        let word = word.replace('-', " ");
        Consistency::ALL.into_iter().find(|c| c.word() == word)
    }
}

impl serde::Serialize for Consistency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.word())
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// One field that differs: its path (`resources.Limits.MemoryBytes`) and both values
/// as an operator reads them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct FieldDiff {
    pub(crate) field: String,
    pub(crate) file: String,
    pub(crate) deployed: String,
}

impl fmt::Display for FieldDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: file {}, deployed {}",
            self.field, self.file, self.deployed
        )
    }
}

/// The verdict for one service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Drift {
    pub(crate) consistency: Consistency,
    pub(crate) fields: Vec<FieldDiff>,
    /// Why, besides the fields: the engine rolled an update back, the file is
    /// missing or cannot be read.
    pub(crate) note: Option<String>,
}

impl Drift {
    pub(crate) fn not_deployed() -> Drift {
        Drift {
            consistency: Consistency::NotDeployed,
            fields: Vec::new(),
            note: None,
        }
    }

    pub(crate) fn unknown(why: impl Into<String>) -> Drift {
        Drift {
            consistency: Consistency::Unknown,
            fields: Vec::new(),
            note: Some(why.into()),
        }
    }
}

/// Network id → name of every network the given deployed services attach to: one
/// inspect per distinct network (an IOC stack has one, `host`), made at once.
/// Swarm-scoped ids such as the `host` network of a stack are missing from the
/// networks list, hence inspects. An unknown id stays an id.
pub(crate) async fn network_names<'a>(
    docker: &bollard::Docker,
    services: impl Iterator<Item = &'a Service>,
) -> HashMap<String, String> {
    let targets: BTreeSet<String> = services
        .filter_map(|s| s.spec.as_ref()?.task_template.as_ref()?.networks.clone())
        .flatten()
        .filter_map(|n| n.target)
        .collect();
    stream::iter(targets)
        .map(|id| async move {
            let name = docker
                .inspect_network(
                    &id,
                    None::<bollard::query_parameters::InspectNetworkOptions>,
                )
                .await
                .ok()
                .and_then(|n| n.name);
            (id, name)
        })
        .buffer_unordered(8)
        .filter_map(|(id, name)| async move { name.map(|n| (id, n)) })
        .collect()
        .await
}

/// What deploying a service's file would create: the spec, or why it cannot be
/// told (the file is missing, unreadable or invalid).
pub(crate) type Planned = Result<ServiceSpec, PlanProblem>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlanProblem {
    NoFile(String),
    Unreadable(String),
}

/// Reads and translates the file of `service`, as a deploy into `namespace` would.
/// It needs no engine, so `list -p` does it while the engine is being asked.
pub(crate) fn plan(service: &ManagedService, namespace: &str) -> Planned {
    if !service.available() {
        return Err(PlanProblem::NoFile(format!(
            "no service file {} for the deployed service",
            service.file.display()
        )));
    }
    deploy::planned(service, namespace)
        .map(|plan| plan.spec)
        .map_err(|e| PlanProblem::Unreadable(e.to_string()))
}

/// Compares what the file deploys with the deployed service.
pub(crate) fn check(
    planned: &Planned,
    deployed: &Service,
    networks: &HashMap<String, String>,
    update: Option<&UpdateNote>,
) -> Drift {
    let planned = match planned {
        Ok(spec) => spec,
        Err(PlanProblem::NoFile(why)) => {
            return Drift {
                consistency: Consistency::Drifted,
                fields: Vec::new(),
                note: Some(why.clone()),
            };
        }
        Err(PlanProblem::Unreadable(why)) => return Drift::unknown(why.clone()),
    };
    let no_spec = ServiceSpec::default();
    let fields = differences(
        planned,
        deployed.spec.as_ref().unwrap_or(&no_spec),
        networks,
    );
    let rolled_back = update.filter(|u| u.rolled_back());
    let note = rolled_back.map(|u| {
        if u.message.is_empty() {
            "the engine rolled back the last update".to_string()
        } else {
            format!("the engine rolled back the last update: {}", u.message)
        }
    });
    Drift {
        consistency: if fields.is_empty() && note.is_none() {
            Consistency::Consistent
        } else {
            Consistency::Drifted
        },
        fields,
        note,
    }
}

/// The fields where the spec a deploy of the file would create differs from the
/// deployed one, in a fixed order.
pub(crate) fn differences(
    planned: &ServiceSpec,
    deployed: &ServiceSpec,
    networks: &HashMap<String, String>,
) -> Vec<FieldDiff> {
    // A file that names a tag leaves the digest to the deploy, which pins it.
    let keep_digest = image_of(planned).contains('@');
    let ours = comparable(planned, &HashMap::new(), true);
    // A service stopped on purpose (`service --stop`, 0 replicas) is still what its
    // file deploys: `--start` brings back the file's replicas.
    let started;
    let deployed = if replicas(deployed) == Some(0) && replicas(planned).is_some_and(|r| r > 0) {
        started = ServiceSpec {
            mode: planned.mode.clone(),
            ..deployed.clone()
        };
        &started
    } else {
        deployed
    };
    let theirs = comparable(deployed, networks, keep_digest);
    let mut out = Vec::new();
    for ((field, value), (_, other)) in ours.iter().zip(&theirs) {
        leaf_differences(field, value, other, &mut out);
    }
    out
}

/// The replica count of a replicated service (the engine's default, 1, when unset).
fn replicas(spec: &ServiceSpec) -> Option<i64> {
    let replicated = spec.mode.as_ref()?.replicated.as_ref()?;
    Some(replicated.replicas.unwrap_or(1))
}

fn image_of(spec: &ServiceSpec) -> &str {
    container(spec)
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

fn container(spec: &ServiceSpec) -> Option<&TaskSpecContainerSpec> {
    spec.task_template.as_ref()?.container_spec.as_ref()
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    stripped(serde_json::to_value(value).unwrap_or(Value::Null))
}

/// Drops what means "not set": nulls, false, zeros, empty texts, lists and maps.
fn stripped(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let map: serde_json::Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (k, stripped(v)))
                .filter(|(_, v)| !is_unset(v))
                .collect();
            Value::Object(map)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(stripped).collect()),
        other => other,
    }
}

fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Removes `key` from an object when it holds the engine's default `default`.
fn drop_default(value: &mut Value, key: &str, default: &str) {
    if let Value::Object(map) = value
        && map.get(key).and_then(Value::as_str) == Some(default)
    {
        map.remove(key);
    }
}

/// The compared fields of a spec, by the name an operator reads in the diff.
fn comparable(
    spec: &ServiceSpec,
    networks: &HashMap<String, String>,
    keep_digest: bool,
) -> Vec<(&'static str, Value)> {
    let no_task = TaskSpec::default();
    let task = spec.task_template.as_ref().unwrap_or(&no_task);
    let no_container = TaskSpecContainerSpec::default();
    let c = container(spec).unwrap_or(&no_container);
    let mut image = c.image.clone().unwrap_or_default();
    if !keep_digest && let Some((name, _)) = image.split_once('@') {
        image = name.to_string();
    }
    let mut env = c.env.clone().unwrap_or_default();
    env.sort();
    let mut placement = json(&task.placement);
    if let Value::Object(map) = &mut placement {
        // Pinned from the registry at deploy time, not written in the file.
        map.remove("Platforms");
    }
    let policy = |value: &Value| {
        let mut value = value.clone();
        drop_default(&mut value, "Order", "stop-first");
        drop_default(&mut value, "FailureAction", "pause");
        value
    };
    let attached: Vec<Value> = task
        .networks
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|n| {
            let target = n.target.clone().unwrap_or_default();
            let mut n = n;
            n.target = Some(networks.get(&target).cloned().unwrap_or(target));
            json(&n)
        })
        .collect();
    let mut endpoint = json(&spec.endpoint_spec);
    drop_default(&mut endpoint, "Mode", "vip");
    if let Some(Value::Array(ports)) = endpoint.get_mut("Ports") {
        for port in ports {
            drop_default(port, "Protocol", "tcp");
            drop_default(port, "PublishMode", "ingress");
        }
    }
    vec![
        ("image", Value::String(image)),
        ("command", json(&c.command)),
        ("args", json(&c.args)),
        ("env", json(&env)),
        ("mounts", json(&c.mounts)),
        ("resources", json(&task.resources)),
        ("placement", placement),
        ("labels", json(&spec.labels)),
        ("container labels", json(&c.labels)),
        ("health check", json(&c.health_check)),
        ("update config", policy(&json(&spec.update_config))),
        ("rollback config", policy(&json(&spec.rollback_config))),
        ("networks", Value::Array(attached)),
        ("ports", endpoint),
        ("mode", json(&spec.mode)),
        ("restart policy", json(&task.restart_policy)),
        (
            "q container",
            json(&serde_json::json!({
                "TTY": c.tty,
                "OpenStdin": c.open_stdin,
                "Hostname": c.hostname,
                "Dir": c.dir,
                "User": c.user,
            })),
        ),
    ]
}

/// What an operator reads for a value: texts bare, sizes and CPUs in Docker's
/// units, the rest as compact JSON; `(none)` for nothing.
fn shown(key: &str, value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) if key == "MemoryBytes" => {
            n.as_i64().map_or_else(|| n.to_string(), bytes_size)
        }
        Value::Number(n) if key == "NanoCPUs" => n
            .as_f64()
            .map_or_else(|| n.to_string(), |c| format!("{} CPUs", c / 1e9)),
        other => other.to_string(),
    }
}

/// Differences below `path`: objects key by key, lists of texts as what each side
/// has that the other lacks, anything else as a whole.
fn leaf_differences(path: &str, ours: &Value, theirs: &Value, out: &mut Vec<FieldDiff>) {
    if ours == theirs {
        return;
    }
    let key = path.rsplit('.').next().unwrap_or(path);
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                leaf_differences(
                    &format!("{path}.{k}"),
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b))
            if a.iter().chain(b).all(Value::is_string) && !a.is_empty() && !b.is_empty() =>
        {
            let only = |x: &[Value], y: &[Value]| -> String {
                let missing: Vec<String> = x
                    .iter()
                    .filter(|v| !y.contains(v))
                    .map(|v| shown(key, v))
                    .collect();
                if missing.is_empty() {
                    // Same items, other order.
                    format!(
                        "[{}]",
                        x.iter()
                            .map(|v| shown(key, v))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    missing.join(", ")
                }
            };
            out.push(FieldDiff {
                field: path.to_string(),
                file: only(a, b),
                deployed: only(b, a),
            });
        }
        _ => out.push(FieldDiff {
            field: path.to_string(),
            file: shown(key, ours),
            deployed: shown(key, theirs),
        }),
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::{
        Limit, NetworkAttachmentConfig, ServiceSpecUpdateConfig,
        ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, TaskSpec,
        TaskSpecResources,
    };

    use super::*;

    fn spec(image: &str, memory: i64) -> ServiceSpec {
        ServiceSpec {
            name: Some("p_srv-a".to_string()),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(image.to_string()),
                    env: Some(vec!["B=2".to_string(), "A=1".to_string()]),
                    ..Default::default()
                }),
                resources: Some(TaskSpecResources {
                    limits: Some(Limit {
                        memory_bytes: Some(memory),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                networks: Some(vec![NetworkAttachmentConfig {
                    target: Some("host".to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            update_config: Some(ServiceSpecUpdateConfig {
                parallelism: Some(1),
                failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// What the engine stores for `spec`: network ids, defaults filled in, the
    /// image pinned to a digest, the environment in another order.
    fn stored(mut spec: ServiceSpec) -> ServiceSpec {
        let task = spec.task_template.as_mut().unwrap();
        task.networks.as_mut().unwrap()[0].target = Some("s21rjd".to_string());
        let c = task.container_spec.as_mut().unwrap();
        c.image = Some(format!("{}@sha256:abc", c.image.clone().unwrap()));
        c.env.as_mut().unwrap().reverse();
        let update = spec.update_config.as_mut().unwrap();
        update.order = Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST);
        update.max_failure_ratio = Some(0.0);
        spec
    }

    fn names() -> HashMap<String, String> {
        HashMap::from([("s21rjd".to_string(), "host".to_string())])
    }

    #[test]
    fn what_the_engine_fills_in_is_no_drift() {
        let file = spec("img:1", 1 << 30);
        assert_eq!(differences(&file, &stored(file.clone()), &names()), []);
    }

    #[test]
    fn a_memory_limit_not_deployed_names_the_field() {
        let file = spec("img:1", 512 << 20);
        let deployed = stored(spec("img:1", 1 << 30));
        assert_eq!(
            differences(&file, &deployed, &names()),
            [FieldDiff {
                field: "resources.Limits.MemoryBytes".to_string(),
                file: "512MiB".to_string(),
                deployed: "1GiB".to_string(),
            }]
        );
    }

    #[test]
    fn an_image_and_an_environment_change_show_what_differs() {
        let mut file = spec("img:2", 1 << 30);
        file.task_template
            .as_mut()
            .unwrap()
            .container_spec
            .as_mut()
            .unwrap()
            .env = Some(vec!["A=1".to_string(), "B=3".to_string()]);
        let deployed = stored(spec("img:1", 1 << 30));
        let diffs: Vec<String> = differences(&file, &deployed, &names())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            diffs,
            [
                "image: file img:2, deployed img:1",
                "env: file B=3, deployed B=2"
            ]
        );
        // A digest written in the file is compared as written.
        let pinned = spec("img:1@sha256:def", 1 << 30);
        let diffs = differences(&pinned, &deployed, &names());
        assert_eq!(diffs[0].deployed, "img:1@sha256:abc");
    }

    #[test]
    fn a_stopped_service_is_no_drift_but_other_replicas_are() {
        let with_replicas = |replicas: i64| {
            let mut spec = spec("img:1", 1 << 30);
            spec.mode = Some(bollard::models::ServiceSpecMode {
                replicated: Some(bollard::models::ServiceSpecModeReplicated {
                    replicas: Some(replicas),
                }),
                ..Default::default()
            });
            spec
        };
        let file = with_replicas(1);
        assert_eq!(differences(&file, &stored(with_replicas(0)), &names()), []);
        let diffs: Vec<String> = differences(&file, &stored(with_replicas(2)), &names())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(diffs, ["mode.Replicated.Replicas: file 1, deployed 2"]);
    }

    #[test]
    fn words_parse_back() {
        for c in Consistency::ALL {
            assert_eq!(Consistency::parse(c.word()), Some(c));
        }
        assert_eq!(
            Consistency::parse("not-deployed"),
            Some(Consistency::NotDeployed)
        );
    }
}
