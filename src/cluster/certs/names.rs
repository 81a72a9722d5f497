//! The names a certificate is for, and the names a CA may sign for (its scope).

use std::net::IpAddr;
use std::path::Path;

use rcgen::{CidrSubnet, GeneralSubtree, NameConstraints};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use super::CertError;
use crate::cluster::{BadSetting, is_dns_name, optional_ip, registry_name};
use crate::settings::Settings;

/// Names a server certificate is for: the first DNS name is its common name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerNames {
    pub(crate) dns: Vec<String>,
    pub(crate) ips: Vec<IpAddr>,
}

impl ServerNames {
    /// What the registry must answer to: `registry_common_name`, and
    /// `registry_master_ip` when set (clients may connect by address).
    pub(crate) fn required(settings: &Settings) -> Result<Self, BadSetting> {
        let name = registry_name(settings)?;
        let ip = optional_ip(settings, "registry_master_ip", &settings.registry_master_ip)?;
        Ok(ServerNames {
            dns: vec![name.to_ascii_lowercase()],
            ips: ip.into_iter().collect(),
        })
    }

    /// The required names plus `extra` ones (DNS names or IPs), and `localhost` and
    /// 127.0.0.1 when asked.
    pub(crate) fn with(
        mut self,
        extra: &[String],
        localhost: bool,
    ) -> Result<ServerNames, CertError> {
        let mut more: Vec<&str> = extra.iter().map(|s| s.trim()).collect();
        if localhost {
            more.extend(["localhost", "127.0.0.1"]);
        }
        for name in more {
            if let Ok(ip) = name.parse::<IpAddr>() {
                if !self.ips.contains(&ip) {
                    self.ips.push(ip);
                }
            } else if is_dns_name(name) {
                let name = name.to_ascii_lowercase();
                if !self.dns.contains(&name) {
                    self.dns.push(name);
                }
            } else {
                return Err(CertError::BadName(name.to_string()));
            }
        }
        Ok(self)
    }
}

/// An address range of a name constraint: the address and mask bytes, as X.509
/// writes them (8 bytes for IPv4, 32 for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Subnet(Vec<u8>);

impl Subnet {
    fn of(ip: IpAddr, prefix: u8) -> Self {
        match CidrSubnet::from_addr_prefix(ip, prefix) {
            CidrSubnet::V4(addr, mask) => Subnet([addr, mask].concat()),
            CidrSubnet::V6(addr, mask) => Subnet([addr, mask].concat()),
        }
    }

    fn host(ip: IpAddr) -> Self {
        Subnet::of(ip, if ip.is_ipv4() { 32 } else { 128 })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let octets = match ip {
            IpAddr::V4(ip) => ip.octets().to_vec(),
            IpAddr::V6(ip) => ip.octets().to_vec(),
        };
        let (addr, mask) = self.0.split_at(self.0.len() / 2);
        octets.len() == addr.len()
            && octets
                .iter()
                .zip(addr.iter().zip(mask))
                .all(|(o, (a, m))| o & m == a & m)
    }

    fn to_rcgen(&self) -> Option<CidrSubnet> {
        let (addr, mask) = self.0.split_at(self.0.len() / 2);
        match self.0.len() {
            8 => Some(CidrSubnet::V4(addr.try_into().ok()?, mask.try_into().ok()?)),
            32 => Some(CidrSubnet::V6(addr.try_into().ok()?, mask.try_into().ok()?)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (addr, mask) = self.0.split_at(self.0.len() / 2);
        let prefix: u32 = mask.iter().map(|b| b.count_ones()).sum();
        let addr = match addr.len() {
            4 => <[u8; 4]>::try_from(addr).map(IpAddr::from).ok(),
            16 => <[u8; 16]>::try_from(addr).map(IpAddr::from).ok(),
            _ => None,
        };
        match addr {
            Some(addr) => write!(f, "{addr}/{prefix}"),
            None => f.write_str("(malformed address range)"),
        }
    }
}

/// The names a CA may sign certificates for: its name constraints. A name form with
/// no permitted subtree is not limited by it (RFC 5280), which is why a CA for a
/// registry without an address excludes every address instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct NameScope {
    /// DNS names permitted with every name below them.
    pub(super) dns: Vec<String>,
    ips: Vec<Subnet>,
    excluded_dns: Vec<String>,
    excluded_ips: Vec<Subnet>,
}

/// The domain a registry name stands in: the name without its first label
/// (`registry.iasf` → `iasf`), or the name itself when it has one label.
fn domain_of(name: &str) -> &str {
    match name.split_once('.') {
        Some((_, rest)) if !rest.is_empty() => rest,
        _ => name,
    }
}

fn dns_within(name: &str, base: &str) -> bool {
    let (name, base) = (name.to_ascii_lowercase(), base.to_ascii_lowercase());
    let base = base.trim_start_matches('.');
    name == base || name.ends_with(&format!(".{base}"))
}

impl NameScope {
    /// The scope of a new CA for `names`: the domain of the registry's name (its first
    /// DNS name), every other DNS name that domain does not cover, and exactly the
    /// given addresses; with no address, none.
    pub(crate) fn for_names(names: &ServerNames) -> Self {
        let mut dns: Vec<String> = Vec::new();
        let domains = names
            .dns
            .first()
            .map(|name| domain_of(name))
            .into_iter()
            .chain(names.dns.iter().skip(1).map(String::as_str));
        for name in domains {
            if !dns.iter().any(|base| dns_within(name, base)) {
                dns.push(name.to_ascii_lowercase());
            }
        }
        let ips: Vec<Subnet> = names.ips.iter().map(|ip| Subnet::host(*ip)).collect();
        let excluded_ips = if ips.is_empty() {
            vec![
                Subnet::of(IpAddr::from([0u8; 4]), 0),
                Subnet::of(IpAddr::from([0u8; 16]), 0),
            ]
        } else {
            Vec::new()
        };
        NameScope {
            dns,
            ips,
            excluded_dns: Vec::new(),
            excluded_ips,
        }
    }

