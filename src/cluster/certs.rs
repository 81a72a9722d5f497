//! The cluster's certificates: a root CA that every node trusts and a server
//! certificate for the registry (and nginx), made with rcgen and checked the way a TLS
//! client will check them (rustls' WebPKI verifier), so a mistake shows here rather
//! than as a failed `docker pull` on some node.
//!
//! Files in `$MOUNT_PATH/swarm/registry/certs/`, which every node reads: `ca.crt`,
//! `registry.crt`, `registry.key` (0600). The CA's private key is not among them: it
//! lives in `$MANAGER_PATH/pki/ca.key` (folder 0700, file 0600) on the manager, since
//! the run directory is shared with every node and bound into containers.
//!
//! The CA carries name constraints (its scope): it can only sign certificates for the
//! registry's domain, the extra names given when it was made, and the addresses of the
//! registry. A node that trusts it therefore trusts it for nothing else, even if its
//! key were stolen.

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, PublicKeyData,
    SanType,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use super::{BadSetting, certs_dir, is_dns_name, optional_ip, pki_dir, registry_name};
use crate::fsutil::{self, FsError, IoContext};
use crate::settings::Settings;

pub(crate) const CA_CERT: &str = "ca.crt";
pub(crate) const CA_KEY: &str = "ca.key";
pub(crate) const SERVER_CERT: &str = "registry.crt";
pub(crate) const SERVER_KEY: &str = "registry.key";

/// How long a new CA is valid: replacing it means every node must trust the new one.
const CA_DAYS: i64 = 3650;
/// Certificates closer than this to their end are reported, so renewal is planned.
const WARN_DAYS: i64 = 30;

const NEW_CA_HINT: &str = "make a new CA that covers it with `iocdock make-certs --new-ca --force` and the names the registry needs (then run `iocdock cluster --set-up-root-cert` so every node trusts the new CA)";

#[derive(Debug, thiserror::Error)]
pub(crate) enum CertError {
    #[error(transparent)]
    Setting(#[from] BadSetting),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{0} does not exist: run `iocdock make-certs` first")]
    Missing(PathBuf),
    #[error("{path}: {problem}")]
    Unreadable { path: PathBuf, problem: String },
    #[error("{0} is not a CA certificate (no basicConstraints CA:true)")]
    NotCa(PathBuf),
    #[error("{key} is not the private key of {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("{path} expired on {date}; {remedy}")]
    Expired {
        path: PathBuf,
        date: String,
        remedy: &'static str,
    },
    #[error("{path} is valid only from {date} on (is this machine's clock right?)")]
    NotYetValid { path: PathBuf, date: String },
    #[error(
        "{path} is not valid for {name} (it names {names}); make it again with `iocdock make-certs --force`"
    )]
    MissingName {
        path: PathBuf,
        name: String,
        names: String,
    },
    #[error("{path} does not verify against {ca}: {reason}")]
    Chain {
        path: PathBuf,
        ca: PathBuf,
        reason: String,
    },
    #[error("{} already exist; {hint}", .paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Exists { paths: Vec<PathBuf>, hint: String },
    #[error(
        "{key} is missing, so {cert} cannot sign a new certificate; make a new CA with `--new-ca --force` (then run `iocdock cluster --set-up-root-cert`)"
    )]
    CaKeyMissing { cert: PathBuf, key: PathBuf },
    #[error("\"{0}\" is neither a DNS name nor an IP address")]
    BadName(String),
    #[error(
        "{name} is outside the names the cluster CA {ca} may sign for ({scope}); {NEW_CA_HINT}"
    )]
    OutsideCa {
        ca: PathBuf,
        name: String,
        scope: String,
    },
    #[error("cannot make the certificate: {0}")]
    Generate(rcgen::Error),
}

// By hand rather than `#[from]`, which would also make rcgen's error the `source()`
// and print its text twice in an error chain.
impl From<rcgen::Error> for CertError {
    fn from(error: rcgen::Error) -> Self {
        CertError::Generate(error)
    }
}

/// The files of the cluster's certificates.
#[derive(Debug, Clone)]
pub(crate) struct CertFiles {
    /// `$MOUNT_PATH/swarm/registry/certs`: what the registry and the nodes read.
    pub(crate) dir: PathBuf,
    /// `$MANAGER_PATH/pki`: the CA's private key, on the manager only.
    pub(crate) pki: PathBuf,
}

impl CertFiles {
    pub(crate) fn of(settings: &Settings) -> Self {
        CertFiles {
            dir: certs_dir(&settings.paths.mount),
            pki: pki_dir(&settings.paths.manager),
        }
    }

