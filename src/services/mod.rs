//! The built-in cluster services (SPEC §8): their templates (`imsrvs/`, overridable
//! under `$SERVICES_PATH`) rendered with the settings into `$MOUNT_PATH/swarm/`.
//!
//! Layout of the output, relative to `$MOUNT_PATH/swarm`:
//! - global services: `global-services/<name>.yaml`, with configuration in
//!   `global-services/<name>/` (alloy);
//! - local services: `<name>/<name>.yaml` with everything else of the service in
//!   `<name>/` (registry, prometheus, alertManager, loki, grafana);
//! - `iocLog/`, shared by the IOCs and iocLogServer.
//!
//! Rendering is pure apart from reading the templates and what earlier runs left in
//! the run directory (the registry's htpasswd, the monitoring passwords and hash);
//! writing is a separate step that leaves the files of a deployed service alone,
//! since a running service would otherwise no longer match its file.

pub(crate) mod alertmanager;
pub(crate) mod catalog;
pub(crate) mod images;
pub(crate) mod links;
pub(crate) mod monitoring;
pub(crate) mod panel;
mod secrets;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::cluster::DOCKER_METRICS_PORT;
use crate::cluster::htpasswd::{self, Identity};
use crate::compose::model::ComposeFile;
use crate::fsutil::{FsError, IoContext, write_if_changed, write_owned_if_changed};
use crate::process::one_line;
use crate::schema::names::service_key;
use crate::settings::Settings;
use crate::swarm::managed::ServiceType;

use self::secrets::existing_htpasswd;
pub(crate) use self::secrets::{Answers, Secret, missing_secrets};

use self::catalog::{BUILT_IN, built_in_service_name, compose_file};
use self::monitoring::Logins;
use crate::embedded::Source;
use crate::embedded::placeholder::{self, Values};

/// Key of the overlay network of the built-in services in their compose files; the
/// stack names it `<prefix>_builtin`.
const NETWORK_KEY: &str = "builtin";
/// Folder of the run directory that IOCs and iocLogServer write their logs to.
const IOC_LOG_DIR: &str = "iocLog";
const ALERTMANAGER_CONFIG: &str = "alertManager/config/alertmanager.yml";
/// Folders a service's bind mounts need besides those holding rendered files.
const EXTRA_DIRS: &[(&str, &str)] = &[
    ("registry", "registry/certs"),
    ("registry", "registry/data"),
];
/// What `iocdock make-certs` writes for the registries, which read the first two.
pub(crate) const REGISTRY_CERTS: [&str; 3] = [
    "registry/certs/registry.crt",
    "registry/certs/registry.key",
    "registry/certs/ca.crt",
];

#[derive(Debug, thiserror::Error)]
pub(crate) enum BuiltinError {
    #[error("{file}: settings unusable for the built-in services: {}", problems.join("; "))]
    Settings {
        file: PathBuf,
        problems: Vec<String>,
    },
    #[error("{origin}: {message}")]
    Template { origin: String, message: String },
    #[error(
        "{key} is not set ({purpose}) and there is no terminal to ask for it: set it in {file}"
    )]
    MissingSecret {
        key: &'static str,
        purpose: &'static str,
        file: PathBuf,
    },
    #[error("{0}")]
    Credentials(String),
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// `$MOUNT_PATH/swarm`, the root of every rendered file.
pub(crate) fn swarm_dir(settings: &Settings) -> PathBuf {
    settings.paths.mount.join("swarm")
}

/// One file to write, with its path relative to `swarm_dir`.
#[derive(Debug, Clone)]
pub(crate) struct RenderedFile {
    pub(crate) relative: String,
    pub(crate) contents: Vec<u8>,
    pub(crate) mode: u32,
    /// The user the file is given to, when its service does not run as root.
    pub(crate) owner: Option<u32>,
}

/// Everything of one built-in service.
#[derive(Debug, Clone)]
pub(crate) struct RenderedService {
    pub(crate) name: &'static str,
    /// `<prefix>_srv-<name>`.
    pub(crate) service_name: String,
    pub(crate) files: Vec<RenderedFile>,
    /// Folders to create, relative to `swarm_dir`.
    pub(crate) dirs: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rendering {
    pub(crate) root: PathBuf,
    pub(crate) services: Vec<RenderedService>,
    /// Folders shared by several services (and the IOCs).
    pub(crate) shared_dirs: Vec<String>,
    /// Templates under `$SERVICES_PATH` that belong to no built-in service.
    pub(crate) ignored: Vec<String>,
}

/// Every problem of the settings as one error naming the keys.
pub(crate) fn check_settings(settings: &Settings) -> Result<(), BuiltinError> {
    let problems: Vec<String> =
        crate::schema::settings::check(settings, crate::schema::settings::BUILT_IN_SERVICES)
            .into_iter()
            .map(|bad| format!("{}: {}", bad.key, bad.problem))
            .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BuiltinError::Settings {
            file: settings.settings_file(),
            problems,
        })
    }
}

