//! The cluster registry's HTTP API v2: repositories and tags, over HTTPS with basic
//! auth from the settings, trusting only the cluster CA.
//!
//! On the manager this is the push registry with the push identity when the settings
//! give one (what an operator checks before and after pushing), else the read-only
//! registry with the pull identity; both serve the same storage.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use ureq::Agent;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::{PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::{BadSetting, certs_dir, optional_ip, registry_name};
use crate::cluster::htpasswd::Identity;
use crate::fsutil::FsError;
use crate::settings::Settings;

/// A registry answers in milliseconds; a run that waits longer would only hang a script.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Pages followed at most, so a registry sending a `Link` loop cannot hang iocdock.
const MAX_PAGES: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistryError {
    #[error(transparent)]
    Setting(#[from] BadSetting),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(
        "{0} does not exist: the cluster CA is needed to trust the registry (run `iocdock make-certs`, or copy the cluster's ca.crt there)"
    )]
    NoCa(PathBuf),
    #[error("{0}: no PEM certificate in it")]
    BadCa(PathBuf),
    #[error("cannot reach the registry at {registry}: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error(
        "TLS with the registry at {registry} failed: {reason}; its certificate must be signed by the cluster CA {ca} and name {name}"
    )]
    Tls {
        registry: String,
        reason: String,
        ca: PathBuf,
        name: String,
    },
    #[error(
        "the registry at {registry} refused the credentials of user \"{user}\" (401 Unauthorized); check {} and {} in {file}",
        .identity.username_key(),
        .identity.password_key()
    )]
    Unauthorized {
        registry: String,
        user: String,
        identity: Identity,
        file: PathBuf,
    },
    #[error(
        "the registry at {registry} requires a login (401 Unauthorized): set {} and {} in {file}",
        .identity.username_key(),
        .identity.password_key()
    )]
    LoginRequired {
        registry: String,
        identity: Identity,
        file: PathBuf,
    },
    #[error("the registry at {registry} has no repository \"{image}\"")]
    NoSuchImage { registry: String, image: String },
    #[error("the registry at {registry} answered {status}{message}")]
    Status {
        registry: String,
        status: u16,
        message: String,
    },
    #[error("the registry at {registry} sent an answer that is not registry API v2: {reason}")]
    BadAnswer { registry: String, reason: String },
    #[error(
        "\"{0}\" is not a repository name (lower-case letters, digits, '.', '_', '-', separated by '/'; no tag)"
    )]
    BadImage(String),
}

/// Connects to `registry_master_ip` whatever the registry's name resolves to, while
/// TLS still checks the certificate for the name: the cluster's registry name is often
/// in no DNS, and `/etc/hosts` of the manager need not carry it.
#[derive(Debug)]
struct FixedAddress(SocketAddr);

impl Resolver for FixedAddress {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut addresses = self.empty();
        addresses.push(self.0);
        Ok(addresses)
    }
}

