//! The compose file format, as far as swarm deployment uses it: the files this tool
//! writes (IOC services), ships (built-in services) and reads from users (custom
//! services). Unknown keys are refused when reading (never silently dropped), value
//! types follow the compose schema `docker stack deploy` validates against (so a file
//! we accept deploys with the docker CLI too), and writing emits only what is set.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_untagged::UntaggedEnumVisitor;

fn is_false(value: &bool) -> bool {
    !*value
}

/// Text where the compose schema wants a string: `cpus: 0.5` or `user: 1000` are
/// refused (as `docker stack deploy` refuses them) instead of being read as text.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        UntaggedEnumVisitor::new()
            .expecting("a string (quote numbers and booleans: '0.5')")
            .string(|v| Ok(Text(v.to_string())))
            .deserialize(deserializer)
    }
}

fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Text::deserialize(deserializer).map(|t| t.0)
}

fn opt_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::<Text>::deserialize(deserializer).map(|t| t.map(|t| t.0))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComposeFile {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) version: Option<String>,
    pub(crate) services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) networks: BTreeMap<String, Option<Network>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) volumes: BTreeMap<String, Option<NamedVolume>>,
}

/// A command written either as one string (split like a shell would) or as a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum StringOrList {
    One(String),
    List(Vec<String>),
}

// By hand: serde-untagged reads the list through its own error type, which
// would name the key path and position of an error inside it twice (`command[1]`).
impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrList::One(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(StringOrList::List(items))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A value of an environment or label mapping. The compose schema allows text and
/// numbers (not booleans: `true` must be quoted); numbers become text on deploy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Text(String),
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Text(v) => serializer.serialize_str(v),
            Scalar::Int(v) => serializer.serialize_i64(*v),
            Scalar::UInt(v) => serializer.serialize_u64(*v),
            Scalar::Float(v) => serializer.serialize_f64(*v),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        UntaggedEnumVisitor::new()
            .expecting("a string or a number (quote booleans: 'true')")
            .string(|v| Ok(Scalar::Text(v.to_string())))
            .i64(|v| Ok(Scalar::Int(v)))
            .u64(|v| Ok(i64::try_from(v).map_or(Scalar::UInt(v), Scalar::Int)))
            .f64(|v| Ok(Scalar::Float(v)))
            .deserialize(deserializer)
    }
}

/// `KEY: value` pairs written as a mapping or as a list of `KEY=value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum KeyValues {
    Map(BTreeMap<String, Option<Scalar>>),
    List(Vec<String>),
}

// By hand: serde-untagged reads the mapping or list through its own error type, which
// would name the key path and position of an error inside it twice (`labels.a`).
impl<'de> Deserialize<'de> for KeyValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyValues;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping or a list of KEY=value strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, Option<Scalar>>()? {
                    out.insert(key, value);
                }
                Ok(KeyValues::Map(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(KeyValues::List(items))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum ServiceNetworks {
    List(Vec<String>),
    Map(BTreeMap<String, Option<ServiceNetwork>>),
}

// By hand: serde-untagged reads the mapping or list through its own error type, which
// would name the key path and position of an error inside it twice (`networks.a`).
impl<'de> Deserialize<'de> for ServiceNetworks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServiceNetworks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of network names or a mapping of network name to settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, Option<ServiceNetwork>>()? {
                    out.insert(key, value);
                }
                Ok(ServiceNetworks::Map(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(ServiceNetworks::List(items))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceNetwork {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) aliases: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Service {
    #[serde(deserialize_with = "text")]
    pub(crate) image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) entrypoint: Option<StringOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) command: Option<StringOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) environment: Option<KeyValues>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) working_dir: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) user: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) hostname: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) tty: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) stdin_open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) labels: Option<KeyValues>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) networks: Option<ServiceNetworks>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) volumes: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) healthcheck: Option<HealthCheck>,
    /// `host:address` lines for the container's /etc/hosts; the address may be
    /// `host-gateway`, which the engine replaces by the node's bridge address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) extra_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) deploy: Option<Deploy>,
}

/// A container health check. `test` as one string runs in the image's shell
/// (`CMD-SHELL`); as a list it is `[CMD, program, args...]`, `[CMD-SHELL, command]`
/// or `[NONE]`. `start_interval` is left out: API 1.41 engines do not know it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) test: Option<StringOrList>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) interval: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retries: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) start_period: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) disable: bool,
}

/// A published port: `"8080:80/udp"`, `80`, or the long form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum Port {
    Short(String),
    Long(PortLong),
}