/// The image registry part of a reference: its name, with the port unless it is the
/// HTTPS default (a reference without a port means 443).
pub(crate) fn registry_host(settings: &Settings, port: u16) -> String {
    if port == 443 {
        settings.registry_common_name.clone()
    } else {
        format!("{}:{port}", settings.registry_common_name)
    }
}

/// How images on the push registry are named (`name:port`, and `ip:port` when the
/// settings give the registry's address): a service must never carry that login.
pub(crate) fn push_registry_addresses(settings: &Settings) -> Vec<String> {
    let port = settings.registry_push_port;
    let mut addresses = vec![registry_host(settings, port)];
    if let Ok(ip) = settings
        .registry_master_ip
        .trim()
        .parse::<std::net::IpAddr>()
    {
        addresses.push(match (ip, port) {
            (_, 443) => ip.to_string(),
            (std::net::IpAddr::V6(ip), _) => format!("[{ip}]:{port}"),
            (ip, _) => format!("{ip}:{port}"),
        });
    }
    addresses
}

fn values(settings: &Settings, images: &images::Images, logins: &Logins) -> Values {
    let prefix = &settings.prefix_stack_name;
    let registry = registry_host(settings, settings.registry_port);
    let top = settings.container_top_path.trim_end_matches('/');
    let mut values = Values::default();
    values.insert("prefix", prefix.as_str());
    values.insert("registry", registry.as_str());
    values.insert("registry_port", settings.registry_port.to_string());
    values.insert(
        "registry_push",
        registry_host(settings, settings.registry_push_port),
    );
    values.insert(
        "registry_push_port",
        settings.registry_push_port.to_string(),
    );
    values.insert("network", format!("{prefix}_{NETWORK_KEY}"));
    values.insert("container_top", top);
    values.insert("container_run", settings.container_run_path());
    let swarm_dir = settings.docker_swarm_dir.trim_end_matches('/');
    let docker_root = swarm_dir
        .rsplit_once('/')
        .map_or("/var/lib/docker", |(root, _)| root);
    values.insert("docker_root", docker_root);
    values.insert(
        "docker_root_pattern",
        regex_escaped(docker_root.trim_start_matches('/')),
    );
    values.insert("docker_metrics_port", DOCKER_METRICS_PORT.to_string());
    values.insert("monitoring_user", monitoring::MONITORING_USER);
    values.insert("monitoring_password_hash", logins.monitoring_hash.as_str());
    for b in BUILT_IN {
        values.insert(
            format!("service.{}", b.name),
            built_in_service_name(settings, b.name),
        );
    }
    values.insert("prometheus_url", links::prometheus(settings));
    values.insert("alertmanager_url", links::alertmanager(settings));
    values.insert(
        "ioc_down_for",
        format!("{}s", settings.ioc_down_alert_after.whole_seconds()),
    );
    for (key, image) in images {
        values.insert(format!("image.{key}"), images::reference(&registry, image));
    }
    values
}

/// `text` as a regular expression (RE2, Go's) that matches it literally.
fn regex_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn template_error(source: &Source, message: impl Into<String>) -> BuiltinError {
    BuiltinError::Template {
        origin: source.origin.clone(),
        message: message.into(),
    }
}

/// Checks a rendered file as far as its reader's format is known here: compose files
/// against the compose model (what deployment accepts), JSON and YAML as such.
fn check_rendered(
    source: &Source,
    text: &str,
    service: &str,
    kind: ServiceType,
) -> Result<(), BuiltinError> {
    let relative = source.relative.as_str();
    if relative == compose_file(service, kind) {
        let file: ComposeFile = serde_yaml::from_str(text).map_err(|e| {
            template_error(
                source,
                format!("not a valid compose file: {}", one_line(&e.to_string())),
            )
        })?;
        let key = service_key(service);
        let keys: Vec<&String> = file.services.keys().collect();
        if keys != [&key] {
            return Err(template_error(
                source,
                format!("expected exactly one service, \"{key}\" (found {keys:?})"),
            ));
        }
    } else if relative.ends_with(".json") {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| template_error(source, format!("not valid JSON: {e}")))?;
    } else if relative.ends_with(".yml") || relative.ends_with(".yaml") {
        serde_yaml::from_str::<serde_yaml::Value>(text).map_err(|e| {
            template_error(
                source,
                format!("not valid YAML: {}", one_line(&e.to_string())),
            )
        })?;
    }
    Ok(())
}

