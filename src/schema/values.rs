//! The value syntaxes the rules of ioc.ini and settings.yaml are made of, each written
//! once: host names, CPU counts and memory sizes as the engine takes them, swarm
//! placement constraints, image references, load lines, file copies.

use std::net::IpAddr;

use crate::embedded::is_plain_relative;

/// A host name of RFC 1123: dot-separated labels of letters, digits and `-`, 1-63
/// characters each, not starting or ending with `-`, 253 characters at most. It is
/// what certificates, image references, URLs and folder names all accept.
pub(crate) fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A C-like identifier: what EPICS macro and environment names are in practice, and
/// what the substitutions file can carry as a pattern name.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The ST-IOC style name of an IOC executable: it appears in paths and, with `-`
/// turned into `_`, in the C function `<bin>_registerRecordDeviceDriver`.
pub(crate) fn is_bin_name(bin: &str) -> bool {
    let mut chars = bin.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(crate) const PV_RULE: &str = "expected a PV name: printable characters without spaces, quotes, '$', '\\' or '`', not starting with '-'";

/// A PV name `caget` gets inside single quotes of the check's shell command, and
/// never takes for an option.
pub(crate) fn is_pv_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"'$\\`".contains(&b))
}

pub(crate) const BIN_RULE: &str = "expected the name of the IOC executable in the image: letters, digits, \"_\" and \"-\", not starting with a digit or \"-\" (e.g. ST-IOC)";

/// `NAME=value` of an epics_env line, split at the first `=`.
pub(crate) fn env_assignment(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once('=')?;
    Some((name.trim(), value.trim()))
}

pub(crate) const ENV_RULE: &str =
    "expected NAME=value, NAME of letters, digits and \"_\", value without double quotes";

pub(crate) fn env_line(line: &str) -> Result<(), String> {
    let valid = env_assignment(line)
        .is_some_and(|(name, value)| is_identifier(name) && !value.contains('"'));
    if valid {
        Ok(())
    } else {
        Err(ENV_RULE.to_string())
    }
}

/// Words the substitutions file grammar reserves: unquoted they are keywords.
pub(crate) const SUBSTITUTION_KEYWORDS: [&str; 3] = ["file", "pattern", "global"];

/// One `[DB] load` line: `file.db` or `file.db, A=1, B=2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadLine<'a> {
    pub(crate) db: &'a str,
    pub(crate) macros: Vec<(&'a str, &'a str)>,
}

/// Parses a load line, with every reason it is unusable. Whether the db file exists
/// is for generation to find out, which alone reads `src/`.
pub(crate) fn parse_load_line(line: &str) -> Result<LoadLine<'_>, Vec<String>> {
    let mut items = line.split(',').map(str::trim);
    let db = items.next().unwrap_or("");
    let mut messages = Vec::new();
    if db.is_empty() {
        messages.push("no db file named first".to_string());
    } else if db == "." || db == ".." || db.contains(['/', '\\', '"']) {
        messages.push(format!(
            "db file \"{db}\" must be the name of a file in src/ (no folder, quote or backslash)"
        ));
    }
    let mut macros: Vec<(&str, &str)> = Vec::new();
    for item in items {
        let bad = |why: &str| format!("invalid macro definition \"{item}\": {why}");
        let Some((name, value)) = item.split_once('=') else {
            messages.push(if item.is_empty() {
                "invalid macro definition: nothing between two commas".to_string()
            } else {
                bad("expected NAME=value")
            });
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if !is_identifier(name) {
            messages.push(bad(
                "a macro name is letters, digits and \"_\", not starting with a digit",
            ));
        } else if SUBSTITUTION_KEYWORDS.contains(&name) {
            messages.push(bad("this macro name is a keyword of substitutions files"));
        } else if macros.iter().any(|(n, _)| *n == name) {
            messages.push(bad("the macro is already defined on this line"));
        }
        if value.is_empty() {
            messages.push(bad("the value is empty"));
        } else if value.contains(['"', '\\']) {
            messages.push(bad("a value may not contain a double quote or a backslash"));
        }
        macros.push((name, value));
    }
    if messages.is_empty() {
        Ok(LoadLine { db, macros })
    } else {
        Err(messages)
    }
}

