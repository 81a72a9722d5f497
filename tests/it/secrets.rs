//! Secrets: who may read and change settings.yaml, what `config` and the operation log
//! show of a secret.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::TestContext;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").mode() & 0o7777
}

pub(crate) fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn init_creates_a_private_settings_file() {
    let t = TestContext::new();
    t.ok(&["init"]);
    assert_eq!(mode(&t.home().join("settings.yaml")), 0o600);
}

#[test]
fn a_settings_file_others_can_change_is_refused() {
    let t = TestContext::new();
    t.write_settings("docker_stop_command: systemctl stop docker\n");
    let file = t.home().join("settings.yaml");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o664)).unwrap();
    assert_transcript!(t.run(&["create", "ioc1"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: writable by group or others (mode 0664), but the engine stop/start commands it holds run as root: run `chmod 600 [HOME]/settings.yaml`
        ");
    assert!(!t.repository().join("ioc1").exists());

    if !running_as_root() {
        eprintln!("SKIPPED the owner half of {}: not root", module_path!());
        return;
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&file, Some(54_321), None).unwrap();
    assert_transcript!(t.run(&["list"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: owned by uid 54321, neither root nor the user running iocdock (uid 0), but the engine stop/start commands it holds run as root: run `chown 0 [HOME]/settings.yaml`
        ");
}

#[test]
fn secrets_readable_by_others_are_a_warning_and_never_printed() {
    let t = TestContext::new();
    t.write_settings(
        "registry_login_password: hunter2\n\
         alert_manager_smtp_auth_password: smtp-pw\n\
         alert_manager_default_webhook_receiver: https://hooks.lab/T0K3N\n\
         alert_manager_info_webhook_receiver: https://hooks.lab/INF0\n",
    );
    let file = t.home().join("settings.yaml");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let run = t.run(&["config", "--list"]);
    for secret in ["hunter2", "smtp-pw", "T0K3N", "INF0"] {
        assert!(!run.to_string().contains(secret), "{secret} printed: {run}");
    }
    assert_transcript!(run, @r"
        exit 0
        ----- stdout -----
        IOCDOCK_HOME=[HOME]
        MANAGER_PATH=[HOME]/IocDock
        REPOSITORY_PATH=[HOME]/IocDock/ioc-repository
        SNAPSHOT_PATH=[HOME]/IocDock/ioc-snapshot
        TEMPLATE_PATH=[HOME]/IocDock/templates
        SERVICES_PATH=[HOME]/IocDock/imsrvs
        ANSIBLE_PATH=[HOME]/IocDock/ansible
        MOUNT_PATH=[HOME]/IocDock-data
        SERVICE_FILE_PATH=[HOME]/IocDock/service-files
        IOC_BACKUP_PATH=[HOME]/ioc-backup
        SWARM_BACKUP_PATH=[HOME]/swarm-backup
        OPERATION_LOG_FILE_PATH=[HOME]/IocDock/OperationLog
        IMAGE_SOURCES_PATH=[HOME]/IocDock/image-sources
        PREFIX_STACK_NAME=iasf
        DEFAULT_MODULES=autosave, caputlog
        DEFAULT_IOC_BIN=ST-IOC
        IOC_CPU_LIMIT=1
        IOC_MEMORY_LIMIT=1G
        IOC_DEFAULT_CONSTRAINTS=node.role==worker
        IOC_HEALTH_INTERVAL=30s
        IOC_HEALTH_TIMEOUT=10s
        IOC_HEALTH_RETRIES=5
        IOC_HEALTH_START_PERIOD=120s
        IOC_REVISIONS_KEPT=10
        ROLLOUT_BATCH_SIZE=5
        CONTAINER_TOP_PATH=/opt/EPICS
        IMAGE_OS_IMAGE=ubuntu:24.04
        REGISTRY_COMMON_NAME=registry.iasf
        REGISTRY_PORT=443
        REGISTRY_MASTER_IP=
        REGISTRY_LOGIN_USERNAME=
        REGISTRY_LOGIN_PASSWORD=***
        REGISTRY_PUSH_PORT=4443
        REGISTRY_PUSH_USERNAME=
        REGISTRY_PUSH_PASSWORD=
        CLUSTER_MANAGER_NODES=
        CLUSTER_WORKER_NODES=
        DEFAULT_NODES=
        SWARM_ADVERTISE_IP=
        SWARM_ADVERTISE_INTERFACE=
        ANSIBLE_SSH_USER=root
        ANSIBLE_FOR_USER=iocdock
        ANSIBLE_CREATE_PASSWORD=
        MOUNT_DIR_NFS_MOUNT_SRC=
        REGISTRY_NFS_MOUNT_SRC=
        ALERT_MANAGER_MASTER_IP=
        ALERT_MANAGER_SMTP_SMART_HOST=
        ALERT_MANAGER_SMTP_TLS=starttls
        ALERT_MANAGER_SMTP_AUTH_USERNAME=
        ALERT_MANAGER_SMTP_AUTH_PASSWORD=***
        ALERT_MANAGER_SMTP_EMAIL_SEND_ADDRESS=
        ALERT_MANAGER_RECEIVE_EMAIL_LIST=
        ALERT_MANAGER_DEFAULT_WEBHOOK_RECEIVER=***
        ALERT_MANAGER_INFO_WEBHOOK_RECEIVER=***
        MANAGEMENT_ADDRESS=
        PROMETHEUS_EXTERNAL_URL=
        ALERTMANAGER_EXTERNAL_URL=
        IOC_DOWN_ALERT_AFTER=3m
        MONITORING_ADMIN_PASSWORD=
        GRAFANA_ADMIN_PASSWORD=
        DOCKER_STOP_COMMAND=systemctl stop docker
        DOCKER_START_COMMAND=systemctl start docker
        DOCKER_SWARM_DIR=/var/lib/docker/swarm
        ENGINE_READ_TIMEOUT=10
        ENGINE_WRITE_TIMEOUT=60
        NODE_DRAIN_TIMEOUT=2m
        REBALANCE_BATCH_SIZE=2
        ----- stderr -----
        warning: [HOME]/settings.yaml: readable by group or others (mode 0644) while it holds secrets (registry_login_password, alert_manager_smtp_auth_password, alert_manager_default_webhook_receiver, alert_manager_info_webhook_receiver): run `chmod 600 [HOME]/settings.yaml`
        ");

    // Private again: no warning.
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let run = t.run(&["config", "--list"]);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
}

#[test]
fn the_operation_log_is_private_and_hides_secrets() {
    let t = TestContext::new();
    let log = t.home().join("IocDock/OperationLog");
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    fs::write(&log, "an older line\n").unwrap();
    fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).unwrap();
    // Fails (no inventory), and is logged all the same.
    t.cmd(&[
        "ansible",
        "--",
        "all",
        "-e",
        "ansible_password=hunter2 user=u",
        "--extra-vars",
        r#"{"vault": "s3cr3t"}"#,
        "api_token=T0K3N",
    ])
    .assert()
    .code(1);
    assert_eq!(mode(&log), 0o600);
    let text = fs::read_to_string(&log).unwrap();
    for secret in ["hunter2", "s3cr3t", "T0K3N"] {
        assert!(!text.contains(secret), "{secret} logged: {text}");
    }
    assert!(
        text.contains(
            r#"iocdock ansible -- all -e 'ansible_password=*** user=***' --extra-vars '{"vault":"***"}' 'api_token=***'"#
        ),
        "{text}"
    );
}

/// Runs `args` as a throwaway user with no groups, returning whether it succeeded and
/// its stderr.
fn as_other_user(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=54322",
            "--regid=54322",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .args(args)
        .output()
        .expect("setpriv");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn another_local_user_cannot_hold_the_repository_lock() {
    if !running_as_root() {
        eprintln!(
            "SKIPPED {}: needs root to act as another user",
            module_path!()
        );
        return;
    }
    let t = TestContext::new();
    // The home is reachable by everyone, as /opt/IocDockHome is.
    fs::set_permissions(t.home(), fs::Permissions::from_mode(0o755)).unwrap();
    t.ok(&["create", "ioc1"]);
    let lock = t.repository().join(".iocdock.lock");
    let ioc_ini = t.repository().join("ioc1/ioc.ini");
    // The other user does reach the repository (so a refusal below is the lock's own).
    let (read, stderr) = as_other_user(&["cat", ioc_ini.to_str().unwrap()]);
    assert!(read, "the other user must reach the repository: {stderr}");
    assert_eq!(mode(&lock), 0o600);
    let (held, stderr) = as_other_user(&["flock", "-n", lock.to_str().unwrap(), "true"]);
    assert!(!held, "another user took the lock");
    assert!(stderr.contains("Permission denied"), "{stderr}");

    // A lock file left readable by an older version is tightened by the next command.
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).unwrap();
    t.ok(&["set", "ioc1", "-o", "description=x"]);
    assert_eq!(mode(&lock), 0o600);
    let (held, _) = as_other_user(&["flock", "-n", lock.to_str().unwrap(), "true"]);
    assert!(!held, "another user took the lock");
}

#[test]
fn a_lock_file_that_is_a_link_is_refused() {
    let t = TestContext::new();
    t.ok(&["create", "ioc1"]);
    let lock = t.repository().join(".iocdock.lock");
    let target = t.home().join("someone-elses-file");
    fs::write(&target, "keep\n").unwrap();
    fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    assert_transcript!(t.run(&["create", "ioc2"]), @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock/ioc-repository/.iocdock.lock: cannot open lock file: is a symbolic link; remove it, iocdock makes its own
        ");
    assert!(!t.repository().join("ioc2").exists());
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep\n");
    assert_eq!(mode(&target) & 0o777, 0o644);
}

/// Every file of the rendered built-in services that holds `needle`, with its mode.
fn files_holding(root: &Path, needle: &str) -> Vec<(String, u32)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            fs::read(e.path()).is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(needle))
        })
        .map(|e| (e.path().display().to_string(), mode(e.path())))
        .collect()
}

#[test]
fn webhook_urls_are_only_written_to_private_files() {
    let t = TestContext::new();
    t.write_settings(&format!(
        "{}alert_manager_default_webhook_receiver: https://hooks.lab/DEFAULT-T0K3N\n\
         alert_manager_info_webhook_receiver: https://hooks.lab/INFO-T0K3N\n",
        crate::builtin::CREDENTIALS
    ));
    t.cmd(&["swarm", "--gen-built-in-services", "--yes"])
        .env(
            "DOCKER_HOST",
            "unix:///nonexistent/iocdock-test/docker.sock",
        )
        .assert()
        .success();
    let swarm = t.mount().join("swarm");
    for token in ["DEFAULT-T0K3N", "INFO-T0K3N"] {
        let holders = files_holding(&swarm, token);
        assert!(!holders.is_empty(), "{token} rendered nowhere");
        for (file, mode) in holders {
            assert_eq!(mode, 0o600, "{file} holds {token}");
        }
    }
}

/// A setting holding a template that would run a command on the controller reaches
/// ansible as the literal text.
#[test]
fn settings_reach_ansible_as_data_never_as_templates() {
    if !crate::cluster::tool_ready("unsafe_vars", "ansible", "ansible-core") {
        return;
    }
    let t = TestContext::new();
    let marker = t.home().join("created-by-a-setting");
    let template = format!("{{{{ lookup('pipe', 'touch {}') }}}}", marker.display());
    t.write_settings(&format!(
        "cluster_manager_nodes: {{localhost: 127.0.0.1}}\n\
         ansible_create_password: \"{template}\"\n\
         registry_login_password: \"{{% if true %}}x{{% endif %}}\"\n"
    ));
    t.ok(&["cluster", "--gen-inventory-files"]);
    for (var, literal) in [
        ("ansible_create_password", template.as_str()),
        ("registry_login_password", "{% if true %}x{% endif %}"),
    ] {
        let out = t.ok(&[
            "ansible",
            "--",
            "localhost",
            "-m",
            "ansible.builtin.debug",
            "-a",
            &format!("var={var}"),
        ]);
        let shown = serde_json::to_string(literal).unwrap();
        assert!(out.contains(&format!("\"{var}\": {shown}")), "{out}");
    }
    assert!(!marker.exists(), "a setting ran a command through ansible");
}

fn iocdock_ansible_folders(tmp: &Path) -> Vec<std::path::PathBuf> {
    fs::read_dir(tmp)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("iocdock-ansible-")
        })
        .map(|e| e.path())
        .collect()
}

