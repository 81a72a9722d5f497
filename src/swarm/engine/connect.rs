//! Where and how the engine is reached (`DOCKER_HOST`, TLS, plain TCP by permission
//! only) and which API version it speaks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, ClientVersion};

use super::cause::{self, Expired};
use super::deadlines::Session;
use super::transport::{BollardBody, Client, legacy_client, with_deadlines};
use super::{ALLOW_PLAIN_TCP, SwarmError, endpoint};

/// How the engine at `DOCKER_HOST` is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Socket,
    /// TLS, trusting the CA of `ca.pem` and showing `cert.pem`/`key.pem` when the
    /// engine asks for a client certificate, all from this folder.
    Tls(PathBuf),
    /// Plain TCP, allowed by `IOCDOCK_ALLOW_PLAIN_TCP=1`.
    Plain,
}

/// What the environment says about the engine connection, read once; or a node
/// engine's TLS endpoint.
pub(super) struct Environment {
    host: String,
    tls_verify: bool,
    allow_plain: bool,
    cert_path: Option<PathBuf>,
}

impl Environment {
    /// A node engine's TLS endpoint `tcp://ADDRESS`, with the CA and client pair of
    /// `certs`: never plain TCP.
    pub(super) fn node(address: &str, certs: PathBuf) -> Self {
        Environment {
            host: format!("tcp://{address}"),
            tls_verify: true,
            allow_plain: false,
            cert_path: Some(certs),
        }
    }

    pub(super) fn read() -> Self {
        let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        // The docker CLI's rule: DOCKER_CERT_PATH, else the docker config folder.
        let cert_path = set("DOCKER_CERT_PATH")
            .or_else(|| set("DOCKER_CONFIG"))
            .map(PathBuf::from)
            .or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".docker")));
        Environment {
            host: endpoint(),
            tls_verify: set("DOCKER_TLS_VERIFY").is_some(),
            allow_plain: std::env::var(ALLOW_PLAIN_TCP).is_ok_and(|v| v == "1"),
            cert_path,
        }
    }

    fn route(&self) -> Result<Route, SwarmError> {
        let host = self.host.as_str();
        if host.starts_with("unix://") {
            return Ok(Route::Socket);
        }
        let tcp = host.starts_with("tcp://") || host.starts_with("http://");
        if !tcp && !host.starts_with("https://") {
            return Err(SwarmError::UnsupportedEndpoint {
                endpoint: host.to_string(),
            });
        }
        if self.tls_verify || host.starts_with("https://") {
            let certs = self.cert_path.clone().ok_or_else(|| SwarmError::TlsSetUp {
                endpoint: host.to_string(),
                problem: "set DOCKER_CERT_PATH to the folder of ca.pem, cert.pem and key.pem"
                    .to_string(),
            })?;
            return Ok(Route::Tls(certs));
        }
        if self.allow_plain {
            Ok(Route::Plain)
        } else {
            Err(SwarmError::PlainTcp {
                endpoint: host.to_string(),
            })
        }
    }
}

/// A client for the engine at `DOCKER_HOST` speaking `version`, with the deadlines of
/// `session`: the one place where engine connections are made.
pub(super) fn connect_to(
    session: &Arc<Session>,
    version: &ClientVersion,
) -> Result<Client, SwarmError> {
    connect_with(&Environment::read(), session, version)
}

/// `connect_to` for the engine `environment` names.
pub(super) fn connect_with(
    environment: &Environment,
    session: &Arc<Session>,
    version: &ClientVersion,
) -> Result<Client, SwarmError> {
    let host = environment.host.as_str();
    let (connect_wait, connect) = session.connect_limit();
    match environment.route()? {
        Route::Socket => {
            let path = host.strip_prefix("unix://").unwrap_or(host);
            let client = legacy_client(hyperlocal::UnixConnector);
            // The socket's path travels hex-encoded as the host, as hyperlocal reads it.
            let hex: String = path.bytes().map(|b| format!("{b:02x}")).collect();
            with_deadlines(
                move |request| client.request(request),
                format!("unix://{hex}"),
                session,
                connect,
                version,
            )
        }
        Route::Plain => {
            let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
            tcp.set_connect_timeout(Some(connect_wait));
            let client = legacy_client(tcp);
            with_deadlines(
                move |request| client.request(request),
                format!("http://{}", tcp_address(host)),
                session,
                connect,
                version,
            )
        }
        Route::Tls(certs) => {
            let client =
                tls_client(&certs, connect_wait).map_err(|problem| SwarmError::TlsSetUp {
                    endpoint: host.to_string(),
                    problem,
                })?;
            with_deadlines(
                move |request| client.request(request),
                format!("https://{}", tcp_address(host)),
                session,
                connect,
                version,
            )
        }
    }
}