/// `r`, `w`, `x` in any order, each at most once, `r` required (the IOC must read it).
pub(crate) fn file_mode(letters: &str) -> Option<u32> {
    let mut mode = 0;
    for c in letters.chars() {
        let bits = match c {
            'r' => 0o444,
            'w' => 0o200,
            'x' => 0o111,
            _ => return None,
        };
        if mode & bits != 0 {
            return None;
        }
        mode |= bits;
    }
    (mode & 0o444 != 0).then_some(mode)
}

/// Where a `[RAW] file_copy` entry takes its file from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopySource<'a> {
    /// A path inside the project's `src/`.
    Src(&'a str),
    /// A path inside the templates.
    Templates(&'a str),
}

/// One `src_path:dest_path[:mode]` entry of `[RAW] file_copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileCopy<'a> {
    pub(crate) source: CopySource<'a>,
    /// Relative to `project/`.
    pub(crate) destination: &'a str,
    pub(crate) mode: u32,
}

/// Parses a file_copy entry, with every reason it is unusable. Whether the source
/// exists is for generation to find out.
pub(crate) fn parse_file_copy(item: &str) -> Result<FileCopy<'_>, Vec<String>> {
    let parts: Vec<&str> = item.split(':').map(str::trim).collect();
    let (source, destination, letters) = match parts.as_slice() {
        [source, destination] => (*source, *destination, "r"),
        [source, destination, letters] => (*source, *destination, *letters),
        _ => {
            return Err(vec![
                "expected src/FILE:DEST[:MODE] or templates/FILE:DEST[:MODE], MODE of r, w, x"
                    .to_string(),
            ]);
        }
    };
    let mut messages = Vec::new();
    let mode = file_mode(letters);
    if mode.is_none() {
        messages.push(format!(
            "mode \"{letters}\" must be made of r, w and x, each at most once, with r"
        ));
    }
    if !is_plain_relative(destination) {
        messages.push(format!(
            "destination \"{destination}\" must be a path inside project/ (no leading \"/\", no \".\" or \"..\")"
        ));
    }
    let source = if let Some(relative) = source.strip_prefix("src/") {
        if is_plain_relative(relative) {
            Some(CopySource::Src(relative))
        } else {
            messages.push(format!(
                "source \"{source}\" must be a path inside src/ (no \".\" or \"..\")"
            ));
            None
        }
    } else if let Some(relative) = source.strip_prefix("templates/") {
        if is_plain_relative(relative) {
            Some(CopySource::Templates(relative))
        } else {
            messages.push(format!(
                "source \"{source}\" must be a path inside templates/ (no \".\" or \"..\")"
            ));
            None
        }
    } else {
        messages
            .push("source files can only be in \"src/\" or \"templates/\" directory".to_string());
        None
    };
    match (source, mode) {
        (Some(source), Some(mode)) if messages.is_empty() => Ok(FileCopy {
            source,
            destination,
            mode,
        }),
        _ => Err(messages),
    }
}

/// The smallest CPU count swarm accepts (swarmkit's `validateResources`: 1e6 nano CPUs).
const MIN_NANO_CPUS: u64 = 1_000_000;

pub(crate) const CPUS_RULE: &str = "expected a number of CPUs such as 0.5 or 2: digits with an optional decimal point, at least 0.001, at most 9 decimals";

/// A CPU count as a plain decimal (`0.5`, `2`, `.25`), which the engine takes as nano
/// CPUs: at least 0.001 and a whole number of nano CPUs.
pub(crate) fn cpus(text: &str) -> Result<u64, String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(CPUS_RULE.to_string());
    }
    if fraction.len() > 9 {
        return Err(CPUS_RULE.to_string());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| CPUS_RULE.to_string())?
    };
    let fraction_nanos: u64 = format!("{fraction:0<9}")
        .parse()
        .map_err(|_| CPUS_RULE.to_string())?;
    let nanos = whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(fraction_nanos))
        .ok_or_else(|| CPUS_RULE.to_string())?;
    if nanos < MIN_NANO_CPUS {
        return Err(CPUS_RULE.to_string());
    }
    Ok(nanos)
}