/// Waits up to `limit` for `done`, polling.
fn wait_for(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// The variables' folder is private while ansible runs and gone after SIGTERM.
#[test]
fn sigterm_during_an_ansible_run_removes_the_variables() {
    if !crate::cluster::tool_ready("sigterm_vars", "ansible", "ansible-core") {
        return;
    }
    let t = TestContext::new();
    t.write_settings(
        "cluster_manager_nodes: {localhost: 127.0.0.1}\nregistry_login_password: hunter2\n",
    );
    t.ok(&["cluster", "--gen-inventory-files"]);
    let tmp = tempfile::tempdir().unwrap();
    let mut child = t
        .std_cmd(&[
            "ansible",
            "--",
            "localhost",
            "-m",
            "ansible.builtin.command",
            "-a",
            "sleep 25",
        ])
        .env("TMPDIR", tmp.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let children = format!("/proc/{pid}/task/{pid}/children");
    let started = wait_for(std::time::Duration::from_secs(20), || {
        iocdock_ansible_folders(tmp.path()).len() == 1
            && fs::read_to_string(&children).is_ok_and(|c| !c.trim().is_empty())
    });
    assert!(started, "ansible did not start");
    let folder = iocdock_ansible_folders(tmp.path()).remove(0);
    assert_eq!(mode(&folder), 0o700);
    let vars = folder.join("vars.yml");
    assert_eq!(mode(&vars), 0o600);
    assert!(
        fs::read_to_string(&vars)
            .unwrap()
            .contains("!unsafe \"hunter2\"")
    );
    // Into the long task.
    std::thread::sleep(std::time::Duration::from_secs(2));

    let signalled = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exit = None;
    wait_for(std::time::Duration::from_secs(20), || {
        exit = child.try_wait().unwrap();
        exit.is_some()
    });
    let Some(exit) = exit else {
        let _ = child.kill();
        panic!("iocdock still runs 20 s after SIGTERM");
    };
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(15),
        "iocdock waited for the task instead of stopping it"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(exit.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("stopped by SIGTERM; ansible was stopped and its temporary files removed"),
        "{stderr}"
    );
    assert!(!folder.exists(), "the variables survived SIGTERM");
    assert!(iocdock_ansible_folders(tmp.path()).is_empty());
}
