//! The networks a service is attached to and those the stack creates (docker/cli
//! `convert/compose.go`).

use std::collections::BTreeMap;

use bollard::models::{NetworkAttachmentConfig, NetworkCreateRequest};

use super::{NetworkPlan, Problem, Stack, at, scalar_text, string_map, with_namespace};
use crate::compose::model::{ComposeFile, Network, Service, ServiceNetworks};

/// The network of services that name none.
const DEFAULT_NETWORK: &str = "default";
/// Driver of the stack networks that name none.
const DEFAULT_NETWORK_DRIVER: &str = "overlay";

/// Network names docker treats as built in: they take no aliases and are never
/// looked up before a deploy.
fn user_defined(network: &str) -> bool {
    !matches!(network, "default" | "bridge" | "host" | "none") && !network.starts_with("container:")
}

pub(super) fn networks(
    key: &str,
    service: &Service,
    file: &ComposeFile,
    stack: &Stack,
) -> Result<(Vec<NetworkAttachmentConfig>, Vec<NetworkPlan>), Problem> {
    let attached: BTreeMap<String, Vec<String>> = match &service.networks {
        None => BTreeMap::new(),
        Some(ServiceNetworks::List(names)) => {
            names.iter().map(|n| (n.clone(), Vec::new())).collect()
        }
        Some(ServiceNetworks::Map(map)) => map
            .iter()
            .map(|(n, settings)| {
                let aliases = settings
                    .as_ref()
                    .map(|s| s.aliases.clone())
                    .unwrap_or_default();
                (n.clone(), aliases)
            })
            .collect(),
    };
    let attached = if attached.is_empty() {
        BTreeMap::from([(DEFAULT_NETWORK.to_string(), Vec::new())])
    } else {
        attached
    };
    let mut configs = Vec::new();
    let mut plans = Vec::new();
    for (name, mut aliases) in attached {
        let declared = file.networks.get(&name);
        if declared.is_none() && name != DEFAULT_NETWORK {
            return Err(at(
                ".networks",
                format!(
                    "undefined network \"{name}\" (declare it under the top-level `networks:`)"
                ),
            ));
        }
        let Network {
            external,
            name: real_name,
            driver,
            driver_opts,
            attachable,
            internal,
            labels,
        } = declared.cloned().flatten().unwrap_or_default();
        let target = match real_name {
            Some(n) if !n.is_empty() => n,
            _ if external => name.clone(),
            _ => format!("{}_{name}", stack.namespace),
        };
        if user_defined(&target) {
            aliases.push(key.to_string());
        }
        plans.push(if external {
            NetworkPlan::External(target.clone())
        } else {
            NetworkPlan::Stack(Box::new(NetworkCreateRequest {
                name: target.clone(),
                driver: Some(driver.unwrap_or_else(|| DEFAULT_NETWORK_DRIVER.to_string())),
                internal: Some(internal),
                attachable: Some(attachable),
                options: (!driver_opts.is_empty()).then(|| {
                    driver_opts
                        .iter()
                        .map(|(k, v)| (k.clone(), scalar_text(v)))
                        .collect()
                }),
                labels: Some(with_namespace(string_map(labels.as_ref()), stack.namespace)),
                ..Default::default()
            }))
        });
        configs.push(NetworkAttachmentConfig {
            target: Some(target),
            aliases: (!aliases.is_empty()).then_some(aliases),
            driver_opts: None,
        });
    }
    configs.sort_by(|a, b| a.target.cmp(&b.target));
    Ok((configs, plans))
}
