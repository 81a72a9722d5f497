//! The transport every engine request goes through: bollard's client, and plain
//! JSON requests around it, both under the session's deadlines.

use std::future::Future;
use std::sync::Arc;

use bollard::{BollardRequest, ClientVersion, Docker};

use super::SwarmError;
use super::cause::{self, Expired, Limit};
use super::deadlines::Session;

/// bollard's own request timeout, which only covers the wait for the answer's head:
/// out of the way of ours, which come first.
const BOLLARD_TIMEOUT: u64 = 7 * 24 * 3600;

/// A bollard client whose every request goes through `send` with the session's
/// deadlines; `connect` is the limit the connector was given, named when a connect
/// times out. An error keeps its sources, so the OS's cause can be found below the
/// client library's own words.
pub(super) fn with_deadlines<S, F, E>(
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
pub(super) struct Client {
    pub(super) docker: Docker,
    pub(super) raw: Raw,
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
        self.send_json(docker, hyper::Method::GET, path, None).await
    }

    /// `POST path` (with its query) with `body` as JSON, in the API version of
    /// `docker`: for a change that must send back exactly what the engine stores
    /// (a spec read with [`Raw::get_json`]), fields bollard's models lack included.
    /// None when the engine answers 404.
    pub(crate) async fn post_json(
        &self,
        docker: &Docker,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, bollard::errors::Error> {
        self.send_json(docker, hyper::Method::POST, path, Some(body))
            .await
    }

    async fn send_json(
        &self,
        docker: &Docker,
        method: hyper::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, bollard::errors::Error> {
        use http_body_util::BodyExt;
        let version = docker.client_version();
        let uri = format!(
            "{}/v{}.{}{path}",
            self.address, version.major_version, version.minor_version
        );
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("Accept", "application/json");
        let payload = match body {
            Some(body) => {
                request = request.header("Content-Type", "application/json");
                serde_json::to_vec(body)
                    .map_err(|e| bollard::errors::Error::from(std::io::Error::other(e)))?
            }
            None => Vec::new(),
        };
        let request = request
            .body(bollard::body_full(payload.into()))
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

pub(super) fn legacy_client<C>(connector: C) -> hyper_util::client::legacy::Client<C, BollardBody>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        // As bollard's own clients: one request per connection.
        .pool_max_idle_per_host(0)
        .build(connector)
}

/// The body type of bollard's requests, which bollard does not name.
pub(super) type BollardBody = <BollardRequest as RequestBody>::Body;

pub(super) trait RequestBody {
    type Body;
}

impl<B> RequestBody for hyper::Request<B> {
    type Body = B;
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
}
