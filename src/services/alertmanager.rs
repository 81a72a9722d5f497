//! The receivers of `alertmanager.yml`, filled in from the `alert_manager_*` settings.
//!
//! The template decides routes, grouping and inhibition; the settings decide where
//! alerts go. Which receivers exist depends on which settings are set (alertmanager
//! refuses an e-mail receiver without an SMTP server), so this part is built as data
//! and serialised, which also quotes any password or address correctly.

use serde_yaml::{Mapping, Value};

use crate::schema::settings::SmtpTls;
use crate::settings::Settings;

/// Receiver every alert goes to unless a route says otherwise.
const DEFAULT_RECEIVER: &str = "default";
/// Receiver of alerts labelled `severity="info"` (by the template's route).
const INFO_RECEIVER: &str = "info";

fn text(value: &str) -> Value {
    Value::String(value.to_string())
}

fn mapping(entries: &[(&str, Value)]) -> Value {
    let mut map = Mapping::new();
    for (key, value) in entries {
        map.insert(text(key), value.clone());
    }
    Value::Mapping(map)
}

fn webhook(url: &str) -> Value {
    Value::Sequence(vec![mapping(&[
        ("url", text(url)),
        ("send_resolved", Value::Bool(true)),
    ])])
}

/// Fills `template` (the rendered alertmanager.yml) from the settings. `smtp_password`
/// is the password to use when `alert_manager_smtp_auth_username` is set.
/// Returns the file and whether it holds a secret (a password or a webhook URL).
pub(crate) fn fill(
    template: &str,
    settings: &Settings,
    smtp_password: Option<&str>,
) -> Result<(String, bool), String> {
    let mut document: Value = serde_yaml::from_str(template)
        .map_err(|e| format!("not valid YAML: {}", e.to_string().replace('\n', " ")))?;
    let root = document
        .as_mapping_mut()
        .ok_or("expected a mapping at the top level")?;

    let emails = &settings.alert_manager_receive_email_list;
    let mut holds_secret = false;
    if !emails.is_empty() {
        let global = root
            .entry(text("global"))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        let global = global
            .as_mapping_mut()
            .ok_or("\"global\" must be a mapping")?;
        global.insert(
            text("smtp_smarthost"),
            text(&settings.alert_manager_smtp_smart_host),
        );
        global.insert(
            text("smtp_from"),
            text(&settings.alert_manager_smtp_email_send_address),
        );
        // Alertmanager's own default is true (STARTTLS or nothing), which a plain
        // relay cannot satisfy; on port 465 the connection is TLS already and the
        // server offers no STARTTLS.
        let mode = SmtpTls::parse(&settings.alert_manager_smtp_tls).unwrap_or(SmtpTls::StartTls);
        global.insert(
            text("smtp_require_tls"),
            Value::Bool(mode == SmtpTls::StartTls),
        );
        let user = &settings.alert_manager_smtp_auth_username;
        if !user.is_empty() {
            global.insert(text("smtp_auth_username"), text(user));
            let password = smtp_password.unwrap_or_default();
            if !password.is_empty() {
                global.insert(text("smtp_auth_password"), text(password));
                holds_secret = true;
            }
        }
    }

    let mut default_configs: Vec<(&str, Value)> = Vec::new();
    if !emails.is_empty() {
        default_configs.push((
            "email_configs",
            Value::Sequence(vec![mapping(&[
                ("to", text(&emails.join(", "))),
                ("send_resolved", Value::Bool(true)),
            ])]),
        ));
    }
    if !settings.alert_manager_default_webhook_receiver.is_empty() {
        // A webhook URL usually carries the receiver's token.
        holds_secret = true;
        default_configs.push((
            "webhook_configs",
            webhook(&settings.alert_manager_default_webhook_receiver),
        ));
    }
    let info_configs: Vec<(&str, Value)> =
        if settings.alert_manager_info_webhook_receiver.is_empty() {
            default_configs.clone()
        } else {
            holds_secret = true;
            vec![(
                "webhook_configs",
                webhook(&settings.alert_manager_info_webhook_receiver),
            )]
        };

    let receivers = root
        .get_mut("receivers")
        .and_then(Value::as_sequence_mut)
        .ok_or("expected a list \"receivers\"")?;
    for (name, configs) in [
        (DEFAULT_RECEIVER, &default_configs),
        (INFO_RECEIVER, &info_configs),
    ] {
        let receiver = receivers
            .iter_mut()
            .filter_map(Value::as_mapping_mut)
            .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| {
                format!("expected a receiver named \"{name}\" (iocdock fills it from the settings)")
            })?;
        for (key, value) in configs {
            receiver.insert(text(key), value.clone());
        }
    }

    let body = serde_yaml::to_string(&document).map_err(|e| e.to_string())?;
    let header = "# Rendered by `iocdock swarm --gen-built-in-services` from the template\n\
                  # alertManager/config/alertmanager.yml and the alert_manager_* settings.\n";
    Ok((format!("{header}{body}"), holds_secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/imsrvs/alertManager/config/alertmanager.yml"
    ));

    fn settings(yaml: &str) -> Settings {
        crate::settings::for_test(yaml)
    }

    fn parsed(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn without_settings_the_receivers_stay_empty() {
        let (out, secret) = fill(TEMPLATE, &settings(""), None).unwrap();
        assert!(!secret);
        let doc = parsed(&out);
        assert!(doc["global"].get("smtp_smarthost").is_none());
        assert_eq!(doc["receivers"][0], parsed("name: default"));
        assert_eq!(doc["receivers"][1], parsed("name: info"));
        assert_eq!(doc["route"]["receiver"], "default");
    }

    #[test]
    fn email_and_webhooks_come_from_the_settings() {
        let s = settings(
            "alert_manager_receive_email_list: [a@lab.org, b@lab.org]\n\
             alert_manager_smtp_smart_host: smtp.lab.org:587\n\
             alert_manager_smtp_email_send_address: am@lab.org\n\
             alert_manager_smtp_auth_username: am\n\
             alert_manager_default_webhook_receiver: http://hooks/all\n\
             alert_manager_info_webhook_receiver: http://hooks/info\n",
        );
        let (out, secret) = fill(TEMPLATE, &s, Some("p: \"w'd")).unwrap();
        assert!(secret);
        let doc = parsed(&out);
        assert_eq!(doc["global"]["smtp_smarthost"], "smtp.lab.org:587");
        assert_eq!(doc["global"]["smtp_from"], "am@lab.org");
        assert_eq!(doc["global"]["smtp_auth_username"], "am");
        assert_eq!(doc["global"]["smtp_auth_password"], "p: \"w'd");
        assert_eq!(doc["global"]["resolve_timeout"], "5m");
        let default = &doc["receivers"][0];
        assert_eq!(default["email_configs"][0]["to"], "a@lab.org, b@lab.org");
        assert_eq!(default["webhook_configs"][0]["url"], "http://hooks/all");
        let info = &doc["receivers"][1];
        assert_eq!(info["webhook_configs"][0]["url"], "http://hooks/info");
        assert!(info.get("email_configs").is_none());
    }

    #[test]
    fn a_webhook_url_alone_makes_the_file_secret() {
        for key in [
            "alert_manager_default_webhook_receiver",
            "alert_manager_info_webhook_receiver",
        ] {
            let s = settings(&format!("{key}: https://hooks/T0K3N\n"));
            let (_, secret) = fill(TEMPLATE, &s, None).unwrap();
            assert!(secret, "{key}");
        }
    }

    #[test]
    fn info_alerts_follow_the_default_without_their_own_webhook() {
        let s = settings("alert_manager_default_webhook_receiver: http://hooks/all\n");
        let (out, _) = fill(TEMPLATE, &s, None).unwrap();
        let doc = parsed(&out);
        assert_eq!(
            doc["receivers"][1]["webhook_configs"],
            doc["receivers"][0]["webhook_configs"]
        );
    }

    #[test]
    fn an_override_without_the_receivers_is_refused() {
        let err = fill(
            "route: {receiver: x}\nreceivers: [{name: x}]\n",
            &settings(""),
            None,
        )
        .unwrap_err();
        assert!(err.contains("receiver named \"default\""), "{err}");
        let err = fill("route: {receiver: x}\n", &settings(""), None).unwrap_err();
        assert!(err.contains("\"receivers\""), "{err}");
    }

    #[test]
    fn tls_modes_set_what_alertmanager_requires_of_the_server() {
        let email = "alert_manager_receive_email_list: [a@lab.org]\n\
                     alert_manager_smtp_email_send_address: am@lab.org\n";
        for (extra, require_tls) in [
            (
                "alert_manager_smtp_smart_host: relay:25\nalert_manager_smtp_tls: none\n",
                false,
            ),
            ("alert_manager_smtp_smart_host: smtp:587\n", true),
            (
                "alert_manager_smtp_smart_host: smtp:587\nalert_manager_smtp_tls: starttls\n",
                true,
            ),
            (
                "alert_manager_smtp_smart_host: smtp:465\nalert_manager_smtp_tls: tls\n",
                false,
            ),
        ] {
            let (out, _) = fill(TEMPLATE, &settings(&format!("{email}{extra}")), None).unwrap();
            assert_eq!(
                parsed(&out)["global"]["smtp_require_tls"],
                Value::Bool(require_tls),
                "{extra}"
            );
        }
        // Without e-mail there is no SMTP to speak of.
        let (out, _) = fill(TEMPLATE, &settings("alert_manager_smtp_tls: none\n"), None).unwrap();
        assert!(parsed(&out)["global"].get("smtp_require_tls").is_none());
    }
}
