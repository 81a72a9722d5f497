//! IOC names become folder names and Docker service names, so only a safe subset of
//! characters is accepted (SPEC §3).

pub(crate) const MAX_NAME_LEN: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid IOC name \"{name}\": {reason} (expected 1-{MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . -, starting with a letter or digit)"
)]
pub(crate) struct InvalidName {
    pub(crate) name: String,
    pub(crate) reason: &'static str,
}

pub(crate) fn validate(name: &str) -> Result<(), InvalidName> {
    let fail = |reason| {
        Err(InvalidName {
            name: name.escape_default().to_string(),
            reason,
        })
    };
    let Some(first) = name.chars().next() else {
        return fail("it is empty");
    };
    if name.chars().count() > MAX_NAME_LEN {
        return fail("it is too long");
    }
    if !first.is_ascii_alphanumeric() {
        return fail("it must start with a letter or digit");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return match bad {
            ' ' => fail("it contains a space"),
            '/' | '\\' => fail("it contains a path separator"),
            _ => fail("it contains a character that is not allowed"),
        };
    }
    if name.contains("..") {
        return fail("it contains \"..\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_operator_names() {
        for name in [
            "worker_test_1",
            "a",
            "BPM-01.ctrl",
            "9lives",
            &"x".repeat(40),
        ] {
            assert_eq!(validate(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_unsafe_names() {
        for name in [
            "",
            " a",
            "a b",
            "a,b",
            "a;b",
            "a|b",
            "a\\b",
            "a~b",
            "a`b",
            "a/b",
            "..",
            "a..b",
            "_a",
            "-a",
            ".a",
            "a\nb",
            "ä",
            &"x".repeat(41),
        ] {
            assert!(validate(name).is_err(), "{name:?} must be refused");
        }
    }
}
