//! The DNS provider interface and what every provider declares about itself. A provider is
//! one module holding a [`ProviderEntry`]: its name, its attributes ([`AttrSchema`]: type,
//! whether required or sensitive, default, the environment variable it falls back to), a
//! check of the values beyond their types, and the constructor of its [`DnsProvider`]. The
//! table of entries (`PROVIDERS`, written with `dns_providers!` in `mod.rs`) is the only
//! list of providers: `validate` reads a `dns_solver` block against it (unknown names and
//! "Did you mean", attributes of another provider, required ones, secrets only from
//! `env()`/`file()`/the variable), the README's provider table is rendered from it
//! ([`markdown_table`]), and `DnsSolver` starts providers through it.
//!
//! Adding a provider is a module `src/solver/NAME.rs` and the line `NAME,` in
//! `dns_providers!` (which declares the module). The module holds:
//!
//! ```text
//! pub(super) const PROVIDER: ProviderEntry = ProviderEntry {
//!     name: "example", summary: "...",
//!     attributes: &[AttrSchema::new("api_token", AttrKind::Secret, "...")
//!         .required("env(\"EXAMPLE_TOKEN\")").env("EXAMPLE_TOKEN"),
//!         api_client::CA_BUNDLE, api_client::ALLOW_INSECURE_TRANSPORT],
//!     check, // fn(&mut AttrCheck) reporting bad values at their location
//!     start, // fn(&ProviderSpec, &StartContext) -> ProviderFuture<Box<dyn DnsProvider>>
//! };
//! ```
//!
//! HTTP API providers talk through [`super::api_client`]. Then `UPDATE_README=1 cargo test
//! --test dns_providers` rewrites the README's table.

use crate::address::Address;
use crate::desired::model::{AttrValue, ProviderSpec};
use crate::diag::{Diagnostics, SourceSpan};
use crate::hook_env::HookEnv;
use crate::secret::ConfigSecret;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What the asynchronous methods of a provider return. Errors are sentence fragments
/// (`"api.example returned 401 Unauthorized: ..."`); the solver adds which record and solver.
pub type ProviderFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// How a `dns_solver` writes and withdraws challenge TXT records. `DnsSolver` (dns.rs) calls
/// it: it serialises the changes of one solver, keeps the book of the values it added per
/// record name, and runs the propagation check, so a provider only talks to its DNS host.
///
/// `name` is the record's name without a trailing dot (`_acme-challenge.example.com`, or
/// where its CNAME points with `follow_cname`); `value` is the TXT value without quotes.
pub trait DnsProvider: Send + Sync {
    /// Add `value` to the TXT values at `name`, keeping every other value there (two
    /// authorizations may share a name, and records of others must stay). Adding a value
    /// that is there already succeeds.
    fn present<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()>;

    /// Remove exactly `value` from the TXT values at `name`, keeping the others. Removing a
    /// value that is not there succeeds.
    fn cleanup<'a>(&'a self, name: &'a str, value: &'a str) -> ProviderFuture<'a, ()>;

    /// Whether a change either happens entirely or not at all (an API call, an RFC 2136
    /// update). When it is not (a user's command may fail half-way), a failed `present` is
    /// cleaned up all the same.
    fn atomic(&self) -> bool {
        true
    }

    /// Where the propagation check reads the value back.
    fn read_back(&self) -> ReadBack {
        ReadBack::AtName
    }
}

/// Where the propagation check looks for a value a provider wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBack {
    /// At the record name the provider was given.
    AtName,
    /// At the end of the CNAME chain starting there: the provider writes to a zone of its
    /// own that the name is delegated to (acme-dns).
    FollowCname,
}

/// What a provider's constructor may need besides its attributes.
pub struct StartContext {
    /// The solver's address, for messages and the exec hook's environment.
    pub solver: Address,
    /// `propagation_timeout`: also how long a provider may wait for its host to apply a
    /// change (Route53's INSYNC).
    pub propagation_timeout: Duration,
    /// What the commands certform starts do not inherit.
    pub hook_env: HookEnv,
}

/// A provider's constructor.
pub type Constructor =
    for<'a> fn(&'a ProviderSpec, &'a StartContext) -> ProviderFuture<'a, Box<dyn DnsProvider>>;

/// One line of the provider table.
pub struct ProviderEntry {
    /// What `provider = "..."` says.
    pub name: &'static str,
    /// What it is, for the README (a sentence fragment, Markdown).
    pub summary: &'static str,
    pub attributes: &'static [AttrSchema],
    /// Checks of the values beyond their types (formats, attributes that go together).
    pub check: fn(&mut AttrCheck<'_>),
    pub start: Constructor,
}

/// The type of an attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    Text,
    /// A list of strings.
    List,
    Bool,
    /// A file name, made absolute against the configuration directory.
    Path,
    /// A string that is never shown: only from `env()`, `file()` or its environment
    /// variable, `(sensitive)` in every output, withheld from hooks.
    Secret,
}

impl AttrKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrKind::Text => "string",
            AttrKind::List => "list of strings",
            AttrKind::Bool => "bool",
            AttrKind::Path => "path",
            AttrKind::Secret => "string, sensitive",
        }
    }
}

