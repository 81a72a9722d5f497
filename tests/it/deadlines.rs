//! An engine that cannot be used: a socket iocdock may not open, no socket, a socket
//! nobody listens on, a listener that takes connections and never answers, and the
//! real engine behind a forwarder that holds back or slows down chosen requests.
//! Each is one line naming the endpoint and the cause, with exit code 3, within the
//! deadlines set through the environment.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::TestContext;
use crate::deploy::exported_ioc;
use crate::docker::{StackGuard, TEST_IMAGE, docker, docker_ready, in_ci, unique_prefix};

/// What a finished iocdock run gave.
pub(crate) struct Outcome {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) took: Duration,
}

/// The longest any run of these tests may take: a command that hangs past it is
/// killed and reported as a failure, so a deadline that does not hold fails the test
/// instead of hanging the whole suite.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// Runs iocdock with `env` and measures how long it took; a run still going after
/// `RUN_LIMIT` is killed and panics with what it printed so far.
pub(crate) fn timed(mut cmd: std::process::Command, env: &[(&str, &str)]) -> Outcome {
    use std::process::Stdio;
    for (key, value) in env {
        cmd.env(key, value);
    }
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run iocdock");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for iocdock") {
            break status;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still ran after {RUN_LIMIT:?} and was killed; stderr so far: {}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        took: start.elapsed(),
    }
}

/// The engine's socket of this machine: `DOCKER_HOST` when it names one, else the
/// default.
fn engine_socket() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => PathBuf::from(
            host.strip_prefix("unix://")
                .unwrap_or_else(|| panic!("these tests need the engine's unix socket, not {host}")),
        ),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// A listener on a socket that takes every connection and never answers, as a
/// frozen engine does; its connections stay open while the test runs.
fn silent_engine(path: &Path) {
    let listener = UnixListener::bind(path).expect("bind the silent socket");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming().flatten() {
            held.push(connection);
        }
    });
}

/// What the forwarder does with a request.
#[derive(Clone, Copy, Debug)]
enum Handling {
    Forward,
    /// Takes it and never answers.
    Hold,
    /// Forwards it after a while.
    Delay(Duration),
}

/// A socket in front of this machine's engine that treats each request as `rule`
/// says from its method and path.
fn forwarder(path: &Path, rule: impl Fn(&str, &str) -> Handling + Send + Sync + 'static) {
    let listener = UnixListener::bind(path).expect("bind the forwarder");
    let rule = Arc::new(rule);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let rule = Arc::clone(&rule);
            std::thread::spawn(move || forward(client, &*rule));
        }
    });
}

fn forward(mut client: UnixStream, rule: &dyn Fn(&str, &str) -> Handling) {
    // The request's head tells where it goes; what came with it is sent on as read.
    let mut head = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    match rule(method, target) {
        Handling::Hold => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        Handling::Delay(time) => std::thread::sleep(time),
        Handling::Forward => {}
    }
    let Ok(mut engine) = UnixStream::connect(engine_socket()) else {
        return;
    };
    if engine.write_all(&head).is_err() {
        return;
    }
    let (Ok(mut engine_out), Ok(mut client_in)) = (engine.try_clone(), client.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut engine_out, &mut client_in);
        let _ = client_in.shutdown(std::net::Shutdown::Both);
    });
    let _ = std::io::copy(&mut client, &mut engine);
    let _ = engine.shutdown(std::net::Shutdown::Write);
}

fn host(path: &Path) -> String {
    format!("unix://{}", path.display())
}

/// The error line of a run that could not use the engine at `endpoint`.
fn engine_error(out: &Outcome, endpoint: &str, what: &str) -> String {
    assert_eq!(out.code, 3, "{what}: {}", out.stderr);
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{what}: {}", out.stderr);
    let prefix = format!("error: cannot reach the Docker daemon at {endpoint}: ");
    assert!(errors[0].starts_with(&prefix), "{what}: {}", out.stderr);
    errors[0].to_string()
}

