use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::embedded::ServiceSources;
use crate::settings::Overrides;

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(yaml: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("settings.yaml"), yaml).unwrap();
        Home { dir }
    }

    fn settings(&self) -> Settings {
        Settings::load(Overrides {
            home_flag: Some(self.dir.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap()
        .settings
    }

    fn sources(&self) -> Vec<Source> {
        ServiceSources::new(&self.settings().paths.services)
            .all()
            .unwrap()
    }

    fn render(&self) -> Result<Rendering, BuiltinError> {
        render(&self.settings(), &self.sources(), &Answers::new())
    }

    fn override_file(&self, relative: &str, text: &str) {
        let path = self.settings().paths.services.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const CREDENTIALS: &str = "registry_login_username: ops\nregistry_login_password: s3cret\n\
monitoring_admin_password: m0n\ngrafana_admin_password: gr4f\n\
registry_push_username: pusher\nregistry_push_password: push-s3cret\n";

fn file<'a>(rendering: &'a Rendering, relative: &str) -> &'a RenderedFile {
    rendering
        .services
        .iter()
        .flat_map(|s| &s.files)
        .find(|f| f.relative == relative)
        .unwrap_or_else(|| panic!("{relative} is not rendered"))
}

fn text(rendering: &Rendering, relative: &str) -> String {
    String::from_utf8(file(rendering, relative).contents.clone()).unwrap()
}

#[test]
fn every_service_renders_with_the_defaults() {
    let home = Home::new(CREDENTIALS);
    let rendering = home.render().unwrap();
    let names: Vec<&str> = rendering.services.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "socketProxy",
            "client",
            "iocLogServer",
            "cAdvisor",
            "nodeExporter",
            "alloy",
            "registry",
            "registryPush",
            "prometheus",
            "alertManager",
            "loki",
            "grafana",
            "swarmExporter"
        ]
    );
    assert!(rendering.ignored.is_empty());
    for service in &rendering.services {
        assert_eq!(service.service_name, format!("iasf_srv-{}", service.name));
        let kind = catalog::BUILT_IN
            .iter()
            .find(|b| b.name == service.name)
            .unwrap()
            .kind;
        let compose = compose_file(service.name, kind);
        assert!(
            service.files.iter().any(|f| f.relative == compose),
            "{compose}"
        );
        for f in &service.files {
            let text = String::from_utf8(f.contents.clone()).unwrap();
            assert!(!text.contains("{{iocdock."), "{}: {text}", f.relative);
        }
    }
    let client = text(&rendering, "global-services/client.yaml");
    assert!(
        client.contains("image: \"registry.iasf/ioc-exec:"),
        "{client}"
    );
    // The tools are where the image's environment says, not in a fixed folder.
    assert!(!client.contains("/opt/EPICS/base"), "{client}");
    let log = text(&rendering, "global-services/iocLogServer.yaml");
    assert!(
        log.contains("server=\"$$EPICS_BASE/bin/$$EPICS_HOST_ARCH/iocLogServer\""),
        "{log}"
    );
    assert!(log.contains("command -v iocLogServer"), "{log}");
    assert!(!log.contains("/opt/EPICS/base"), "{log}");
    assert!(log.contains("/opt/EPICS/RUN/iocLog/{{.Node.Hostname}}.ioc.log"));
    let prometheus = text(&rendering, "prometheus/config/prometheus.yml");
    assert!(prometheus.contains("regex: \"iasf_srv-cAdvisor\""));
    assert!(prometheus.contains("regex: \"iasf_builtin\""));
    assert!(prometheus.contains("port: 9323"));
    // Prometheus and grafana templates of their own pass through.
    let rules = text(&rendering, "prometheus/config/rules/nodes.yml");
    assert!(rules.contains("{{ $labels.instance }}"));
    let dashboard = text(&rendering, "grafana/dashboards/ioc-overview.json");
    assert!(dashboard.contains("{{container_label_com_docker_swarm_service_name}}"));
    let registry = text(&rendering, "registry/registry.yaml");
    assert!(registry.contains("published: 443"));
    assert_eq!(
        rendering.services[6].dirs,
        ["registry/certs", "registry/data"]
    );
    assert_eq!(rendering.shared_dirs, ["iocLog"]);
}

