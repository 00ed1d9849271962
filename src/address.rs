//! Resource addresses such as `account.le`, `certificate.www` and
//! `certificate.site["example.org"]`: how every command, plan and state entry names a thing.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The block type an address points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Account,
    Certificate,
    DnsSolver,
    HttpSolver,
    TlsAlpnSolver,
    /// `dns_persist_solver`: dns-persist-01 and its standing `_validation-persist` record;
    /// `dns_persist_solver.NAME["example.com"]` is the record of one name.
    DnsPersistSolver,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Account,
        Kind::Certificate,
        Kind::DnsSolver,
        Kind::HttpSolver,
        Kind::TlsAlpnSolver,
        Kind::DnsPersistSolver,
    ];

    /// The block keyword, which is also the first part of an address.
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Account => "account",
            Kind::Certificate => "certificate",
            Kind::DnsSolver => "dns_solver",
            Kind::HttpSolver => "http_solver",
            Kind::TlsAlpnSolver => "tls_alpn_solver",
            Kind::DnsPersistSolver => "dns_persist_solver",
        }
    }

    pub fn from_keyword(keyword: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.keyword() == keyword)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// `kind.name` or `kind.name["key"]` (a `for_each` instance).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub kind: Kind,
    pub name: String,
    pub key: Option<String>,
}

impl Address {
    pub fn new(kind: Kind, name: impl Into<String>) -> Self {
        Address {
            kind,
            name: name.into(),
            key: None,
        }
    }

    pub fn account(name: impl Into<String>) -> Self {
        Address::new(Kind::Account, name)
    }

    pub fn certificate(name: impl Into<String>) -> Self {
        Address::new(Kind::Certificate, name)
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Whether `self` selects `other` for `--target`: equal, or `self` names the whole
    /// `for_each` block that `other` is an instance of.
    pub fn selects(&self, other: &Address) -> bool {
        self == other || (self.key.is_none() && self.kind == other.kind && self.name == other.name)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)?;
        if let Some(key) = &self.key {
            write!(
                f,
                "[{}]",
                serde_json::to_string(key).map_err(|_| fmt::Error)?
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid address {input:?}: {why}. Addresses look like account.NAME, certificate.NAME or certificate.NAME[\"key\"]")]
pub struct ParseAddressError {
    pub input: String,
    pub why: &'static str,
}

impl FromStr for Address {
    type Err = ParseAddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |why| ParseAddressError {
            input: input.to_string(),
            why,
        };
        let (kind, rest) = input
            .split_once('.')
            .ok_or_else(|| fail("no `.` after the block type"))?;
        let kind = Kind::from_keyword(kind).ok_or_else(|| fail("unknown block type"))?;
        let (name, key) = match rest.split_once('[') {
            None => (rest, None),
            Some((name, index)) => {
                let index = index.strip_suffix(']').ok_or_else(|| fail("missing `]`"))?;
                let key: String = serde_json::from_str(index)
                    .map_err(|_| fail("the key must be a quoted string"))?;
                (name, Some(key))
            }
        };
        if !is_identifier(name) {
            return Err(fail("the name must be an identifier"));
        }
        Ok(Address {
            kind,
            name: name.to_string(),
            key,
        })
    }
}

/// HCL identifiers: a letter or `_`, then letters, digits, `_` and `-`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for text in [
            "account.le",
            "certificate.www",
            "certificate.site[\"example.org\"]",
            "dns_solver.bind-1",
        ] {
            let address: Address = text.parse().unwrap();
            assert_eq!(address.to_string(), text);
        }
    }

    #[test]
    fn rejects_malformed() {
        for text in [
            "le",
            "bucket.x",
            "certificate.",
            "certificate.x[example]",
            "certificate.x[\"a\"",
        ] {
            assert!(text.parse::<Address>().is_err(), "{text} should not parse");
        }
    }

    #[test]
    fn whole_block_selects_instances() {
        let block: Address = "certificate.site".parse().unwrap();
        let instance: Address = "certificate.site[\"a\"]".parse().unwrap();
        assert!(block.selects(&instance));
        assert!(!instance.selects(&block));
    }
}
