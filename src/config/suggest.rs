//! "Did you mean" suggestions: the declared or allowed name closest to a misspelt one, by
//! edit distance, when it is close enough to be a likely typo.

/// The candidate closest to `name`, if within a typo's distance (2 edits, or a third of
/// the name for long names).
pub fn closest<'a>(candidates: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    let limit = 2.max(name.chars().count() / 3);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(candidate, name), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// " Did you mean `PREFIX+closest`?" or nothing: the end of a diagnostic's detail.
pub fn did_you_mean<'a>(
    candidates: impl IntoIterator<Item = &'a str>,
    name: &str,
    prefix: &str,
) -> String {
    closest(candidates, name)
        .map(|close| format!(" Did you mean `{prefix}{close}`?"))
        .unwrap_or_default()
}

/// " Did you mean `PREFIX+closest`?", else " Declared: `PREFIX+a`, `PREFIX+b`." (nothing
/// when there are no candidates): the end of a detail about an undeclared name.
pub fn did_you_mean_or_declared<'a>(
    candidates: impl IntoIterator<Item = &'a str> + Clone,
    name: &str,
    prefix: &str,
) -> String {
    let suggestion = did_you_mean(candidates.clone(), name, prefix);
    if !suggestion.is_empty() {
        return suggestion;
    }
    let declared: Vec<String> = candidates
        .into_iter()
        .map(|c| format!("`{prefix}{c}`"))
        .collect();
    if declared.is_empty() {
        String::new()
    } else {
        format!(" Declared: {}.", declared.join(", "))
    }
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_only() {
        let names = ["contact", "directory", "key_type"];
        assert_eq!(closest(names, "contacts"), Some("contact"));
        assert_eq!(closest(names, "directroy"), Some("directory"));
        assert_eq!(closest(names, "owner"), None);
        assert_eq!(
            did_you_mean(names, "kye_type", ""),
            " Did you mean `key_type`?"
        );
    }
}
