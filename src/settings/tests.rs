use std::time::Duration;

use super::*;

fn load_with(yaml: &str) -> Result<Loaded, SettingsError> {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(SETTINGS_FILE), yaml).unwrap();
    Settings::load(Overrides {
        home_flag: Some(home.path().to_path_buf()),
        ..Default::default()
    })
}

#[test]
fn defaults_follow_the_prefix() {
    let loaded = load_with("prefix_stack_name: lab\n").unwrap();
    assert_eq!(loaded.settings.registry_common_name, "registry.lab");
    assert_eq!(
        loaded.settings.lookup("REGISTRY_COMMON_NAME").unwrap(),
        "registry.lab"
    );
    assert_eq!(loaded.settings.lookup("prefix_stack_name").unwrap(), "lab");
}

#[test]
fn wrong_type_names_file_key_and_type() {
    let err = load_with("registry_port: [1]\n").err().unwrap().to_string();
    assert!(err.contains("settings.yaml"), "{err}");
    assert!(err.contains("\"registry_port\""), "{err}");
    assert!(err.contains("port number"), "{err}");
    let err = load_with("cluster_worker_nodes: abc\n")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("mapping of hostname"), "{err}");
}

#[test]
fn health_timing_is_checked() {
    let loaded = load_with("ioc_health_interval: 1m30s\nioc_health_retries: 3\n").unwrap();
    assert_eq!(loaded.settings.ioc_health_interval.as_text(), "1m30s");
    assert_eq!(loaded.settings.ioc_health_interval.whole_seconds(), 90);
    assert_eq!(loaded.settings.ioc_health_retries, 3);
    assert_eq!(loaded.settings.ioc_health_start_period.as_text(), "120s");
    assert_eq!(loaded.settings.lookup("IOC_HEALTH_TIMEOUT").unwrap(), "10s");
    for bad in [
        "ioc_health_timeout: 500ms",
        "ioc_health_timeout: 10",
        "ioc_health_interval: soon",
        "ioc_health_start_period: -2m",
    ] {
        let err = load_with(bad).err().unwrap().to_string();
        assert!(err.contains("a duration of at least 1s"), "{bad}: {err}");
    }
    let err = load_with("ioc_health_retries: 0")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("\"ioc_health_retries\" must be a whole number of at least 1"),
        "{err}"
    );
}

#[test]
fn engine_timeouts_come_from_the_file_and_the_environment_wins() {
    let defaults = load_with("").unwrap().settings.engine_limits();
    assert_eq!(defaults, EngineLimits::DEFAULT);
    assert_eq!(defaults.connect, Duration::from_secs(3));
    assert_eq!(defaults.read, Duration::from_secs(10));
    assert_eq!(defaults.write, Duration::from_secs(60));

    let loaded = load_with("engine_read_timeout: 2.5\nengine_write_timeout: \"30\"\n").unwrap();
    let limits = loaded.settings.engine_limits();
    assert_eq!(limits.read, Duration::from_millis(2500));
    assert_eq!(limits.write, Duration::from_secs(30));
    assert_eq!(
        loaded.settings.lookup("ENGINE_READ_TIMEOUT").unwrap(),
        "2.5"
    );
    for bad in [
        "engine_read_timeout: 0",
        "engine_read_timeout: -1",
        "engine_write_timeout: soon",
        "engine_write_timeout: 100000",
        "engine_write_timeout: [1]",
    ] {
        let err = load_with(bad).err().unwrap().to_string();
        assert!(
            err.contains("a number of seconds from 0.1 to 86400"),
            "{bad}: {err}"
        );
    }

    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(SETTINGS_FILE), "engine_read_timeout: 5\n").unwrap();
    let with_env = |variable: &'static str, key: &'static str, value: &str| {
        Settings::load(Overrides {
            home_flag: Some(home.path().to_path_buf()),
            keys_env: vec![(variable, key, value.to_string())],
            ..Default::default()
        })
    };
    let loaded = with_env("IOCDOCK_ENGINE_READ_TIMEOUT", "engine_read_timeout", "0.5").unwrap();
    assert_eq!(
        loaded.settings.engine_limits().read,
        Duration::from_millis(500)
    );
    let loaded = with_env("IOCDOCK_ENGINE_WRITE_TIMEOUT", "engine_write_timeout", "7").unwrap();
    assert_eq!(
        loaded.settings.engine_limits().write,
        Duration::from_secs(7)
    );
    assert_eq!(loaded.settings.engine_limits().read, Duration::from_secs(5));
    let err = with_env("IOCDOCK_ENGINE_READ_TIMEOUT", "engine_read_timeout", "ten")
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "environment variable IOCDOCK_ENGINE_READ_TIMEOUT=\"ten\" (for engine_read_timeout) must be a number of seconds from 0.1 to 86400"
    );
}

