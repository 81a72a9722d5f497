//! Compose file → swarm service specs, equal to what `docker stack deploy` sends to
//! the engine for the same file and stack (docker/cli `cli/compose/convert` plus the
//! loader's defaults and the API client's image tagging). Pure: the folder of the
//! compose file and the environment are inputs, the daemon is not involved.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use bollard::models::{
    EndpointPortConfig, EndpointSpec, HealthConfig, Limit, Mount as MountSpec, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig, NetworkAttachmentConfig,
    NetworkCreateRequest, ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecRollbackConfig, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum as UpdateAction,
    ServiceSpecUpdateConfigOrderEnum as UpdateOrder, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecPrivileges, TaskSpecPlacement, TaskSpecPlacementPreferences,
    TaskSpecPlacementSpread, TaskSpecResources, TaskSpecRestartPolicy,
};

use crate::compose::ComposeError;
use crate::compose::image;
use crate::compose::interpolate::Env;
use crate::compose::model::{
    ComposeFile, Deploy, HealthCheck, KeyValues, Mount, MountLong, NamedVolume, Network, Port,
    ResourceAmounts, Scalar, Service, ServiceNetworks, StringOrList, UpdateConfig,
};
use crate::compose::units::{duration_nanos, go_float, nano_cpus, ram_bytes, shell_words};

/// Label of everything deployed into a stack: its namespace (the stack prefix).
pub(crate) const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";
/// Service label keeping the image as written in the compose file.
pub(crate) const IMAGE_LABEL: &str = "com.docker.stack.image";
/// The network of services that name none.
const DEFAULT_NETWORK: &str = "default";
/// Driver of the stack networks that name none.
const DEFAULT_NETWORK_DRIVER: &str = "overlay";

/// Where a compose file is deployed and read.
pub(crate) struct Stack<'a> {
    /// The stack prefix: services are `<namespace>_<key>`.
    pub(crate) namespace: &'a str,
    /// The compose file, named in errors.
    pub(crate) file: &'a Path,
    /// Absolute folder of the compose file (see [`compose_dir`]): relative bind
    /// sources are resolved against it.
    pub(crate) dir: &'a Path,
    /// The deploying process's environment: `~` in bind sources and environment
    /// entries without a value are resolved from it, as docker does.
    pub(crate) env: Env<'a>,
}

/// A network a service is attached to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NetworkPlan {
    /// Exists outside the stack (`external: true`), under this name.
    External(String),
    /// Belongs to the stack: created with these options when missing.
    Stack(Box<NetworkCreateRequest>),
}

impl NetworkPlan {
    pub(crate) fn name(&self) -> &str {
        match self {
            NetworkPlan::External(name) => name,
            NetworkPlan::Stack(request) => &request.name,
        }
    }
}

/// One service of the file, ready to deploy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServicePlan {
    /// The spec as `docker stack deploy` creates it (`ForceUpdate` 0, image not yet
    /// pinned to a registry digest).
    pub(crate) spec: ServiceSpec,
    /// The networks the spec refers to, by name.
    pub(crate) networks: Vec<NetworkPlan>,
}

/// Every service of a compose file, by its key in the file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Translation {
    pub(crate) services: BTreeMap<String, ServicePlan>,
}

/// Translates every service of `file`; the first problem is an error naming the
/// file and the key path.
pub(crate) fn translate(file: &ComposeFile, stack: &Stack) -> Result<Translation, ComposeError> {
    let mut services = BTreeMap::new();
    for (key, service) in &file.services {
        let plan = translate_service(key, service, file, stack).map_err(|message| {
            ComposeError::Invalid {
                file: stack.file.to_path_buf(),
                message: format!("services.{key}{message}"),
            }
        })?;
        services.insert(key.clone(), plan);
    }
    Ok(Translation { services })
}

/// The absolute, lexically cleaned folder of a compose file, as the docker CLI
/// computes it (`filepath.Abs(filepath.Dir(file))`, no symlinks resolved).
pub(crate) fn compose_dir(file: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(file)?;
    let dir = absolute.parent().unwrap_or(Path::new("/"));
    Ok(clean(dir))
}

/// Go's `filepath.Clean` for absolute paths: drops `.` and folds `..`.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Errors inside a service: the message starts with the key path below
/// `services.<key>` (`.deploy.replicas: …`).
type Problem = String;

fn at(path: &str, message: impl std::fmt::Display) -> Problem {
    format!("{path}: {message}")
}

fn scalar_text(value: &Scalar) -> String {
    match value {
        Scalar::Text(v) => v.clone(),
        Scalar::Int(v) => v.to_string(),
        Scalar::UInt(v) => v.to_string(),
        Scalar::Float(v) => go_float(*v),
    }
}

/// A label-like mapping; a list item without `=` and a null value mean "".
fn string_map(values: Option<&KeyValues>) -> BTreeMap<String, String> {
    match values {
        None => BTreeMap::new(),
        Some(KeyValues::Map(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map(scalar_text).unwrap_or_default()))
            .collect(),
        Some(KeyValues::List(items)) => items
            .iter()
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (item.clone(), String::new()),
            })
            .collect(),
    }
}

fn with_namespace(labels: BTreeMap<String, String>, namespace: &str) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = labels.into_iter().collect();
    labels.insert(NAMESPACE_LABEL.to_string(), namespace.to_string());
    labels
}

/// `KEY=value` entries, sorted. An entry without a value, or with an empty one,
/// takes the deploying environment's value when it has one; otherwise an entry
/// without a value stays a bare `KEY`.
fn environment(values: Option<&KeyValues>, env: Env) -> Vec<String> {
    let entries: BTreeMap<String, Option<String>> = match values {
        None => BTreeMap::new(),
        Some(KeyValues::Map(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map(scalar_text)))
            .collect(),
        Some(KeyValues::List(items)) => items
            .iter()
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (item.clone(), None),
            })
            .collect(),
    };
    let mut out: Vec<String> = entries
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                Some(v) if !v.is_empty() => Some(v),
                other => env(&name).or(other),
            };
            match value {
                Some(v) => format!("{name}={v}"),
                None => name,
            }
        })
        .collect();
    out.sort();
    out
}

