//! The swarm service file of an IOC (SPEC §8): a compose file that `iocdock` and
//! `docker stack deploy` both deploy unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use crate::compose::model::{
    ComposeFile, Deploy, HealthCheck, KeyValues, Mount, MountLong, Network, Placement,
    ResourceAmounts, Resources, Scalar, Service, ServiceNetworks, StringOrList, UpdateConfig,
};
use crate::compose::{ComposeError, PV_LABEL};
use crate::ini::{IniDocument, value_lines};
use crate::ioc::config::DEPLOY;
use crate::ioc::health;
use crate::schema::names::service_key;
use crate::settings::Settings;

/// Name of the host network inside the compose file; the external network is `host`.
const HOST_NETWORK: &str = "hostnet";

/// A value as compose text that means exactly that value: compose substitutes `$VAR`
/// from the environment of whoever deploys the file, and `$$` is its literal `$`.
/// Keys are never substituted, so only values go through this.
fn literal(value: &str) -> String {
    value.replace('$', "$$")
}

fn deploy_option<'a>(doc: &'a IniDocument, option: &str) -> Option<&'a str> {
    doc.get(DEPLOY, option)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn amounts(doc: &IniDocument, cpus: &str, memory: &str) -> Option<ResourceAmounts> {
    let cpus = deploy_option(doc, cpus).map(literal);
    let memory = deploy_option(doc, memory).map(literal);
    (cpus.is_some() || memory.is_some()).then_some(ResourceAmounts { cpus, memory })
}

/// The container health check: reads `pv` with the image's CA client, on the timing
/// of the settings; none (`disable`, which also turns off a check the image may
/// declare) when the IOC's check is off.
fn healthcheck(pv: Option<&str>, settings: &Settings) -> HealthCheck {
    let Some(pv) = pv else {
        return HealthCheck {
            disable: true,
            ..Default::default()
        };
    };
    // caget gives up well before the engine kills the check, so a slow answer reads
    // as caget's own message rather than as a timeout.
    let wait = (settings.ioc_health_timeout.whole_seconds() / 2).max(1);
    HealthCheck {
        test: Some(StringOrList::List(vec![
            "CMD-SHELL".to_string(),
            literal(&health::check_command(pv, wait)),
        ])),
        interval: Some(literal(settings.ioc_health_interval.as_text())),
        timeout: Some(literal(settings.ioc_health_timeout.as_text())),
        retries: Some(u64::from(settings.ioc_health_retries)),
        start_period: Some(literal(settings.ioc_health_start_period.as_text())),
        disable: false,
    }
}

