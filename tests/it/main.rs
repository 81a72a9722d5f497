//! One integration test binary: every test runs the real `iocdock` binary against a
//! temporary IOCDOCK_HOME.
// The crate's lints keep output to the printer; a test reports what it skipped on
// stderr, where cargo test shows it.
#![allow(clippy::print_stderr, clippy::print_stdout)]

// First: the other modules use its macro.
#[macro_use]
mod transcript;

mod attach;
mod backup;
mod builtin;
mod client;
mod cluster;
mod colour;
mod config;
mod create;
mod deadlines;
mod deploy;
mod docker;
mod drift;
mod e2e;
mod engine;
mod errors;
mod exec;
mod faults;
mod fixtures;
mod health;
mod help;
mod image;
mod image_build;
mod json;
mod layers;
mod lifecycle;
mod links;
mod list;
mod logs;
mod manage;
mod monitoring;
mod multinode;
mod nodes;
mod oracle;
mod paths;
mod real_image;
mod registry;
mod revisions;
mod rollouts;
mod schema;
mod secrets;
mod service_verbs;
mod status;
mod swarm_backup;
mod terminal;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub(crate) fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin!("iocdock").to_path_buf()
}

/// The original tool's reference files (tests/fixtures/README.md).
pub(crate) fn fixtures_dir() -> PathBuf {
    project_file("tests/fixtures")
}

pub(crate) fn project_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A temporary home folder and a way to run iocdock in it.
pub(crate) struct TestContext {
    home: tempfile::TempDir,
    /// Times from here on are this test's own (transcript filters).
    started: chrono::DateTime<chrono::Local>,
}

impl TestContext {
    pub(crate) fn new() -> Self {
        TestContext {
            home: tempfile::tempdir().expect("temporary home"),
            started: chrono::Local::now(),
        }
    }

    pub(crate) fn started(&self) -> chrono::DateTime<chrono::Local> {
        self.started
    }

    pub(crate) fn home(&self) -> &Path {
        self.home.path()
    }

    pub(crate) fn repository(&self) -> PathBuf {
        self.home().join("IocDock/ioc-repository")
    }

    pub(crate) fn snapshot(&self) -> PathBuf {
        self.home().join("IocDock/ioc-snapshot")
    }

    pub(crate) fn mount(&self) -> PathBuf {
        self.home().join("IocDock-data")
    }

    /// `$MOUNT_PATH/swarm/iocs/<name>`: the run folder of a swarm IOC.
    pub(crate) fn run_dir(&self, name: &str) -> PathBuf {
        self.mount().join("swarm/iocs").join(name)
    }

    /// `$SERVICE_FILE_PATH/<name>/compose-swarm.yaml`.
    pub(crate) fn service_file(&self, name: &str) -> PathBuf {
        self.home()
            .join("IocDock/service-files")
            .join(name)
            .join("compose-swarm.yaml")
    }

    pub(crate) fn ioc_ini(&self, name: &str) -> String {
        fs::read_to_string(self.repository().join(name).join("ioc.ini")).expect("ioc.ini")
    }

    pub(crate) fn state_json(&self, name: &str) -> serde_json::Value {
        let text =
            fs::read_to_string(self.repository().join(name).join(".info.ini")).expect("state");
        serde_json::from_str(&text).expect("state is JSON")
    }

    /// `iocdock ARGS` with this home and a clean environment.
    /// A run still going after five minutes is killed and fails its test: a command
    /// that hangs must never hang the suite.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::from_std(self.std_cmd(args));
        cmd.timeout(std::time::Duration::from_secs(300));
        cmd
    }

    /// The same as a plain process, for tests that spawn several at once.
    pub(crate) fn std_cmd(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(args)
            .env("IOCDOCK_HOME", self.home())
            .env_remove("MOUNT_PATH")
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .env("USER", "tester");
        cmd
    }

    /// Runs `iocdock ARGS` on a pseudo-terminal (util-linux `script`), typing `input`;
    /// returns the exit code and everything the terminal showed (stdout and stderr).
    /// None when `script` is missing outside CI (the caller skips).
    pub(crate) fn on_terminal(&self, args: &[&str], input: &str) -> Option<(i32, String)> {
        self.on_terminal_with(args, input, &[])
    }

    /// `on_terminal` with environment variables set (NO_COLOR is unset unless given).
    pub(crate) fn on_terminal_with(
        &self,
        args: &[&str],
        input: &str,
        env: &[(&str, &str)],
    ) -> Option<(i32, String)> {
        use std::io::Write;
        let found = std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                !docker::in_ci(),
                "CI needs `script` (Debian package bsdutils)"
            );
            eprintln!("SKIPPED: `script` not found (apt-get install bsdutils)");
            return None;
        }
        let quoted: Vec<String> = std::iter::once(bin().display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let mut child = std::process::Command::new("script")
            .args(["-qec", &quoted.join(" "), "/dev/null"])
            .env("IOCDOCK_HOME", self.home())
            .env_remove("MOUNT_PATH")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("script");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("type");
        let out = child.wait_with_output().expect("script");
        Some((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }

    /// Runs `iocdock ARGS` and returns stdout, failing the test if it did not succeed.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let output = self.cmd(args).output().expect("run iocdock");
        assert!(
            output.status.success(),
            "iocdock {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 stdout")
    }

    /// Copies the original tool's fixture repository into this home (writable).
    pub(crate) fn install_fixture_repository(&self) {
        copy_tree(&fixtures_dir().join("repository"), &self.repository());
    }

    /// Writes settings.yaml private to its owner, as `iocdock init` creates it.
    pub(crate) fn write_settings(&self, yaml: &str) {
        let file = self.home().join("settings.yaml");
        fs::write(&file, yaml).expect("settings");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    /// Every file below the home with its bytes and modification time, to prove a
    /// command wrote nothing. The operation log is excluded: it records every call;
    /// so is the repository lock file, which the command holding it marks and clears.
    pub(crate) fn tree_state(&self) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(self.home()).sort_by_file_name() {
            let entry = entry.expect("walk");
            let name = entry.file_name().to_string_lossy();
            if name.starts_with("OperationLog") || name == ".iocdock.lock" {
                continue;
            }
            let meta = entry.metadata().expect("metadata");
            let bytes = if meta.is_file() {
                fs::read(entry.path()).expect("read")
            } else {
                Vec::new()
            };
            files.push((
                entry.path().to_path_buf(),
                bytes,
                meta.modified().expect("mtime"),
            ));
        }
        files
    }
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let target = to.join(entry.path().strip_prefix(from).expect("prefix"));
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).expect("mkdir");
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).expect("chmod");
        } else {
            fs::copy(entry.path(), &target).expect("copy");
            fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).expect("chmod");
        }
    }
}
