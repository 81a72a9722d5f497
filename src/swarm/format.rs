//! Docker's own wording for times, durations and sizes, written out here so that an
//! operator reading iocdock's tables sees the same words as in `docker service ps`,
//! `docker service ls` and `docker service inspect --pretty`.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The wording of go-units' `HumanDuration` ("About a minute", "3 hours", "2 weeks"),
/// with its exact boundaries: hours are rounded to the nearest hour, every larger
/// unit is truncated, and years come from the unrounded hours.
pub(crate) fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let exact_hours = d.as_secs_f64() / 3600.0;
    let hours = (exact_hours + 0.5) as u64;
    if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", exact_hours as u64 / 24 / 365)
    }
}

/// "5 hours ago" as `docker service ps` writes it after a task state: the whole
/// HumanDuration lower-cased ("less than a second ago", "about an hour ago").
pub(crate) fn ago(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    // A manager whose clock is behind the reporting node gives negative ages.
    let elapsed = (now - since).to_std().unwrap_or_default();
    format!("{} ago", human_duration(elapsed).to_lowercase())
}

/// A Docker API timestamp (RFC 3339 with nanoseconds). Unreadable or missing times
/// yield None so a table row still prints.
pub(crate) fn timestamp(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Docker's `PrettyPrint` of an enum value: "running" → "Running".
pub(crate) fn pretty(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// A duration in nanoseconds as Go's `time.Duration.String` prints it ("10s",
/// "1m30s", "1h0m0s", "500ms"), the form `docker service inspect --pretty` shows.
pub(crate) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", decimal(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", decimal(n, 1_000_000));
    }
    let seconds = decimal(n % 60_000_000_000, 1_000_000_000);
    let minutes = n / 60_000_000_000;
    if minutes == 0 {
        return format!("{sign}{seconds}s");
    }
    let hours = minutes / 60;
    if hours == 0 {
        return format!("{sign}{minutes}m{seconds}s");
    }
    format!("{sign}{hours}h{}m{seconds}s", minutes % 60)
}

