//! bcrypt hashes of the built-in services' passwords: the registries' htpasswd files
//! (one `user:bcrypt-hash` line each) and the web configuration of prometheus and
//! alertmanager. The cluster has two registry identities, because distribution's
//! htpasswd knows no rights per user: the pull identity (every node, and the services
//! deployed with it) reaches only the read-only registry, the push identity (the
//! manager) only the registry that writes.

use crate::settings::Settings;

/// The services check the hash on every request (a push makes dozens), so the cost
/// is a compromise between that latency and the work of guessing offline; `htpasswd
/// -B` uses 5, Go's bcrypt default is 10.
const COST: u32 = 10;

/// One of the two registry logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Identity {
    /// Nodes and services: the read-only registry on `registry_port`.
    Pull,
    /// The manager: the registry on `registry_push_port`, which stores images.
    Push,
}

impl Identity {
    pub(crate) const ALL: [Identity; 2] = [Identity::Pull, Identity::Push];

    pub(crate) fn username_key(self) -> &'static str {
        match self {
            Identity::Pull => "registry_login_username",
            Identity::Push => "registry_push_username",
        }
    }

    pub(crate) fn password_key(self) -> &'static str {
        match self {
            Identity::Pull => "registry_login_password",
            Identity::Push => "registry_push_password",
        }
    }

    /// The htpasswd file of the registry it logs in to, relative to `$MOUNT_PATH/swarm`.
    pub(crate) fn htpasswd(self) -> &'static str {
        match self {
            Identity::Pull => "registry/auth/htpasswd",
            Identity::Push => "registryPush/auth/htpasswd",
        }
    }

    /// User and password as the settings give them (empty when unset).
    pub(crate) fn credentials(self, settings: &Settings) -> (&str, &str) {
        match self {
            Identity::Pull => (
                &settings.registry_login_username,
                &settings.registry_login_password,
            ),
            Identity::Push => (
                &settings.registry_push_username,
                &settings.registry_push_password,
            ),
        }
    }
}

/// The user of an htpasswd file of ours (its one line).
pub(crate) fn user_of(existing: &str) -> Option<&str> {
    existing
        .lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|line| line.split_once(':'))
        .map(|(user, _)| user)
}

/// Whether `existing` is exactly the line for `user` and `password`.
fn matches(existing: &str, user: &str, password: &str) -> bool {
    let mut lines = existing.lines().filter(|l| !l.trim().is_empty());
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return false;
    };
    line.split_once(':')
        .is_some_and(|(name, hash)| name == user && verifies(hash.trim(), password))
}

/// The htpasswd file of `identity` for `user`. An `existing` file that already holds
/// this user and password is returned unchanged: a fresh hash has a fresh salt, and
/// rewriting the file on every run would count as a change of the (deployed) registry.
pub(crate) fn file(
    identity: Identity,
    user: &str,
    password: &str,
    existing: Option<&str>,
) -> Result<String, String> {
    let (user_key, password_key) = (identity.username_key(), identity.password_key());
    if user.is_empty() || user.contains(|c: char| c == ':' || c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{user_key}: \"{user}\" cannot be an htpasswd user (no ':', spaces or control characters)"
        ));
    }
    if password.is_empty() {
        return Err(format!("{password_key} is empty"));
    }
    if let Some(existing) = existing.filter(|e| matches(e, user, password)) {
        return Ok(existing.to_string());
    }
    Ok(format!("{user}:{}\n", hash(password, password_key)?))
}

/// A new bcrypt hash of `password`, the value of the settings key `key`.
pub(crate) fn hash(password: &str, key: &str) -> Result<String, String> {
    let hash = bcrypt::non_truncating_hash_with_result(password, COST).map_err(|e| match e {
        bcrypt::BcryptError::Truncation(_) => {
            format!("{key} is longer than 72 bytes, which bcrypt cannot hash")
        }
        other => format!("cannot hash {key}: {other}"),
    })?;
    // $2y$ like `htpasswd -B`, which is what the services' documentation shows.
    Ok(hash.format_for_version(bcrypt::Version::TwoY))
}

/// Whether `hash` is a bcrypt hash of `password`.
pub(crate) fn verifies(hash: &str, password: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_line_verifies_and_an_equal_one_is_kept() {
        let first = file(Identity::Pull, "ops", "s3cret", None).unwrap();
        let (user, hash) = first.trim_end().split_once(':').unwrap();
        assert_eq!(user, "ops");
        assert_eq!(user_of(&first), Some("ops"));
        assert!(hash.starts_with("$2y$10$"), "{hash}");
        assert!(bcrypt::verify("s3cret", hash).unwrap());
        assert_eq!(
            file(Identity::Pull, "ops", "s3cret", Some(&first)).unwrap(),
            first
        );
        assert_ne!(
            file(Identity::Pull, "ops", "other", Some(&first)).unwrap(),
            first
        );
        assert_ne!(
            file(Identity::Pull, "dev", "s3cret", Some(&first)).unwrap(),
            first
        );
    }

    #[test]
    fn unusable_credentials_are_refused_naming_the_key() {
        assert!(
            file(Identity::Pull, "a:b", "x", None)
                .unwrap_err()
                .contains("registry_login_username")
        );
        assert!(
            file(Identity::Push, "a b", "x", None)
                .unwrap_err()
                .starts_with("registry_push_username: \"a b\"")
        );
        assert_eq!(
            file(Identity::Push, "a", "", None).unwrap_err(),
            "registry_push_password is empty"
        );
        let long = "x".repeat(73);
        assert!(
            file(Identity::Pull, "a", &long, None)
                .unwrap_err()
                .starts_with("registry_login_password is longer than 72 bytes")
        );
    }

    #[test]
    fn hashes_verify_their_password_only() {
        let hashed = hash("m0n", "monitoring_admin_password").unwrap();
        assert!(hashed.starts_with("$2y$10$"), "{hashed}");
        assert!(verifies(&hashed, "m0n"));
        assert!(!verifies(&hashed, "m0n "));
        assert!(!verifies("not a hash", "m0n"));
        let err = hash(&"x".repeat(73), "monitoring_admin_password").unwrap_err();
        assert!(err.starts_with("monitoring_admin_password is longer than 72 bytes"));
    }
}
