//! `service NAME --exec CMD…` and `service NAME --attach` on this machine's swarm with
//! a real EPICS IOC (the demo image): a CA client run in the IOC's own container, and
//! the iocsh console reached through a pseudo-terminal, left with the detach keys.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::docker::{StackGuard, docker_ready, swarm_context, unique_prefix};
use crate::e2e::{demo_image, ramper_ioc};
use crate::{TestContext, bin};

/// The container of the IOC's running task on this node.
fn ioc_container(prefix: &str, ioc: &str) -> String {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter"])
        .arg(format!(
            "label=com.docker.swarm.service.name={prefix}_srv-{ioc}"
        ))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `iocdock service IOC --exec caget PV` once the IOC answers: (code, stdout, stderr).
fn exec(t: &TestContext, ioc: &str, command: &[&str]) -> (i32, String, String) {
    let mut args = vec!["service", ioc, "--exec"];
    args.extend_from_slice(command);
    let out = t.cmd(&args).output().expect("iocdock");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `iocdock ARGS` on a pseudo-terminal (util-linux `script`), typing each of
/// `keys` after its pause, and returns the exit code and what the terminal showed.
pub(crate) fn typed_on_terminal(
    t: &TestContext,
    args: &[&str],
    keys: &[(Duration, &[u8])],
    env: &[(&str, &str)],
) -> (i32, String) {
    let quoted: Vec<String> = std::iter::once(bin().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut child = Command::new("timeout")
        .args([
            "-k",
            "5",
            "120",
            "script",
            "-qec",
            &quoted.join(" "),
            "/dev/null",
        ])
        .env("IOCDOCK_HOME", t.home())
        .env_remove("MOUNT_PATH")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdin = child.stdin.take().expect("stdin");
    for (pause, bytes) in keys {
        std::thread::sleep(*pause);
        stdin.write_all(bytes).expect("type");
        stdin.flush().expect("type");
    }
    // Left open until the session ended: script hangs up its terminal at the end of
    // its input, which would end the session whether the keys worked or not.
    let out = child.wait_with_output().expect("script");
    drop(stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn exec_runs_a_ca_client_in_the_iocs_container_and_attach_reaches_its_iocsh() {
    if !docker_ready(
        "attach::exec_runs_a_ca_client_in_the_iocs_container_and_attach_reaches_its_iocsh",
    ) {
        return;
    }
    demo_image();
    let prefix = unique_prefix("att");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    let ioc = format!("{prefix}a");
    ramper_ioc(&t, &ioc);
    // Before the deploy: no service to run anything in.
    let (code, _, err) = exec(&t, &ioc, &["true"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not deployed"), "{err}");
    t.ok(&["service", &ioc, "--deploy", "--detach"]);
    let pv = format!("ramper:{ioc}");

    // caget of the demo image, on the container's PATH, in the IOC's own container.
    let start = std::time::Instant::now();
    let got = loop {
        let (code, out, err) = exec(&t, &ioc, &["caget", "-w", "5", &pv]);
        if code == 0 && out.contains(&pv) {
            break out + &err;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "caget through --exec: exit {code}: {out}{err}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        got.contains(&format!("executing \"caget -w 5 {pv}\"")),
        "{got}"
    );
    // The command's exit code is iocdock's, options of the command stay its own.
    let (code, _, err) = exec(&t, &ioc, &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("err"), "{err}");
    let (code, _, _) = exec(
        &t,
        &ioc,
        &["caget", "-w", "1", &format!("nothing:{prefix}")],
    );
    assert_ne!(code, 0);
    // One name only.
    let out = t
        .cmd(&["service", &ioc, &ioc, "--exec", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let before = ioc_container(&prefix, &ioc);
    assert!(!before.is_empty());
    let (code, screen) = typed_on_terminal(
        &t,
        &["service", &ioc, "--attach"],
        &[
            (Duration::from_secs(2), &b"\r"[..]),
            (Duration::from_secs(1), &b"dbl\r"[..]),
            // Once only: held back, so the IOC does not stop.
            (Duration::from_secs(3), &[0x03][..]),
            (Duration::from_secs(3), &[0x10, 0x11][..]),
        ],
        &[],
    );
    assert!(
        screen.contains("Ctrl-C would end the IOC; press it again within 2 s"),
        "{screen}"
    );
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("leave with ctrl-p,ctrl-q"), "{screen}");
    for record in ["ramper", "limit", "step", "ctrl"] {
        assert!(
            screen.contains(&format!("{record}:{ioc}")),
            "dbl must list {record}:{ioc}: {screen}"
        );
    }
    assert!(screen.contains("it keeps running"), "{screen}");
    // The same container still runs and serves.
    assert_eq!(ioc_container(&prefix, &ioc), before);
    let (code, out, err) = exec(&t, &ioc, &["caget", "-w", "5", &pv]);
    assert_eq!(code, 0, "{out}{err}");

    // Without a terminal, lines of a pipe go to the iocsh and its end detaches.
    let mut child = t
        .std_cmd(&["service", &ioc, "--attach"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"dbl\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ioc_container(&prefix, &ioc), before);
}
