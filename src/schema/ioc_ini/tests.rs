use std::path::Path;

use super::*;
use crate::ini::IniDocument;
use crate::schema::values::CPUS_RULE;

fn settings(yaml: &str) -> Settings {
    crate::settings::for_test(yaml)
}

fn doc(text: &str) -> IniDocument {
    IniDocument::parse(text, Path::new("ioc.ini")).unwrap()
}

fn errors(text: &str, stage: Stage) -> Vec<String> {
    let s = settings("");
    check(&doc(text), &Context::new("t", &s), stage)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn new_ioc() -> String {
    new_ioc_ini("t", &settings("")).render()
}

#[test]
fn a_new_ioc_is_valid_until_it_is_generated() {
    assert_eq!(errors(&new_ioc(), Stage::Store), Vec::<String>::new());
    assert_eq!(
        errors(&new_ioc(), Stage::Generate),
        [
            "IOC \"t\": option \"load\" of section [DB] is empty: expected lines FILE.db or FILE.db, MACRO=value, ... (FILE.db a file of src/); it is needed to generate the startup files"
        ]
    );
    let found = errors(&new_ioc(), Stage::Export);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with(
            "IOC \"t\": option \"image\" of section [IOC] is empty: expected an image reference"
        ),
        "{found:?}"
    );
    assert!(
        found[0].ends_with("it is needed to export and deploy the IOC"),
        "{found:?}"
    );
}

#[test]
fn bad_values_name_ioc_section_option_value_and_rule() {
    let text = new_ioc()
        .replace("cpu-limit = 1\n", "cpu-limit = lots\n")
        .replace("memory-reserve = \n", "memory-reserve = 2G\n")
        .replace(
            "constraints = \n",
            "constraints = \n\tnode.role==worker\n\tnode.rack==a\n",
        )
        .replace(
            "module = autosave, caputlog\n",
            "module = autosave, devIocStats\n",
        )
        .replace("report_info = true\n", "report_info = yes\n")
        .replace("image = \n", "image = Registry/IOC\n");
    let found = errors(&text, Stage::Store);
    assert_eq!(
        found,
        [
            "IOC \"t\": option \"image\" of section [IOC] is \"Registry/IOC\": expected an image reference as docker takes it: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], NAME in lower case, e.g. registry.iasf/ioc-exec:1.1.0",
            "IOC \"t\": option \"module\" of section [IOC] names \"devIocStats\": not a module (known: autosave, caputlog, status-ioc, status-os)",
            "IOC \"t\": option \"report_info\" of section [SETTING] is \"yes\": expected true or false",
            &format!(
                "IOC \"t\": option \"cpu-limit\" of section [DEPLOY] is \"lots\": {CPUS_RULE}"
            ),
            "IOC \"t\": option \"constraints\" of section [DEPLOY] has the line \"node.rack==a\": \"node.rack\" is no attribute swarm places by; expected ATTRIBUTE==value or ATTRIBUTE!=value with an attribute swarm knows (node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.LABEL, engine.labels.LABEL), e.g. node.labels.rack==a",
            "IOC \"t\": option \"memory-reserve\" of section [DEPLOY] is \"2G\": more than memory-limit \"1G\" (the engine refuses a reservation above the limit)",
        ]
    );
}

#[test]
fn unknown_options_get_the_nearest_known_name() {
    let text = new_ioc().replace("[DEPLOY]\n", "[DEPLOY]\ncpu_limit = 0.5\n");
    assert_eq!(
        errors(&text, Stage::Store),
        [
            "IOC \"t\": option \"cpu_limit\" (value \"0.5\") is not an option of section [DEPLOY]: did you mean \"cpu-limit\"? (options of [DEPLOY]: labels, cpu-limit, memory-limit, cpu-reserve, memory-reserve, constraints, health-check, health-pv)"
        ]
    );
    let text = new_ioc().replace("[IOC]\n", "[IOC]\ncpu_limit = 0.5\n");
    let found = errors(&text, Stage::Store);
    assert!(
        found[0].contains("did you mean \"cpu-limit\" of section [DEPLOY]?"),
        "{found:?}"
    );
    // Sections of the operator's own are free.
    let text = format!("{}[SITE]\nanything = goes\n\n", new_ioc());
    assert_eq!(errors(&text, Stage::Store), Vec::<String>::new());
}

#[test]
fn a_renamed_section_is_a_missing_one() {
    let text = new_ioc().replace("[DB]\n", "[DBX]\n");
    assert_eq!(
        errors(&text, Stage::Store),
        [
            "IOC \"t\": section [DB] is missing: expected [DB] with load; [DBX] is no section iocdock reads: is it [DB] renamed?"
        ]
    );
}

#[test]
fn managed_options_still_follow_their_rule() {
    let text = new_ioc()
        .replace("name = t\n", "name = other\n")
        .replace("db_file = \n", "db_file = a.db, ../b.db, c.proto\n");
    let found = errors(&text, Stage::Store);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found[0].contains("expected the IOC's own name \"t\""),
        "{found:?}"
    );
    assert!(found[1].contains("names \"../b.db\""), "{found:?}");
    assert!(found[2].contains("names \"c.proto\""), "{found:?}");
}

#[test]
fn a_host_outside_the_nodes_is_a_warning_until_export() {
    let s = settings("cluster_worker_nodes: {w1: 10.0.0.1}\ndefault_nodes: {spare: 10.0.0.9}\n");
    let ctx = Context::new("t", &s);
    let text = new_ioc().replace("host = swarm\n", "host = k8s\n");
    let report = check(&doc(&text), &ctx, Stage::Store);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.warnings[0].to_string(),
        "IOC \"t\": option \"host\" of section [IOC] is \"k8s\": not a node of the settings (cluster_manager_nodes, cluster_worker_nodes, default_nodes: w1, spare); an IOC is exported for swarm or one of them"
    );
    let text = text
        .replace("image = \n", "image = x:1\n")
        .replace("load = \n", "load = a.db\n");
    let report = check(&doc(&text), &ctx, Stage::Export);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(
        check(&doc(&text.replace("k8s", "W1")), &ctx, Stage::Export)
            .errors
            .is_empty()
    );
    // Without nodes in the settings any host name goes.
    let none = settings("");
    assert!(
        check(&doc(&text), &Context::new("t", &none), Stage::Export)
            .errors
            .is_empty()
    );
}

#[test]
fn hosts_are_swarm_or_host_names() {
    for good in ["swarm", "node1", "rack-2.lab.example", "10.0.0.1"] {
        assert!(is_valid_host(good), "{good}");
    }
    for bad in ["", "/var/lib", "../../elsewhere", "..", "a/b", "a_b", "a b"] {
        assert!(!is_valid_host(bad), "{bad:?} must be refused");
    }
}

#[test]
fn the_documentation_lists_every_option() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ioc-ini.md"))
        .expect("docs/ioc-ini.md");
    for option in OPTIONS {
        let row = format!("| `[{}]` | `{}` |", option.section, option.key);
        assert!(doc.contains(&row), "docs/ioc-ini.md has no row {row}");
    }
}