const MIB: u64 = 1024 * 1024;
/// The engine refuses a container whose memory limit is below 6 MiB ("Minimum memory
/// limit allowed is 6MB"), so a service with such a limit never starts a task.
pub(crate) const MIN_MEMORY_LIMIT: u64 = 6 * MIB;
/// swarmkit's `validateResources` refuses a reservation below 4 MiB.
pub(crate) const MIN_MEMORY_RESERVATION: u64 = 4 * MIB;

pub(crate) fn memory_rule(minimum: u64) -> String {
    format!(
        "expected a size with a unit b, k, m or g (k, m and g may be followed by b), e.g. 512M, 1G or 1.5g, at least {}M",
        minimum / MIB
    )
}

/// Bytes of a memory size in Docker's binary units: a decimal number and a unit
/// `b`, `k`, `m` or `g` (`kb`, `mb`, `gb` too), any case. A unit is required: a bare
/// number means bytes to the engine, never what was meant.
pub(crate) fn memory(text: &str, minimum: u64) -> Result<u64, String> {
    let rule = || memory_rule(minimum);
    let lower = text.to_ascii_lowercase();
    let number_len = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(number_len);
    let scale: u64 = match unit {
        "b" => 1,
        "k" | "kb" => 1024,
        "m" | "mb" => MIB,
        "g" | "gb" => 1024 * MIB,
        _ => return Err(rule()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(rule());
    }
    let value: f64 = number.parse().map_err(|_| rule())?;
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(rule());
    }
    // The engine truncates a fraction of a byte, as go-units does.
    let bytes = bytes as u64;
    if bytes < minimum {
        return Err(rule());
    }
    Ok(bytes)
}

/// Node attributes a swarm placement constraint can name (swarmkit's
/// `constraint.NodeMatches`); any other key matches no node, so its tasks stay pending.
const CONSTRAINT_ATTRIBUTES: [&str; 6] = [
    "node.id",
    "node.hostname",
    "node.ip",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
];
const LABEL_ATTRIBUTES: [&str; 2] = ["node.labels.", "engine.labels."];

pub(crate) const CONSTRAINT_RULE: &str = "expected ATTRIBUTE==value or ATTRIBUTE!=value with an attribute swarm knows (node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.LABEL, engine.labels.LABEL), e.g. node.labels.rack==a";

/// A placement constraint as swarmkit's `constraint.Parse` reads it (the first of `==`,
/// `!=` found splits it; a key of `[A-Za-z_][A-Za-z0-9-_.]+`, a value of letters,
/// digits, blanks and `:-_.*()?+[]\^$|/`), naming an attribute it matches nodes by.
pub(crate) fn constraint(text: &str) -> Result<(), String> {
    let Some((key, value)) = ["==", "!="].into_iter().find_map(|op| text.split_once(op)) else {
        return Err(CONSTRAINT_RULE.to_string());
    };
    let (key, value) = (key.trim(), value.trim());
    let mut key_chars = key.chars();
    let key_ok = key.len() >= 2
        && key_chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let lower = key.to_ascii_lowercase();
    let known = CONSTRAINT_ATTRIBUTES.contains(&lower.as_str())
        || LABEL_ATTRIBUTES
            .iter()
            .any(|prefix| lower.len() > prefix.len() && lower.starts_with(prefix));
    if !key_ok || !known {
        return Err(format!(
            "\"{key}\" is no attribute swarm places by; {CONSTRAINT_RULE}"
        ));
    }
    let value_ok = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || c.is_ascii_whitespace() || ":-_.*()?+[]\\^$|/".contains(c)
        });
    if !value_ok {
        return Err(format!(
            "the value \"{value}\" may only hold letters, digits, blanks and : - _ . * ( ) ? + [ ] \\ ^ $ | / (swarm refuses anything else)"
        ));
    }
    match lower.as_str() {
        "node.role" if !["manager", "worker"].contains(&value.to_ascii_lowercase().as_str()) => {
            Err(format!(
                "node.role is manager or worker, not \"{value}\" (no node would match)"
            ))
        }
        "node.ip" if value.parse::<IpAddr>().is_err() && !is_cidr(value) => Err(format!(
            "node.ip takes an IP address or a network such as 10.0.0.0/24, not \"{value}\" (no node would match)"
        )),
        _ => Ok(()),
    }
}