#[test]
fn no_socket_and_a_socket_nobody_listens_on_say_so() {
    let t = TestContext::new();
    let missing = t.home().join("no-engine.sock");
    let out = timed(
        t.std_cmd(&["swarm", "--show-nodes"]),
        &[("DOCKER_HOST", &host(&missing))],
    );
    let line = engine_error(&out, &host(&missing), "no socket");
    assert!(
        line.contains(&format!(
            "no such file or directory: {} (no engine listens there)",
            missing.display()
        )),
        "{line}"
    );
    assert!(line.contains("systemctl start docker"), "{line}");
    assert!(out.stdout.is_empty());

    // A socket file left behind by a listener that is gone.
    let stale = t.home().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let out = timed(
        t.std_cmd(&["service", "client", "--show-info"]),
        &[("DOCKER_HOST", &host(&stale))],
    );
    let line = engine_error(&out, &host(&stale), "stale socket");
    assert!(
        line.contains(&format!(
            "connection refused: {} is a socket no engine listens on",
            stale.display()
        )),
        "{line}"
    );
}

/// Permission denied on the socket names its owner, group and mode, who may use it
/// and who iocdock runs as: a socket of mode 0 (then 0660 of a group) used by a user
/// that is neither its owner nor in its group.
#[test]
fn a_socket_iocdock_may_not_open_names_who_may() {
    if !rustix::process::geteuid().is_root() {
        assert!(
            !in_ci(),
            "CI runs as root, which this test needs to change users"
        );
        eprintln!("SKIPPED deadlines::a_socket_iocdock_may_not_open_names_who_may: needs root");
        return;
    }
    const NOBODY: u32 = 65534;
    const USERS: u32 = 100;
    let t = TestContext::new();
    // The home belongs to the user iocdock runs as, as an operator's would.
    std::fs::set_permissions(t.home(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(t.home(), Some(NOBODY), Some(NOBODY)).unwrap();
    let socket = t.home().join("engine.sock");
    silent_engine(&socket);
    let as_nobody = || {
        let mut cmd = t.std_cmd(&["swarm", "--show-digest"]);
        // Dropping to another uid also drops the supplementary groups.
        cmd.uid(NOBODY).gid(NOBODY);
        cmd
    };

    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = timed(as_nobody(), &[("DOCKER_HOST", &host(&socket))]);
    let line = engine_error(&out, &host(&socket), "mode 0");
    assert!(
        line.contains(&format!(
            "permission denied on the socket {} (owner root, group root, mode 0000: only root may use it; iocdock runs as user ",
            socket.display()
        )),
        "{line}"
    );
    assert!(line.contains(&format!("(uid {NOBODY}, groups ")), "{line}");
    assert!(line.ends_with("; run iocdock as root"), "{line}");

    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o660)).unwrap();
    std::os::unix::fs::chown(&socket, None, Some(USERS)).unwrap();
    let group = std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .find_map(|l| {
            let fields: Vec<&str> = l.split(':').collect();
            (fields.get(2) == Some(&"100")).then(|| fields[0].to_string())
        })
        .unwrap_or_else(|| USERS.to_string());
    let out = timed(as_nobody(), &[("DOCKER_HOST", &host(&socket))]);
    let line = engine_error(&out, &host(&socket), "mode 0660");
    assert!(
        line.contains(&format!(
            "(owner root, group {group}, mode 0660: root and members of group {group} may use it;"
        )),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "run iocdock as root or as a member of group {group}"
        )),
        "{line}"
    );

    // The same socket, by its owner: it connects (and then meets the silence).
    let out = timed(
        t.std_cmd(&["swarm", "--show-digest"]),
        &[
            ("DOCKER_HOST", &host(&socket)),
            ("IOCDOCK_ENGINE_READ_TIMEOUT", "0.5"),
        ],
    );
    let line = engine_error(&out, &host(&socket), "root");
    assert!(
        line.contains("timed out after 0.5 s waiting for an answer"),
        "{line}"
    );
}

