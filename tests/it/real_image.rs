//! The real-image tier: IOCs on IocDock's own IOC image (EPICS base 7.0.8.1 with seq,
//! asyn, autosave, caPutLog, iocStats, StreamDevice and modbus, built by
//! `iocdock image build 1` from IocDock's archives), deployed by iocdock with the built-in
//! client and iocLogServer services of the same image.
//!
//! These tests run only when `IOCDOCK_REAL_IMAGE` names that image:
//! `scripts/test.sh --real-image` builds it (about 7 minutes on 2 cores, once) and
//! runs them. Otherwise they skip with a printed reason, in CI too: the image takes
//! too long to build for every run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::{fs, thread};

use crate::builtin::{Cleanup, free_port};
use crate::docker::{docker, docker_ready, unique_prefix};
use crate::image::{
    deploy_client_and_log_server, deploy_ioc, image_context, ioc_log_lines, wait_running,
};
use crate::status::{run, wait_for};
use crate::{TestContext, project_file};

/// caPutLogInit in st.cmd sends to this port of the IOC's node (SPEC §7).
const CA_PUT_LOG_PORT: u16 = 7004;

/// The image named by IOCDOCK_REAL_IMAGE, or None after printing why the test skips.
fn real_image(test: &str) -> Option<String> {
    let Some(image) = std::env::var("IOCDOCK_REAL_IMAGE")
        .ok()
        .filter(|i| !i.trim().is_empty())
    else {
        eprintln!(
            "SKIPPED {test}: IOCDOCK_REAL_IMAGE is not set (scripts/test.sh --real-image runs the real-image tier)"
        );
        return None;
    };
    if !docker_ready(test) {
        return None;
    }
    let found = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &image])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{test}: IOCDOCK_REAL_IMAGE={image} does not exist (scripts/test.sh --real-image builds it)"
    );
    Some(image)
}

/// `iocdock client caget` of `pvs`, retried until every one answers: PV → value.
fn caget(t: &TestContext, pvs: &[String], limit: Duration) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut args = vec!["client", "caget", "-w", "5"];
    args.extend(pvs.iter().map(String::as_str));
    wait_for("caget through the client service", limit, || {
        let (code, out, err) = run(t, &args, &[]);
        values = out
            .lines()
            .filter_map(|line| {
                let (pv, value) = line.split_once(char::is_whitespace)?;
                Some((pv.to_string(), value.trim().to_string()))
            })
            .collect();
        if code == 0 && pvs.iter().all(|pv| values.contains_key(pv)) {
            Ok(())
        } else {
            Err(format!("exit {code}: {out}{err}"))
        }
    });
    values
}

fn number(values: &BTreeMap<String, String>, pv: &str) -> f64 {
    values[pv]
        .parse()
        .unwrap_or_else(|_| panic!("{pv} = {:?} is no number", values[pv]))
}

/// The IOC's console output of its running task.
fn ioc_console(t: &TestContext, name: &str) -> String {
    let (_, out, err) = run(t, &["service", name, "--show-logs", "--tail", "2000"], &[]);
    out + &err
}

/// Waits until the IOC's console shows iocInit done, and returns it.
fn wait_ioc_init(t: &TestContext, name: &str) -> String {
    let mut console = String::new();
    wait_for(
        &format!("iocInit of {name}"),
        Duration::from_secs(120),
        || {
            console = ioc_console(t, name);
            if console.contains("iocRun: All initialization complete") {
                Ok(())
            } else {
                Err(console.clone())
            }
        },
    );
    console
}

/// Console lines that report a failure. Autosave reports on the first boot that it
/// has no save file yet; that notice is expected and not an error.
fn error_lines(console: &str) -> Vec<String> {
    console
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| {
            let lower = l.to_lowercase();
            [
                "error",
                "fail",
                "not found",
                "can't",
                "cannot",
                "unable",
                "invalid",
            ]
            .iter()
            .any(|word| lower.contains(word))
        })
        .filter(|l| !is_autosave_first_boot_notice(l))
        .map(str::to_string)
        .collect()
}

