//! The connection to the Docker Engine of this manager node.
//!
//! Every client is made by `connect_to`, which decides how to reach the engine from
//! `DOCKER_HOST`: its Unix socket as it is; a TCP endpoint only with TLS that verifies
//! the engine's certificate (`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`), unless plain TCP
//! is allowed explicitly, since deployments send registry passwords
//! (`X-Registry-Auth`) to the engine.
//!
//! Every request has deadlines, so no command hangs on an engine that took the
//! connection and never answers (a frozen manager): connecting, each request (reads
//! `engine_read_timeout`, changes `engine_write_timeout`) and everything one command
//! asks (an [`Engine`] session). They are enforced in the transport every request goes
//! through, whoever makes the request; streams (followed logs, `client`) are free once
//! their first answer came.

mod cause;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bollard::{API_DEFAULT_VERSION, BollardRequest, ClientVersion, Docker};

use cause::{Expired, Limit, Setting};

use crate::process::one_line;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SwarmError {
    #[error("cannot reach the Docker daemon at {endpoint}: {cause}; {hint}")]
    Unreachable {
        endpoint: String,
        cause: String,
        hint: String,
    },
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
    /// The error of request `action`: the engine's answer when it gave one, else why it
    /// could not be reached or did not answer in time.
    pub(crate) fn api(action: impl Into<String>, error: bollard::errors::Error) -> Self {
        let endpoint = endpoint();
        match cause::failure(&error, &endpoint) {
            Some(failure) => SwarmError::Unreachable {
                endpoint,
                cause: failure.cause,
                hint: failure.hint,
            },
            None => SwarmError::Api {
                action: action.into(),
                detail: one_line(&error.to_string()),
            },
        }
    }

    /// Whether iocdock could not talk to the engine at all: unreachable, no answer in
    /// time, or an endpoint it refuses to use. Such errors exit with their own code,
    /// apart from an operation that failed.
    pub(crate) fn is_engine_failure(&self) -> bool {
        matches!(
            self,
            SwarmError::Unreachable { .. }
                | SwarmError::PlainTcp { .. }
                | SwarmError::UnsupportedEndpoint { .. }
                | SwarmError::TlsSetUp { .. }
        )
    }

    fn expired(expired: Expired) -> Self {
        SwarmError::api("request", expired.into_request_error())
    }
}

/// An engine failure with what it kept from being done, as one line:
/// `<the failure>; <what it means here>`.
#[derive(Debug, thiserror::Error)]
#[error("{error}; {consequence}")]
pub(crate) struct EngineFailure {
    pub(crate) error: SwarmError,
    pub(crate) consequence: String,
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

/// How long iocdock waits for the engine (settings `engine_read_timeout`,
/// `engine_write_timeout`; connecting is fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineLimits {
    pub(crate) connect: Duration,
    /// Each request that reads (GET, HEAD), and all requests of a command that only
    /// reads.
    pub(crate) read: Duration,
    /// Each request that changes something (create, update, remove), and all requests
    /// of a command that deploys, updates or removes.
    pub(crate) write: Duration,
}

impl EngineLimits {
    pub(crate) const DEFAULT: EngineLimits = EngineLimits {
        connect: Duration::from_secs(3),
        read: Duration::from_secs(10),
        write: Duration::from_secs(60),
    };
}

static LIMITS: OnceLock<EngineLimits> = OnceLock::new();

/// Sets the limits of every engine connection of this process, once, from the
/// settings: engine connections are made deep inside commands and domain modules,
/// and none of them may go without.
pub(crate) fn set_limits(limits: EngineLimits) {
    let _ = LIMITS.set(limits);
}

fn limits() -> EngineLimits {
    LIMITS.get().copied().unwrap_or(EngineLimits::DEFAULT)
}

/// bollard's own request timeout, which only covers the wait for the answer's head:
/// out of the way of ours, which come first.
const BOLLARD_TIMEOUT: u64 = 7 * 24 * 3600;