/// The bind mounts of a rendered compose file: (source, target, read-only).
fn binds(rendering: &Rendering, relative: &str) -> Vec<(String, String, bool)> {
    let compose: serde_yaml::Value = serde_yaml::from_str(&text(rendering, relative)).unwrap();
    let (_, service) = compose["services"]
        .as_mapping()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    service["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["source"].as_str().unwrap().to_string(),
                v["target"].as_str().unwrap().to_string(),
                v["read_only"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[test]
fn registries_split_pull_and_push_and_see_only_their_files() {
    let home = Home::new(&format!(
        "{CREDENTIALS}prefix_stack_name: lab\nregistry_port: 5443\nregistry_push_port: 6443\n"
    ));
    let rendering = home.render().unwrap();
    let bind = |s: &str, t: &str, ro: bool| (s.to_string(), t.to_string(), ro);
    // Certificate, key and htpasswd file by file: never the certs folder, where a CA
    // key of an earlier version may still be.
    assert_eq!(
        binds(&rendering, "registry/registry.yaml"),
        [
            bind("./config", "/etc/docker/registry", true),
            bind("./auth/htpasswd", "/auth/htpasswd", true),
            bind("./certs/registry.crt", "/certs/registry.crt", true),
            bind("./certs/registry.key", "/certs/registry.key", true),
            bind("./data", "/var/lib/registry", true),
            bind("/etc/localtime", "/etc/localtime", true),
        ]
    );
    assert_eq!(
        binds(&rendering, "registryPush/registryPush.yaml"),
        [
            bind("./config", "/etc/docker/registry", true),
            bind("./auth/htpasswd", "/auth/htpasswd", true),
            bind(
                "../registry/certs/registry.crt",
                "/certs/registry.crt",
                true
            ),
            bind(
                "../registry/certs/registry.key",
                "/certs/registry.key",
                true
            ),
            bind("../registry/data", "/var/lib/registry", false),
            bind("/etc/localtime", "/etc/localtime", true),
        ]
    );
    let push = text(&rendering, "registryPush/registryPush.yaml");
    assert!(push.contains("published: 6443"), "{push}");

    let yaml = |relative: &str| -> serde_yaml::Value {
        serde_yaml::from_str(&text(&rendering, relative)).unwrap()
    };
    let pull = yaml("registry/config/config.yml");
    assert_eq!(pull["storage"]["maintenance"]["readonly"]["enabled"], true);
    assert_eq!(pull["http"]["host"], "https://registry.lab:5443");
    let push = yaml("registryPush/config/config.yml");
    assert!(push["storage"].get("maintenance").is_none());
    // Upload locations must lead back to the push registry: they follow the request.
    assert!(push["http"].get("host").is_none());
    assert_eq!(push["auth"]["htpasswd"]["realm"], "registry.lab:6443");
    assert_eq!(push["auth"]["htpasswd"]["path"], "/auth/htpasswd");

    // Each registry has its own identity.
    let user = |relative: &str| {
        let line = text(&rendering, relative);
        line.split_once(':').unwrap().0.to_string()
    };
    assert_eq!(user("registry/auth/htpasswd"), "ops");
    assert_eq!(user("registryPush/auth/htpasswd"), "pusher");
    assert_eq!(file(&rendering, "registryPush/auth/htpasswd").mode, 0o600);
}

#[test]
fn one_user_for_both_identities_or_one_port_for_both_registries_is_refused() {
    let home = Home::new(
        "registry_login_username: ops\nregistry_login_password: a\nregistry_push_username: ops\nregistry_push_password: b\n",
    );
    let err = home.render().unwrap_err().to_string();
    assert_eq!(
        err,
        "registry_push_username and registry_login_username are both \"ops\": the push identity must be another user, or every node's pull login could push"
    );
    let settings = crate::settings::for_test("registry_push_port: 443\n");
    let err = check_settings(&settings).unwrap_err().to_string();
    assert!(
        err.contains("registry_push_port: 443 is also registry_port; the push registry needs a port of its own"),
        "{err}"
    );
}

#[test]
fn prefix_port_and_paths_come_from_the_settings() {
    let home = Home::new(&format!(
        "{CREDENTIALS}prefix_stack_name: lab\nregistry_port: 5443\ncontainer_top_path: /epics/\ndocker_swarm_dir: /data/docker/swarm\nalert_manager_master_ip: 10.1.2.3\n"
    ));
    let rendering = home.render().unwrap();
    let client = text(&rendering, "global-services/client.yaml");
    assert!(client.contains("image: \"registry.lab:5443/ioc-exec:"));
    let log = text(&rendering, "global-services/iocLogServer.yaml");
    assert!(
        log.contains("EPICS_IOC_LOG_FILE_NAME: \"/epics/RUN/iocLog/{{.Node.Hostname}}.ioc.log\"")
    );
    assert!(log.contains("target: \"/epics/RUN/iocLog\""));
    let cadvisor = text(&rendering, "global-services/cAdvisor.yaml");
    assert!(cadvisor.contains("source: \"/data/docker\""));
    let registry = text(&rendering, "registry/registry.yaml");
    assert!(registry.contains("published: 5443"));
    let config = text(&rendering, "registry/config/config.yml");
    assert!(config.contains("host: \"https://registry.lab:5443\""));
    let alertmanager = text(&rendering, "alertManager/alertManager.yaml");
    assert!(alertmanager.contains("IOCDOCK_EXTERNAL_URL: \"http://10.1.2.3:9093/\""));
    assert!(alertmanager.contains("- --cluster.listen-address=\n"));
    assert!(!alertmanager.contains("cluster.peer=") && !alertmanager.contains("published: 9094"));
    let datasources = text(&rendering, "grafana/provisioning/datasources/iocdock.yml");
    assert!(datasources.contains("http://lab_srv-prometheus:9090"));
    let alloy = text(&rendering, "global-services/alloy/config.alloy");
    assert!(alloy.contains("http://lab_srv-loki:3100/loki/api/v1/push"));
}

#[test]
fn secrets_are_asked_only_when_nothing_gives_them() {
    let home = Home::new("");
    let (pull, push) = (Identity::Pull, Identity::Push);
    assert_eq!(
        missing_secrets(&home.settings()),
        [
            Secret::RegistryUsername(pull),
            Secret::RegistryPassword(pull),
            Secret::RegistryUsername(push),
            Secret::RegistryPassword(push),
            Secret::MonitoringPassword,
            Secret::GrafanaAdminPassword
        ]
    );
    let err = home.render().unwrap_err().to_string();
    assert!(
        err.starts_with("registry_login_username is not set"),
        "{err}"
    );
    let mut answers = Answers::new();
    answers.insert(Secret::RegistryUsername(pull), "ops".to_string());
    answers.insert(Secret::RegistryPassword(pull), "typed".to_string());
    let err = render(&home.settings(), &home.sources(), &answers)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("registry_push_username is not set"),
        "{err}"
    );
    answers.insert(Secret::RegistryUsername(push), "pusher".to_string());
    answers.insert(Secret::RegistryPassword(push), "typed-push".to_string());
    let err = render(&home.settings(), &home.sources(), &answers)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("monitoring_admin_password is not set"),
        "{err}"
    );
    answers.insert(Secret::MonitoringPassword, "typed-m0n".to_string());
    answers.insert(Secret::GrafanaAdminPassword, "typed-gr4f".to_string());
    let rendering = render(&home.settings(), &home.sources(), &answers).unwrap();
    let htpasswd = file(&rendering, "registry/auth/htpasswd");
    assert_eq!(htpasswd.mode, 0o600);
    let line = String::from_utf8(htpasswd.contents.clone()).unwrap();
    let hash = line.trim().strip_prefix("ops:").unwrap();
    assert!(bcrypt::verify("typed", hash).unwrap());
    let push_file = file(&rendering, "registryPush/auth/htpasswd");
    let line = String::from_utf8(push_file.contents.clone()).unwrap();
    let hash = line.trim().strip_prefix("pusher:").unwrap();
    assert!(bcrypt::verify("typed-push", hash).unwrap());

    // Once the files exist, runs without credentials keep them, byte for byte.
    write(&rendering, &BTreeSet::new()).unwrap();
    assert_eq!(missing_secrets(&home.settings()), []);
    let again = home.render().unwrap();
    for service in &rendering.services {
        for f in &service.files {
            assert_eq!(
                file(&again, &f.relative).contents,
                f.contents,
                "{}",
                f.relative
            );
        }
    }
    assert_eq!(
        file(&again, "grafana/secrets/admin-password").contents,
        b"typed-gr4f"
    );
    assert_eq!(
        file(&again, "prometheus/config/monitoring_password").contents,
        b"typed-m0n"
    );
    assert_eq!(
        file(&again, "registryPush/auth/htpasswd").contents,
        push_file.contents
    );

    let home = Home::new(&format!(
        "{CREDENTIALS}alert_manager_receive_email_list: [a@lab.org]\nalert_manager_smtp_smart_host: smtp.lab.org:25\nalert_manager_smtp_email_send_address: am@lab.org\nalert_manager_smtp_auth_username: am\n"
    ));
    assert_eq!(missing_secrets(&home.settings()), [Secret::SmtpPassword]);
    let mut answers = Answers::new();
    answers.insert(Secret::SmtpPassword, "mail-pw".to_string());
    let rendering = render(&home.settings(), &home.sources(), &answers).unwrap();
    let config = file(&rendering, "alertManager/config/alertmanager.yml");
    assert_eq!(config.mode, 0o600);
    assert!(String::from_utf8_lossy(&config.contents).contains("smtp_auth_password: mail-pw"));
}

#[test]
fn writing_skips_unchanged_files_and_refuses_deployed_changes() {
    let home = Home::new(CREDENTIALS);
    let settings = home.settings();
    let rendering = home.render().unwrap();
    let outcomes = write(&rendering, &BTreeSet::new()).unwrap();
    assert!(
        outcomes
            .iter()
            .all(|(_, o)| matches!(o, Outcome::Written(_)))
    );
    let root = swarm_dir(&settings);
    for dir in [
        "iocLog",
        "registry/certs",
        "registry/data",
        "global-services/alloy",
    ] {
        assert!(root.join(dir).is_dir(), "{dir}");
    }
    let mode = |p: &str| {
        std::fs::metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("registry/auth/htpasswd"), 0o600);
    assert_eq!(mode("prometheus/config/prometheus.yml"), 0o644);
    assert_eq!(
        missing_registry_certs(&settings),
        [
            root.join("registry/certs/registry.crt"),
            root.join("registry/certs/registry.key")
        ]
    );

    // Same settings again: nothing to write, deployed or not.
    let deployed: BTreeSet<String> = ["iasf_srv-prometheus".to_string()].into();
    let again = home.render().unwrap();
    let outcomes = write(&again, &deployed).unwrap();
    assert!(outcomes.iter().all(|(_, o)| *o == Outcome::Unchanged));

    // A change of the prefix changes prometheus' files: refused while deployed.
    std::fs::write(
        home.dir.path().join("settings.yaml"),
        format!("{CREDENTIALS}registry_common_name: registry.other\n"),
    )
    .unwrap();
    let changed = home.render().unwrap();
    let before = std::fs::read(root.join("prometheus/prometheus.yaml")).unwrap();
    let outcomes = write(&changed, &deployed).unwrap();
    let of = |name: &str| &outcomes.iter().find(|(s, _)| s.name == name).unwrap().1;
    assert_eq!(
        *of("prometheus"),
        Outcome::Refused(vec!["prometheus/prometheus.yaml".to_string()])
    );
    assert_eq!(
        std::fs::read(root.join("prometheus/prometheus.yaml")).unwrap(),
        before
    );
    assert_eq!(
        *of("loki"),
        Outcome::Written(vec!["loki/loki.yaml".to_string()])
    );
}

#[test]
fn overrides_are_rendered_and_checked() {
    let home = Home::new(CREDENTIALS);
    home.override_file(
        "prometheus/config/rules/site.yml",
        "# {{iocdock.prefix}}\ngroups: []\n",
    );
    home.override_file("notes.txt", "not a service\n");
    let rendering = home.render().unwrap();
    assert_eq!(
        text(&rendering, "prometheus/config/rules/site.yml"),
        "# iasf\ngroups: []\n"
    );
    assert_eq!(rendering.ignored.len(), 1);
    assert!(rendering.ignored[0].ends_with("imsrvs/notes.txt"));

    home.override_file("loki/config/loki.yml", "a: {{iocdock.prefixx}}\n");
    let err = home.render().unwrap_err().to_string();
    assert!(
        err.contains(
            "imsrvs/loki/config/loki.yml: line 1: unknown placeholder {{iocdock.prefixx}}"
        ),
        "{err}"
    );
    home.override_file("loki/config/loki.yml", "a: [\n");
    let err = home.render().unwrap_err().to_string();
    assert!(err.contains("loki.yml: not valid YAML"), "{err}");
    std::fs::remove_file(home.settings().paths.services.join("loki/config/loki.yml")).unwrap();

    home.override_file(
        "global-services/client.yaml",
        "services:\n  client:\n    image: x\n",
    );
    let err = home.render().unwrap_err().to_string();
    assert!(
        err.contains("expected exactly one service, \"srv-client\""),
        "{err}"
    );
    home.override_file(
        "global-services/client.yaml",
        "services:\n  srv-client:\n    image: x\n    build: .\n",
    );
    let err = home.render().unwrap_err().to_string();
    assert!(
        err.contains("not a valid compose file") && err.contains("build"),
        "{err}"
    );

    home.override_file(
        "images.yaml",
        "prometheus: {image: prom/prometheus, tag: v3}\n",
    );
    let err = home.render().unwrap_err().to_string();
    assert!(
        err.contains("unknown placeholder {{iocdock.image."),
        "{err}"
    );
}

#[test]
fn bad_settings_are_one_error_naming_the_keys() {
    let home = Home::new(
        "registry_master_ip: 1.2.3\nalert_manager_receive_email_list: [ops@lab.org]\nalert_manager_smtp_email_send_address: am@lab.org\n",
    );
    let err = check_settings(&home.settings()).unwrap_err().to_string();
    assert!(
        err.contains("settings.yaml: settings unusable for the built-in services: "),
        "{err}"
    );
    assert!(err.contains("registry_master_ip: \"1.2.3\" is not an IP address (expected e.g. 192.168.1.10); alert_manager_smtp_smart_host: empty"), "{err}");
    assert!(!err.contains('\n'));
}

#[test]
fn owners_follow_the_layout() {
    let owner = |relative| catalog::owner(relative).map(|b| (b.name, b.kind));
    assert_eq!(
        owner("global-services/alloy/config.alloy"),
        Some(("alloy", ServiceType::Global))
    );
    assert_eq!(
        owner("global-services/client.yaml"),
        Some(("client", ServiceType::Global))
    );
    assert_eq!(owner("global-services/clientx.yaml"), None);
    assert_eq!(owner("global-services/other.yaml"), None);
    assert_eq!(
        owner("grafana/dashboards/a.json"),
        Some(("grafana", ServiceType::Local))
    );
    assert_eq!(owner("grafana"), None);
    assert_eq!(owner("images.yaml"), None);
    assert_eq!(owner("iocLog/x"), None);
}

#[test]
fn monitoring_logins_reach_every_service_that_needs_them() {
    use std::os::unix::fs::MetadataExt;

    let home = Home::new(CREDENTIALS);
    let rendering = home.render().unwrap();
    let mut hashes = Vec::new();
    for web in ["prometheus/config/web.yml", "alertManager/config/web.yml"] {
        assert_eq!(file(&rendering, web).mode, 0o600, "{web}");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text(&rendering, web)).unwrap();
        let hash = doc["basic_auth_users"]["monitoring"].as_str().unwrap();
        assert!(bcrypt::verify("m0n", hash).unwrap(), "{web}");
        hashes.push(hash.to_string());
    }
    assert_eq!(hashes[0], hashes[1]);
    let secret = |relative: &str, contents: &[u8], owner: Option<u32>| {
        let f = file(&rendering, relative);
        assert_eq!(f.contents, contents, "{relative}");
        assert_eq!((f.mode, f.owner), (0o600, owner), "{relative}");
    };
    secret("prometheus/config/monitoring_password", b"m0n", None);
    secret("grafana/secrets/monitoring-password", b"m0n", Some(472));
    secret("grafana/secrets/admin-password", b"gr4f", Some(472));
    // base64("monitoring:m0n")
    secret(
        "loki/secrets/alertmanager-credentials",
        b"bW9uaXRvcmluZzptMG4=",
        Some(10001),
    );
    let config: serde_yaml::Value =
        serde_yaml::from_str(&text(&rendering, "prometheus/config/prometheus.yml")).unwrap();
    let login: serde_yaml::Value =
        serde_yaml::from_str("{username: monitoring, password_file: monitoring_password}").unwrap();
    assert_eq!(config["alerting"]["alertmanagers"][0]["basic_auth"], login);
    let jobs = config["scrape_configs"].as_sequence().unwrap();
    for job in ["prometheus", "alertmanager", "grafana"] {
        let found = jobs.iter().find(|j| j["job_name"] == job).unwrap();
        assert_eq!(found["basic_auth"], login, "{job}");
    }
    // Nowhere else in clear: not in an environment, a label or a configuration.
    for service in &rendering.services {
        for f in service.files.iter().filter(|f| f.mode != 0o600) {
            let contents = String::from_utf8_lossy(&f.contents);
            assert!(
                !contents.contains("m0n") && !contents.contains("gr4f"),
                "{}",
                f.relative
            );
        }
    }

    // Written as rendered, given to the services' users.
    write(&rendering, &BTreeSet::new()).unwrap();
    let root = swarm_dir(&home.settings());
    let meta = std::fs::metadata(root.join("grafana/secrets/admin-password")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (472, 0o600));
    let meta = std::fs::metadata(root.join("loki/secrets/alertmanager-credentials")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (10001, 0o600));
    let meta = std::fs::metadata(root.join("prometheus/config/web.yml")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600));

    // A new password: a new hash, every copy follows.
    std::fs::write(
        home.dir.path().join("settings.yaml"),
        CREDENTIALS.replace("m0n", "n3w"),
    )
    .unwrap();
    let changed = home.render().unwrap();
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text(&changed, "alertManager/config/web.yml")).unwrap();
    assert!(
        bcrypt::verify(
            "n3w",
            doc["basic_auth_users"]["monitoring"].as_str().unwrap()
        )
        .unwrap()
    );
    assert_eq!(
        file(&changed, "grafana/secrets/monitoring-password").contents,
        b"n3w"
    );
}

