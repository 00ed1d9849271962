//! Finding the zone that holds a record name at a DNS host whose API looks zones up by
//! name (Cloudflare, DigitalOcean, Hetzner, Google Cloud DNS, Azure DNS): try the parent
//! names of the record from the longest down, stop at the first the host knows, and
//! remember the answer per record name for the rest of the apply.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

/// The zones found so far (what the host calls them: an id, or the name), per record name.
pub(super) struct ZoneCache<T> {
    found: Mutex<BTreeMap<String, T>>,
}

impl<T> Default for ZoneCache<T> {
    fn default() -> Self {
        ZoneCache {
            found: Mutex::default(),
        }
    }
}

impl<T: Clone> ZoneCache<T> {
    /// The zone holding `name`: `lookup(candidate)` says whether the host has a zone of that
    /// name. The error names `host` when no parent name is a zone there.
    pub(super) async fn find<F, Fut>(&self, name: &str, host: &str, lookup: F) -> Result<T, String>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Option<T>, String>>,
    {
        if let Some(zone) = self.found.lock().unwrap().get(name) {
            return Ok(zone.clone());
        }
        for candidate in parent_names(name) {
            if let Some(zone) = lookup(candidate).await? {
                self.found
                    .lock()
                    .unwrap()
                    .insert(name.to_string(), zone.clone());
                return Ok(zone);
            }
        }
        Err(format!(
            "no zone at {host} holds {name}: none of its parent names is a zone these credentials can see"
        ))
    }
}

/// The names a zone holding `name` may have, longest first, top-level domain excluded:
/// `_acme-challenge.www.example.com` gives `www.example.com`, `example.com`.
fn parent_names(name: &str) -> Vec<String> {
    let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    (1..labels.len().saturating_sub(1))
        .map(|start| labels[start..].join("."))
        .collect()
}

/// `name` relative to `zone`, `@` for the apex, as DigitalOcean, Hetzner and Azure name
/// records.
pub(super) fn relative_name(name: &str, zone: &str) -> String {
    name.strip_suffix(zone)
        .and_then(|rest| rest.strip_suffix('.'))
        .map_or_else(|| "@".to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_longest_first_without_the_top_level_domain() {
        assert_eq!(
            parent_names("_acme-challenge.www.example.com"),
            ["www.example.com", "example.com"]
        );
        assert!(parent_names("example").is_empty());
    }

    #[test]
    fn names_relative_to_their_zone() {
        assert_eq!(
            relative_name("_acme-challenge.www.example.com", "example.com"),
            "_acme-challenge.www"
        );
        assert_eq!(relative_name("example.com", "example.com"), "@");
    }
}