// By hand: serde-untagged reads the long form through its own error type, which
// would name the key path and position of an error inside it twice (`ports[0]`).
impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port (\"8080:80/tcp\", 80) or a mapping with target, published, protocol, mode")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Port::Short(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Port::Short(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Port::Short(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                PortLong::deserialize(de::value::MapAccessDeserializer::new(map)).map(Port::Long)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortLong {
    pub(crate) target: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) published: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) protocol: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) mode: Option<String>,
}

/// A mount: `"./data:/data:ro"`, `"name:/data"`, or the long form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum Mount {
    Short(String),
    Long(MountLong),
}

// By hand: serde-untagged reads the long form through its own error type, which
// would name the key path and position of an error inside it twice (`volumes[0]`).
impl<'de> Deserialize<'de> for Mount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Mount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a volume (\"./src:/target:ro\") or a mapping with type, source, target, read_only")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Mount::Short(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                MountLong::deserialize(de::value::MapAccessDeserializer::new(map)).map(Mount::Long)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MountLong {
    #[serde(rename = "type", deserialize_with = "text")]
    pub(crate) kind: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) source: Option<String>,
    #[serde(deserialize_with = "text")]
    pub(crate) target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Deploy {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) replicas: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) labels: Option<KeyValues>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) endpoint_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) placement: Option<Placement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) restart_policy: Option<RestartPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) update_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rollback_config: Option<UpdateConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Placement {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) preferences: Vec<PlacementPreference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_replicas_per_node: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlacementPreference {
    #[serde(deserialize_with = "text")]
    pub(crate) spread: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) limits: Option<ResourceAmounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reservations: Option<ResourceAmounts>,
}

/// CPUs (`'0.5'`) and memory (`512M`, `0.8G`). Both are strings in the compose schema
/// (`cpus: 0.5` unquoted is refused by docker too).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResourceAmounts {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) cpus: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) memory: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestartPolicy {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) condition: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) delay: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_attempts: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) window: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parallelism: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) delay: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) failure_action: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) monitor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_failure_ratio: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) order: Option<String>,
}

/// `driver_opts` values: text or numbers, as for environment values.
pub(crate) type DriverOptions = BTreeMap<String, Scalar>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Network {
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) external: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) driver_opts: DriverOptions,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) attachable: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) internal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) labels: Option<KeyValues>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamedVolume {
    #[serde(default, skip_serializing_if = "is_false")]
    pub(crate) external: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub(crate) driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) driver_opts: DriverOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) labels: Option<KeyValues>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error of a service `web` of image `x` with one more line `key: value`.
    fn error(line: &str) -> String {
        let text = format!("services:\n  web:\n    image: x\n    {line}\n");
        match serde_yaml::from_str::<ComposeFile>(&text) {
            Ok(file) => panic!("expected an error, read {file:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// The reason five visitors are hand-written: an error inside a list, a mapping or
    /// a long form names one key path and one position.
    #[test]
    fn an_error_inside_a_value_names_one_key_path() {
        assert_eq!(
            error("command: [a, {b: 1}]"),
            "services.web.command[1]: invalid type: map, expected a string at line 4 column 18"
        );
        assert_eq!(
            error("labels: {a: true}"),
            "services.web.labels.a: invalid type: boolean `true`, expected a string or a number (quote booleans: 'true') at line 4 column 17"
        );
        assert_eq!(
            error("networks: {a: {bogus: 1}}"),
            "services.web.networks.a: unknown field `bogus`, expected `aliases` at line 4 column 20"
        );
        assert_eq!(
            error("ports: [{host_ip: a, target: 1}]"),
            "services.web.ports[0]: unknown field `host_ip`, expected one of `target`, `published`, `protocol`, `mode` at line 4 column 14"
        );
        assert_eq!(
            error("volumes: [{bind: 1}]"),
            "services.web.volumes[0]: unknown field `bind`, expected one of `type`, `source`, `target`, `read_only` at line 4 column 16"
        );
    }

    #[test]
    fn text_and_scalars_say_what_to_quote() {
        assert_eq!(
            error("user: 1000"),
            "services.web.user: invalid type: integer `1000`, expected a string (quote numbers and booleans: '0.5') at line 4 column 11"
        );
        let file: ComposeFile = serde_yaml::from_str(
            "services:\n  web:\n    image: x\n    environment: {A: 1.5, B: -3, C: 18446744073709551615, D: d}\n",
        )
        .expect("numbers and text are environment values");
        let Some(KeyValues::Map(env)) = &file.services["web"].environment else {
            panic!("a mapping: {file:?}");
        };
        assert_eq!(
            env.values().cloned().collect::<Vec<_>>(),
            [
                Some(Scalar::Float(1.5)),
                Some(Scalar::Int(-3)),
                Some(Scalar::UInt(u64::MAX)),
                Some(Scalar::Text("d".to_string())),
            ]
        );
    }
}
