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
use crate::cluster::tool_ready;
use crate::docker::{TEST_IMAGE, docker, docker_ready};

fn certs(t: &TestContext) -> PathBuf {
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
struct RegistryProcess(Child);

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Docker's trust of the test registry's CA and the pushed tag, removed at the end.
struct DockerState {
    certs_d: PathBuf,
    tag: String,
}

impl Drop for DockerState {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.certs_d);
        let _ = Command::new("docker").args(["rmi", &self.tag]).output();
    }
}

fn start_registry(t: &TestContext, port: u16) -> RegistryProcess {
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
