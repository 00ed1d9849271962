//! Plans: what apply would do and why. A [`Change`] keeps the *action* apart from its
//! *reasons*; [`diff`] computes the changes purely from the desired model, the state, what
//! a refresh observed and the time; [`drift`] lists where the world differs from state;
//! [`graph`] orders the changes; [`saved`] stores a plan in a file bound to the state and
//! configuration it was made from.

pub mod ari;
pub mod diff;
pub mod drift;
pub mod graph;
pub mod persist;
pub mod reason;
pub mod renewal;
pub mod saved;
pub mod window;

pub use diff::{diff, FileFacts, FileSeen, Observed, PlanOptions, RemoteSeen};
pub use reason::Reason;

use crate::address::{Address, Kind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The closed set of things apply can do to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Register a new ACME account.
    Create,
    /// Change in place: an account (contact, settings) or the settings state keeps for a
    /// certificate (`revoke_on_destroy`), without a new order.
    Update,
    /// Issue a certificate that state does not have.
    Issue,
    /// Renew a certificate whose configuration is unchanged.
    Renew,
    /// Issue a new certificate because its configuration changed (or `--replace`).
    Reissue,
    /// Write output files again from state without a new order.
    Redeploy,
    /// Revoke at the CA, then forget.
    Revoke,
    /// Forget without contacting the CA.
    Delete,
    /// Roll an account's key over (RFC 8555 §7.3.5); the account URL stays.
    RotateKey,
    /// Deactivate a removed account at the CA, then forget it (`deactivate_on_destroy`).
    Deactivate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Issue => "issue",
            Action::Renew => "renew",
            Action::Reissue => "reissue",
            Action::Redeploy => "redeploy",
            Action::Revoke => "revoke",
            Action::Delete => "delete",
            Action::RotateKey => "rotate-key",
            Action::Deactivate => "deactivate",
        }
    }

    /// Whether the action ends with output files written (and so runs `on_change` hooks).
    pub fn deploys(self) -> bool {
        matches!(
            self,
            Action::Issue | Action::Renew | Action::Reissue | Action::Redeploy
        )
    }

    /// Whether an unattended `apply --only renewals` may carry it out: it keeps the
    /// certificate's configuration and touches no account and no revocation.
    pub fn is_renewal(self) -> bool {
        matches!(self, Action::Renew | Action::Redeploy)
    }

    /// Whether the action places an ACME order.
    pub fn orders(self) -> bool {
        matches!(self, Action::Issue | Action::Renew | Action::Reissue)
    }

    /// The class a drift check gates on (SPEC §4): renewal, create, update, replace or
    /// destroy.
    pub fn change_class(self) -> ChangeClass {
        match self {
            Action::Renew | Action::Redeploy => ChangeClass::Renewal,
            Action::Create | Action::Issue => ChangeClass::Create,
            Action::Update | Action::RotateKey => ChangeClass::Update,
            Action::Reissue => ChangeClass::Replace,
            Action::Revoke | Action::Delete | Action::Deactivate => ChangeClass::Destroy,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of work a plan holds, for gates (`change_classes` in the JSON plan,
/// `plan --detailed-exitcode --fail-on CLASSES`). In this order everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeClass {
    /// Renew or redeploy: the configuration is unchanged.
    Renewal,
    /// A new account or certificate (`create`, `issue`).
    Create,
    /// An account changed in place (`update`, `rotate-key`).
    Update,
    /// A certificate reissued because its configuration changed (or `--replace`).
    Replace,
    /// Revocation, deactivation or removal.
    Destroy,
    /// Drift that no planned action repairs (an unreachable endpoint, say): nothing to
    /// apply, but something to look at.
    Drift,
}

impl ChangeClass {
    pub const ALL: [ChangeClass; 6] = [
        ChangeClass::Renewal,
        ChangeClass::Create,
        ChangeClass::Update,
        ChangeClass::Replace,
        ChangeClass::Destroy,
        ChangeClass::Drift,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeClass::Renewal => "renewal",
            ChangeClass::Create => "create",
            ChangeClass::Update => "update",
            ChangeClass::Replace => "replace",
            ChangeClass::Destroy => "destroy",
            ChangeClass::Drift => "drift",
        }
    }
}

impl fmt::Display for ChangeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChangeClass {
    type Err = String;

    fn from_str(name: &str) -> Result<ChangeClass, String> {
        ChangeClass::ALL
            .into_iter()
            .find(|class| class.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = ChangeClass::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "{name:?} is not a change class; the classes are {}",
                    names.join(", ")
                )
            })
    }
}

/// A value shown in a plan's attribute diff. Never holds a secret. Booleans stay
/// booleans (`true` in text and JSON, never the string `"true"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Text(String),
    List(Vec<String>),
}

impl From<bool> for AttrValue {
    fn from(value: bool) -> AttrValue {
        AttrValue::Bool(value)
    }
}

/// Attributes of a resource as a plan shows them (before or after the change).
pub type Attributes = BTreeMap<String, AttrValue>;

/// One planned action on one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// Why, most important first; never empty.
    pub reasons: Vec<Reason>,
    pub before: Option<Attributes>,
    pub after: Option<Attributes>,
}

impl Change {
    pub fn kind(&self) -> Kind {
        self.address.kind
    }

    /// All reasons as one line, as text and JSON show it.
    pub fn reason_text(&self) -> String {
        self.reasons
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Counts per action for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub issue: usize,
    pub renew: usize,
    pub reissue: usize,
    pub redeploy: usize,
    pub revoke: usize,
    pub delete: usize,
    pub rotate_key: usize,
    pub deactivate: usize,
}

impl Summary {
    pub fn of(changes: &[Change]) -> Summary {
        let mut s = Summary::default();
        for change in changes {
            *match change.action {
                Action::Create => &mut s.create,
                Action::Update => &mut s.update,
                Action::Issue => &mut s.issue,
                Action::Renew => &mut s.renew,
                Action::Reissue => &mut s.reissue,
                Action::Redeploy => &mut s.redeploy,
                Action::Revoke => &mut s.revoke,
                Action::Delete => &mut s.delete,
                Action::RotateKey => &mut s.rotate_key,
                Action::Deactivate => &mut s.deactivate,
            } += 1;
        }
        s
    }
}

/// The distinct change classes present, in a fixed order: those of the changes, and
/// `drift` when some drift has no planned action. Empty exactly when there is nothing to
/// apply or look at (what `--detailed-exitcode` exits 0 for).
pub fn change_classes(changes: &[Change], drift: &[drift::Drift]) -> Vec<ChangeClass> {
    let mut classes: Vec<ChangeClass> = changes.iter().map(|c| c.action.change_class()).collect();
    if !drift::unrepaired(drift, changes).is_empty() {
        classes.push(ChangeClass::Drift);
    }
    classes.sort();
    classes.dedup();
    classes
}