/// One attribute of a provider.
#[derive(Debug, Clone, Copy)]
pub struct AttrSchema {
    pub name: &'static str,
    pub kind: AttrKind,
    /// An example value as written in HCL, for the message when a required one is missing;
    /// `None` when the attribute is optional.
    pub required: Option<&'static str>,
    /// The value when it is not written (as HCL would write it).
    pub default: Option<&'static str>,
    /// The environment variable read when the attribute is not written (the provider's
    /// usual one, as lego names it).
    pub env: Option<&'static str>,
    /// What it means, for the README (Markdown).
    pub doc: &'static str,
    /// A secret may be written in the configuration itself (not only read with `env()` or
    /// `file()`): kept for the TSIG secret, which always could be.
    pub literal_allowed: bool,
}

impl AttrSchema {
    /// An optional attribute of `kind`; refine it with the `const fn`s below.
    pub const fn new(name: &'static str, kind: AttrKind, doc: &'static str) -> AttrSchema {
        AttrSchema {
            name,
            kind,
            required: None,
            default: None,
            env: None,
            doc,
            literal_allowed: false,
        }
    }

    pub const fn required(mut self, example: &'static str) -> AttrSchema {
        self.required = Some(example);
        self
    }

    pub const fn default(mut self, value: &'static str) -> AttrSchema {
        self.default = Some(value);
        self
    }

    pub const fn env(mut self, variable: &'static str) -> AttrSchema {
        self.env = Some(variable);
        self
    }

    pub const fn literal_allowed(mut self) -> AttrSchema {
        self.literal_allowed = true;
        self
    }
}

/// The values of a block being validated, for a provider's [`ProviderEntry::check`]: read
/// them, and report what is wrong with them at the attribute's value.
pub struct AttrCheck<'a> {
    /// The block, for messages: `` `dns_solver "bind"` ``.
    pub what: &'a str,
    pub values: &'a BTreeMap<&'static str, AttrValue>,
    pub spans: &'a BTreeMap<&'static str, SourceSpan>,
    pub header: SourceSpan,
    pub diags: &'a mut Diagnostics,
}

impl AttrCheck<'_> {
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(AttrValue::Text(text)) => Some(text),
            _ => None,
        }
    }

    pub fn secret(&self, name: &str) -> Option<&ConfigSecret> {
        match self.values.get(name) {
            Some(AttrValue::Secret(secret)) => Some(secret),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.values.get(name) {
            Some(AttrValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn list(&self, name: &str) -> Option<&[String]> {
        match self.values.get(name) {
            Some(AttrValue::List(list)) => Some(list),
            _ => None,
        }
    }

    /// Whether the attribute has a value (written, defaulted or from its variable).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// An error at the value of `attribute` (at the block's header when it has none).
    pub fn error(&mut self, attribute: &str, title: &str, detail: impl Into<String>) {
        let span = self
            .spans
            .get(attribute)
            .cloned()
            .unwrap_or_else(|| self.header.clone());
        self.diags.error(Some(span), title, detail);
    }

    /// An error about the block as a whole.
    pub fn block_error(&mut self, title: &str, detail: impl Into<String>) {
        self.diags.error(Some(self.header.clone()), title, detail);
    }
}

/// `http://` or `https://` followed by something: what an `endpoint` must look like.
pub fn is_url(text: &str) -> bool {
    ["https://", "http://"].iter().any(|scheme| {
        text.strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty())
    })
}

/// The entry named `name`.
pub fn entry(name: &str) -> Option<&'static ProviderEntry> {
    super::PROVIDERS.iter().copied().find(|p| p.name == name)
}

/// The README's provider table: one row per provider with its attributes and the
/// environment variables it reads. The README holds it between [`README_TABLE_START`] and
/// [`README_TABLE_END`]; a test keeps the two equal.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| provider | what it is | attributes | environment variables |\n|---|---|---|---|\n",
    );
    for provider in super::PROVIDERS {
        let attributes: Vec<String> = provider
            .attributes
            .iter()
            .map(|a| {
                let mut facts = vec![a.kind.as_str().to_string()];
                if a.required.is_some() {
                    facts.push("required".into());
                }
                if let Some(default) = a.default {
                    facts.push(format!("default `{default}`"));
                }
                format!("`{}` ({}): {}", a.name, facts.join(", "), a.doc)
            })
            .collect();
        let env: Vec<String> = provider
            .attributes
            .iter()
            .filter_map(|a| a.env.map(|v| format!("`{v}` for `{}`", a.name)))
            .collect();
        let cells = [
            format!("`{}`", provider.name),
            provider.summary.to_string(),
            attributes.join("<br>"),
            if env.is_empty() {
                "-".to_string()
            } else {
                env.join("<br>")
            },
        ];
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// The line before the provider table in README.md.
pub const README_TABLE_START: &str = "<!-- dns-providers:start (generated from solver::PROVIDERS; UPDATE_README=1 cargo test --test it dns_providers:: rewrites it) -->";
/// The line after it.
pub const README_TABLE_END: &str = "<!-- dns-providers:end -->";
