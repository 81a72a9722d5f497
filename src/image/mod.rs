//! IOC images built from source (`iocdock image`): the module-set file, and the build
//! contexts, tags and labels made from it. Talking to the engine is `swarm::images`.

pub(crate) mod build;
pub(crate) mod modules;

/// The support module of an ioc-exec image that an `[IOC] module` entry needs.
fn support_for(module: &str) -> Option<&'static str> {
    match module.trim().to_ascii_lowercase().as_str() {
        "autosave" => Some("autosave"),
        "caputlog" => Some("caPutLog"),
        "status-ioc" | "status-os" => Some("iocStats"),
        _ => None,
    }
}

/// The entries of an `[IOC] module` option whose support module is not among
/// `image_modules` (an image's `org.iocdock.modules` label, `name=version,...`), with
/// the support module each needs.
pub(crate) fn missing_support<'a>(
    module_option: &'a str,
    image_modules: &str,
) -> Vec<(&'a str, &'static str)> {
    let present: Vec<&str> = image_modules
        .split(',')
        .map(|pair| pair.split('=').next().unwrap_or_default().trim())
        .collect();
    module_option
        .split(',')
        .filter_map(|entry| Some((entry.trim(), support_for(entry)?)))
        .filter(|(_, support)| !present.contains(support))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_an_image_lacks() {
        let set_0 = "seq=2.2.9,autosave=R5-10-2,caPutLog=R4.0,iocStats=3.2.0";
        assert!(missing_support("autosave, caputlog, status-ioc", set_0).is_empty());
        assert_eq!(
            missing_support(
                "autosave, caputlog, status-os",
                "seq=2.2.9,autosave=R5-10-2"
            ),
            [("caputlog", "caPutLog"), ("status-os", "iocStats")]
        );
        assert!(missing_support("", "").is_empty());
    }
}