/// Every command that talks to the engine, with what it needs to get that far.
const ENGINE_COMMANDS: &[&[&str]] = &[
    &["swarm", "--show-digest"],
    &["swarm", "--show-nodes"],
    &["swarm", "--show-services"],
    &["swarm", "--show-tokens"],
    &["swarm", "--deploy-all-iocs"],
    &["swarm", "--deploy-global-services"],
    &["swarm", "--update-deployed-services"],
    &["swarm", "--remove-all-iocs", "--yes"],
    &["swarm", "--remove-global-services", "--yes"],
    &["swarm", "--remove-all-services", "--yes"],
    &["swarm", "--gen-built-in-services"],
    &["service", "ioc1", "--deploy", "--detach"],
    &["service", "ioc1", "--update", "--detach"],
    &["service", "ioc1", "--remove"],
    &["service", "ioc1", "--show-config"],
    &["service", "ioc1", "--show-info"],
    &["service", "ioc1", "--show-logs"],
    &["service", "ioc1", "--show-logs", "--follow"],
    &["client", "caget", "ramper:ioc1"],
    &["remove", "ioc1", "-r"],
    &["rename", "ioc1", "ioc2"],
    &["image", "list"],
    &["image", "push"],
    &["image", "prepare"],
];

/// A listener that takes connections and never answers: every command that talks to
/// the engine gives up after the read deadline, with the cause and exit code 3, and
/// `list -p` still prints its panel.
#[test]
fn an_engine_that_never_answers_stops_every_command_within_its_deadline() {
    let t = TestContext::new();
    t.write_settings("monitoring_admin_password: m0nitor-pw\ngrafana_admin_password: gr4fana-pw\nregistry_login_username: puller\nregistry_login_password: pull-pw\nregistry_push_username: pusher\nregistry_push_password: push-pw\n");
    exported_ioc(&t, "ioc1");
    let socket = t.home().join("frozen.sock");
    silent_engine(&socket);
    let endpoint = host(&socket);
    let env = [
        ("DOCKER_HOST", endpoint.as_str()),
        ("IOCDOCK_ENGINE_READ_TIMEOUT", "1"),
        ("IOCDOCK_ENGINE_WRITE_TIMEOUT", "2"),
    ];
    let runs: Vec<(&[&str], std::thread::JoinHandle<Outcome>)> = ENGINE_COMMANDS
        .iter()
        .map(|args| {
            let cmd = t.std_cmd(args);
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let run = std::thread::spawn(move || {
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                timed(cmd, &env)
            });
            (*args, run)
        })
        .collect();
    for (args, run) in runs {
        let out = run.join().unwrap();
        let what = args.join(" ");
        let line = engine_error(&out, &endpoint, &what);
        // The engine took the connection: the wait for the answer ran out, and no
        // command waited much longer than its deadline.
        assert!(
            line.contains("timed out after 1 s waiting for an answer; the engine took the connection but did not answer"),
            "{what}: {line}"
        );
        assert!(
            line.contains("IOCDOCK_ENGINE_READ_TIMEOUT"),
            "{what}: {line}"
        );
        assert!(out.took >= Duration::from_secs(1), "{what}: {:?}", out.took);
        assert!(
            out.took < Duration::from_secs(6),
            "{what}: took {:?}",
            out.took
        );
        assert!(out.stdout.is_empty(), "{what}: {}", out.stdout);
    }
    // Nothing was changed on the way.
    assert!(t.repository().join("ioc1/ioc.ini").is_file());
    assert!(!t.repository().join("ioc2").exists());

    let out = timed(t.std_cmd(&["list", "-p"]), &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("unknown (docker unreachable)"),
        "{}",
        out.stdout
    );
    assert!(out.took < Duration::from_secs(5), "{:?}", out.took);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// The real engine behind a forwarder that holds back one kind of request after the
/// connection was made: a view waits the read deadline, a deploy the write deadline,
/// and says which services it cannot vouch for; the engine never got the create.
#[test]
fn a_request_without_answer_in_the_middle_of_a_command_ends_it() {
    if !docker_ready("deadlines::a_request_without_answer_in_the_middle_of_a_command_ends_it") {
        return;
    }
    let prefix = unique_prefix("dl");
    let _guard = StackGuard(prefix.clone());
    let t = TestContext::new();
    t.write_settings(&format!("prefix_stack_name: {prefix}\n"));
    let file = t.home().join("custom/quiet.yaml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        format!(
            "services:\n  quiet:\n    image: {TEST_IMAGE}\n    command: [sleep, '3600']\n    networks: [hostnet]\n    deploy: {{replicas: 0}}\nnetworks:\n  hostnet: {{external: true, name: host}}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(t.home().join("IocDock")).unwrap();
    std::fs::write(
        t.home().join("IocDock/services.yaml"),
        format!("quiet: {}\n", file.display()),
    )
    .unwrap();

    let socket = t.home().join("holding.sock");
    forwarder(&socket, |method, target| {
        let path = target.split('?').next().unwrap_or(target);
        if (method == "GET" && path.ends_with("/nodes"))
            || (method == "POST" && path.ends_with("/services/create"))
        {
            Handling::Hold
        } else {
            Handling::Forward
        }
    });
    let endpoint = host(&socket);
    let env = [
        ("DOCKER_HOST", endpoint.as_str()),
        ("IOCDOCK_ENGINE_READ_TIMEOUT", "1"),
        ("IOCDOCK_ENGINE_WRITE_TIMEOUT", "2.5"),
    ];

    // Requests the forwarder passes work: the path through it is sound.
    let out = timed(t.std_cmd(&["swarm", "--show-services"]), &env);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let out = timed(t.std_cmd(&["swarm", "--show-nodes"]), &env);
    let line = engine_error(&out, &endpoint, "node list held");
    assert!(
        line.contains("timed out after 1 s waiting for an answer"),
        "{line}"
    );
    assert!(out.took < Duration::from_secs(5), "{:?}", out.took);

    let out = timed(
        t.std_cmd(&["service", "quiet", "--deploy", "--detach"]),
        &env,
    );
    let line = engine_error(&out, &endpoint, "create held");
    assert!(
        line.contains("timed out after 2.5 s waiting for an answer"),
        "{line}"
    );
    assert!(line.contains("IOCDOCK_ENGINE_WRITE_TIMEOUT"), "{line}");
    assert!(
        line.ends_with(&format!(
            "; not known whether these were deployed: {prefix}_quiet (`iocdock swarm --show-digest` tells once the engine answers)"
        )),
        "{line}"
    );
    assert!(out.took >= Duration::from_millis(2500), "{:?}", out.took);
    assert!(out.took < Duration::from_secs(7), "{:?}", out.took);
    let services = docker(&["service", "ls", "--format", "{{.Name}}"]);
    assert!(!services.contains(&format!("{prefix}_quiet")), "{services}");
}

/// Many answers that each come in time cannot add up beyond the command's deadline:
/// through a forwarder that delays every request by 0.4 s, `swarm --show-nodes`
/// (four requests) ends after the 1 s read deadline; with 5 s it is shown.
#[test]
fn slow_answers_do_not_add_up_beyond_the_commands_deadline() {
    if !docker_ready("deadlines::slow_answers_do_not_add_up_beyond_the_commands_deadline") {
        return;
    }
    let t = TestContext::new();
    let socket = t.home().join("slow.sock");
    forwarder(&socket, |_, _| Handling::Delay(Duration::from_millis(400)));
    let endpoint = host(&socket);
    let out = timed(
        t.std_cmd(&["swarm", "--show-nodes"]),
        &[
            ("DOCKER_HOST", endpoint.as_str()),
            ("IOCDOCK_ENGINE_READ_TIMEOUT", "1"),
        ],
    );
    let line = engine_error(&out, &endpoint, "slow engine");
    assert!(
        line.contains("timed out after 1 s waiting for an answer"),
        "{line}"
    );
    assert!(out.took < Duration::from_millis(2500), "{:?}", out.took);

    let out = timed(
        t.std_cmd(&["swarm", "--show-nodes"]),
        &[
            ("DOCKER_HOST", endpoint.as_str()),
            ("IOCDOCK_ENGINE_READ_TIMEOUT", "5"),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Leader"), "{}", out.stdout);
    assert!(out.took >= Duration::from_millis(1600), "{:?}", out.took);
}

/// A TCP endpoint whose queue of connections is full drops new ones without a word,
/// as a host that is down or cut off does: connecting gives up after its deadline (the
/// read deadline here, which is shorter than the 3 s of connecting).
#[test]
fn a_connection_nobody_takes_times_out_connecting() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind("127.0.0.1:0".parse().unwrap())?;
            socket.listen(1)
        })
        .unwrap();
    let address = listener.local_addr().unwrap();
    // Connections nobody accepts fill the queue; then the kernel drops new ones.
    let mut queued = Vec::new();
    while let Ok(stream) =
        std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300))
    {
        queued.push(stream);
        assert!(queued.len() < 64, "the listener's queue does not fill up");
    }
    let t = TestContext::new();
    let endpoint = format!("tcp://{address}");
    let out = timed(
        t.std_cmd(&["swarm", "--show-nodes"]),
        &[
            ("DOCKER_HOST", endpoint.as_str()),
            ("IOCDOCK_ALLOW_PLAIN_TCP", "1"),
            ("IOCDOCK_ENGINE_READ_TIMEOUT", "1"),
        ],
    );
    let line = engine_error(&out, &endpoint, "full queue");
    assert!(
        line.contains(": timed out after 1 s connecting; "),
        "{line}"
    );
    assert!(out.took >= Duration::from_secs(1), "{:?}", out.took);
    assert!(out.took < Duration::from_secs(4), "{:?}", out.took);

    // Nothing listens at all: refused at once.
    drop((queued, listener));
    let out = timed(
        t.std_cmd(&["swarm", "--show-nodes"]),
        &[
            ("DOCKER_HOST", endpoint.as_str()),
            ("IOCDOCK_ALLOW_PLAIN_TCP", "1"),
        ],
    );
    let line = engine_error(&out, &endpoint, "closed port");
    assert!(
        line.contains(
            ": connection refused (the host answers, but nothing listens on that port); "
        ),
        "{line}"
    );
}