fn command(value: Option<&StringOrList>, path: &str) -> Result<Option<Vec<String>>, Problem> {
    let words = match value {
        None => return Ok(None),
        Some(StringOrList::List(items)) => items.clone(),
        Some(StringOrList::One(text)) => shell_words(text).map_err(|e| at(path, e))?,
    };
    Ok((!words.is_empty()).then_some(words))
}

fn non_empty(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

fn translate_service(
    key: &str,
    service: &Service,
    file: &ComposeFile,
    stack: &Stack,
) -> Result<ServicePlan, Problem> {
    if service.image.trim().is_empty() {
        return Err(at(".image", "must name an image"));
    }
    let default_deploy = Deploy::default();
    let deploy = service.deploy.as_ref().unwrap_or(&default_deploy);
    let (networks, plans) = networks(key, service, file, stack)?;

    let mut service_labels = with_namespace(string_map(deploy.labels.as_ref()), stack.namespace);
    service_labels.insert(IMAGE_LABEL.to_string(), service.image.clone());

    let env = environment(service.environment.as_ref(), stack.env);
    let mounts = service
        .volumes
        .iter()
        .enumerate()
        .map(|(i, m)| mount(m, file, stack).map_err(|e| at(&format!(".volumes[{i}]"), e)))
        .collect::<Result<Vec<_>, _>>()?;

    let container = TaskSpecContainerSpec {
        image: Some(image::tagged(&service.image)),
        labels: Some(with_namespace(
            string_map(service.labels.as_ref()),
            stack.namespace,
        )),
        command: command(service.entrypoint.as_ref(), ".entrypoint")?,
        args: command(service.command.as_ref(), ".command")?,
        hostname: non_empty(service.hostname.as_ref()),
        env: (!env.is_empty()).then_some(env),
        dir: non_empty(service.working_dir.as_ref()),
        user: non_empty(service.user.as_ref()),
        privileges: Some(TaskSpecContainerSpecPrivileges::default()),
        tty: service.tty.then_some(true),
        open_stdin: service.stdin_open.then_some(true),
        mounts: (!mounts.is_empty()).then_some(mounts),
        health_check: healthcheck(service.healthcheck.as_ref())?,
        hosts: extra_hosts(&service.extra_hosts)?,
        ..Default::default()
    };

    let placement = deploy.placement.clone().unwrap_or_default();
    let task = TaskSpec {
        container_spec: Some(container),
        resources: Some(resources(deploy)?),
        restart_policy: restart_policy(deploy)?,
        placement: Some(TaskSpecPlacement {
            constraints: (!placement.constraints.is_empty()).then_some(placement.constraints),
            preferences: (!placement.preferences.is_empty()).then(|| {
                placement
                    .preferences
                    .into_iter()
                    .map(|p| TaskSpecPlacementPreferences {
                        spread: Some(TaskSpecPlacementSpread {
                            spread_descriptor: Some(p.spread),
                        }),
                    })
                    .collect()
            }),
            max_replicas: match placement.max_replicas_per_node {
                None | Some(0) => None,
                Some(n) => Some(
                    i64::try_from(n)
                        .map_err(|_| at(".deploy.placement.max_replicas_per_node", "too large"))?,
                ),
            },
            platforms: None,
        }),
        networks: Some(networks),
        force_update: Some(0),
        ..Default::default()
    };

    let spec = ServiceSpec {
        name: Some(format!("{}_{key}", stack.namespace)),
        labels: Some(service_labels),
        task_template: Some(task),
        mode: Some(mode(deploy)?),
        update_config: update_config(deploy.update_config.as_ref(), ".deploy.update_config")?.map(
            |c| ServiceSpecUpdateConfig {
                parallelism: c.parallelism,
                delay: c.delay,
                failure_action: c.failure_action.map(|a| match a {
                    FailureAction::Continue => UpdateAction::CONTINUE,
                    FailureAction::Pause => UpdateAction::PAUSE,
                    FailureAction::Rollback => UpdateAction::ROLLBACK,
                }),
                monitor: c.monitor,
                max_failure_ratio: c.max_failure_ratio,
                order: c.order.map(|o| match o {
                    Order::StopFirst => UpdateOrder::STOP_FIRST,
                    Order::StartFirst => UpdateOrder::START_FIRST,
                }),
            },
        ),
        rollback_config: rollback_config(deploy.rollback_config.as_ref())?,
        endpoint_spec: Some(endpoint(deploy, &service.ports)?),
        ..Default::default()
    };
    Ok(ServicePlan {
        spec,
        networks: plans,
    })
}

fn mode(deploy: &Deploy) -> Result<ServiceSpecMode, Problem> {
    let replicas = deploy
        .replicas
        .map(|r| i64::try_from(r).map_err(|_| at(".deploy.replicas", "too large")))
        .transpose()?;
    match deploy.mode.as_deref() {
        None | Some("") | Some("replicated") => Ok(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas }),
            ..Default::default()
        }),
        Some("global") if replicas.is_some() => Err(at(
            ".deploy.replicas",
            "replicas can only be used with replicated mode",
        )),
        Some("global") => Ok(ServiceSpecMode {
            global: Some(HashMap::new()),
            ..Default::default()
        }),
        Some(other) => Err(at(
            ".deploy.mode",
            format!("unknown mode \"{other}\" (expected replicated or global)"),
        )),
    }
}

fn amounts(amounts: &ResourceAmounts, path: &str) -> Result<(Option<i64>, Option<i64>), Problem> {
    let cpus = amounts
        .cpus
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(nano_cpus)
        .transpose()
        .map_err(|e| at(&format!("{path}.cpus"), e))?
        .filter(|c| *c != 0);
    let memory = amounts
        .memory
        .as_deref()
        .map(ram_bytes)
        .transpose()
        .map_err(|e| at(&format!("{path}.memory"), e))?
        .filter(|m| *m != 0);
    Ok((cpus, memory))
}

