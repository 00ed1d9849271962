//! Certificate download and `preferred_chain`: a CA may offer one certificate with several
//! issuer chains (RFC 8555 §7.4.2), the default one at the order's `certificate` URL and the
//! others at the URLs of its `Link: <...>;rel="alternate"` headers. A chain is preferred when
//! its topmost certificate's issuer Common Name, or that certificate's own subject Common
//! Name, equals `preferred_chain` (certbot compares the issuer, lego either: a self-signed
//! root listed at the top matches by both). The default chain is checked first; alternates
//! are downloaded only until one matches; with none matching the default chain is kept.

use super::request::Session;
use crate::{Error, Result};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The chain chosen for an issued certificate.
#[derive(Debug)]
pub(super) struct Chosen {
    /// Leaf first.
    pub fullchain_pem: String,
    /// Set when `preferred_chain` matched none of the chains the CA offers, saying so.
    pub note: Option<String>,
}

/// Downloads the certificate at `url` (POST-as-GET) and, when the default chain does not end
/// at `preferred`, its alternates until one does. `names` describes the certificate.
pub(super) async fn download(
    session: &Session,
    url: &str,
    preferred: Option<&str>,
    names: &str,
) -> Result<Chosen> {
    let default = session
        .post_as_get(&format!("downloading the certificate for {names}"), url)
        .await?;
    let default_pem = pem_text(&default.body, url)?;
    let Some(preferred) = preferred else {
        return Ok(Chosen {
            fullchain_pem: default_pem,
            note: None,
        });
    };
    if ends_at(&default_pem, preferred)? {
        return Ok(Chosen {
            fullchain_pem: default_pem,
            note: None,
        });
    }
    let leaf = certificates(&default_pem)?.into_iter().next();
    let alternates = alternate_urls(&default.headers, url);
    for alternate in &alternates {
        let answer = session
            .post_as_get(
                &format!("downloading an alternate chain for {names}"),
                alternate,
            )
            .await?;
        let pem = pem_text(&answer.body, alternate)?;
        // An alternate chain is for the same certificate; anything else is not ours to use.
        let same_leaf = certificates(&pem)?.into_iter().next() == leaf;
        if same_leaf && ends_at(&pem, preferred)? {
            return Ok(Chosen {
                fullchain_pem: pem,
                note: None,
            });
        }
    }
    let offered = alternates.len() + 1;
    Ok(Chosen {
        fullchain_pem: default_pem,
        note: Some(format!(
            "preferred_chain {preferred:?} matches none of the {offered} chain(s) the CA offers; \
             the default chain was kept"
        )),
    })
}

fn pem_text(body: &[u8], url: &str) -> Result<String> {
    String::from_utf8(body.to_vec())
        .map_err(|_| Error::Acme(format!("the certificate at {url} is not PEM text")))
}

/// The DER of every `CERTIFICATE` block, in order.
fn certificates(pem: &str) -> Result<Vec<Vec<u8>>> {
    crate::pem::certificates(pem.as_bytes())
        .map(|c| c.map(|der| der.to_vec()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| {
            Error::Acme(format!(
                "the CA sent a certificate chain that is not PEM: {e}"
            ))
        })
}

/// Whether the chain's topmost certificate was issued by, or is, the CA named `name`.
fn ends_at(fullchain_pem: &str, name: &str) -> Result<bool> {
    let ders = certificates(fullchain_pem)?;
    let Some(top) = ders.last() else {
        return Err(Error::Acme(
            "the CA sent a certificate chain without a certificate".into(),
        ));
    };
    let (_, top) = X509Certificate::from_der(top).map_err(|e| {
        Error::Acme(format!(
            "the CA sent a certificate that cannot be parsed: {e}"
        ))
    })?;
    let common_name = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string)
    };
    Ok([common_name(top.issuer()), common_name(top.subject())]
        .iter()
        .flatten()
        .any(|cn| cn == name))
}

/// The targets of `Link` headers with relation `alternate` (RFC 8288), resolved against the
/// URL they were fetched from.
fn alternate_urls(headers: &hyper::HeaderMap, base: &str) -> Vec<String> {
    headers
        .get_all(hyper::header::LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(link_values)
        .filter(|(_, params)| {
            params.iter().any(|(key, value)| {
                key.eq_ignore_ascii_case("rel")
                    && value
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("alternate"))
            })
        })
        .filter_map(|(target, _)| resolve(&target, base))
        .collect()
}