#[test]
fn unusable_passwords_are_refused_before_anything_is_written() {
    let home = Home::new(
        "registry_login_username: ops\nregistry_login_password: s3cret\ngrafana_admin_password: gr4f\n\
         registry_push_username: pusher\nregistry_push_password: push-s3cret\n",
    );
    let mut answers = Answers::new();
    answers.insert(Secret::MonitoringPassword, "m0n\n".to_string());
    let err = render(&home.settings(), &home.sources(), &answers)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("monitoring_admin_password: a password without control characters"),
        "{err}"
    );
    assert!(
        Secret::MonitoringPassword
            .problem(&"x".repeat(73))
            .is_some()
    );
    assert_eq!(Secret::SmtpPassword.problem(" spaced "), None);
}

#[test]
fn images_on_the_push_registry_are_known_by_name_and_address() {
    let settings = crate::settings::for_test("prefix_stack_name: lab\n");
    assert_eq!(push_registry_addresses(&settings), ["registry.lab:4443"]);
    let settings = crate::settings::for_test(
        "registry_master_ip: 10.1.2.3\nregistry_port: 5443\nregistry_push_port: 443\n",
    );
    assert_eq!(
        push_registry_addresses(&settings),
        ["registry.iasf", "10.1.2.3"]
    );
    let settings = crate::settings::for_test("registry_master_ip: 'fd00::1'\n");
    assert_eq!(
        push_registry_addresses(&settings),
        ["registry.iasf:4443", "[fd00::1]:4443"]
    );
}

