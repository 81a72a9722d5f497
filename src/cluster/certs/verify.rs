//! Checking the certificates as the registry and its clients will use them.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rcgen::{KeyPair, PublicKeyData};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use super::files::{read_key, read_text};
use super::names::{NameScope, ServerNames};
use super::{
    CertError, CertFiles, CertInfo, CertReport, WARN_DAYS, check_scope, run_directory_key_warning,
};

/// The DER bytes of the first certificate of a PEM file.
pub(super) fn pem_certificate(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, CertError> {
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

pub(super) fn parse_certificate<'a>(
    path: &Path,
    der: &'a [u8],
) -> Result<X509Certificate<'a>, CertError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| CertError::Unreadable {
            path: path.to_path_buf(),
            problem: format!("not a valid X.509 certificate ({e})"),
        })
}

pub(super) fn check_ca(path: &Path, cert: &X509Certificate<'_>) -> Result<(), CertError> {
    if cert.is_ca() {
        Ok(())
    } else {
        Err(CertError::NotCa(path.to_path_buf()))
    }
}

pub(super) fn check_key(
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

pub(super) fn check_dates(
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
