//! Deploying and removing managed services through the Engine API, the way
//! `docker stack deploy --with-registry-auth` and `docker service rm` do it, but for
//! many services at once: one services list up front, missing stack networks
//! created once, registry lookups once per image, and the creates, updates and
//! removals run concurrently (bounded, so a large facility does not flood the
//! manager).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{Platform, ServiceSpec};
use bollard::query_parameters::{
    ListNetworksOptions, ListServicesOptionsBuilder, UpdateServiceOptions,
};
use futures_util::stream::{self, StreamExt};

use crate::compose::ComposeError;
use crate::compose::image;
use crate::compose::load;
use crate::compose::translate::{self, NAMESPACE_LABEL, NetworkPlan, Stack};
use crate::swarm::engine::{Engine, SwarmError};
use crate::swarm::managed::ManagedService;
use crate::swarm::registry_auth::{Lookup, RegistryAuth, url_safe_header};

/// Requests in flight at once: enough to hide the manager's latency, few enough
/// not to queue up behind its raft store.
const CONCURRENCY: usize = 16;

/// Container label naming the kind of a service (IOC services carry `ioc`).
pub(crate) const SERVICE_TYPE_LABEL: &str = "service-type";

/// A service of the stack as the engine has it now.
#[derive(Debug, Clone)]
pub(crate) struct Deployed {
    pub(crate) id: String,
    pub(crate) version: u64,
    pub(crate) force_update: u64,
    /// The container label `service-type`, if any (`ioc` for IOC services).
    pub(crate) service_type: Option<String>,
}

/// What to do with a service that is deployed already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnExisting {
    /// Apply the current file, keeping `ForceUpdate` so an unchanged service is left
    /// running (`docker stack deploy`).
    Redeploy,
    /// Apply the current file and bump `ForceUpdate`, so every task is replaced in a
    /// rolling update even when nothing changed. The service must be deployed.
    Restart,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Created { id: String },
    Updated { id: String },
    Restarted { id: String },
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DeployError {
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    #[error("{}: no service \"{key}\" in the file", file.display())]
    MissingService { file: PathBuf, key: String },
    #[error("service {0} is not deployed (use --deploy)")]
    NotDeployed(String),
    #[error("network {network}: {detail}")]
    Network { network: String, detail: String },
}

/// The result of deploying a set of services.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Stack networks created on the way.
    pub(crate) networks: Vec<String>,
    /// Per service name, in the order asked for.
    pub(crate) services: Vec<(String, Result<Outcome, DeployError>)>,
    /// Things an operator may want to know (registry digests not recorded,
    /// credentials not available, engine warnings).
    pub(crate) notes: Vec<String>,
    /// Problems that did not stop the deployment (engine warnings, a broken docker
    /// config file).
    pub(crate) warnings: Vec<String>,
}

/// The services that match one list filter (`label`, `name`, ...): one API call.
fn services_where(
    engine: &Engine,
    key: &str,
    value: &str,
) -> Result<Vec<bollard::models::Service>, SwarmError> {
    let filters = HashMap::from([(key, vec![value])]);
    let options = ListServicesOptionsBuilder::default()
        .filters(&filters)
        .build();
    engine.request(
        "listing of services",
        engine.docker().list_services(Some(options)),
    )
}

/// Names of the swarm services whose name starts with `prefix` (the daemon's name
/// filter matches prefixes). Services created by hand count too: a service of that
/// name runs from its file whoever created it.
pub(crate) fn service_names_starting_with(
    engine: &Engine,
    prefix: &str,
) -> Result<std::collections::BTreeSet<String>, SwarmError> {
    Ok(services_where(engine, "name", prefix)?
        .into_iter()
        .filter_map(|s| s.spec?.name)
        .filter(|name| name.starts_with(prefix))
        .collect())
}

/// The services of stack `namespace` now deployed, by name: one list call.
pub(crate) fn deployed(
    engine: &Engine,
    namespace: &str,
) -> Result<BTreeMap<String, Deployed>, SwarmError> {
    let services = services_where(engine, "label", &format!("{NAMESPACE_LABEL}={namespace}"))?;
    Ok(services
        .into_iter()
        .filter_map(|service| {
            let spec = service.spec?;
            let container_labels = spec
                .task_template
                .as_ref()
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.labels.as_ref());
            let deployed = Deployed {
                id: service.id?,
                version: service.version.and_then(|v| v.index).unwrap_or(0),
                force_update: spec
                    .task_template
                    .as_ref()
                    .and_then(|t| t.force_update)
                    .unwrap_or(0),
                service_type: container_labels.and_then(|l| l.get(SERVICE_TYPE_LABEL).cloned()),
            };
            Some((spec.name?, deployed))
        })
        .collect())
}

