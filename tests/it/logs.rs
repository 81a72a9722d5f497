//! `service NAME --show-logs` with `--timestamps`, `--since` and `--previous` on the
//! real swarm. Each IOC's service is made with the docker CLI under the test's stack
//! prefix, as the other log tests do, so it prints known lines on the busybox image.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};

use crate::TestContext;
use crate::docker::{StackGuard, TEST_IMAGE, docker, docker_ready, swarm_context, unique_prefix};
use crate::status::{create_service, run, wait_for};

/// The engine's time in front of a line printed with `--timestamps`.
fn stamp(line: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(line.split_once(' ')?.0).ok()
}

/// The lines of a log, without the tty's carriage returns and empty lines.
fn lines(log: &str) -> Vec<&str> {
    log.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn timestamps_and_since() {
    if !docker_ready("logs::timestamps_and_since") {
        return;
    }
    let prefix = unique_prefix("ts");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    t.ok(&["create", "talker"]);
    create_service(
        &prefix,
        "srv-talker",
        &["--tty"],
        TEST_IMAGE,
        &[
            "sh",
            "-c",
            "echo early marker; sleep 4; echo late marker; exec sleep 100000",
        ],
    );
    let mut stamped = String::new();
    wait_for("both markers", Duration::from_secs(60), || {
        let (code, out, err) = run(
            &t,
            &["service", "talker", "--show-logs", "--timestamps"],
            &[],
        );
        stamped = out.clone();
        if code == 0 && out.contains("late marker") {
            Ok(())
        } else {
            Err(format!("{out}{err}"))
        }
    });
    let stamped_lines = lines(&stamped);
    assert_eq!(stamped_lines.len(), 2, "{stamped:?}");
    for line in &stamped_lines {
        assert!(stamp(line).is_some(), "no RFC 3339 time in front: {line:?}");
    }
    assert!(stamped_lines[0].ends_with(" early marker"), "{stamped:?}");
    assert!(stamped_lines[1].ends_with(" late marker"), "{stamped:?}");
    let early = stamp(stamped_lines[0]).expect("time");
    let late = stamp(stamped_lines[1]).expect("time");
    assert!(
        late - early >= chrono::Duration::seconds(3),
        "{early} .. {late}"
    );

    // Without --timestamps the lines are as the IOC printed them.
    let plain = t.ok(&["service", "talker", "--show-logs"]);
    assert_eq!(lines(&plain), ["early marker", "late marker"], "{plain:?}");

    // A time between the two lines leaves the early one out, with or without a stamp.
    let between = (early + chrono::Duration::seconds(2)).to_rfc3339();
    let since = t.ok(&["service", "talker", "--show-logs", "--since", &between]);
    assert_eq!(lines(&since), ["late marker"], "since {between}: {since:?}");
    let since = t.ok(&[
        "service",
        "talker",
        "--show-logs",
        "--since",
        &between,
        "--timestamps",
    ]);
    assert_eq!(
        lines(&since),
        [stamped_lines[1]],
        "since {between}: {since:?}"
    );

    // A duration counts back from now: an hour back has both lines, a time after
    // the last line none.
    let hour = t.ok(&["service", "talker", "--show-logs", "--since", "1h"]);
    assert_eq!(lines(&hour), ["early marker", "late marker"], "{hour:?}");
    let after = (late + chrono::Duration::seconds(2)).to_rfc3339();
    let none = t.ok(&["service", "talker", "--show-logs", "--since", &after]);
    assert_eq!(lines(&none), Vec::<&str>::new(), "since {after}: {none:?}");
}

/// The full id of the container running the task of `service` on this node, if any.
fn running_container(service: &str) -> Option<String> {
    let filter = format!("label=com.docker.swarm.service.name={service}");
    let ids = docker(&["ps", "-q", "--no-trunc", "--filter", &filter]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    match ids.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

#[test]
fn previous_shows_the_crashed_task_and_not_the_current_one() {
    if !docker_ready("logs::previous_shows_the_crashed_task_and_not_the_current_one") {
        return;
    }
    let prefix = unique_prefix("pv");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    t.ok(&["create", "crasher"]);
    let service = format!("{prefix}_srv-crasher");
    // A container's host name is the start of its id: each task says which it is.
    create_service(
        &prefix,
        "srv-crasher",
        &["--tty", "--restart-delay", "1s"],
        TEST_IMAGE,
        &["sh", "-c", "echo task $(hostname) up; exec sleep 100000"],
    );
    let mut first = String::new();
    wait_for("the first task's line", Duration::from_secs(60), || {
        first = running_container(&service).ok_or("no container yet")?;
        let (code, out, err) = run(&t, &["service", "crasher", "--show-logs"], &[]);
        if code == 0 && out.contains(&format!("task {} up", &first[..12])) {
            Ok(())
        } else {
            Err(format!("{out}{err}"))
        }
    });

    // Nothing has ended yet: no previous task, one line saying so, exit 1.
    let (code, out, err) = run(
        &t,
        &["service", "crasher", "--show-logs", "--previous"],
        &[],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: ioc service \"crasher\" ({service}) has no previous task"
        )),
        "{err}"
    );

    // A crash: swarm starts a new task in a new container.
    docker(&["kill", &first]);
    let mut second = String::new();
    wait_for("the new task's line", Duration::from_secs(60), || {
        second = running_container(&service)
            .filter(|id| *id != first)
            .ok_or("no new container yet")?;
        let (code, out, err) = run(&t, &["service", "crasher", "--show-logs"], &[]);
        if code == 0 && out.contains(&format!("task {} up", &second[..12])) {
            Ok(())
        } else {
            Err(format!("{out}{err}"))
        }
    });

    let previous = t.ok(&["service", "crasher", "--show-logs", "--previous"]);
    assert_eq!(
        lines(&previous),
        [format!("task {} up", &first[..12])],
        "{previous:?}"
    );
    let stamped = t.ok(&[
        "service",
        "crasher",
        "--show-logs",
        "--previous",
        "--timestamps",
    ]);
    let stamped = lines(&stamped);
    assert_eq!(stamped.len(), 1, "{stamped:?}");
    assert!(stamp(stamped[0]).is_some(), "{stamped:?}");
    assert!(
        stamped[0].ends_with(&format!(" task {} up", &first[..12])),
        "{stamped:?}"
    );
    // The current log still reads the current task.
    let current = t.ok(&["service", "crasher", "--show-logs", "--tail", "1"]);
    assert!(current.contains(&second[..12]), "{current:?}");
}

#[test]
fn a_bad_since_is_one_usage_line() {
    let t = TestContext::new();
    t.ok(&["create", "ioc1"]);
    // Checked before the engine is asked: no daemon is needed to refuse it.
    let gone = [(
        "DOCKER_HOST",
        "unix:///nonexistent/iocdock-test/docker.sock",
    )];
    for bad in ["yesterday", "10d", "-5m", "2026-12-04"] {
        let (code, out, err) = run(
            &t,
            &["service", "ioc1", "--show-logs", "--since", bad],
            &gone,
        );
        assert_eq!(code, 2, "{bad}: {err}");
        assert_eq!(out, "");
        assert_eq!(
            err,
            format!(
                "error: --since \"{bad}\": expected a duration back from now such as 10m, 2h or 1h30m, or an RFC 3339 time such as 2026-12-04T15:30:00Z\n"
            )
        );
    }
    // The log options go with --show-logs; --previous reads a task that ended, so it
    // has nothing to follow.
    for args in [
        &["service", "ioc1", "--show-info", "--since", "10m"][..],
        &["service", "ioc1", "--show-info", "--timestamps"],
        &["service", "ioc1", "--show-logs", "--previous", "--follow"],
    ] {
        let (code, _, err) = run(&t, args, &gone);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}
