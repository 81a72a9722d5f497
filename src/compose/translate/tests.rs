use super::*;
use crate::compose::load;

fn no_env(_: &str) -> Option<String> {
    None
}

fn fixture(path: &str) -> String {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    std::fs::read_to_string(format!("{full}{path}")).unwrap()
}

fn translate_text(text: &str, namespace: &str, dir: &str) -> Result<Translation, ComposeError> {
    let file = Path::new(dir).join("compose.yaml");
    let model = load::parse(text, &file, &no_env)?;
    translate(
        &model,
        &Stack {
            namespace,
            file: &file,
            dir: Path::new(dir),
            env: &no_env,
        },
    )
}

/// The `.Spec` docker stored for the original tool's IOC file is what we build,
/// apart from what the engine adds itself and the network ID it resolved.
#[test]
fn ioc_file_translates_to_the_spec_docker_stored() {
    let translation = translate_text(
        &fixture("expected/worker_test_1/compose-swarm.yaml"),
        "iasf",
        "/opt/IocDockHome/IocDock-data/swarm/worker_test_1",
    )
    .unwrap();
    let plan = &translation.services["srv-worker_test_1"];
    assert_eq!(plan.networks, [NetworkPlan::External("host".to_string())]);
    let ours = serde_json::to_value(&plan.spec).unwrap();
    let mut theirs: serde_json::Value = serde_json::from_str(&fixture(
        "docker-stack-deploy/worker_test_1.service-spec.json",
    ))
    .unwrap();
    // The fixture was read with the engine's defaults inserted (insertDefaults):
    // these fields are filled by the engine, not sent by `docker stack deploy`.
    let template = &mut theirs["TaskTemplate"];
    for engine_default in ["StopGracePeriod", "DNSConfig", "Isolation"] {
        template["ContainerSpec"]
            .as_object_mut()
            .unwrap()
            .remove(engine_default);
    }
    // The docker CLI of the fixture prints this field (unknown to API 1.41) itself.
    template["ContainerSpec"]["Privileges"] = serde_json::json!({});
    template.as_object_mut().unwrap().remove("RestartPolicy");
    template.as_object_mut().unwrap().remove("Runtime");
    let theirs_object = theirs.as_object_mut().unwrap();
    theirs_object.remove("RollbackConfig");
    theirs_object.remove("EndpointSpec");
    let update = theirs["UpdateConfig"].as_object_mut().unwrap();
    update.remove("Monitor");
    update.remove("Order");
    // docker sends a ratio of 0, we send none: the engine stores 0 for both.
    assert_eq!(update.remove("MaxFailureRatio"), Some(0.into()));
    // The engine resolved the network name to the ID of `host` on that machine.
    theirs["TaskTemplate"]["Networks"][0]["Target"] = "host".into();
    let mut ours = ours;
    ours.as_object_mut().unwrap().remove("EndpointSpec");
    assert_eq!(ours, theirs);
    assert_eq!(
        serde_json::to_value(&plan.spec.endpoint_spec).unwrap(),
        serde_json::json!({})
    );
}

#[test]
fn every_supported_key_translates() {
    let text = r#"
services:
  web:
    image: docker.io/library/busybox
    entrypoint: sh -c 'sleep 10'
    command: [a, b]
    environment: [B=2, A=1, BARE]
    working_dir: /w
    user: "1:1"
    hostname: h
    labels: [x=1, y]
    networks:
      front: {aliases: [w]}
      hostnet:
    ports:
      - "8000-8001:80-81/udp"
      - {target: 90, published: 7000, mode: host}
    volumes:
      - ./data:/data:ro
      - ../up:/up
      - data:/vol
      - /anon
      - {type: volume, source: ext, target: /ext, read_only: true}
    deploy:
      mode: replicated
      replicas: 2
      labels: {d: "1"}
      endpoint_mode: VIP
      placement:
        constraints: [node.role==manager]
        preferences: [{spread: node.labels.rack}]
        max_replicas_per_node: 1
      resources:
        limits: {cpus: '0.5', memory: 512M}
        reservations: {memory: 0.8G}
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 1m}
      update_config: {delay: 10s, failure_action: rollback, monitor: 1m, max_failure_ratio: 0.3, order: start-first}
      rollback_config: {parallelism: 0, failure_action: continue}
  glob:
    image: busybox
    environment: {N: 1.5, E: ""}
    deploy: {mode: global}