    /// The name constraints of a CA certificate; None when it has none.
    pub(super) fn of(path: &Path, cert: &X509Certificate<'_>) -> Result<Option<Self>, CertError> {
        let constraints = cert.name_constraints().map_err(|e| CertError::Unreadable {
            path: path.to_path_buf(),
            problem: format!("unreadable name constraints ({e})"),
        })?;
        let Some(constraints) = constraints else {
            return Ok(None);
        };
        let mut scope = NameScope::default();
        let subtrees = |list: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
            let mut dns = Vec::new();
            let mut ips = Vec::new();
            for subtree in list.iter().flatten() {
                match &subtree.base {
                    GeneralName::DNSName(name) => dns.push(name.to_string()),
                    GeneralName::IPAddress(bytes) if matches!(bytes.len(), 8 | 32) => {
                        ips.push(Subnet(bytes.to_vec()));
                    }
                    _ => {}
                }
            }
            (dns, ips)
        };
        (scope.dns, scope.ips) = subtrees(&constraints.value.permitted_subtrees);
        (scope.excluded_dns, scope.excluded_ips) = subtrees(&constraints.value.excluded_subtrees);
        Ok(Some(scope))
    }

    pub(super) fn constraints(&self) -> NameConstraints {
        let dns = |names: &[String]| {
            names
                .iter()
                .map(|name| GeneralSubtree::DnsName(name.clone()))
                .collect::<Vec<_>>()
        };
        let ips = |subnets: &[Subnet]| {
            subnets
                .iter()
                .filter_map(Subnet::to_rcgen)
                .map(GeneralSubtree::IpAddress)
                .collect::<Vec<_>>()
        };
        NameConstraints {
            permitted_subtrees: [dns(&self.dns), ips(&self.ips)].concat(),
            excluded_subtrees: [dns(&self.excluded_dns), ips(&self.excluded_ips)].concat(),
        }
    }

    pub(crate) fn permits_dns(&self, name: &str) -> bool {
        !self.excluded_dns.iter().any(|base| dns_within(name, base))
            && (self.dns.is_empty() || self.dns.iter().any(|base| dns_within(name, base)))
    }

    pub(crate) fn permits_ip(&self, ip: IpAddr) -> bool {
        !self.excluded_ips.iter().any(|subnet| subnet.contains(ip))
            && (self.ips.is_empty() || self.ips.iter().any(|subnet| subnet.contains(ip)))
    }

    /// The first of `names` this scope does not permit.
    pub(super) fn first_outside(&self, names: &ServerNames) -> Option<String> {
        names
            .dns
            .iter()
            .find(|name| !self.permits_dns(name))
            .cloned()
            .or_else(|| {
                names
                    .ips
                    .iter()
                    .find(|ip| !self.permits_ip(**ip))
                    .map(IpAddr::to_string)
            })
    }

    /// The scope in an operator's words, one entry per subtree:
    /// `iasf and names below it`, `10.1.2.3/32`, `no IP address`.
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut parts: Vec<String> = self
            .dns
            .iter()
            .map(|name| format!("{name} and names below it"))
            .collect();
        parts.extend(self.ips.iter().map(Subnet::to_string));
        let every = [
            Subnet::of(IpAddr::from([0u8; 4]), 0),
            Subnet::of(IpAddr::from([0u8; 16]), 0),
        ];
        if every.iter().all(|s| self.excluded_ips.contains(s)) {
            parts.push("no IP address".to_string());
        }
        parts.extend(
            self.excluded_ips
                .iter()
                .filter(|s| !every.contains(s))
                .map(|s| format!("not {s}")),
        );
        parts.extend(self.excluded_dns.iter().map(|name| format!("not {name}")));
        parts
    }
}
