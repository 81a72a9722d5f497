//! `swarm -b` / `swarm -r` against a second Docker engine owned by the test, so the
//! engine that is stopped, restarted and given a restored swarm is nobody else's.
//!
//! The second dockerd runs in a network namespace of its own (`unshare --net`):
//! with `--bridge=none` dockerd deletes any `docker0` it finds, and in the shared
//! namespace that is the main daemon's bridge. Its own data root, exec root, pid
//! file, socket and config file (with its own key path) keep everything else apart;
//! its supervised containerd lives under its exec root.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::TestContext;
use crate::docker::docker_ready;

const SERVICE: &str = "iocdock-swarm-backup-probe";

/// A dockerd of the test's own, stopped and wiped on drop whatever happened.
struct SecondEngine {
    dir: tempfile::TempDir,
}

impl SecondEngine {
    fn start() -> SecondEngine {
        let dir = tempfile::Builder::new()
            .prefix("iocdock-dockerd-")
            .tempdir()
            .expect("temporary folder");
        let engine = SecondEngine { dir };
        let root = engine.root().to_path_buf();
        let show = |p: &str| root.join(p).display().to_string();
        fs::write(
            root.join("daemon.json"),
            format!("{{\"deprecated-key-path\": \"{}\"}}\n", show("key.json")),
        )
        .expect("daemon.json");
        // The same script starts the engine for the test and, as the settings'
        // docker_start_command, for iocdock; it returns at once, like systemctl.
        let dockerd = format!(
            "dockerd --config-file {} --data-root {} --exec-root {} --pidfile {} -H unix://{} --bridge=none --iptables=false --ip6tables=false",
            show("daemon.json"),
            show("data"),
            show("exec"),
            show("docker.pid"),
            show("docker.sock"),
        );
        fs::write(
            root.join("start.sh"),
            format!(
                "setsid unshare --net sh -c 'ip link set lo up && exec {dockerd}' >>{} 2>&1 </dev/null &\n",
                show("dockerd.log")
            ),
        )
        .expect("start.sh");
        fs::write(
            root.join("stop.sh"),
            format!(
                "pid=$(cat {}) || exit 1\nkill \"$pid\" || exit 1\ni=0\nwhile kill -0 \"$pid\" 2>/dev/null; do\n  i=$((i + 1)); [ $i -lt 300 ] || exit 1; sleep 0.1\ndone\n",
                show("docker.pid")
            ),
        )
        .expect("stop.sh");
        let status = Command::new("sh")
            .arg(root.join("start.sh"))
            .status()
            .expect("sh");
        assert!(status.success());
        engine.wait_for(|e| e.docker_ok(&["version"]), "dockerd to answer");
        engine
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn host(&self) -> String {
        format!("unix://{}", self.root().join("docker.sock").display())
    }

    fn swarm_dir(&self) -> PathBuf {
        self.root().join("data/swarm")
    }

    fn pid(&self) -> String {
        fs::read_to_string(self.root().join("docker.pid"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn docker_output(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .output()
            .expect("docker CLI")
    }

    fn docker_ok(&self, args: &[&str]) -> bool {
        self.docker_output(args).status.success()
    }

    fn docker(&self, args: &[&str]) -> String {
        let out = self.docker_output(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn is_manager(&self) -> bool {
        let out = self.docker_output(&["info", "--format", "{{.Swarm.ControlAvailable}}"]);
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "true"
    }

    fn services(&self) -> Vec<String> {
        self.docker(&["service", "ls", "--format", "{{.Name}}"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn wait_for(&self, ready: impl Fn(&Self) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.root().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn settings(&self) -> String {
        format!(
            "docker_stop_command: sh {}\ndocker_start_command: sh {}\ndocker_swarm_dir: {}\n",
            self.root().join("stop.sh").display(),
            self.root().join("start.sh").display(),
            self.swarm_dir().display()
        )
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        // SIGKILL: everything is thrown away, and a graceful stop takes seconds.
        // Every process naming this folder is one of ours (dockerd, its containerd).
        let root = self.root().display().to_string();
        if let Ok(procs) = fs::read_dir("/proc") {
            for entry in procs.flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&root) {
                    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                }
            }
        }
        // A killed dockerd leaves its mounts (the data root, network namespaces).
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|point| point.starts_with(&root))
            .collect();
        mounts.sort_by_key(|point| std::cmp::Reverse(point.len()));
        for point in mounts {
            let _ = Command::new("umount").arg("-l").arg(point).status();
        }
    }
}

/// A swarm folder's layout plus one entry that climbs out of the folder it is
/// unpacked in. Raw headers: the tar crate's builder refuses to write `..`.
fn escaping_archive(dest: &Path) {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        fs::File::create(dest).expect("bad archive"),
        flate2::Compression::default(),
    ));
    for (name, kind) in [
        ("swarm/raft/", tar::EntryType::Directory),
        ("swarm/certificates/swarm-node.crt", tar::EntryType::Regular),
        ("swarm/certificates/swarm-node.key", tar::EntryType::Regular),
        ("swarm/state.json", tar::EntryType::Regular),
        ("swarm/../../etc/iocdock-evil", tar::EntryType::Regular),
    ] {
        let data: &[u8] = if kind == tar::EntryType::Regular {
            b"[]"
        } else {
            b""
        };
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o600);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).expect("tar");
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut file| file.flush())
        .expect("gzip");
}

/// Whether this machine can run a second engine (root, dockerd, unshare, ip); says
/// why not. In CI it must: the swarm set-up there installs and runs dockerd as root.
fn second_engine_possible(test: &str) -> bool {
    let found = |tool: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let missing: Vec<&str> = ["dockerd", "unshare", "ip"]
        .into_iter()
        .filter(|tool| !found(tool))
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    let why = if root {
        format!("{} not found", missing.join(", "))
    } else {
        "a second dockerd needs root".to_string()
    };
    let ci = matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"));
    assert!(!ci, "{test}: {why}");
    eprintln!("SKIPPED {test}: {why}");
    false
}

#[test]
fn swarm_backup_and_restore_bring_a_removed_service_back() {
    let test = "swarm_backup_and_restore_bring_a_removed_service_back";
    if !docker_ready(test) || !second_engine_possible(test) {
        return;
    }
    let started = Instant::now();
    let engine = SecondEngine::start();
    engine.docker(&[
        "swarm",
        "init",
        "--advertise-addr",
        "127.0.0.1",
        "--listen-addr",
        "127.0.0.1:2378",
    ]);
    // The image is not on this engine: the service's state is what matters.
    engine.docker(&[
        "service",
        "create",
        "--detach",
        "--no-resolve-image",
        "--name",
        SERVICE,
        "iocdock-test/busybox:latest",
        "sleep",
        "1000",
    ]);
    let t = TestContext::new();
    t.write_settings(&engine.settings());
    let run = |args: &[&str]| {
        let mut cmd = t.cmd(args);
        cmd.env("DOCKER_HOST", engine.host());
        cmd
    };

    let pid_before = engine.pid();
    // Stopping the engine needs a yes: without a terminal, --yes.
    run(&["swarm", "-b"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "refusing to stop the Docker engine",
        ))
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(
        engine.pid(),
        pid_before,
        "a refused backup must not stop the engine"
    );
    assert!(!t.home().join("swarm-backup").exists());
    let out = run(&["swarm", "-b", "--yes"]).output().expect("iocdock");
    assert!(
        out.status.success(),
        "swarm -b failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        engine.log_tail()
    );
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        archive.starts_with(t.home().join("swarm-backup")),
        "{archive:?}"
    );
    assert!(
        archive
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".swarm.tar.gz")),
        "{archive:?}"
    );
    assert_ne!(engine.pid(), pid_before, "the engine was restarted");
    engine.wait_for(SecondEngine::is_manager, "the swarm after the backup");
    engine.docker(&["service", "rm", SERVICE]);
    assert!(!engine.services().contains(&SERVICE.to_string()));