fn is_cidr(text: &str) -> bool {
    let Some((address, bits)) = text.split_once('/') else {
        return false;
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let max = if address.is_ipv4() { 32 } else { 128 };
    bits.parse::<u8>().is_ok_and(|b| b <= max)
}

pub(crate) const LABEL_RULE: &str = "expected key=value, the key of letters, digits, \".\", \"-\", \"_\" and \"/\", starting and ending with a letter or digit";
/// Label keys iocdock sets itself, and the namespaces Docker keeps for its own labels
/// (`com.docker.stack.namespace` is how the stack finds its services).
const OWN_LABELS: [&str; 1] = ["service-type"];
const DOCKER_LABEL_PREFIXES: [&str; 3] = ["com.docker.", "io.docker.", "org.dockerproject."];

/// One `[DEPLOY] labels` line: `key=value`.
pub(crate) fn label(line: &str) -> Result<(), String> {
    let Some((key, _)) = line.split_once('=') else {
        return Err(LABEL_RULE.to_string());
    };
    let key = key.trim();
    let edges_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !edges_ok
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
    {
        return Err(LABEL_RULE.to_string());
    }
    let lower = key.to_ascii_lowercase();
    if OWN_LABELS.contains(&lower.as_str()) {
        return Err(format!(
            "the label \"{key}\" is set by iocdock (service-type: ioc), choose another key"
        ));
    }
    if DOCKER_LABEL_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return Err(format!(
            "the label \"{key}\" lies in a namespace Docker keeps for itself (com.docker., io.docker., org.dockerproject.)"
        ));
    }
    Ok(())
}

pub(crate) const IMAGE_RULE: &str = "expected an image reference as docker takes it: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], NAME in lower case, e.g. registry.iasf/ioc-exec:1.1.0";

pub(crate) fn image(text: &str) -> Result<(), String> {
    if crate::compose::image::is_valid(text) {
        Ok(())
    } else {
        Err(IMAGE_RULE.to_string())
    }
}

/// A user name as Debian's adduser accepts it, so it can stand in the inventory and
/// in a playbook's user module unquoted.
pub(crate) fn is_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

/// Inventory host names: what ansible's INI inventory reads as one plain name.
pub(crate) fn is_inventory_host(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Absolute, and free of what YAML, shells or compose would read as syntax.
pub(crate) fn is_plain_path(text: &str) -> bool {
    text.starts_with('/')
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.' | '+' | '@' | ',')
        })
}

pub(crate) fn is_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !host.is_empty()
        && !host.contains(char::is_whitespace)
        && port.parse::<u16>().is_ok_and(|p| p != 0)
}

pub(crate) fn is_email(text: &str) -> bool {
    text.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && (domain.contains('.') || domain == "localhost")
    }) && !text.contains(|c: char| c.is_whitespace() || matches!(c, ',' | '<' | '>' | '"'))
}

