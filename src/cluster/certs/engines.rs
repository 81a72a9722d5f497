//! Certificates for the node engines' TLS endpoints: a server certificate per swarm
//! node (its hostname and swarm address), and one client certificate for the manager,
//! which the engines (started with `--tlsverify`) require of every connection. All are
//! signed by the cluster CA and kept in `$MANAGER_PATH/pki/engines/` (folders 0700,
//! keys 0600): the client key is as good as root on every node.
//!
//! Layout, in the file names dockerd and the docker CLI expect:
//! `engines/<hostname>/{ca.pem, server-cert.pem, server-key.pem}` for each node,
//! `engines/client/{ca.pem, cert.pem, key.pem}` for the manager
//! (`DOCKER_CERT_PATH`-shaped, so `docker --tlsverify -H tcp://ADDR:2376` works with it).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use super::files::{private_folder, read_key, read_text, write_key};
use super::verify::{check_ca, check_dates, check_key, parse_certificate, pem_certificate};
use super::{CertError, CertFiles, ServerNames, check_scope, days};
use crate::fsutil;

/// The port of every node engine's TLS endpoint (Docker's registered TLS port).
pub(crate) const ENGINE_TLS_PORT: u16 = 2376;

/// One swarm node whose engine gets a server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineNode {
    pub(crate) hostname: String,
    pub(crate) address: IpAddr,
}

/// What `make_engine_certs` wrote.
#[derive(Debug, Clone)]
pub(crate) struct EngineCerts {
    /// Each node's folder, in the order given.
    pub(crate) nodes: Vec<(EngineNode, PathBuf)>,
    /// The manager's client folder.
    pub(crate) client: PathBuf,
}

/// `$MANAGER_PATH/pki/engines`.
pub(crate) fn engines_dir(files: &CertFiles) -> PathBuf {
    files.pki.join("engines")
}

/// The manager's client certificate folder (`ca.pem`, `cert.pem`, `key.pem`).
fn client_dir(files: &CertFiles) -> PathBuf {
    engines_dir(files).join("client")
}

/// The manager's client certificate folder, when `make_engine_certs` made it.
pub(crate) fn engine_client(files: &CertFiles) -> Result<PathBuf, CertError> {
    let dir = client_dir(files);
    match ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .map(|f| dir.join(f))
        .find(|f| !f.is_file())
    {
        Some(missing) => Err(CertError::EngineClientMissing(missing)),
        None => Ok(dir),
    }
}

/// Issues a server certificate for each of `nodes` and the manager's client
/// certificate, from the existing cluster CA, valid `valid_days`. Existing ones are
/// replaced: a node's address may have changed.
pub(crate) fn make_engine_certs(
    files: &CertFiles,
    nodes: &[EngineNode],
    valid_days: u32,
) -> Result<EngineCerts, CertError> {
    let (ca_cert, ca_key) = (files.ca_cert(), files.ca_key());
    if !ca_cert.exists() {
        return Err(CertError::Missing(ca_cert));
    }
    if !ca_key.exists() {
        return Err(CertError::CaKeyMissing {
            cert: ca_cert,
            key: ca_key,
        });
    }
    let ca_pem = read_text(&ca_cert)?;
    let key = read_key(&ca_key)?;
    let der = pem_certificate(&ca_cert, ca_pem.as_bytes())?;
    let parsed = parse_certificate(&ca_cert, &der)?;
    check_ca(&ca_cert, &parsed)?;
    check_key(&ca_key, &key, &ca_cert, &parsed)?;
    check_dates(&ca_cert, &parsed, "make a new CA with `--new-ca --force`")?;
    for node in nodes {
        check_scope(&ca_cert, &parsed, &node_names(node))?;
    }
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, key).map_err(|e| CertError::Unreadable {
        path: ca_cert.clone(),
        problem: format!("cannot use as CA: {e}"),
    })?;

    let root = engines_dir(files);
    private_folder(&files.pki)?;
    private_folder(&root)?;
    let mut made = Vec::with_capacity(nodes.len());
    for node in nodes {
        let dir = root.join(&node.hostname);
        let names = node_names(node);
        let sans = names
            .dns
            .iter()
            .map(|name| Ok(SanType::DnsName(name.clone().try_into()?)))
            .chain(names.ips.iter().map(|ip| Ok(SanType::IpAddress(*ip))))
            .collect::<Result<Vec<_>, rcgen::Error>>()?;
        write_pair(
            &dir,
            &ca_pem,
            &issuer,
            &node.hostname,
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            ("server-cert.pem", "server-key.pem"),
            valid_days,
        )?;
        made.push((node.clone(), dir));
    }
    let client = client_dir(files);
    write_pair(
        &client,
        &ca_pem,
        &issuer,
        "iocdock manager",
        Vec::new(),
        ExtendedKeyUsagePurpose::ClientAuth,
        ("cert.pem", "key.pem"),
        valid_days,
    )?;
    Ok(EngineCerts {
        nodes: made,
        client,
    })
}

/// A node's names as a server certificate carries them: its hostname (when it is a
/// DNS name) and its address.
fn node_names(node: &EngineNode) -> ServerNames {
    let dns = crate::cluster::is_dns_name(&node.hostname)
        .then(|| node.hostname.to_ascii_lowercase())
        .into_iter()
        .collect();
    ServerNames {
        dns,
        ips: vec![node.address],
    }
}

#[allow(clippy::too_many_arguments)]
fn write_pair(
    dir: &Path,
    ca_pem: &str,
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
    (cert_file, key_file): (&str, &str),
    valid_days: u32,
) -> Result<(), CertError> {
    private_folder(dir)?;
    let now = time::OffsetDateTime::now_utc();
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.subject_alt_names = sans;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    // Backdated an hour, as the registry's: a node clock a little behind still
    // accepts it.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + days(i64::from(valid_days));
    let cert = params.signed_by(&key, issuer)?;
    write_key(&dir.join(key_file), key.serialize_pem().as_bytes())?;
    let cert_path = dir.join(cert_file);
    fsutil::atomic_write(&cert_path, cert.pem().as_bytes(), 0o644)?;
    let ca_copy = dir.join("ca.pem");
    fsutil::atomic_write(&ca_copy, ca_pem.as_bytes(), 0o644)?;
    Ok(())
}