    // Refused before the engine is touched: damaged, escaping, unconfirmed.
    let pid = engine.pid();
    let bytes = fs::read(&archive).expect("archive");
    let truncated = t.home().join("truncated.swarm.tar.gz");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let escaping = t.home().join("escaping.swarm.tar.gz");
    escaping_archive(&escaping);
    for (bad, expected) in [
        (&truncated, "not a readable .tar.gz archive"),
        (&escaping, "\"..\" is not allowed"),
    ] {
        run(&[
            "swarm",
            "-r",
            "--backup-file",
            bad.to_str().unwrap(),
            "--yes",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(expected));
    }
    run(&["swarm", "-r", "--backup-file", archive.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(
        engine.pid(),
        pid,
        "a refused restore must not stop the engine"
    );
    assert!(engine.is_manager());

    let out = run(&[
        "swarm",
        "-r",
        "--backup-file",
        archive.to_str().unwrap(),
        "--yes",
    ])
    .output()
    .expect("iocdock");
    assert!(
        out.status.success(),
        "swarm -r failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        engine.log_tail()
    );
    assert!(
        engine.is_manager(),
        "iocdock waits until the node manages again"
    );
    assert!(
        engine.services().contains(&SERVICE.to_string()),
        "{:?}",
        engine.services()
    );
    let kept: Vec<PathBuf> = fs::read_dir(engine.root().join("data"))
        .expect("data root")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("swarm.before-restore-"))
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].join("raft").is_dir(),
        "the old swarm folder is whole"
    );
    let leftovers: Vec<_> = fs::read_dir(engine.root().join("data"))
        .expect("data root")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".iocdock-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    eprintln!(
        "swarm backup/restore test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