/// `value / unit` with the fraction written out and its trailing zeros dropped.
fn decimal(value: u64, unit: u64) -> String {
    let whole = value / unit;
    let fraction = value % unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = unit.ilog10() as usize;
    let fraction = format!("{fraction:0digits$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// go-units' `BytesSize`: binary units with four significant digits ("1GiB",
/// "512MiB", "1.5GiB").
pub(crate) fn bytes_size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", four_significant(size), UNITS[unit])
}

/// `%.4g` for the values `bytes_size` produces (below 1024 in their unit).
fn four_significant(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// An image reference as `docker service ls` shows it: without the pinned digest
/// the stack deploy adds, and without the implicit Docker Hub prefix.
pub(crate) fn short_image(image: &str) -> String {
    let without_digest = image.split_once('@').map_or(image, |(name, _)| name);
    without_digest
        .strip_prefix("docker.io/library/")
        .or_else(|| without_digest.strip_prefix("docker.io/"))
        .unwrap_or(without_digest)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const WEEK: u64 = 7 * DAY;
    const MONTH: u64 = 30 * DAY;
    const YEAR: u64 = 365 * DAY;

    fn human(seconds: u64) -> String {
        human_duration(Duration::from_secs(seconds))
    }

    #[test]
    fn seconds_and_minutes_like_go_units() {
        assert_eq!(
            human_duration(Duration::from_millis(450)),
            "Less than a second"
        );
        assert_eq!(
            human_duration(Duration::from_millis(999)),
            "Less than a second"
        );
        assert_eq!(human(1), "1 second");
        assert_eq!(human_duration(Duration::from_millis(1999)), "1 second");
        assert_eq!(human(2), "2 seconds");
        assert_eq!(human(59), "59 seconds");
        assert_eq!(human(60), "About a minute");
        assert_eq!(human(119), "About a minute");
        assert_eq!(human(120), "2 minutes");
        assert_eq!(human(35 * MINUTE + 40), "35 minutes");
        assert_eq!(human(59 * MINUTE + 59), "59 minutes");
    }

    #[test]
    fn hours_round_to_the_nearest_hour() {
        assert_eq!(human(HOUR), "About an hour");
        assert_eq!(human(HOUR + 29 * MINUTE), "About an hour");
        assert_eq!(human(HOUR + 30 * MINUTE), "2 hours");
        assert_eq!(human(HOUR + 31 * MINUTE), "2 hours");
        assert_eq!(human(3 * HOUR + 29 * MINUTE), "3 hours");
        assert_eq!(human(3 * HOUR + 31 * MINUTE), "4 hours");
        assert_eq!(human(24 * HOUR), "24 hours");
        assert_eq!(human(DAY + 12 * HOUR), "36 hours");
        assert_eq!(human(47 * HOUR + 29 * MINUTE), "47 hours");
        // 47.5 h rounds to 48: days start there.
        assert_eq!(human(47 * HOUR + 30 * MINUTE), "2 days");
    }

    #[test]
    fn days_weeks_months_years() {
        assert_eq!(human(2 * DAY), "2 days");
        assert_eq!(human(7 * DAY), "7 days");
        assert_eq!(human(13 * DAY + 5 * HOUR), "13 days");
        assert_eq!(human(2 * WEEK), "2 weeks");
        assert_eq!(human(2 * WEEK + 4 * DAY), "2 weeks");
        assert_eq!(human(4 * WEEK + 3 * DAY), "4 weeks");
        assert_eq!(human(MONTH), "4 weeks");
        assert_eq!(human(MONTH + 2 * WEEK), "6 weeks");
        assert_eq!(human(2 * MONTH), "2 months");
        assert_eq!(human(5 * MONTH + 2 * WEEK), "5 months");
        assert_eq!(human(23 * MONTH), "23 months");
        assert_eq!(human(24 * MONTH), "24 months");
        assert_eq!(human(24 * MONTH + 2 * WEEK), "2 years");
        assert_eq!(human(2 * YEAR - HOUR), "24 months");
        assert_eq!(human(3 * YEAR + 2 * MONTH), "3 years");
    }

    #[test]
    fn ago_is_lower_case_like_docker_service_ps() {
        let now = timestamp(Some("2024-05-01T12:00:00.5Z")).expect("time");
        let at = |text: &str| ago(timestamp(Some(text)).expect("time"), now);
        assert_eq!(at("2024-05-01T07:00:00Z"), "5 hours ago");
        assert_eq!(at("2024-05-01T11:59:00.4Z"), "about a minute ago");
        assert_eq!(at("2024-05-01T12:00:00.1Z"), "less than a second ago");
        assert_eq!(at("2024-05-01T11:00:00Z"), "about an hour ago");
        // Clock skew between nodes must not print nonsense.
        assert_eq!(at("2024-05-01T12:00:09Z"), "less than a second ago");
    }

    #[test]
    fn timestamps_with_nanoseconds_parse() {
        assert!(timestamp(Some("2026-11-22T01:02:59.940775028Z")).is_some());
        assert!(timestamp(Some("not a time")).is_none());
        assert!(timestamp(None).is_none());
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(10_000_000_000), "10s");
        assert_eq!(go_duration(5_500_000_000), "5.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(-2_000_000_000), "-2s");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes_size(1 << 30), "1GiB");
        assert_eq!(bytes_size(512 << 20), "512MiB");
        assert_eq!(bytes_size(3 << 29), "1.5GiB");
        assert_eq!(bytes_size(1000), "1000B");
        assert_eq!(bytes_size(0), "0B");
    }

    #[test]
    fn pretty_and_images() {
        assert_eq!(pretty("running"), "Running");
        assert_eq!(pretty(""), "");
        assert_eq!(short_image("busybox:1@sha256:abc"), "busybox:1");
        assert_eq!(short_image("docker.io/library/busybox:1"), "busybox:1");
        assert_eq!(
            short_image("registry.iasf/ioc-exec:beta"),
            "registry.iasf/ioc-exec:beta"
        );
    }
}
