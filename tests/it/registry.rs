//! make-certs and registry --list, against Debian's docker-registry (distribution 2.8)
//! serving the certificate make-certs wrote, with an image pushed by the docker CLI.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::TestContext;
use crate::builtin::Cleanup;
use crate::cluster::tool_ready;
use crate::docker::{TEST_IMAGE, docker, docker_ready, unique_prefix};

pub(crate) fn certs(t: &TestContext) -> PathBuf {
    t.mount().join("swarm/registry/certs")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn pki(t: &TestContext) -> PathBuf {
    t.home().join("IocDock/pki")
}

#[test]
fn make_certs_writes_checked_certificates_and_private_keys() {
    let t = TestContext::new();
    t.write_settings("prefix_stack_name: lab\nregistry_master_ip: 10.1.2.3\n");
    let out = t.ok(&["make-certs"]);
    assert!(out.starts_with("File "), "{out}");
    assert!(out.contains("CN=lab cluster root CA"), "{out}");
    assert!(out.contains("lab and names below it, 10.1.2.3/32"), "{out}");
    assert!(out.contains("registry.lab, 10.1.2.3"), "{out}");
    let dir = certs(&t);
    // The CA key is on the manager only, never in the run directory.
    assert!(!dir.join("ca.key").exists());
    assert_eq!(mode(&pki(&t)), 0o700);
    assert_eq!(mode(&pki(&t).join("ca.key")), 0o600);
    assert_eq!(mode(&dir.join("registry.key")), 0o600);
    assert_eq!(mode(&dir.join("ca.crt")), 0o644);
    assert_eq!(mode(&dir.join("registry.crt")), 0o644);
    let ca = fs::read(dir.join("ca.crt")).unwrap();
    let server = fs::read(dir.join("registry.crt")).unwrap();

    // Nothing is overwritten without --force.
    t.cmd(&["make-certs"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exist; use --force"));
    assert_eq!(fs::read(dir.join("registry.crt")).unwrap(), server);

    // --force renews the server certificate with the same CA, for names in its scope.
    let out = t.ok(&["make-certs", "--force", "--san", "nginx.lab"]);
    assert!(out.contains("registry.lab, nginx.lab, 10.1.2.3"), "{out}");
    assert_eq!(fs::read(dir.join("ca.crt")).unwrap(), ca);
    assert_ne!(fs::read(dir.join("registry.crt")).unwrap(), server);
    t.ok(&["make-certs", "--verify", "--san", "nginx.lab"]);

    // Names outside the CA's scope need a new CA; nothing is written.
    let server = fs::read(dir.join("registry.crt")).unwrap();
    let out = t
        .cmd(&["make-certs", "--force", "--localhost", "--san", "nginx.lab"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: localhost is outside the names the cluster CA {} may sign for (lab and names below it, 10.1.2.3/32); make a new CA that covers it with `iocdock make-certs --new-ca --force`",
            dir.join("ca.crt").display()
        )),
        "{stderr}"
    );
    assert_eq!(fs::read(dir.join("registry.crt")).unwrap(), server);
    let out = t.ok(&[
        "make-certs",
        "--new-ca",
        "--force",
        "--localhost",
        "--san",
        "nginx.lab",
    ]);
    assert!(
        out.contains("registry.lab, nginx.lab, localhost, 10.1.2.3, 127.0.0.1"),
        "{out}"
    );
    assert!(
        out.contains(
            "lab and names below it, localhost and names below it, 10.1.2.3/32, 127.0.0.1/32"
        ),
        "{out}"
    );
    assert_ne!(fs::read(dir.join("ca.crt")).unwrap(), ca);

    // A name the certificate lacks fails the check, naming it.
    t.cmd(&["make-certs", "--verify", "--san", "other.lab"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not valid for other.lab"));
    // A changed setting is noticed too.
    t.write_settings("prefix_stack_name: lab\nregistry_master_ip: 10.1.2.4\n");
    t.cmd(&["make-certs", "--verify"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not valid for 10.1.2.4"));
}

/// A home as earlier versions left it: the CA key beside the certificates.
fn with_key_in_run_directory(t: &TestContext) {
    t.ok(&["make-certs"]);
    fs::rename(pki(t).join("ca.key"), certs(t).join("ca.key")).unwrap();
}

#[test]
fn a_ca_key_in_the_run_directory_is_reported_then_moved() {
    let t = TestContext::new();
    t.write_settings("registry_login_username: ops\nregistry_login_password: s3cret\n");
    with_key_in_run_directory(&t);
    let key = fs::read(certs(&t).join("ca.key")).unwrap();
    let server = fs::read(certs(&t).join("registry.crt")).unwrap();
    let warning = format!(
        "warning: {} is the CA's private key in the run directory, which every node mounts; run `iocdock make-certs` to move it to {}",
        certs(&t).join("ca.key").display(),
        pki(&t).join("ca.key").display()
    );

    let out = t.cmd(&["make-certs", "--verify"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&warning),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = t
        .cmd(&["swarm", "--gen-built-in-services", "--yes"])
        .env(
            "DOCKER_HOST",
            "unix:///nonexistent/iocdock-test/docker.sock",
        )
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&warning),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        certs(&t).join("ca.key").exists(),
        "only make-certs moves it"
    );

    // The next make-certs moves it, keeps the certificates, and says so.
    let out = t.cmd(&["make-certs"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "moved the CA private key from the run directory to {}",
            pki(&t).join("ca.key").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("the existing certificates are kept"),
        "{stderr}"
    );
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert!(!certs(&t).join("ca.key").exists());
    assert_eq!(fs::read(pki(&t).join("ca.key")).unwrap(), key);
    assert_eq!(mode(&pki(&t).join("ca.key")), 0o600);
    assert_eq!(fs::read(certs(&t).join("registry.crt")).unwrap(), server);
    // The moved key still signs: the CA is the same.
    t.ok(&["make-certs", "--force"]);
}

#[test]
fn bad_registry_settings_are_one_error_naming_the_key() {
    let t = TestContext::new();
    t.write_settings("registry_master_ip: 10.0.0.300\n");
    for args in [&["make-certs"][..], &["registry", "--list"]] {
        let out = t.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("registry_master_ip: \"10.0.0.300\" is not an IP address"),
            "{stderr}"
        );
    }
    t.write_settings("registry_common_name: 'my registry'\n");
    t.cmd(&["make-certs"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "registry_common_name: \"my registry\" is not a DNS name",
        ));
    assert!(!certs(&t).exists());
}

#[test]
fn registry_list_without_ca_or_registry_says_why() {
    let t = TestContext::new();
    let port = free_port();
    t.write_settings(&format!(
        "registry_master_ip: 127.0.0.1\nregistry_port: {port}\n"
    ));
    t.cmd(&["registry", "--list"]).assert().code(1).stderr(
        predicate::str::contains("ca.crt does not exist")
            .and(predicate::str::contains("make-certs")),
    );
    t.ok(&["make-certs"]);
    let out = t.cmd(&["registry", "--list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot reach the registry at registry.iasf:{port} (address 127.0.0.1): "
        )),
        "{stderr}"
    );
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The registry process; killed when the test ends, however it ends.
pub(crate) struct RegistryProcess(Child);

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Docker's trust of the test registry's CA and the pushed tag, removed at the end.
pub(crate) struct DockerState {
    pub(crate) certs_d: PathBuf,
    pub(crate) tag: String,
}

impl Drop for DockerState {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.certs_d);
        if !self.tag.is_empty() {
            let _ = Command::new("docker").args(["rmi", &self.tag]).output();
        }
    }
}

pub(crate) fn start_registry(t: &TestContext, port: u16) -> RegistryProcess {
    let certs = certs(t);
    let auth = t.mount().join("swarm/registry/auth");
    let config = t.home().join("registry.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: warn}}\n\
             storage: {{filesystem: {{rootdirectory: {data}}}}}\n\
             http:\n  addr: 127.0.0.1:{port}\n  tls: {{certificate: {crt}, key: {key}}}\n\
             auth: {{htpasswd: {{realm: iocdock, path: {htpasswd}}}}}\n",
            data = t.home().join("registry-data").display(),
            crt = certs.join("registry.crt").display(),
            key = certs.join("registry.key").display(),
            htpasswd = auth.join("htpasswd").display(),
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let process = RegistryProcess(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "docker-registry did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    process
}

#[test]
fn registry_list_shows_a_pushed_image_and_refuses_wrong_credentials() {
    let test = "registry_list";
    if !tool_ready(test, "docker-registry", "docker-registry") || !docker_ready(test) {
        return;
    }
    let t = TestContext::new();
    let port = free_port();
    let password = format!("pw-{}-{port}", std::process::id());
    let settings = |password: &str| {
        format!(
            "prefix_stack_name: regtest\nregistry_master_ip: 127.0.0.1\nregistry_port: {port}\n\
             registry_login_username: tester\nregistry_login_password: {password}\n"
        )
    };
    t.write_settings(&settings(&password));
    t.ok(&["make-certs"]);
    // The htpasswd `swarm --gen-built-in-services` writes: bcrypt, as htpasswd -B does.
    let auth = t.mount().join("swarm/registry/auth");
    fs::create_dir_all(&auth).unwrap();
    let hash = bcrypt::hash_with_result(&password, 5)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    fs::write(auth.join("htpasswd"), format!("tester:{hash}\n")).unwrap();
    let _registry = start_registry(&t, port);

    // Nothing pushed yet: an empty list, exit 0.
    assert_eq!(t.ok(&["registry", "--list"]), "");

    // Push with the docker CLI, trusting the cluster CA the way set-up-root-cert
    // makes every node trust it; the login goes to a private docker config.
    let address = format!("127.0.0.1:{port}");
    let tag = format!("{address}/iocdock-test/busybox:v{port}");
    let state = DockerState {
        certs_d: PathBuf::from(format!("/etc/docker/certs.d/{address}")),
        tag: tag.clone(),
    };
    fs::create_dir_all(&state.certs_d).unwrap();
    fs::copy(certs(&t).join("ca.crt"), state.certs_d.join("ca.crt")).unwrap();
    let docker_config = tempfile::tempdir().unwrap();
    let login = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf %s \"$PW\" | docker login {address} --username tester --password-stdin"
        ))
        .env("PW", &password)
        .env("DOCKER_CONFIG", docker_config.path())
        .output()
        .unwrap();
    assert!(
        login.status.success(),
        "docker login: {}",
        String::from_utf8_lossy(&login.stderr)
    );
    docker(&["tag", TEST_IMAGE, &tag]);
    let push = Command::new("docker")
        .args(["push", &tag])
        .env("DOCKER_CONFIG", docker_config.path())
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "docker push: {}",
        String::from_utf8_lossy(&push.stderr)
    );

    assert_eq!(t.ok(&["registry", "--list"]), "iocdock-test/busybox\n");
    assert_eq!(
        t.ok(&["registry", "--list", "iocdock-test/busybox"]),
        format!("v{port}\n")
    );
    // The image as a node names it, with the registry in front, works too.
    assert_eq!(
        t.ok(&[
            "registry",
            "--list",
            &format!("registry.regtest:{port}/iocdock-test/busybox")
        ]),
        format!("v{port}\n")
    );
    t.cmd(&["registry", "--list", "iocdock-test/none"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "has no repository \"iocdock-test/none\"",
        ));

    // Wrong credentials: one clear line, exit 1.
    t.write_settings(&settings("wrong-password"));
    let out = t.cmd(&["registry", "--list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: the registry at registry.regtest:{port} (address 127.0.0.1) refused the credentials of user \"tester\" (401 Unauthorized); check registry_login_username and registry_login_password in {}",
            t.home().join("settings.yaml").display()
        )
    );

    // A certificate of another CA is refused: only the cluster CA is trusted.
    t.write_settings(&settings(&password));
    let other = TestContext::new();
    other.write_settings(&settings(&password));
    other.ok(&["make-certs"]);
    fs::copy(certs(&other).join("ca.crt"), certs(&t).join("ca.crt")).unwrap();
    t.cmd(&["registry", "--list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("TLS with the registry at"));
    drop(state);
}

/// The registry image for the built-in registry services, standing in for
/// `registry:2.8.3` (which cannot be pulled here): Debian's docker-registry, the same
/// distribution 2.8, in the busybox test image, started the way the real image's
/// entrypoint starts it.
fn registry_image(prefix: &str, tag: &str) {
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs.tar");
    let builder = format!("{prefix}-registry-stand-in");
    docker(&["create", "--name", &builder, TEST_IMAGE, "true"]);
    let exported = Command::new("docker")
        .args(["export", "-o", &rootfs.to_string_lossy(), &builder])
        .output()
        .unwrap();
    docker(&["rm", &builder]);
    assert!(exported.status.success(), "docker export");
    let ldd = Command::new("ldd")
        .arg("/usr/bin/docker-registry")
        .output()
        .unwrap();
    let mut files = vec!["usr/bin/docker-registry".to_string()];
    files.extend(
        String::from_utf8_lossy(&ldd.stdout)
            .split_whitespace()
            .filter_map(|word| word.strip_prefix('/'))
            .map(str::to_string),
    );
    let added = Command::new("tar")
        .arg("-rhf")
        .arg(&rootfs)
        .arg("-C")
        .arg("/")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    docker(&[
        "import",
        "--change",
        r#"ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]"#,
        "--change",
        "ENV LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu",
        &rootfs.to_string_lossy(),
        tag,
    ]);
}

/// An HTTPS client that trusts only the cluster CA of `t`.
fn cluster_client(t: &TestContext) -> ureq::Agent {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let pem = fs::read(certs(t).join("ca.crt")).unwrap();
    let roots: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The status of `method url` with basic auth; None when nothing answers.
fn status(agent: &ureq::Agent, method: &str, url: &str, auth: &str) -> Option<u16> {
    let response = match method {
        "POST" => agent.post(url).header("Authorization", auth).send_empty(),
        _ => agent.get(url).header("Authorization", auth).call(),
    };
    response.ok().map(|r| r.status().as_u16())
}

/// `docker ARGS` with a private docker config; (success, stderr).
fn docker_as(config: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write as _;
    let mut child = Command::new("docker")
        .args(args)
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The pull and push registries as `swarm --gen-built-in-services` renders them,
/// deployed on this swarm: the pull identity reads, the push identity writes, and
/// neither registry sees more of the run directory than its own files.
#[test]
fn the_registry_services_keep_pull_and_push_identities_apart() {
    let test = "registry_services";
    if !tool_ready(test, "docker-registry", "docker-registry") || !docker_ready(test) {
        return;
    }
    let prefix = unique_prefix("rg");
    let (pull_port, push_port) = (free_port(), free_port());
    let pull_image = format!("127.0.0.1:{pull_port}/iocdock-test/busybox:v{push_port}");
    let push_image = format!("127.0.0.1:{push_port}/iocdock-test/busybox:v{push_port}");
    let registry_tag = format!("registry.{prefix}:{pull_port}/registry:2.8.3");
    let _cleanup = Cleanup {
        prefix: prefix.clone(),
        images: vec![registry_tag.clone(), pull_image.clone(), push_image.clone()],
    };
    let _trust: Vec<DockerState> = [pull_port, push_port]
        .iter()
        .map(|port| DockerState {
            certs_d: PathBuf::from(format!("/etc/docker/certs.d/127.0.0.1:{port}")),
            tag: String::new(),
        })
        .collect();
    let t = TestContext::new();
    let (pull_pw, push_pw) = (format!("pull-{pull_port}"), format!("push-{push_port}"));
    let settings = format!(
        "prefix_stack_name: {prefix}\nregistry_master_ip: 127.0.0.1\n\
         registry_port: {pull_port}\nregistry_push_port: {push_port}\n\
         registry_login_username: puller\nregistry_login_password: {pull_pw}\n\
         monitoring_admin_password: m0n\ngrafana_admin_password: gr4f\n"
    );
    let push_settings =
        format!("registry_push_username: pusher\nregistry_push_password: {push_pw}\n");
    t.write_settings(&format!("{settings}{push_settings}"));
    t.ok(&["make-certs"]);
    t.ok(&["swarm", "--gen-built-in-services"]);
    let swarm = t.mount().join("swarm");
    // Placement only: a label on the shared node would move other tests' services.
    for name in ["registry", "registryPush"] {
        let file = swarm.join(format!("{name}/{name}.yaml"));
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains("[node.labels.registry==true]"));
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(
            &file,
            text.replace("[node.labels.registry==true]", "[node.role==manager]"),
        )
        .unwrap();
    }
    registry_image(&prefix, &registry_tag);
    t.ok(&["service", "registry", "--deploy", "--detach"]);
    t.ok(&["service", "registryPush", "--deploy", "--detach"]);

    let agent = cluster_client(&t);
    let pull = basic("puller", &pull_pw);
    let push = basic("pusher", &push_pw);
    let pull_url = format!("https://127.0.0.1:{pull_port}");
    let push_url = format!("https://127.0.0.1:{push_port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while status(&agent, "GET", &format!("{pull_url}/v2/"), &pull) != Some(200)
        || status(&agent, "GET", &format!("{push_url}/v2/"), &push) != Some(200)
    {
        assert!(
            Instant::now() < deadline,
            "the registries did not answer in 90 s:\n{}",
            docker(&[
                "service",
                "ps",
                "--no-trunc",
                &format!("{prefix}_srv-registry"),
                &format!("{prefix}_srv-registryPush"),
            ])
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Each identity opens only its own registry.
    assert_eq!(
        status(&agent, "GET", &format!("{push_url}/v2/"), &pull),
        Some(401)
    );
    assert_eq!(
        status(&agent, "GET", &format!("{pull_url}/v2/"), &push),
        Some(401)
    );
    // The pull registry refuses an upload whoever asks; the push registry takes it.
    let upload = "/v2/iocdock-test/probe/blobs/uploads/";
    assert_eq!(
        status(&agent, "POST", &format!("{pull_url}{upload}"), &pull),
        Some(405)
    );
    assert_eq!(
        status(&agent, "POST", &format!("{push_url}{upload}"), &push),
        Some(202)
    );

    // Each container sees its certificate, key and htpasswd, not their folders.
    for service in ["registry", "registryPush"] {
        let container = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={prefix}_srv-{service}"),
        ]);
        let container = container.trim();
        assert_eq!(
            docker(&["exec", container, "ls", "/certs", "/auth"]),
            "/auth:\nhtpasswd\n\n/certs:\nregistry.crt\nregistry.key\n",
            "{service}"
        );
        // Only the push registry may write the storage.
        let wrote = Command::new("docker")
            .args(["exec", container, "touch", "/var/lib/registry/probe"])
            .output()
            .unwrap();
        assert_eq!(
            wrote.status.success(),
            service == "registryPush",
            "{service}"
        );
    }

    // The docker CLI, trusting the CA as set-up-root-cert makes every node trust it.
    for port in [pull_port, push_port] {
        let dir = PathBuf::from(format!("/etc/docker/certs.d/127.0.0.1:{port}"));
        fs::create_dir_all(&dir).unwrap();
        fs::copy(certs(&t).join("ca.crt"), dir.join("ca.crt")).unwrap();
    }
    let node = tempfile::tempdir().unwrap();
    let manager = tempfile::tempdir().unwrap();
    let pull_address = format!("127.0.0.1:{pull_port}");
    let push_address = format!("127.0.0.1:{push_port}");
    let login = |config: &Path, address: &str, user: &str, password: &str| {
        docker_as(
            config,
            &["login", address, "--username", user, "--password-stdin"],
            Some(password),
        )
    };
    // A node's pull identity does not get into the push registry.
    let (ok, _) = login(node.path(), &push_address, "puller", &pull_pw);
    assert!(!ok, "the pull identity logged in to the push registry");
    let (ok, err) = login(node.path(), &pull_address, "puller", &pull_pw);
    assert!(ok, "docker login (pull): {err}");
    let (ok, err) = login(manager.path(), &push_address, "pusher", &push_pw);
    assert!(ok, "docker login (push): {err}");

    docker(&["tag", TEST_IMAGE, &push_image]);
    let (ok, err) = docker_as(manager.path(), &["push", &push_image], None);
    assert!(ok, "docker push with the push identity: {err}");
    docker(&["tag", TEST_IMAGE, &pull_image]);
    let (ok, _) = docker_as(node.path(), &["push", &pull_image], None);
    assert!(!ok, "a push with the pull identity went through");
    docker(&["rmi", &pull_image]);
    let (ok, err) = docker_as(node.path(), &["pull", &pull_image], None);
    assert!(ok, "docker pull with the pull identity: {err}");

    // A service naming the push registry never carries the manager's push login.
    let manager_dir = t.home().join("IocDock");
    fs::write(manager_dir.join("services.yaml"), "probe: probe.yaml\n").unwrap();
    fs::write(
        manager_dir.join("probe.yaml"),
        format!("services:\n  probe:\n    image: {push_image}\n    deploy:\n      replicas: 0\n"),
    )
    .unwrap();
    let out = t
        .cmd(&["service", "probe", "--deploy", "--detach"])
        .env("DOCKER_CONFIG", manager.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{push_image} names the push registry {push_address}, whose login stays on the manager: deployed without registry credentials"
        )),
        "{stderr}"
    );

    // registry --list uses the push identity on the push registry...
    assert_eq!(t.ok(&["registry", "--list"]), "iocdock-test/busybox\n");
    assert_eq!(
        t.ok(&["registry", "--list", "iocdock-test/busybox"]),
        format!("v{push_port}\n")
    );
    t.write_settings(&format!(
        "{settings}registry_push_username: pusher\nregistry_push_password: wrong\n"
    ));
    t.cmd(&["registry", "--list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "the registry at registry.{prefix}:{push_port} (address 127.0.0.1) refused the credentials of user \"pusher\" (401 Unauthorized); check registry_push_username and registry_push_password"
        )));
    // ...and, without one, the pull identity on the pull registry, which sees the same.
    t.write_settings(&settings);
    assert_eq!(t.ok(&["registry", "--list"]), "iocdock-test/busybox\n");
}
