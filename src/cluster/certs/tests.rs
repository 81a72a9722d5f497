//! Making and verifying certificates in a temporary folder, and the CA's scope.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

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

#[test]
fn node_engine_certificates_verify_for_the_node_and_stay_in_the_ca_scope() {
    let dir = tempfile::tempdir().unwrap();
    let files = files_in(dir.path());
    let with_nodes = names()
        .with(&["node1.lab".to_string(), "10.1.2.11".to_string()], false)
        .unwrap();
    make(&files, "CA", &with_nodes, OPTIONS).unwrap();
    let node = EngineNode {
        hostname: "node1.lab".to_string(),
        address: "10.1.2.11".parse().unwrap(),
    };
    let made = make_engine_certs(&files, std::slice::from_ref(&node), 825).unwrap();
    let node_dir = files.pki.join("engines/node1.lab");
    assert_eq!(made.nodes, vec![(node.clone(), node_dir.clone())]);
    assert_eq!(made.client, files.pki.join("engines/client"));
    assert_eq!(engine_client(&files).unwrap(), made.client);
    // Private folders and keys; the client key is as good as root on every node.
    for private in [
        files.pki.join("engines"),
        node_dir.clone(),
        made.client.clone(),
    ] {
        assert_eq!(mode(&private), 0o700, "{}", private.display());
    }
    assert_eq!(mode(&node_dir.join("server-key.pem")), 0o600);
    assert_eq!(mode(&made.client.join("key.pem")), 0o600);
    // A client connecting to the node's address (or name) accepts its certificate.
    let pem = std::fs::read(node_dir.join("server-cert.pem")).unwrap();
    let der = pem_certificate(&node_dir.join("server-cert.pem"), &pem).unwrap();
    rustls_verdict(&files, &der, "10.1.2.11").unwrap();
    rustls_verdict(&files, &der, "node1.lab").unwrap();
    assert!(rustls_verdict(&files, &der, "10.1.2.12").is_err());

    // A node the CA was not made for is refused, naming it, before anything is written.
    let other = EngineNode {
        hostname: "node2.lab".to_string(),
        address: "10.1.2.12".parse().unwrap(),
    };
    let err = make_engine_certs(&files, &[node, other], 825)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("10.1.2.12 is outside the names the cluster CA"),
        "{err}"
    );
    assert!(!files.pki.join("engines/node2.lab").exists());

    // Without them, the way to make them is named.
    let empty = files_in(&dir.path().join("none"));
    let err = engine_client(&empty).unwrap_err().to_string();
    assert!(err.contains("make-certs --node-engines"), "{err}");
}
