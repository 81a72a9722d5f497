//! Engine connections: a `tcp://` engine is spoken to with TLS that verifies the
//! engine's certificate, or not at all unless plain TCP is allowed. The engine here is
//! the test machine's own, reached through endpoints the tests put in front of its
//! socket: a TLS one (certificates made here) and a plain one that records what
//! crosses it.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::TestContext;
use crate::docker::{StackGuard, docker, docker_ready, swarm_context, unique_prefix};

const ENGINE_SOCKET: &str = "/var/run/docker.sock";

/// A CA and what it signed, as PEM.
struct Pki {
    ca: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&key).unwrap().pem();
        Pki {
            ca,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate and its key for `purpose`, valid for localhost and 127.0.0.1.
    fn issue(&self, purpose: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A DOCKER_CERT_PATH folder: this CA and a client certificate it signed.
    fn client_folder(&self, dir: &Path) {
        let (cert, key) = self.issue(ExtendedKeyUsagePurpose::ClientAuth);
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("ca.pem"), &self.ca).unwrap();
        fs::write(dir.join("cert.pem"), cert).unwrap();
        fs::write(dir.join("key.pem"), key).unwrap();
    }
}

/// A TLS endpoint for the engine, as dockerd's `--tlsverify` makes one: it shows a
/// certificate of `pki` and accepts only clients with a certificate of `pki`.
fn tls_engine(pki: &Pki) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = pki.issue(ExtendedKeyUsagePurpose::ServerAuth);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_client_cert_verifier(verifier)
    .with_single_cert(
        vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut engine) = tokio::net::UnixStream::connect(ENGINE_SOCKET).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
                });
            }
        });
    });
    address
}

/// Bytes clients sent to a plain endpoint, and how many connections it accepted.
#[derive(Default)]
struct Recording {
    bytes: Mutex<Vec<u8>>,
    connections: AtomicUsize,
}

/// A plain TCP endpoint for the engine that records everything clients send.
fn recording_engine() -> (SocketAddr, Arc<Recording>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let recording = Arc::new(Recording::default());
    let record = Arc::clone(&recording);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            record.connections.fetch_add(1, Ordering::SeqCst);
            let Ok(mut engine) = UnixStream::connect(ENGINE_SOCKET) else {
                continue;
            };
            let (Ok(mut client_out), Ok(mut engine_in)) = (client.try_clone(), engine.try_clone())
            else {
                continue;
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut engine_in, &mut client_out);
                let _ = client_out.shutdown(std::net::Shutdown::Both);
            });
            let record = Arc::clone(&record);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 16 * 1024];
                while let Ok(n) = client.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    record.bytes.lock().unwrap().extend_from_slice(&buffer[..n]);
                    if engine.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                let _ = engine.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (address, recording)
}

/// `iocdock ARGS` against `DOCKER_HOST=host` with the TLS variables given (and no
/// others from the test's own environment).
fn against(
    t: &TestContext,
    host: &str,
    tls: &[(&str, &Path)],
    args: &[&str],
) -> std::process::Output {
    let mut cmd = t.cmd(args);
    cmd.env("DOCKER_HOST", host)
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("IOCDOCK_ALLOW_PLAIN_TCP");
    for (name, value) in tls {
        cmd.env(name, value);
    }
    cmd.output().unwrap()
}

fn this_node() -> String {
    docker(&["info", "--format", "{{.Name}}"])
        .trim()
        .to_string()
}

#[test]
fn a_tls_engine_is_verified_against_the_ca_of_docker_cert_path() {
    if !docker_ready("engine::tls") {
        return;
    }
    let pki = Pki::new("engine");
    let address = tls_engine(&pki);
    let t = TestContext::new();
    let certs = t.home().join("docker-certs");
    pki.client_folder(&certs);
    let node = this_node();
    for host in [format!("tcp://{address}"), format!("https://{address}")] {
        let out = against(
            &t,
            &host,
            &[
                ("DOCKER_TLS_VERIFY", Path::new("1")),
                ("DOCKER_CERT_PATH", &certs),
            ],
            &["swarm", "--show-nodes"],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&node), "{host}: {stdout}");
    }

    // The same endpoint, checked against another CA: refused, even though the
    // system's trust store (as SSL_CERT_FILE makes it) trusts the engine's CA.
    let wrong = t.home().join("wrong-certs");
    Pki::new("another").client_folder(&wrong);
    let host = format!("tcp://{address}");
    let out = against(
        &t,
        &host,
        &[
            ("DOCKER_TLS_VERIFY", Path::new("1")),
            ("DOCKER_CERT_PATH", &wrong),
            ("SSL_CERT_FILE", &certs.join("ca.pem")),
        ],
        &["swarm", "--show-nodes"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&host), "{stderr}");
    assert!(
        stderr.contains("invalid peer certificate: UnknownIssuer"),
        "{stderr}"
    );

    // Without a client certificate the engine refuses the handshake.
    let anonymous = t.home().join("ca-only");
    fs::create_dir_all(&anonymous).unwrap();
    fs::copy(certs.join("ca.pem"), anonymous.join("ca.pem")).unwrap();
    let out = against(
        &t,
        &host,
        &[
            ("DOCKER_TLS_VERIFY", Path::new("1")),
            ("DOCKER_CERT_PATH", &anonymous),
        ],
        &["swarm", "--show-nodes"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());

    // Half a client pair is named, not silently left out of the handshake.
    fs::remove_file(certs.join("key.pem")).unwrap();
    let out = against(
        &t,
        &host,
        &[
            ("DOCKER_TLS_VERIFY", Path::new("1")),
            ("DOCKER_CERT_PATH", &certs),
        ],
        &["swarm", "--show-nodes"],
    );
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "DOCKER_HOST={host}: cannot use TLS: {}",
            certs.join("key.pem").display()
        )),
        "{stderr}"
    );
}