/// A client of the cluster registry.
pub(crate) struct Registry {
    agent: Agent,
    host: String,
    /// How messages name the registry: `name:port`, plus the address used if fixed.
    shown: String,
    user: String,
    identity: Identity,
    authorization: Option<String>,
    settings_file: PathBuf,
    ca_path: PathBuf,
    /// The address connected to instead of resolving the name, if the settings fix one.
    fixed_address: Option<IpAddr>,
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Manifests with one image config: Docker's schema 2 and OCI's.
const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    config: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

#[derive(Deserialize)]
struct ConfigBlob {
    #[serde(default)]
    config: Option<ImageConfig>,
}

#[derive(Deserialize)]
struct ImageConfig {
    #[serde(default, rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct ErrorList {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    message: String,
}

impl Registry {
    pub(crate) fn from_settings(settings: &Settings) -> Result<Self, RegistryError> {
        let name = registry_name(settings)?.to_string();
        let ip: Option<IpAddr> =
            optional_ip(settings, "registry_master_ip", &settings.registry_master_ip)?;
        let identity = if settings.registry_push_username.is_empty() {
            Identity::Pull
        } else {
            Identity::Push
        };
        let port = match identity {
            Identity::Pull => settings.registry_port,
            Identity::Push => settings.registry_push_port,
        };
        let ca_path = certs_dir(&settings.paths.mount).join("ca.crt");
        let pem = match std::fs::read(&ca_path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RegistryError::NoCa(ca_path));
            }
            Err(source) => {
                return Err(FsError {
                    path: ca_path,
                    action: "cannot read",
                    cause: source,
                }
                .into());
            }
        };
        let roots: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        if roots.is_empty() {
            return Err(RegistryError::BadCa(ca_path));
        }
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&roots))
            .build();
        let config = Agent::config_builder()
            .tls_config(tls)
            // The registry is inside the cluster: a proxy for the internet would only
            // fail to reach it.
            .proxy(None)
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build();
        let host = format!("{name}:{port}");
        let (agent, shown) = match ip {
            Some(ip) => (
                Agent::with_parts(
                    config,
                    DefaultConnector::new(),
                    FixedAddress(SocketAddr::new(ip, port)),
                ),
                format!("{host} (address {ip})"),
            ),
            None => (
                Agent::with_parts(config, DefaultConnector::new(), DefaultResolver::default()),
                host.clone(),
            ),
        };
        let (user, password) = identity.credentials(settings);
        let user = user.to_string();
        let authorization = (!user.is_empty()).then(|| {
            let pair = format!("{user}:{password}");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Ok(Registry {
            agent,
            host,
            shown,
            user,
            identity,
            authorization,
            settings_file: settings.settings_file(),
            ca_path,
            fixed_address: ip,
        })
    }

    /// Every repository of the registry, in the registry's (lexical) order.
    pub(crate) fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        let mut all = Vec::new();
        for page in self.pages("/v2/_catalog")? {
            let catalog: Catalog = self.decode(&page)?;
            all.extend(catalog.repositories.unwrap_or_default());
        }
        Ok(all)
    }

    /// The tags of one repository; `image` may carry the registry's name in front.
    pub(crate) fn tags(&self, image: &str) -> Result<Vec<String>, RegistryError> {
        let repository = repository_name(&self.host, image)?;
        let mut all = Vec::new();
        let path = format!("/v2/{repository}/tags/list");
        for page in self.pages_of(&path, Some(&repository))? {
            let list: TagList = self.decode(&page)?;
            all.extend(list.tags.unwrap_or_default());
        }
        Ok(all)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, body: &str) -> Result<T, RegistryError> {
        serde_json::from_str(body).map_err(|e| RegistryError::BadAnswer {
            registry: self.shown.clone(),
            reason: e.to_string(),
        })
    }

    fn pages(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        self.pages_of(path, None)
    }

    /// The bodies of `path` and of every page its `Link: <...>; rel="next"` headers
    /// lead to.
    fn pages_of(&self, path: &str, image: Option<&str>) -> Result<Vec<String>, RegistryError> {
        let mut bodies = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(path) = next.take() {
            if bodies.len() >= MAX_PAGES {
                break;
            }
            let (body, link) = self.get(&path, image)?;
            bodies.push(body);
            next = link;
        }
        Ok(bodies)
    }

    /// The labels of image `image:tag` as its config blob gives them.
    pub(crate) fn labels(
        &self,
        image: &str,
        tag: &str,
    ) -> Result<BTreeMap<String, String>, RegistryError> {
        let repository = repository_name(&self.host, image)?;
        let bad = |reason: &str| RegistryError::BadAnswer {
            registry: self.shown.clone(),
            reason: reason.to_string(),
        };
        if tag.is_empty()
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(RegistryError::BadImage(format!("{image}:{tag}")));
        }
        let path = format!("/v2/{repository}/manifests/{tag}");
        let (body, _) = self.get_accepting(&path, Some(&repository), Some(MANIFEST_TYPES))?;
        let manifest: Manifest = self.decode(&body)?;
        let digest = manifest
            .config
            .map(|c| c.digest)
            .ok_or_else(|| bad("the manifest names no image config (a list of platforms?)"))?;
        // The digest goes into a URL path: only the one form distribution writes.
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad(
                "the manifest's config digest is not sha256:<64 hex digits>",
            ));
        }
        let (body, _) = self.get(
            &format!("/v2/{repository}/blobs/{digest}"),
            Some(&repository),
        )?;
        let blob: ConfigBlob = self.decode(&body)?;
        Ok(blob.config.and_then(|c| c.labels).unwrap_or_default())
    }

    fn get(
        &self,
        path: &str,
        image: Option<&str>,
    ) -> Result<(String, Option<String>), RegistryError> {
        self.get_accepting(path, image, None)
    }

    fn get_accepting(
        &self,
        path: &str,
        image: Option<&str>,
        accept: Option<&str>,
    ) -> Result<(String, Option<String>), RegistryError> {
        let url = format!("https://{}{path}", self.host);
        let mut request = self.agent.get(&url);
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.call().map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let link = response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.transport_error(e))?;
        match status {
            200 => Ok((body, link)),
            401 if self.authorization.is_none() => Err(RegistryError::LoginRequired {
                registry: self.shown.clone(),
                identity: self.identity,
                file: self.settings_file.clone(),
            }),
            401 => Err(RegistryError::Unauthorized {
                registry: self.shown.clone(),
                user: self.user.clone(),
                identity: self.identity,
                file: self.settings_file.clone(),
            }),
            404 if image.is_some() => Err(RegistryError::NoSuchImage {
                registry: self.shown.clone(),
                image: image.unwrap_or_default().to_string(),
            }),
            _ => {
                let message = serde_json::from_str::<ErrorList>(&body)
                    .ok()
                    .and_then(|list| list.errors.into_iter().next())
                    .map(|e| format!(": {}", e.message))
                    .unwrap_or_default();
                Err(RegistryError::Status {
                    registry: self.shown.clone(),
                    status,
                    message,
                })
            }
        }
    }

    fn tls_error(&self, reason: String) -> RegistryError {
        RegistryError::Tls {
            registry: self.shown.clone(),
            reason,
            ca: self.ca_path.clone(),
            name: self.host.split(':').next().unwrap_or_default().to_string(),
        }
    }

    fn name_resolves(&self) -> bool {
        use std::net::ToSocketAddrs;
        self.fixed_address.is_some()
            || self
                .host
                .to_socket_addrs()
                .is_ok_and(|mut addresses| addresses.next().is_some())
    }

    fn transport_error(&self, error: ureq::Error) -> RegistryError {
        let registry = self.shown.clone();
        let unresolved = || {
            RegistryError::Unreachable {
            registry: self.shown.clone(),
            reason: "its name does not resolve; set registry_master_ip in settings.yaml or add the name to /etc/hosts".to_string(),
        }
        };
        match error {
            ureq::Error::HostNotFound => unresolved(),
            ureq::Error::Rustls(e) => self.tls_error(e.to_string()),
            ureq::Error::Io(e) => {
                // rustls reports certificate problems through the I/O error it returns.
                match e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                {
                    Some(tls) => self.tls_error(tls.to_string()),
                    None if !self.name_resolves() => unresolved(),
                    None => RegistryError::Unreachable {
                        registry,
                        reason: e.to_string(),
                    },
                }
            }
            ureq::Error::Timeout(_) => RegistryError::Unreachable {
                registry,
                reason: "no answer in time".to_string(),
            },
            other => RegistryError::Unreachable {
                registry,
                reason: other.to_string(),
            },
        }
    }
}

