//! The multi-node harness (`../shared/tools/multinode`, README there): one manager and
//! two workers, each a dockerd in its own network namespace on this machine. It is
//! one per machine and shared, so a test holds an exclusive lock on it for its whole
//! run (which also runs the multi-node tests of one `cargo test` one at a time),
//! brings it up (idempotent) and repairs what it broke when it ends, failed or not.
//!
//! In CI (CI=true) a multi-node test must run; elsewhere it skips with a printed
//! reason when the harness cannot be used or IOCDOCK_MULTINODE_TESTS=skip.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::docker::in_ci;
use crate::project_file;

/// The manager's engine: what iocdock talks to in these tests.
pub(crate) const MANAGER: &str = "unix:///run/multinode/node0.sock";
const LOCK: &str = "/run/multinode-iocdock-tests.lock";

fn script(name: &str) -> PathBuf {
    project_file("../shared/tools/multinode").join(name)
}

fn run_script(name: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
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
        if !in_ci() && std::env::var("IOCDOCK_MULTINODE_TESTS").as_deref() == Ok("skip") {
            return skip("IOCDOCK_MULTINODE_TESTS=skip");
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
        if let Err(e) = lock.lock() {
            return skip(&format!("cannot lock {LOCK}: {e}"));
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

    /// The docker CLI against node N's own engine (only it sees its containers).
    pub(crate) fn docker_on(&self, node: u32, args: &[&str]) -> String {
        let host = format!("unix:///run/multinode/node{node}.sock");
        let out = Command::new("docker")
            .arg("-H")
            .arg(&host)
            .args(args)
            .output()
            .expect("docker CLI");
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
        let ids = Command::new("docker")
            .args(["-H", MANAGER, "service", "ls", "-q", "--filter", &label])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["-H", MANAGER, "service", "rm"])
                .args(&ids)
                .output();
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Manager first: a worker started while the manager is away answers late.
        let hurt: Vec<u32> = self.hurt.borrow().iter().copied().collect();
        for node in hurt {
            let _ = run_script("start-node.sh", &[&node.to_string()]);
        }
        let _ = run_script("up.sh", &[]);
    }
}

/// Removes a stack's services from the harness when dropped; declared after the
/// harness, so it runs while the harness is still held.
pub(crate) struct HarnessStack<'a>(pub(crate) &'a Harness, pub(crate) String);

impl Drop for HarnessStack<'_> {
    fn drop(&mut self) {
        self.0.remove_stack(&self.1);
    }
}
