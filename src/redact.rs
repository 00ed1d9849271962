//! The sensitive values of this run, and how they are kept out of what certform shows.
//!
//! Every value the configuration reads with `env()` or `file()` is sensitive (Terraform's
//! rule for sensitive inputs), and so is every value a function derives from one (`lower`,
//! `upper`, `split`, `format`, ...): the functions [`register`] them here while the
//! configuration is evaluated. Two things use the registry:
//! - the plan marks a whole attribute value (a contact, a domain) that holds one as
//!   [`PLACEHOLDER`] ([`change`]), so text, Markdown, JSON and saved plans show
//!   `(sensitive)` instead of the value;
//! - a safety net, [`text`], replaces any occurrence that still reaches an error message,
//!   a diagnostic, a progress line, a log line or a saved plan.
//!
//! Matching ignores ASCII case, so a secret lower- or upper-cased on its way out (which CI
//! log masking misses) is still hidden. Values shorter than [`MIN_LEN`] characters are not
//! registered: they would match everywhere, and they are not secrets.

use serde::{de::DeserializeOwned, Serialize};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::RwLock;
use zeroize::{Zeroize, Zeroizing};

/// What is shown in place of a sensitive value.
pub const PLACEHOLDER: &str = "(sensitive)";

/// The shortest value that is registered, in characters.
pub const MIN_LEN: usize = 4;

/// The registered values, ASCII-lower-cased (matching ignores ASCII case). A set: a file
/// split into many lines registers each once, cheaply.
static REGISTRY: RwLock<BTreeSet<Registered>> = RwLock::new(BTreeSet::new());

/// A registered value, zeroised on drop like [`crate::secret::Sensitive`].
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Registered(String);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Marks `value` as sensitive for the rest of the run. Surrounding white space (a file's
/// trailing newline) is not part of the secret.
pub fn register(value: &str) {
    let value = value.trim();
    if value.chars().count() < MIN_LEN {
        return;
    }
    let lowered = Registered(value.to_ascii_lowercase());
    REGISTRY
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(lowered);
}

/// Whether `text` holds a registered value.
pub fn is_sensitive(text: &str) -> bool {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    if registry.is_empty() {
        return false;
    }
    let lowered = Zeroizing::new(text.to_ascii_lowercase());
    registry
        .iter()
        .any(|value| lowered.contains(value.0.as_str()))
}

/// `text` with every registered value in it replaced by [`PLACEHOLDER`].
pub fn text(text: &str) -> Cow<'_, str> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    if registry.is_empty() {
        return Cow::Borrowed(text);
    }
    // ASCII lower-casing keeps every byte offset, so matches in `lowered` are ranges of
    // `text` on character boundaries.
    let lowered = Zeroizing::new(text.to_ascii_lowercase());
    let mut hidden = vec![false; text.len()];
    for value in registry.iter() {
        for (start, _) in lowered.match_indices(value.0.as_str()) {
            hidden[start..start + value.0.len()].fill(true);
        }
    }
    if !hidden.contains(&true) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_secret = false;
    for (i, c) in text.char_indices() {
        if hidden[i] {
            if !in_secret {
                out.push_str(PLACEHOLDER);
            }
            in_secret = true;
        } else {
            out.push(c);
            in_secret = false;
        }
    }
    Cow::Owned(out)
}

/// Replaces every string in `value` (object keys too) that holds a sensitive value by
/// [`PLACEHOLDER`]; whether anything was replaced.
pub fn json(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) if is_sensitive(s) => {
            *s = PLACEHOLDER.to_string();
            true
        }
        serde_json::Value::Array(items) => items.iter_mut().fold(false, |any, v| json(v) | any),
        serde_json::Value::Object(map) => {
            let mut any = false;
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                any |= json(&mut item);
                let key = if is_sensitive(&key) {
                    any = true;
                    PLACEHOLDER.to_string()
                } else {
                    key
                };
                map.insert(key, item);
            }
            any
        }
        _ => false,
    }
}

/// `value` with every string that holds a sensitive value replaced by [`PLACEHOLDER`], for
/// data with typed fields (a plan's reasons); unchanged if it has none.
pub fn data<T: Serialize + DeserializeOwned>(value: &mut T) {
    let Ok(mut tree) = serde_json::to_value(&*value) else {
        return;
    };
    if json(&mut tree) {
        if let Ok(hidden) = serde_json::from_value(tree) {
            *value = hidden;
        }
    }
}

/// Hides sensitive values in a planned change: an attribute value (or list element) that
/// holds one is shown as [`PLACEHOLDER`] as a whole, and so is any text of its reasons.
/// Apply never reads these (it works from the desired model), so nothing is lost.
pub fn change(change: &mut crate::plan::Change) {
    use crate::plan::AttrValue;
    let hide = |text: &mut String| {
        if is_sensitive(text) {
            *text = PLACEHOLDER.to_string();
        }
    };
    for attributes in change.before.iter_mut().chain(change.after.iter_mut()) {
        for value in attributes.values_mut() {
            match value {
                AttrValue::Bool(_) => {}
                AttrValue::Text(text) => hide(text),
                AttrValue::List(items) => items.iter_mut().for_each(hide),
            }
        }
    }
    change.reasons.iter_mut().for_each(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_hidden_whatever_their_ascii_case() {
        register("Redact-Test-Secret-7f3a\n");
        register("abc");
        let shown = text("x REDACT-TEST-SECRET-7F3A y redact-test-secret-7f3a\n abc");
        assert_eq!(shown, "x (sensitive) y (sensitive)\n abc");
        assert!(is_sensitive("mailto:a?redact-test-secret-7f3a"));
        assert!(!is_sensitive("abc"), "shorter than MIN_LEN");
        let mut tree = serde_json::json!({"a": ["ok", "pre Redact-Test-Secret-7f3a"], "n": 1});
        assert!(json(&mut tree));
        assert_eq!(
            tree,
            serde_json::json!({"a": ["ok", "(sensitive)"], "n": 1})
        );
    }
}