fn resources(deploy: &Deploy) -> Result<TaskSpecResources, Problem> {
    let mut out = TaskSpecResources::default();
    let Some(resources) = &deploy.resources else {
        return Ok(out);
    };
    if let Some(limits) = &resources.limits {
        let (nano_cpus, memory_bytes) = amounts(limits, ".deploy.resources.limits")?;
        out.limits = Some(Limit {
            nano_cpus,
            memory_bytes,
            pids: None,
        });
    }
    if let Some(reservations) = &resources.reservations {
        let (nano_cpus, memory_bytes) = amounts(reservations, ".deploy.resources.reservations")?;
        out.reservations = Some(ResourceObject {
            nano_cpus,
            memory_bytes,
            generic_resources: None,
        });
    }
    Ok(out)
}

fn duration(value: Option<&String>, path: &str) -> Result<Option<i64>, Problem> {
    value
        .map(|d| duration_nanos(d).map_err(|e| at(path, e)))
        .transpose()
}

/// `extra_hosts:` as docker's `convertExtraHosts` makes it: each `host:address`
/// (split at the first colon, so an IPv6 address keeps its own) becomes swarm's
/// `address host`, in the order written.
fn extra_hosts(entries: &[String]) -> Result<Option<Vec<String>>, Problem> {
    let hosts = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| match entry.split_once(':') {
            Some((host, address)) if !host.trim().is_empty() && !address.trim().is_empty() => {
                Ok(format!("{address} {host}"))
            }
            _ => Err(at(
                &format!(".extra_hosts[{i}]"),
                format!("\"{entry}\" is not host:address"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!hosts.is_empty()).then_some(hosts))
}

/// `healthcheck:` as docker's `convertHealthcheck` makes it: `disable` is `[NONE]`
/// alone, a test written as one string runs in the image's shell (`CMD-SHELL`), and
/// durations and retries of 0 are left out (the engine reads them as "inherit").
fn healthcheck(check: Option<&HealthCheck>) -> Result<Option<HealthConfig>, Problem> {
    let Some(check) = check else {
        return Ok(None);
    };
    let path = ".healthcheck";
    let test = match &check.test {
        None => Vec::new(),
        Some(StringOrList::One(command)) => vec!["CMD-SHELL".to_string(), command.clone()],
        Some(StringOrList::List(items)) => items.clone(),
    };
    if check.disable {
        if !test.is_empty() {
            return Err(at(path, "test and disable can't be set at the same time"));
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".to_string()]),
            ..Default::default()
        }));
    }
    // The engine refuses what lies between 0 and its minimum of 1 ms, negatives too;
    // said here with the key's path instead.
    let period = |value: Option<&String>, key: &str| -> Result<Option<i64>, Problem> {
        let key_path = format!("{path}.{key}");
        match duration(value, &key_path)? {
            None | Some(0) => Ok(None),
            Some(nanos) if nanos < 1_000_000 => Err(at(&key_path, "must be 0 or at least 1ms")),
            Some(nanos) => Ok(Some(nanos)),
        }
    };
    Ok(Some(HealthConfig {
        test: (!test.is_empty()).then_some(test),
        interval: period(check.interval.as_ref(), "interval")?,
        timeout: period(check.timeout.as_ref(), "timeout")?,
        retries: check
            .retries
            .filter(|n| *n != 0)
            .map(|n| i64::try_from(n).map_err(|_| at(&format!("{path}.retries"), "too large")))
            .transpose()?,
        start_period: period(check.start_period.as_ref(), "start_period")?,
        start_interval: None,
    }))
}

fn restart_policy(deploy: &Deploy) -> Result<Option<TaskSpecRestartPolicy>, Problem> {
    use bollard::models::TaskSpecRestartPolicyConditionEnum as Condition;
    let Some(policy) = &deploy.restart_policy else {
        return Ok(None);
    };
    let path = ".deploy.restart_policy";
    let condition = match policy.condition.as_deref() {
        None | Some("") => None,
        Some("none") => Some(Condition::NONE),
        Some("on-failure") => Some(Condition::ON_FAILURE),
        Some("any") => Some(Condition::ANY),
        Some(other) => {
            return Err(at(
                &format!("{path}.condition"),
                format!("unknown condition \"{other}\" (expected none, on-failure or any)"),
            ));
        }
    };
    Ok(Some(TaskSpecRestartPolicy {
        condition,
        delay: duration(policy.delay.as_ref(), &format!("{path}.delay"))?,
        max_attempts: policy
            .max_attempts
            .map(|n| i64::try_from(n).map_err(|_| at(&format!("{path}.max_attempts"), "too large")))
            .transpose()?,
        window: duration(policy.window.as_ref(), &format!("{path}.window"))?,
    }))
}

enum FailureAction {
    Continue,
    Pause,
    Rollback,
}

enum Order {
    StopFirst,
    StartFirst,
}

/// An update or rollback policy with docker's parallelism default of 1.
struct Policy {
    parallelism: Option<i64>,
    delay: Option<i64>,
    failure_action: Option<FailureAction>,
    monitor: Option<i64>,
    max_failure_ratio: Option<f64>,
    order: Option<Order>,
}