    pub(crate) fn ca_cert(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }
    pub(crate) fn ca_key(&self) -> PathBuf {
        self.pki.join(CA_KEY)
    }
    /// Where earlier versions kept the CA key, beside the certificates.
    pub(crate) fn run_directory_ca_key(&self) -> PathBuf {
        self.dir.join(CA_KEY)
    }
    pub(crate) fn server_cert(&self) -> PathBuf {
        self.dir.join(SERVER_CERT)
    }
    pub(crate) fn server_key(&self) -> PathBuf {
        self.dir.join(SERVER_KEY)
    }
}

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
    dns: Vec<String>,
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
    fn of(path: &Path, cert: &X509Certificate<'_>) -> Result<Option<Self>, CertError> {
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

    fn constraints(&self) -> NameConstraints {
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
    fn first_outside(&self, names: &ServerNames) -> Option<String> {
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

/// What `make` may replace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MakeOptions {
    /// Replace existing files (the server certificate; the CA too with `new_ca`).
    pub(crate) force: bool,
    /// Make a new CA even if one exists.
    pub(crate) new_ca: bool,
    /// Validity of the server certificate in days.
    pub(crate) days: u32,
}

/// One certificate as the report shows it.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo {
    pub(crate) path: PathBuf,
    pub(crate) subject: String,
    /// The names a server certificate is for; for the CA, the names it may sign for.
    pub(crate) names: Vec<String>,
    pub(crate) not_after: String,
}

/// The outcome of a successful verification, with what deserves attention.
#[derive(Debug, Clone)]
pub(crate) struct CertReport {
    pub(crate) ca: CertInfo,
    pub(crate) server: CertInfo,
    pub(crate) warnings: Vec<String>,
}

/// A CA key found in the run directory and moved to the manager's key folder.
#[derive(Debug, Clone)]
pub(crate) struct MovedKey {
    pub(crate) from: PathBuf,
    pub(crate) to: PathBuf,
}

/// What `make` did.
#[derive(Debug)]
pub(crate) struct Made {
    pub(crate) new_ca: bool,
    /// Whether a server certificate was made (not when only a key was moved).
    pub(crate) server_made: bool,
    pub(crate) moved: Option<MovedKey>,
    pub(crate) report: CertReport,
}

fn ca_common_name(settings: &Settings) -> String {
    format!("{} cluster root CA", settings.prefix_stack_name.trim())
}

/// Makes the cluster certificates for the registry of `settings` with the given
/// names (see `ServerNames::with`), then verifies them.
pub(crate) fn make_for_registry(
    settings: &Settings,
    names: &ServerNames,
    options: MakeOptions,
) -> Result<Made, CertError> {
    make(
        &CertFiles::of(settings),
        &ca_common_name(settings),
        names,
        options,
    )
}

/// The checks `swarm --gen-built-in-services` runs before it uses the certificates:
/// both exist, the keys belong to them, the server certificate chains to the CA, is
/// valid now and names the registry (and its IP when set).
pub(crate) fn verify_registry_certs(settings: &Settings) -> Result<CertReport, CertError> {
    verify(&CertFiles::of(settings), &ServerNames::required(settings)?)
}

/// The warning that a CA key is still in the run directory, if one is.
pub(crate) fn run_directory_key_warning(files: &CertFiles) -> Option<String> {
    let path = files.run_directory_ca_key();
    std::fs::symlink_metadata(&path).ok().map(|_| {
        format!(
            "{} is the CA's private key in the run directory, which every node mounts; run `iocdock make-certs` to move it to {}",
            path.display(),
            files.ca_key().display()
        )
    })
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// `$MANAGER_PATH/pki`, private to its owner whatever it was before.
fn private_folder(dir: &Path) -> Result<(), FsError> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).at(parent, "cannot create folder")?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).at(dir, "cannot create folder"),
    }
    let mode = std::fs::metadata(dir)
        .at(dir, "cannot read")?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .at(dir, "cannot set permissions")?;
    }
    Ok(())
}

/// Writes a private key so that it survives a crash right after (the copy it
/// replaces may be deleted next).
fn write_key(path: &Path, pem: &[u8]) -> Result<(), FsError> {
    fsutil::atomic_write(path, pem, 0o600)?;
    File::open(path)
        .and_then(|f| f.sync_all())
        .at(path, "cannot flush to disk")?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .at(dir, "cannot flush to disk")?;
    }
    Ok(())
}