/// The compose model of an IOC service, from its ioc.ini. `run_folder` is the IOC's
/// run folder on the nodes, `log_folder` the shared iocLog folder; both absolute, so
/// the file means the same wherever it lies. `health_pv` is what its health check
/// reads (`None`: no check; see `ioc::health::checked_pv`).
pub(crate) fn model(
    name: &str,
    doc: &IniDocument,
    settings: &Settings,
    run_folder: &Path,
    log_folder: &Path,
    health_pv: Option<&str>,
) -> Result<ComposeFile, ComposeError> {
    let run = settings.container_run_path();
    let image = doc
        .get(crate::ioc::config::IOC, "image")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ComposeError::IocValue {
            ioc: name.to_string(),
            message: "option \"image\" of section [IOC] is empty (expected the IOC image, e.g. registry.iasf/ioc-exec:1.1.0)".to_string(),
        })?;

    let mut labels = BTreeMap::new();
    labels.insert(
        "service-type".to_string(),
        Some(Scalar::Text("ioc".to_string())),
    );
    for line in value_lines(doc.get(DEPLOY, "labels").unwrap_or("")) {
        let Some((key, value)) = line.split_once('=') else {
            return Err(ComposeError::IocValue {
                ioc: name.to_string(),
                message: format!(
                    "label \"{line}\" of section [DEPLOY] has no '=' (expected key=value)"
                ),
            });
        };
        labels.insert(
            key.trim().to_string(),
            Some(Scalar::Text(literal(value.trim()))),
        );
    }

    let mut constraints: Vec<String> = value_lines(doc.get(DEPLOY, "constraints").unwrap_or(""))
        .into_iter()
        .map(literal)
        .collect();
    if constraints.is_empty() {
        constraints = settings
            .ioc_default_constraints
            .iter()
            .map(|c| literal(c))
            .collect();
    }
    let limits = amounts(doc, "cpu-limit", "memory-limit");
    let reservations = amounts(doc, "cpu-reserve", "memory-reserve");
    let resources = (limits.is_some() || reservations.is_some()).then_some(Resources {
        limits,
        reservations,
    });

    let bind = |source: &Path, target: String, read_only: bool| {
        Mount::Long(MountLong {
            kind: "bind".to_string(),
            source: Some(literal(&source.display().to_string())),
            target: literal(&target),
            read_only,
        })
    };
    let mut environment = BTreeMap::new();
    environment.insert(
        "EPICS_IOCSH_HISTFILE".to_string(),
        Some(Scalar::Text(literal(&format!(
            "{run}/{name}/logs/.iocsh_history"
        )))),
    );
    // The IOC reads its startup files and writes only autosave files, logs and its
    // shell history: a compromised IOC cannot change what it runs at the next start,
    // nor another IOC's log.
    let mut volumes: Vec<Mount> = [("startup", true), ("settings", false), ("logs", false)]
        .into_iter()
        .map(|(folder, read_only)| {
            bind(
                &run_folder.join(folder),
                format!("{run}/{name}/{folder}"),
                read_only,
            )
        })
        .collect();
    volumes.push(bind(log_folder, format!("{run}/iocLog"), true));
    volumes.push(bind(
        Path::new("/etc/localtime"),
        "/etc/localtime".to_string(),
        true,
    ));
    let service = Service {
        image: literal(image),
        // The image's working directory is the container top path, so RUN is relative.
        entrypoint: Some(StringOrList::List(vec![
            "bash".to_string(),
            "-c".to_string(),
            format!("cd RUN/{name}/startup/iocBoot; ./st.cmd;"),
        ])),
        environment: Some(KeyValues::Map(environment)),
        // Keeps the IOC shell attachable (`docker attach`) for operators.
        tty: true,
        stdin_open: true,
        labels: Some(KeyValues::Map(labels)),
        networks: Some(ServiceNetworks::List(vec![HOST_NETWORK.to_string()])),
        volumes,
        healthcheck: Some(healthcheck(health_pv, settings)),
        deploy: Some(Deploy {
            replicas: Some(1),
            // Engines write the container's health check under a key bollard does not
            // read back; a service label says it survives any client.
            labels: health_pv.map(|pv| {
                KeyValues::Map(BTreeMap::from([(
                    PV_LABEL.to_string(),
                    Some(Scalar::Text(literal(pv))),
                )]))
            }),
            placement: Some(Placement {
                constraints,
                ..Default::default()
            }),
            resources,
            update_config: Some(UpdateConfig {
                parallelism: Some(1),
                delay: Some("10s".to_string()),
                failure_action: Some("rollback".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut networks = BTreeMap::new();
    networks.insert(
        HOST_NETWORK.to_string(),
        Some(Network {
            external: true,
            name: Some("host".to_string()),
            ..Default::default()
        }),
    );
    let mut services = BTreeMap::new();
    services.insert(service_key(name), service);
    Ok(ComposeFile {
        services,
        networks,
        ..Default::default()
    })
}

pub(crate) fn render(
    name: &str,
    doc: &IniDocument,
    settings: &Settings,
    run_folder: &Path,
    log_folder: &Path,
    health_pv: Option<&str>,
) -> Result<String, ComposeError> {
    let file = model(name, doc, settings, run_folder, log_folder, health_pv)?;
    serde_yaml::to_string(&file).map_err(|e| ComposeError::Render(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn fixture(path: &str) -> String {
        let full = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
        std::fs::read_to_string(format!("{full}{path}")).unwrap()
    }

    fn settings() -> Settings {
        crate::settings::for_test("")
    }

    fn render_at(name: &str, doc: &IniDocument) -> String {
        render(
            name,
            doc,
            &settings(),
            &Path::new("/data/swarm/iocs").join(name),
            Path::new("/data/swarm/iocLog"),
            Some(&format!("{name}:HEARTBEAT")),
        )
        .unwrap()
    }

    fn worker_test(n: u8) -> IniDocument {
        IniDocument::parse(
            &fixture(&format!("repository/worker_test_{n}/ioc.ini")),
            Path::new("ioc.ini"),
        )
        .unwrap()
    }

    #[test]
    fn equals_the_original_tool_output_as_data_except_for_the_mounts() {
        let mut ours: serde_yaml::Value =
            serde_yaml::from_str(&render_at("worker_test_1", &worker_test(1))).unwrap();
        let mut theirs: serde_yaml::Value =
            serde_yaml::from_str(&fixture("expected/worker_test_1/compose-swarm.yaml")).unwrap();
        let volumes = ours["services"]["srv-worker_test_1"]["volumes"].clone();
        for file in [&mut ours, &mut theirs] {
            file["services"]["srv-worker_test_1"]["volumes"] = serde_yaml::Value::Null;
        }
        // The original had no health check, nor the service label naming its PV.
        let service = ours["services"]["srv-worker_test_1"]
            .as_mapping_mut()
            .unwrap();
        assert!(service.remove("healthcheck").is_some());
        let deploy = service["deploy"].as_mapping_mut().unwrap();
        assert_eq!(
            deploy.remove("labels"),
            Some(serde_yaml::from_str("{iocdock.health-pv: 'worker_test_1:HEARTBEAT'}").unwrap())
        );
        assert_eq!(ours, theirs);
        // The original mounted the whole run folder read-write from `../<name>`.
        let expected: serde_yaml::Value = serde_yaml::from_str(
            "
- {type: bind, source: /data/swarm/iocs/worker_test_1/startup, target: /opt/EPICS/RUN/worker_test_1/startup, read_only: true}
- {type: bind, source: /data/swarm/iocs/worker_test_1/settings, target: /opt/EPICS/RUN/worker_test_1/settings}
- {type: bind, source: /data/swarm/iocs/worker_test_1/logs, target: /opt/EPICS/RUN/worker_test_1/logs}
- {type: bind, source: /data/swarm/iocLog, target: /opt/EPICS/RUN/iocLog, read_only: true}
- {type: bind, source: /etc/localtime, target: /etc/localtime, read_only: true}
",
        )
        .unwrap();
        assert_eq!(volumes, expected);
    }

    #[test]
    fn dollars_from_ioc_ini_stay_literal() {
        let mut doc = worker_test(1);
        doc.set(DEPLOY, "labels", "\nx=$HOME\npath=${PATH:-/}");
        doc.set(DEPLOY, "constraints", "node.labels.a==$b");
        doc.set("IOC", "image", "reg/x$y:1");
        let yaml = render_at("worker_test_1", &doc);
        let no_env = |_: &str| -> Option<String> { Some("from the environment".to_string()) };
        let file = crate::compose::load::parse(&yaml, Path::new("f.yaml"), &no_env).unwrap();
        let service = &file.services["srv-worker_test_1"];
        let Some(KeyValues::Map(labels)) = &service.labels else {
            panic!("labels: {:?}", service.labels)
        };
        assert_eq!(labels["x"], Some(Scalar::Text("$HOME".to_string())));
        assert_eq!(labels["path"], Some(Scalar::Text("${PATH:-/}".to_string())));
        assert_eq!(service.image, "reg/x$y:1");
        let constraints = &service
            .deploy
            .as_ref()
            .unwrap()
            .placement
            .as_ref()
            .unwrap()
            .constraints;
        assert_eq!(constraints, &["node.labels.a==$b".to_string()]);
    }

    #[test]
    fn constraints_and_reservations_come_from_deploy() {
        let mut doc = worker_test(2);
        doc.set(
            DEPLOY,
            "constraints",
            "\nnode.labels.rack==a\nnode.hostname!=x",
        );
        doc.set(DEPLOY, "memory-reserve", "512M");
        let yaml = render_at("worker_test_2", &doc);
        let value: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let deploy = &value["services"]["srv-worker_test_2"]["deploy"];
        assert_eq!(
            deploy["placement"]["constraints"],
            serde_yaml::from_str::<serde_yaml::Value>("[node.labels.rack==a, node.hostname!=x]")
                .unwrap()
        );
        assert_eq!(deploy["resources"]["reservations"]["memory"], "512M");
        assert!(deploy["resources"]["reservations"].get("cpus").is_none());
        let labels = &value["services"]["srv-worker_test_2"]["labels"];
        assert_eq!(labels["rack"], "a");
        assert_eq!(labels["test"], "true");
    }

    #[test]
    fn the_health_check_reads_its_pv_on_the_settings_timing() {
        let yaml = render_at("worker_test_1", &worker_test(1));
        let value: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let check =
            serde_yaml::to_string(&value["services"]["srv-worker_test_1"]["healthcheck"]).unwrap();
        insta::assert_snapshot!(check, @r#"
        test:
        - CMD-SHELL
        - 'caget=$$(command -v caget || echo "$$EPICS_BASE/bin/$$EPICS_HOST_ARCH/caget"); if [ ! -x "$$caget" ]; then echo "no health verdict: no caget in PATH or in \$$EPICS_BASE/bin/\$$EPICS_HOST_ARCH"; exit 0; fi; export EPICS_CA_AUTO_ADDR_LIST=NO EPICS_CA_ADDR_LIST=127.255.255.255; exec "$$caget" -w 5 ''worker_test_1:HEARTBEAT'''
        interval: 30s
        timeout: 10s
        retries: 5
        start_period: 120s
        "#);
        // What the engine runs is the command itself: `$$` is compose's `$`.
        let no_env = |_: &str| -> Option<String> { Some("from the environment".to_string()) };
        let file = crate::compose::load::parse(&yaml, Path::new("f.yaml"), &no_env).unwrap();
        let test = file.services["srv-worker_test_1"]
            .healthcheck
            .clone()
            .unwrap()
            .test
            .unwrap();
        assert_eq!(
            test,
            StringOrList::List(vec![
                "CMD-SHELL".to_string(),
                health::check_command("worker_test_1:HEARTBEAT", 5)
            ])
        );

        let quick = crate::settings::for_test(
            "ioc_health_interval: 2s\nioc_health_timeout: 3s\nioc_health_retries: 2\nioc_health_start_period: 1m\n",
        );
        let check = healthcheck(Some("a:b"), &quick);
        assert_eq!(check.interval.as_deref(), Some("2s"));
        assert_eq!(check.timeout.as_deref(), Some("3s"));
        assert_eq!(check.retries, Some(2));
        assert_eq!(check.start_period.as_deref(), Some("1m"));
        let Some(StringOrList::List(test)) = check.test else {
            panic!("a list test")
        };
        assert!(test[1].ends_with("-w 1 'a:b'"), "{}", test[1]);
    }

    #[test]
    fn a_check_turned_off_is_disabled() {
        let yaml = render(
            "worker_test_1",
            &worker_test(1),
            &settings(),
            Path::new("/r"),
            Path::new("/l"),
            None,
        )
        .unwrap();
        let value: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(
            value["services"]["srv-worker_test_1"]["healthcheck"],
            serde_yaml::from_str::<serde_yaml::Value>("{disable: true}").unwrap()
        );
        assert!(
            value["services"]["srv-worker_test_1"]["deploy"]
                .get("labels")
                .is_none()
        );
    }

    #[test]
    fn an_empty_image_is_refused() {
        let mut doc = worker_test(1);
        doc.set("IOC", "image", "");
        let err = render(
            "worker_test_1",
            &doc,
            &settings(),
            Path::new("/r"),
            Path::new("/l"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("\"image\""), "{err}");
    }
}
