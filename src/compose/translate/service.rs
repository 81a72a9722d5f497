//! The service spec and its task template: the container spec, resources, placement
//! and mode (docker/cli `convert/service.go`).

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    HealthConfig, Limit, ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecPrivileges, TaskSpecPlacement,
    TaskSpecPlacementPreferences, TaskSpecPlacementSpread, TaskSpecResources,
};

use super::{
    IMAGE_LABEL, Problem, ServicePlan, Stack, at, duration, networks, policies, ports, scalar_text,
    string_map, volumes, with_namespace,
};
use crate::compose::image;
use crate::compose::interpolate::Env;
use crate::compose::model::{
    ComposeFile, Deploy, HealthCheck, KeyValues, ResourceAmounts, Service, StringOrList,
};
use crate::compose::units::{nano_cpus, ram_bytes, shell_words};

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

pub(super) fn translate_service(
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
    let (networks, plans) = networks::networks(key, service, file, stack)?;

    let mut service_labels = with_namespace(string_map(deploy.labels.as_ref()), stack.namespace);
    service_labels.insert(IMAGE_LABEL.to_string(), service.image.clone());

    let env = environment(service.environment.as_ref(), stack.env);
    let mounts = service
        .volumes
        .iter()
        .enumerate()
        .map(|(i, m)| volumes::mount(m, file, stack).map_err(|e| at(&format!(".volumes[{i}]"), e)))
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
        restart_policy: policies::restart_policy(deploy)?,
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
        update_config: policies::update_config(deploy.update_config.as_ref())?,
        rollback_config: policies::rollback_config(deploy.rollback_config.as_ref())?,
        endpoint_spec: Some(ports::endpoint(deploy, &service.ports)?),
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