/// The htpasswd of one registry identity: from the settings or the answers, else
/// the existing file.
fn htpasswd_file(
    settings: &Settings,
    answers: &Answers,
    identity: Identity,
) -> Result<String, BuiltinError> {
    let pick = |setting: &str, secret: Secret| {
        if setting.is_empty() {
            answers.get(&secret).cloned().unwrap_or_default()
        } else {
            setting.to_string()
        }
    };
    let (user, password) = identity.credentials(settings);
    let user = pick(user, Secret::RegistryUsername(identity));
    let password = pick(password, Secret::RegistryPassword(identity));
    let existing = existing_htpasswd(settings, identity);
    if user.is_empty() || password.is_empty() {
        return match existing {
            Some(existing) => Ok(existing),
            None => Err(if user.is_empty() {
                Secret::RegistryUsername(identity).missing_error(settings)
            } else {
                Secret::RegistryPassword(identity).missing_error(settings)
            }),
        };
    }
    htpasswd::file(identity, &user, &password, existing.as_deref())
        .map_err(BuiltinError::Credentials)
}

/// Both registries' htpasswd files, refused when one user holds both identities: the
/// login every node has could then push.
fn htpasswd_files(
    settings: &Settings,
    answers: &Answers,
) -> Result<Vec<(Identity, String)>, BuiltinError> {
    let files = Identity::ALL
        .iter()
        .map(|identity| Ok((*identity, htpasswd_file(settings, answers, *identity)?)))
        .collect::<Result<Vec<_>, BuiltinError>>()?;
    let users: Vec<Option<&str>> = files.iter().map(|(_, f)| htpasswd::user_of(f)).collect();
    if let [Some(pull), Some(push)] = users[..]
        && pull == push
    {
        return Err(BuiltinError::Credentials(format!(
            "{} and {} are both \"{pull}\": the push identity must be another user, or every node's pull login could push",
            Identity::Push.username_key(),
            Identity::Pull.username_key(),
        )));
    }
    Ok(files)
}

/// Renders every built-in service from `sources` (see `embedded::ServiceSources`).
pub(crate) fn render(
    settings: &Settings,
    sources: &[Source],
    answers: &Answers,
) -> Result<Rendering, BuiltinError> {
    let images_source = sources
        .iter()
        .find(|s| s.relative == images::IMAGES_FILE)
        .ok_or_else(|| BuiltinError::Template {
            origin: images::IMAGES_FILE.to_string(),
            message: "the versions table is missing".to_string(),
        })?;
    let images_text = std::str::from_utf8(&images_source.bytes)
        .map_err(|_| template_error(images_source, "not UTF-8 text"))?;
    let images = images::parse(images_text).map_err(|e| template_error(images_source, e))?;
    // Secrets in the order they are asked for, so the first missing one is named.
    let htpasswds = htpasswd_files(settings, answers)?;
    let logins = Logins::resolve(settings, answers, &swarm_dir(settings))?;
    let values = values(settings, &images, &logins);

    let mut services: Vec<RenderedService> = BUILT_IN
        .iter()
        .map(|b| RenderedService {
            name: b.name,
            service_name: built_in_service_name(settings, b.name),
            files: Vec::new(),
            dirs: Vec::new(),
        })
        .collect();
    let mut ignored = Vec::new();
    for source in sources {
        if source.relative == images::IMAGES_FILE {
            continue;
        }
        let Some(&catalog::BuiltIn { name, kind }) = catalog::owner(&source.relative) else {
            ignored.push(source.origin.clone());
            continue;
        };
        let text = std::str::from_utf8(&source.bytes)
            .map_err(|_| template_error(source, "not UTF-8 text"))?;
        let mut text =
            placeholder::substitute(text, &values).map_err(|e| template_error(source, e))?;
        // A web configuration holds the monitoring password's hash: guessing offline
        // starts from it.
        let mut mode = if monitoring::WEB_CONFIGS.contains(&source.relative.as_str()) {
            0o600
        } else {
            0o644
        };
        if source.relative == ALERTMANAGER_CONFIG {
            let smtp_password = if settings.alert_manager_smtp_auth_password.is_empty() {
                answers.get(&Secret::SmtpPassword).map(String::as_str)
            } else {
                Some(settings.alert_manager_smtp_auth_password.as_str())
            };
            let (filled, secret) = alertmanager::fill(&text, settings, smtp_password)
                .map_err(|e| template_error(source, e))?;
            text = filled;
            if secret {
                mode = 0o600;
            }
        }
        check_rendered(source, &text, name, kind)?;
        let Some(service) = services.iter_mut().find(|s| s.name == name) else {
            ignored.push(source.origin.clone());
            continue;
        };
        service.files.push(RenderedFile {
            relative: source.relative.clone(),
            contents: text.into_bytes(),
            mode,
            owner: None,
        });
    }

    // Only services something was rendered for (nginx ships no template).
    services.retain(|s| !s.files.is_empty());
    for (identity, htpasswd) in htpasswds {
        let relative = identity.htpasswd();
        let owner = relative.split('/').next().unwrap_or_default();
        if let Some(service) = services.iter_mut().find(|s| s.name == owner) {
            service.files.push(RenderedFile {
                relative: relative.to_string(),
                contents: htpasswd.into_bytes(),
                mode: 0o600,
                owner: None,
            });
        }
    }
    for (name, file) in logins.files() {
        if let Some(service) = services.iter_mut().find(|s| s.name == name) {
            service.files.push(file);
        }
    }
    for (name, dir) in EXTRA_DIRS {
        if let Some(service) = services.iter_mut().find(|s| s.name == *name) {
            service.dirs.push(dir.to_string());
        }
    }
    Ok(Rendering {
        root: swarm_dir(settings),
        services,
        shared_dirs: vec![IOC_LOG_DIR.to_string()],
        ignored,
    })
}

