//! `iocdock image build|push|list|prepare` end to end with small inputs: the OS image
//! of scripts/os-image (Debian with apt, whose RUN steps reach the package mirror), a
//! fake "EPICS base" whose make installs a makeBaseApp.pl and whose IOC makefile
//! checks what it links, and fake module archives (tar.gz and zip) whose makefiles
//! check that RELEASE.local names what they need. Pushes go to Debian's
//! docker-registry serving make-certs' certificate.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::TestContext;
use crate::builtin::free_port;
use crate::cluster::tool_ready;
use crate::docker::{docker, docker_ready};
use crate::registry::{DockerState, certs, start_registry};

/// Made by scripts/os-image/build.sh (scripts/test.sh runs it).
const OS_IMAGE: &str = "iocdock-test/debian:bookworm";

fn os_image_ready(test: &str) -> bool {
    if !docker_ready(test) {
        return false;
    }
    let found = Command::new("docker")
        .args(["image", "inspect", OS_IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !crate::docker::in_ci(),
            "{test}: CI needs {OS_IMAGE} (scripts/os-image/build.sh, run by scripts/test.sh)"
        );
        eprintln!("SKIPPED {test}: {OS_IMAGE} missing (run scripts/os-image/build.sh)");
    }
    found
}

/// A tar.gz of `files` (path below the archive's top folder, contents, mode).
fn tar_gz(path: &Path, top: &str, files: &[(&str, String, u32)]) {
    let out = fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (name, text, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{top}/{name}"), text.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

/// A zip of the same, made with Python's zipfile (no zip tool is needed on the host).
fn zip(path: &Path, top: &str, files: &[(&str, String, u32)]) {
    let staging = tempfile::tempdir().unwrap();
    for (name, text, _) in files {
        let file = staging.path().join(top).join(name);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    }
    let status = Command::new("python3")
        .current_dir(staging.path())
        .args(["-m", "zipfile", "-c"])
        .arg(path)
        .arg(top)
        .status()
        .expect("python3");
    assert!(status.success());
}

/// The fake EPICS base: `make` installs makeBaseApp.pl, softIoc and the IOC makefile
/// template into INSTALL_LOCATION, which the build appends to configure/CONFIG_SITE.
fn fake_base(path: &Path) {
    let makefile = "include configure/CONFIG_SITE\n\
all:\n\
\ttest -n \"$(INSTALL_LOCATION)\"\n\
\tmkdir -p $(INSTALL_LOCATION)/bin/linux-x86_64 $(INSTALL_LOCATION)/dbd $(INSTALL_LOCATION)/templates\n\
\tinstall -m 755 tools/makeBaseApp.pl tools/softIoc $(INSTALL_LOCATION)/bin/linux-x86_64/\n\
\tinstall -m 644 tools/ioc.mk $(INSTALL_LOCATION)/templates/\n\
\techo 'include \"base.dbd\"' > $(INSTALL_LOCATION)/dbd/base.dbd\n";
    // -t ioc NAME: the app's makefiles with the marker lines of the real template;
    // -i -t ioc: reads the app name from stdin and makes iocBoot/ioc<name>.
    let make_base_app = r#"#!/bin/sh
set -eu
base="$(cd "$(dirname "$0")/../.." && pwd)"
if [ "$1" = "-i" ]; then
    read -r app
    mkdir -p "iocBoot/ioc$app"
    printf '#!../../bin/linux-x86_64/%s\n< envPaths\n' "$app" > "iocBoot/ioc$app/st.cmd"
    exit 0
fi
name="$3"
mkdir -p configure "${name}App/src" "${name}App/Db"
printf 'EPICS_BASE=%s\n-include $(TOP)/../RELEASE.local\n' "$base" > configure/RELEASE
printf 'TOP=../..\n#%s_LIBS += xxx\n%s_LIBS += $(EPICS_BASE_IOC_LIBS)\n' "$name" "$name" > "${name}App/src/Makefile"
printf 'TOP=../..\n#DB += xxx.db\n' > "${name}App/Db/Makefile"
sed "s/@NAME@/$name/g" "$base/templates/ioc.mk" > Makefile
"#;
    // The IOC's make: every dbd and library the app makefile names must be found in
    // the modules of RELEASE.local; the executable, dbd, envPaths and db files appear
    // where EPICS puts them.
    let ioc_mk = r#"TOP=.
include configure/RELEASE
include @NAME@App/src/Makefile
include @NAME@App/Db/Makefile
TOP=.
MODULES := $(shell cut -d= -f2 ../RELEASE.local)
all:
	mkdir -p bin/linux-x86_64 dbd db iocBoot/ioc@NAME@
	cat $(EPICS_BASE)/dbd/base.dbd > dbd/@NAME@.dbd
	for d in $(@NAME@_DBD); do \
	    f=$$(ls @NAME@App/src/$$d $(addsuffix /dbd/$$d,$(MODULES)) 2>/dev/null | head -n1); \
	    test -n "$$f" || { echo "no $$d in any module" >&2; exit 1; }; \
	    cat "$$f" >> dbd/@NAME@.dbd; done
	for l in $(@NAME@_LIBS); do \
	    ls $(addsuffix /lib/linux-x86_64/lib$$l.a,$(MODULES)) 2>/dev/null | grep -q . || \
	    { echo "no library $$l in any module" >&2; exit 1; }; \
	    echo "$$l" >> dbd/@NAME@.libs; done
	for f in $(DB_INSTALLS); do cp "$$f" db/; done
	{ echo 'epicsEnvSet("TOP","$(CURDIR)")'; sed 's/^\(.*\)=\(.*\)$$/epicsEnvSet("\1","\2")/' ../RELEASE.local; } > iocBoot/ioc@NAME@/envPaths
	printf '#!/bin/sh\necho "@NAME@ of the fake base"\n' > bin/linux-x86_64/@NAME@
	chmod 755 bin/linux-x86_64/@NAME@
"#;
    tar_gz(
        path,
        "fakebase-7.0.0",
        &[
            ("Makefile", makefile.to_string(), 0o644),
            ("configure/CONFIG_SITE", "# site\n".to_string(), 0o644),
            ("tools/makeBaseApp.pl", make_base_app.to_string(), 0o755),
            (
                "tools/softIoc",
                "#!/bin/sh\necho softIoc\n".to_string(),
                0o755,
            ),
            ("tools/ioc.mk", ioc_mk.to_string(), 0o644),
        ],
    );
}

/// A fake support module: make checks EPICS_BASE and each needed variable in
/// RELEASE.local, then makes its libraries, dbd and db files.
struct FakeModule {
    top: &'static str,
    needs: &'static [&'static str],
    libs: &'static [&'static str],
    dbd: &'static [&'static str],
    db: &'static [&'static str],
}