/// A service read from its file and translated, waiting for its networks, image
/// digest and credentials.
struct Prepared {
    name: String,
    spec: ServiceSpec,
    networks: Vec<NetworkPlan>,
    existing: Option<Deployed>,
}

fn prepare(
    service: &ManagedService,
    namespace: &str,
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
) -> Result<Prepared, DeployError> {
    let current = existing.get(&service.service_name).cloned();
    if on_existing == OnExisting::Restart && current.is_none() {
        return Err(DeployError::NotDeployed(service.service_name.clone()));
    }
    let plan = planned(service, namespace)?;
    Ok(Prepared {
        name: service.service_name.clone(),
        spec: plan.spec,
        networks: plan.networks,
        existing: current,
    })
}

/// The service `service` as deploying its file into stack `namespace` would create
/// it, before the image is pinned to a registry digest: what a deploy sends and what
/// the drift check compares with the engine's copy.
pub(crate) fn planned(
    service: &ManagedService,
    namespace: &str,
) -> Result<translate::ServicePlan, DeployError> {
    let env = |name: &str| std::env::var(name).ok();
    let file = load::read(&service.file, &env)?;
    let dir = translate::compose_dir(&service.file).map_err(|source| ComposeError::Read {
        file: service.file.clone(),
        cause: source,
    })?;
    let mut translation = translate::translate(
        &file,
        &Stack {
            namespace,
            file: &service.file,
            dir: &dir,
            env: &env,
        },
    )?;
    translation
        .services
        .remove(&service.key)
        .ok_or_else(|| DeployError::MissingService {
            file: service.file.clone(),
            key: service.key.clone(),
        })
}

/// Deploys `services` (each the service `key` of its file) into stack `namespace`.
/// `existing` is what [`deployed`] returned. A service that cannot be read or
/// deployed fails alone; the others go on. Credentials for an image of a registry in
/// `withheld` (`host[:port]`) are never sent with a service: that login is the
/// manager's own and would reach every node that runs a task. An engine that stops
/// answering before any service was sent is an error; once services were sent, those
/// without an answer fail with the engine's error.
pub(crate) fn deploy(
    engine: &Engine,
    namespace: &str,
    services: &[ManagedService],
    existing: &BTreeMap<String, Deployed>,
    on_existing: OnExisting,
    withheld: &[String],
) -> Result<Report, SwarmError> {
    let mut report = Report::default();
    let mut prepared = Vec::new();
    let mut failed: HashMap<String, DeployError> = HashMap::new();
    for service in services {
        match prepare(service, namespace, existing, on_existing) {
            Ok(p) => prepared.push(p),
            Err(e) => {
                failed.insert(service.service_name.clone(), e);
            }
        }
    }
    let docker = engine
        .docker()
        .clone()
        .with_request_modifier(url_safe_header);

    let network_errors = engine.run(ensure_networks(
        &docker,
        namespace,
        &prepared,
        &mut report.networks,
    ))??;
    let (ready, blocked): (Vec<Prepared>, Vec<Prepared>) = prepared.into_iter().partition(|p| {
        p.networks
            .iter()
            .all(|n| !network_errors.contains_key(n.name()))
    });
    for p in blocked {
        let (network, detail) = p
            .networks
            .iter()
            .find_map(|n| network_errors.get_key_value(n.name()))
            .map(|(n, d)| (n.clone(), d.clone()))
            .unwrap_or_default();
        failed.insert(p.name, DeployError::Network { network, detail });
    }

    let auth = match RegistryAuth::load() {
        Ok(auth) => auth,
        Err(e) => {
            report
                .warnings
                .push(format!("{e}; deploying without registry credentials"));
            RegistryAuth::default()
        }
    };
    let mut credentials: HashMap<String, Option<DockerCredentials>> = HashMap::new();
    for p in &ready {
        let image = image_of(&p.spec);
        if credentials.contains_key(&image) {
            continue;
        }
        let registry = crate::compose::image::auth_key(&image).unwrap_or_default();
        if withheld.iter().any(|w| w.eq_ignore_ascii_case(&registry)) {
            report.warnings.push(format!(
                "{image} names the push registry {registry}, whose login stays on the manager: deployed without registry credentials (name the image with the pull registry's address)"
            ));
            credentials.insert(image, None);
            continue;
        }
        let found = match auth.lookup(&image) {
            Ok(Lookup::Found(c)) => Some(c),
            Ok(Lookup::None) => None,
            Ok(Lookup::Helper(note)) => {
                report.notes.push(note);
                None
            }
            Err(e) => {
                report
                    .warnings
                    .push(format!("{e}; deploying {image} without credentials"));
                None
            }
        };
        credentials.insert(image, found);
    }

    let pinned = engine.run(resolve_digests(&docker, &credentials))?;
    for (image, resolved) in &pinned {
        if resolved.is_none() {
            report.notes.push(format!(
                "image {image} could not be accessed on a registry to record its digest; each node will access {image} independently, possibly leading to different nodes running different versions of the image"
            ));
        }
    }

    let mut unanswered: Vec<String> = ready.iter().map(|p| p.name.clone()).collect();
    let applied = stream::iter(ready)
        .map(|mut p| {
            let image = image_of(&p.spec);
            let creds = credentials.get(&image).cloned().flatten();
            if let Some(Some((pinned_image, platforms))) = pinned.get(&image) {
                pin(&mut p.spec, pinned_image, platforms);
            }
            let docker = docker.clone();
            async move {
                let name = p.name.clone();
                (name, apply(&docker, p, creds, on_existing).await)
            }
        })
        .buffer_unordered(CONCURRENCY);
    let results = answers(engine, applied, &mut unanswered);
    let mut done: HashMap<String, Result<Outcome, DeployError>> = HashMap::new();
    for (name, result) in results {
        match result {
            Ok((outcome, warnings)) => {
                report
                    .warnings
                    .extend(warnings.into_iter().map(|w| format!("{name}: {w}")));
                done.insert(name, Ok(outcome));
            }
            Err(e) => {
                done.insert(name, Err(e));
            }
        }
    }
    for service in services {
        let name = &service.service_name;
        if let Some(result) = done.remove(name) {
            report.services.push((name.clone(), result));
        } else if let Some(error) = failed.remove(name) {
            report.services.push((name.clone(), Err(error)));
        } else if unanswered.contains(name) {
            report
                .services
                .push((name.clone(), Err(DeployError::Swarm(engine.time_is_up()))));
        }
    }
    Ok(report)
}

