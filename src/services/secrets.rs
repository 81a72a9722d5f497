//! The secrets the built-in services need that the settings may leave out: asked for
//! on a terminal for one run, never written to the settings.

use std::collections::BTreeMap;

use super::{BuiltinError, monitoring, swarm_dir};
use crate::cluster::htpasswd::Identity;
use crate::schema::settings::password_problem;
use crate::settings::Settings;

/// A secret the settings may leave out, to be asked for on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Secret {
    RegistryUsername(Identity),
    RegistryPassword(Identity),
    SmtpPassword,
    MonitoringPassword,
    GrafanaAdminPassword,
}

impl Secret {
    /// The settings key that holds it.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Secret::RegistryUsername(identity) => identity.username_key(),
            Secret::RegistryPassword(identity) => identity.password_key(),
            Secret::SmtpPassword => "alert_manager_smtp_auth_password",
            Secret::MonitoringPassword => "monitoring_admin_password",
            Secret::GrafanaAdminPassword => "grafana_admin_password",
        }
    }

    /// What it is needed for, in the operator's words.
    pub(crate) fn purpose(self) -> &'static str {
        match self {
            Secret::RegistryUsername(Identity::Pull) | Secret::RegistryPassword(Identity::Pull) => {
                "the registry's htpasswd login"
            }
            Secret::RegistryUsername(Identity::Push) | Secret::RegistryPassword(Identity::Push) => {
                "the push registry's htpasswd login, for the manager only"
            }
            Secret::SmtpPassword => "alertmanager's login to the SMTP server",
            Secret::MonitoringPassword => "the login \"monitoring\" of prometheus and alertmanager",
            Secret::GrafanaAdminPassword => "grafana's admin login",
        }
    }

    /// Whether the answer must not be echoed.
    pub(crate) fn hidden(self) -> bool {
        !matches!(self, Secret::RegistryUsername(_))
    }

    /// What is wrong with `value` as this secret, if anything.
    pub(crate) fn problem(self, value: &str) -> Option<String> {
        match self {
            Secret::MonitoringPassword | Secret::GrafanaAdminPassword => {
                password_problem(self.key(), value)
            }
            _ => None,
        }
    }

    pub(crate) fn missing_error(self, settings: &Settings) -> BuiltinError {
        BuiltinError::MissingSecret {
            key: self.key(),
            purpose: self.purpose(),
            file: settings.settings_file(),
        }
    }
}

/// Secrets typed by the operator for this run (never written to the settings).
pub(crate) type Answers = BTreeMap<Secret, String>;

pub(super) fn existing_htpasswd(settings: &Settings, identity: Identity) -> Option<String> {
    std::fs::read_to_string(swarm_dir(settings).join(identity.htpasswd()))
        .ok()
        .filter(|text| !text.trim().is_empty())
}

/// Secrets the settings do not give and rendering needs. A registry login is not
/// needed when the settings lack it but its htpasswd file exists: that file is kept;
/// likewise the monitoring and grafana passwords an earlier run stored.
pub(crate) fn missing_secrets(settings: &Settings) -> Vec<Secret> {
    let mut missing = Vec::new();
    for identity in Identity::ALL {
        let (user, password) = identity.credentials(settings);
        if (user.is_empty() || password.is_empty())
            && existing_htpasswd(settings, identity).is_none()
        {
            if user.is_empty() {
                missing.push(Secret::RegistryUsername(identity));
            }
            if password.is_empty() {
                missing.push(Secret::RegistryPassword(identity));
            }
        }
    }
    if !settings.alert_manager_receive_email_list.is_empty()
        && !settings.alert_manager_smtp_auth_username.is_empty()
        && settings.alert_manager_smtp_auth_password.is_empty()
    {
        missing.push(Secret::SmtpPassword);
    }
    let root = swarm_dir(settings);
    for (setting, secret) in [
        (
            &settings.monitoring_admin_password,
            Secret::MonitoringPassword,
        ),
        (
            &settings.grafana_admin_password,
            Secret::GrafanaAdminPassword,
        ),
    ] {
        if setting.is_empty() && !monitoring::has_stored(&root, secret) {
            missing.push(secret);
        }
    }
    missing
}
