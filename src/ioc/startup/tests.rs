use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::render::{render_st_cmd, render_substitutions};
use super::write::swap_by_renames;
use super::*;
use crate::embedded::Templates;
use crate::ini::IniDocument;
use crate::ioc::config::{self, IniChanges, RawTemplate, new_ioc_ini};
use crate::ioc::repository::SRC_DIR;
use crate::ioc::state::IocState;
use crate::settings::{Overrides, Settings};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn settings() -> Settings {
    match Settings::load(Overrides {
        home_flag: Some(PathBuf::from("/nonexistent/iocdock-test-home")),
        ..Default::default()
    }) {
        Ok(loaded) => loaded.settings,
        Err(e) => panic!("default settings: {e}"),
    }
}

fn templates() -> Templates {
    Templates::new(Path::new("/nonexistent/iocdock-test-templates"))
}

fn fixture_ini(ioc: &str) -> IniDocument {
    let path = Path::new(FIXTURES)
        .join("repository")
        .join(ioc)
        .join("ioc.ini");
    let text = fs::read_to_string(&path).expect("fixture ioc.ini readable");
    IniDocument::parse(&text, &path).expect("fixture ioc.ini parses")
}

/// A new IOC "demo" as `create` makes it, with the given modules and load value.
fn demo_ini(modules: &str, load: &str) -> IniDocument {
    let mut ini = new_ioc_ini("demo", &settings());
    ini.set(config::IOC, "module", modules);
    ini.set(config::DB, "load", load);
    ini
}

/// An IOC folder with `src/` holding the given files.
fn ioc_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join(SRC_DIR)).expect("src");
    for (name, text) in files {
        let path = dir.path().join(SRC_DIR).join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("src subfolder");
        }
        fs::write(path, text).expect("src file");
    }
    dir
}

fn problems_of(result: Result<StartupFiles, Vec<Problem>>) -> String {
    match result {
        Ok(files) => panic!(
            "expected problems, planned {:?}",
            files.files.iter().map(|f| &f.path).collect::<Vec<_>>()
        ),
        Err(problems) => problems
            .iter()
            .map(|p| format!("{} {}\n", p.reason, p.message))
            .collect(),
    }
}

fn planned(result: Result<StartupFiles, Vec<Problem>>) -> StartupFiles {
    match result {
        Ok(files) => files,
        Err(problems) => panic!("unexpected problems: {problems:#?}"),
    }
}

fn listing(files: &StartupFiles) -> String {
    let mut out = String::new();
    for file in &files.files {
        let _ = writeln!(out, "{:o} {}", file.mode, file.path.display());
    }
    for dir in &files.dirs {
        let _ = writeln!(out, "dir {}", dir.display());
    }
    out
}

