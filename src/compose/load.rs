//! Reading a compose file strictly: YAML, then `$VAR` substitution, then the typed
//! model, where an unknown or unsupported key or a value of the wrong type is one
//! error line naming the file and the key path.

use std::path::Path;

use crate::compose::ComposeError;
use crate::compose::interpolate::{self, Env};
use crate::compose::model::ComposeFile;
use crate::process::one_line;

/// Reads and checks the compose file at `path`; `env` resolves `$VAR` substitutions.
pub(crate) fn read(path: &Path, env: Env) -> Result<ComposeFile, ComposeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Read {
        file: path.to_path_buf(),
        cause: source,
    })?;
    parse(&text, path, env)
}

/// Parses compose text; `file` only names it in errors.
pub(crate) fn parse(text: &str, file: &Path, env: Env) -> Result<ComposeFile, ComposeError> {
    let invalid = |message: String| ComposeError::Invalid {
        file: file.to_path_buf(),
        message,
    };
    // Without a `$` nothing is substituted: the text goes straight into the model,
    // which costs half of going through a YAML value first (`list -p` reads every
    // IOC's file this way), and an error names its line.
    if !text.contains('$') {
        return match serde_yaml::from_str::<Option<ComposeFile>>(text) {
            Ok(Some(model)) => Ok(model),
            Ok(None) => Err(invalid(
                "the file is empty (expected a compose file with `services:`)".to_string(),
            )),
            Err(e) => Err(invalid(one_line(&e.to_string()))),
        };
    }
    let mut value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| invalid(one_line(&e.to_string())))?;
    if value.is_null() {
        return Err(invalid(
            "the file is empty (expected a compose file with `services:`)".to_string(),
        ));
    }
    interpolate::apply(&mut value, env).map_err(invalid)?;
    // Only an error reads the text again, to name the line (the value has none).
    serde_yaml::from_value::<ComposeFile>(value).map_err(|e| {
        let located = serde_yaml::from_str::<ComposeFile>(text).err().unwrap_or(e);
        invalid(one_line(&located.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn error(text: &str) -> String {
        parse(text, Path::new("/srv/custom.yaml"), &no_env)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_unknown_key_names_file_and_key_path() {
        let err = error("services:\n  web:\n    image: x\n    deploy:\n      replica: 2\n");
        assert!(
            err.starts_with("/srv/custom.yaml: services.web.deploy: unknown field `replica`"),
            "{err}"
        );
        assert!(err.contains("line 5"), "{err}");
        assert!(!err.contains('\n'));
        let err = error("services:\n  web:\n    image: x\n    build: .\n");
        assert!(err.contains("services.web: unknown field `build`"), "{err}");
        let err = error("services: {}\nsecrets: {}\n");
        assert!(err.contains("unknown field `secrets`"), "{err}");
        let err = error(
            "services:\n  web:\n    image: x\n    volumes:\n      - {type: bind, source: ., target: /a, bind: {propagation: shared}}\n",
        );
        assert!(
            err.contains("services.web.volumes[0]: unknown field `bind`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_follow_the_compose_schema() {
        let err = error(
            "services:\n  web:\n    image: x\n    deploy:\n      resources:\n        limits:\n          cpus: 0.5\n",
        );
        assert!(
            err.contains("services.web.deploy.resources.limits.cpus: invalid type"),
            "{err}"
        );
        let err = error("services:\n  web:\n    image: x\n    labels:\n      a: true\n");
        assert!(
            err.contains("services.web.labels.a: invalid type: boolean"),
            "{err}"
        );
        let err = error("services:\n  web:\n    image: x\n    environment: 3\n");
        assert!(
            err.contains("services.web.environment: invalid type"),
            "{err}"
        );
        let err = error("services:\n  web:\n    image: x\n    healthcheck:\n      test: true\n");
        assert!(
            err.contains("services.web.healthcheck.test: invalid type: boolean"),
            "{err}"
        );
        // API 1.41 engines know no start_interval: refused, never dropped.
        let err =
            error("services:\n  web:\n    image: x\n    healthcheck:\n      start_interval: 1s\n");
        assert!(
            err.contains("services.web.healthcheck: unknown field `start_interval`"),
            "{err}"
        );
        let err = error("services:\n  web:\n    image: x\n    ports: [{target: 80, host_ip: a}]\n");
        assert!(
            err.contains("services.web.ports[0]: unknown field `host_ip`"),
            "{err}"
        );
    }

    #[test]
    fn substituted_values_are_checked_too() {
        let env = |name: &str| (name == "N").then(|| "two".to_string());
        let err = parse(
            "services:\n  web:\n    image: x\n    deploy:\n      replicas: $N\n",
            Path::new("f.yaml"),
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("services.web.deploy.replicas: expected an integer"),
            "{err}"
        );
        let env = |name: &str| (name == "TAG").then(|| "1.0".to_string());
        let file = parse(
            "services:\n  web:\n    image: x:${TAG}\n    foo: 1\n",
            Path::new("f.yaml"),
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            file.contains("unknown field `foo`") && file.contains("line 4"),
            "{file}"
        );
    }

    #[test]
    fn empty_and_broken_yaml_are_clear() {
        assert!(error("").contains("the file is empty"));
        assert!(error("services: [a\n").starts_with("/srv/custom.yaml: "));
    }
}