/// `HOST:PORT` of a `tcp://`, `http://` or `https://` endpoint.
fn tcp_address(host: &str) -> &str {
    ["tcp://", "http://", "https://"]
        .iter()
        .find_map(|scheme| host.strip_prefix(scheme))
        .unwrap_or(host)
        .trim_end_matches('/')
}

/// A client that speaks TLS and trusts exactly the CA of `certs/ca.pem`, as the docker
/// CLI does (bollard's own TLS client would trust the system's store too, where the
/// cluster CA sits on every node), and shows `cert.pem`/`key.pem` when there.
/// `connect` limits the TCP connect.
fn tls_client(
    certs: &std::path::Path,
    connect: Duration,
) -> Result<
    hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        BollardBody,
    >,
    String,
> {
    use hyper_util::client::legacy::connect::HttpConnector;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let unreadable =
        |file: &std::path::Path, e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
    let ca = certs.join("ca.pem");
    let cert = certs.join("cert.pem");
    let key = certs.join("key.pem");
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(&ca).map_err(|e| unreadable(&ca, &e))? {
        roots
            .add(der.map_err(|e| unreadable(&ca, &e))?)
            .map_err(|e| unreadable(&ca, &e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&ca, &"no certificate in it"));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots);
    // Like the docker CLI, no client pair at all means no client certificate (an
    // engine started with --tlsverify then refuses the handshake); half a pair is a
    // mistake to name.
    let config = if !cert.exists() && !key.exists() {
        builder.with_no_client_auth()
    } else {
        let chain = CertificateDer::pem_file_iter(&cert)
            .map_err(|e| unreadable(&cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unreadable(&cert, &e))?;
        let private_key = PrivateKeyDer::from_pem_file(&key).map_err(|e| unreadable(&key, &e))?;
        builder
            .with_client_auth_cert(chain, private_key)
            .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))?
    };
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(connect));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(tcp);
    Ok(legacy_client(connector))
}

/// A client speaking the daemon's API version (from API 1.41 up).
pub(super) async fn client(session: &Arc<Session>) -> Result<Client, SwarmError> {
    let host = endpoint();
    if let Some(path) = host.strip_prefix("unix://")
        && let Some(server) = pinged_api_version(path, session).await?
    {
        let version = if server < *API_DEFAULT_VERSION {
            server
        } else {
            *API_DEFAULT_VERSION
        };
        return connect_to(session, &version);
    }
    negotiated(connect_to(session, API_DEFAULT_VERSION)?).await
}

/// A client for a node engine's TLS endpoint, speaking its API version.
pub(super) async fn node_client(
    environment: &Environment,
    session: &Arc<Session>,
) -> Result<Client, SwarmError> {
    negotiated(connect_with(environment, session, API_DEFAULT_VERSION)?).await
}

async fn negotiated(client: Client) -> Result<Client, SwarmError> {
    let docker = client
        .docker
        .negotiate_version()
        .await
        .map_err(|e| SwarmError::api("version negotiation", e))?;
    Ok(Client { docker, ..client })
}