#[test]
fn fixture_worker_test_1_is_generated_byte_for_byte() {
    let ini = fixture_ini("worker_test_1");
    let expected = Path::new(FIXTURES).join("expected/worker_test_1");
    let st_cmd = fs::read_to_string(expected.join("st.cmd")).expect("fixture st.cmd");
    let substitutions = fs::read_to_string(expected.join("worker_test_1.substitutions"))
        .expect("fixture substitutions");
    assert_eq!(render_st_cmd("worker_test_1", &ini, "/opt/EPICS"), st_cmd);
    assert_eq!(render_substitutions(&ini), substitutions);
    // A trailing slash in the setting changes nothing.
    assert_eq!(render_st_cmd("worker_test_1", &ini, "/opt/EPICS/"), st_cmd);

    let dir = Path::new(FIXTURES).join("repository/worker_test_1");
    let files = planned(plan("worker_test_1", &dir, &ini, &settings(), &templates()));
    insta::assert_snapshot!(listing(&files), @"
        555 startup/iocBoot/st.cmd
        444 startup/db/worker_test_1.substitutions
        444 startup/worker_test_1.acf
        444 startup/db/status_ioc.db
        444 startup/db/status_OS.db
        444 startup/db/ramper.db
        dir settings/autosave
        dir logs/autosave
        ");
    let by_path = |p: &str| {
        files
            .files
            .iter()
            .find(|f| f.path == Path::new(p))
            .map(|f| f.contents.clone())
            .unwrap_or_default()
    };
    assert_eq!(by_path("startup/iocBoot/st.cmd"), st_cmd.as_bytes());
    assert_eq!(
        by_path("startup/db/worker_test_1.substitutions"),
        substitutions.as_bytes()
    );
    assert_eq!(
        by_path("startup/db/ramper.db"),
        fs::read(dir.join("src/ramper.db")).expect("fixture db")
    );
    assert_eq!(
        Some(by_path("startup/worker_test_1.acf")),
        templates().read("caputlog.acf").expect("template")
    );
}

#[test]
fn fixture_worker_test_3_fails_with_the_original_reason_and_message() {
    let dir = Path::new(FIXTURES).join("repository/worker_test_3");
    let result = plan(
        "worker_test_3",
        &dir,
        &fixture_ini("worker_test_3"),
        &settings(),
        &templates(),
    );
    let Err(problems) = result else {
        panic!("worker_test_3 must not generate");
    };
    let state_path = dir.join(".info.ini");
    let bytes = fs::read(&state_path).expect("fixture state");
    let (state, _) = IocState::from_bytes(&bytes, &state_path).expect("fixture state parses");
    let original: Vec<(String, String)> = state
        .warnings
        .iter()
        .flat_map(|(reason, messages)| messages.keys().map(|m| (reason.clone(), m.clone())))
        .collect();
    let ours: Vec<(String, String)> = problems
        .into_iter()
        .map(|p| (p.reason, p.message))
        .collect();
    assert_eq!(ours, original);
}

#[test]
fn st_cmd_without_modules() {
    let ini = demo_ini("", "ramper.db");
    insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"

        iocInit

        #report info
        system "touch /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#date > /opt/EPICS/RUN/demo/logs/demo.info"
        date >> /opt/EPICS/RUN/demo/logs/demo.info
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#ip >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "hostname -I >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#pv list >> /opt/EPICS/RUN/demo/logs/demo.info"
        dbl >> /opt/EPICS/RUN/demo/logs/demo.info
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        "#);
}

#[test]
fn st_cmd_autosave_alone() {
    let mut ini = demo_ini("autosave", "ramper.db");
    ini.set(config::SETTING, "report_info", "false");
    insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        #autosave
        epicsEnvSet REQ_DIR /opt/EPICS/RUN/demo/settings/autosave
        epicsEnvSet SAVE_DIR /opt/EPICS/RUN/demo/logs/autosave
        set_requestfile_path("$(REQ_DIR)")
        set_savefile_path("$(SAVE_DIR)")
        set_pass0_restoreFile("demo-automake-pass0.sav")
        set_pass1_restoreFile("demo-automake-pass1.sav")
        save_restoreSet_DatedBackupFiles(1)
        save_restoreSet_NumSeqFiles(3)
        save_restoreSet_SeqPeriodInSeconds(600)
        save_restoreSet_RetrySeconds(60)
        save_restoreSet_CAReconnect(1)
        save_restoreSet_CallbackTimeout(-1)

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"

        iocInit

        #autosave after iocInit
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/demo-automake-pass0.req","autosaveFields_pass0")
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/demo-automake-pass1.req","autosaveFields")
        create_monitor_set("demo-automake-pass0.req",10)
        create_monitor_set("demo-automake-pass1.req",10)
        "#);
}

#[test]
fn st_cmd_caputlog_alone() {
    let mut ini = demo_ini("caputlog", "ramper.db");
    ini.set(config::SETTING, "report_info", "false");
    insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        #caPutLog
        asSetFilename("/opt/EPICS/RUN/demo/startup/demo.acf")
        epicsEnvSet("EPICS_IOC_LOG_INET","127.0.0.1")
        iocLogPrefix("demo ")
        iocLogInit()

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"

        iocInit

        #caPutLog after iocInit
        caPutLogInit "127.0.0.1:7004" 0
        "#);
}

#[test]
fn st_cmd_status_ioc_alone() {
    let mut ini = demo_ini("status-ioc", "ramper.db");
    ini.set(config::SETTING, "report_info", "false");
    insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"
        dbLoadRecords("db/status_ioc.db","IOC=demo")

        iocInit
        "#);
}

#[test]
fn st_cmd_status_os_alone() {
    let mut ini = demo_ini("status-os", "ramper.db");
    ini.set(config::SETTING, "report_info", "false");
    insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"
        dbLoadRecords("db/status_OS.db","HOST=demo:docker")

        iocInit
        "#);
}

#[test]
fn st_cmd_all_modules_json_log_and_environment() {
    let mut ini = demo_ini("status-os, STATUS-IOC, caputlog, autosave", "ramper.db");
    ini.set(config::IOC, "bin", "my-ioc-2");
    ini.set(config::SETTING, "caputlog_json", "true");
    ini.set(
        config::SETTING,
        "epics_env",
        "\nEPICS_CA_MAX_ARRAY_BYTES=1000000\nSTREAM_PATH=/opt/proto",
    );
    insta::assert_snapshot!(render_st_cmd("lab-1", &ini, "/srv/epics"), @r#"
        #!/srv/epics/IOC/my-ioc-2/bin/linux-x86_64/my-ioc-2

        cd /srv/epics/IOC/my-ioc-2/iocBoot/iocmy-ioc-2
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/my-ioc-2.dbd"
        my_ioc_2_registerRecordDeviceDriver pdbbase

        #settings
        epicsEnvSet("EPICS_CA_MAX_ARRAY_BYTES","1000000")
        epicsEnvSet("STREAM_PATH","/opt/proto")

        #autosave
        epicsEnvSet REQ_DIR /srv/epics/RUN/lab-1/settings/autosave
        epicsEnvSet SAVE_DIR /srv/epics/RUN/lab-1/logs/autosave
        set_requestfile_path("$(REQ_DIR)")
        set_savefile_path("$(SAVE_DIR)")
        set_pass0_restoreFile("lab-1-automake-pass0.sav")
        set_pass1_restoreFile("lab-1-automake-pass1.sav")
        save_restoreSet_DatedBackupFiles(1)
        save_restoreSet_NumSeqFiles(3)
        save_restoreSet_SeqPeriodInSeconds(600)
        save_restoreSet_RetrySeconds(60)
        save_restoreSet_CAReconnect(1)
        save_restoreSet_CallbackTimeout(-1)

        #caPutLog
        asSetFilename("/srv/epics/RUN/lab-1/startup/lab-1.acf")
        epicsEnvSet("EPICS_IOC_LOG_INET","127.0.0.1")
        iocLogPrefix("lab-1 ")
        iocLogInit()

        cd /srv/epics/RUN/lab-1/startup
        dbLoadTemplate "db/lab-1.substitutions"
        dbLoadRecords("db/status_ioc.db","IOC=lab-1")
        dbLoadRecords("db/status_OS.db","HOST=lab-1:docker")

        iocInit

        #autosave after iocInit
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/lab-1-automake-pass0.req","autosaveFields_pass0")
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/lab-1-automake-pass1.req","autosaveFields")
        create_monitor_set("lab-1-automake-pass0.req",10)
        create_monitor_set("lab-1-automake-pass1.req",10)

        #caPutLog after iocInit
        caPutJsonLogInit "127.0.0.1:7004" 0

        #report info
        system "touch /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "echo \#date > /srv/epics/RUN/lab-1/logs/lab-1.info"
        date >> /srv/epics/RUN/lab-1/logs/lab-1.info
        system "echo >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "echo \#ip >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "hostname -I >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "echo >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        system "echo \#pv list >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        dbl >> /srv/epics/RUN/lab-1/logs/lab-1.info
        system "echo >> /srv/epics/RUN/lab-1/logs/lab-1.info"
        "#);
}

fn with_raw(raw: RawTemplate) -> IniDocument {
    let mut ini = demo_ini("", "ramper.db");
    ini.set(config::SETTING, "report_info", "false");
    let changes = IniChanges {
        raw: Some(raw),
        ..Default::default()
    };
    changes.apply(&mut ini, "demo", &settings());
    ini
}

#[test]
fn st_cmd_raw_asyn_template() {
    let ini = with_raw(RawTemplate::Asyn);
    insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings


        drvAsynIPPortConfigure("L0", "192.168.0.23:4001", 0, 0, 0)
        drvAsynSerialPortConfigure("L0", "/dev/tty.PL2303-000013FA", 0, 0, 0)
        asynSetOption("L0", -1, "baud", "9600")
        asynSetOption("L0", -1, "bits", "8")
        asynSetOption("L0", -1, "parity", "none")
        asynSetOption("L0", -1, "stop", "1")
        asynSetOption("L0", -1, "clocal", "Y")
        asynSetOption("L0", -1, "crtscts", "Y")

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"
        dbLoadRecords("db/asynRecord.db","P=xxx,R=:asyn,PORT=xxx,ADDR=xxx,IMAX=xxx,OMAX=xxx")

        iocInit
        "#);
}

#[test]
fn st_cmd_raw_stream_template() {
    let ini = with_raw(RawTemplate::Stream);
    insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings


        epicsEnvSet("STREAM_PROTOCOL_PATH", "/opt/EPICS/RUN/demo/startup")
        drvAsynIPPortConfigure("L0", "192.168.0.23:4001", 0, 0, 0)
        drvAsynSerialPortConfigure("L0", "/dev/tty.PL2303-000013FA", 0, 0, 0)
        asynSetOption("L0", -1, "baud", "9600")
        asynSetOption("L0", -1, "bits", "8")
        asynSetOption("L0", -1, "parity", "none")
        asynSetOption("L0", -1, "stop", "1")
        asynSetOption("L0", -1, "clocal", "Y")
        asynSetOption("L0", -1, "crtscts", "Y")

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"


        iocInit
        "#);
}

#[test]
fn st_cmd_raw_empty_template() {
    let ini = with_raw(RawTemplate::Empty);
    insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings



        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"


        iocInit
        "#);
}

/// The blocks between which the `[RAW]` values of a hand-written ioc.ini land, as
/// configparser returns them: a leading line break, a blank line inside a value and
/// an empty or missing option each keep their lines.
#[test]
fn st_cmd_raw_values_are_written_verbatim() {
    let text = "[IOC]\nname = demo\nhost = swarm\nimage = x\nbin = ST-IOC\nmodule = \n\n\
                    [DB]\nload = ramper.db\n\n[SETTING]\nreport_info = false\n\n\
                    [RAW]\ncmd_before_dbload = \n\tepicsEnvSet(\"A\",\"1\")\n\n\tepicsEnvSet(\"B\",\"2\")\n\
                    cmd_at_dbload = \n";
    let ini = IniDocument::parse(text, Path::new("ioc.ini")).expect("parses");
    assert_eq!(
        ini.get(config::RAW, "cmd_before_dbload"),
        Some("\nepicsEnvSet(\"A\",\"1\")\n\nepicsEnvSet(\"B\",\"2\")")
    );
    let st_cmd = render_st_cmd("demo", &ini, "/opt/EPICS");
    let expected = "#settings\n\n\
                        \nepicsEnvSet(\"A\",\"1\")\n\nepicsEnvSet(\"B\",\"2\")\n\n\
                        cd /opt/EPICS/RUN/demo/startup\n\
                        dbLoadTemplate \"db/demo.substitutions\"\n\
                        \n\
                        \niocInit\n\n\
                        \n\n";
    assert!(
        st_cmd.ends_with(expected),
        "st.cmd ends with:\n{}",
        &st_cmd[st_cmd.find("#settings").unwrap_or(0)..]
    );
}

#[test]
fn st_cmd_raw_commands_in_every_place() {
    let mut ini = demo_ini("autosave", "ramper.db");
    ini.set(config::RAW, "cmd_before_dbload", "\nbefore1\nbefore2");
    ini.set(
        config::RAW,
        "cmd_at_dbload",
        "dbLoadRecords(\"db/extra.db\",\"P=x\")",
    );
    ini.set(config::RAW, "cmd_after_iocinit", "\ndbpf x 1\ndbl");
    insta::assert_snapshot!(render_st_cmd("demo", &ini, "/opt/EPICS"), @r#"
        #!/opt/EPICS/IOC/ST-IOC/bin/linux-x86_64/ST-IOC

        cd /opt/EPICS/IOC/ST-IOC/iocBoot/iocST-IOC
        < envPaths

        cd "${TOP}"
        dbLoadDatabase "dbd/ST-IOC.dbd"
        ST_IOC_registerRecordDeviceDriver pdbbase

        #settings

        #autosave
        epicsEnvSet REQ_DIR /opt/EPICS/RUN/demo/settings/autosave
        epicsEnvSet SAVE_DIR /opt/EPICS/RUN/demo/logs/autosave
        set_requestfile_path("$(REQ_DIR)")
        set_savefile_path("$(SAVE_DIR)")
        set_pass0_restoreFile("demo-automake-pass0.sav")
        set_pass1_restoreFile("demo-automake-pass1.sav")
        save_restoreSet_DatedBackupFiles(1)
        save_restoreSet_NumSeqFiles(3)
        save_restoreSet_SeqPeriodInSeconds(600)
        save_restoreSet_RetrySeconds(60)
        save_restoreSet_CAReconnect(1)
        save_restoreSet_CallbackTimeout(-1)


        before1
        before2

        cd /opt/EPICS/RUN/demo/startup
        dbLoadTemplate "db/demo.substitutions"
        dbLoadRecords("db/extra.db","P=x")

        iocInit

        #autosave after iocInit
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/demo-automake-pass0.req","autosaveFields_pass0")
        makeAutosaveFileFromDbInfo("$(REQ_DIR)/demo-automake-pass1.req","autosaveFields")
        create_monitor_set("demo-automake-pass0.req",10)
        create_monitor_set("demo-automake-pass1.req",10)


        dbpf x 1
        dbl

        #report info
        system "touch /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#date > /opt/EPICS/RUN/demo/logs/demo.info"
        date >> /opt/EPICS/RUN/demo/logs/demo.info
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#ip >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "hostname -I >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        system "echo \#pv list >> /opt/EPICS/RUN/demo/logs/demo.info"
        dbl >> /opt/EPICS/RUN/demo/logs/demo.info
        system "echo >> /opt/EPICS/RUN/demo/logs/demo.info"
        "#);
}

#[test]
fn substitutions_of_several_load_lines() {
    let ini = demo_ini(
        "",
        "\nramper.db, name=a\nplain.db\nramper.db, name=b, DESC=two words, P=$(IOC):, Q=file\nweird name.db, A=1",
    );
    insta::assert_snapshot!(render_substitutions(&ini), @r#"

        file db/ramper.db {
            pattern { name }
                { a }
        }

        file db/plain.db {
            pattern {  }
                {  }
        }

        file db/ramper.db {
            pattern { name, DESC, P, Q }
                { b, "two words", "$(IOC):", "file" }
        }

        file "db/weird name.db" {
            pattern { A }
                { 1 }
        }
        "#);
}

#[test]
fn plan_with_the_raw_asyn_template_copies_the_asyn_database() {
    let dir = ioc_dir(&[("ramper.db", "record(ai, \"$(name)\") {}\n")]);
    let ini = with_raw(RawTemplate::Asyn);
    let files = planned(plan("demo", dir.path(), &ini, &settings(), &templates()));
    insta::assert_snapshot!(listing(&files), @"
        555 startup/iocBoot/st.cmd
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        444 startup/db/asynRecord.db
        ");
}

#[test]
fn plan_with_the_raw_stream_template_names_the_missing_protocol() {
    let dir = ioc_dir(&[("ramper.db", "x")]);
    let ini = with_raw(RawTemplate::Stream);
    insta::assert_snapshot!(
        problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
        @r#"option "file_copy" in section "RAW" invalid. in "src/protocol_file.proto:startup/protocol_file.proto:r". source file "src/protocol_file.proto" not found."#
    );
    let dir = ioc_dir(&[("ramper.db", "x"), ("protocol_file.proto", "p")]);
    let files = planned(plan("demo", dir.path(), &ini, &settings(), &templates()));
    assert!(
        files
            .files
            .iter()
            .any(|f| f.path == Path::new("startup/protocol_file.proto") && f.mode == 0o444)
    );
}

#[test]
fn plan_lists_every_problem() {
    let dir = ioc_dir(&[("ramper.db", "x")]);
    let mut ini = demo_ini(
        "autosave, epics-magic, caputlog, devIocStats",
        "\nramper.db, name=x, 1bad=2, name=y\nmissing.db\nramper.db, P=, Q\n../ramper.db, A=1",
    );
    ini.set(config::IOC, "bin", "");
    ini.set(
        config::SETTING,
        "epics_env",
        "\nGOOD=1\nno equals sign\n9BAD=x\nQUOTE=say \"hi\"",
    );
    ini.set(config::SETTING, "report_info", "yes");
    ini.set(
        config::RAW,
        "file_copy",
        "\nsrc/ramper.db\nelsewhere/x.db:startup/x.db\nsrc/ramper.db:startup/x.db:rq\nsrc/none.db:startup/none.db",
    );
    insta::assert_snapshot!(
        problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
        @r#"
        option "module" in section "IOC" invalid. "epics-magic": not a module (known: autosave, caputlog, status-ioc, status-os).
        option "module" in section "IOC" invalid. "devIocStats": not a module (known: autosave, caputlog, status-ioc, status-os).
        option "load" in section "DB" invalid. in "ramper.db, name=x, 1bad=2, name=y". invalid macro definition "1bad=2": a macro name is letters, digits and "_", not starting with a digit.
        option "load" in section "DB" invalid. in "ramper.db, name=x, 1bad=2, name=y". invalid macro definition "name=y": the macro is already defined on this line.
        option "load" in section "DB" invalid. in "ramper.db, P=, Q". invalid macro definition "P=": the value is empty.
        option "load" in section "DB" invalid. in "ramper.db, P=, Q". invalid macro definition "Q": expected NAME=value.
        option "load" in section "DB" invalid. in "../ramper.db, A=1". db file "../ramper.db" must be the name of a file in src/ (no folder, quote or backslash).
        option "report_info" in section "SETTING" invalid. "yes": expected true or false.
        option "epics_env" in section "SETTING" invalid. in "no equals sign". expected NAME=value, NAME of letters, digits and "_", value without double quotes.
        option "epics_env" in section "SETTING" invalid. in "9BAD=x". expected NAME=value, NAME of letters, digits and "_", value without double quotes.
        option "epics_env" in section "SETTING" invalid. in "QUOTE=say "hi"". expected NAME=value, NAME of letters, digits and "_", value without double quotes.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db". expected src/FILE:DEST[:MODE] or templates/FILE:DEST[:MODE], MODE of r, w, x.
        option "file_copy" in section "RAW" invalid. in "elsewhere/x.db:startup/x.db". source files can only be in "src/" or "templates/" directory.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/x.db:rq". mode "rq" must be made of r, w and x, each at most once, with r.
        option "bin" in section "IOC" not set. expected the name of the IOC executable in the image: letters, digits, "_" and "-", not starting with a digit or "-" (e.g. ST-IOC); it is needed to generate the startup files.
        option "load" in section "DB" invalid. db file "missing.db" not found.
        option "file_copy" in section "RAW" invalid. in "src/none.db:startup/none.db". source file "src/none.db" not found.
        "#
    );
}

#[test]
fn plan_refuses_empty_load_and_bad_bin() {
    let dir = ioc_dir(&[]);
    let mut ini = demo_ini("", "");
    ini.set(config::IOC, "bin", "my ioc");
    insta::assert_snapshot!(
        problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
        @r#"
        option "bin" in section "IOC" invalid. "my ioc": expected the name of the IOC executable in the image: letters, digits, "_" and "-", not starting with a digit or "-" (e.g. ST-IOC).
        option "load" in section "DB" not set. expected lines FILE.db or FILE.db, MACRO=value, ... (FILE.db a file of src/); it is needed to generate the startup files.
        "#
    );
}

#[test]
fn file_copy_cannot_leave_its_folders() {
    let dir = ioc_dir(&[("ramper.db", "x"), ("sub/inner.proto", "p")]);
    fs::write(dir.path().join("ioc.ini"), "[IOC]\n").expect("write");
    let outside = tempfile::tempdir().expect("temp dir");
    fs::write(outside.path().join("secret"), "s").expect("write");
    symlink(
        outside.path().join("secret"),
        dir.path().join("src/link.proto"),
    )
    .expect("symlink");
    let mut ini = demo_ini("", "ramper.db");
    ini.set(
        config::RAW,
        "file_copy",
        "\nsrc/ramper.db:../escape.db\nsrc/ramper.db:/etc/escape.db\nsrc/ramper.db:startup/../../escape.db\nsrc/ramper.db:./startup/x.db\nsrc/../ioc.ini:startup/ioc.ini\ntemplates/../settings.yaml:startup/s.yaml\n/etc/passwd:startup/passwd\nsrc/link.proto:startup/link.proto\nsrc/sub/inner.proto:startup/inner.proto",
    );
    insta::assert_snapshot!(
        problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
        @r#"
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:../escape.db". destination "../escape.db" must be a path inside project/ (no leading "/", no "." or "..").
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:/etc/escape.db". destination "/etc/escape.db" must be a path inside project/ (no leading "/", no "." or "..").
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/../../escape.db". destination "startup/../../escape.db" must be a path inside project/ (no leading "/", no "." or "..").
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:./startup/x.db". destination "./startup/x.db" must be a path inside project/ (no leading "/", no "." or "..").
        option "file_copy" in section "RAW" invalid. in "src/../ioc.ini:startup/ioc.ini". source "src/../ioc.ini" must be a path inside src/ (no "." or "..").
        option "file_copy" in section "RAW" invalid. in "templates/../settings.yaml:startup/s.yaml". source "templates/../settings.yaml" must be a path inside templates/ (no "." or "..").
        option "file_copy" in section "RAW" invalid. in "/etc/passwd:startup/passwd". source files can only be in "src/" or "templates/" directory.
        option "file_copy" in section "RAW" invalid. in "src/link.proto:startup/link.proto". source file "src/link.proto" is a symbolic link; links in src/ are not read (copy the file itself into src/).
        "#
    );
}

#[test]
fn load_cannot_name_files_outside_src() {
    let dir = ioc_dir(&[("ramper.db", "x"), ("sub/x.db", "y")]);
    fs::write(dir.path().join("outside.db"), "o").expect("write");
    symlink(
        dir.path().join("outside.db"),
        dir.path().join("src/link.db"),
    )
    .expect("symlink");
    // Even a link to a file inside src/ is not read: it could be swapped.
    symlink("ramper.db", dir.path().join("src/inner.db")).expect("symlink");
    let ini = demo_ini(
        "",
        "\n../outside.db\n/etc/passwd\nsub/x.db\nlink.db\ninner.db\n.\nsrc",
    );
    fs::create_dir_all(dir.path().join("src/src")).expect("folder");
    insta::assert_snapshot!(
        problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
        @r#"
        option "load" in section "DB" invalid. in "../outside.db". db file "../outside.db" must be the name of a file in src/ (no folder, quote or backslash).
        option "load" in section "DB" invalid. in "/etc/passwd". db file "/etc/passwd" must be the name of a file in src/ (no folder, quote or backslash).
        option "load" in section "DB" invalid. in "sub/x.db". db file "sub/x.db" must be the name of a file in src/ (no folder, quote or backslash).
        option "load" in section "DB" invalid. in ".". db file "." must be the name of a file in src/ (no folder, quote or backslash).
        option "load" in section "DB" invalid. db file "link.db" is a symbolic link; links in src/ are not read (copy the file itself into src/).
        option "load" in section "DB" invalid. db file "inner.db" is a symbolic link; links in src/ are not read (copy the file itself into src/).
        option "load" in section "DB" invalid. db file "src" not found.
        "#
    );
}

#[test]
fn files_that_would_overwrite_each_other_are_refused() {
    let dir = ioc_dir(&[("status_ioc.db", "mine"), ("ramper.db", "x")]);
    let mut ini = demo_ini(
        "autosave, status-ioc",
        "\nstatus_ioc.db\nramper.db, name=a\nramper.db, name=b",
    );
    ini.set(
        config::RAW,
        "file_copy",
        "\nsrc/ramper.db:startup/iocBoot/st.cmd\nsrc/ramper.db:startup/db\nsrc/ramper.db:settings/autosave\nsrc/ramper.db:logs\nsrc/ramper.db:startup/extra.db:rw\nsrc/ramper.db:startup/extra.db:rx",
    );
    insta::assert_snapshot!(
        problems_of(plan("demo", dir.path(), &ini, &settings(), &templates())),
        @r#"
        option "load" in section "DB" invalid. in "status_ioc.db". "startup/db/status_ioc.db" is also written by the status-ioc module.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/iocBoot/st.cmd". "startup/iocBoot/st.cmd" is also written by the generated st.cmd.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/db". "startup/db" must be a folder (it holds "startup/db/demo.substitutions" of the generated substitutions file).
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:settings/autosave". "settings/autosave" must be a folder (the autosave folder "settings/autosave" is there).
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:logs". "logs" is a folder of the project and cannot be a file.
        option "file_copy" in section "RAW" invalid. in "src/ramper.db:startup/extra.db:rx". "startup/extra.db" is also written by the file_copy entry "src/ramper.db:startup/extra.db:rw".
        "#
    );
}

#[test]
fn file_copy_modes_and_destinations_outside_startup() {
    let dir = ioc_dir(&[("ramper.db", "x"), ("run.sh", "#!/bin/sh\n")]);
    let mut ini = demo_ini("autosave", "\nramper.db, name=a\nramper.db, name=b");
    ini.set(
        config::RAW,
        "file_copy",
        "\nsrc/run.sh:startup/run.sh:rwx\nsrc/run.sh:startup/run2.sh:xr\nsrc/ramper.db:settings/autosave/extra.req:wr\nsrc/ramper.db:startup/copy.db\ntemplates/db/asynRecord.db:startup/db/asynRecord.db:r",
    );
    let files = planned(plan("demo", dir.path(), &ini, &settings(), &templates()));
    insta::assert_snapshot!(listing(&files), @"
        555 startup/iocBoot/st.cmd
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        755 startup/run.sh
        555 startup/run2.sh
        644 settings/autosave/extra.req
        444 startup/copy.db
        444 startup/db/asynRecord.db
        dir settings/autosave
        dir logs/autosave
        ");
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file and folder under `dir`, relative, sorted. Modes are shown for files
/// and for the folders of startup/, which `write` sets; other folders get the umask.
fn tree(dir: &Path) -> String {
    let mut entries: Vec<(String, String)> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.expect("walk");
            let relative = e
                .path()
                .strip_prefix(dir)
                .expect("inside")
                .display()
                .to_string();
            let shown = if !e.file_type().is_dir() {
                format!("{:o} {relative}", mode_of(e.path()))
            } else if relative.starts_with(STARTUP_DIR) {
                format!("{:o} {relative}/", mode_of(e.path()))
            } else {
                format!("    {relative}/")
            };
            (relative, shown)
        })
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|(_, shown)| shown)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn write_makes_a_complete_tree_and_replaces_an_older_one() {
    let dir = ioc_dir(&[("ramper.db", "record(ai, \"$(name)\") {}\n")]);
    let project = dir.path().join("project");
    let old_ini = demo_ini(
        "autosave, caputlog, status-ioc, status-os",
        "ramper.db, name=a",
    );
    let old = planned(plan(
        "demo",
        dir.path(),
        &old_ini,
        &settings(),
        &templates(),
    ));
    write(&project, &old).expect("first write");
    // Run-time data in the autosave folders must survive regeneration.
    fs::write(project.join("settings/autosave/demo.req"), "kept").expect("write");
    fs::write(project.join("logs/autosave/demo.sav"), "kept").expect("write");
    insta::assert_snapshot!(tree(&project), @"
            logs/
            logs/autosave/
        644 logs/autosave/demo.sav
            settings/
            settings/autosave/
        644 settings/autosave/demo.req
        755 startup/
        755 startup/db/
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        444 startup/db/status_OS.db
        444 startup/db/status_ioc.db
        444 startup/demo.acf
        755 startup/iocBoot/
        555 startup/iocBoot/st.cmd
        ");

    let mut new_ini = demo_ini("status-ioc", "ramper.db, name=b");
    new_ini.set(
        config::RAW,
        "file_copy",
        "src/ramper.db:settings/extra.db:rw",
    );
    let new = planned(plan(
        "demo",
        dir.path(),
        &new_ini,
        &settings(),
        &templates(),
    ));
    write(&project, &new).expect("second write");
    insta::assert_snapshot!(tree(&project), @"
            logs/
            logs/autosave/
        644 logs/autosave/demo.sav
            settings/
            settings/autosave/
        644 settings/autosave/demo.req
        644 settings/extra.db
        755 startup/
        755 startup/db/
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        444 startup/db/status_ioc.db
        755 startup/iocBoot/
        555 startup/iocBoot/st.cmd
        ");
    for file in &new.files {
        assert_eq!(
            fs::read(project.join(&file.path)).expect("written"),
            file.contents,
            "{}",
            file.path.display()
        );
    }
    assert_eq!(
        fs::read_to_string(project.join("settings/autosave/demo.req")).expect("kept"),
        "kept"
    );
}

#[test]
fn write_removes_leftovers_of_an_interrupted_run() {
    let dir = ioc_dir(&[("ramper.db", "x")]);
    let project = dir.path().join("project");
    let files = planned(plan(
        "demo",
        dir.path(),
        &demo_ini("", "ramper.db"),
        &settings(),
        &templates(),
    ));
    // What a kill between building and swapping leaves: a hidden staging tree with
    // read-only files and folders.
    let stale = project.join(format!("{NEW_PREFIX}killed"));
    fs::create_dir_all(stale.join("db")).expect("stale");
    fs::write(stale.join("db/x.db"), "x").expect("stale file");
    fs::set_permissions(stale.join("db/x.db"), fs::Permissions::from_mode(0o444)).expect("chmod");
    fs::set_permissions(stale.join("db"), fs::Permissions::from_mode(0o555)).expect("chmod");
    fs::create_dir_all(project.join(format!("{OLD_PREFIX}killed/iocBoot"))).expect("stale");
    write(&project, &files).expect("write");
    insta::assert_snapshot!(tree(&project), @"
        755 startup/
        755 startup/db/
        444 startup/db/demo.substitutions
        444 startup/db/ramper.db
        755 startup/iocBoot/
        555 startup/iocBoot/st.cmd
        ");
}

#[test]
fn the_swap_without_exchange_replaces_the_tree_too() {
    let project = tempfile::tempdir().expect("temp dir");
    let target = project.path().join(STARTUP_DIR);
    let staged = project.path().join(format!("{NEW_PREFIX}test"));
    fs::create_dir_all(target.join("db")).expect("old");
    fs::write(target.join("db/old.db"), "old").expect("old file");
    fs::create_dir_all(staged.join("iocBoot")).expect("new");
    fs::write(staged.join("iocBoot/st.cmd"), "new").expect("new file");
    let aside = swap_by_renames(&staged, &target, project.path()).expect("swap");
    assert!(aside.join("db/old.db").is_file());
    assert!(!staged.exists());
    assert_eq!(
        fs::read_to_string(target.join("iocBoot/st.cmd")).expect("new"),
        "new"
    );
    assert!(!target.join("db").exists());
}

#[test]
fn a_failed_write_keeps_the_old_startup() {
    let dir = ioc_dir(&[("ramper.db", "x")]);
    let project = dir.path().join("project");
    let files = planned(plan(
        "demo",
        dir.path(),
        &demo_ini("", "ramper.db"),
        &settings(),
        &templates(),
    ));
    write(&project, &files).expect("first write");
    let before = tree(&project);
    // A tree that cannot be built (a file where a folder must be) stops the write
    // before the swap.
    let mut broken = files.clone();
    broken.files.push(GeneratedFile {
        path: PathBuf::from("startup/iocBoot/st.cmd/inside"),
        contents: b"x".to_vec(),
        mode: 0o444,
    });
    assert!(write(&project, &broken).is_err());
    assert_eq!(tree(&project), before);
    // So does a file outside startup/ that cannot be written.
    fs::write(project.join("blocker"), "x").expect("write");
    let before = tree(&project);
    let mut broken = files.clone();
    broken.files.push(GeneratedFile {
        path: PathBuf::from("blocker/inside"),
        contents: b"x".to_vec(),
        mode: 0o444,
    });
    assert!(write(&project, &broken).is_err());
    assert_eq!(tree(&project), before);
}