/// The flags a compose file's service starts with: its entrypoint and command.
fn start_words(rendering: &Rendering, relative: &str) -> (Vec<String>, serde_yaml::Value) {
    let compose: serde_yaml::Value = serde_yaml::from_str(&text(rendering, relative)).unwrap();
    let service = compose["services"]
        .as_mapping()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let words = ["entrypoint", "command"]
        .iter()
        .flat_map(|key| service[*key].as_sequence().cloned().unwrap_or_default())
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    (words, service)
}

#[test]
fn links_in_notifications_name_an_address_operators_reach() {
    for (settings, prometheus, alertmanager) in [
        (
            "management_address: 10.0.0.1\n",
            "http://10.0.0.1:9090/",
            "http://10.0.0.1:9093/",
        ),
        (
            "management_address: manager.lab.org\nalert_manager_master_ip: 10.0.0.9\n",
            "http://manager.lab.org:9090/",
            "http://10.0.0.9:9093/",
        ),
        (
            "prometheus_external_url: https://mon.lab.org/prometheus/\nalertmanager_external_url: https://mon.lab.org/alerts/\nmanagement_address: 10.0.0.1\n",
            "https://mon.lab.org/prometheus/",
            "https://mon.lab.org/alerts/",
        ),
        // Nothing set: the node each task runs on, as swarm fills it in.
        (
            "",
            "http://{{.Node.Hostname}}:9090/",
            "http://{{.Node.Hostname}}:9093/",
        ),
    ] {
        let home = Home::new(&format!("{CREDENTIALS}{settings}"));
        let rendering = home.render().unwrap();
        for (relative, program, url) in [
            ("prometheus/prometheus.yaml", "/bin/prometheus", prometheus),
            (
                "alertManager/alertManager.yaml",
                "/bin/alertmanager",
                alertmanager,
            ),
        ] {
            let (words, service) = start_words(&rendering, relative);
            assert_eq!(
                service["environment"]["IOCDOCK_EXTERNAL_URL"], url,
                "{relative}"
            );
            // The URL reaches the program's flag; the routes stay at / whatever
            // path the URL has, where prometheus, grafana and loki call them.
            assert_eq!(words[..2], ["/bin/sh", "-c"], "{relative}");
            assert_eq!(
                words[2],
                format!("exec {program} --web.external-url=\"$$IOCDOCK_EXTERNAL_URL\" \"$$@\""),
                "{relative}"
            );
            assert!(
                words.contains(&"--web.route-prefix=/".to_string()),
                "{words:?}"
            );
            assert!(!words.iter().any(|w| w.contains("_srv-")), "{words:?}");
        }
    }
}

