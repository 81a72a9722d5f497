//! What a failing command prints: one `error:` line that names the file, IOC or option,
//! each cause once, and a non-zero exit code.

use std::fs;

use crate::TestContext;
use crate::transcript::Transcript;

/// Texts the OS puts in an error; an error line repeating one repeats its cause.
const OS_TEXTS: [&str; 6] = [
    "os error",
    "no such file or directory",
    "not a directory",
    "is a directory",
    "file exists",
    "permission denied",
];

/// Runs the command and checks the error report: a failure with an exit code, one
/// `error:` line, no OS text twice.
fn one_error(t: &TestContext, cmd: &mut assert_cmd::Command) -> Transcript {
    let run = t.transcript(cmd);
    let stderr = &run.stderr;
    assert!(
        run.code.is_some_and(|code| code != 0),
        "should fail with an exit code: {stderr}"
    );
    let errors = stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .count();
    assert_eq!(errors, 1, "{stderr}");
    let lower = stderr.to_lowercase();
    for text in OS_TEXTS {
        assert!(
            lower.matches(text).count() <= 1,
            "repeats \"{text}\": {stderr}"
        );
    }
    run
}

#[test]
fn missing_source_folder_is_one_line() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    let run = one_error(
        &t,
        &mut t.cmd(&["exec", "a", "--add-src-file", "/nonexistent"]),
    );
    assert_transcript!(run, @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: --add-src-file /nonexistent: no such folder (expected the folder to copy *.db, *.proto and *.im files from)
        ");
}