networks:
  front: {driver: overlay, attachable: true, labels: {tier: front}, driver_opts: {mtu: 1400}}
  hostnet: {external: true, name: host}
volumes:
  data:
  ext: {external: true}
"#;
    let t = translate_text(text, "st", "/srv/stack").unwrap();
    let web = serde_json::to_value(&t.services["web"].spec).unwrap();
    insta::assert_snapshot!(serde_json::to_string_pretty(&web).unwrap(), @r#"
        {
          "EndpointSpec": {
            "Mode": "vip",
            "Ports": [
              {
                "PublishMode": "host",
                "PublishedPort": 7000,
                "TargetPort": 90
              },
              {
                "Protocol": "udp",
                "PublishMode": "ingress",
                "PublishedPort": 8000,
                "TargetPort": 80
              },
              {
                "Protocol": "udp",
                "PublishMode": "ingress",
                "PublishedPort": 8001,
                "TargetPort": 81
              }
            ]
          },
          "Labels": {
            "com.docker.stack.image": "docker.io/library/busybox",
            "com.docker.stack.namespace": "st",
            "d": "1"
          },
          "Mode": {
            "Replicated": {
              "Replicas": 2
            }
          },
          "Name": "st_web",
          "RollbackConfig": {
            "FailureAction": "continue",
            "Parallelism": 0
          },
          "TaskTemplate": {
            "ContainerSpec": {
              "Args": [
                "a",
                "b"
              ],
              "Command": [
                "sh",
                "-c",
                "sleep 10"
              ],
              "Dir": "/w",
              "Env": [
                "A=1",
                "B=2",
                "BARE"
              ],
              "Hostname": "h",
              "Image": "busybox:latest",
              "Labels": {
                "com.docker.stack.namespace": "st",
                "x": "1",
                "y": ""
              },
              "Mounts": [
                {
                  "ReadOnly": true,
                  "Source": "/srv/stack/data",
                  "Target": "/data",
                  "Type": "bind"
                },
                {
                  "Source": "/srv/up",
                  "Target": "/up",
                  "Type": "bind"
                },
                {
                  "Source": "st_data",
                  "Target": "/vol",
                  "Type": "volume",
                  "VolumeOptions": {
                    "Labels": {
                      "com.docker.stack.namespace": "st"
                    }
                  }
                },
                {
                  "Target": "/anon",
                  "Type": "volume"
                },
                {
                  "ReadOnly": true,
                  "Source": "ext",
                  "Target": "/ext",
                  "Type": "volume",
                  "VolumeOptions": {}
                }
              ],
              "Privileges": {},
              "User": "1:1"
            },
            "ForceUpdate": 0,
            "Networks": [
              {
                "Target": "host"
              },
              {
                "Aliases": [
                  "w",
                  "web"
                ],
                "Target": "st_front"
              }
            ],
            "Placement": {
              "Constraints": [
                "node.role==manager"
              ],
              "MaxReplicas": 1,
              "Preferences": [
                {
                  "Spread": {
                    "SpreadDescriptor": "node.labels.rack"
                  }
                }
              ]
            },
            "Resources": {
              "Limits": {
                "MemoryBytes": 536870912,
                "NanoCPUs": 500000000
              },
              "Reservations": {
                "MemoryBytes": 858993459
              }
            },
            "RestartPolicy": {
              "Condition": "on-failure",
              "Delay": 5000000000,
              "MaxAttempts": 3,
              "Window": 60000000000
            }
          },
          "UpdateConfig": {
            "Delay": 10000000000,
            "FailureAction": "rollback",
            "MaxFailureRatio": 0.3,
            "Monitor": 60000000000,
            "Order": "start-first",
            "Parallelism": 1
          }
        }
        "#);
    let front = &t.services["web"].networks[0];
    assert_eq!(
        t.services["web"].networks[1],
        NetworkPlan::External("host".to_string())
    );
    assert_eq!(front.name(), "st_front");
    let NetworkPlan::Stack(request) = front else {
        panic!("front is a stack network");
    };
    assert_eq!(request.driver.as_deref(), Some("overlay"));
    assert_eq!(request.attachable, Some(true));
    assert_eq!(request.options.as_ref().unwrap()["mtu"], "1400");
    assert_eq!(request.labels.as_ref().unwrap()["tier"], "front");
    assert_eq!(request.labels.as_ref().unwrap()[NAMESPACE_LABEL], "st");

    let glob = &t.services["glob"];
    assert_eq!(
        serde_json::to_value(&glob.spec.mode).unwrap(),
        serde_json::json!({"Global": {}})
    );
    let container = glob
        .spec
        .task_template
        .as_ref()
        .unwrap()
        .container_spec
        .as_ref()
        .unwrap();
    assert_eq!(container.env.as_deref().unwrap(), ["E=", "N=1.5"]);
    // No network named: the stack's default network, with the service as alias.
    assert_eq!(glob.networks[0].name(), "st_default");
    let attached = &glob
        .spec
        .task_template
        .as_ref()
        .unwrap()
        .networks
        .as_ref()
        .unwrap()[0];
    assert_eq!(attached.aliases.as_deref().unwrap(), ["glob"]);
}