#[test]
fn the_ioc_alerts_wait_as_long_as_the_setting_says() {
    let home = Home::new(&format!("{CREDENTIALS}ioc_down_alert_after: 1m30s\n"));
    let rendering = home.render().unwrap();
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&text(&rendering, "prometheus/config/rules/services.yml")).unwrap();
    let rules = rules["groups"][0]["rules"].as_sequence().unwrap();
    let wait = |alert: &str| {
        rules
            .iter()
            .find(|r| r["alert"] == alert)
            .unwrap_or_else(|| panic!("no {alert}"))["for"]
            .clone()
    };
    assert_eq!(wait("IocServiceDown"), "90s");
    assert_eq!(wait("IocStatesUnknown"), "90s");
    // No window to look back over: an IOC down for a day still alerts.
    for rule in rules {
        let expr = rule["expr"].as_str().unwrap();
        assert!(!expr.contains('['), "{expr}");
    }
    let default = Home::new(CREDENTIALS).render().unwrap();
    assert!(text(&default, "prometheus/config/rules/services.yml").contains("for: 180s"));
}

#[test]
fn node_exporter_leaves_out_the_mounts_below_the_docker_root_only() {
    let home = Home::new(&format!(
        "{CREDENTIALS}docker_swarm_dir: /srv/docker.d+1/swarm\n"
    ));
    let rendering = home.render().unwrap();
    let (words, _) = start_words(&rendering, "global-services/nodeExporter.yaml");
    assert!(
        words.contains(
            &"--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run|srv/docker\\.d\\+1/.+)($$|/)"
                .to_string()
        ),
        "{words:?}"
    );
}

#[test]
fn swarm_exporter_reads_the_stack_through_the_proxy() {
    let home = Home::new(&format!("{CREDENTIALS}prefix_stack_name: lab\n"));
    let rendering = home.render().unwrap();
    let lua = text(&rendering, "swarmExporter/config/swarm-metrics.lua");
    assert!(lua.contains("local STACK = \"lab\""), "{lua}");
    assert!(lua.contains("unix@/run/docker-api/docker.sock"));
    let (words, service) = start_words(&rendering, "swarmExporter/swarmExporter.yaml");
    assert_eq!(
        words,
        ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
    );
    assert_eq!(
        service["deploy"]["placement"]["constraints"][0],
        "node.role==manager"
    );
    assert!(service.get("ports").is_none());
    let mounts = service["volumes"].as_sequence().unwrap();
    assert!(mounts.iter().all(|m| m["read_only"] == true), "{mounts:?}");
    assert!(
        mounts
            .iter()
            .any(|m| m["source"] == "docker-api" && m["target"] == "/run/docker-api")
    );
}