/// The results of concurrent requests as they come, until the command's time is up;
/// `unanswered` keeps the names that got none.
fn answers<T>(
    engine: &Engine,
    mut results: impl futures_util::Stream<Item = (String, T)> + Unpin,
    unanswered: &mut Vec<String>,
) -> Vec<(String, T)> {
    let mut got = Vec::with_capacity(unanswered.len());
    while let Ok(Some((name, result))) = engine.run(results.next()) {
        unanswered.retain(|n| *n != name);
        got.push((name, result));
    }
    got
}

fn image_of(spec: &ServiceSpec) -> String {
    spec.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Pins the image to its registry digest and the platforms it exists for, as the
/// docker client does before it sends a service.
fn pin(spec: &mut ServiceSpec, pinned_image: &str, platforms: &[Platform]) {
    let Some(task) = spec.task_template.as_mut() else {
        return;
    };
    if let Some(container) = task.container_spec.as_mut() {
        container.image = Some(pinned_image.to_string());
    }
    if !platforms.is_empty() {
        task.placement
            .get_or_insert_with(Default::default)
            .platforms = Some(platforms.to_vec());
    }
}

/// The image pinned to its digest and its platforms, or `None` when no registry
/// answered (then nodes resolve the tag themselves), once per distinct image.
async fn resolve_digests(
    docker: &Docker,
    credentials: &HashMap<String, Option<DockerCredentials>>,
) -> HashMap<String, Option<(String, Vec<Platform>)>> {
    stream::iter(credentials.iter())
        .map(|(image, creds)| {
            let docker = docker.clone();
            async move {
                let resolved = docker
                    .inspect_registry_image(image, creds.clone())
                    .await
                    .ok()
                    .and_then(|inspect| {
                        let digest = inspect.descriptor.digest?;
                        let platforms = inspect
                            .platforms
                            .into_iter()
                            .map(|p| Platform {
                                // Images report "arm" where nodes report a variant
                                // ("armv7l"); docker drops it so tasks still schedule.
                                architecture: p
                                    .architecture
                                    .filter(|a| !a.eq_ignore_ascii_case("arm")),
                                os: p.os,
                            })
                            .collect();
                        Some((image::with_digest(image, &digest), platforms))
                    });
                (image.clone(), resolved)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

/// Creates the stack networks the services need and checks the external ones, with
/// one networks list. Returns an error per network name that is not usable.
async fn ensure_networks(
    docker: &Docker,
    namespace: &str,
    prepared: &[Prepared],
    created: &mut Vec<String>,
) -> Result<HashMap<String, String>, SwarmError> {
    let mut needed: BTreeMap<String, &NetworkPlan> = BTreeMap::new();
    for p in prepared {
        for plan in &p.networks {
            needed.entry(plan.name().to_string()).or_insert(plan);
        }
    }
    let mut errors = HashMap::new();
    // Networks every node has (host, bridge, ...) need no check, as for docker.
    needed.retain(|name, plan| match plan {
        NetworkPlan::External(_) => {
            !matches!(name.as_str(), "host" | "bridge" | "none" | "default")
        }
        NetworkPlan::Stack(_) => true,
    });
    if needed.is_empty() {
        return Ok(errors);
    }
    let existing = match docker.list_networks(None::<ListNetworksOptions>).await {
        Ok(list) => list,
        Err(e) => match SwarmError::api("listing of networks", e) {
            engine if engine.is_engine_failure() => return Err(engine),
            error => {
                let detail = error.to_string();
                return Ok(needed.into_keys().map(|n| (n, detail.clone())).collect());
            }
        },
    };
    for (name, plan) in needed {
        let found = existing
            .iter()
            .find(|n| n.name.as_deref() == Some(name.as_str()));
        match (plan, found) {
            (NetworkPlan::External(_), None) => {
                errors.insert(
                    name,
                    "declared as external, but could not be found; create a swarm-scoped network before deploying".to_string(),
                );
            }
            (NetworkPlan::External(_), Some(network)) => {
                let scope = network.scope.as_deref().unwrap_or("");
                if scope != "swarm" {
                    errors.insert(
                        name,
                        format!("declared as external, but its scope is \"{scope}\" instead of \"swarm\""),
                    );
                }
            }
            (NetworkPlan::Stack(_), Some(network)) => {
                let ours = network
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(NAMESPACE_LABEL))
                    .is_some_and(|ns| ns == namespace);
                if !ours {
                    errors.insert(
                        name,
                        format!("a network of that name exists outside stack {namespace}; remove or rename it"),
                    );
                }
            }
            (NetworkPlan::Stack(request), None) => {
                match docker.create_network((**request).clone()).await {
                    Ok(_) => created.push(name),
                    Err(e) => match SwarmError::api("network create", e) {
                        engine if engine.is_engine_failure() => return Err(engine),
                        error => {
                            errors.insert(name, error.to_string());
                        }
                    },
                }
            }
        }
    }
    Ok(errors)
}

/// Creates the service, or updates it in place (same ID, next version).
async fn apply(
    docker: &Docker,
    mut prepared: Prepared,
    credentials: Option<DockerCredentials>,
    on_existing: OnExisting,
) -> Result<(Outcome, Vec<String>), DeployError> {
    let name = prepared.name.clone();
    let Some(existing) = prepared.existing.take() else {
        let response = docker
            .create_service(prepared.spec, credentials)
            .await
            .map_err(|e| SwarmError::api(format!("create of service {name}"), e))?;
        let id = response.id.unwrap_or_default();
        return Ok((
            Outcome::Created { id },
            response.warnings.unwrap_or_default(),
        ));
    };
    let force_update = match on_existing {
        OnExisting::Redeploy => existing.force_update,
        OnExisting::Restart => existing.force_update.wrapping_add(1),
    };
    if let Some(task) = prepared.spec.task_template.as_mut() {
        task.force_update = Some(force_update);
    }
    let version = i32::try_from(existing.version).map_err(|_| SwarmError::Api {
        action: format!("update of service {name}"),
        detail: format!(
            "version {} is beyond what the API client can send",
            existing.version
        ),
    })?;
    let options = UpdateServiceOptions {
        version,
        ..Default::default()
    };
    let response = docker
        .update_service(&existing.id, prepared.spec, options, credentials)
        .await
        .map_err(|e| SwarmError::api(format!("update of service {name}"), e))?;
    let outcome = match on_existing {
        OnExisting::Redeploy => Outcome::Updated { id: existing.id },
        OnExisting::Restart => Outcome::Restarted { id: existing.id },
    };
    Ok((outcome, response.warnings.unwrap_or_default()))
}

/// Removes services by name, concurrently; each result says whether that worked.
/// Those that got no answer in the command's time fail with the engine's error.
pub(crate) fn remove(engine: &Engine, names: &[String]) -> Vec<(String, Result<(), SwarmError>)> {
    let docker = engine.docker();
    let removals = stream::iter(names.iter())
        .map(|name| async move {
            let result = docker
                .delete_service(name)
                .await
                .map_err(|e| SwarmError::api(format!("removal of service {name}"), e));
            (name.clone(), result)
        })
        .buffer_unordered(CONCURRENCY);
    let mut unanswered = names.to_vec();
    let mut results: HashMap<String, Result<(), SwarmError>> =
        answers(engine, removals, &mut unanswered)
            .into_iter()
            .collect();
    names
        .iter()
        .map(|n| {
            let result = results
                .remove(n)
                .unwrap_or_else(|| Err(engine.time_is_up()));
            (n.clone(), result)
        })
        .collect()
}