pub(crate) fn is_url(text: &str) -> bool {
    (text.starts_with("http://") || text.starts_with("https://"))
        && text.len() > "https://".len()
        && !text.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        let long_label = "a".repeat(63);
        let long_name = ["abcdefghi"; 25].join(".");
        for good in [
            "registry.iasf",
            "localhost",
            "a-b.c1",
            "x",
            "10.0.0.1",
            &long_label,
            &long_name,
        ] {
            assert!(is_dns_name(good), "{good}");
        }
        let too_long_label = "a".repeat(64);
        let too_long_name = ["abcdefghi"; 26].join(".");
        for bad in [
            "",
            "a..b",
            "registry..iasf",
            "-a.b",
            "a-.b",
            ".a",
            "a.",
            "a b",
            "a/b",
            "a_b",
            "reg:443",
            "ä",
            &too_long_label,
            &too_long_name,
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn cpus_are_positive_decimals_swarm_accepts() {
        assert_eq!(cpus("0.5"), Ok(500_000_000));
        assert_eq!(cpus("2"), Ok(2_000_000_000));
        assert_eq!(cpus(".25"), Ok(250_000_000));
        assert_eq!(cpus("1."), Ok(1_000_000_000));
        assert_eq!(cpus("0.001"), Ok(1_000_000));
        for bad in [
            "",
            ".",
            "0",
            "0.0",
            "0.0009",
            "lots",
            "-1",
            "1/4",
            "1e3",
            "1.2.3",
            "0x1",
            " 1",
            "1,5",
            "0.0000000001",
        ] {
            assert!(cpus(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn memory_needs_a_unit_and_the_engine_minimum() {
        let limit = MIN_MEMORY_LIMIT;
        assert_eq!(memory("512M", limit), Ok(512 * MIB));
        assert_eq!(memory("512m", limit), Ok(512 * MIB));
        assert_eq!(memory("1G", limit), Ok(1024 * MIB));
        assert_eq!(memory("1gb", limit), Ok(1024 * MIB));
        assert_eq!(memory("1.5g", limit), Ok(1536 * MIB));
        assert_eq!(memory("0.8G", limit), Ok(858_993_459));
        assert_eq!(memory("6m", limit), Ok(6 * MIB));
        assert_eq!(memory("6291456b", limit), Ok(6 * MIB));
        assert_eq!(memory("4M", MIN_MEMORY_RESERVATION), Ok(4 * MIB));
        for bad in [
            "", "M", "512", "1T", "1GiB", "1 G", "5M", "5.9m", "1..2G", "-1G", "lots", "1Gb2",
        ] {
            assert!(memory(bad, limit).is_err(), "{bad:?}");
        }
        assert!(memory("3M", MIN_MEMORY_RESERVATION).is_err());
    }

    #[test]
    fn constraints_as_swarm_parses_and_matches_them() {
        for good in [
            "node.role==worker",
            "node.role == Manager",
            "node.hostname!=x",
            "node.labels.rack==a",
            "NODE.LABELS.rack==a b",
            "engine.labels.zone==eu-1",
            "node.platform.os==linux",
            "node.platform.arch==x86_64",
            "node.id==abc123",
            "node.ip==10.0.0.1",
            "node.ip!=10.0.0.0/24",
        ] {
            assert_eq!(constraint(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "node.role=worker",
            "node.role",
            "node.rack==a",
            "node.labels.==a",
            "labels.rack==a",
            "node.role==boss",
            "node.labels.rack==",
            "node.labels.rack==a,b",
            "node.labels.rack==a==b",
            "node.labels.rack==<a>",
            "node.ip==10.0.0.300",
            "1node.id==x",
        ] {
            assert!(constraint(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_are_keys_with_values() {
        for good in ["test=true", "rack=a", "a.b/c-d_e=", "x=y=z"] {
            assert_eq!(label(good), Ok(()), "{good}");
        }
        for bad in [
            "novalue",
            "=x",
            "-a=1",
            "a-=1",
            "a b=1",
            "service-type=other",
            "com.docker.stack.namespace=x",
            "io.docker.x=1",
        ] {
            assert!(label(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_copies_name_their_folders() {
        assert_eq!(
            parse_file_copy("src/a.proto:startup/a.proto:rw"),
            Ok(FileCopy {
                source: CopySource::Src("a.proto"),
                destination: "startup/a.proto",
                mode: 0o644,
            })
        );
        assert_eq!(
            parse_file_copy("templates/db/asynRecord.db:startup/db/asynRecord.db")
                .map(|c| c.source),
            Ok(CopySource::Templates("db/asynRecord.db"))
        );
        assert_eq!(
            parse_file_copy("src/a:../b:rq").unwrap_err().len(),
            2,
            "every problem of the entry"
        );
        assert!(parse_file_copy("src/a").is_err());
        assert!(parse_file_copy("/etc/passwd:startup/p").is_err());
    }

    #[test]
    fn file_modes() {
        assert_eq!(file_mode("r"), Some(0o444));
        assert_eq!(file_mode("rw"), Some(0o644));
        assert_eq!(file_mode("wr"), Some(0o644));
        assert_eq!(file_mode("rx"), Some(0o555));
        assert_eq!(file_mode("rwx"), Some(0o755));
        assert_eq!(file_mode("w"), None);
        assert_eq!(file_mode("rr"), None);
        assert_eq!(file_mode(""), None);
        assert_eq!(file_mode("R"), None);
    }
}
