//! The multi-node harness (`../shared/tools/multinode`, README there): one manager and
//! two workers, each a dockerd in its own network namespace on this machine. It is
//! one per machine and shared, so a test holds an exclusive lock on it for its whole
//! run (which also runs the multi-node tests of one `cargo test` one at a time),
//! brings it up (idempotent) and repairs what it broke when it ends, failed or not.
//!
//! In CI (CI=true) a multi-node test must run; elsewhere it skips with a printed
//! reason when the harness cannot be used or IOCDOCK_MULTINODE_TESTS (or
//! IOCDOCK_DOCKER_TESTS) is skip.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::docker::in_ci;
use crate::project_file;

/// The manager's engine: what iocdock talks to in these tests.
pub(crate) const MANAGER: &str = "unix:///run/multinode/node0.sock";
const LOCK: &str = "/run/multinode-iocdock-tests.lock";

fn script(name: &str) -> PathBuf {
    project_file("../shared/tools/multinode").join(name)
}

/// Every harness step and docker CLI call runs under `timeout`: a frozen node must
/// fail the test that froze it, never hang the suite.
const STEP_LIMIT: &str = "180";

fn run_script(name: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-k", "10", STEP_LIMIT, "bash"])
        .arg(script(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `run_script` with `MN_DOCKERD_ARGS` set to `dockerd_args`, or unset when None.
fn run_script_with(name: &str, args: &[&str], dockerd_args: Option<&str>) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "10", STEP_LIMIT, "bash"])
        .arg(script(name))
        .args(args);
    match dockerd_args {
        Some(extra) => cmd.env("MN_DOCKERD_ARGS", extra),
        None => cmd.env_remove("MN_DOCKERD_ARGS"),
    };
    cmd.output().unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The docker CLI against `host`, bounded by `STEP_LIMIT`.
fn docker_cli(host: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "10", STEP_LIMIT, "docker", "-H", host]);
    cmd
}

/// How long a test waits for another to release the harness: longer than all the
/// multi-node tests of a run together, so only a lock nobody gives back reaches it.
const LOCK_WAIT: Duration = Duration::from_secs(1200);

/// Takes the harness lock, waiting at most `LOCK_WAIT`; the error names who holds it.
fn wait_for_lock(lock: &File) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(format!(
                    "{LOCK} still held after {LOCK_WAIT:?} by {}",
                    lock_holders()
                ));
            }
            Err(TryLockError::Error(e)) => return Err(format!("cannot lock {LOCK}: {e}")),
        }
    }
}

/// The processes that have the lock file open, for the message of a lock never given
/// back (a daemon that inherited it, say).
fn lock_holders() -> String {
    let target = std::fs::canonicalize(LOCK).unwrap_or_else(|_| PathBuf::from(LOCK));
    let mut holders = Vec::new();
    for proc_dir in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = proc_dir.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == std::process::id().to_string() {
            continue;
        }
        let open = std::fs::read_dir(proc_dir.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|p| p == target));
        if open {
            let cmd = std::fs::read(proc_dir.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            holders.push(format!("pid {pid} ({})", cmd.trim()));
        }
    }
    if holders.is_empty() {
        "no other process (a test of this run)".to_string()
    } else {
        holders.join(", ")
    }
}

/// The harness, held for one test.
pub(crate) struct Harness {
    _lock: File,
    /// Nodes a test made fail and has not brought back yet.
    hurt: RefCell<BTreeSet<u32>>,
}