fn update_config(config: Option<&UpdateConfig>, path: &str) -> Result<Option<Policy>, Problem> {
    let Some(config) = config else {
        return Ok(None);
    };
    let parallelism = i64::try_from(config.parallelism.unwrap_or(1))
        .map_err(|_| at(&format!("{path}.parallelism"), "too large"))?;
    let failure_action = match config.failure_action.as_deref() {
        None | Some("") => None,
        Some("continue") => Some(FailureAction::Continue),
        Some("pause") => Some(FailureAction::Pause),
        Some("rollback") => Some(FailureAction::Rollback),
        Some(other) => {
            return Err(at(
                &format!("{path}.failure_action"),
                format!("unknown action \"{other}\" (expected continue, pause or rollback)"),
            ));
        }
    };
    let order = match config.order.as_deref() {
        None | Some("") => None,
        Some("stop-first") => Some(Order::StopFirst),
        Some("start-first") => Some(Order::StartFirst),
        Some(other) => {
            return Err(at(
                &format!("{path}.order"),
                format!("unknown order \"{other}\" (expected stop-first or start-first)"),
            ));
        }
    };
    let nonzero = |d: Option<i64>| d.filter(|n| *n != 0);
    Ok(Some(Policy {
        parallelism: Some(parallelism),
        delay: nonzero(duration(config.delay.as_ref(), &format!("{path}.delay"))?),
        failure_action,
        monitor: nonzero(duration(
            config.monitor.as_ref(),
            &format!("{path}.monitor"),
        )?),
        // docker sends 0 when unset; the engine cannot tell 0 from absent.
        max_failure_ratio: config.max_failure_ratio.filter(|r| *r != 0.0),
        order,
    }))
}

fn rollback_config(
    config: Option<&UpdateConfig>,
) -> Result<Option<ServiceSpecRollbackConfig>, Problem> {
    use bollard::models::ServiceSpecRollbackConfigFailureActionEnum as Action;
    use bollard::models::ServiceSpecRollbackConfigOrderEnum as RollbackOrder;
    let path = ".deploy.rollback_config";
    let Some(policy) = update_config(config, path)? else {
        return Ok(None);
    };
    let failure_action = match policy.failure_action {
        None => None,
        Some(FailureAction::Continue) => Some(Action::CONTINUE),
        Some(FailureAction::Pause) => Some(Action::PAUSE),
        Some(FailureAction::Rollback) => {
            return Err(at(
                &format!("{path}.failure_action"),
                "a rollback cannot roll back (expected continue or pause)",
            ));
        }
    };
    Ok(Some(ServiceSpecRollbackConfig {
        parallelism: policy.parallelism,
        delay: policy.delay,
        failure_action,
        monitor: policy.monitor,
        max_failure_ratio: policy.max_failure_ratio,
        order: policy.order.map(|o| match o {
            Order::StopFirst => RollbackOrder::STOP_FIRST,
            Order::StartFirst => RollbackOrder::START_FIRST,
        }),
    }))
}

/// Ports and endpoint mode. Ports are sorted by published port, like docker does.
fn endpoint(deploy: &Deploy, ports: &[Port]) -> Result<EndpointSpec, Problem> {
    use bollard::models::EndpointSpecModeEnum;
    let mode = match deploy
        .endpoint_mode
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") => None,
        Some("vip") => Some(EndpointSpecModeEnum::VIP),
        Some("dnsrr") => Some(EndpointSpecModeEnum::DNSRR),
        Some(other) => {
            return Err(at(
                ".deploy.endpoint_mode",
                format!("unknown endpoint mode \"{other}\" (expected vip or dnsrr)"),
            ));
        }
    };
    let mut configs = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!(".ports[{i}]");
        match port {
            Port::Short(text) => configs.extend(short_port(text).map_err(|e| at(&path, e))?),
            Port::Long(long) => configs.push(EndpointPortConfig {
                protocol: long
                    .protocol
                    .as_deref()
                    .map(|p| protocol(p).map_err(|e| at(&format!("{path}.protocol"), e)))
                    .transpose()?
                    .flatten(),
                target_port: Some(i64::from(long.target)),
                published_port: long.published.filter(|p| *p != 0).map(i64::from),
                publish_mode: long
                    .mode
                    .as_deref()
                    .map(|m| publish_mode(m).map_err(|e| at(&format!("{path}.mode"), e)))
                    .transpose()?
                    .flatten(),
                ..Default::default()
            }),
        }
    }
    configs.sort_by_key(|p| p.published_port.unwrap_or(0));
    Ok(EndpointSpec {
        mode,
        ports: (!configs.is_empty()).then_some(configs),
    })
}

fn protocol(text: &str) -> Result<Option<bollard::models::EndpointPortConfigProtocolEnum>, String> {
    use bollard::models::EndpointPortConfigProtocolEnum as P;
    match text {
        "" => Ok(None),
        "tcp" => Ok(Some(P::TCP)),
        "udp" => Ok(Some(P::UDP)),
        "sctp" => Ok(Some(P::SCTP)),
        other => Err(format!(
            "unknown protocol \"{other}\" (expected tcp, udp or sctp)"
        )),
    }
}

fn publish_mode(
    text: &str,
) -> Result<Option<bollard::models::EndpointPortConfigPublishModeEnum>, String> {
    use bollard::models::EndpointPortConfigPublishModeEnum as M;
    match text {
        "" => Ok(None),
        "ingress" => Ok(Some(M::INGRESS)),
        "host" => Ok(Some(M::HOST)),
        other => Err(format!(
            "unknown mode \"{other}\" (expected host or ingress)"
        )),
    }
}

fn port_range(text: &str) -> Result<(u32, u32), String> {
    let number = |t: &str| {
        t.parse::<u16>()
            .map(u32::from)
            .map_err(|_| format!("invalid port \"{t}\""))
    };
    match text.split_once('-') {
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            if end < start {
                return Err(format!("invalid port range \"{text}\""));
            }
            Ok((start, end))
        }
        None => number(text).map(|p| (p, p)),
    }
}