/// What writing did for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// These files were created or replaced.
    Written(Vec<String>),
    Unchanged,
    /// The service is deployed and these files would change: nothing was written.
    Refused(Vec<String>),
}

fn content_differs(path: &Path, contents: &[u8]) -> bool {
    std::fs::read(path).map_or(true, |old| old != contents)
}

fn create_dir(path: &Path) -> Result<(), FsError> {
    std::fs::create_dir_all(path).at(path, "cannot create folder")
}

/// Writes the rendering. A service named in `deployed` (swarm service names) keeps
/// its files when any would change.
pub(crate) fn write<'a>(
    rendering: &'a Rendering,
    deployed: &BTreeSet<String>,
) -> Result<Vec<(&'a RenderedService, Outcome)>, FsError> {
    // Only root can give a file to another user: refuse before anything is written
    // rather than half-way.
    if !rustix::process::geteuid().is_root()
        && let Some(file) = rendering
            .services
            .iter()
            .flat_map(|s| &s.files)
            .find(|f| f.owner.is_some())
    {
        return Err(FsError {
            path: rendering.root.join(&file.relative),
            action: "cannot give it to the user its service runs as: run iocdock as root (nothing was written)",
            cause: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
    }
    for dir in &rendering.shared_dirs {
        create_dir(&rendering.root.join(dir))?;
    }
    let mut outcomes = Vec::with_capacity(rendering.services.len());
    for service in &rendering.services {
        let changed: Vec<&RenderedFile> = service
            .files
            .iter()
            .filter(|f| content_differs(&rendering.root.join(&f.relative), &f.contents))
            .collect();
        if deployed.contains(&service.service_name) && !changed.is_empty() {
            let names = changed.iter().map(|f| f.relative.clone()).collect();
            outcomes.push((service, Outcome::Refused(names)));
            continue;
        }
        for dir in &service.dirs {
            create_dir(&rendering.root.join(dir))?;
        }
        let mut written = Vec::new();
        for file in &service.files {
            let path = rendering.root.join(&file.relative);
            if let Some(parent) = path.parent() {
                create_dir(parent)?;
            }
            let written_now = match file.owner {
                Some(uid) => write_owned_if_changed(&path, &file.contents, file.mode, uid)?,
                None => write_if_changed(&path, &file.contents, file.mode)?,
            };
            if written_now {
                written.push(file.relative.clone());
            }
        }
        let outcome = if written.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::Written(written)
        };
        outcomes.push((service, outcome));
    }
    Ok(outcomes)
}

/// Certificate files the registry needs that are not there yet.
pub(crate) fn missing_registry_certs(settings: &Settings) -> Vec<PathBuf> {
    let root = swarm_dir(settings);
    REGISTRY_CERTS[..2]
        .iter()
        .map(|relative| root.join(relative))
        .filter(|path| !path.is_file())
        .collect()
}

#[cfg(test)]
mod tests;