/// The bytes of a regular file, read without following a link; None when it does
/// not exist.
fn read_regular_file(path: &Path) -> Result<Option<Vec<u8>>, CertError> {
    use rustix::fs::{Mode, OFlags};
    use std::io::Read as _;
    let fd = match rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(rustix::io::Errno::LOOP) => {
            return Err(CertError::Unreadable {
                path: path.to_path_buf(),
                problem: "is a symbolic link, which iocdock does not follow; put the key file itself there or remove the link".to_string(),
            });
        }
        Err(e) => {
            return Err(FsError {
                path: path.to_path_buf(),
                action: "cannot open",
                cause: e.into(),
            }
            .into());
        }
    };
    let mut file = File::from(fd);
    let meta = file.metadata().at(path, "cannot read")?;
    if !meta.is_file() {
        return Err(CertError::Unreadable {
            path: path.to_path_buf(),
            problem: "is not a regular file".to_string(),
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).at(path, "cannot read")?;
    Ok(Some(bytes))
}

/// Moves a CA key that an earlier version left in the run directory to the
/// manager's key folder. The copy there is flushed to disk before the one in the
/// run directory is removed. A different key already in the folder is kept; the
/// moved one then gets the next free name (`ca.key.1`, ...).
fn move_run_directory_key(files: &CertFiles) -> Result<Option<MovedKey>, CertError> {
    let from = files.run_directory_ca_key();
    let Some(bytes) = read_regular_file(&from)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    KeyPair::from_pem(&text).map_err(|e| CertError::Unreadable {
        path: from.clone(),
        problem: format!(
            "not a PKCS#8 PEM private key ({e}); iocdock moves only the CA key out of the run directory"
        ),
    })?;
    private_folder(&files.pki)?;
    let mut to = files.ca_key();
    let mut n = 0;
    loop {
        match std::fs::read(&to) {
            Ok(existing) if existing == bytes => break,
            Ok(_) => {
                n += 1;
                to = files.pki.join(format!("{CA_KEY}.{n}"));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_key(&to, &bytes)?;
                break;
            }
            Err(e) => return Err(e).at(&to, "cannot read")?,
        }
    }
    std::fs::remove_file(&from).at(&from, "cannot remove")?;
    Ok(Some(MovedKey { from, to }))
}

/// Makes what is missing or asked for (the CA only when there is none or `new_ca`),
/// moving a CA key out of the run directory first, then verifies the result.
pub(crate) fn make(
    files: &CertFiles,
    ca_name: &str,
    names: &ServerNames,
    options: MakeOptions,
) -> Result<Made, CertError> {
    let (ca_cert, ca_key, server_cert, server_key) = (
        files.ca_cert(),
        files.ca_key(),
        files.server_cert(),
        files.server_key(),
    );
    // First, whatever else is asked: the key must not stay where every node reads.
    let moved = move_run_directory_key(files)?;
    let existing_server: Vec<PathBuf> = [&server_cert, &server_key]
        .into_iter()
        .filter(|p| p.exists())
        .cloned()
        .collect();
    if !existing_server.is_empty() && !options.force {
        if moved.is_some() {
            // Moving the key was the work to do; the certificates stay as they are.
            return Ok(Made {
                new_ca: false,
                server_made: false,
                moved,
                report: verify(files, names)?,
            });
        }
        return Err(CertError::Exists {
            paths: existing_server,
            hint: "use --force to replace the server certificate (the CA is kept)".to_string(),
        });
    }
    let reuse_ca = ca_cert.exists() && !options.new_ca;
    if !reuse_ca {
        let existing_ca: Vec<PathBuf> = [&ca_cert, &ca_key]
            .into_iter()
            .filter(|p| p.exists())
            .cloned()
            .collect();
        if !existing_ca.is_empty() && !options.force {
            return Err(CertError::Exists {
                paths: existing_ca,
                hint: "use --new-ca --force to replace the CA (every node must then trust the new one)"
                    .to_string(),
            });
        }
    }

    // Backdated an hour: a node whose clock is a little behind must not see the
    // certificate as not yet valid.
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - time::Duration::hours(1);
    std::fs::create_dir_all(&files.dir).at(&files.dir, "cannot create folder")?;

    let issuer = if reuse_ca {
        if !ca_key.exists() {
            return Err(CertError::CaKeyMissing {
                cert: ca_cert,
                key: ca_key,
            });
        }
        let pem = read_text(&ca_cert)?;
        let key = read_key(&ca_key)?;
        let der = pem_certificate(&ca_cert, pem.as_bytes())?;
        let parsed = parse_certificate(&ca_cert, &der)?;
        check_ca(&ca_cert, &parsed)?;
        check_key(&ca_key, &key, &ca_cert, &parsed)?;
        check_dates(&ca_cert, &parsed, "make a new CA with `--new-ca --force`")?;
        check_scope(&ca_cert, &parsed, names)?;
        Issuer::from_ca_cert_pem(&pem, key).map_err(|e| CertError::Unreadable {
            path: ca_cert.clone(),
            problem: format!("cannot use as CA: {e}"),
        })?
    } else {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, ca_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "iocdock");
        // Path length 0: the CA signs server certificates, never another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.name_constraints = Some(NameScope::for_names(names).constraints());
        params.not_before = not_before;
        params.not_after = now + days(CA_DAYS);
        let cert = params.self_signed(&key)?;
        private_folder(&files.pki)?;
        write_key(&ca_key, key.serialize_pem().as_bytes())?;
        fsutil::atomic_write(&ca_cert, cert.pem().as_bytes(), 0o644)?;
        Issuer::new(params, key)
    };

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let common_name = names.dns.first().cloned().unwrap_or_default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.subject_alt_names = names
        .dns
        .iter()
        .map(|name| Ok(SanType::DnsName(name.clone().try_into()?)))
        .chain(names.ips.iter().map(|ip| Ok(SanType::IpAddress(*ip))))
        .collect::<Result<_, rcgen::Error>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = now + days(i64::from(options.days));
    let cert = params.signed_by(&key, &issuer)?;
    fsutil::atomic_write(&server_key, key.serialize_pem().as_bytes(), 0o600)?;
    fsutil::atomic_write(&server_cert, cert.pem().as_bytes(), 0o644)?;

    let report = verify(files, names)?;
    Ok(Made {
        new_ca: !reuse_ca,
        server_made: true,
        moved,
        report,
    })
}