/// `[published:]target[/protocol]`, ranges allowed, published in ingress mode.
fn short_port(text: &str) -> Result<Vec<EndpointPortConfig>, String> {
    use bollard::models::EndpointPortConfigPublishModeEnum as M;
    let (ports, proto) = match text.rsplit_once('/') {
        Some((ports, proto)) => (ports, proto.to_ascii_lowercase()),
        None => (text, "tcp".to_string()),
    };
    let protocol = protocol(&proto)?.ok_or_else(|| format!("missing protocol in \"{text}\""))?;
    let parts: Vec<&str> = ports.split(':').collect();
    let (host, container) = match parts.as_slice() {
        [container] => (None, *container),
        [host, container] => (Some(*host).filter(|h| !h.is_empty()), *container),
        _ => {
            return Err(format!(
                "\"{text}\": a host address in a port is not supported (swarm services listen on every address)"
            ));
        }
    };
    let (start, end) = port_range(container)?;
    let host = host.map(port_range).transpose()?;
    if let Some((host_start, host_end)) = host
        && end - start != host_end - host_start
        && end != start
    {
        return Err(format!("\"{text}\": the port ranges differ in length"));
    }
    let mut entries: Vec<(String, Vec<u32>)> = (start..=end)
        .map(|target| {
            let offset = target - start;
            let published = match host {
                None => vec![0],
                // One target and a range of published ports: one entry per port.
                Some((host_start, host_end)) if start == end => (host_start..=host_end).collect(),
                Some((host_start, _)) => vec![host_start + offset],
            };
            (format!("{target}/{proto}"), published)
        })
        .collect();
    // docker orders the ports of one entry by their text ("1000/tcp" < "80/tcp").
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (key, published) in entries {
        let target: u32 = key
            .split('/')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or_default();
        for p in published {
            out.push(EndpointPortConfig {
                protocol: Some(protocol),
                target_port: Some(i64::from(target)),
                published_port: (p != 0).then_some(i64::from(p)),
                publish_mode: Some(M::INGRESS),
                ..Default::default()
            });
        }
    }
    Ok(out)
}

/// `[source:]target[:ro|rw]`: a source starting with `.`, `/` or `~` is a bind mount,
/// any other source a named volume, no source an anonymous volume.
fn short_mount(text: &str) -> Result<MountLong, String> {
    if text.is_empty() {
        return Err("empty volume".to_string());
    }
    let parts: Vec<&str> = text.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("\"{text}\": empty section between colons"));
    }
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, options] => (Some(*source), *target, Some(*options)),
        _ => return Err(format!("\"{text}\": too many colons")),
    };
    let mut read_only = false;
    for option in options.into_iter().flat_map(|o| o.split(',')) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            other => {
                return Err(format!(
                    "\"{text}\": unsupported option \"{other}\" (expected ro or rw)"
                ));
            }
        }
    }
    let kind = match source {
        Some(s) if s.starts_with(['.', '/', '~']) => "bind",
        _ => "volume",
    };
    Ok(MountLong {
        kind: kind.to_string(),
        source: source.map(str::to_string),
        target: target.to_string(),
        read_only,
    })
}

fn mount(entry: &Mount, file: &ComposeFile, stack: &Stack) -> Result<MountSpec, String> {
    let long = match entry {
        Mount::Short(text) => short_mount(text)?,
        Mount::Long(long) => long.clone(),
    };
    let source = long.source.clone().filter(|s| !s.is_empty());
    let base = MountSpec {
        target: Some(long.target.clone()),
        read_only: long.read_only.then_some(true),
        ..Default::default()
    };
    match long.kind.as_str() {
        "bind" => {
            let Some(source) = source else {
                return Err("a bind mount needs a source".to_string());
            };
            let source = match (source.strip_prefix('~'), (stack.env)("HOME")) {
                (Some(rest), Some(home)) => format!("{home}{rest}"),
                _ => source,
            };
            let source = if source.starts_with('/') {
                source
            } else {
                clean(&stack.dir.join(&source))
                    .to_string_lossy()
                    .into_owned()
            };
            Ok(MountSpec {
                typ: Some(MountType::BIND),
                source: Some(source),
                ..base
            })
        }
        "volume" => {
            let Some(source) = source else {
                return Ok(MountSpec {
                    typ: Some(MountType::VOLUME),
                    ..base
                });
            };
            let Some(volume) = file.volumes.get(&source) else {
                return Err(format!(
                    "undefined volume \"{source}\" (declare it under the top-level `volumes:`)"
                ));
            };
            let volume = volume.clone().unwrap_or_default();
            let NamedVolume {
                external,
                name,
                driver,
                driver_opts,
                labels,
            } = volume;
            let scoped = match name {
                Some(name) => name,
                None if external => source.clone(),
                None => format!("{}_{source}", stack.namespace),
            };
            let mut options = MountVolumeOptions::default();
            if !external {
                options.labels = Some(with_namespace(string_map(labels.as_ref()), stack.namespace));
                if driver.is_some() || !driver_opts.is_empty() {
                    options.driver_config = Some(MountVolumeOptionsDriverConfig {
                        name: driver,
                        options: (!driver_opts.is_empty()).then(|| {
                            driver_opts
                                .iter()
                                .map(|(k, v)| (k.clone(), scalar_text(v)))
                                .collect()
                        }),
                    });
                }
            }
            Ok(MountSpec {
                typ: Some(MountType::VOLUME),
                source: Some(scoped),
                volume_options: Some(options),
                ..base
            })
        }
        other => Err(format!(
            "unsupported mount type \"{other}\" (expected bind or volume)"
        )),
    }
}

/// Network names docker treats as built in: they take no aliases and are never
/// looked up before a deploy.
fn user_defined(network: &str) -> bool {
    !matches!(network, "default" | "bridge" | "host" | "none") && !network.starts_with("container:")
}