fn fake_module(path: &Path, module: &FakeModule, extra: &str) {
    let mut make = String::from(
        "TOP=.\n-include $(TOP)/../RELEASE.local\nall:\n\ttest -x $(EPICS_BASE)/bin/linux-x86_64/softIoc\n",
    );
    for need in module.needs {
        make.push_str(&format!("\ttest -d $({need})/lib/linux-x86_64\n"));
    }
    make.push_str("\tmkdir -p lib/linux-x86_64 dbd db\n");
    for lib in module.libs {
        make.push_str(&format!("\techo {extra} > lib/linux-x86_64/lib{lib}.a\n"));
    }
    for dbd in module.dbd {
        make.push_str(&format!("\techo '# {dbd} of {}' > dbd/{dbd}\n", module.top));
    }
    for db in module.db {
        make.push_str(&format!("\techo 'record(ai, \"x\") {{}}' > db/{db}\n"));
    }
    let files = [("Makefile", make, 0o644)];
    if path.extension().is_some_and(|e| e == "zip") {
        zip(path, module.top, &files);
    } else {
        tar_gz(path, module.top, &files);
    }
}

const ALPHA: FakeModule = FakeModule {
    top: "alpha-1.0",
    needs: &[],
    libs: &["alpha"],
    dbd: &["alpha.dbd"],
    db: &[],
};
const ASYN: FakeModule = FakeModule {
    top: "asyn-R4-44-2",
    needs: &[],
    libs: &["asyn"],
    dbd: &["asyn.dbd", "drvAsynIPPort.dbd"],
    db: &["asynRecord.db"],
};
const STREAM: FakeModule = FakeModule {
    top: "StreamDevice-2.8.24",
    needs: &["ASYN"],
    libs: &["stream"],
    dbd: &["stream.dbd"],
    db: &[],
};

