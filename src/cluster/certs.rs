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

mod engines;
mod files;
mod names;
mod verify;

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use x509_parser::certificate::X509Certificate;

use super::{BadSetting, certs_dir, pki_dir};
use crate::fsutil::{self, FsError, IoContext};
use crate::settings::Settings;
pub(crate) use engines::{
    ENGINE_TLS_PORT, EngineNode, engine_client, engines_dir, make_engine_certs,
};
use files::{move_run_directory_key, private_folder, read_key, read_text, write_key};
pub(crate) use names::{NameScope, ServerNames};
pub(crate) use verify::verify;
use verify::{check_ca, check_dates, check_key, parse_certificate, pem_certificate};

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
    #[error(
        "{0} does not exist: run `iocdock make-certs --node-engines` and give each node engine its TLS endpoint (README, \"Node engines\") to reach IOCs on other nodes"
    )]
    EngineClientMissing(PathBuf),
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

#[cfg(test)]
mod tests;
