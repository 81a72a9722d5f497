//! Images on this node's engine: inspect, list by label, build from a context, pull,
//! tag, push and untag. Builds, pulls and pushes take as long as they take, so they
//! run without the command's time limit; each still gets a first answer in time, and
//! each later piece of their progress too (`BUILD_SILENCE` for a build,
//! `engine_write_timeout` for a transfer), so a hung engine cannot hold them forever.

use std::collections::HashMap;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptions, CreateImageOptions, ListImagesOptions, PushImageOptions, RemoveImageOptions,
    TagImageOptions,
};
use futures_util::StreamExt;

use super::engine::{Engine, SwarmError};
use super::registry_auth::url_safe_header;

/// How long a build may print nothing before it counts as hung: a step's commands
/// (make, apt-get) print as they go, but one compile or download may be quiet for a
/// while. A build's whole time is not limited; a hung engine is.
const BUILD_SILENCE: Duration = Duration::from_secs(30 * 60);

/// What iocdock reads of a local image.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalImage {
    pub(crate) id: String,
    /// Every `repo:tag` name of the image.
    pub(crate) names: Vec<String>,
    pub(crate) labels: HashMap<String, String>,
}

/// The image named `reference`, or None when this engine has no such image.
pub(crate) fn inspect(engine: &Engine, reference: &str) -> Result<Option<LocalImage>, SwarmError> {
    match engine.run(engine.docker().inspect_image(reference))? {
        Ok(image) => {
            let config = image.config.unwrap_or_default();
            Ok(Some(LocalImage {
                id: image.id.unwrap_or_default(),
                names: image.repo_tags.unwrap_or_default(),
                labels: config.labels.unwrap_or_default(),
            }))
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(SwarmError::api(format!("image inspect {reference}"), e)),
    }
}

/// Local images that carry label `key=value`.
pub(crate) fn with_label(
    engine: &Engine,
    key: &str,
    value: &str,
) -> Result<Vec<LocalImage>, SwarmError> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{key}={value}")])]);
    let options = ListImagesOptions {
        filters: Some(filters),
        ..Default::default()
    };
    let images = engine.request("image list", engine.docker().list_images(Some(options)))?;
    Ok(images
        .into_iter()
        .map(|image| LocalImage {
            id: image.id,
            names: image
                .repo_tags
                .into_iter()
                .filter(|t| t != "<none>:<none>")
                .collect(),
            labels: image.labels,
        })
        .collect())
}