/// The deadlines of one command's engine session: per request (by method), and for
/// everything the command asks together, so many slow answers cannot add up.
struct Session {
    limits: EngineLimits,
    /// What the whole command may wait, and the setting it comes from.
    budget: Limit,
    /// When the command's time is up; None while a stream runs.
    ends: Mutex<Option<Instant>>,
}

impl Session {
    fn new(limits: EngineLimits, budget: Limit) -> Arc<Session> {
        Arc::new(Session {
            limits,
            budget,
            ends: Mutex::new(Instant::now().checked_add(budget.time)),
        })
    }

    fn ends(&self) -> Option<Instant> {
        *self.ends.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_ends(&self, ends: Option<Instant>) {
        *self.ends.lock().unwrap_or_else(|e| e.into_inner()) = ends;
    }

    /// The time left to the command, or None while it is not counted.
    fn remaining(&self) -> Option<Duration> {
        self.ends()
            .map(|ends| ends.saturating_duration_since(Instant::now()))
    }

    /// How long connecting may take (a few seconds, or less when the command has
    /// less), and the limit to name when it does not make it.
    fn connect_limit(&self) -> (Duration, Limit) {
        let own = Limit {
            time: self.limits.connect,
            setting: None,
        };
        match self.remaining() {
            Some(left) if left < own.time => (left, self.budget),
            _ => (own.time, own),
        }
    }

    /// How long a request with `method` may take, and the limit to name when it does
    /// not make it: its own, or the command's when that ends first.
    fn request_limit(&self, method: &hyper::Method) -> (Duration, Limit) {
        let own = if method == hyper::Method::GET || method == hyper::Method::HEAD {
            Limit {
                time: self.limits.read,
                setting: Some(Setting::Read),
            }
        } else {
            Limit {
                time: self.limits.write,
                setting: Some(Setting::Write),
            }
        };
        match self.remaining() {
            Some(left) if left < own.time => (left, self.budget),
            _ => (own.time, own),
        }
    }

    /// The command's time ran out.
    fn spent(&self) -> SwarmError {
        SwarmError::expired(Expired {
            limit: self.budget,
            connecting: false,
        })
    }
}

/// Runs `future` until the session's time is up.
async fn bounded<F: Future>(session: &Session, future: F) -> Result<F::Output, SwarmError> {
    match session.remaining() {
        None => Ok(future.await),
        Some(left) => tokio::time::timeout(left, future)
            .await
            .map_err(|_| session.spent()),
    }
}

/// A bollard client whose every request goes through `send` with the session's
/// deadlines; `connect` is the limit the connector was given, named when a connect
/// times out. An error keeps its sources, so the OS's cause can be found below the
/// client library's own words.
fn with_deadlines<S, F, E>(
    send: S,
    address: String,
    session: &Arc<Session>,
    connect: Limit,
    version: &ClientVersion,
) -> Result<Client, SwarmError>
where
    S: Fn(BollardRequest) -> F + Send + Sync + 'static,
    F: Future<Output = Result<hyper::Response<hyper::body::Incoming>, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let session = Arc::clone(session);
    let transport: Transport = Arc::new(move |request: BollardRequest| {
        let (wait, limit) = session.request_limit(request.method());
        let answer = send(request);
        Box::pin(async move {
            match tokio::time::timeout(wait, answer).await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(e)) if cause::is_connect_timeout(&e) => Err(Expired {
                    limit: connect,
                    connecting: true,
                }
                .into_request_error()),
                Ok(Err(e)) => Err(bollard::errors::Error::from(std::io::Error::other(e))),
                Err(_) => Err(Expired {
                    limit,
                    connecting: false,
                }
                .into_request_error()),
            }
        })
    });
    let for_bollard = Arc::clone(&transport);
    let docker = Docker::connect_with_custom_transport(
        move |request: BollardRequest| for_bollard(request),
        Some(address.clone()),
        BOLLARD_TIMEOUT,
        version,
    )
    .map_err(|e| SwarmError::api("client set-up", e))?;
    Ok(Client {
        docker,
        raw: Raw { transport, address },
    })
}