#[test]
fn unknown_keys_are_reported_not_fatal() {
    let loaded = load_with("colour: blue\nprefix_stack_name: x\n").unwrap();
    assert_eq!(loaded.unknown_keys, vec!["colour".to_string()]);
}

fn load_with_mode(yaml: &str, mode: u32) -> (tempfile::TempDir, Result<Loaded, SettingsError>) {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join(SETTINGS_FILE);
    std::fs::write(&file, yaml).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    let loaded = Settings::load(Overrides {
        home_flag: Some(home.path().to_path_buf()),
        ..Default::default()
    });
    (home, loaded)
}

#[test]
fn a_settings_file_others_can_write_is_refused() {
    for mode in [0o666, 0o620, 0o602] {
        let (_home, loaded) = load_with_mode("prefix_stack_name: x\n", mode);
        let err = loaded.err().unwrap().to_string();
        assert!(
            err.contains("settings.yaml: writable by group or others"),
            "{err}"
        );
        assert!(err.contains(&format!("(mode {mode:04o})")), "{err}");
        assert!(err.contains("run `chmod 600 "), "{err}");
    }
}

#[test]
fn others_reading_secrets_is_a_warning_naming_them() {
    let secret = "registry_login_password: pw\nalert_manager_info_webhook_receiver: http://h/t\n";
    let (_home, loaded) = load_with_mode(secret, 0o644);
    let exposure = loaded.unwrap().exposure.unwrap();
    assert!(
        exposure.contains("readable by group or others (mode 0644)"),
        "{exposure}"
    );
    assert!(
        exposure.contains("(registry_login_password, alert_manager_info_webhook_receiver)"),
        "{exposure}"
    );
    assert!(exposure.contains("run `chmod 600 "), "{exposure}");
    let (_home, loaded) = load_with_mode(secret, 0o600);
    assert!(loaded.unwrap().exposure.is_none());
    let (_home, loaded) = load_with_mode("prefix_stack_name: x\n", 0o644);
    assert!(loaded.unwrap().exposure.is_none());
}

#[test]
fn webhook_urls_are_secrets_like_passwords() {
    let loaded = load_with("alert_manager_default_webhook_receiver: http://hooks/T0K3N\n").unwrap();
    assert_eq!(
        loaded
            .settings
            .lookup("ALERT_MANAGER_DEFAULT_WEBHOOK_RECEIVER")
            .unwrap(),
        "***"
    );
    assert!(is_secret_key("grafana_admin_password"));
    assert!(!is_secret_key("registry_login_username"));
}

#[test]
fn passwords_are_masked_when_set() {
    let loaded =
        load_with("registry_login_password: secret\nregistry_push_password: secret\n").unwrap();
    assert_eq!(
        loaded.settings.lookup("REGISTRY_LOGIN_PASSWORD").unwrap(),
        "***"
    );
    assert_eq!(
        loaded.settings.lookup("REGISTRY_PUSH_PASSWORD").unwrap(),
        "***"
    );
    assert_eq!(
        loaded.settings.lookup("ANSIBLE_CREATE_PASSWORD").unwrap(),
        ""
    );
    let loaded =
        load_with("monitoring_admin_password: m0n\ngrafana_admin_password: gr4f\n").unwrap();
    for key in ["MONITORING_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"] {
        assert_eq!(loaded.settings.lookup(key).unwrap(), "***", "{key}");
    }
}
