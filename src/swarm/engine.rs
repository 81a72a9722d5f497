//! The connection to the Docker Engine of this manager node.
//!
//! Every client is made by `connect_to`, which decides how to reach the engine from
//! `DOCKER_HOST`: its Unix socket as it is; a TCP endpoint only with TLS that verifies
//! the engine's certificate (`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`), unless plain TCP
//! is allowed explicitly, since deployments send registry passwords
//! (`X-Registry-Auth`) to the engine.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};

#[derive(Debug, thiserror::Error)]
pub(crate) enum SwarmError {
    #[error(
        "cannot reach the Docker daemon at {endpoint}: {detail} (is dockerd running? set DOCKER_HOST to use another)"
    )]
    Unreachable { endpoint: String, detail: String },
    #[error(
        "this node is not a swarm manager (swarm state: {state}); run iocdock on a manager node"
    )]
    NotManager { state: String },
    #[error("Docker {action} failed: {detail}")]
    Api { action: String, detail: String },
    #[error("cannot start the Docker client runtime: {0}")]
    Runtime(String),
    #[error(
        "DOCKER_HOST={endpoint} is plain TCP, which would send registry passwords (X-Registry-Auth) across the network in clear: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) to connect with TLS, or {ALLOW_PLAIN_TCP}=1 to allow plain TCP"
    )]
    PlainTcp { endpoint: String },
    #[error(
        "DOCKER_HOST={endpoint}: unsupported; iocdock connects to unix:// sockets and to tcp:// or https:// endpoints"
    )]
    UnsupportedEndpoint { endpoint: String },
    #[error("DOCKER_HOST={endpoint}: cannot use TLS: {problem}")]
    TlsSetUp { endpoint: String, problem: String },
}

/// Environment variable that allows a `tcp://` engine endpoint without TLS.
pub(crate) const ALLOW_PLAIN_TCP: &str = "IOCDOCK_ALLOW_PLAIN_TCP";

impl SwarmError {
    pub(crate) fn api(action: impl Into<String>, error: bollard::errors::Error) -> Self {
        SwarmError::Api {
            action: action.into(),
            detail: one_line(&error.to_string()),
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where the client connects: `DOCKER_HOST` when set, else the local socket.
pub(crate) fn endpoint() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, SwarmError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SwarmError::Runtime(e.to_string()))
}

/// An error with its causes: what failed in a TLS handshake is only said by a cause
/// of a cause ("client error (Connect)" alone tells nothing).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = inner.source();
    }
    one_line(&text)
}

fn unreachable(e: bollard::errors::Error) -> SwarmError {
    SwarmError::Unreachable {
        endpoint: endpoint(),
        detail: with_causes(&e),
    }
}

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

/// What the environment says about the engine connection, read once.
struct Environment {
    host: String,
    tls_verify: bool,
    allow_plain: bool,
    cert_path: Option<PathBuf>,
}

impl Environment {
    fn read() -> Self {
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

/// A client for the engine at `DOCKER_HOST` speaking `version`: the one place where
/// engine connections are made.
fn connect_to(timeout: Duration, version: &ClientVersion) -> Result<Docker, SwarmError> {
    let environment = Environment::read();
    let host = environment.host.as_str();
    let seconds = timeout.as_secs().max(1);
    match environment.route()? {
        Route::Socket => Docker::connect_with_unix(host, seconds, version).map_err(unreachable),
        Route::Plain => Docker::connect_with_http(host, seconds, version).map_err(unreachable),
        Route::Tls(certs) => {
            tls_client(host, &certs, seconds, version).map_err(|problem| SwarmError::TlsSetUp {
                endpoint: host.to_string(),
                problem,
            })
        }
    }
}

/// A client that speaks TLS to `host` and trusts exactly the CA of `certs/ca.pem`, as
/// the docker CLI does (bollard's own TLS client would trust the system's store too,
/// where the cluster CA sits on every node), and shows `cert.pem`/`key.pem` when there.
fn tls_client(
    host: &str,
    certs: &std::path::Path,
    seconds: u64,
    version: &ClientVersion,
) -> Result<Docker, String> {
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;

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
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(tcp);
    let client = Arc::new(
        Client::builder(TokioExecutor::new())
            // As bollard's own clients: one request per connection.
            .pool_max_idle_per_host(0)
            .build(connector),
    );
    let address = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("https://"))
        .unwrap_or(host)
        .trim_end_matches('/');
    Docker::connect_with_custom_transport(
        move |request: bollard::BollardRequest| {
            let client = Arc::clone(&client);
            async move {
                client.request(request).await.map_err(|e| {
                    bollard::errors::Error::from(std::io::Error::other(with_causes(&e)))
                })
            }
        },
        Some(format!("https://{address}")),
        seconds,
        version,
    )
    .map_err(|e| with_causes(&e))
}

/// A request, or a series of them, that ran out of time.
pub(crate) fn no_answer(limit: Duration) -> SwarmError {
    SwarmError::Unreachable {
        endpoint: endpoint(),
        detail: format!("no answer within {} s", limit.as_secs_f32()),
    }
}

/// bollard's request timeout when none is asked for.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A client speaking the daemon's API version (from API 1.41 up), giving up after
/// `limit` on each request.
async fn client(limit: Option<Duration>) -> Result<Docker, SwarmError> {
    let host = endpoint();
    // bollard counts whole seconds; a zero would mean "no answer ever".
    let timeout = limit.map_or(REQUEST_TIMEOUT, |l| l.max(Duration::from_secs(1)));
    if host.starts_with("unix://")
        && let Some(server) = pinged_api_version(&host, timeout)
    {
        let version = if server < *API_DEFAULT_VERSION {
            server
        } else {
            *API_DEFAULT_VERSION
        };
        return connect_to(timeout, &version);
    }
    let docker = connect_to(timeout, API_DEFAULT_VERSION)?;
    docker.negotiate_version().await.map_err(unreachable)
}

/// The API version of the daemon listening on the Unix socket of `host`, from the
/// `Api-Version` header of `GET /_ping`. bollard negotiates through `/version`,
/// which the daemon answers in about 10 ms (it asks containerd), `/_ping` in well
/// under one: every command that talks to the daemon starts with this. None when the
/// answer does not tell; the caller then negotiates the slow way, which also yields
/// the error to show when the daemon is not there.
fn pinged_api_version(host: &str, timeout: Duration) -> Option<ClientVersion> {
    use std::io::{Read, Write};
    let path = host.strip_prefix("unix://")?;
    let mut stream = std::os::unix::net::UnixStream::connect(path).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    // HTTP/1.0: the daemon closes the connection after its answer.
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .ok()?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer).ok()?;
    api_version_header(&String::from_utf8_lossy(&answer))
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

/// Fails with `NotManager` unless this node manages a swarm.
async fn require_manager(docker: &Docker) -> Result<(), SwarmError> {
    let info = docker.info().await.map_err(unreachable)?;
    let swarm = info.swarm.unwrap_or_default();
    if swarm.control_available == Some(true) {
        return Ok(());
    }
    let state = swarm
        .local_node_state
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "inactive".to_string());
    Err(SwarmError::NotManager { state })
}