/// Sends one request with the session's deadlines.
type Transport = Arc<
    dyn Fn(
            BollardRequest,
        ) -> std::pin::Pin<
            Box<
                dyn Future<
                        Output = Result<
                            hyper::Response<hyper::body::Incoming>,
                            bollard::errors::Error,
                        >,
                    > + Send,
            >,
        > + Send
        + Sync,
>;

/// A service as the engine wrote it, read into bollard's model with the health check
/// moved to where the model looks for it.
fn service_model(
    mut service: serde_json::Value,
) -> Result<bollard::models::Service, bollard::errors::Error> {
    // Only `Spec`: bollard's model has no `PreviousSpec`.
    if let Some(serde_json::Value::Object(container)) =
        service.pointer_mut("/Spec/TaskTemplate/ContainerSpec")
        && let Some(check) = container.remove("Healthcheck")
    {
        container.insert("HealthCheck".to_string(), check);
    }
    serde_json::from_value(service)
        .map_err(|e| bollard::errors::Error::from(std::io::Error::other(e)))
}

/// A bollard client and a way around it over the same transport and deadlines.
struct Client {
    docker: Docker,
    raw: Raw,
}

/// Plain JSON requests, for the answers bollard's models misread: the engine writes a
/// service's health check as `Healthcheck` where bollard looks for `HealthCheck`, so
/// a service read through bollard has lost it.
#[derive(Clone)]
pub(crate) struct Raw {
    transport: Transport,
    /// `scheme://host` as bollard's requests carry it.
    address: String,
}

impl Raw {
    /// `GET path` (with its query) in the API version of `docker`, as JSON; None
    /// when the engine answers 404.
    pub(crate) async fn get_json(
        &self,
        docker: &Docker,
        path: &str,
    ) -> Result<Option<serde_json::Value>, bollard::errors::Error> {
        use http_body_util::BodyExt;
        let version = docker.client_version();
        let uri = format!(
            "{}/v{}.{}{path}",
            self.address, version.major_version, version.minor_version
        );
        let request = hyper::Request::get(uri)
            .header("Accept", "application/json")
            .body(bollard::body_full(Default::default()))
            .map_err(|e| bollard::errors::Error::from(std::io::Error::other(e)))?;
        let response = (self.transport)(request).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| bollard::errors::Error::from(std::io::Error::other(e)))?
            .to_bytes();
        if status == hyper::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(bollard::errors::Error::DockerResponseServerError {
                status_code: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| bollard::errors::Error::from(std::io::Error::other(e)))
    }

    /// The services whose name starts with `prefix`, as `list_services` gives them
    /// but with their health checks.
    pub(crate) async fn services_named(
        &self,
        docker: &Docker,
        prefix: &str,
    ) -> Result<Vec<bollard::models::Service>, bollard::errors::Error> {
        let filters = serde_json::json!({ "name": [prefix] }).to_string();
        let query: String = form_urlencoded::byte_serialize(filters.as_bytes()).collect();
        let listed = self
            .get_json(docker, &format!("/services?filters={query}"))
            .await?
            .unwrap_or_default();
        match listed {
            serde_json::Value::Array(services) => services.into_iter().map(service_model).collect(),
            _ => Ok(Vec::new()),
        }
    }

    /// The service `name` (or id) with its health check; None when there is none.
    pub(crate) async fn service(
        &self,
        docker: &Docker,
        name: &str,
    ) -> Result<Option<bollard::models::Service>, bollard::errors::Error> {
        let name: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
        match self.get_json(docker, &format!("/services/{name}")).await? {
            Some(service) => service_model(service).map(Some),
            None => Ok(None),
        }
    }
}

fn legacy_client<C>(connector: C) -> hyper_util::client::legacy::Client<C, BollardBody>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        // As bollard's own clients: one request per connection.
        .pool_max_idle_per_host(0)
        .build(connector)
}

/// The body type of bollard's requests, which bollard does not name.
type BollardBody = <BollardRequest as RequestBody>::Body;

trait RequestBody {
    type Body;
}

