//! Every `--help` is a snapshot, so a change of the command-line interface shows up
//! as a diff in review.

use crate::TestContext;

#[test]
fn help_texts() {
    let t = TestContext::new();
    let commands: &[&[&str]] = &[
        &[],
        &["create"],
        &["set"],
        &["update-image"],
        &["list"],
        &["edit"],
        &["remove"],
        &["rename"],
        &["update"],
        &["exec"],
        &["service"],
        &["swarm"],
        &["client"],
        &["cluster"],
        &["ansible"],
        &["registry"],
        &["make-certs"],
        &["config"],
        &["init"],
        &["completions"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let help = t.ok(&args);
        let name = if command.is_empty() {
            "iocdock".to_string()
        } else {
            format!("iocdock_{}", command.join("_"))
        };
        insta::assert_snapshot!(name, help);
    }
}

/// Subcommands whose examples need a Docker engine, the cluster's machines or its
/// registry: the snapshots above keep them, but they are not run here.
const NEED_THE_CLUSTER: [&str; 7] = [
    "update-image",
    "service",
    "swarm",
    "client",
    "cluster",
    "ansible",
    "registry",
];

const SUBCOMMANDS: [&str; 19] = [
    "create",
    "set",
    "update-image",
    "list",
    "edit",
    "remove",
    "rename",
    "update",
    "exec",
    "service",
    "swarm",
    "client",
    "cluster",
    "ansible",
    "registry",
    "make-certs",
    "config",
    "init",
    "completions",
];

/// The command lines under "Examples:" (comment lines left out).
fn examples(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| *line != "Examples:")
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(String::from)
        .collect()
}

/// IOCs `ioc1`, `ioc2` and `ioc3` that can be generated and exported, and a `./db`
/// folder with a database, which is what the examples speak of.
fn prepare(t: &TestContext, work: &std::path::Path) {
    std::fs::create_dir(work.join("db")).unwrap();
    std::fs::write(work.join("db/ramp.db"), "record(ai, \"$(P):ramp\") {}\n").unwrap();
    t.ok(&["create", "ioc1", "ioc2", "ioc3", "-o", "host=swarm"]);
    t.ok(&[
        "set",
        "ioc1",
        "ioc2",
        "ioc3",
        "-o",
        "image=registry.iasf/ioc-exec:1.1.0",
    ]);
    let db = work.join("db");
    t.ok(&[
        "exec",
        "ioc1",
        "ioc2",
        "ioc3",
        "--add-src-file",
        db.to_str().unwrap(),
    ]);
    t.ok(&[
        "set",
        "ioc1",
        "ioc2",
        "ioc3",
        "-s",
        "DB",
        "-o",
        "load=ramp.db, P=lab",
    ]);
}

#[test]
fn every_subcommand_has_examples_that_work_as_written() {
    let bin_dir = crate::bin().parent().expect("binary folder").to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for sub in SUBCOMMANDS {
        let t = TestContext::new();
        let found = examples(&t.ok(&[sub, "--help"]));
        assert!(
            (2..=3).contains(&found.len()),
            "iocdock {sub} --help: {found:?}"
        );
        assert!(
            found.iter().all(|line| line.contains("iocdock ")),
            "iocdock {sub} --help: {found:?}"
        );
        if NEED_THE_CLUSTER.contains(&sub) {
            continue;
        }
        let work = tempfile::tempdir().unwrap();
        if !["create", "init", "make-certs", "config", "completions"].contains(&sub) {
            prepare(&t, work.path());
        }
        for line in found {
            // No engine: the examples run must not need one.
            let out = std::process::Command::new("bash")
                .args(["-c", &line])
                .current_dir(work.path())
                .env("PATH", &path)
                .env("HOME", work.path())
                .env("IOCDOCK_HOME", t.home())
                .env("DOCKER_HOST", "unix:///nonexistent.sock")
                .env("VISUAL", "true")
                .env_remove("MOUNT_PATH")
                .env_remove("EDITOR")
                .stdin(std::process::Stdio::null())
                .output()
                .expect("bash");
            assert!(
                out.status.success(),
                "example of `iocdock {sub} --help` failed: {line}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
