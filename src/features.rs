//! The optional cargo features this binary was built with (Cargo.toml `[features]`), and
//! the configuration error for a part left out of it: a lean build still recognises every
//! backend and provider by name, so a configuration that needs one it lacks fails at the
//! attribute that names it, never as an unknown name.

use crate::diag::{Diagnostics, SourceSpan};

/// Every optional feature, with whether this build has it: one
/// `("name", cfg!(feature = "name"))` line per feature in Cargo.toml's `[features]`.
pub const ALL: &[(&str, bool)] = &[
    ("acme-dns", cfg!(feature = "acme-dns")),
    ("aws-acm", cfg!(feature = "aws-acm")),
    ("aws-secretsmanager", cfg!(feature = "aws-secretsmanager")),
    ("azure", cfg!(feature = "azure")),
    ("cloudflare", cfg!(feature = "cloudflare")),
    ("digitalocean", cfg!(feature = "digitalocean")),
    ("google", cfg!(feature = "google")),
    ("hetzner", cfg!(feature = "hetzner")),
    ("postgres", cfg!(feature = "postgres")),
    ("powerdns", cfg!(feature = "powerdns")),
    ("route53", cfg!(feature = "route53")),
    ("s3", cfg!(feature = "s3")),
];

/// The features compiled in, in [`ALL`]'s order.
pub fn enabled() -> Vec<&'static str> {
    ALL.iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect()
}

/// The feature `name` needs when this build lacks it, from a table of names (a provider, an
/// output kind) and the feature each needs; `None` when `name` needs none or it is built.
pub fn lacking(needs: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    needs
        .iter()
        .find(|(needy, _)| *needy == name)
        .map(|(_, feature)| *feature)
        .filter(|feature| !ALL.contains(&(feature, true)))
}

/// Reports at `span` that `what` (`backend = "postgres"`, ...) needs `feature`, which this
/// binary was built without.
pub fn missing(feature: &str, what: &str, span: SourceSpan, diags: &mut Diagnostics) {
    diags.error(
        Some(span),
        "Feature not built in",
        format!(
            "certform was built without the `{feature}` feature, which {what} needs. Use the \
             default release build, or build with `--features {feature}`."
        ),
    );
}
