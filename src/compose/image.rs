//! Image references as the docker client normalises them before it creates a
//! service: `busybox` is deployed as `busybox:latest`, `docker.io/library/x:1` as
//! `x:1`, and a digest resolved from the registry is pinned as `name:tag@sha256:…`.

/// Docker Hub's registry in references and its key in the docker config file.
const HUB_DOMAIN: &str = "docker.io";
pub(crate) const HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    fn parse(text: &str) -> Option<Reference> {
        if text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return None;
        }
        let (name_tag, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (text, None),
        };
        if let Some(d) = digest {
            let (algorithm, hex) = d.split_once(':')?;
            if algorithm.is_empty()
                || !algorithm
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b))
                || hex.len() < 32
                || !hex.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return None;
            }
        }
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(&name_tag[last_slash + i + 1..]),
            ),
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            let first_ok = t
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !first_ok
                || t.len() > 128
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            {
                return None;
            }
        }
        // A first component with a dot, a port or an upper-case letter, or `localhost`,
        // names a registry; anything else is a Docker Hub repository.
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.to_lowercase() != first =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (HUB_DOMAIN.to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" {
            HUB_DOMAIN.to_string()
        } else {
            domain
        };
        let path = if domain == HUB_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if !valid_domain(&domain) || !path.split('/').all(valid_component) {
            return None;
        }
        if domain.len() + 1 + path.len() > 255 {
            return None;
        }
        Some(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// The short form docker shows: without `docker.io/` and `library/`.
    fn familiar(&self) -> String {
        let mut out = if self.domain == HUB_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            format!("{}/{}", self.domain, self.path)
        };
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
        out
    }
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    host.split('.').all(label_ok)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `[a-z0-9]+` groups joined by `.`, `_`, `__` or runs of `-`.
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !(bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Whether docker takes `image` as an image reference (the grammar of
/// distribution/reference: lower-case repository path, optional registry, tag, digest).
pub(crate) fn is_valid(image: &str) -> bool {
    Reference::parse(image).is_some()
}

/// The image the docker client sends for a service: tagged `latest` when it has
/// neither tag nor digest, in its short form. An invalid reference is sent as
/// written (the daemon then reports it).
pub(crate) fn tagged(image: &str) -> String {
    match Reference::parse(image) {
        Some(mut reference) => {
            if reference.tag.is_none() && reference.digest.is_none() {
                reference.tag = Some("latest".to_string());
            }
            reference.familiar()
        }
        None => image.to_string(),
    }
}

/// The image pinned to the digest the registry reported, unless it names a digest
/// already.
pub(crate) fn with_digest(image: &str, digest: &str) -> String {
    match Reference::parse(image) {
        Some(mut reference) if reference.digest.is_none() => {
            reference.digest = Some(digest.to_string());
            reference.familiar()
        }
        _ => image.to_string(),
    }
}

/// The key of the image's registry in the docker config file (`auths`).
pub(crate) fn auth_key(image: &str) -> Option<String> {
    let reference = Reference::parse(image)?;
    Some(if reference.domain == HUB_DOMAIN {
        HUB_AUTH_KEY.to_string()
    } else {
        reference.domain
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_like_the_docker_client() {
        assert_eq!(tagged("busybox"), "busybox:latest");
        assert_eq!(
            tagged("iocdock-test/busybox"),
            "iocdock-test/busybox:latest"
        );
        assert_eq!(tagged("docker.io/library/busybox:1.36"), "busybox:1.36");
        assert_eq!(tagged("index.docker.io/foo/bar"), "foo/bar:latest");
        assert_eq!(
            tagged("registry.iasf/ioc-exec:1.1.0"),
            "registry.iasf/ioc-exec:1.1.0"
        );
        assert_eq!(tagged("localhost:5000/x"), "localhost:5000/x:latest");
        let pinned = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(tagged(&pinned), pinned);
        // Not a valid reference: sent as written.
        assert_eq!(tagged("Busy Box"), "Busy Box");
        assert_eq!(tagged("UPPER"), "UPPER");
    }

    #[test]
    fn digests_pin_the_tag() {
        let digest = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            with_digest("registry.iasf/ioc-exec:1.1.0", &digest),
            format!("registry.iasf/ioc-exec:1.1.0@{digest}")
        );
        let pinned = format!("x@{digest}");
        assert_eq!(with_digest(&pinned, "sha256:other"), pinned);
    }

    #[test]
    fn auth_keys_name_the_registry() {
        assert_eq!(
            auth_key("registry.iasf/ioc-exec:1.1.0").as_deref(),
            Some("registry.iasf")
        );
        assert_eq!(auth_key("busybox").as_deref(), Some(HUB_AUTH_KEY));
        assert_eq!(auth_key("host:5000/a/b:1").as_deref(), Some("host:5000"));
    }
}