#[test]
fn repository_below_a_regular_file_names_the_path_once() {
    let t = TestContext::new();
    fs::create_dir_all(t.home().join("IocDock")).unwrap();
    fs::write(t.repository(), "not a folder").unwrap();
    let run = one_error(&t, &mut t.cmd(&["create", "a"]));
    assert_transcript!(run, @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/IocDock/ioc-repository: cannot create folder: File exists (os error 17)
        ");
    assert!(!t.repository().is_dir());
}

#[test]
fn home_below_a_regular_file_is_one_line() {
    let t = TestContext::new();
    let file = t.home().join("plain");
    fs::write(&file, "").unwrap();
    let home = file.join("home");
    let run = one_error(&t, t.cmd(&["create", "a"]).env("IOCDOCK_HOME", &home));
    assert_transcript!(run, @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/plain/home/settings.yaml: cannot read: Not a directory (os error 20)
        ");
}

#[test]
fn settings_file_that_is_a_folder_is_one_line() {
    let t = TestContext::new();
    fs::create_dir(t.home().join("settings.yaml")).unwrap();
    let run = one_error(&t, &mut t.cmd(&["list"]));
    assert_transcript!(run, @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: cannot read: Is a directory (os error 21)
        ");
}

#[test]
fn malformed_settings_file_is_one_line() {
    let t = TestContext::new();
    t.write_settings("prefix_stack_name: [\n");
    let run = one_error(&t, &mut t.cmd(&["list"]));
    assert_transcript!(run, @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: [HOME]/settings.yaml: not valid YAML: did not find expected node content at line 2 column 1, while parsing a flow node
        ");
}

#[test]
fn missing_archive_is_one_line() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    let run = one_error(
        &t,
        &mut t.cmd(&["exec", "a", "-r", "/nonexistent/backup.tar.gz"]),
    );
    assert_transcript!(run, @r"
        exit 1
        ----- stdout -----
        ----- stderr -----
        error: /nonexistent/backup.tar.gz: cannot open archive: No such file or directory (os error 2)
        ");
}

#[test]
fn unreachable_engine_is_one_line_with_exit_3() {
    let t = TestContext::new();
    let run = one_error(
        &t,
        t.cmd(&["swarm", "--show-digest"])
            .env("DOCKER_HOST", "unix:///nonexistent.sock"),
    );
    assert_eq!(run.code, Some(3));
    assert_transcript!(run, @r"
        exit 3
        ----- stdout -----
        ----- stderr -----
        error: cannot reach the Docker daemon at unix:///nonexistent.sock: no such file or directory: /nonexistent.sock (no engine listens there); start the engine (systemctl start docker), or point DOCKER_HOST at a running one
        ");
}

/// Runs `iocdock ARGS`, expecting the usage exit code, and returns stderr.
fn usage_error(t: &TestContext, args: &[&str]) -> String {
    let out = t.cmd(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "iocdock {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn slips_get_a_suggestion() {
    let t = TestContext::new();
    let stderr = usage_error(&t, &["lst"]);
    assert!(
        stderr.contains("a similar subcommand exists: 'list'"),
        "{stderr}"
    );
    let stderr = usage_error(&t, &["swarm", "--show-digst"]);
    assert!(
        stderr.contains("a similar argument exists: '--show-digest'"),
        "{stderr}"
    );
    let stderr = usage_error(&t, &["list", "--format", "jsn"]);
    assert!(
        stderr.contains("a similar value exists: 'json'"),
        "{stderr}"
    );
    t.write_settings("prefix_stack_nam: lab\n");
    let out = t.cmd(&["list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "unknown key \"prefix_stack_nam\" ignored (did you mean \"prefix_stack_name\"?)"
        ),
        "{stderr}"
    );
}

#[test]
fn unrelated_words_get_none() {
    let t = TestContext::new();
    for args in [
        &["restart", "a"][..],
        &["service", "restart", "--now"],
        &["swarm", "--digest"],
    ] {
        let stderr = usage_error(&t, args);
        assert!(!stderr.contains("similar"), "iocdock {args:?}: {stderr}");
        assert!(!stderr.contains("registry"), "iocdock {args:?}: {stderr}");
        assert!(!stderr.contains("--quiet"), "iocdock {args:?}: {stderr}");
    }
}

/// An option that only works with one action is refused with any other, not silently
/// left unused: clap lets these through when another action of the group is given.
#[test]
fn an_option_of_another_action_is_refused() {
    let t = TestContext::new();
    t.ok(&["create", "ioc1"]);
    for (args, line) in [
        (
            &["service", "ioc1", "--show-info", "--tail", "5"][..],
            "--tail goes with --show-logs",
        ),
        (
            &["service", "ioc1", "--deploy", "--follow"],
            "--follow goes with --show-logs",
        ),
        (
            &["service", "ioc1", "--show-info", "--yes"],
            "--yes goes with --remove",
        ),
        (
            &["service", "ioc1", "--show-info", "--force"],
            "--force goes with --deploy or --update",
        ),
        (
            &["service", "ioc1", "--stop", "--detach"],
            "--detach goes with --deploy, --update, --restart, --start or --rollback",
        ),
        (
            &["swarm", "--rebalance", "--detach"],
            "--detach goes with --drain-node, --update-deployed-services or --deploy-all-iocs",
        ),
        (
            &["swarm", "--show-nodes", "--force"],
            "--force goes with --deploy-all-iocs",
        ),
        (
            &["service", "ioc1", "--show-config", "--exit-code"],
            "--exit-code goes with --check-deploy",
        ),
        (
            &["swarm", "--show-nodes", "--service-type", "ioc"],
            "--service-type goes with --show-digest",
        ),
        (
            &["swarm", "--show-nodes", "--backup-file", "x.tgz"],
            "--backup-file goes with --restore-swarm",
        ),
        (
            &["exec", "ioc1", "--gen-startup-file", "--keep", "3"],
            "--keep goes with --gen-backup-file",
        ),
        (
            &[
                "exec",
                "ioc1",
                "--gen-startup-file",
                "--backup-path",
                "/tmp",
            ],
            "--backup-path goes with --gen-backup-file",
        ),
    ] {
        let stderr = usage_error(&t, args);
        assert_eq!(stderr, format!("error: {line}\n"), "iocdock {args:?}");
    }
    // Nothing was generated by the refused exec.
    assert!(
        !t.repository()
            .join("ioc1/project/startup/iocBoot/st.cmd")
            .exists()
    );
}
