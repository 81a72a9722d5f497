//! What iocdock accepts, in one place: every option of ioc.ini (`ioc_ini`), every
//! setting of settings.yaml (`settings`), the names swarm takes for services
//! (`names`) and the value syntaxes they are made of (`values`). Commands, generation
//! and export ask these rules; none keeps a rule of its own.

pub(crate) mod ioc_ini;
pub(crate) mod names;
pub(crate) mod settings;
pub(crate) mod values;

/// Edit distance between two words, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The candidate nearest to `word`, if one is near enough to be a slip: case, `-`
/// for `_` and one or two wrong letters (a third of the word at most).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let plain = |s: &str| s.to_lowercase().replace('_', "-");
    let word = plain(word);
    let allowed = (word.chars().count() / 3).clamp(1, 2);
    candidates
        .into_iter()
        .map(|c| (distance(&word, &plain(c)), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_suggested() {
        let keys = ["labels", "cpu-limit", "memory-limit", "cpu-reserve"];
        assert_eq!(closest("cpu_limit", keys), Some("cpu-limit"));
        assert_eq!(closest("CPU-LIMIT", keys), Some("cpu-limit"));
        assert_eq!(closest("memory-limt", keys), Some("memory-limit"));
        assert_eq!(closest("label", keys), Some("labels"));
        assert_eq!(closest("restart", keys), None);
        assert_eq!(closest("DBX", ["DB"]), Some("DB"));
        assert_eq!(closest("x", ["DB"]), None);
    }
}
