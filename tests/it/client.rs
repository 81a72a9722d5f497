//! `iocdock client`: a tool run in the client service's container on this node.

use std::time::Duration;

use crate::docker::{StackGuard, TEST_IMAGE, docker, docker_ready, swarm_context, unique_prefix};
use crate::status::{create_service, run, wait_for};

/// Where IocDock's IOC image has the tools: `$EPICS_BASE/bin/$EPICS_HOST_ARCH`.
const BASE_BIN_DIR: &str = "/opt/EPICS/base-7.0.8.1/bin/linux-x86_64";
/// The image environment that names that folder.
const BASE_ENV: [&str; 4] = [
    "--env",
    "EPICS_BASE=/opt/EPICS/base-7.0.8.1",
    "--env",
    "EPICS_HOST_ARCH=linux-x86_64",
];

/// A global `<prefix>_srv-client` whose bin folder holds `tool`: it prints its
/// arguments, one line on stderr, and exits with its first argument.
fn client_service(prefix: &str, bin_dir: &str, extra: &[&str]) {
    let script = format!(
        "mkdir -p {bin_dir} && printf '#!/bin/sh\\necho args: \"$*\"\\necho in $(pwd) >&2\\nexit ${{1:-0}}\\n' > {bin_dir}/tool && chmod +x {bin_dir}/tool && exec sleep 100000"
    );
    let mut options = vec!["--mode", "global"];
    options.extend_from_slice(extra);
    create_service(
        prefix,
        "srv-client",
        &options,
        TEST_IMAGE,
        &["sh", "-c", &script],
    );
    let name = format!("{prefix}_srv-client");
    wait_for("client task running", Duration::from_secs(60), || {
        let state = docker(&["service", "ps", "--format", "{{.CurrentState}}", &name]);
        if state.starts_with("Running") {
            Ok(())
        } else {
            Err(state)
        }
    });
}

#[test]
fn client_passes_output_and_exit_code_through() {
    if !docker_ready("client_passes_output_and_exit_code_through") {
        return;
    }
    let prefix = unique_prefix("cl");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    client_service(&prefix, BASE_BIN_DIR, &BASE_ENV);

    // The script is written right after the task starts: retry until it exists.
    let mut result = (0, String::new(), String::new());
    wait_for(
        "tool in the client container",
        Duration::from_secs(30),
        || {
            result = run(&t, &["client", "tool", "3", "two words"], &[]);
            if result.1.contains("args:") {
                Ok(())
            } else {
                Err(format!("{result:?}"))
            }
        },
    );
    let (code, out, err) = result;
    assert_eq!(code, 3, "{err}");
    assert_eq!(out, "args: 3 two words\n");
    assert!(
        err.starts_with("executing \"./tool 3 'two words'\".\n"),
        "{err}"
    );
    assert!(err.contains(&format!("in {BASE_BIN_DIR}\n")), "{err}");

    let (code, out, _) = run(&t, &["client", "tool", "0"], &[]);
    assert_eq!((code, out.as_str()), (0, "args: 0\n"));
    let (code, _, err) = run(&t, &["-q", "client", "tool", "0"], &[]);
    assert_eq!(code, 0);
    assert!(
        !err.contains("executing"),
        "--quiet drops the status line: {err}"
    );

    // A tool that is not there: the runtime's own exit code and message.
    let (code, _, err) = run(&t, &["client", "no-such-tool"], &[]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("no-such-tool"), "{err}");
}

#[test]
fn client_bin_dir_comes_from_the_container_label() {
    if !docker_ready("client_bin_dir_comes_from_the_container_label") {
        return;
    }
    let prefix = unique_prefix("cb");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    let mut options = vec!["--container-label", "iocdock.epics-bin-dir=/opt/tools"];
    options.extend_from_slice(&BASE_ENV);
    client_service(&prefix, "/opt/tools", &options);
    let mut result = (0, String::new(), String::new());
    wait_for("tool in /opt/tools", Duration::from_secs(30), || {
        result = run(&t, &["client", "tool"], &[]);
        if result.1.contains("args:") {
            Ok(())
        } else {
            Err(format!("{result:?}"))
        }
    });
    let (code, _, err) = result;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("in /opt/tools\n"), "{err}");
}

#[test]
fn client_without_epics_base_in_the_environment_runs_the_tool_from_path() {
    if !docker_ready("client_without_epics_base_in_the_environment_runs_the_tool_from_path") {
        return;
    }
    let prefix = unique_prefix("cp");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    client_service(&prefix, "/usr/local/bin", &[]);
    let mut result = (0, String::new(), String::new());
    wait_for("tool in PATH", Duration::from_secs(30), || {
        result = run(&t, &["client", "tool", "4"], &[]);
        if result.1.contains("args:") {
            Ok(())
        } else {
            Err(format!("{result:?}"))
        }
    });
    let (code, out, err) = result;
    assert_eq!((code, out.as_str()), (4, "args: 4\n"), "{err}");
    assert!(err.starts_with("executing \"tool 4\".\n"), "{err}");
}

#[test]
fn client_without_a_client_service_says_so() {
    if !docker_ready("client_without_a_client_service_says_so") {
        return;
    }
    let prefix = unique_prefix("cn");
    let t = swarm_context(&prefix);
    let (code, out, err) = run(&t, &["client", "caget", "x"], &[]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "the client service {prefix}_srv-client is not deployed"
        )),
        "{err}"
    );
}