/// The API version of the daemon listening on the Unix socket `path`, from the
/// `Api-Version` header of `GET /_ping`. bollard negotiates through `/version`,
/// which the daemon answers in about 10 ms (it asks containerd), `/_ping` in well
/// under one: every command that talks to the daemon starts with this. None when the
/// answer does not tell; the caller then negotiates the slow way. An engine that
/// cannot be reached or does not answer in time is an error right away, with the
/// OS's cause.
async fn pinged_api_version(
    path: &str,
    session: &Session,
) -> Result<Option<ClientVersion>, SwarmError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let endpoint = endpoint();
    let failed = |error: std::io::Error, connecting: bool| {
        let failure = cause::of_io(&error, connecting, &endpoint);
        SwarmError::Unreachable {
            endpoint: endpoint.clone(),
            cause: failure.cause,
            hint: failure.hint,
        }
    };
    let (connect_wait, connect) = session.connect_limit();
    let mut stream =
        match tokio::time::timeout(connect_wait, tokio::net::UnixStream::connect(path)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(failed(e, true)),
            Err(_) => {
                return Err(SwarmError::expired(Expired {
                    limit: connect,
                    connecting: true,
                }));
            }
        };
    let (wait, limit) = session.request_limit(&hyper::Method::GET);
    let exchange = async {
        // HTTP/1.0: the daemon closes the connection after its answer.
        stream
            .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(64 * 1024)
            .read_to_end(&mut answer)
            .await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(wait, exchange).await {
        Ok(Ok(answer)) => Ok(api_version_header(&String::from_utf8_lossy(&answer))),
        Ok(Err(e)) => Err(failed(e, false)),
        Err(_) => Err(SwarmError::expired(Expired {
            limit,
            connecting: false,
        })),
    }
}

/// The `Api-Version` header of a successful HTTP answer, as a version.
fn api_version_header(answer: &str) -> Option<ClientVersion> {
    let head = answer.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?;
    if status.split_whitespace().nth(1) != Some("200") {
        return None;
    }
    let value = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("api-version")
            .then(|| value.trim())
    })?;
    let (major, minor) = value.split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(host: &str, tls_verify: bool, allow_plain: bool) -> Environment {
        Environment {
            host: host.to_string(),
            tls_verify,
            allow_plain,
            cert_path: Some(PathBuf::from("/certs")),
        }
    }

    #[test]
    fn tcp_endpoints_need_tls_or_an_explicit_permission() {
        let tls = Some(Route::Tls(PathBuf::from("/certs")));
        assert_eq!(
            environment("unix:///run/docker.sock", false, false)
                .route()
                .ok(),
            Some(Route::Socket)
        );
        assert_eq!(
            environment("tcp://10.0.0.1:2376", true, false).route().ok(),
            tls
        );
        assert_eq!(
            environment("https://10.0.0.1:2376", false, false)
                .route()
                .ok(),
            tls
        );
        // TLS wins over the permission for plain TCP.
        assert_eq!(
            environment("tcp://10.0.0.1:2376", true, true).route().ok(),
            tls
        );
        assert_eq!(
            environment("tcp://10.0.0.1:2375", false, true).route().ok(),
            Some(Route::Plain)
        );
        for host in ["tcp://10.0.0.1:2375", "http://10.0.0.1:2375"] {
            let err = environment(host, false, false)
                .route()
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("DOCKER_HOST={host} is plain TCP")),
                "{err}"
            );
            assert!(err.contains("DOCKER_TLS_VERIFY=1"), "{err}");
            assert!(err.contains("IOCDOCK_ALLOW_PLAIN_TCP=1"), "{err}");
        }
        let err = environment("ssh://ops@node", false, true)
            .route()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DOCKER_HOST=ssh://ops@node: unsupported"),
            "{err}"
        );
    }

    #[test]
    fn the_api_version_comes_from_a_successful_ping_answer() {
        let answer = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nDocker-Experimental: false\r\n\
                      Content-Length: 2\r\n\r\nOK";
        let version = api_version_header(answer).unwrap();
        assert_eq!((version.major_version, version.minor_version), (1, 41));
        let lower = "HTTP/1.0 200 OK\r\napi-version:1.53\r\n\r\nOK";
        assert_eq!(api_version_header(lower).unwrap().minor_version, 53);
        // A body line that looks like the header does not count.
        assert!(api_version_header("HTTP/1.1 200 OK\r\n\r\nApi-Version: 1.41").is_none());
        assert!(
            api_version_header("HTTP/1.1 500 Internal Server Error\r\nApi-Version: 1.41\r\n\r\n")
                .is_none()
        );
        assert!(api_version_header("HTTP/1.1 200 OK\r\nApi-Version: new\r\n\r\n").is_none());
    }
}