/// The engine endpoint speaks plain HTTP where TLS was asked for: nothing but a TLS
/// handshake reaches it, so the registry password of a deployment never does.
#[test]
fn a_plain_endpoint_posing_as_a_tls_engine_never_sees_a_registry_password() {
    if !docker_ready("engine::plain_posing_as_tls") {
        return;
    }
    let (address, recording) = recording_engine();
    let prefix = unique_prefix("tlsauth");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    let certs = t.home().join("docker-certs");
    Pki::new("client").client_folder(&certs);
    let config_dir = t.home().join("docker-config");
    fs::create_dir_all(&config_dir).unwrap();
    // "ops:hunter2"
    let auth = "b3BzOmh1bnRlcjI=";
    fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"auths": {{"registry.lab:5443": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    let file = t.home().join("custom/private.yaml");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(
        &file,
        "services:\n  private:\n    image: registry.lab:5443/ioc-exec:1\n    networks: [hostnet]\n    deploy: {replicas: 0}\nnetworks:\n  hostnet: {external: true, name: host}\n",
    )
    .unwrap();
    fs::create_dir_all(t.home().join("IocDock")).unwrap();
    fs::write(
        t.home().join("IocDock/services.yaml"),
        format!("private: {}\n", file.display()),
    )
    .unwrap();
    let host = format!("tcp://{address}");
    let mut cmd = t.cmd(&["service", "private", "--deploy", "--detach"]);
    cmd.env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &certs)
        .env("DOCKER_CONFIG", &config_dir)
        .env_remove("IOCDOCK_ALLOW_PLAIN_TCP");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach the Docker daemon at {host}")),
        "{stderr}"
    );
    assert!(stderr.contains("InvalidContentType"), "{stderr}");

    let sent = recording.bytes.lock().unwrap().clone();
    assert_eq!(sent.first(), Some(&0x16), "not a TLS handshake: {sent:?}");
    let text = String::from_utf8_lossy(&sent).to_ascii_lowercase();
    assert!(!text.contains("x-registry-auth"), "{text}");
    assert!(!text.contains(&auth.to_ascii_lowercase()), "{text}");
    assert!(!text.contains("http/1.1"), "plain HTTP was sent: {text}");
    let services = docker(&["service", "ls", "--format", "{{.Name}}"]);
    assert!(
        !services.contains(&format!("{prefix}_private")),
        "{services}"
    );
}

#[test]
fn plain_tcp_is_refused_before_connecting_unless_allowed() {
    if !docker_ready("engine::plain_tcp") {
        return;
    }
    let (address, recording) = recording_engine();
    let host = format!("tcp://{address}");
    let t = TestContext::new();
    let out = against(&t, &host, &[], &["swarm", "--show-nodes"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("DOCKER_HOST={host} is plain TCP")),
        "{stderr}"
    );
    assert!(stderr.contains("IOCDOCK_ALLOW_PLAIN_TCP=1"), "{stderr}");
    // list -p still prints its panel, with one warning.
    t.ok(&["create", "ioc1"]);
    let out = against(&t, &host, &[], &["list", "-p"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unknown (DOCKER_HOST refused)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(recording.connections.load(Ordering::SeqCst), 0);

    // Allowed explicitly, plain TCP works.
    let out = against(
        &t,
        &host,
        &[("IOCDOCK_ALLOW_PLAIN_TCP", Path::new("1"))],
        &["swarm", "--show-nodes"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&this_node()));
    assert!(recording.connections.load(Ordering::SeqCst) > 0);
}
