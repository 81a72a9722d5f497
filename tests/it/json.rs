//! `--format json`: every command's document is checked against its JSON Schema in
//! docs/schema/, and the shape of each (keys and value types) is a snapshot, so a
//! change of the stable schema shows up as a diff in review.

use std::fs;

use serde_json::Value;

use crate::docker::{StackGuard, TEST_IMAGE, docker_ready, swarm_context, unique_prefix};
use crate::status::{create_service, run, wait_for};
use crate::{TestContext, project_file};

fn schema(name: &str) -> Value {
    let path = project_file(&format!("docs/schema/{name}.schema.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("schema is JSON")
}

/// The subset of JSON Schema the documented schemas use: `type`, `enum`, `const`,
/// `properties`, `required`, `additionalProperties`, `items`, `anyOf`, `minimum`
/// and local `$ref`s to `$defs`. Anything else in a schema is a test failure, so
/// the check never silently ignores a rule.
fn check(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(rules) = schema.as_object() else {
        errors.push(format!("{path}: schema is not an object"));
        return;
    };
    for (key, rule) in rules {
        match key.as_str() {
            "$schema" | "$id" | "title" | "description" | "$defs" => {}
            "$ref" => {
                let name = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .expect("local $ref");
                check(root, &root["$defs"][name], value, path, errors);
            }
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => panic!("bad type rule"),
                };
                let ok = types.iter().any(|t| match *t {
                    "object" => value.is_object(),
                    "array" => value.is_array(),
                    "string" => value.is_string(),
                    "integer" => value.is_i64() || value.is_u64(),
                    "number" => value.is_number(),
                    "boolean" => value.is_boolean(),
                    "null" => value.is_null(),
                    other => panic!("unknown type {other}"),
                });
                if !ok {
                    errors.push(format!("{path}: {value} is not of type {types:?}"));
                }
            }
            "enum" => {
                if !rule.as_array().expect("enum list").contains(value) {
                    errors.push(format!("{path}: {value} is not one of {rule}"));
                }
            }
            "const" => {
                if rule != value {
                    errors.push(format!("{path}: {value} is not {rule}"));
                }
            }
            "minimum" => {
                if value
                    .as_f64()
                    .is_some_and(|v| v < rule.as_f64().expect("number"))
                {
                    errors.push(format!("{path}: {value} is below {rule}"));
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for name in rule.as_array().expect("required list") {
                        let name = name.as_str().expect("name");
                        if !object.contains_key(name) {
                            errors.push(format!("{path}: missing \"{name}\""));
                        }
                    }
                }
            }
            "properties" | "additionalProperties" => {
                let Some(object) = value.as_object() else {
                    continue;
                };
                if key == "properties" {
                    for (name, sub) in rule.as_object().expect("properties") {
                        if let Some(v) = object.get(name) {
                            check(root, sub, v, &format!("{path}.{name}"), errors);
                        }
                    }
                    continue;
                }
                let known = rules.get("properties").and_then(Value::as_object);
                for (name, v) in object {
                    if known.is_some_and(|k| k.contains_key(name)) {
                        continue;
                    }
                    match rule {
                        Value::Bool(false) => errors.push(format!("{path}: unexpected \"{name}\"")),
                        Value::Bool(true) => {}
                        sub => check(root, sub, v, &format!("{path}.{name}"), errors),
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        check(root, rule, item, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            "anyOf" => {
                let any = rule.as_array().expect("anyOf list").iter().any(|sub| {
                    let mut inner = Vec::new();
                    check(root, sub, value, path, &mut inner);
                    inner.is_empty()
                });
                if !any {
                    errors.push(format!("{path}: {value} matches no alternative"));
                }
            }
            other => errors.push(format!("{path}: schema keyword \"{other}\" is not checked")),
        }
    }
}

/// Parses `out` and checks it against docs/schema/`name`.schema.json.
pub(crate) fn valid(name: &str, out: &str) -> Value {
    let value: Value =
        serde_json::from_str(out).unwrap_or_else(|e| panic!("{name}: not JSON ({e}):\n{out}"));
    let schema = schema(name);
    let mut errors = Vec::new();
    check(&schema, &schema, &value, "$", &mut errors);
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{out}");
    value
}

/// Keys and value types, the first item standing for a list: what a consumer of
/// the schema relies on, without the values that change from run to run.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("boolean"),
        Value::Null => Value::Null,
    }
}

fn snapshot(name: &str, value: &Value) {
    let text = serde_json::to_string_pretty(&shape(value)).expect("shape");
    insta::assert_snapshot!(name, text);
}

#[test]
fn the_schemas_catch_what_they_should() {
    let schema = schema("list");
    let mut errors = Vec::new();
    let bad = serde_json::json!({"version": 2, "iocs": [{"name": 1, "extra": true}]});
    check(&schema, &schema, &bad, "$", &mut errors);
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn list_views_and_an_unreachable_panel_follow_their_schemas() {
    let t = TestContext::new();
    t.ok(&["create", "ioc1", "-o", "description=first"]);
    t.ok(&["create", "ioc2"]);
    let names = valid("list", &t.ok(&["list", "--format", "json"]));
    assert_eq!(names["iocs"][1]["name"], "ioc2");
    snapshot("list", &names);
    let described = valid("list", &t.ok(&["list", "-d", "--format", "json"]));
    assert_eq!(described["iocs"][0]["description"], "first");
    snapshot("list_d", &described);
    let info = valid("list", &t.ok(&["list", "-i", "name=2", "--format", "json"]));
    assert_eq!(info["iocs"][0]["state"]["status"], "created");
    assert_eq!(info["iocs"][0]["sections"][0]["name"], "IOC");
    snapshot("list_i", &info);

    let gone = [("DOCKER_HOST", "unix:///nonexistent.sock")];
    let (code, out, err) = run(&t, &["list", "-p", "--format", "json"], &gone);
    assert_eq!(code, 0, "{err}");
    let panel = valid("list-panel", &out);
    assert_eq!(panel["iocs"][0]["deploy"]["state"], "unknown");
    assert_eq!(
        panel["iocs"][0]["deploy"]["text"],
        "unknown (docker unreachable)"
    );
    snapshot("list_p_unreachable", &panel);
    // An engine that cannot tell is not "fine" either.
    let (code, _, _) = run(&t, &["list", "-p", "--check"], &gone);
    assert_eq!(code, 4);
    let (code, _, err) = run(&t, &["swarm", "--show-tokens", "--format", "json"], &[]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn swarm_views_follow_their_schemas() {
    if !docker_ready("json::swarm_views_follow_their_schemas") {
        return;
    }
    let prefix = unique_prefix("js");
    let _guard = StackGuard(prefix.clone());
    let t = swarm_context(&prefix);
    t.ok(&["create", "ioc1"]);
    create_service(
        &prefix,
        "srv-ioc1",
        &["--tty"],
        TEST_IMAGE,
        &["sleep", "100000"],
    );
    let mut digest = Value::Null;
    wait_for("ioc1 running", std::time::Duration::from_secs(60), || {
        let (code, out, err) = run(&t, &["swarm", "--show-digest", "--format", "json"], &[]);
        if code != 0 {
            return Err(err);
        }
        digest = valid("swarm-digest", &out);
        let ioc = digest["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "ioc1"))
            .cloned()
            .unwrap_or_default();
        if ioc["deploy"]["state"] == "running" {
            Ok(())
        } else {
            Err(out)
        }
    });
    // The shape of a deployed row, with its nodes, comes first.
    let ioc = digest["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "ioc1"))
        .cloned()
        .expect("ioc1 row");
    assert_eq!(ioc["deploy"]["running"], 1);
    assert_eq!(ioc["deploy"]["desired"], 1);
    snapshot(
        "swarm_show_digest",
        &serde_json::json!({"version": 1, "services": [ioc]}),
    );

    let mut panel = Value::Null;
    wait_for("the panel", std::time::Duration::from_secs(30), || {
        let (code, out, err) = run(&t, &["list", "-p", "--format", "json"], &[]);
        if code != 0 {
            return Err(err);
        }
        panel = valid("list-panel", &out);
        if panel["iocs"][0]["deploy"]["state"] == "running" {
            Ok(())
        } else {
            Err(out)
        }
    });
    // A service made by hand has no service file to compare with.
    assert_eq!(
        panel["iocs"][0]["service_consistency"]["consistency"],
        "drifted"
    );
    snapshot("list_p", &panel);

    let nodes = valid(
        "swarm-nodes",
        &t.ok(&["swarm", "--show-nodes", "--format", "json"]),
    );
    assert!(
        nodes["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n["this_node"] == true))
    );
    snapshot("swarm_show_nodes", &nodes);
    let services = valid(
        "swarm-services",
        &t.ok(&["swarm", "--show-services", "--format", "json"]),
    );
    let ours: Vec<Value> = services["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter(|s| s["name"] == format!("{prefix}_srv-ioc1").as_str())
        .cloned()
        .collect();
    assert_eq!(ours.len(), 1);
    snapshot(
        "swarm_show_services",
        &serde_json::json!({"version": 1, "services": ours}),
    );
    let info = valid(
        "service-info",
        &t.ok(&["service", "ioc1", "--show-info", "--format", "json"]),
    );
    assert_eq!(
        info["tasks"][0]["name"],
        format!("{prefix}_srv-ioc1.1").as_str()
    );
    snapshot("service_show_info", &info);
}
