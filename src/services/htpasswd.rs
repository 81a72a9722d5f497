//! bcrypt hashes of the built-in services' passwords: the registry's htpasswd file
//! (one `user:bcrypt-hash` line) and the web configuration of prometheus and
//! alertmanager.

/// The services check the hash on every request (a push makes dozens), so the cost
/// is a compromise between that latency and the work of guessing offline; `htpasswd
/// -B` uses 5, Go's bcrypt default is 10.
const COST: u32 = 10;

/// Whether `existing` is exactly the line for `user` and `password`.
fn matches(existing: &str, user: &str, password: &str) -> bool {
    let mut lines = existing.lines().filter(|l| !l.trim().is_empty());
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return false;
    };
    line.split_once(':')
        .is_some_and(|(name, hash)| name == user && verifies(hash.trim(), password))
}

/// The htpasswd file for `user`. An `existing` file that already holds this user and
/// password is returned unchanged: a fresh hash has a fresh salt, and rewriting the
/// file on every run would count as a change of the (deployed) registry.
pub(crate) fn file(user: &str, password: &str, existing: Option<&str>) -> Result<String, String> {
    if user.is_empty() || user.contains(|c: char| c == ':' || c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "registry_login_username: \"{user}\" cannot be an htpasswd user (no ':', spaces or control characters)"
        ));
    }
    if password.is_empty() {
        return Err("registry_login_password is empty".to_string());
    }
    if let Some(existing) = existing.filter(|e| matches(e, user, password)) {
        return Ok(existing.to_string());
    }
    Ok(format!(
        "{user}:{}\n",
        hash(password, "registry_login_password")?
    ))
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
        let first = file("ops", "s3cret", None).unwrap();
        let (user, hash) = first.trim_end().split_once(':').unwrap();
        assert_eq!(user, "ops");
        assert!(hash.starts_with("$2y$10$"), "{hash}");
        assert!(bcrypt::verify("s3cret", hash).unwrap());
        assert_eq!(file("ops", "s3cret", Some(&first)).unwrap(), first);
        assert_ne!(file("ops", "other", Some(&first)).unwrap(), first);
        assert_ne!(file("dev", "s3cret", Some(&first)).unwrap(), first);
    }

    #[test]
    fn unusable_credentials_are_refused() {
        assert!(
            file("a:b", "x", None)
                .unwrap_err()
                .contains("registry_login_username")
        );
        assert!(
            file("a", "", None)
                .unwrap_err()
                .contains("registry_login_password")
        );
        let long = "x".repeat(73);
        assert!(file("a", &long, None).unwrap_err().contains("72 bytes"));
        let err = hash(&long, "monitoring_admin_password").unwrap_err();
        assert!(err.starts_with("monitoring_admin_password is longer than 72 bytes"));
    }

    #[test]
    fn hashes_verify_their_password_only() {
        let hashed = hash("m0n", "monitoring_admin_password").unwrap();
        assert!(hashed.starts_with("$2y$10$"), "{hashed}");
        assert!(verifies(&hashed, "m0n"));
        assert!(!verifies(&hashed, "m0n "));
        assert!(!verifies("not a hash", "m0n"));
    }
}