/// A host this machine has no route to: the OS's "no route to host", found below the
/// client library's own words. The process runs in a network namespace of its own
/// whose only route is an unreachable one, so nothing of this machine's network
/// changes.
#[test]
fn a_host_without_a_route_says_no_route_to_host() {
    if !rustix::process::geteuid().is_root() {
        assert!(!in_ci(), "CI runs as root, which a network namespace needs");
        eprintln!("SKIPPED deadlines::a_host_without_a_route_says_no_route_to_host: needs root");
        return;
    }
    let t = TestContext::new();
    let endpoint = "tcp://192.0.2.10:2376";
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--net",
        "sh",
        "-c",
        "ip link set lo up && ip route add unreachable default && exec \"$@\"",
        "sh",
    ])
    .arg(crate::bin())
    .args(["swarm", "--show-nodes"])
    .env("IOCDOCK_HOME", t.home())
    .env("IOCDOCK_ALLOW_PLAIN_TCP", "1");
    let out = timed(cmd, &[("DOCKER_HOST", endpoint)]);
    let line = engine_error(&out, endpoint, "no route");
    assert!(
        line.contains(&format!(
            "{endpoint}: no route to host; check the host in DOCKER_HOST"
        )),
        "{line}"
    );
    assert!(!line.contains("client error"), "{line}");
}
