//! The logins of the monitoring services. Prometheus and alertmanager answer one user,
//! `monitoring`, whose password is the setting `monitoring_admin_password`: their web
//! configurations hold its bcrypt hash, and the services that call them (prometheus
//! itself, grafana's datasources, loki's ruler) read it in clear from files only they
//! can read. Grafana's admin password is the setting `grafana_admin_password`.
//!
//! No password goes into a service's environment, where `docker inspect` shows it.
//! Grafana and loki do not run as root, so their files are given to their users.

use std::path::Path;

use base64::Engine as _;

use super::{Answers, BuiltinError, RenderedFile, Secret};
use crate::cluster::htpasswd;
use crate::schema::settings::password_problem;
use crate::settings::Settings;

/// The user prometheus and alertmanager let in.
pub(crate) const MONITORING_USER: &str = "monitoring";
/// The users the grafana and loki images run as.
const GRAFANA_UID: u32 = 472;
const LOKI_UID: u32 = 10001;

/// The monitoring password in clear, for prometheus' own requests (its self-scrape and
/// alerts). A run without the setting reuses it.
const PROMETHEUS_PASSWORD: &str = "prometheus/config/monitoring_password";
const GRAFANA_MONITORING_PASSWORD: &str = "grafana/secrets/monitoring-password";
const GRAFANA_ADMIN_PASSWORD: &str = "grafana/secrets/admin-password";
/// `base64(user:password)`, which loki's ruler sends as `Authorization: Basic ...`.
const LOKI_ALERTMANAGER_CREDENTIALS: &str = "loki/secrets/alertmanager-credentials";
/// The web configurations that hold the hash (through `{{iocdock.monitoring_password_hash}}`).
pub(crate) const WEB_CONFIGS: [&str; 2] =
    ["prometheus/config/web.yml", "alertManager/config/web.yml"];

fn stored(root: &Path, relative: &str) -> Option<String> {
    std::fs::read_to_string(root.join(relative))
        .ok()
        .filter(|text| !text.trim().is_empty())
}

/// Whether an earlier run left the password of `secret` in the run directory.
pub(crate) fn has_stored(root: &Path, secret: Secret) -> bool {
    match secret {
        Secret::MonitoringPassword => stored(root, PROMETHEUS_PASSWORD).is_some(),
        Secret::GrafanaAdminPassword => stored(root, GRAFANA_ADMIN_PASSWORD).is_some(),
        _ => false,
    }
}

/// The hash of `password` in an existing web configuration, if one holds it: a new
/// hash has a new salt, and rewriting the file would count as a change of the
/// (deployed) service.
fn existing_hash(root: &Path, password: &str) -> Option<String> {
    WEB_CONFIGS.iter().find_map(|relative| {
        let text = std::fs::read_to_string(root.join(relative)).ok()?;
        let document: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
        let hash = document["basic_auth_users"][MONITORING_USER].as_str()?;
        htpasswd::verifies(hash, password).then(|| hash.to_string())
    })
}

/// The passwords of one rendering.
#[derive(Debug, Clone)]
pub(crate) struct Logins {
    monitoring_password: String,
    pub(crate) monitoring_hash: String,
    grafana_admin_password: String,
}

impl Logins {
    /// From the settings, else the answers typed for this run, else what an earlier
    /// run stored in `root` (the run directory).
    pub(crate) fn resolve(
        settings: &Settings,
        answers: &Answers,
        root: &Path,
    ) -> Result<Logins, BuiltinError> {
        let pick = |setting: &str, secret: Secret, stored_at: &str| {
            let value = if !setting.is_empty() {
                setting.to_string()
            } else if let Some(answer) = answers.get(&secret).filter(|a| !a.is_empty()) {
                answer.clone()
            } else {
                stored(root, stored_at).ok_or_else(|| secret.missing_error(settings))?
            };
            match password_problem(secret.key(), &value) {
                Some(problem) => Err(BuiltinError::Credentials(problem)),
                None => Ok(value),
            }
        };
        let monitoring_password = pick(
            &settings.monitoring_admin_password,
            Secret::MonitoringPassword,
            PROMETHEUS_PASSWORD,
        )?;
        let grafana_admin_password = pick(
            &settings.grafana_admin_password,
            Secret::GrafanaAdminPassword,
            GRAFANA_ADMIN_PASSWORD,
        )?;
        let monitoring_hash = match existing_hash(root, &monitoring_password) {
            Some(hash) => hash,
            None => htpasswd::hash(&monitoring_password, Secret::MonitoringPassword.key())
                .map_err(BuiltinError::Credentials)?,
        };
        Ok(Logins {
            monitoring_password,
            monitoring_hash,
            grafana_admin_password,
        })
    }

    /// The files holding the passwords, each with the service it belongs to.
    pub(crate) fn files(&self) -> Vec<(&'static str, RenderedFile)> {
        let secret = |relative: &str, contents: &str, owner: Option<u32>| RenderedFile {
            relative: relative.to_string(),
            contents: contents.as_bytes().to_vec(),
            mode: 0o600,
            owner,
        };
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{MONITORING_USER}:{}", self.monitoring_password));
        vec![
            (
                "prometheus",
                secret(PROMETHEUS_PASSWORD, &self.monitoring_password, None),
            ),
            (
                "grafana",
                secret(
                    GRAFANA_MONITORING_PASSWORD,
                    &self.monitoring_password,
                    Some(GRAFANA_UID),
                ),
            ),
            (
                "grafana",
                secret(
                    GRAFANA_ADMIN_PASSWORD,
                    &self.grafana_admin_password,
                    Some(GRAFANA_UID),
                ),
            ),
            (
                "loki",
                secret(LOKI_ALERTMANAGER_CREDENTIALS, &basic, Some(LOKI_UID)),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_hash_is_reused_only_for_its_password() {
        let root = tempfile::tempdir().unwrap();
        let hash = htpasswd::hash("m0n", "monitoring_admin_password").unwrap();
        std::fs::create_dir_all(root.path().join("alertManager/config")).unwrap();
        std::fs::write(
            root.path().join(WEB_CONFIGS[1]),
            format!("basic_auth_users:\n  monitoring: \"{hash}\"\n"),
        )
        .unwrap();
        assert_eq!(existing_hash(root.path(), "m0n"), Some(hash));
        assert_eq!(existing_hash(root.path(), "other"), None);
    }
}
