//! `{{iocdock.NAME}}` substitution in templates: the built-in services' files and the
//! Dockerfiles of `image build`.
//!
//! Only this exact prefix is ours: the same files hold Go templates that swarm
//! expands per task (`{{.Node.Hostname}}`), prometheus and loki alert templates
//! (`{{ $labels.instance }}`) and grafana legends (`{{instance}}`), all of which must
//! pass through untouched. A placeholder of ours that names no value is an error, so
//! a typo in a site's override is reported instead of reaching a running service.

use std::collections::BTreeMap;

const OPEN: &str = "{{";
const CLOSE: &str = "}}";
const NAMESPACE: &str = "iocdock.";

/// Values placeholders stand for, by name (without the `iocdock.` prefix).
#[derive(Debug, Clone, Default)]
pub(crate) struct Values(BTreeMap<String, String>);

impl Values {
    pub(crate) fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Replaces every `{{iocdock.NAME}}` (spaces inside the braces allowed) by its value.
/// The error names the line and the placeholder.
pub(crate) fn substitute(text: &str, values: &Values) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let (before, from_open) = rest.split_at(start);
        out.push_str(before);
        let inner = from_open[OPEN.len()..].trim_start_matches(' ');
        if !inner.starts_with(NAMESPACE) {
            // Someone else's template: keep the braces and go on after them.
            out.push_str(OPEN);
            rest = &from_open[OPEN.len()..];
            continue;
        }
        let line = text[..text.len() - rest.len() + start]
            .matches('\n')
            .count()
            + 1;
        let after_namespace = &inner[NAMESPACE.len()..];
        let name_len = after_namespace
            .find(|c: char| !is_name_char(c))
            .unwrap_or(after_namespace.len());
        let name = &after_namespace[..name_len];
        let tail = after_namespace[name_len..].trim_start_matches(' ');
        if name.is_empty() || !tail.starts_with(CLOSE) {
            let shown: String = from_open
                .chars()
                .take(40)
                .take_while(|c| *c != '\n')
                .collect();
            return Err(format!(
                "line {line}: malformed placeholder \"{shown}\" (expected {{{{iocdock.NAME}}}})"
            ));
        }
        let value = values
            .get(name)
            .ok_or_else(|| format!("line {line}: unknown placeholder {{{{iocdock.{name}}}}}"))?;
        out.push_str(value);
        rest = &tail[CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        let mut v = Values::default();
        v.insert("prefix", "iasf");
        v.insert("image.ioc-exec", "registry.iasf/ioc-exec:1.1.0");
        v
    }

    #[test]
    fn ours_are_replaced_and_others_kept() {
        let text = "image: \"{{iocdock.image.ioc-exec}}\"\nhostname: \"{{.Node.Hostname}}\"\n\
                    summary: \"{{ $labels.instance }}\" {{instance}} {{ iocdock.prefix }}_x\n";
        assert_eq!(
            substitute(text, &values()).unwrap(),
            "image: \"registry.iasf/ioc-exec:1.1.0\"\nhostname: \"{{.Node.Hostname}}\"\n\
             summary: \"{{ $labels.instance }}\" {{instance}} iasf_x\n"
        );
    }

    #[test]
    fn an_unknown_name_is_an_error_with_its_line() {
        let err = substitute("a\nb: {{iocdock.prefx}}\n", &values()).unwrap_err();
        assert_eq!(err, "line 2: unknown placeholder {{iocdock.prefx}}");
    }

    #[test]
    fn a_broken_placeholder_is_an_error() {
        for text in [
            "x {{iocdock.prefix}",
            "x {{iocdock.}}",
            "{{iocdock.pre fix}}",
        ] {
            let err = substitute(text, &values()).unwrap_err();
            assert!(err.contains("malformed placeholder"), "{text}: {err}");
        }
    }

    #[test]
    fn braces_at_the_end_are_kept() {
        assert_eq!(substitute("a {{", &values()).unwrap(), "a {{");
        assert_eq!(substitute("{{{{", &values()).unwrap(), "{{{{");
    }
}
