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
mod connect;
mod deadlines;
mod transport;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;

use cause::{Expired, Limit, Setting};
use connect::{Environment, client, connect_to, node_client};
pub(crate) use deadlines::set_limits;
use deadlines::{Session, bounded, limits};
use transport::Client;
pub(crate) use transport::Raw;

use crate::process::one_line;
use crate::settings::EngineLimits;

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

    /// The same error of a node engine's endpoint `endpoint` (the errors name
    /// `DOCKER_HOST`'s and hint at it otherwise).
    pub(crate) fn at(self, endpoint: &str) -> Self {
        match self {
            SwarmError::Unreachable { cause, hint, .. } => SwarmError::Unreachable {
                endpoint: endpoint.to_string(),
                cause,
                // The hints about DOCKER_HOST are not about this endpoint.
                hint: if hint.contains("DOCKER_HOST") {
                    "check that the node's dockerd listens there with --tlsverify (README, \"Node engines\") and that this machine may reach the port".to_string()
                } else {
                    hint
                },
            },
            SwarmError::TlsSetUp { problem, .. } => SwarmError::TlsSetUp {
                endpoint: endpoint.to_string(),
                problem,
            },
            other => other,
        }
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

    /// Connects to another node's engine at its TLS endpoint `address` (`IP:PORT`),
    /// trusting only `certs/ca.pem` and showing `certs/cert.pem`/`key.pem` (the
    /// manager's client certificate), with the deadlines of `connect`.
    pub(crate) fn connect_node(
        address: &str,
        certs: &std::path::Path,
    ) -> Result<Engine, SwarmError> {
        let limits = limits();
        let runtime = runtime()?;
        let session = Session::new(
            limits,
            Limit {
                time: limits.read,
                setting: Some(Setting::Read),
            },
        );
        let environment = Environment::node(address, certs.to_path_buf());
        let endpoint = format!("tcp://{address}");
        let Client { docker, raw } = runtime
            .block_on(bounded(&session, node_client(&environment, &session)))
            .and_then(|connected| connected)
            .map_err(|e| e.at(&endpoint))?;
        Ok(Engine {
            docker,
            raw,
            runtime,
            session,
        })
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
        Self::missing(self.session.limits.read, Some(Setting::Read))
    }

    /// How long a pull or push may go without a progress message: a registry
    /// transfer is a change, so `engine_write_timeout`.
    pub(crate) fn transfer_piece_limit(&self) -> Duration {
        self.session.limits.write
    }

    pub(crate) fn transfer_piece_missing(&self) -> SwarmError {
        Self::missing(self.session.limits.write, Some(Setting::Write))
    }

    /// A stream whose next piece did not come within `time`, a fixed limit of the
    /// caller (a build's silence).
    pub(crate) fn piece_missing_after(&self, time: Duration) -> SwarmError {
        Self::missing(time, None)
    }

    fn missing(time: Duration, setting: Option<Setting>) -> SwarmError {
        SwarmError::expired(Expired {
            limit: Limit { time, setting },
            connecting: false,
        })
    }
}
