//! st.cmd and the substitutions file: pure functions of the ioc.ini, so they are
//! snapshot-tested without a file system.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::ini::{IniDocument, value_lines};
use crate::ioc::config::{self, Module};
use crate::schema::values::{SUBSTITUTION_KEYWORDS, env_assignment, parse_load_line};

/// The modules of `[IOC] module` that the tool knows, in the order the file lists them.
pub(crate) fn modules(ini: &IniDocument) -> Vec<Module> {
    let mut found = Vec::new();
    for word in ini.get(config::IOC, "module").unwrap_or("").split(',') {
        if let Some(module) = Module::parse(word)
            && !found.contains(&module)
        {
            found.push(module);
        }
    }
    found
}

fn flag(ini: &IniDocument, option: &str) -> bool {
    ini.get(config::SETTING, option)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A `[RAW]` command value as configparser returns it; a missing option reads as
/// empty, as in the original tool.
fn raw_value<'a>(ini: &'a IniDocument, option: &str) -> &'a str {
    ini.get(config::RAW, option).unwrap_or("")
}

pub(super) fn lines_of<'a>(ini: &'a IniDocument, section: &str, option: &str) -> Vec<&'a str> {
    value_lines(ini.get(section, option).unwrap_or(""))
}

/// Characters `dbLoadTemplate` reads as part of an unquoted word.
fn is_bareword_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-+:./[]<>;".contains(c)
}

/// A value as the substitutions file must carry it: bare when the original tool would
/// have written the same bytes and EPICS reads it as one word, else double-quoted.
fn substitution_word(value: &str) -> Cow<'_, str> {
    if !value.is_empty()
        && value.chars().all(is_bareword_char)
        && !SUBSTITUTION_KEYWORDS.contains(&value)
    {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("\"{value}\""))
    }
}

/// The substitutions file: per load line a blank line then a `file` block (SPEC §7).
/// Lines `plan` would refuse are left out; `plan` never renders an invalid ioc.ini.
pub(crate) fn render_substitutions(ini: &IniDocument) -> String {
    let mut out = String::new();
    for line in lines_of(ini, config::DB, "load") {
        let Ok(load) = parse_load_line(line) else {
            continue;
        };
        let names: Vec<&str> = load.macros.iter().map(|(n, _)| *n).collect();
        let values: Vec<Cow<'_, str>> = load
            .macros
            .iter()
            .map(|(_, v)| substitution_word(v))
            .collect();
        let _ = write!(
            out,
            "\nfile {} {{\n    pattern {{ {} }}\n        {{ {} }}\n}}\n",
            substitution_word(&format!("db/{}", load.db)),
            names.join(", "),
            values.join(", "),
        );
    }
    out
}

