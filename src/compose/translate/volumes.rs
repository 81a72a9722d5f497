//! Mounts: bind mounts, named and anonymous volumes (docker/cli `convert/volume.go`).

use bollard::models::{
    Mount as MountSpec, MountType, MountVolumeOptions, MountVolumeOptionsDriverConfig,
};

use super::{Stack, clean, scalar_text, string_map, with_namespace};
use crate::compose::model::{ComposeFile, Mount, MountLong, NamedVolume};

/// `[source:]target[:ro|rw]`: a source starting with `.`, `/` or `~` is a bind mount,
/// any other source a named volume, no source an anonymous volume.
fn short_mount(text: &str) -> Result<MountLong, String> {
    if text.is_empty() {
        return Err("empty volume".to_string());
    }
    let parts: Vec<&str> = text.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("\"{text}\": empty section between colons"));
    }
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, options] => (Some(*source), *target, Some(*options)),
        _ => return Err(format!("\"{text}\": too many colons")),
    };
    let mut read_only = false;
    for option in options.into_iter().flat_map(|o| o.split(',')) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            other => {
                return Err(format!(
                    "\"{text}\": unsupported option \"{other}\" (expected ro or rw)"
                ));
            }
        }
    }
    let kind = match source {
        Some(s) if s.starts_with(['.', '/', '~']) => "bind",
        _ => "volume",
    };
    Ok(MountLong {
        kind: kind.to_string(),
        source: source.map(str::to_string),
        target: target.to_string(),
        read_only,
    })
}

pub(super) fn mount(entry: &Mount, file: &ComposeFile, stack: &Stack) -> Result<MountSpec, String> {
    let long = match entry {
        Mount::Short(text) => short_mount(text)?,
        Mount::Long(long) => long.clone(),
    };
    let source = long.source.clone().filter(|s| !s.is_empty());
    let base = MountSpec {
        target: Some(long.target.clone()),
        read_only: long.read_only.then_some(true),
        ..Default::default()
    };
    match long.kind.as_str() {
        "bind" => {
            let Some(source) = source else {
                return Err("a bind mount needs a source".to_string());
            };
            let source = match (source.strip_prefix('~'), (stack.env)("HOME")) {
                (Some(rest), Some(home)) => format!("{home}{rest}"),
                _ => source,
            };
            let source = if source.starts_with('/') {
                source
            } else {
                clean(&stack.dir.join(&source))
                    .to_string_lossy()
                    .into_owned()
            };
            Ok(MountSpec {
                typ: Some(MountType::BIND),
                source: Some(source),
                ..base
            })
        }
        "volume" => {
            let Some(source) = source else {
                return Ok(MountSpec {
                    typ: Some(MountType::VOLUME),
                    ..base
                });
            };
            let Some(volume) = file.volumes.get(&source) else {
                return Err(format!(
                    "undefined volume \"{source}\" (declare it under the top-level `volumes:`)"
                ));
            };
            let volume = volume.clone().unwrap_or_default();
            let NamedVolume {
                external,
                name,
                driver,
                driver_opts,
                labels,
            } = volume;
            let scoped = match name {
                Some(name) => name,
                None if external => source.clone(),
                None => format!("{}_{source}", stack.namespace),
            };
            let mut options = MountVolumeOptions::default();
            if !external {
                options.labels = Some(with_namespace(string_map(labels.as_ref()), stack.namespace));
                if driver.is_some() || !driver_opts.is_empty() {
                    options.driver_config = Some(MountVolumeOptionsDriverConfig {
                        name: driver,
                        options: (!driver_opts.is_empty()).then(|| {
                            driver_opts
                                .iter()
                                .map(|(k, v)| (k.clone(), scalar_text(v)))
                                .collect()
                        }),
                    });
                }
            }
            Ok(MountSpec {
                typ: Some(MountType::VOLUME),
                source: Some(scoped),
                volume_options: Some(options),
                ..base
            })
        }
        other => Err(format!(
            "unsupported mount type \"{other}\" (expected bind or volume)"
        )),
    }
}