/// The module-set file of the test: releases named after `tag` so parallel runs and
/// earlier runs never share an image name.
fn module_file(base_sha256: &str, tag: &str) -> String {
    format!(
        "base:\n  version: 7.0.0\n  release: {tag}\n  archive: fakebase.tar.gz\n  sha256: {base_sha256}\n\
         \x20 packages: [make]\n\
         ioc_exec:\n  release: {tag}\n  packages: [unzip]\n  purge: [unzip]\n\
         modules:\n\
         \x20 alpha: {{version: \"1.0\", archive: alpha.zip, variable: ALPHA, libs: [alpha], dbd: [alpha.dbd]}}\n\
         \x20 asyn:\n    version: R4-44-2\n    archive: asyn.tar.gz\n    variable: ASYN\n    libs: [asyn]\n\
         \x20   dbd: [asyn.dbd, drvAsynIPPort.dbd]\n    db: [asynRecord.db]\n\
         \x20 StreamDevice: {{version: 2.8.24, archive: stream.tar.gz, variable: STREAM, depends: [asyn], libs: [stream], dbd: [stream.dbd]}}\n\
         sets:\n  \"0\": [alpha]\n  \"1\": [StreamDevice, asyn, alpha]\n"
    )
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

fn inspect(image: &str, format: &str) -> String {
    docker(&["image", "inspect", "--format", format, image])
        .trim()
        .to_string()
}

fn labels(image: &str) -> BTreeMap<String, String> {
    serde_json::from_str(&inspect(image, "{{json .Config.Labels}}")).unwrap()
}

/// Removes the test's image names (and the images, when nothing else names them).
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        // Names first, then the ids of images a rebuild replaced (left without a name).
        for image in &self.0 {
            let _ = Command::new("docker").args(["rmi", image]).output();
        }
    }
}