#[test]
fn extra_hosts_become_swarm_host_lines() {
    let text = r#"
services:
  web:
    image: x
    extra_hosts: ["host.docker.internal:host-gateway", "v6:fd00::1"]
  bad:
    image: x
    extra_hosts: [nocolon]
"#;
    let err = translate_text(text, "st", "/d").err().unwrap().to_string();
    assert!(
        err.contains("services.bad.extra_hosts[0]: \"nocolon\" is not host:address"),
        "{err}"
    );
    let t = translate_text(&text.replace("[nocolon]", "[]"), "st", "/d").unwrap();
    let hosts = |key: &str| {
        t.services[key]
            .spec
            .task_template
            .as_ref()
            .unwrap()
            .container_spec
            .as_ref()
            .unwrap()
            .hosts
            .clone()
    };
    assert_eq!(
        hosts("web").unwrap(),
        ["host-gateway host.docker.internal", "fd00::1 v6"]
    );
    assert_eq!(hosts("bad"), None);
}

#[test]
fn healthchecks_translate_as_docker_converts_them() {
    let text = r#"
services:
  shell:
    image: x
    healthcheck: {test: "caget a:b", interval: 1m30s, timeout: 10s, retries: 5, start_period: 2m}
  exec:
    image: x
    healthcheck: {test: [CMD, /bin/check, "-v"], interval: "0", retries: 0}
  off:
    image: x
    healthcheck: {disable: true}
  inherit:
    image: x
    healthcheck: {test: [], timeout: 3s}
  none:
    image: x
"#;
    let t = translate_text(text, "st", "/d").unwrap();
    let check = |key: &str| {
        serde_json::to_value(
            &t.services[key]
                .spec
                .task_template
                .as_ref()
                .unwrap()
                .container_spec
                .as_ref()
                .unwrap()
                .health_check,
        )
        .unwrap()
    };
    assert_eq!(
        check("shell"),
        serde_json::json!({
            "Test": ["CMD-SHELL", "caget a:b"],
            "Interval": 90_000_000_000_i64,
            "Timeout": 10_000_000_000_i64,
            "Retries": 5,
            "StartPeriod": 120_000_000_000_i64,
        })
    );
    // Zero durations and retries are left out, as Go's omitempty does.
    assert_eq!(
        check("exec"),
        serde_json::json!({"Test": ["CMD", "/bin/check", "-v"]})
    );
    assert_eq!(check("off"), serde_json::json!({"Test": ["NONE"]}));
    assert_eq!(
        check("inherit"),
        serde_json::json!({"Timeout": 3_000_000_000_i64})
    );
    assert_eq!(check("none"), serde_json::Value::Null);
}