impl Harness {
    /// Takes the harness for `test`, or None (printed) when it cannot run here.
    pub(crate) fn take(test: &str) -> Option<Harness> {
        let skip = |why: &str| {
            assert!(
                !in_ci(),
                "{test}: CI needs the multi-node harness, but {why}"
            );
            eprintln!("SKIPPED {test}: {why}");
            None
        };
        // Node daemons are Docker too: a run told to leave Docker alone leaves them.
        for var in ["IOCDOCK_MULTINODE_TESTS", "IOCDOCK_DOCKER_TESTS"] {
            if !in_ci() && std::env::var(var).as_deref() == Ok("skip") {
                return skip(&format!("{var}=skip"));
            }
        }
        if !script("up.sh").is_file() {
            return skip("../shared/tools/multinode is missing");
        }
        let lock = match File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK)
        {
            Ok(file) => file,
            Err(e) => return skip(&format!("cannot open {LOCK}: {e}")),
        };
        if let Err(why) = wait_for_lock(&lock) {
            return skip(&why);
        }
        let up = run_script("up.sh", &[]);
        if !up.status.success() {
            return skip(&format!(
                "up.sh failed: {}",
                String::from_utf8_lossy(&up.stderr)
            ));
        }
        Some(Harness {
            _lock: lock,
            hurt: RefCell::new(BTreeSet::new()),
        })
    }

    /// Copies an image of the main daemon into every node.
    pub(crate) fn load_image(&self, image: &str) {
        let out = run_script("load-image.sh", &[image]);
        assert!(
            out.status.success(),
            "load-image.sh {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `kill-node.sh N MODE`: crash, daemon, partition or freeze.
    pub(crate) fn kill(&self, node: u32, mode: &str) {
        self.hurt.borrow_mut().insert(node);
        let out = run_script("kill-node.sh", &[&node.to_string(), mode]);
        assert!(
            out.status.success(),
            "kill-node.sh {node} {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `start-node.sh N`: undoes any kill and waits until the node is Ready.
    pub(crate) fn start(&self, node: u32) {
        let out = run_script("start-node.sh", &[&node.to_string()]);
        assert!(
            out.status.success(),
            "start-node.sh {node}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.hurt.borrow_mut().remove(&node);
    }

    /// The docker CLI against the manager; panics with stderr on failure.
    pub(crate) fn docker(&self, args: &[&str]) -> String {
        self.docker_on(0, args)
    }

    /// The docker CLI against node N's own engine, or None when it fails: for
    /// clean-ups, which go on past what is already gone.
    pub(crate) fn try_docker_on(&self, node: u32, args: &[&str]) -> Option<String> {
        let host = format!("unix:///run/multinode/node{node}.sock");
        let out = docker_cli(&host).args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The docker CLI against node N's own engine (only it sees its containers).
    pub(crate) fn docker_on(&self, node: u32, args: &[&str]) -> String {
        let host = format!("unix:///run/multinode/node{node}.sock");
        let out = docker_cli(&host).args(args).output().expect("docker CLI");
        assert!(
            out.status.success(),
            "docker -H {host} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Removes every service of a stack from the harness's swarm.
    pub(crate) fn remove_stack(&self, prefix: &str) {
        let label = format!("label=com.docker.stack.namespace={prefix}");
        let ids = docker_cli(MANAGER)
            .args(["service", "ls", "-q", "--filter", &label])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = docker_cli(MANAGER)
                .args(["service", "rm"])
                .args(&ids)
                .output();
        }
    }
}

impl Harness {
    /// Brings back every node a test hurt, manager first (a worker started while the
    /// manager is away answers late).
    fn heal(&self) {
        let hurt: Vec<u32> = std::mem::take(&mut *self.hurt.borrow_mut())
            .into_iter()
            .collect();
        for node in hurt {
            let _ = run_script("start-node.sh", &[&node.to_string()]);
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.heal();
        let _ = run_script("up.sh", &[]);
    }
}

/// Removes a stack's services from the harness when dropped; declared after the
/// harness, so it runs while the harness is still held.
pub(crate) struct HarnessStack<'a>(pub(crate) &'a Harness, pub(crate) String);

impl Drop for HarnessStack<'_> {
    fn drop(&mut self) {
        // A test that failed with a node down leaves it to us: a frozen manager would
        // hold the removal until the step limit.
        self.0.heal();
        self.0.remove_stack(&self.1);
    }
}

/// How the tests run iocdock on the harness: against the manager's engine.
pub(crate) const ON_MANAGER: [(&str, &str); 1] = [("DOCKER_HOST", MANAGER)];

impl Harness {
    /// A stack prefix of its own for one test; its services leave the harness when
    /// the guard is dropped (declare it after the harness).
    pub(crate) fn stack(&self, tag: &str) -> HarnessStack<'_> {
        HarnessStack(self, crate::docker::unique_prefix(tag))
    }

    /// `kill-node.sh N freeze`: a hung host. Its processes stop, its sockets still
    /// take connections, nothing answers; repaired when the harness is released.
    pub(crate) fn freeze(&self, node: u32) {
        self.kill(node, "freeze");
    }
}

impl HarnessStack<'_> {
    pub(crate) fn prefix(&self) -> &str {
        &self.1
    }

    /// A test home deploying into this stack with the default placement (the workers).
    pub(crate) fn context(&self) -> crate::TestContext {
        let t = crate::TestContext::new();
        t.write_settings(&format!("prefix_stack_name: {}\n", self.1));
        t
    }
}

/// Deadlines against a real hung engine: the manager frozen (every command that talks
/// to it ends within its deadline with the cause and exit code 3) and a frozen worker
/// whose logs the manager waits for.
mod deadlines {
    use std::time::Duration;

    use super::{Harness, ON_MANAGER};
    use crate::TestContext;
    use crate::deadlines::{Outcome, timed};
    use crate::deploy::exported_ioc;
    use crate::docker::TEST_IMAGE;
    use crate::status::wait_for;

    /// A managed custom service `quiet` that prints a line every second, placed by
    /// `constraint` when given.
    fn quiet_service(t: &TestContext, constraint: Option<&str>) {
        let placement = constraint.map_or_else(String::new, |c| {
            format!("    deploy:\n      placement:\n        constraints: [\"{c}\"]\n")
        });
        let file = t.home().join("custom/quiet.yaml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            &file,
            format!(
                "services:\n  quiet:\n    image: {TEST_IMAGE}\n    command: [sh, -c, 'while true; do echo tick; sleep 1; done']\n    networks: [hostnet]\n{placement}networks:\n  hostnet: {{external: true, name: host}}\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all(t.home().join("IocDock")).unwrap();
        std::fs::write(
            t.home().join("IocDock/services.yaml"),
            format!("quiet: {}\n", file.display()),
        )
        .unwrap();
    }

    fn on_harness(t: &TestContext, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut all = ON_MANAGER.to_vec();
        all.extend_from_slice(env);
        timed(t.std_cmd(args), &all)
    }

    const READ: &str = "2";
    const WRITE: &str = "4";
    const LIMITS: [(&str, &str); 2] = [
        ("IOCDOCK_ENGINE_READ_TIMEOUT", READ),
        ("IOCDOCK_ENGINE_WRITE_TIMEOUT", WRITE),
    ];

    /// The error line of a run the frozen engine timed out.
    fn timed_out(out: &Outcome, what: &str) -> String {
        assert_eq!(out.code, 3, "{what}: {}{}", out.stdout, out.stderr);
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{what}: {}", out.stderr);
        let line = errors[0];
        assert!(
            line.starts_with(&format!(
                "error: cannot reach the Docker daemon at {}: timed out after {READ} s waiting for an answer; the engine took the connection but did not answer",
                super::MANAGER
            )),
            "{what}: {line}"
        );
        line.to_string()
    }

    #[test]
    fn a_frozen_manager_ends_every_command_within_its_deadline() {
        let Some(h) = Harness::take(
            "multinode::deadlines::a_frozen_manager_ends_every_command_within_its_deadline",
        ) else {
            return;
        };
        h.load_image(TEST_IMAGE);
        let stack = h.stack("mnfz");
        let t = stack.context();
        exported_ioc(&t, "ioc1");
        quiet_service(&t, None);
        let out = on_harness(&t, &["service", "quiet", "--deploy", "--detach"], &LIMITS);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = on_harness(&t, &["swarm", "--show-digest"], &LIMITS);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains(&format!("{}_quiet", stack.prefix())),
            "{}",
            out.stdout
        );

        h.freeze(0);
        let commands: &[&[&str]] = &[
            &["swarm", "--show-digest"],
            &["swarm", "--show-nodes"],
            &["swarm", "--show-services"],
            &["swarm", "--show-tokens"],
            &["swarm", "--deploy-all-iocs"],
            &["swarm", "--update-deployed-services"],
            &["swarm", "--remove-all-services", "--yes"],
            &["service", "quiet", "--show-info"],
            &["service", "quiet", "--show-config"],
            &["service", "quiet", "--deploy", "--detach"],
            &["service", "quiet", "--update", "--detach"],
            &["service", "quiet", "--remove"],
            &["service", "quiet", "--show-logs"],
            &["service", "quiet", "--show-logs", "--follow"],
            &["client", "caget", "ramper:ioc1"],
            &["remove", "ioc1", "-r"],
            &["rename", "ioc1", "ioc2"],
        ];
        let runs: Vec<_> = commands
            .iter()
            .map(|args| {
                let mut cmd = t.std_cmd(args);
                cmd.envs(ON_MANAGER).envs(LIMITS);
                (args.join(" "), std::thread::spawn(move || timed(cmd, &[])))
            })
            .collect();
        let panel = on_harness(&t, &["list", "-p"], &LIMITS);
        for (what, run) in runs {
            let out = run.join().unwrap();
            timed_out(&out, &what);
            assert!(out.took >= Duration::from_secs(2), "{what}: {:?}", out.took);
            assert!(out.took < Duration::from_secs(8), "{what}: {:?}", out.took);
            assert!(out.stdout.is_empty(), "{what}: {}", out.stdout);
        }
        // The panel still prints, within its own limit.
        assert_eq!(panel.code, 0, "{}", panel.stderr);
        assert!(
            panel.stdout.contains("unknown (docker unreachable)"),
            "{}",
            panel.stdout
        );
        assert!(panel.took < Duration::from_secs(6), "{:?}", panel.took);
        assert!(t.repository().join("ioc1").is_dir());

        // Thawed, the same manager answers again, and nothing was changed meanwhile.
        h.start(0);
        let out = on_harness(&t, &["service", "quiet", "--show-info"], &LIMITS);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = on_harness(&t, &["swarm", "--show-digest"], &LIMITS);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains(&format!("{}_quiet", stack.prefix())),
            "{}",
            out.stdout
        );
    }

    /// The manager answers, but waits for a frozen worker's share of a service's logs:
    /// each piece of a log must come within the read deadline.
    #[test]
    fn logs_a_frozen_worker_holds_back_end_after_the_read_deadline() {
        let Some(h) = Harness::take(
            "multinode::deadlines::logs_a_frozen_worker_holds_back_end_after_the_read_deadline",
        ) else {
            return;
        };
        h.load_image(TEST_IMAGE);
        let stack = h.stack("mnlg");
        let t = stack.context();
        quiet_service(&t, Some("node.hostname==node2"));
        let out = on_harness(&t, &["service", "quiet", "--deploy", "--detach"], &LIMITS);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let service = format!("{}_quiet", stack.prefix());
        wait_for(
            "the quiet service running on node2",
            Duration::from_secs(60),
            || {
                let states = h.docker(&[
                    "service",
                    "ps",
                    &service,
                    "--filter",
                    "desired-state=running",
                    "--format",
                    "{{.Node}} {{.CurrentState}}",
                ]);
                if states.lines().any(|l| l.starts_with("node2 Running")) {
                    Ok(())
                } else {
                    Err(states)
                }
            },
        );
        wait_for("a logged tick", Duration::from_secs(30), || {
            let out = on_harness(&t, &["service", "quiet", "--show-logs"], &LIMITS);
            if out.code == 0 && out.stdout.contains("tick") {
                Ok(())
            } else {
                Err(format!("{} {}", out.code, out.stderr))
            }
        });

        h.freeze(2);
        let out = on_harness(&t, &["service", "quiet", "--show-logs"], &LIMITS);
        timed_out(&out, "logs held back by node2");
        assert!(out.took < Duration::from_secs(8), "{:?}", out.took);
        // The manager itself still answers.
        let out = on_harness(&t, &["service", "quiet", "--show-info"], &LIMITS);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains("node2"), "{}", out.stdout);
        h.start(2);
    }
}

/// `service NAME --exec` and `--attach` of a service whose task runs on a worker: the
/// manager finds the task, then talks to the worker's own engine at its TLS endpoint
/// (port 2376, certificates from `make-certs --node-engines`), which refuses a
/// connection without the manager's client certificate.
mod attach {
    use std::path::Path;
    use std::process::Command;
    use std::time::Duration;

    use super::{Harness, ON_MANAGER, run_script_with};
    use crate::TestContext;
    use crate::attach::typed_on_terminal;
    use crate::docker::TEST_IMAGE;
    use crate::status::wait_for;

    const WORKER: u32 = 1;
    const WORKER_IP: &str = "10.213.7.11";

    /// Node 1's dockerd restarted with `args` (None: as the harness starts it), its
    /// old tasks gone with the old daemon.
    fn restart_worker(h: &Harness, args: Option<&str>) {
        h.kill(WORKER, "daemon");
        let out = run_script_with("start-node.sh", &[&WORKER.to_string()], args);
        assert!(
            out.status.success(),
            "start-node.sh {WORKER}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        h.hurt.borrow_mut().remove(&WORKER);
    }

    /// Gives node 1 back its plain daemon when the test ends, failed or not.
    struct PlainWorkerAgain<'a>(&'a Harness);

    impl Drop for PlainWorkerAgain<'_> {
        fn drop(&mut self) {
            restart_worker(self.0, None);
        }
    }

    /// A managed custom service `shell`: busybox sh on a tty, pinned to node 1.
    fn shell_service(t: &TestContext) {
        let file = t.home().join("custom/shell.yaml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(
            &file,
            format!(
                "services:\n  shell:\n    image: {TEST_IMAGE}\n    command: [sh]\n    tty: true\n    stdin_open: true\n    networks: [hostnet]\n    deploy:\n      placement:\n        constraints: [\"node.hostname==node{WORKER}\"]\nnetworks:\n  hostnet: {{external: true, name: host}}\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all(t.home().join("IocDock")).unwrap();
        std::fs::write(
            t.home().join("IocDock/services.yaml"),
            format!("shell: {}\n", file.display()),
        )
        .unwrap();
    }

    fn run(t: &TestContext, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let out = t
            .cmd(args)
            .envs(ON_MANAGER)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn exec_and_attach_reach_a_worker_through_its_tls_endpoint() {
        let Some(h) = Harness::take(
            "multinode::attach::exec_and_attach_reach_a_worker_through_its_tls_endpoint",
        ) else {
            return;
        };
        h.load_image(TEST_IMAGE);
        let stack = h.stack("mnat");
        let t = stack.context();
        // A CA whose scope covers the nodes' names and addresses, then the engines'.
        let mut make = vec!["make-certs".to_string()];
        for n in 0..3 {
            make.extend(["--san".to_string(), format!("node{n}")]);
            make.extend(["--san".to_string(), format!("10.213.7.1{n}")]);
        }
        let make: Vec<&str> = make.iter().map(String::as_str).collect();
        t.ok(&make);
        let (code, out, err) = run(&t, &["make-certs", "--node-engines"], &[]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&format!("{WORKER_IP}:2376")), "{out}");
        let engines = t.home().join("IocDock/pki/engines");
        let mode = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(&engines), 0o700);
        assert_eq!(mode(&engines.join("client/key.pem")), 0o600);
        assert_eq!(mode(&engines.join("node1/server-key.pem")), 0o600);

        let node = engines.join("node{n}");
        let args = format!(
            "-H tcp://{{ip}}:2376 --tlsverify --tlscacert {0}/ca.pem --tlscert {0}/server-cert.pem --tlskey {0}/server-key.pem",
            node.display()
        );
        // Before the node has its endpoint, the manager finds the task but cannot
        // reach the node's engine: one line naming that endpoint, exit code 3.
        shell_service(&t);
        let (code, _, err) = run(&t, &["service", "shell", "--deploy", "--detach"], &[]);
        assert_eq!(code, 0, "{err}");
        let service = format!("{}_shell", stack.prefix());
        let running_on_worker = || {
            wait_for(
                "the shell running on node1",
                Duration::from_secs(90),
                || {
                    let states = h.docker(&[
                        "service",
                        "ps",
                        &service,
                        "--filter",
                        "desired-state=running",
                        "--format",
                        "{{.Node}} {{.CurrentState}}",
                    ]);
                    if states.lines().any(|l| l.starts_with("node1 Running")) {
                        Ok(())
                    } else {
                        Err(states)
                    }
                },
            )
        };
        running_on_worker();
        let (code, _, err) = run(&t, &["service", "shell", "--exec", "true"], &[]);
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains(&format!(
                "cannot reach the Docker daemon at tcp://{WORKER_IP}:2376"
            )),
            "{err}"
        );
        assert!(err.contains("Node engines"), "{err}");

        restart_worker(&h, Some(&args));
        let _plain_again = PlainWorkerAgain(&h);

        // Without the client certificate the worker's engine refuses the connection;
        // with it, the same request is answered (the worker is no manager).
        let ca_only = t.home().join("ca-only");
        std::fs::create_dir_all(&ca_only).unwrap();
        std::fs::copy(engines.join("client/ca.pem"), ca_only.join("ca.pem")).unwrap();
        let endpoint = format!("tcp://{WORKER_IP}:2376");
        let direct = |certs: &Path| {
            let certs = certs.to_str().unwrap();
            let out = t
                .cmd(&["swarm", "--show-nodes"])
                .envs([
                    ("DOCKER_HOST", endpoint.as_str()),
                    ("DOCKER_TLS_VERIFY", "1"),
                    ("DOCKER_CERT_PATH", certs),
                ])
                .output()
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, err) = direct(&ca_only);
        assert_eq!(code, 3, "{err}");
        assert!(err.contains(&endpoint), "{err}");
        let (code, err) = direct(&engines.join("client"));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("not a swarm manager"), "{err}");
        // The docker CLI without a client certificate is refused too.
        let refused = Command::new("timeout")
            .args([
                "30",
                "docker",
                "-H",
                &endpoint,
                "--tlsverify",
                "--tlscacert",
            ])
            .arg(ca_only.join("ca.pem"))
            .args(["version", "--format", "{{.Server.Version}}"])
            .env_remove("DOCKER_CERT_PATH")
            .env("DOCKER_CONFIG", t.home())
            .output()
            .unwrap();
        assert!(!refused.status.success(), "{refused:?}");

        // The restarted daemon stopped the old copy; the swarm starts it there again.
        running_on_worker();
        let container = || {
            h.docker_on(
                WORKER,
                &[
                    "ps",
                    "-q",
                    "--filter",
                    &format!("label=com.docker.swarm.service.name={service}"),
                ],
            )
            .trim()
            .to_string()
        };
        // The manager may still show the old copy Running for a moment: the node's
        // own engine says when the new one runs.
        wait_for(
            "the shell's container on node1",
            Duration::from_secs(60),
            || {
                if container().is_empty() {
                    Err("none yet".to_string())
                } else {
                    Ok(())
                }
            },
        );
        let before = container();

        let (code, out, err) = run(
            &t,
            &[
                "-v",
                "service",
                "shell",
                "--exec",
                "sh",
                "-c",
                "echo in-$((6*7)); exit 3",
            ],
            &[],
        );
        assert_eq!(code, 3, "{out}{err}");
        assert!(out.contains("in-42"), "{out}{err}");
        assert!(
            err.contains(&format!(
                "shell runs on node node1: connecting to its engine at {endpoint}"
            )),
            "{err}"
        );

        let mut env = ON_MANAGER.to_vec();
        env.push(("IOCDOCK_ENGINE_READ_TIMEOUT", "10"));
        let (code, screen) = typed_on_terminal(
            &t,
            &["service", "shell", "--attach"],
            &[
                (Duration::from_secs(2), &b"\r"[..]),
                (Duration::from_secs(1), &b"echo at-$((6*7))\r"[..]),
                (Duration::from_secs(2), &[0x10, 0x11][..]),
            ],
            &env,
        );
        assert_eq!(code, 0, "{screen}");
        assert!(screen.contains("at-42"), "{screen}");
        assert!(screen.contains("it keeps running"), "{screen}");
        assert_eq!(
            container(),
            before,
            "the shell must still run after the detach"
        );
    }
}