fn networks(
    key: &str,
    service: &Service,
    file: &ComposeFile,
    stack: &Stack,
) -> Result<(Vec<NetworkAttachmentConfig>, Vec<NetworkPlan>), Problem> {
    let attached: BTreeMap<String, Vec<String>> = match &service.networks {
        None => BTreeMap::new(),
        Some(ServiceNetworks::List(names)) => {
            names.iter().map(|n| (n.clone(), Vec::new())).collect()
        }
        Some(ServiceNetworks::Map(map)) => map
            .iter()
            .map(|(n, settings)| {
                let aliases = settings
                    .as_ref()
                    .map(|s| s.aliases.clone())
                    .unwrap_or_default();
                (n.clone(), aliases)
            })
            .collect(),
    };
    let attached = if attached.is_empty() {
        BTreeMap::from([(DEFAULT_NETWORK.to_string(), Vec::new())])
    } else {
        attached
    };
    let mut configs = Vec::new();
    let mut plans = Vec::new();
    for (name, mut aliases) in attached {
        let declared = file.networks.get(&name);
        if declared.is_none() && name != DEFAULT_NETWORK {
            return Err(at(
                ".networks",
                format!(
                    "undefined network \"{name}\" (declare it under the top-level `networks:`)"
                ),
            ));
        }
        let Network {
            external,
            name: real_name,
            driver,
            driver_opts,
            attachable,
            internal,
            labels,
        } = declared.cloned().flatten().unwrap_or_default();
        let target = match real_name {
            Some(n) if !n.is_empty() => n,
            _ if external => name.clone(),
            _ => format!("{}_{name}", stack.namespace),
        };
        if user_defined(&target) {
            aliases.push(key.to_string());
        }
        plans.push(if external {
            NetworkPlan::External(target.clone())
        } else {
            NetworkPlan::Stack(Box::new(NetworkCreateRequest {
                name: target.clone(),
                driver: Some(driver.unwrap_or_else(|| DEFAULT_NETWORK_DRIVER.to_string())),
                internal: Some(internal),
                attachable: Some(attachable),
                options: (!driver_opts.is_empty()).then(|| {
                    driver_opts
                        .iter()
                        .map(|(k, v)| (k.clone(), scalar_text(v)))
                        .collect()
                }),
                labels: Some(with_namespace(string_map(labels.as_ref()), stack.namespace)),
                ..Default::default()
            }))
        });
        configs.push(NetworkAttachmentConfig {
            target: Some(target),
            aliases: (!aliases.is_empty()).then_some(aliases),
            driver_opts: None,
        });
    }
    configs.sort_by(|a, b| a.target.cmp(&b.target));
    Ok((configs, plans))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::load;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn fixture(path: &str) -> String {
        let full = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
        std::fs::read_to_string(format!("{full}{path}")).unwrap()
    }

    fn translate_text(text: &str, namespace: &str, dir: &str) -> Result<Translation, ComposeError> {
        let file = Path::new(dir).join("compose.yaml");
        let model = load::parse(text, &file, &no_env)?;
        translate(
            &model,
            &Stack {
                namespace,
                file: &file,
                dir: Path::new(dir),
                env: &no_env,
            },
        )
    }

    /// The `.Spec` docker stored for the original tool's IOC file is what we build,
    /// apart from what the engine adds itself and the network ID it resolved.
    #[test]
    fn ioc_file_translates_to_the_spec_docker_stored() {
        let translation = translate_text(
            &fixture("expected/worker_test_1/compose-swarm.yaml"),
            "iasf",
            "/opt/IocDockHome/IocDock-data/swarm/worker_test_1",
        )
        .unwrap();
        let plan = &translation.services["srv-worker_test_1"];
        assert_eq!(plan.networks, [NetworkPlan::External("host".to_string())]);
        let ours = serde_json::to_value(&plan.spec).unwrap();
        let mut theirs: serde_json::Value = serde_json::from_str(&fixture(
            "docker-stack-deploy/worker_test_1.service-spec.json",
        ))
        .unwrap();
        // The fixture was read with the engine's defaults inserted (insertDefaults):
        // these fields are filled by the engine, not sent by `docker stack deploy`.
        let template = &mut theirs["TaskTemplate"];
        for engine_default in ["StopGracePeriod", "DNSConfig", "Isolation"] {
            template["ContainerSpec"]
                .as_object_mut()
                .unwrap()
                .remove(engine_default);
        }
        // The docker CLI of the fixture prints this field (unknown to API 1.41) itself.
        template["ContainerSpec"]["Privileges"] = serde_json::json!({});
        template.as_object_mut().unwrap().remove("RestartPolicy");
        template.as_object_mut().unwrap().remove("Runtime");
        let theirs_object = theirs.as_object_mut().unwrap();
        theirs_object.remove("RollbackConfig");
        theirs_object.remove("EndpointSpec");
        let update = theirs["UpdateConfig"].as_object_mut().unwrap();
        update.remove("Monitor");
        update.remove("Order");
        // docker sends a ratio of 0, we send none: the engine stores 0 for both.
        assert_eq!(update.remove("MaxFailureRatio"), Some(0.into()));
        // The engine resolved the network name to the ID of `host` on that machine.
        theirs["TaskTemplate"]["Networks"][0]["Target"] = "host".into();
        let mut ours = ours;
        ours.as_object_mut().unwrap().remove("EndpointSpec");
        assert_eq!(ours, theirs);
        assert_eq!(
            serde_json::to_value(&plan.spec.endpoint_spec).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn every_supported_key_translates() {
        let text = r#"
services:
  web:
    image: docker.io/library/busybox
    entrypoint: sh -c 'sleep 10'
    command: [a, b]
    environment: [B=2, A=1, BARE]
    working_dir: /w
    user: "1:1"
    hostname: h
    labels: [x=1, y]
    networks:
      front: {aliases: [w]}
      hostnet:
    ports:
      - "8000-8001:80-81/udp"
      - {target: 90, published: 7000, mode: host}
    volumes:
      - ./data:/data:ro
      - ../up:/up
      - data:/vol
      - /anon
      - {type: volume, source: ext, target: /ext, read_only: true}
    deploy:
      mode: replicated
      replicas: 2
      labels: {d: "1"}
      endpoint_mode: VIP
      placement:
        constraints: [node.role==manager]
        preferences: [{spread: node.labels.rack}]
        max_replicas_per_node: 1
      resources:
        limits: {cpus: '0.5', memory: 512M}
        reservations: {memory: 0.8G}
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 1m}
      update_config: {delay: 10s, failure_action: rollback, monitor: 1m, max_failure_ratio: 0.3, order: start-first}
      rollback_config: {parallelism: 0, failure_action: continue}
  glob:
    image: busybox
    environment: {N: 1.5, E: ""}
    deploy: {mode: global}
networks:
  front: {driver: overlay, attachable: true, labels: {tier: front}, driver_opts: {mtu: 1400}}
  hostnet: {external: true, name: host}
volumes:
  data:
  ext: {external: true}
"#;
        let t = translate_text(text, "st", "/srv/stack").unwrap();
        let web = serde_json::to_value(&t.services["web"].spec).unwrap();
        insta::assert_snapshot!(serde_json::to_string_pretty(&web).unwrap(), @r#"
        {
          "EndpointSpec": {
            "Mode": "vip",
            "Ports": [
              {
                "PublishMode": "host",
                "PublishedPort": 7000,
                "TargetPort": 90
              },
              {
                "Protocol": "udp",
                "PublishMode": "ingress",
                "PublishedPort": 8000,
                "TargetPort": 80
              },
              {
                "Protocol": "udp",
                "PublishMode": "ingress",
                "PublishedPort": 8001,
                "TargetPort": 81
              }
            ]
          },
          "Labels": {
            "com.docker.stack.image": "docker.io/library/busybox",
            "com.docker.stack.namespace": "st",
            "d": "1"
          },
          "Mode": {
            "Replicated": {
              "Replicas": 2
            }
          },
          "Name": "st_web",
          "RollbackConfig": {
            "FailureAction": "continue",
            "Parallelism": 0
          },
          "TaskTemplate": {
            "ContainerSpec": {
              "Args": [
                "a",
                "b"
              ],
              "Command": [
                "sh",
                "-c",
                "sleep 10"
              ],
              "Dir": "/w",
              "Env": [
                "A=1",
                "B=2",
                "BARE"
              ],
              "Hostname": "h",
              "Image": "busybox:latest",
              "Labels": {
                "com.docker.stack.namespace": "st",
                "x": "1",
                "y": ""
              },
              "Mounts": [
                {
                  "ReadOnly": true,
                  "Source": "/srv/stack/data",
                  "Target": "/data",
                  "Type": "bind"
                },
                {
                  "Source": "/srv/up",
                  "Target": "/up",
                  "Type": "bind"
                },
                {
                  "Source": "st_data",
                  "Target": "/vol",
                  "Type": "volume",
                  "VolumeOptions": {
                    "Labels": {
                      "com.docker.stack.namespace": "st"
                    }
                  }
                },
                {
                  "Target": "/anon",
                  "Type": "volume"
                },
                {
                  "ReadOnly": true,
                  "Source": "ext",
                  "Target": "/ext",
                  "Type": "volume",
                  "VolumeOptions": {}
                }
              ],
              "Privileges": {},
              "User": "1:1"
            },
            "ForceUpdate": 0,
            "Networks": [
              {
                "Target": "host"
              },
              {
                "Aliases": [
                  "w",
                  "web"
                ],
                "Target": "st_front"
              }
            ],
            "Placement": {
              "Constraints": [
                "node.role==manager"
              ],
              "MaxReplicas": 1,
              "Preferences": [
                {
                  "Spread": {
                    "SpreadDescriptor": "node.labels.rack"
                  }
                }
              ]
            },
            "Resources": {
              "Limits": {
                "MemoryBytes": 536870912,
                "NanoCPUs": 500000000
              },
              "Reservations": {
                "MemoryBytes": 858993459
              }
            },
            "RestartPolicy": {
              "Condition": "on-failure",
              "Delay": 5000000000,
              "MaxAttempts": 3,
              "Window": 60000000000
            }
          },
          "UpdateConfig": {
            "Delay": 10000000000,
            "FailureAction": "rollback",
            "MaxFailureRatio": 0.3,
            "Monitor": 60000000000,
            "Order": "start-first",
            "Parallelism": 1
          }
        }
        "#);
        let front = &t.services["web"].networks[0];
        assert_eq!(
            t.services["web"].networks[1],
            NetworkPlan::External("host".to_string())
        );
        assert_eq!(front.name(), "st_front");
        let NetworkPlan::Stack(request) = front else {
            panic!("front is a stack network");
        };
        assert_eq!(request.driver.as_deref(), Some("overlay"));
        assert_eq!(request.attachable, Some(true));
        assert_eq!(request.options.as_ref().unwrap()["mtu"], "1400");
        assert_eq!(request.labels.as_ref().unwrap()["tier"], "front");
        assert_eq!(request.labels.as_ref().unwrap()[NAMESPACE_LABEL], "st");

        let glob = &t.services["glob"];
        assert_eq!(
            serde_json::to_value(&glob.spec.mode).unwrap(),
            serde_json::json!({"Global": {}})
        );
        let container = glob
            .spec
            .task_template
            .as_ref()
            .unwrap()
            .container_spec
            .as_ref()
            .unwrap();
        assert_eq!(container.env.as_deref().unwrap(), ["E=", "N=1.5"]);
        // No network named: the stack's default network, with the service as alias.
        assert_eq!(glob.networks[0].name(), "st_default");
        let attached = &glob
            .spec
            .task_template
            .as_ref()
            .unwrap()
            .networks
            .as_ref()
            .unwrap()[0];
        assert_eq!(attached.aliases.as_deref().unwrap(), ["glob"]);
    }

    #[test]
    fn extra_hosts_become_swarm_host_lines() {
        let text = r#"
services:
  web:
    image: x
    extra_hosts: ["host.docker.internal:host-gateway", "v6:fd00::1"]
  bad:
    image: x
    extra_hosts: [nocolon]
"#;
        let err = translate_text(text, "st", "/d").err().unwrap().to_string();
        assert!(
            err.contains("services.bad.extra_hosts[0]: \"nocolon\" is not host:address"),
            "{err}"
        );
        let t = translate_text(&text.replace("[nocolon]", "[]"), "st", "/d").unwrap();
        let hosts = |key: &str| {
            t.services[key]
                .spec
                .task_template
                .as_ref()
                .unwrap()
                .container_spec
                .as_ref()
                .unwrap()
                .hosts
                .clone()
        };
        assert_eq!(
            hosts("web").unwrap(),
            ["host-gateway host.docker.internal", "fd00::1 v6"]
        );
        assert_eq!(hosts("bad"), None);
    }

    #[test]
    fn healthchecks_translate_as_docker_converts_them() {
        let text = r#"
services:
  shell:
    image: x
    healthcheck: {test: "caget a:b", interval: 1m30s, timeout: 10s, retries: 5, start_period: 2m}
  exec:
    image: x
    healthcheck: {test: [CMD, /bin/check, "-v"], interval: "0", retries: 0}
  off:
    image: x
    healthcheck: {disable: true}
  inherit:
    image: x
    healthcheck: {test: [], timeout: 3s}
  none:
    image: x
"#;
        let t = translate_text(text, "st", "/d").unwrap();
        let check = |key: &str| {
            serde_json::to_value(
                &t.services[key]
                    .spec
                    .task_template
                    .as_ref()
                    .unwrap()
                    .container_spec
                    .as_ref()
                    .unwrap()
                    .health_check,
            )
            .unwrap()
        };
        assert_eq!(
            check("shell"),
            serde_json::json!({
                "Test": ["CMD-SHELL", "caget a:b"],
                "Interval": 90_000_000_000_i64,
                "Timeout": 10_000_000_000_i64,
                "Retries": 5,
                "StartPeriod": 120_000_000_000_i64,
            })
        );
        // Zero durations and retries are left out, as Go's omitempty does.
        assert_eq!(
            check("exec"),
            serde_json::json!({"Test": ["CMD", "/bin/check", "-v"]})
        );
        assert_eq!(check("off"), serde_json::json!({"Test": ["NONE"]}));
        assert_eq!(
            check("inherit"),
            serde_json::json!({"Timeout": 3_000_000_000_i64})
        );
        assert_eq!(check("none"), serde_json::Value::Null);
    }

    #[test]
    fn environment_without_value_comes_from_the_deploying_shell() {
        let env = |name: &str| match name {
            "FROM_SHELL" => Some("s".to_string()),
            "HOME" => Some("/home/op".to_string()),
            _ => None,
        };
        let file = Path::new("/d/c.yaml");
        let model = load::parse(
            "services:\n  a:\n    image: x\n    environment: {FROM_SHELL: '', KEPT: k, UNSET: }\n    volumes: ['~/logs:/logs']\n",
            file,
            &env,
        )
        .unwrap();
        let t = translate(
            &model,
            &Stack {
                namespace: "n",
                file,
                dir: Path::new("/d"),
                env: &env,
            },
        )
        .unwrap();
        let container = t.services["a"]
            .spec
            .task_template
            .clone()
            .unwrap()
            .container_spec
            .unwrap();
        assert_eq!(container.env.unwrap(), ["FROM_SHELL=s", "KEPT=k", "UNSET"]);
        assert_eq!(
            container.mounts.unwrap()[0].source.as_deref(),
            Some("/home/op/logs")
        );
    }

    #[test]
    fn problems_name_file_and_key_path() {
        let cases = [
            (
                "deploy: {resources: {limits: {memory: 12Q}}}",
                "services.a.deploy.resources.limits.memory: invalid memory size",
            ),
            (
                "deploy: {mode: global, replicas: 2}",
                "services.a.deploy.replicas: replicas can only",
            ),
            (
                "deploy: {mode: job}",
                "services.a.deploy.mode: unknown mode",
            ),
            (
                "deploy: {update_config: {delay: soon}}",
                "services.a.deploy.update_config.delay: invalid duration",
            ),
            (
                "deploy: {rollback_config: {failure_action: rollback}}",
                "services.a.deploy.rollback_config.failure_action",
            ),
            (
                "networks: [nowhere]",
                "services.a.networks: undefined network \"nowhere\"",
            ),
            (
                "volumes: ['data:/d']",
                "services.a.volumes[0]: undefined volume \"data\"",
            ),
            (
                "volumes: [{type: tmpfs, target: /t}]",
                "services.a.volumes[0]: unsupported mount type",
            ),
            (
                "volumes: ['./a:/b:z']",
                "services.a.volumes[0]: \"./a:/b:z\": unsupported option",
            ),
            ("ports: ['127.0.0.1:80:80']", "services.a.ports[0]"),
            (
                "ports: [{target: 80, mode: bridge}]",
                "services.a.ports[0].mode: unknown mode",
            ),
            (
                "entrypoint: \"sh -c 'x\"",
                "services.a.entrypoint: unclosed quote",
            ),
            (
                "healthcheck: {test: [CMD, x], disable: true}",
                "services.a.healthcheck: test and disable can't be set at the same time",
            ),
            (
                "healthcheck: {interval: often}",
                "services.a.healthcheck.interval: invalid duration",
            ),
            (
                "healthcheck: {timeout: 500us}",
                "services.a.healthcheck.timeout: must be 0 or at least 1ms",
            ),
            (
                "healthcheck: {start_period: -1s}",
                "services.a.healthcheck.start_period: must be 0 or at least 1ms",
            ),
        ];
        for (body, expected) in cases {
            let text = format!("services:\n  a:\n    image: x\n    {body}\n");
            let err = translate_text(&text, "n", "/d").unwrap_err().to_string();
            assert!(err.starts_with("/d/compose.yaml: "), "{err}");
            assert!(err.contains(expected), "{body}: {err}");
        }
    }

    #[test]
    fn compose_dir_is_absolute_and_clean() {
        assert_eq!(
            compose_dir(Path::new("/a/b/../c/./f.yaml")).unwrap(),
            PathBuf::from("/a/c")
        );
        assert!(compose_dir(Path::new("rel/f.yaml")).unwrap().is_absolute());
    }
}
