//! Published ports and the endpoint mode (docker/cli `convert/service.go`
//! `convertEndpointSpec`; the short syntax expanded as the compose loader does).

use bollard::models::{EndpointPortConfig, EndpointSpec};

use super::{Problem, at};
use crate::compose::model::{Deploy, Port};

/// Ports and endpoint mode. Ports are sorted by published port, like docker does.
pub(super) fn endpoint(deploy: &Deploy, ports: &[Port]) -> Result<EndpointSpec, Problem> {
    use bollard::models::EndpointSpecModeEnum;
    let mode = match deploy
        .endpoint_mode
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") => None,
        Some("vip") => Some(EndpointSpecModeEnum::VIP),
        Some("dnsrr") => Some(EndpointSpecModeEnum::DNSRR),
        Some(other) => {
            return Err(at(
                ".deploy.endpoint_mode",
                format!("unknown endpoint mode \"{other}\" (expected vip or dnsrr)"),
            ));
        }
    };
    let mut configs = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!(".ports[{i}]");
        match port {
            Port::Short(text) => configs.extend(short_port(text).map_err(|e| at(&path, e))?),
            Port::Long(long) => configs.push(EndpointPortConfig {
                protocol: long
                    .protocol
                    .as_deref()
                    .map(|p| protocol(p).map_err(|e| at(&format!("{path}.protocol"), e)))
                    .transpose()?
                    .flatten(),
                target_port: Some(i64::from(long.target)),
                published_port: long.published.filter(|p| *p != 0).map(i64::from),
                publish_mode: long
                    .mode
                    .as_deref()
                    .map(|m| publish_mode(m).map_err(|e| at(&format!("{path}.mode"), e)))
                    .transpose()?
                    .flatten(),
                ..Default::default()
            }),
        }
    }
    configs.sort_by_key(|p| p.published_port.unwrap_or(0));
    Ok(EndpointSpec {
        mode,
        ports: (!configs.is_empty()).then_some(configs),
    })
}

fn protocol(text: &str) -> Result<Option<bollard::models::EndpointPortConfigProtocolEnum>, String> {
    use bollard::models::EndpointPortConfigProtocolEnum as P;
    match text {
        "" => Ok(None),
        "tcp" => Ok(Some(P::TCP)),
        "udp" => Ok(Some(P::UDP)),
        "sctp" => Ok(Some(P::SCTP)),
        other => Err(format!(
            "unknown protocol \"{other}\" (expected tcp, udp or sctp)"
        )),
    }
}

fn publish_mode(
    text: &str,
) -> Result<Option<bollard::models::EndpointPortConfigPublishModeEnum>, String> {
    use bollard::models::EndpointPortConfigPublishModeEnum as M;
    match text {
        "" => Ok(None),
        "ingress" => Ok(Some(M::INGRESS)),
        "host" => Ok(Some(M::HOST)),
        other => Err(format!(
            "unknown mode \"{other}\" (expected host or ingress)"
        )),
    }
}

fn port_range(text: &str) -> Result<(u32, u32), String> {
    let number = |t: &str| {
        t.parse::<u16>()
            .map(u32::from)
            .map_err(|_| format!("invalid port \"{t}\""))
    };
    match text.split_once('-') {
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            if end < start {
                return Err(format!("invalid port range \"{text}\""));
            }
            Ok((start, end))
        }
        None => number(text).map(|p| (p, p)),
    }
}

/// `[published:]target[/protocol]`, ranges allowed, published in ingress mode.
fn short_port(text: &str) -> Result<Vec<EndpointPortConfig>, String> {
    use bollard::models::EndpointPortConfigPublishModeEnum as M;
    let (ports, proto) = match text.rsplit_once('/') {
        Some((ports, proto)) => (ports, proto.to_ascii_lowercase()),
        None => (text, "tcp".to_string()),
    };
    let protocol = protocol(&proto)?.ok_or_else(|| format!("missing protocol in \"{text}\""))?;
    let parts: Vec<&str> = ports.split(':').collect();
    let (host, container) = match parts.as_slice() {
        [container] => (None, *container),
        [host, container] => (Some(*host).filter(|h| !h.is_empty()), *container),
        _ => {
            return Err(format!(
                "\"{text}\": a host address in a port is not supported (swarm services listen on every address)"
            ));
        }
    };
    let (start, end) = port_range(container)?;
    let host = host.map(port_range).transpose()?;
    if let Some((host_start, host_end)) = host
        && end - start != host_end - host_start
        && end != start
    {
        return Err(format!("\"{text}\": the port ranges differ in length"));
    }
    let mut entries: Vec<(String, Vec<u32>)> = (start..=end)
        .map(|target| {
            let offset = target - start;
            let published = match host {
                None => vec![0],
                // One target and a range of published ports: one entry per port.
                Some((host_start, host_end)) if start == end => (host_start..=host_end).collect(),
                Some((host_start, _)) => vec![host_start + offset],
            };
            (format!("{target}/{proto}"), published)
        })
        .collect();
    // docker orders the ports of one entry by their text ("1000/tcp" < "80/tcp").
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (key, published) in entries {
        let target: u32 = key
            .split('/')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or_default();
        for p in published {
            out.push(EndpointPortConfig {
                protocol: Some(protocol),
                target_port: Some(i64::from(target)),
                published_port: (p != 0).then_some(i64::from(p)),
                publish_mode: Some(M::INGRESS),
                ..Default::default()
            });
        }
    }
    Ok(out)
}