/// `<target>; key=value; key="value", <target>...` as `(target, params)` pairs; a comma
/// inside `<...>` or a quoted value does not split.
fn link_values(header: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut values = Vec::new();
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let target = rest[open + 1..open + close].trim().to_string();
        rest = &rest[open + close + 1..];
        let mut params = Vec::new();
        // Parameters run until a comma outside quotes.
        let mut end = rest.len();
        let mut quoted = false;
        for (i, c) in rest.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        for param in rest[..end].split(';') {
            if let Some((key, value)) = param.split_once('=') {
                params.push((
                    key.trim().to_string(),
                    value.trim().trim_matches('"').to_string(),
                ));
            }
        }
        values.push((target, params));
        rest = &rest[end..];
    }
    values
}

/// An absolute URL as is; an absolute path on `base`'s origin. Other relative forms are not
/// used by CAs and are ignored.
fn resolve(target: &str, base: &str) -> Option<String> {
    if target.starts_with("https://") || target.starts_with("http://") {
        return Some(target.to_string());
    }
    if !target.starts_with('/') {
        return None;
    }
    let base: hyper::Uri = base.parse().ok()?;
    Some(format!(
        "{}://{}{target}",
        base.scheme_str()?,
        base.authority()?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    fn headers(links: &[&str]) -> hyper::HeaderMap {
        let mut map = hyper::HeaderMap::new();
        for link in links {
            map.append(hyper::header::LINK, link.parse().unwrap());
        }
        map
    }

    #[test]
    fn alternates_are_the_links_with_rel_alternate() {
        let base = "https://ca.test:14000/certZ/abc";
        let map = headers(&[
            r#"<https://ca.test:14000/certZ/abc/1>;rel="alternate""#,
            r#"<https://ca.test:14000/dir>;rel="index""#,
            r#"</certZ/abc/2>; rel=alternate, <https://other.test/x,y>; title="a, b"; rel="up alternate""#,
            r#"<relative/3>;rel="alternate""#,
        ]);
        assert_eq!(
            alternate_urls(&map, base),
            [
                "https://ca.test:14000/certZ/abc/1",
                "https://ca.test:14000/certZ/abc/2",
                "https://other.test/x,y",
            ]
        );
        assert!(alternate_urls(&headers(&[]), base).is_empty());
    }

    /// A leaf under an intermediate under a root named `root`, as PEM leaf first, and the
    /// same with the self-signed root appended.
    fn chain(root: &str) -> (String, String) {
        let ca = |cn: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, cn);
            params
        };
        let root_key = KeyPair::generate().unwrap();
        let root_cert = ca(root).self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(ca(root), root_key);
        let mid_key = KeyPair::generate().unwrap();
        let mid_cert = ca("Intermediate X")
            .signed_by(&mid_key, &root_issuer)
            .unwrap();
        let mid_issuer = Issuer::new(ca("Intermediate X"), mid_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["www.test".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &mid_issuer)
            .unwrap();
        let without_root = format!("{}{}", leaf.pem(), mid_cert.pem());
        let with_root = format!("{without_root}{}", root_cert.pem());
        (without_root, with_root)
    }

    #[test]
    fn a_chain_ends_at_its_top_certificates_issuer_or_subject() {
        let (without_root, with_root) = chain("Root A");
        // Top is the intermediate: matched by its issuer's name and by its own.
        assert!(ends_at(&without_root, "Root A").unwrap());
        assert!(ends_at(&without_root, "Intermediate X").unwrap());
        assert!(
            !ends_at(&without_root, "www.test").unwrap(),
            "the leaf is not the top"
        );
        // Top is the self-signed root: issuer and subject are both "Root A".
        assert!(ends_at(&with_root, "Root A").unwrap());
        assert!(!ends_at(&with_root, "Root B").unwrap());
        assert!(
            !ends_at(&with_root, "root a").unwrap(),
            "names compare exactly"
        );
        assert!(ends_at("", "Root A").is_err());
    }
}