/// One piece of a build's or a transfer's output.
pub(crate) enum Progress<'a> {
    /// Text the build printed (may hold several lines or part of one).
    Output(&'a str),
    /// A status line of a pull or push (`Pushed`, `Waiting`), with the layer.
    Status(&'a str),
}

/// Builds the image described by the Dockerfile of `context` (an uncompressed tar) and
/// tags it `reference`, with the classic builder (a context and a Dockerfile, as
/// every engine version has it); `no_cache` runs every step again instead of taking
/// the engine's cached layers. Returns the new image's id.
pub(crate) fn build(
    engine: &Engine,
    reference: &str,
    context: Vec<u8>,
    labels: HashMap<String, String>,
    build_args: HashMap<String, String>,
    no_cache: bool,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<String, SwarmError> {
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_string(),
        t: Some(reference.to_string()),
        nocache: no_cache,
        rm: true,
        // A failed step's container is evidence for nobody: the output says why.
        forcerm: true,
        labels: Some(labels),
        buildargs: Some(build_args),
        ..Default::default()
    };
    let action = format!("image build {reference}");
    engine.unbounded(async {
        let mut stream =
            engine
                .docker()
                .build_image(options, None, Some(bollard::body_full(context.into())));
        let mut id = None;
        loop {
            let info = match tokio::time::timeout(BUILD_SILENCE, stream.next()).await {
                Ok(Some(item)) => item.map_err(|e| SwarmError::api(&action, e))?,
                Ok(None) => break,
                Err(_) => return Err(engine.piece_missing_after(BUILD_SILENCE)),
            };
            if let Some(text) = &info.stream {
                on_progress(Progress::Output(text));
            }
            if let Some(status) = &info.status {
                on_progress(Progress::Status(status));
            }
            if let Some(aux) = info.aux
                && let Some(found) = aux.id
            {
                id = Some(found);
            }
        }
        Ok(id.unwrap_or_default())
    })
}

/// Pulls `reference` from its registry.
pub(crate) fn pull(
    engine: &Engine,
    reference: &str,
    credentials: Option<DockerCredentials>,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<(), SwarmError> {
    let options = CreateImageOptions {
        from_image: Some(reference.to_string()),
        ..Default::default()
    };
    let docker = with_registry_auth(engine);
    let stream = docker.create_image(Some(options), None, credentials);
    follow(
        engine,
        &format!("image pull {reference}"),
        stream,
        |info| info.status.as_deref(),
        on_progress,
    )
}

/// A client whose `X-Registry-Auth` the engine can decode (see `url_safe_header`).
fn with_registry_auth(engine: &Engine) -> bollard::Docker {
    engine
        .docker()
        .clone()
        .with_request_modifier(url_safe_header)
}

/// Reads a pull's or push's progress to its end, handing each status on.
fn follow<T>(
    engine: &Engine,
    action: &str,
    mut stream: impl futures_util::Stream<Item = Result<T, bollard::errors::Error>> + Unpin,
    status: impl Fn(&T) -> Option<&str>,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<(), SwarmError> {
    let piece = engine.transfer_piece_limit();
    engine.unbounded(async {
        loop {
            let info = match tokio::time::timeout(piece, stream.next()).await {
                Ok(Some(item)) => item.map_err(|e| SwarmError::api(action, e))?,
                Ok(None) => break,
                Err(_) => return Err(engine.transfer_piece_missing()),
            };
            if let Some(text) = status(&info) {
                on_progress(Progress::Status(text));
            }
        }
        Ok(())
    })
}

/// Gives image `source` the name `target` (`repo:tag`).
pub(crate) fn tag(engine: &Engine, source: &str, target: &str) -> Result<(), SwarmError> {
    let (repo, tag) = split_tag(target);
    let options = TagImageOptions {
        repo: Some(repo.to_string()),
        tag: Some(tag.to_string()),
    };
    engine.request(
        &format!("image tag {source} {target}"),
        engine.docker().tag_image(source, Some(options)),
    )
}

/// Removes the name `reference` (the image stays while other names have it).
pub(crate) fn untag(engine: &Engine, reference: &str) -> Result<(), SwarmError> {
    let options = RemoveImageOptions {
        noprune: true,
        ..Default::default()
    };
    engine
        .request(
            &format!("image remove {reference}"),
            engine.docker().remove_image(reference, Some(options), None),
        )
        .map(|_| ())
}

/// Pushes `reference` (`registry/repo:tag`) with `credentials`.
pub(crate) fn push(
    engine: &Engine,
    reference: &str,
    credentials: DockerCredentials,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<(), SwarmError> {
    let (repo, tag) = split_tag(reference);
    let options = PushImageOptions {
        tag: Some(tag.to_string()),
        ..Default::default()
    };
    let docker = with_registry_auth(engine);
    let stream = docker.push_image(repo, Some(options), Some(credentials));
    follow(
        engine,
        &format!("image push {reference}"),
        stream,
        |info| info.status.as_deref(),
        on_progress,
    )
}

/// `registry:port/repo:tag` → (`registry:port/repo`, `tag`); `latest` without a tag.
fn split_tag(reference: &str) -> (&str, &str) {
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(colon) => (
            &reference[..last_slash + colon],
            &reference[last_slash + colon + 1..],
        ),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_after_the_registry_port() {
        assert_eq!(
            split_tag("registry.lab:4443/ioc-exec:1.1.1"),
            ("registry.lab:4443/ioc-exec", "1.1.1")
        );
        assert_eq!(
            split_tag("localhost:5000/base"),
            ("localhost:5000/base", "latest")
        );
        assert_eq!(split_tag("busybox:1"), ("busybox", "1"));
    }
}