#[test]
fn environment_without_value_comes_from_the_deploying_shell() {
    let env = |name: &str| match name {
        "FROM_SHELL" => Some("s".to_string()),
        "HOME" => Some("/home/op".to_string()),
        _ => None,
    };
    let file = Path::new("/d/c.yaml");
    let model = load::parse(
        "services:\n  a:\n    image: x\n    environment: {FROM_SHELL: '', KEPT: k, UNSET: }\n    volumes: ['~/logs:/logs']\n",
        file,
        &env,
    )
    .unwrap();
    let t = translate(
        &model,
        &Stack {
            namespace: "n",
            file,
            dir: Path::new("/d"),
            env: &env,
        },
    )
    .unwrap();
    let container = t.services["a"]
        .spec
        .task_template
        .clone()
        .unwrap()
        .container_spec
        .unwrap();
    assert_eq!(container.env.unwrap(), ["FROM_SHELL=s", "KEPT=k", "UNSET"]);
    assert_eq!(
        container.mounts.unwrap()[0].source.as_deref(),
        Some("/home/op/logs")
    );
}

#[test]
fn problems_name_file_and_key_path() {
    let cases = [
        (
            "deploy: {resources: {limits: {memory: 12Q}}}",
            "services.a.deploy.resources.limits.memory: invalid memory size",
        ),
        (
            "deploy: {mode: global, replicas: 2}",
            "services.a.deploy.replicas: replicas can only",
        ),
        (
            "deploy: {mode: job}",
            "services.a.deploy.mode: unknown mode",
        ),
        (
            "deploy: {update_config: {delay: soon}}",
            "services.a.deploy.update_config.delay: invalid duration",
        ),
        (
            "deploy: {rollback_config: {failure_action: rollback}}",
            "services.a.deploy.rollback_config.failure_action",
        ),
        (
            "networks: [nowhere]",
            "services.a.networks: undefined network \"nowhere\"",
        ),
        (
            "volumes: ['data:/d']",
            "services.a.volumes[0]: undefined volume \"data\"",
        ),
        (
            "volumes: [{type: tmpfs, target: /t}]",
            "services.a.volumes[0]: unsupported mount type",
        ),
        (
            "volumes: ['./a:/b:z']",
            "services.a.volumes[0]: \"./a:/b:z\": unsupported option",
        ),
        ("ports: ['127.0.0.1:80:80']", "services.a.ports[0]"),
        (
            "ports: [{target: 80, mode: bridge}]",
            "services.a.ports[0].mode: unknown mode",
        ),
        (
            "entrypoint: \"sh -c 'x\"",
            "services.a.entrypoint: unclosed quote",
        ),
        (
            "healthcheck: {test: [CMD, x], disable: true}",
            "services.a.healthcheck: test and disable can't be set at the same time",
        ),
        (
            "healthcheck: {interval: often}",
            "services.a.healthcheck.interval: invalid duration",
        ),
        (
            "healthcheck: {timeout: 500us}",
            "services.a.healthcheck.timeout: must be 0 or at least 1ms",
        ),
        (
            "healthcheck: {start_period: -1s}",
            "services.a.healthcheck.start_period: must be 0 or at least 1ms",
        ),
    ];
    for (body, expected) in cases {
        let text = format!("services:\n  a:\n    image: x\n    {body}\n");
        let err = translate_text(&text, "n", "/d").unwrap_err().to_string();
        assert!(err.starts_with("/d/compose.yaml: "), "{err}");
        assert!(err.contains(expected), "{body}: {err}");
    }
}

#[test]
fn compose_dir_is_absolute_and_clean() {
    assert_eq!(
        compose_dir(Path::new("/a/b/../c/./f.yaml")).unwrap(),
        PathBuf::from("/a/c")
    );
    assert!(compose_dir(Path::new("rel/f.yaml")).unwrap().is_absolute());
}