/// The row of `image` in `image list --format json`, checked against its schema.
fn listed(t: &TestContext, image: &str) -> serde_json::Value {
    let list = crate::json::valid("image-list", &t.ok(&["image", "list", "--format", "json"]));
    list["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["image"] == image)
        .unwrap_or_else(|| panic!("{list}"))
        .clone()
}

fn write_inputs(t: &TestContext, tag: &str) -> PathBuf {
    let sources = t.home().join("IocDock/image-sources");
    fs::create_dir_all(&sources).unwrap();
    fake_base(&sources.join("fakebase.tar.gz"));
    fake_module(&sources.join("alpha.zip"), &ALPHA, "1");
    fake_module(&sources.join("asyn.tar.gz"), &ASYN, "1");
    fake_module(&sources.join("stream.tar.gz"), &STREAM, "1");
    let templates = t.home().join("IocDock/templates/image");
    fs::create_dir_all(&templates).unwrap();
    fs::write(
        templates.join("modules.yaml"),
        module_file(&sha256_of(&sources.join("fakebase.tar.gz")), tag),
    )
    .unwrap();
    sources
}

#[test]
fn a_module_set_file_error_names_its_line_and_nothing_is_built() {
    let t = TestContext::new();
    t.write_settings("registry_common_name: localhost\n");
    write_inputs(&t, "t0");
    let file = t.home().join("IocDock/templates/image/modules.yaml");
    let text = fs::read_to_string(&file)
        .unwrap()
        .replace("depends: [asyn]", "depends: [asin]");
    fs::write(&file, &text).unwrap();
    let line = text.lines().position(|l| l.contains("[asin]")).unwrap() + 1;
    let out = t.cmd(&["image", "build", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "error: {}:{line}: module \"StreamDevice\" depends on \"asin\", which is not under modules",
            file.display()
        )
    );
    // An unknown set is a usage error naming the sets there are.
    fs::write(&file, text.replace("[asin]", "[asyn]")).unwrap();
    let out = t.cmd(&["image", "build", "7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("module set \"7\" is not in"), "{err}");
    assert!(err.contains("(its sets: 0, 1)"), "{err}");
}

#[test]
fn images_build_from_sources_rebuild_only_on_change_and_push_to_the_registry() {
    let test = "image_build";
    if !os_image_ready(test) || !tool_ready(test, "docker-registry", "docker-registry") {
        return;
    }
    let t = TestContext::new();
    let port = free_port();
    let tag = format!("t{port}");
    let settings = format!(
        "prefix_stack_name: imgtest\nregistry_common_name: localhost\nregistry_master_ip: 127.0.0.1\n\
         registry_push_port: {port}\nregistry_push_username: pusher\nregistry_push_password: pw-{port}\n\
         image_os_image: {OS_IMAGE}\n"
    );
    t.write_settings(&settings);
    let sources = write_inputs(&t, &tag);
    let base = format!("localhost/base:{tag}");
    let ioc_exec = format!("localhost/ioc-exec:{tag}.1");
    let mut images = Images(vec![ioc_exec.clone(), base.clone()]);

    // Base and set 1; the environment of the base reaches the ioc-exec image.
    let out = t
        .cmd(&["image", "build", "1", "--jobs", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("{base}: built (")), "{err}");
    assert!(err.contains(&format!("{ioc_exec}: built (")), "{err}");
    assert!(err.contains("Step 1/"), "one line per step: {err}");
    let env = inspect(&ioc_exec, "{{json .Config.Env}}");
    assert!(
        env.contains("\"EPICS_BASE=/opt/EPICS/base-7.0.0\""),
        "{env}"
    );
    assert!(env.contains("\"EPICS_HOST_ARCH=linux-x86_64\""), "{env}");
    assert!(
        env.contains(":/opt/EPICS/base-7.0.0/bin/linux-x86_64\""),
        "{env}"
    );
    let base_labels = labels(&base);
    assert_eq!(base_labels["org.iocdock.epics-base.version"], "7.0.0");
    assert_eq!(
        base_labels["org.iocdock.epics-base.sha256"],
        sha256_of(&sources.join("fakebase.tar.gz"))
    );
    let exec_labels = labels(&ioc_exec);
    assert_eq!(exec_labels["org.iocdock.set"], "1");
    assert_eq!(
        exec_labels["org.iocdock.modules"],
        "asyn=R4-44-2,StreamDevice=2.8.24,alpha=1.0"
    );
    assert_eq!(
        exec_labels["org.iocdock.module.alpha.sha256"],
        sha256_of(&sources.join("alpha.zip"))
    );

    // The IOC executable and what EPICS generates around it, in the genuine layout;
    // the build tools of the ioc-exec step are gone again.
    let look = docker(&[
        "run",
        "--rm",
        &ioc_exec,
        "sh",
        "-c",
        "cd /opt/EPICS/IOC/ST-IOC && bin/linux-x86_64/ST-IOC && cat dbd/ST-IOC.dbd dbd/ST-IOC.libs \
         iocBoot/iocST-IOC/envPaths && ls db && (command -v unzip || echo no-unzip) && pwd",
    ]);
    assert!(look.contains("ST-IOC of the fake base"), "{look}");
    for expected in [
        "# stream.dbd of StreamDevice-2.8.24",
        "# drvAsynIPPort.dbd of asyn-R4-44-2",
        "registrar(iocshSystemCommand)",
        "asynRecord.db",
        "epicsEnvSet(\"ASYN\",\"/opt/EPICS/SUPPORT/asyn-R4-44-2\")",
        "epicsEnvSet(\"TOP\",\"/opt/EPICS/IOC/ST-IOC\")",
        "no-unzip",
    ] {
        assert!(look.contains(expected), "{expected}: {look}");
    }
    let libs: Vec<&str> = look
        .lines()
        .filter(|l| ["alpha", "stream", "asyn"].contains(l))
        .collect();
    assert_eq!(
        libs,
        ["alpha", "stream", "asyn"],
        "a library before those it uses: {look}"
    );

    // The same inputs: nothing is built.
    let ids = (inspect(&base, "{{.Id}}"), inspect(&ioc_exec, "{{.Id}}"));
    images.0.extend([ids.1.clone(), ids.0.clone()]);
    let out = t.cmd(&["image", "build", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("{base}: up to date")), "{err}");
    assert!(err.contains(&format!("{ioc_exec}: up to date")), "{err}");
    assert!(!err.contains("Step "), "{err}");
    assert_eq!(
        ids,
        (inspect(&base, "{{.Id}}"), inspect(&ioc_exec, "{{.Id}}"))
    );

    // A changed module archive rebuilds its ioc-exec image only.
    fake_module(&sources.join("stream.tar.gz"), &STREAM, "2");
    let out = t.cmd(&["image", "build", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("{base}: up to date")), "{err}");
    assert!(err.contains(&format!("{ioc_exec}: built (")), "{err}");
    assert_ne!(ids.1, inspect(&ioc_exec, "{{.Id}}"));

    // On a terminal the steps go to a spinner with the elapsed time, not a line each;
    // --force builds the base again too.
    if let Some((code, screen)) =
        t.on_terminal(&["image", "build", "0", "--force", "--jobs", "2"], "")
    {
        assert_eq!(code, 0, "{screen}");
        let exec_0 = format!("localhost/ioc-exec:{tag}.0");
        assert!(
            screen.contains(&format!("{exec_0} [")),
            "a spinner: {screen}"
        );
        assert!(screen.contains(&format!("{exec_0}: built (")), "{screen}");
        assert!(!screen.lines().any(|l| l.starts_with("Step ")), "{screen}");
        // --force builds anew, without the engine's cached layers.
        assert_ne!(inspect(&base, "{{.Id}}"), ids.0, "{screen}");
        docker(&["rmi", &exec_0]);
    }

    // A module whose make fails: the build's last lines and the failed step make the
    // error, exit 1, and no image of the set is made.
    zip(
        &sources.join("alpha.zip"),
        "alpha-1.0",
        &[(
            "Makefile",
            "all:\n\t@echo 'alpha: no compiler for this' >&2; exit 2\n".to_string(),
            0o644,
        )],
    );
    let exec_0 = format!("localhost/ioc-exec:{tag}.0");
    let out = t.cmd(&["image", "build", "0"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("\nalpha: no compiler for this\n"), "{err:?}");
    assert!(
        err.contains(&format!("error: {exec_0}: the build failed: ")),
        "{err}"
    );
    assert!(err.contains("returned a non-zero code: 2\n"), "{err}");
    // The builder colours what RUN steps print on stderr; none of it reaches here.
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(!err.contains("Docker stream error"), "{err}");
    let made = Command::new("docker")
        .args(["image", "inspect", &exec_0])
        .output()
        .unwrap();
    assert!(!made.status.success(), "{exec_0} must not exist");

    // An IOC on the image (for the list) whose default modules need what the fake
    // set lacks: create says so, from the image's labels.
    let image_option = format!("image={ioc_exec}");
    let out = t
        .cmd(&["create", "ioc1", "-o", &image_option])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "warning: IOC \"ioc1\": module caputlog needs the support module caPutLog, which image {ioc_exec} lacks (it has asyn=R4-44-2, StreamDevice=2.8.24, alpha=1.0)"
        )),
        "{err}"
    );
    assert!(
        err.contains("module autosave needs the support module autosave"),
        "{err}"
    );

    // Push into the registry the push login writes to; `registry --list` sees both.
    t.ok(&["make-certs", "--localhost"]);
    let auth = t.mount().join("swarm/registry/auth");
    fs::create_dir_all(&auth).unwrap();
    let hash = bcrypt::hash_with_result(format!("pw-{port}"), 5)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    fs::write(auth.join("htpasswd"), format!("pusher:{hash}\n")).unwrap();
    let _registry = start_registry(&t, port);
    let trust = DockerState {
        certs_d: PathBuf::from(format!("/etc/docker/certs.d/localhost:{port}")),
        tag: String::new(),
    };
    fs::create_dir_all(&trust.certs_d).unwrap();
    fs::copy(certs(&t).join("ca.crt"), trust.certs_d.join("ca.crt")).unwrap();
    let out = t.cmd(&["image", "push", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "{ioc_exec}: pushed as localhost:{port}/ioc-exec:{tag}.1"
        )),
        "{err}"
    );
    assert_eq!(t.ok(&["registry", "--list"]), "base\nioc-exec\n");
    assert_eq!(
        t.ok(&["registry", "--list", "ioc-exec"]),
        format!("{tag}.1\n")
    );
    // No push name is left behind on the engine.
    let names = docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!names.contains(&format!("localhost:{port}/")), "{names}");

    // The list: set, modules, here and in the registry, and the IOC on it.
    let row = listed(&t, &ioc_exec);
    assert_eq!(row["set"], "1");
    assert_eq!(row["modules"], "asyn StreamDevice alpha");
    assert_eq!(row["in_registry"], true);
    assert_eq!(row["iocs"], serde_json::json!(["ioc1"]));
    let table = t.ok(&["image", "list"]);
    assert!(table.contains("asyn StreamDevice alpha"), "{table}");

    // Gone from this engine, the image is still listed from the registry, with the
    // modules its labels there name.
    docker(&["rmi", &ioc_exec]);
    let row = listed(&t, &ioc_exec);
    assert_eq!(row["local"], serde_json::Value::Null);
    assert_eq!(row["in_registry"], true);
    assert_eq!(row["modules"], "asyn StreamDevice alpha");
    assert_eq!(row["base"], "7.0.0");
    assert_eq!(row["iocs"], serde_json::json!(["ioc1"]));

    // prepare: a service image found on this engine is copied, one that can be had
    // nowhere is reported by its key, and the command fails.
    let services = t.home().join("IocDock/imsrvs");
    fs::create_dir_all(&services).unwrap();
    fs::write(
        services.join("images.yaml"),
        "busybox:\n  image: iocdock-test/busybox\n  tag: latest\nnowhere:\n  image: localhost/iocdock-none\n  tag: \"1\"\n",
    )
    .unwrap();
    let out = t.cmd(&["image", "prepare"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("busybox: iocdock-test/busybox:latest pushed as localhost:{port}/iocdock-test/busybox:latest")),
        "{err}"
    );
    assert!(err.contains("error: nowhere: not on this engine"), "{err}");
    assert!(
        err.contains("were not copied into the registry: nowhere"),
        "{err}"
    );
    assert_eq!(
        t.ok(&["registry", "--list"]),
        "base\nioc-exec\niocdock-test/busybox\n"
    );
}
