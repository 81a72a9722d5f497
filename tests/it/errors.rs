//! What a failing command prints: one `error:` line that names the file, IOC or option,
//! each cause once, and a non-zero exit code.

use std::fs;

use crate::TestContext;

/// Texts the OS puts in an error; an error line repeating one repeats its cause.
const OS_TEXTS: [&str; 6] = [
    "os error",
    "no such file or directory",
    "not a directory",
    "is a directory",
    "file exists",
    "permission denied",
];

/// Runs `iocdock ARGS` (with `env`) and checks the error report; returns the error line.
fn one_error_line(t: &TestContext, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = t.cmd(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("run iocdock");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success() && out.status.code().is_some(),
        "iocdock {args:?} should fail with an exit code: {stderr}"
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "iocdock {args:?}: {stderr}");
    let lower = stderr.to_lowercase();
    for text in OS_TEXTS {
        assert!(
            lower.matches(text).count() <= 1,
            "iocdock {args:?} repeats \"{text}\": {stderr}"
        );
    }
    errors[0].to_string()
}

#[test]
fn missing_source_folder_is_one_line() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    let line = one_error_line(&t, &["exec", "a", "--add-src-file", "/nonexistent"], &[]);
    assert!(line.contains("/nonexistent"), "{line}");
}

#[test]
fn repository_below_a_regular_file_names_the_path_once() {
    let t = TestContext::new();
    fs::create_dir_all(t.home().join("IocDock")).unwrap();
    fs::write(t.repository(), "not a folder").unwrap();
    let line = one_error_line(&t, &["create", "a"], &[]);
    assert!(line.contains("ioc-repository"), "{line}");
    assert!(line.to_lowercase().contains("file exists"), "{line}");
    assert!(!t.repository().is_dir());
}

#[test]
fn home_below_a_regular_file_is_one_line() {
    let t = TestContext::new();
    let file = t.home().join("plain");
    fs::write(&file, "").unwrap();
    let home = file.join("home");
    let line = one_error_line(
        &t,
        &["create", "a"],
        &[("IOCDOCK_HOME", home.to_str().unwrap())],
    );
    assert!(line.to_lowercase().contains("not a directory"), "{line}");
}

#[test]
fn settings_file_that_is_a_folder_is_one_line() {
    let t = TestContext::new();
    fs::create_dir(t.home().join("settings.yaml")).unwrap();
    let line = one_error_line(&t, &["list"], &[]);
    assert!(line.contains("settings.yaml"), "{line}");
    assert!(line.to_lowercase().contains("is a directory"), "{line}");
}

#[test]
fn malformed_settings_file_is_one_line() {
    let t = TestContext::new();
    t.write_settings("prefix_stack_name: [\n");
    let line = one_error_line(&t, &["list"], &[]);
    assert!(line.contains("settings.yaml"), "{line}");
}

#[test]
fn missing_archive_is_one_line() {
    let t = TestContext::new();
    t.ok(&["create", "a"]);
    let line = one_error_line(&t, &["exec", "a", "-r", "/nonexistent/backup.tar.gz"], &[]);
    assert!(line.contains("/nonexistent/backup.tar.gz"), "{line}");
}

#[test]
fn unreachable_engine_is_one_line_with_exit_3() {
    let t = TestContext::new();
    let out = t
        .cmd(&["swarm", "--show-digest"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let line = one_error_line(
        &t,
        &["swarm", "--show-digest"],
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
    );
    assert!(line.contains("/nonexistent.sock"), "{line}");
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
        &["service", "restart", "--restart"],
        &["swarm", "--digest"],
    ] {
        let stderr = usage_error(&t, args);
        assert!(!stderr.contains("similar"), "iocdock {args:?}: {stderr}");
        assert!(!stderr.contains("registry"), "iocdock {args:?}: {stderr}");
        assert!(!stderr.contains("--quiet"), "iocdock {args:?}: {stderr}");
    }
}