/// autosave's report that a save file to restore from does not exist yet (its
/// `Can't open file …sav`, `Trying backup file`, `Can't figure out which seq file
/// is most recent`, `Can't find a file to restore from… I give up`, `Can't open save
/// file.`), printed for each restore set before the first save, and its first save's
/// `Backup file (….savB) bad or not found.  Writing a new one.`
/// A notice printed after iocInit may follow the shell's `epics> ` prompt.
fn is_autosave_first_boot_notice(line: &str) -> bool {
    line.contains("save_restore:")
        && [
            "Can't open file",
            "Trying backup file",
            "Can't figure out which seq file is most recent",
            "Can't find a file to restore from",
            "Can't open save file.",
            "bad or not found.  Writing a new one.",
        ]
        .iter()
        .any(|notice| line.contains(notice))
}

#[test]
fn an_ioc_with_every_module_runs_and_keeps_its_values() {
    let test = "real_image::an_ioc_with_every_module_runs_and_keeps_its_values";
    let Some(image) = real_image(test) else {
        return;
    };
    assert!(
        TcpListener::bind(("0.0.0.0", CA_PUT_LOG_PORT)).is_ok(),
        "{test}: port {CA_PUT_LOG_PORT} of this machine is taken; caPutLog in st.cmd sends there, so the test's iocLogServer needs it"
    );
    let prefix = unique_prefix("ri");
    let mut cleanup = Cleanup {
        prefix: prefix.clone(),
        images: Vec::new(),
    };
    let t = image_context(&prefix);
    deploy_client_and_log_server(&t, &image, CA_PUT_LOG_PORT, &mut cleanup);
    let ioc = format!("{prefix}all");
    deploy_ioc(
        &t,
        &ioc,
        &image,
        "autosave, caputlog, status-ioc, status-os",
        &[],
    );
    for service in ["client", "iocLogServer", ioc.as_str()] {
        wait_running(&prefix, service, Duration::from_secs(120));
    }

    let console = wait_ioc_init(&t, &ioc);
    let errors = error_lines(&console);
    assert!(
        errors.is_empty(),
        "error lines at start:\n{}\n\nconsole:\n{console}",
        errors.join("\n")
    );

    // devIocStats answers through the client service's own caget. The I/O Intr
    // records get their first timer update within 20 s (CPU).
    let ioc_pvs = [
        "UPTIME",
        "IOC_CPU_LOAD",
        "MEM_USED",
        "CA_CLIENTS",
        "CA_CONNECTIONS",
        "RECORD_CNT",
        "FD_CNT",
        "FD_MAX",
        "EPICS_VERS",
        "HOSTNAME",
        "IOC_LOG_INET",
    ];
    let os_pvs = [
        "KERNEL_VER",
        "CPU_CNT",
        "SYS_CPU_LOAD",
        "MEM_TOTAL",
        "MEM_USED",
    ];
    let mut pvs: Vec<String> = ioc_pvs.iter().map(|p| format!("{ioc}:{p}")).collect();
    pvs.extend(os_pvs.iter().map(|p| format!("{ioc}:docker:{p}")));
    thread::sleep(Duration::from_secs(21));
    let values = caget(&t, &pvs, Duration::from_secs(60));
    let pv = |name: &str| format!("{ioc}:{name}");
    assert!(values[&pv("EPICS_VERS")].contains("7.0.8.1"), "{values:#?}");
    assert!(
        values[&pv("docker:KERNEL_VER")].starts_with("Linux"),
        "{values:#?}"
    );
    assert_eq!(values[&pv("IOC_LOG_INET")], "127.0.0.1", "{values:#?}");
    // st.cmd's report lists the IOC's records (dbl) in logs/<name>.info.
    let report = fs::read_to_string(t.run_dir(&ioc).join(format!("logs/{ioc}.info")))
        .expect("the IOC's report");
    let listed = report
        .lines()
        .skip_while(|l| *l != "#pv list")
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(listed > 30, "{report}");
    assert_eq!(
        number(&values, &pv("RECORD_CNT")),
        listed as f64,
        "{report}"
    );
    assert!(number(&values, &pv("MEM_USED")) > 1e6, "{values:#?}");
    assert!(number(&values, &pv("FD_CNT")) > 2.0, "{values:#?}");
    assert!(number(&values, &pv("FD_MAX")) > number(&values, &pv("FD_CNT")));
    assert!(number(&values, &pv("docker:CPU_CNT")) >= 1.0, "{values:#?}");
    assert!(
        number(&values, &pv("docker:MEM_TOTAL")) > 1e8,
        "{values:#?}"
    );
    assert!(number(&values, &pv("docker:MEM_USED")) > 0.0, "{values:#?}");
    for load in [pv("IOC_CPU_LOAD"), pv("docker:SYS_CPU_LOAD")] {
        let load = number(&values, &load);
        assert!((0.0..=100.0).contains(&load), "{values:#?}");
    }
    assert!(values[&pv("UPTIME")].contains(':'), "{values:#?}");

    // A caput is logged by caPutLog to the node's iocLogServer.
    let limit = format!("limit:{ioc}");
    let (code, out, err) = run(&t, &["client", "caput", &limit, "42"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let mut lines = Vec::new();
    wait_for("the caput in iocLog/", Duration::from_secs(60), || {
        lines = ioc_log_lines(&t);
        // `<client> <time> <ioc> <date> <time> <host> <user> limit:<ioc> new=42 old=10`:
        // caPutLog's line behind the IOC's log prefix, as iocLogServer files it.
        let logged = lines.iter().any(|l| {
            l.ends_with(&format!(" {limit} new=42 old=10"))
                && l.split_whitespace().nth(6) == Some(ioc.as_str())
                && l.split_once(' ')
                    .is_some_and(|(client, _)| client.contains(':'))
        });
        if logged {
            eprintln!(
                "caPutLog in iocLog/: {:?}",
                lines
                    .iter()
                    .filter(|l| l.contains(&limit))
                    .collect::<Vec<_>>()
            );
            Ok(())
        } else {
            Err(format!("{lines:#?}"))
        }
    });

    // Autosave writes the value (its monitor set runs every 10 s) and restores it
    // in the task that `service --update` starts.
    let saved = t
        .run_dir(&ioc)
        .join(format!("logs/autosave/{ioc}-automake-pass1.sav"));
    wait_for(
        "the value in the autosave file",
        Duration::from_secs(60),
        || {
            let text = fs::read_to_string(&saved).unwrap_or_default();
            if text
                .lines()
                .any(|l| l.starts_with(&limit) && l.ends_with(" 42"))
            {
                Ok(())
            } else {
                Err(text)
            }
        },
    );
    // The host network gives every container the node's host name; the start time
    // tells the new IOC from the old one.
    let started = pv("START_TOD");
    let before = caget(&t, std::slice::from_ref(&started), Duration::from_secs(30));
    t.ok(&["service", &ioc, "--update"]);
    wait_for("a new IOC process", Duration::from_secs(120), || {
        let (code, out, err) = run(&t, &["client", "caget", "-w", "5", &started], &[]);
        let now = out
            .lines()
            .find_map(|l| l.strip_prefix(started.as_str()))
            .map(str::trim);
        match now {
            Some(now) if code == 0 && now != before[&started] => Ok(()),
            _ => Err(format!("{out}{err}")),
        }
    });
    let restored = caget(&t, std::slice::from_ref(&limit), Duration::from_secs(30));
    assert_eq!(number(&restored, &limit), 42.0, "{restored:#?}");
    let console = container_console(&prefix, &ioc);
    assert!(
        console.contains(&format!("{ioc}-automake-pass1.sav")) && console.contains("iocRun"),
        "{console}"
    );
    let errors = error_lines(&console);
    assert!(
        errors.is_empty(),
        "error lines after the restart:\n{}\n\nconsole:\n{console}",
        errors.join("\n")
    );
}

/// The console output of the running container of `<prefix>_srv-<name>`.
fn container_console(prefix: &str, name: &str) -> String {
    let ids = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.swarm.service.name={prefix}_srv-{name}"),
    ]);
    let id = ids.lines().next().expect("a running container");
    let out = std::process::Command::new("docker")
        .args(["logs", id])
        .output()
        .expect("docker logs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A device on a TCP port: `TEMP?` → `TEMP 21.5`, `SET <x>` → `OK`; every line it
/// received is kept.
struct DeviceSimulator {
    port: u16,
    received: Arc<Mutex<Vec<String>>>,
}

impl DeviceSimulator {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("simulator port");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                thread::spawn(move || serve(stream, &log));
            }
        });
        DeviceSimulator { port, received }
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<String>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else {
            return;
        };
        let line = line.trim_end_matches('\r').to_string();
        let answer = if line == "TEMP?" {
            "TEMP 21.5".to_string()
        } else if line.starts_with("SET ") {
            "OK".to_string()
        } else {
            "ERR".to_string()
        };
        if let Ok(mut log) = log.lock() {
            log.push(line);
        }
        if writer.write_all(format!("{answer}\n").as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn stream_and_asyn_iocs_talk_to_a_device() {
    let test = "real_image::stream_and_asyn_iocs_talk_to_a_device";
    let Some(image) = real_image(test) else {
        return;
    };
    let device = DeviceSimulator::start();
    let prefix = unique_prefix("rd");
    let mut cleanup = Cleanup {
        prefix: prefix.clone(),
        images: Vec::new(),
    };
    let t = image_context(&prefix);
    deploy_client_and_log_server(&t, &image, free_port(), &mut cleanup);
    let address = format!("127.0.0.1:{}", device.port);

    // StreamDevice: a protocol file and records in src/, the port from [RAW].
    let stream = format!("{prefix}st");
    let sources = tempfile::tempdir().unwrap();
    fs::write(
        sources.path().join("device.proto"),
        "Terminator = LF;\nReplyTimeout = 2000;\n\
         getTemp { out \"TEMP?\"; in \"TEMP %f\"; }\n\
         setValue { out \"SET %.1f\"; in \"OK\"; }\n",
    )
    .unwrap();
    fs::write(
        sources.path().join("device.db"),
        "record(ai, \"$(name):TEMP\") {\n    field(DTYP, \"stream\")\n    field(INP, \"@device.proto getTemp L0\")\n    field(SCAN, \"1 second\")\n    field(PREC, \"1\")\n}\n\
         record(ao, \"$(name):SET\") {\n    field(DTYP, \"stream\")\n    field(OUT, \"@device.proto setValue L0\")\n    field(PREC, \"1\")\n}\n",
    )
    .unwrap();
    let template = project_file("templates/test/test.ini");
    t.ok(&[
        "create",
        &stream,
        "-f",
        template.to_str().unwrap(),
        "-o",
        &format!("image={image}"),
        "module=",
        "--add-stream",
    ]);
    t.ok(&[
        "exec",
        &stream,
        "--add-src-file",
        sources.path().to_str().unwrap(),
    ]);
    t.ok(&[
        "set",
        &stream,
        "-s",
        "raw",
        "-o",
        &format!(
            "cmd_before_dbload=epicsEnvSet(\"STREAM_PROTOCOL_PATH\", \"/opt/EPICS/RUN/{stream}/startup\");drvAsynIPPortConfigure(\"L0\",\"{address}\",0,0,0)"
        ),
        "file_copy=src/device.proto:startup/device.proto:r",
    ]);
    t.ok(&[
        "set",
        &stream,
        "-s",
        "db",
        "-o",
        &format!("load=device.db, name={stream}"),
    ]);
    t.ok(&["exec", &stream, "--deploy"]);
    t.ok(&["service", &stream, "--deploy"]);

    // asyn: the asyn record of the --add-asyn template on the same kind of port.
    let asyn = format!("{prefix}as");
    t.ok(&[
        "create",
        &asyn,
        "-f",
        template.to_str().unwrap(),
        "-o",
        &format!("image={image}"),
        "module=",
        "--add-asyn",
    ]);
    let ramper = project_file("templates/test");
    t.ok(&["exec", &asyn, "--add-src-file", ramper.to_str().unwrap()]);
    t.ok(&[
        "set",
        &asyn,
        "-s",
        "raw",
        "-o",
        &format!(
            "cmd_before_dbload=drvAsynIPPortConfigure(\"L0\",\"{address}\",0,0,0);asynOctetSetInputEos(\"L0\",0,\"\\n\");asynOctetSetOutputEos(\"L0\",0,\"\\n\")"
        ),
        &format!(
            "cmd_at_dbload=dbLoadRecords(\"db/asynRecord.db\",\"P={asyn}:,R=asyn,PORT=L0,ADDR=0,IMAX=100,OMAX=100\")"
        ),
    ]);
    t.ok(&[
        "set",
        &asyn,
        "-s",
        "db",
        "-o",
        &format!("load=ramper.db, name={asyn}"),
    ]);
    t.ok(&["exec", &asyn, "--deploy"]);
    t.ok(&["service", &asyn, "--deploy"]);

    for service in ["client", stream.as_str(), asyn.as_str()] {
        wait_running(&prefix, service, Duration::from_secs(120));
    }
    for ioc in [&stream, &asyn] {
        let console = wait_ioc_init(&t, ioc);
        let errors = error_lines(&console);
        assert!(
            errors.is_empty(),
            "{ioc}: error lines at start:\n{}\n\nconsole:\n{console}",
            errors.join("\n")
        );
    }

    // StreamDevice reads the device every second and writes to it on a caput.
    // The record answers as soon as the IOC runs; the device's value follows with the
    // first read that gets through.
    let temp = format!("{stream}:TEMP");
    wait_for(
        "the device's value in the stream record",
        Duration::from_secs(60),
        || {
            let values = caget(&t, std::slice::from_ref(&temp), Duration::from_secs(30));
            if values[&temp].parse::<f64>() == Ok(21.5) {
                Ok(())
            } else {
                Err(format!("{values:#?} {:?}", device.received()))
            }
        },
    );
    let (code, out, err) = run(
        &t,
        &["client", "caput", &format!("{stream}:SET"), "7.5"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    wait_for("SET at the device", Duration::from_secs(30), || {
        let received = device.received();
        if received.iter().any(|l| l == "SET 7.5") {
            Ok(())
        } else {
            Err(format!("{received:?}"))
        }
    });

    // The asyn record writes what it is given and reads the answer.
    let (code, out, err) = run(
        &t,
        &["client", "caput", &format!("{asyn}:asyn.AOUT"), "TEMP?"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let answer = format!("{asyn}:asyn.AINP");
    let mut values = BTreeMap::new();
    wait_for(
        "the device's answer in the asyn record",
        Duration::from_secs(30),
        || {
            values = caget(&t, std::slice::from_ref(&answer), Duration::from_secs(30));
            if values[&answer] == "TEMP 21.5" {
                Ok(())
            } else {
                Err(format!("{values:#?} {:?}", device.received()))
            }
        },
    );
}

/// The running container of `<prefix>_srv-<name>` on this node.
fn running_container(prefix: &str, name: &str) -> String {
    docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.swarm.service.name={prefix}_srv-{name}"),
    ])
    .trim()
    .to_string()
}

/// `iocdock service IOC --exec caget -w 5 PV` until it answers with `PV  value`.
fn caget_in_container(t: &TestContext, ioc: &str, pv: &str) -> String {
    let mut got = String::new();
    wait_for(
        &format!("caget {pv} in {ioc}'s container"),
        Duration::from_secs(90),
        || {
            let (code, out, err) = run(t, &["service", ioc, "--exec", "caget", "-w", "5", pv], &[]);
            got = out.clone();
            if code == 0 && out.starts_with(pv) {
                Ok(())
            } else {
                Err(format!("exit {code}: {out}{err}"))
            }
        },
    );
    got
}

#[test]
fn exec_attach_and_rollback_reach_the_real_ioc() {
    let test = "real_image::exec_attach_and_rollback_reach_the_real_ioc";
    let Some(image) = real_image(test) else {
        return;
    };
    let prefix = unique_prefix("rx");
    let _cleanup = Cleanup {
        prefix: prefix.clone(),
        images: Vec::new(),
    };
    let t = image_context(&prefix);
    let ioc = format!("{prefix}x");
    crate::e2e::ioc_from_template(&t, &ioc, &image, &ioc);
    t.ok(&["exec", &ioc, "--deploy"]);
    // Waits until the IOC's task runs.
    t.ok(&["service", &ioc, "--deploy"]);
    wait_ioc_init(&t, &ioc);

    // The image's own caget (EPICS_BASE's bin on the PATH), in the IOC's container.
    let first = format!("ramper:{ioc}");
    caget_in_container(&t, &ioc, &first);

    // ST-IOC's iocsh through a pseudo-terminal: dbl lists the records, the detach
    // keys leave the same container running.
    let before = running_container(&prefix, &ioc);
    assert!(!before.is_empty());
    let (code, screen) = crate::attach::typed_on_terminal(
        &t,
        &["service", &ioc, "--attach"],
        &[
            (Duration::from_secs(2), &b"\r"[..]),
            (Duration::from_secs(1), &b"dbl\r"[..]),
            (Duration::from_secs(3), &[0x10, 0x11][..]),
        ],
        &[],
    );
    assert_eq!(code, 0, "{screen}");
    for record in ["ramper", "limit", "step", "ctrl"] {
        assert!(
            screen.contains(&format!("{record}:{ioc}")),
            "dbl must list {record}:{ioc}: {screen}"
        );
    }
    assert!(screen.contains("it keeps running"), "{screen}");
    assert_eq!(running_container(&prefix, &ioc), before);

    // A second revision serves other PVs; the rollback puts the startup files back
    // (the records come from the substitutions file st.cmd loads) and the real IOC
    // boots them again.
    let substitutions = t
        .run_dir(&ioc)
        .join(format!("startup/db/{ioc}.substitutions"));
    let first_substitutions =
        fs::read_to_string(&substitutions).expect("substitutions in the run folder");
    let second = format!("{ioc}b");
    t.ok(&[
        "set",
        &ioc,
        "-s",
        "db",
        "-o",
        &format!("load=ramper.db, name={second}"),
    ]);
    t.ok(&["exec", &ioc, "--deploy"]);
    t.ok(&["service", &ioc, "--update"]);
    caget_in_container(&t, &ioc, &format!("ramper:{second}"));
    assert_ne!(
        fs::read_to_string(&substitutions).unwrap(),
        first_substitutions
    );

    let (code, _, err) = run(&t, &["service", &ioc, "--rollback"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("rolled back to revision 1"), "{err}");
    assert_eq!(
        fs::read_to_string(&substitutions).unwrap(),
        first_substitutions
    );
    caget_in_container(&t, &ioc, &first);
    let console = container_console(&prefix, &ioc);
    let errors = error_lines(&console);
    assert!(
        errors.is_empty(),
        "error lines after the rollback:\n{}\n\nconsole:\n{console}",
        errors.join("\n")
    );
}