/// A connected client on a swarm manager, with the runtime its calls run on. The
/// commands are synchronous; only the Docker calls are async.
pub(crate) struct Engine {
    docker: Docker,
    runtime: tokio::runtime::Runtime,
}

impl Engine {
    /// Connects through `DOCKER_HOST` or the local socket, negotiates the API version
    /// (daemons from API 1.41 up) and checks that this node manages a swarm.
    pub(crate) fn connect() -> Result<Engine, SwarmError> {
        Engine::open(None, true)
    }

    /// Like `connect`, but gives up after `limit` (for each later request too), for
    /// views that must print something quickly even when the daemon hangs.
    pub(crate) fn connect_within(limit: Duration) -> Result<Engine, SwarmError> {
        Engine::open(Some(limit), true)
    }

    /// Like `connect_within`, but without asking whether this node manages a swarm:
    /// for read-only views, whose swarm requests fail anyway on a node that does not
    /// (`explain` then tells why). Saves the daemon's slow `/info` answer.
    pub(crate) fn connect_for_view(limit: Duration) -> Result<Engine, SwarmError> {
        Engine::open(Some(limit), false)
    }

    fn open(limit: Option<Duration>, must_manage: bool) -> Result<Engine, SwarmError> {
        let runtime = runtime()?;
        let handshake = async {
            let docker = client(limit).await?;
            if must_manage {
                require_manager(&docker).await?;
            }
            Ok::<_, SwarmError>(docker)
        };
        let docker = match limit {
            None => runtime.block_on(handshake)?,
            Some(limit) => runtime
                .block_on(async { tokio::time::timeout(limit, handshake).await })
                .map_err(|_| no_answer(limit))??,
        };
        Ok(Engine { docker, runtime })
    }

    /// An error of a view's swarm request, or the reason behind it when this node
    /// manages no swarm (the daemon then answers swarm requests with a bare 503).
    pub(crate) fn explain(&self, error: SwarmError) -> SwarmError {
        match error {
            SwarmError::Api { .. } => match self.block_on(require_manager(&self.docker)) {
                Err(not_manager @ SwarmError::NotManager { .. }) => not_manager,
                _ => error,
            },
            other => other,
        }
    }

    /// Waits up to `limit` for a daemon that was just started to answer, then
    /// negotiates the API version. Unlike `connect` it asks nothing about the swarm:
    /// a restarted manager is still rejoining its swarm for a while.
    pub(crate) fn wait_until_answering(limit: Duration) -> Result<Engine, SwarmError> {
        // A starting daemon may accept a connection long before it answers it.
        const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
        const POLL: Duration = Duration::from_millis(250);
        let runtime = runtime()?;
        let gone = |detail: String| SwarmError::Unreachable {
            endpoint: endpoint(),
            detail,
        };
        let docker = runtime.block_on(async {
            let deadline = Instant::now() + limit;
            loop {
                // Connecting fails too while the daemon has not made its socket yet.
                let detail = match connect_to(PROBE_TIMEOUT, API_DEFAULT_VERSION) {
                    Ok(docker) => match docker.ping().await {
                        Ok(_) => match docker.negotiate_version().await {
                            // Back to the usual timeout for the calls that follow:
                            // `swarm init` waits for the new node.
                            Ok(docker) => return Ok(docker.with_timeout(REQUEST_TIMEOUT)),
                            Err(e) => with_causes(&e),
                        },
                        Err(e) => with_causes(&e),
                    },
                    Err(SwarmError::Unreachable { detail, .. }) => detail,
                    // A refused endpoint stays refused however long one waits.
                    Err(refused) => return Err(refused),
                };
                if Instant::now() >= deadline {
                    return Err(gone(format!(
                        "no answer within {} s: {detail}",
                        limit.as_secs()
                    )));
                }
                tokio::time::sleep(POLL).await;
            }
        })?;
        Ok(Engine { docker, runtime })
    }

    pub(crate) fn docker(&self) -> &Docker {
        &self.docker
    }

    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
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
