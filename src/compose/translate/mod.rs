//! Compose file → swarm service specs, equal to what `docker stack deploy` sends to
//! the engine for the same file and stack (docker/cli `cli/compose/convert` plus the
//! loader's defaults and the API client's image tagging). Pure: the folder of the
//! compose file and the environment are inputs, the daemon is not involved.
//!
//! Split where docker/cli's convert package splits: the service spec and its task
//! template (`service`), restart/update/rollback `policies`, `ports`, `volumes` and
//! `networks`; this file holds what they share.

mod networks;
mod policies;
mod ports;
mod service;
#[cfg(test)]
mod tests;
mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use bollard::models::{NetworkCreateRequest, ServiceSpec};

use crate::compose::ComposeError;
use crate::compose::interpolate::Env;
use crate::compose::model::{ComposeFile, KeyValues, Scalar};
use crate::compose::units::{duration_nanos, go_float};

/// Label of everything deployed into a stack: its namespace (the stack prefix).
pub(crate) const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";
/// Service label keeping the image as written in the compose file.
pub(crate) const IMAGE_LABEL: &str = "com.docker.stack.image";

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
        let plan = service::translate_service(key, service, file, stack).map_err(|message| {
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

fn duration(value: Option<&String>, path: &str) -> Result<Option<i64>, Problem> {
    value
        .map(|d| duration_nanos(d).map_err(|e| at(path, e)))
        .transpose()
}