/// Refuses names the CA's constraints do not cover (a CA without constraints, made
/// by an earlier version, covers everything).
fn check_scope(
    ca_path: &Path,
    ca: &X509Certificate<'_>,
    names: &ServerNames,
) -> Result<(), CertError> {
    let Some(scope) = NameScope::of(ca_path, ca)? else {
        return Ok(());
    };
    match scope.first_outside(names) {
        None => Ok(()),
        Some(name) => Err(CertError::OutsideCa {
            ca: ca_path.to_path_buf(),
            name,
            scope: scope.describe().join(", "),
        }),
    }
}

fn read_text(path: &Path) -> Result<String, CertError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(CertError::Missing(path.to_path_buf()))
        }
        Err(e) => Err(FsError {
            path: path.to_path_buf(),
            action: "cannot read",
            cause: e,
        }
        .into()),
    }
}

fn read_key(path: &Path) -> Result<KeyPair, CertError> {
    let pem = read_text(path)?;
    KeyPair::from_pem(&pem).map_err(|e| CertError::Unreadable {
        path: path.to_path_buf(),
        problem: format!("not a PKCS#8 PEM private key ({e})"),
    })
}

/// The DER bytes of the first certificate of a PEM file.
fn pem_certificate(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, CertError> {
    let unreadable = |problem: String| CertError::Unreadable {
        path: path.to_path_buf(),
        problem,
    };
    let pem = x509_parser::pem::Pem::iter_from_buffer(bytes)
        .next()
        .ok_or_else(|| unreadable("no PEM certificate in it".to_string()))?
        .map_err(|e| unreadable(format!("not valid PEM ({e})")))?;
    if pem.label != "CERTIFICATE" {
        return Err(unreadable(format!(
            "holds a PEM \"{}\", not a CERTIFICATE",
            pem.label
        )));
    }
    Ok(pem.contents)
}

fn parse_certificate<'a>(path: &Path, der: &'a [u8]) -> Result<X509Certificate<'a>, CertError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| CertError::Unreadable {
            path: path.to_path_buf(),
            problem: format!("not a valid X.509 certificate ({e})"),
        })
}

fn check_ca(path: &Path, cert: &X509Certificate<'_>) -> Result<(), CertError> {
    if cert.is_ca() {
        Ok(())
    } else {
        Err(CertError::NotCa(path.to_path_buf()))
    }
}

fn check_key(
    key_path: &Path,
    key: &KeyPair,
    cert_path: &Path,
    cert: &X509Certificate<'_>,
) -> Result<(), CertError> {
    if key.subject_public_key_info() == cert.public_key().raw {
        Ok(())
    } else {
        Err(CertError::KeyMismatch {
            key: key_path.to_path_buf(),
            cert: cert_path.to_path_buf(),
        })
    }
}

fn date(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| timestamp.to_string())
}

fn check_dates(
    path: &Path,
    cert: &X509Certificate<'_>,
    remedy: &'static str,
) -> Result<(), CertError> {
    let now = chrono::Utc::now().timestamp();
    let validity = cert.validity();
    if validity.not_before.timestamp() > now {
        return Err(CertError::NotYetValid {
            path: path.to_path_buf(),
            date: date(validity.not_before.timestamp()),
        });
    }
    if validity.not_after.timestamp() < now {
        return Err(CertError::Expired {
            path: path.to_path_buf(),
            date: date(validity.not_after.timestamp()),
            remedy,
        });
    }
    Ok(())
}

fn subject_alt_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn info(path: &Path, cert: &X509Certificate<'_>) -> CertInfo {
    CertInfo {
        path: path.to_path_buf(),
        subject: cert.subject().to_string(),
        names: subject_alt_names(cert),
        not_after: date(cert.validity().not_after.timestamp()),
    }
}

