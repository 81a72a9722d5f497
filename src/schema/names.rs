//! Names the engine accepts for swarm services. IOC `foo` runs as `<prefix>_srv-foo`,
//! and swarm refuses a service whose name is not a DNS label of its own making
//! (swarmkit's `validateAnnotations`: `^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`, 63
//! characters at most). Checked on the whole name, so the prefix and the IOC name
//! are judged together.

use crate::schema::ioc_name;

/// The longest name of a built-in service, which every stack prefix must leave room
/// for. The catalog owns the built-in services; a test there keeps this the longest.
pub(crate) const LONGEST_BUILT_IN_NAME: &str = "swarmExporter";

/// swarmkit refuses longer service names ("name must be 63 characters or fewer").
pub(crate) const MAX_SERVICE_NAME: usize = 63;

const SERVICE_NAME_RULE: &str = "swarm service names are letters and digits, joined by single runs of \"-\" or \"_\", 63 characters at most";

/// Whether swarm accepts `name` as a service name.
pub(crate) fn is_service_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    name.len() <= MAX_SERVICE_NAME
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The key of the service of IOC or built-in service `name` in its compose file:
/// `srv-<name>`. The one place of the rule: the IOC service file and the service
/// catalog both name services by it.
pub(crate) fn service_key(name: &str) -> String {
    format!("srv-{name}")
}

/// The swarm service `docker stack deploy` makes of compose key `key`: `<prefix>_<key>`.
pub(crate) fn stack_service_name(prefix: &str, key: &str) -> String {
    format!("{prefix}_{key}")
}

/// The swarm service of IOC `name`: `<prefix>_srv-<name>`.
pub(crate) fn ioc_service_name(prefix: &str, name: &str) -> String {
    stack_service_name(prefix, &service_key(name))
}

/// An IOC name whose service swarm would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "IOC name \"{name}\" cannot run as the swarm service \"{service}\": {reason} ({SERVICE_NAME_RULE})"
)]
pub(crate) struct UndeployableName {
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) service: String,
    pub(crate) reason: String,
}

impl UndeployableName {
    /// A name to rename the IOC to, for the hint (`NEW_NAME` when none fits).
    pub(crate) fn new_name(&self) -> String {
        suggested_name(&self.prefix, &self.name).unwrap_or_else(|| "NEW_NAME".to_string())
    }
}

/// Checks that swarm takes the service name of IOC `name`. The prefix is assumed
/// valid (see `prefix_problem`); only what the IOC name adds is judged.
pub(crate) fn check_ioc_name(prefix: &str, name: &str) -> Result<(), UndeployableName> {
    let service = ioc_service_name(prefix, name);
    let reason = if name.contains('.') {
        "it has a \".\"".to_string()
    } else if name.ends_with(['-', '_']) {
        "it ends with \"-\" or \"_\"".to_string()
    } else if service.len() > MAX_SERVICE_NAME {
        format!(
            "that is {} characters; with prefix_stack_name \"{prefix}\" IOC names have {} at most",
            service.len(),
            MAX_SERVICE_NAME.saturating_sub(service.len() - name.len())
        )
    } else if !is_service_name(&service) {
        "it has a character swarm refuses".to_string()
    } else {
        return Ok(());
    };
    Err(UndeployableName {
        name: name.to_string(),
        prefix: prefix.to_string(),
        service,
        reason,
    })
}

/// A name swarm would take in place of an undeployable one, for the hint of the
/// rename to run: dots become `-`, trailing `-`/`_` go, too long a name is cut.
pub(crate) fn suggested_name(prefix: &str, name: &str) -> Option<String> {
    let room = MAX_SERVICE_NAME.checked_sub(ioc_service_name(prefix, "").len())?;
    let mut suggestion: String = name
        .chars()
        .map(|c| if c == '.' { '-' } else { c })
        .take(room.min(ioc_name::MAX_NAME_LEN))
        .collect();
    while suggestion.ends_with(['-', '_']) {
        suggestion.pop();
    }
    (ioc_name::validate(&suggestion).is_ok() && check_ioc_name(prefix, &suggestion).is_ok())
        .then_some(suggestion)
}

/// Why swarm would refuse the services of stack prefix `prefix`, if it would.
pub(crate) fn prefix_problem(prefix: &str) -> Option<String> {
    let longest = ioc_service_name(prefix, LONGEST_BUILT_IN_NAME);
    if !is_service_name(prefix) || prefix.contains(['.']) {
        Some(format!(
            "\"{prefix}\" is not a stack name swarm accepts (letters and digits, joined by single runs of \"-\" or \"_\"; services are named <prefix>_srv-<name>)"
        ))
    } else if longest.len() > MAX_SERVICE_NAME {
        Some(format!(
            "\"{prefix}\" is too long: the built-in services' names ({longest}) would exceed the 63 characters swarm allows ({} at most)",
            MAX_SERVICE_NAME - (longest.len() - prefix.len())
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_names_are_dns_label_like() {
        for good in ["a", "iasf_srv-x", "A-b_C--d__e", "9", &"x".repeat(63)] {
            assert!(is_service_name(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "_a",
            "a-",
            "a_",
            "a.b",
            "a b",
            "ä",
            &"x".repeat(64),
        ] {
            assert!(!is_service_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn ioc_names_are_judged_with_the_prefix() {
        assert_eq!(check_ioc_name("iasf", "worker_test_1"), Ok(()));
        assert_eq!(check_ioc_name("iasf", "1bad"), Ok(()));
        let dotted = check_ioc_name("iasf", "1.bad").unwrap_err();
        assert_eq!(dotted.service, "iasf_srv-1.bad");
        assert!(dotted.to_string().contains("has a \".\""), "{dotted}");
        assert!(check_ioc_name("iasf", "ab-").is_err());
        assert!(check_ioc_name("iasf", "ab_").is_err());
        // 63 characters in all: just inside; one more: outside.
        let prefix = "p".repeat(20);
        let fits = "n".repeat(63 - 25);
        assert_eq!(check_ioc_name(&prefix, &fits), Ok(()));
        let long = check_ioc_name(&prefix, &format!("{fits}n")).unwrap_err();
        assert!(
            long.to_string().contains("IOC names have 38 at most"),
            "{long}"
        );
    }

    #[test]
    fn suggestions_are_names_swarm_takes() {
        assert_eq!(suggested_name("iasf", "1.bad").as_deref(), Some("1-bad"));
        assert_eq!(suggested_name("iasf", "ab-").as_deref(), Some("ab"));
        assert_eq!(suggested_name("iasf", "a.b._").as_deref(), Some("a-b"));
        let prefix = "p".repeat(40);
        assert_eq!(
            suggested_name(&prefix, &"n".repeat(30)).map(|s| s.len()),
            Some(18)
        );
    }

    #[test]
    fn prefixes_leave_room_for_the_built_in_services() {
        assert_eq!(prefix_problem("iasf"), None);
        // 63 characters for <prefix>_srv-swarmExporter, the longest built-in name.
        assert_eq!(prefix_problem(&"p".repeat(45)), None);
        let long = prefix_problem(&"p".repeat(46)).unwrap();
        assert!(
            long.ends_with(
                "_srv-swarmExporter) would exceed the 63 characters swarm allows (45 at most)"
            ),
            "{long}"
        );
        for bad in ["", "a.b", "a b", "-a", "a_", "lab/x"] {
            assert!(prefix_problem(bad).is_some(), "{bad:?}");
        }
    }
}
