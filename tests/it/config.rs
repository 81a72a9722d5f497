use crate::TestContext;

#[test]
fn prints_names_of_the_original_tool() {
    let t = TestContext::new();
    assert_eq!(t.ok(&["config", "PREFIX_STACK_NAME"]), "iasf\n");
    assert_eq!(t.ok(&["config", "REGISTRY_COMMON_NAME"]), "registry.iasf\n");
    assert_eq!(t.ok(&["config", "prefix_stack_name"]), "iasf\n");
    assert_eq!(
        t.ok(&["config", "TEMPLATE_PATH"]),
        format!("{}/IocDock/templates\n", t.home().display())
    );
    assert_eq!(
        t.ok(&["config", "REPOSITORY_PATH"]),
        format!("{}/IocDock/ioc-repository\n", t.home().display())
    );
    assert_eq!(
        t.ok(&["config", "SERVICE_FILE_PATH"]),
        format!("{}/IocDock/service-files\n", t.home().display())
    );
    assert_transcript!(t.run(&["config", "--list"]), @r"
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
        REGISTRY_LOGIN_PASSWORD=
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
        ALERT_MANAGER_SMTP_AUTH_PASSWORD=
        ALERT_MANAGER_SMTP_EMAIL_SEND_ADDRESS=
        ALERT_MANAGER_RECEIVE_EMAIL_LIST=
        ALERT_MANAGER_DEFAULT_WEBHOOK_RECEIVER=
        ALERT_MANAGER_INFO_WEBHOOK_RECEIVER=
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
        ");
}

#[test]
fn home_flag_and_mount_env_override() {
    let t = TestContext::new();
    let other = tempfile::tempdir().unwrap();
    let out = t.ok(&[
        "--home",
        other.path().to_str().unwrap(),
        "config",
        "MANAGER_PATH",
    ]);
    assert_eq!(out, format!("{}/IocDock\n", other.path().display()));
    let out = t
        .cmd(&["config", "MOUNT_PATH"])
        .env("MOUNT_PATH", "/srv/run")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/srv/run\n");
}

#[test]
fn unknown_name_exits_10_with_nothing_on_stdout() {
    let t = TestContext::new();
    assert_transcript!(t.run(&["config", "NO_SUCH_THING"]), @r#"
        exit 10
        ----- stdout -----
        ----- stderr -----
        error: unknown setting or path "NO_SUCH_THING" (see `iocdock config --list`)
        "#);
}

#[test]
fn settings_file_values_and_masked_passwords() {
    let t = TestContext::new();
    t.write_settings("prefix_stack_name: lab\nregistry_login_password: hunter2\ncluster_worker_nodes:\n  w1: 10.0.0.2\n");
    assert_eq!(t.ok(&["config", "PREFIX_STACK_NAME"]), "lab\n");
    assert_eq!(t.ok(&["config", "REGISTRY_COMMON_NAME"]), "registry.lab\n");
    assert_eq!(t.ok(&["config", "registry_login_password"]), "***\n");
    let list = t.run(&["config", "--list"]);
    assert!(!list.to_string().contains("hunter2"));
    assert_transcript!(list, @r"
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
        PREFIX_STACK_NAME=lab
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
        REGISTRY_COMMON_NAME=registry.lab
        REGISTRY_PORT=443
        REGISTRY_MASTER_IP=
        REGISTRY_LOGIN_USERNAME=
        REGISTRY_LOGIN_PASSWORD=***
        REGISTRY_PUSH_PORT=4443
        REGISTRY_PUSH_USERNAME=
        REGISTRY_PUSH_PASSWORD=
        CLUSTER_MANAGER_NODES=
        CLUSTER_WORKER_NODES=w1=10.0.0.2
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
        ALERT_MANAGER_SMTP_AUTH_PASSWORD=
        ALERT_MANAGER_SMTP_EMAIL_SEND_ADDRESS=
        ALERT_MANAGER_RECEIVE_EMAIL_LIST=
        ALERT_MANAGER_DEFAULT_WEBHOOK_RECEIVER=
        ALERT_MANAGER_INFO_WEBHOOK_RECEIVER=
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
        ");
}

#[test]
fn wrong_typed_key_is_one_clear_error() {
    let t = TestContext::new();
    t.write_settings("registry_port: [443]\n");
    assert_transcript!(t.run(&["create", "a"]), @r#"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: key "registry_port" must be a port number (1-65535)
        "#);
    assert!(!t.repository().join("a").exists());
}

#[test]
fn unknown_key_is_a_warning() {
    let t = TestContext::new();
    t.write_settings("colour: blue\n");
    assert_transcript!(t.run(&["config", "PREFIX_STACK_NAME"]), @r#"
        exit 0
        ----- stdout -----
        iasf
        ----- stderr -----
        warning: [HOME]/settings.yaml: unknown key "colour" ignored
        "#);
}

#[test]
fn init_creates_the_layout_and_a_settings_example() {
    let t = TestContext::new();
    t.ok(&["init"]);
    for folder in [
        "IocDock/ioc-repository",
        "IocDock/ioc-snapshot",
        "IocDock/templates",
        "IocDock/imsrvs",
        "IocDock/ansible",
        "IocDock-data",
        "ioc-backup",
        "swarm-backup",
    ] {
        assert!(t.home().join(folder).is_dir(), "{folder}");
    }
    let service_files = std::fs::metadata(t.home().join("IocDock/service-files")).unwrap();
    assert!(service_files.is_dir());
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&service_files.permissions()) & 0o777,
        0o700
    );
    // The example only has comments, so it changes nothing.
    assert_eq!(t.ok(&["config", "PREFIX_STACK_NAME"]), "iasf\n");
}

#[test]
fn every_invocation_is_logged() {
    let t = TestContext::new();
    t.ok(&["create", "logged", "-o", "description=a b"]);
    t.ok(&["list"]);
    let log = std::fs::read_to_string(t.home().join("IocDock/OperationLog")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains("user=tester"), "{log}");
    assert!(
        lines[0].ends_with("create logged -o 'description=a b'"),
        "{log}"
    );
    assert!(lines[1].ends_with(" list"), "{log}");
}

#[test]
fn completions_come_from_the_binary() {
    let t = TestContext::new();
    let script = t.ok(&["completions", "bash"]);
    assert!(script.contains("complete -F"), "{script}");
    assert!(script.contains("--add-asyn"));
}

/// What bash offers after `words` (the command line as typed, the last word the one
/// being completed), with the completion script `iocdock completions bash` prints.
fn bash_completes(
    t: &TestContext,
    words: &[&str],
    home_env: Option<&std::path::Path>,
) -> Vec<String> {
    let script = t.ok(&["completions", "bash"]);
    let file = t.home().join("iocdock.bash");
    std::fs::write(&file, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let probe = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; \
         fn=$(complete -p iocdock | grep -oE -- '-F [^ ]+' | cut -d' ' -f2); \
         \"$fn\" iocdock '{}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display(),
        quoted.join(" "),
        words[cword],
    );
    let bin_dir = crate::bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = std::process::Command::new("bash");
    bash.args(["-c", &probe])
        .env("PATH", path)
        .env_remove("IOCDOCK_HOME");
    if let Some(home) = home_env {
        bash.env("IOCDOCK_HOME", home);
    }
    let out = bash.output().expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_ioc_names_of_the_home_in_use() {
    let t = TestContext::new();
    t.ok(&["create", "alpha", "beta"]);
    let home = t.home().display().to_string();
    let offered = bash_completes(&t, &["iocdock", "--home", &home, "exec", ""], None);
    for name in ["alpha", "beta", "--gen-startup-file"] {
        assert!(
            offered.iter().any(|o| o == name),
            "{name} not in {offered:?}"
        );
    }
    // IOCDOCK_HOME names the home when --home does not; what is typed filters.
    let offered = bash_completes(&t, &["iocdock", "remove", "-rf", "b"], Some(t.home()));
    assert_eq!(offered, ["beta"]);
    let offered = bash_completes(&t, &["iocdock", "rename", "alpha", ""], Some(t.home()));
    assert!(
        !offered.iter().any(|o| o == "beta"),
        "a new name is not an IOC's: {offered:?}"
    );
    let offered = bash_completes(&t, &["iocdock", "exec", ""], Some(&t.home().join("other")));
    assert!(!offered.iter().any(|o| o == "alpha"), "{offered:?}");
    // Subcommands still complete, and the question the script asks is not one.
    let offered = bash_completes(&t, &["iocdock", "e"], Some(t.home()));
    assert_eq!(offered, ["edit", "exec"]);
    let offered = bash_completes(&t, &["iocdock", ""], Some(t.home()));
    assert!(offered.iter().any(|o| o == "completions"), "{offered:?}");
    assert!(
        !offered.iter().any(|o| o.contains("ioc-names")),
        "{offered:?}"
    );
}

#[test]
fn man_pages_are_written_one_per_subcommand() {
    let t = TestContext::new();
    let dir = t.home().join("man/man1");
    t.ok(&["__man-pages", dir.to_str().unwrap()]);
    // clap_mangen's pages define the quote string first, then the title.
    let title = |page: &str| {
        page.lines()
            .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
            .unwrap_or("")
            .to_string()
    };
    let main = std::fs::read_to_string(dir.join("iocdock.1")).unwrap();
    assert!(title(&main).starts_with(".TH iocdock 1 "), "{main}");
    let help = t.ok(&["--help"]);
    let subcommands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(subcommands.len() > 15, "{help}");
    for sub in subcommands {
        assert!(
            main.contains(&format!("iocdock\\-{}", sub.replace('-', "\\-"))),
            "iocdock.1 does not name {sub}"
        );
        let page = std::fs::read_to_string(dir.join(format!("iocdock-{sub}.1")))
            .unwrap_or_else(|e| panic!("iocdock-{sub}.1: {e}"));
        assert!(
            title(&page).starts_with(&format!(".TH iocdock-{sub} 1 ")),
            "{page}"
        );
    }
    let exec = std::fs::read_to_string(dir.join("iocdock-exec.1")).unwrap();
    assert!(exec.contains("\\-\\-gen\\-startup\\-file"), "{exec}");
    // The question the completion script asks is no page.
    assert!(!dir.join("iocdock-help.1").exists());
}