/// st.cmd in the order of SPEC §7. `container_top_path` is the settings value
/// (`/opt/EPICS`): the IOC binaries live under `<top>/IOC`, the run folders under `<top>/RUN`.
pub(crate) fn render_st_cmd(name: &str, ini: &IniDocument, container_top_path: &str) -> String {
    let top = container_top_path.trim_end_matches('/');
    let bin = ini.get(config::IOC, "bin").unwrap_or("").trim();
    let run = format!("{top}/RUN/{name}");
    let ioc = format!("{top}/IOC/{bin}");
    let modules = modules(ini);
    let has = |m: Module| modules.contains(&m);
    let raw = ini.has_section(config::RAW);
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push('\n');
    };

    line(&format!("#!{ioc}/bin/linux-x86_64/{bin}"));
    line("");
    line(&format!("cd {ioc}/iocBoot/ioc{bin}"));
    line("< envPaths");
    line("");
    line("cd \"${TOP}\"");
    line(&format!("dbLoadDatabase \"dbd/{bin}.dbd\""));
    line(&format!(
        "{}_registerRecordDeviceDriver pdbbase",
        bin.replace('-', "_")
    ));
    line("");

    line("#settings");
    for env in lines_of(ini, config::SETTING, "epics_env") {
        if let Some((env_name, value)) = env_assignment(env) {
            line(&format!("epicsEnvSet(\"{env_name}\",\"{value}\")"));
        }
    }
    line("");

    if has(Module::Autosave) {
        line("#autosave");
        line(&format!("epicsEnvSet REQ_DIR {run}/settings/autosave"));
        line(&format!("epicsEnvSet SAVE_DIR {run}/logs/autosave"));
        line("set_requestfile_path(\"$(REQ_DIR)\")");
        line("set_savefile_path(\"$(SAVE_DIR)\")");
        line(&format!(
            "set_pass0_restoreFile(\"{name}-automake-pass0.sav\")"
        ));
        line(&format!(
            "set_pass1_restoreFile(\"{name}-automake-pass1.sav\")"
        ));
        line("save_restoreSet_DatedBackupFiles(1)");
        line("save_restoreSet_NumSeqFiles(3)");
        line("save_restoreSet_SeqPeriodInSeconds(600)");
        line("save_restoreSet_RetrySeconds(60)");
        line("save_restoreSet_CAReconnect(1)");
        line("save_restoreSet_CallbackTimeout(-1)");
        line("");
    }
    if has(Module::Caputlog) {
        line("#caPutLog");
        line(&format!("asSetFilename(\"{run}/startup/{name}.acf\")"));
        line("epicsEnvSet(\"EPICS_IOC_LOG_INET\",\"127.0.0.1\")");
        line(&format!("iocLogPrefix(\"{name} \")"));
        line("iocLogInit()");
        line("");
    }
    // [RAW] values go in exactly as configparser returns them, as the original tool
    // wrote them (`f'{value}\n'`): a value that starts on the line after `key =`
    // begins with a line break, and an empty or missing value still gives its line.
    if raw {
        line(raw_value(ini, "cmd_before_dbload"));
        line("");
    }

    line(&format!("cd {run}/startup"));
    line(&format!("dbLoadTemplate \"db/{name}.substitutions\""));
    if has(Module::StatusIoc) {
        line(&format!(
            "dbLoadRecords(\"db/status_ioc.db\",\"IOC={name}\")"
        ));
    }
    if has(Module::StatusOs) {
        line(&format!(
            "dbLoadRecords(\"db/status_OS.db\",\"HOST={name}:docker\")"
        ));
    }
    if raw {
        line(raw_value(ini, "cmd_at_dbload"));
    }
    line("");
    line("iocInit");
    line("");

    if has(Module::Autosave) {
        line("#autosave after iocInit");
        line(&format!(
            "makeAutosaveFileFromDbInfo(\"$(REQ_DIR)/{name}-automake-pass0.req\",\"autosaveFields_pass0\")"
        ));
        line(&format!(
            "makeAutosaveFileFromDbInfo(\"$(REQ_DIR)/{name}-automake-pass1.req\",\"autosaveFields\")"
        ));
        line(&format!(
            "create_monitor_set(\"{name}-automake-pass0.req\",10)"
        ));
        line(&format!(
            "create_monitor_set(\"{name}-automake-pass1.req\",10)"
        ));
        line("");
    }
    if has(Module::Caputlog) {
        line("#caPutLog after iocInit");
        if flag(ini, "caputlog_json") {
            line("caPutJsonLogInit \"127.0.0.1:7004\" 0");
        } else {
            line("caPutLogInit \"127.0.0.1:7004\" 0");
        }
        line("");
    }
    if raw {
        line(raw_value(ini, "cmd_after_iocinit"));
        line("");
    }
    if flag(ini, "report_info") {
        let info = format!("{run}/logs/{name}.info");
        line("#report info");
        line(&format!("system \"touch {info}\""));
        line(&format!("system \"echo \\#date > {info}\""));
        line(&format!("date >> {info}"));
        line(&format!("system \"echo >> {info}\""));
        line(&format!("system \"echo \\#ip >> {info}\""));
        line(&format!("system \"hostname -I >> {info}\""));
        line(&format!("system \"echo >> {info}\""));
        line(&format!("system \"echo \\#pv list >> {info}\""));
        line(&format!("dbl >> {info}"));
        line(&format!("system \"echo >> {info}\""));
        line("");
    }
    out
}