fn private_key_warning(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is readable by other users (mode {mode:04o}); run chmod 600 on it",
            path.display()
        )
    })
}

fn expiry_warning(info: &CertInfo, cert: &X509Certificate<'_>) -> Option<String> {
    let left = cert.validity().not_after.timestamp() - chrono::Utc::now().timestamp();
    (left < WARN_DAYS * 86_400).then(|| {
        format!(
            "{} expires on {}; renew it with `iocdock make-certs --force`",
            info.path.display(),
            info.not_after
        )
    })
}

fn folder_warning(dir: &Path) -> Option<String> {
    let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is open to other users (mode {mode:04o}); run chmod 700 on it",
            dir.display()
        )
    })
}

/// Checks the certificates as the registry and its clients will use them, and the
/// CA key when it is there; see `verify_registry_certs`.
pub(crate) fn verify(files: &CertFiles, names: &ServerNames) -> Result<CertReport, CertError> {
    let (ca_path, server_path) = (files.ca_cert(), files.server_cert());
    let ca_der = pem_certificate(&ca_path, read_text(&ca_path)?.as_bytes())?;
    let server_der = pem_certificate(&server_path, read_text(&server_path)?.as_bytes())?;
    let ca = parse_certificate(&ca_path, &ca_der)?;
    let server = parse_certificate(&server_path, &server_der)?;

    check_ca(&ca_path, &ca)?;
    check_dates(
        &ca_path,
        &ca,
        "make a new CA with `iocdock make-certs --new-ca --force`",
    )?;
    check_dates(
        &server_path,
        &server,
        "renew it with `iocdock make-certs --force`",
    )?;
    check_key(
        &files.server_key(),
        &read_key(&files.server_key())?,
        &server_path,
        &server,
    )?;
    // The CA key only signs; a cluster may keep it offline, so it is checked when present.
    if files.ca_key().exists() {
        check_key(&files.ca_key(), &read_key(&files.ca_key())?, &ca_path, &ca)?;
    }

    let server_info = info(&server_path, &server);
    let wanted = names
        .dns
        .iter()
        .cloned()
        .chain(names.ips.iter().map(IpAddr::to_string));
    for name in wanted {
        if !server_info.names.contains(&name) {
            return Err(CertError::MissingName {
                path: server_path.clone(),
                name,
                names: server_info.names.join(", "),
            });
        }
    }
    // Said in the operator's words first; the chain check below would only name the
    // violated constraint.
    check_scope(&ca_path, &ca, names)?;
    chain_to_ca(&ca_path, &ca_der, &server_path, &server_der, names)?;

    let scope = NameScope::of(&ca_path, &ca)?;
    let mut ca_info = info(&ca_path, &ca);
    ca_info.names = match &scope {
        Some(scope) => scope.describe(),
        None => vec!["any (no name constraints)".to_string()],
    };
    let unconstrained = scope.is_none().then(|| {
        format!(
            "{} has no name constraints, so every node trusts it for any name; make a new CA with `iocdock make-certs --new-ca --force`, then run `iocdock cluster --set-up-root-cert`",
            ca_path.display()
        )
    });
    let warnings = [
        run_directory_key_warning(files),
        unconstrained,
        expiry_warning(&ca_info, &ca),
        expiry_warning(&server_info, &server),
        private_key_warning(&files.server_key()),
        private_key_warning(&files.ca_key()),
        folder_warning(&files.pki),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(CertReport {
        ca: ca_info,
        server: server_info,
        warnings,
    })
}

/// Verifies the server certificate for every name as rustls (the registry's clients
/// in iocdock, and like them Docker's Go TLS) does: signature chain to the CA, key
/// usages, validity and name.
fn chain_to_ca(
    ca_path: &Path,
    ca_der: &[u8],
    server_path: &Path,
    server_der: &[u8],
    names: &ServerNames,
) -> Result<(), CertError> {
    let chain_error = |reason: String| CertError::Chain {
        path: server_path.to_path_buf(),
        ca: ca_path.to_path_buf(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .map_err(|e| chain_error(format!("the CA is unusable as a trust anchor: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| chain_error(e.to_string()))?;
    let end_entity = CertificateDer::from(server_der.to_vec());
    let server_names = names
        .dns
        .iter()
        .filter_map(|n| ServerName::try_from(n.clone()).ok())
        .chain(
            names
                .ips
                .iter()
                .map(|ip| ServerName::IpAddress((*ip).into())),
        );
    for name in server_names {
        verifier
            .verify_server_cert(&end_entity, &[], &name, &[], UnixTime::now())
            .map_err(|e| chain_error(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> ServerNames {
        ServerNames {
            dns: vec!["registry.lab".to_string()],
            ips: vec!["10.1.2.3".parse().unwrap()],
        }
    }

    const OPTIONS: MakeOptions = MakeOptions {
        force: false,
        new_ca: false,
        days: 825,
    };

    const FORCE: MakeOptions = MakeOptions {
        force: true,
        ..OPTIONS
    };

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn files_in(dir: &Path) -> CertFiles {
        CertFiles {
            dir: dir.join("run/swarm/registry/certs"),
            pki: dir.join("manager/pki"),
        }
    }

    /// A server certificate for `dns` and `ips` signed with the CA's key directly,
    /// as whoever stole the key could do, without make's checks.
    fn signed_by_ca(files: &CertFiles, dns: &[&str], ips: &[&str]) -> Vec<u8> {
        let ca_pem = std::fs::read_to_string(files.ca_cert()).unwrap();
        let ca_key = KeyPair::from_pem(&std::fs::read_to_string(files.ca_key()).unwrap()).unwrap();
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
        let mut params = CertificateParams::default();
        params.subject_alt_names = dns
            .iter()
            .map(|n| SanType::DnsName(n.to_string().try_into().unwrap()))
            .chain(ips.iter().map(|ip| SanType::IpAddress(ip.parse().unwrap())))
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        params.signed_by(&key, &issuer).unwrap().der().to_vec()
    }

    /// What a rustls client (iocdock's registry client) says of `leaf` for `name`
    /// when it trusts only the cluster CA.
    fn rustls_verdict(files: &CertFiles, leaf: &[u8], name: &str) -> Result<(), rustls::Error> {
        let pem = std::fs::read(files.ca_cert()).unwrap();
        let ca = pem_certificate(&files.ca_cert(), &pem).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca)).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        let name = ServerName::try_from(name.to_string()).unwrap();
        verifier
            .verify_server_cert(
                &CertificateDer::from(leaf.to_vec()),
                &[],
                &name,
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
    }

    #[test]
    fn made_certificates_verify_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        let made = make(&files, "lab cluster root CA", &names(), OPTIONS).unwrap();
        assert!(made.new_ca && made.server_made && made.moved.is_none());
        assert_eq!(made.report.server.names, vec!["registry.lab", "10.1.2.3"]);
        assert_eq!(
            made.report.ca.names,
            vec!["lab and names below it", "10.1.2.3/32"]
        );
        assert!(made.report.ca.subject.contains("lab cluster root CA"));
        assert!(
            made.report.warnings.is_empty(),
            "{:?}",
            made.report.warnings
        );
        // The CA key is on the manager, private; the run directory has none.
        assert_eq!(files.ca_key(), dir.path().join("manager/pki/ca.key"));
        assert_eq!(mode(&files.ca_key()), 0o600);
        assert_eq!(mode(&files.pki), 0o700);
        assert!(!files.run_directory_ca_key().exists());
        assert_eq!(mode(&files.server_key()), 0o600);
        assert_eq!(mode(&files.ca_cert()), 0o644);

        // A name the certificate lacks is refused, naming it.
        let more = names().with(&["other.lab".to_string()], false).unwrap();
        let err = verify(&files, &more).unwrap_err().to_string();
        assert!(err.contains("not valid for other.lab"), "{err}");
    }

    #[test]
    fn existing_certificates_need_force_and_force_keeps_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        make(&files, "CA", &names(), OPTIONS).unwrap();
        let ca_before = std::fs::read(files.ca_cert()).unwrap();
        let server_before = std::fs::read(files.server_cert()).unwrap();

        let err = make(&files, "CA", &names(), OPTIONS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("already exist") && err.contains("--force"),
            "{err}"
        );

        let made = make(&files, "CA", &names(), FORCE).unwrap();
        assert!(!made.new_ca);
        assert_eq!(std::fs::read(files.ca_cert()).unwrap(), ca_before);
        assert_ne!(std::fs::read(files.server_cert()).unwrap(), server_before);

        let new_ca = MakeOptions {
            new_ca: true,
            ..OPTIONS
        };
        std::fs::remove_file(files.server_cert()).unwrap();
        std::fs::remove_file(files.server_key()).unwrap();
        let err = make(&files, "CA", &names(), new_ca)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--new-ca --force"), "{err}");
        let made = make(
            &files,
            "CA",
            &names(),
            MakeOptions {
                force: true,
                ..new_ca
            },
        )
        .unwrap();
        assert!(made.new_ca);
        assert_ne!(std::fs::read(files.ca_cert()).unwrap(), ca_before);
    }

    #[test]
    fn the_ca_signs_only_within_its_scope() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        make(&files, "CA", &names(), OPTIONS).unwrap();

        // Inside the scope: the registry's domain and address.
        let inside = signed_by_ca(&files, &["nginx.lab", "a.b.lab"], &["10.1.2.3"]);
        rustls_verdict(&files, &inside, "nginx.lab").unwrap();
        rustls_verdict(&files, &inside, "a.b.lab").unwrap();
        rustls_verdict(&files, &inside, "10.1.2.3").unwrap();

        // Another name or address, signed by the same CA, does not validate.
        for (leaf, name) in [
            (
                signed_by_ca(&files, &["www.example.org"], &[]),
                "www.example.org",
            ),
            (
                signed_by_ca(&files, &["lab.example.org"], &[]),
                "lab.example.org",
            ),
            (
                signed_by_ca(&files, &["registry.lab"], &["10.1.2.4"]),
                "10.1.2.4",
            ),
            (signed_by_ca(&files, &["registry.lab"], &["::1"]), "::1"),
        ] {
            let verdict = rustls_verdict(&files, &leaf, name);
            assert!(
                matches!(
                    verdict,
                    Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::Other(_)
                            | rustls::CertificateError::NotValidForName
                            | rustls::CertificateError::NotValidForNameContext { .. }
                    ))
                ) && format!("{verdict:?}").contains("NameConstraint"),
                "{name}: {verdict:?}"
            );
        }
    }

    #[test]
    fn a_ca_without_an_address_signs_for_none() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        let dns_only = ServerNames {
            dns: vec!["registry.lab".to_string()],
            ips: Vec::new(),
        };
        let made = make(&files, "CA", &dns_only, OPTIONS).unwrap();
        assert_eq!(
            made.report.ca.names,
            vec!["lab and names below it", "no IP address"]
        );
        let leaf = signed_by_ca(&files, &["registry.lab"], &["127.0.0.1"]);
        rustls_verdict(&files, &leaf, "registry.lab").unwrap_err();
        rustls_verdict(&files, &leaf, "127.0.0.1").unwrap_err();
    }

    #[test]
    fn a_server_certificate_outside_the_scope_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        make(&files, "CA", &names(), OPTIONS).unwrap();
        let before = std::fs::read(files.server_cert()).unwrap();
        for extra in ["nginx.example.org", "10.9.9.9"] {
            let more = names().with(&[extra.to_string()], false).unwrap();
            let err = make(&files, "CA", &more, FORCE).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{extra} is outside the names the cluster CA")),
                "{err}"
            );
            assert!(
                err.contains("(lab and names below it, 10.1.2.3/32)"),
                "{err}"
            );
            assert!(err.contains("--new-ca --force"), "{err}");
            assert_eq!(std::fs::read(files.server_cert()).unwrap(), before);
        }
        // A name in the registry's domain needs no new CA.
        let nginx = names().with(&["nginx.lab".to_string()], false).unwrap();
        make(&files, "CA", &nginx, FORCE).unwrap();
        // A new CA made with the extra names covers them.
        let more = names()
            .with(
                &["nginx.example.org".to_string(), "10.9.9.9".to_string()],
                true,
            )
            .unwrap();
        let made = make(
            &files,
            "CA",
            &more,
            MakeOptions {
                new_ca: true,
                ..FORCE
            },
        )
        .unwrap();
        assert_eq!(
            made.report.ca.names,
            vec![
                "lab and names below it",
                "nginx.example.org and names below it",
                "localhost and names below it",
                "10.1.2.3/32",
                "10.9.9.9/32",
                "127.0.0.1/32"
            ]
        );
    }

    #[test]
    fn scope_of_a_new_ca() {
        let names = ServerNames {
            dns: vec!["Registry.Site.Example".to_string()],
            ips: Vec::new(),
        }
        .with(
            &[
                "nginx.site.example".into(),
                "site.example".into(),
                "other".into(),
            ],
            false,
        )
        .unwrap();
        let scope = NameScope::for_names(&names);
        assert_eq!(scope.dns, vec!["site.example", "other"]);
        assert!(scope.permits_dns("registry.site.example"));
        assert!(scope.permits_dns("SITE.example"));
        assert!(!scope.permits_dns("evilsite.example"));
        assert!(!scope.permits_dns("example"));
        assert!(!scope.permits_ip("10.0.0.1".parse().unwrap()));
        assert!(!scope.permits_ip("::1".parse().unwrap()));
        // A registry name of one label is its own domain.
        let single = NameScope::for_names(&ServerNames {
            dns: vec!["registry".to_string()],
            ips: vec!["10.0.0.1".parse().unwrap()],
        });
        assert_eq!(single.dns, vec!["registry"]);
        assert!(single.permits_ip("10.0.0.1".parse().unwrap()));
        assert!(!single.permits_ip("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn a_key_left_in_the_run_directory_is_moved_by_the_next_make() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        make(&files, "CA", &names(), OPTIONS).unwrap();
        let key = std::fs::read(files.ca_key()).unwrap();
        let server = std::fs::read(files.server_cert()).unwrap();
        // Where earlier versions kept it.
        std::fs::rename(files.ca_key(), files.run_directory_ca_key()).unwrap();
        let report = verify(&files, &names()).unwrap();
        assert!(
            report.warnings.iter().any(|w| w
                .contains("ca.key is the CA's private key in the run directory")
                && w.contains("run `iocdock make-certs` to move it")),
            "{:?}",
            report.warnings
        );

        // Without --force the certificates stay; the key moves all the same.
        let made = make(&files, "CA", &names(), OPTIONS).unwrap();
        let moved = made.moved.unwrap();
        assert!(!made.server_made);
        assert_eq!(moved.from, files.run_directory_ca_key());
        assert_eq!(moved.to, files.ca_key());
        assert!(!files.run_directory_ca_key().exists());
        assert_eq!(std::fs::read(files.ca_key()).unwrap(), key);
        assert_eq!(mode(&files.ca_key()), 0o600);
        assert_eq!(std::fs::read(files.server_cert()).unwrap(), server);
        assert!(
            made.report.warnings.is_empty(),
            "{:?}",
            made.report.warnings
        );

        // A different key is never overwritten: the moved one gets the next name.
        let other = KeyPair::generate().unwrap().serialize_pem();
        std::fs::write(files.run_directory_ca_key(), &other).unwrap();
        let made = make(&files, "CA", &names(), FORCE).unwrap();
        assert_eq!(made.moved.unwrap().to, files.pki.join("ca.key.1"));
        assert_eq!(std::fs::read(files.ca_key()).unwrap(), key);
        assert_eq!(
            std::fs::read_to_string(files.pki.join("ca.key.1")).unwrap(),
            other
        );
        assert!(!files.run_directory_ca_key().exists());
    }

    #[test]
    fn a_link_in_place_of_the_key_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        make(&files, "CA", &names(), OPTIONS).unwrap();
        let elsewhere = dir.path().join("elsewhere.pem");
        std::fs::write(&elsewhere, KeyPair::generate().unwrap().serialize_pem()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, files.run_directory_ca_key()).unwrap();
        let err = make(&files, "CA", &names(), FORCE).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert!(elsewhere.exists());
        assert!(!files.pki.join("ca.key.1").exists());
    }

    #[test]
    fn a_ca_without_name_constraints_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        // A CA as earlier versions made it: no name constraints.
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = params.self_signed(&key).unwrap();
        std::fs::create_dir_all(&files.dir).unwrap();
        private_folder(&files.pki).unwrap();
        std::fs::write(files.ca_cert(), ca.pem()).unwrap();
        write_key(&files.ca_key(), key.serialize_pem().as_bytes()).unwrap();

        // It still signs (for any name), and the report says what to do.
        let made = make(&files, "CA", &names(), OPTIONS).unwrap();
        assert!(!made.new_ca);
        assert_eq!(made.report.ca.names, vec!["any (no name constraints)"]);
        assert!(
            made.report
                .warnings
                .iter()
                .any(|w| w.contains("has no name constraints") && w.contains("--new-ca --force")),
            "{:?}",
            made.report.warnings
        );
    }

    #[test]
    fn a_server_certificate_of_another_ca_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let one = files_in(&dir.path().join("one"));
        let two = files_in(&dir.path().join("two"));
        make(&one, "CA one", &names(), OPTIONS).unwrap();
        make(&two, "CA two", &names(), OPTIONS).unwrap();
        std::fs::copy(two.ca_cert(), one.ca_cert()).unwrap();
        std::fs::remove_file(one.ca_key()).unwrap();
        let err = verify(&one, &names()).unwrap_err().to_string();
        assert!(err.contains("does not verify against"), "{err}");
    }

    #[test]
    fn a_swapped_key_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        make(&files, "CA", &names(), OPTIONS).unwrap();
        std::fs::copy(files.ca_key(), files.server_key()).unwrap();
        let err = verify(&files, &names()).unwrap_err().to_string();
        assert!(err.contains("is not the private key of"), "{err}");
    }

    #[test]
    fn missing_files_say_how_to_make_them() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_in(dir.path());
        let err = verify(&files, &names()).unwrap_err().to_string();
        assert!(err.contains("ca.crt does not exist"), "{err}");
        assert!(err.contains("iocdock make-certs"), "{err}");
    }

    #[test]
    fn extra_names_are_checked() {
        let more = names()
            .with(&["nginx.lab".into(), "10.1.2.3".into()], true)
            .unwrap();
        assert_eq!(more.dns, vec!["registry.lab", "nginx.lab", "localhost"]);
        assert_eq!(more.ips.len(), 2);
        assert!(names().with(&["a b".into()], false).is_err());
    }
}