impl<B> RequestBody for hyper::Request<B> {
    type Body = B;
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

/// A client for the engine at `DOCKER_HOST` speaking `version`, with the deadlines of
/// `session`: the one place where engine connections are made.
fn connect_to(session: &Arc<Session>, version: &ClientVersion) -> Result<Client, SwarmError> {
    let environment = Environment::read();
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
async fn client(session: &Arc<Session>) -> Result<Client, SwarmError> {
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
    let client = connect_to(session, API_DEFAULT_VERSION)?;
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

/// Fails with `NotManager` unless this node manages a swarm.
async fn require_manager(docker: &Docker) -> Result<(), SwarmError> {
    let info = docker
        .info()
        .await
        .map_err(|e| SwarmError::api("info", e))?;
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

/// A connected client on a swarm manager, with the runtime its calls run on and the
/// deadlines of the command's session. The commands are synchronous; only the Docker
/// calls are async.
pub(crate) struct Engine {
    docker: Docker,
    raw: Raw,
    runtime: tokio::runtime::Runtime,
    session: Arc<Session>,
}

impl Engine {
    /// Connects through `DOCKER_HOST` or the local socket, negotiates the API version
    /// (daemons from API 1.41 up) and checks that this node manages a swarm, for a
    /// command that only reads: everything it asks must be answered within
    /// `engine_read_timeout`.
    pub(crate) fn connect() -> Result<Engine, SwarmError> {
        let limits = limits();
        Engine::open(
            limits,
            Limit {
                time: limits.read,
                setting: Some(Setting::Read),
            },
            true,
        )
    }

    /// Like `connect`, for a command that deploys, updates or removes services: all it
    /// asks must be answered within `engine_write_timeout`.
    pub(crate) fn connect_for_changes() -> Result<Engine, SwarmError> {
        let limits = limits();
        Engine::open(
            limits,
            Limit {
                time: limits.write,
                setting: Some(Setting::Write),
            },
            true,
        )
    }

    /// For views that must print something quickly even when the daemon hangs: all
    /// requests together get `limit` (or `engine_read_timeout` when shorter), and this
    /// node is not asked whether it manages a swarm first. Swarm requests fail anyway
    /// on a node that does not (`explain` then tells why); this saves the daemon's
    /// slow `/info` answer.
    pub(crate) fn connect_for_view(limit: Duration) -> Result<Engine, SwarmError> {
        let limits = limits();
        let budget = if limits.read < limit {
            Limit {
                time: limits.read,
                setting: Some(Setting::Read),
            }
        } else {
            Limit {
                time: limit,
                setting: None,
            }
        };
        Engine::open(limits, budget, false)
    }

    fn open(limits: EngineLimits, budget: Limit, must_manage: bool) -> Result<Engine, SwarmError> {
        let runtime = runtime()?;
        let session = Session::new(limits, budget);
        let Client { docker, raw } = runtime.block_on(bounded(&session, async {
            let client = client(&session).await?;
            if must_manage {
                require_manager(&client.docker).await?;
            }
            Ok::<_, SwarmError>(client)
        }))??;
        Ok(Engine {
            docker,
            raw,
            runtime,
            session,
        })
    }

    /// An error of a view's swarm request, or the reason behind it when this node
    /// manages no swarm (the daemon then answers swarm requests with a bare 503).
    pub(crate) fn explain(&self, error: SwarmError) -> SwarmError {
        match error {
            SwarmError::Api { .. } => match self.run(require_manager(&self.docker)) {
                Ok(Err(not_manager @ SwarmError::NotManager { .. })) => not_manager,
                _ => error,
            },
            other => other,
        }
    }

    /// Waits up to `limit` for a daemon that was just started to answer, then
    /// negotiates the API version. Unlike `connect` it asks nothing about the swarm:
    /// a restarted manager is still rejoining its swarm for a while. What follows has
    /// `engine_write_timeout`.
    pub(crate) fn wait_until_answering(limit: Duration) -> Result<Engine, SwarmError> {
        // A starting daemon may accept a connection long before it answers it.
        const PROBE: Duration = Duration::from_secs(5);
        const POLL: Duration = Duration::from_millis(250);
        let limits = limits();
        let runtime = runtime()?;
        let deadline = Instant::now() + limit;
        loop {
            let probe = Session::new(
                limits,
                Limit {
                    time: PROBE.min(limits.read),
                    setting: Some(Setting::Read),
                },
            );
            // Connecting fails too while the daemon has not made its socket yet.
            let answered = runtime.block_on(bounded(&probe, async {
                let docker = client(&probe).await?.docker;
                docker
                    .ping()
                    .await
                    .map_err(|e| SwarmError::api("ping", e))?;
                Ok::<_, SwarmError>(docker)
            }));
            let detail = match answered {
                Ok(Ok(docker)) => {
                    let session = Session::new(
                        limits,
                        Limit {
                            time: limits.write,
                            setting: Some(Setting::Write),
                        },
                    );
                    // The same connection settings, with the new session's deadlines.
                    let version = docker.client_version();
                    let Client { docker, raw } = connect_to(&session, &version)?;
                    return Ok(Engine {
                        docker,
                        raw,
                        runtime,
                        session,
                    });
                }
                Ok(Err(SwarmError::Unreachable { cause, .. }))
                | Err(SwarmError::Unreachable { cause, .. }) => cause,
                // A refused endpoint stays refused however long one waits.
                Ok(Err(refused)) | Err(refused) => return Err(refused),
            };
            if Instant::now() >= deadline {
                let endpoint = endpoint();
                return Err(SwarmError::Unreachable {
                    endpoint,
                    cause: format!(
                        "no answer within {} after it was started: {detail}",
                        cause::seconds(limit)
                    ),
                    hint: "see the engine's log (journalctl -u docker)".to_string(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    pub(crate) fn docker(&self) -> &Docker {
        &self.docker
    }

    pub(crate) fn raw(&self) -> &Raw {
        &self.raw
    }

    /// Runs requests until the command's time is up.
    pub(crate) fn run<F: Future>(&self, future: F) -> Result<F::Output, SwarmError> {
        self.runtime.block_on(bounded(&self.session, future))
    }

    /// One request, named `action` in its error.
    pub(crate) fn request<T>(
        &self,
        action: &str,
        future: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, SwarmError> {
        self.run(future)?.map_err(|e| SwarmError::api(action, e))
    }

    /// Runs a stream that ends when the operator says so (followed logs, a `client`
    /// tool): each request still has its deadline for its first answer, but the
    /// command's time does not run meanwhile; it starts again afterwards.
    pub(crate) fn unbounded<F: Future>(&self, future: F) -> F::Output {
        self.session.set_ends(None);
        let output = self.runtime.block_on(future);
        self.renew();
        output
    }

    /// Starts the command's time again, for a new phase that has its own limit (waiting
    /// for a restarted engine).
    pub(crate) fn renew(&self) {
        self.session
            .set_ends(Instant::now().checked_add(self.session.budget.time));
    }

    /// The error of a request that got no answer before the command's time was up.
    pub(crate) fn time_is_up(&self) -> SwarmError {
        self.session.spent()
    }

    /// How long each piece of a stream may keep the command waiting, and the error when
    /// one does not come in time (logs that are read to their end).
    pub(crate) fn piece_limit(&self) -> Duration {
        self.session.limits.read
    }

    pub(crate) fn piece_missing(&self) -> SwarmError {
        SwarmError::expired(Expired {
            limit: Limit {
                time: self.session.limits.read,
                setting: Some(Setting::Read),
            },
            connecting: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_keeps_the_health_check_the_engine_wrote() {
        let written = serde_json::json!({
            "ID": "x",
            "Spec": {"TaskTemplate": {"ContainerSpec": {
                "Image": "i", "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Retries": 5}
            }}},
            "PreviousSpec": {"TaskTemplate": {"ContainerSpec": {
                "Image": "i", "Healthcheck": {"Test": ["NONE"]}
            }}}
        });
        let service = service_model(written).unwrap();
        let check = |spec: Option<bollard::models::ServiceSpec>| {
            spec.and_then(|s| s.task_template)
                .and_then(|t| t.container_spec)
                .and_then(|c| c.health_check)
                .and_then(|h| h.test)
        };
        assert_eq!(
            check(service.spec),
            Some(vec!["CMD-SHELL".to_string(), "true".to_string()])
        );
    }

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