/// The repository part of an image name as operators write it (`name`,
/// `registry/name`, `registry:port/name`), checked so it can go into a URL path as it is.
fn repository_name(host: &str, image: &str) -> Result<String, RegistryError> {
    let name = host.split(':').next().unwrap_or_default();
    let image = image.trim();
    let repository = image
        .strip_prefix(&format!("{host}/"))
        .or_else(|| image.strip_prefix(&format!("{name}/")))
        .unwrap_or(image);
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = !repository.is_empty()
        && repository.split('/').all(|part| {
            part.starts_with(alphanumeric)
                && part.ends_with(alphanumeric)
                && part
                    .chars()
                    .all(|c| alphanumeric(c) || matches!(c, '.' | '_' | '-'))
        });
    if valid {
        Ok(repository.to_string())
    } else {
        Err(RegistryError::BadImage(image.to_string()))
    }
}

/// The target of a `Link` header value whose relation is `next`
/// (`</v2/_catalog?last=b&n=100>; rel="next"`), as a path on the same registry.
fn next_link(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        if !is_next {
            return None;
        }
        // A registry may send an absolute URL; only its path and query are followed,
        // so the credentials never go to another host.
        let path = match target.find("://") {
            Some(scheme_end) => {
                let rest = &target[scheme_end + 3..];
                &rest[rest.find('/')?..]
            }
            None => target,
        };
        path.starts_with("/v2/").then(|| path.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        let host = "registry.lab:443";
        for (given, wanted) in [
            ("ioc-exec", "ioc-exec"),
            ("image.dals/ioc-exec", "image.dals/ioc-exec"),
            ("registry.lab/ioc-exec", "ioc-exec"),
            ("registry.lab:443/a/b", "a/b"),
        ] {
            assert_eq!(repository_name(host, given).unwrap(), wanted);
        }
        for bad in [
            "", "ioc:1.0", "Upper", "a//b", "../x", "a/", "a?b=1", "x@sha256",
        ] {
            assert!(repository_name(host, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn next_links_stay_on_the_registry() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=100>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=100")
        );
        assert_eq!(
            next_link(r#"<https://elsewhere.example/v2/x/tags/list?last=1>; rel="next""#)
                .as_deref(),
            Some("/v2/x/tags/list?last=1")
        );
        assert_eq!(next_link(r#"</v2/_catalog?last=b>; rel="prev""#), None);
        assert_eq!(next_link(r#"</other>; rel="next""#), None);
    }
}
