//! The whole loop on this machine's swarm with a real EPICS IOC image: create,
//! exec --deploy, swarm --deploy-all-iocs, list -p Running, client caget, logs.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::docker::{StackGuard, docker_ready, swarm_context, unique_prefix};
use crate::{TestContext, project_file};

/// The demo IOC image (scripts/demo-image): EPICS base only in /opt/EPICS/base-7.0.8.1,
/// found through its environment, as in IocDock's own image.
pub(crate) const DEMO_IMAGE: &str = "iocdock-demo/ioc-exec:2.1";

/// Builds the demo image unless it exists (scripts/test.sh builds it before the tests).
pub(crate) fn demo_image() {
    let status = Command::new("bash")
        .arg(project_file("scripts/demo-image/build.sh"))
        .arg(DEMO_IMAGE)
        .status()
        .expect("bash");
    assert!(status.success(), "scripts/demo-image/build.sh failed");
}

pub(crate) fn wait_until(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Option<String>,
) -> String {
    let start = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub(crate) fn caget(t: &TestContext, pv: &str) -> (i32, String, String) {
    let out = t
        .cmd(&["client", "caget", pv])
        .output()
        .expect("iocdock client");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An IOC `name` of the test template on `image`, serving the ramper PVs `<pv>:…`,
/// with its sources added.
pub(crate) fn ioc_from_template(t: &TestContext, name: &str, image: &str, pv: &str) {
    let template = project_file("templates/test/test.ini");
    t.ok(&[
        "create",
        name,
        "-f",
        template.to_str().unwrap(),
        "-o",
        &format!("image={image}"),
        "module=",
    ]);
    t.ok(&[
        "set",
        name,
        "-s",
        "db",
        "-o",
        &format!("load=ramper.db, name={pv}"),
    ]);
    let sources = project_file("templates/test");
    t.ok(&["exec", name, "--add-src-file", sources.to_str().unwrap()]);
}

/// An IOC of the demo image (real EPICS) serving the ramper PVs `<name>:…`, exported:
/// ready to deploy. IOCs on the host network answer every search, so a test gives
/// names unique to its run.
pub(crate) fn ramper_ioc(t: &TestContext, name: &str) {
    ioc_from_template(t, name, DEMO_IMAGE, name);
    t.ok(&["exec", name, "--deploy"]);
}

#[test]
fn deployed_iocs_serve_changing_values_to_the_client() {
    if !docker_ready("e2e::deployed_iocs_serve_changing_values_to_the_client") {
        return;
    }
    demo_image();
    let prefix = unique_prefix("e2e");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    // PV names unique to this run: every IOC on the host network answers searches.
    let iocs = [format!("{prefix}a"), format!("{prefix}b")];
    for ioc in &iocs {
        ramper_ioc(&t, ioc);
    }
    t.ok(&["swarm", "--deploy-all-iocs", "--detach"]);

    // The client: a custom service named srv-client, so it runs as <prefix>_srv-client.
    let manager = t.home().join("IocDock");
    fs::write(
        manager.join("services.yaml"),
        "srv-client: client/client.yaml\n",
    )
    .unwrap();
    fs::create_dir_all(manager.join("client")).unwrap();
    fs::write(
        manager.join("client/client.yaml"),
        format!(
            "services:\n  srv-client:\n    image: {DEMO_IMAGE}\n    command: [sleep, infinity]\n    networks: [hostnet]\n    deploy:\n      placement:\n        constraints: [node.role==manager]\nnetworks:\n  hostnet:\n    external: true\n    name: host\n"
        ),
    )
    .unwrap();
    t.ok(&["service", "srv-client", "--deploy", "--detach"]);

    let panel = wait_until("both IOCs running", Duration::from_secs(90), || {
        let panel = t.ok(&["list", "-p"]);
        let running = panel
            .lines()
            .skip(1)
            .filter(|l| l.contains(" 1/1 ") || l.contains("Running"))
            .count();
        (running == 2).then_some(panel)
    });
    assert!(panel.contains("Running"), "{panel}");
    let digest = t.ok(&["swarm", "--show-digest", "--service-type", "ioc"]);
    assert_eq!(digest.matches("1/1").count(), 2, "{digest}");

    let pv = format!("ramper:{}", iocs[0]);
    let first = wait_until("a value from caget", Duration::from_secs(60), || {
        let (code, out, _) = caget(&t, &pv);
        (code == 0 && !out.trim().is_empty()).then_some(out)
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (code, second, err) = caget(&t, &pv);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("executing \"./caget"), "{err}");
    assert_ne!(first, second, "the ramper must move between two reads");

    // A PV nobody serves: the client tool's failure is iocdock's exit code.
    let (code, _, _) = caget(&t, &format!("nothing:{prefix}"));
    assert_ne!(code, 0);

    let logs = t.ok(&["service", &iocs[0], "--show-logs", "--tail", "50"]);
    assert!(
        logs.contains("iocRun: All initialization complete"),
        "{logs}"
    );

    // st.cmd writes its report through the logs/ mount; startup/ is read-only inside.
    let info = t.run_dir(&iocs[0]).join(format!("logs/{}.info", iocs[0]));
    wait_until("the report in logs/", Duration::from_secs(30), || {
        fs::read_to_string(&info)
            .ok()
            .filter(|text| text.contains("#date"))
    });
    let container = Command::new("docker")
        .args(["ps", "-q", "--filter"])
        .arg(format!(
            "label=com.docker.swarm.service.name={prefix}_srv-{}",
            iocs[0]
        ))
        .output()
        .expect("docker ps");
    let container = String::from_utf8_lossy(&container.stdout)
        .trim()
        .to_string();
    assert!(!container.is_empty(), "no running container of {}", iocs[0]);
    let write = |folder: &str| {
        Command::new("docker")
            .args(["exec", &container, "sh", "-c"])
            .arg(format!(
                "echo x > /opt/EPICS/RUN/{}/{folder}/probe",
                iocs[0]
            ))
            .status()
            .expect("docker exec")
            .success()
    };
    assert!(
        !write("startup"),
        "startup/ must be read-only in the container"
    );
    assert!(write("settings"), "settings/ stays writable");
    assert!(!t.run_dir(&iocs[0]).join("startup/probe").exists());
}
