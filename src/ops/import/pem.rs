//! The PEM files handed to `certform import`, each checked on its own before anything is
//! parsed, so a damaged one is refused naming the file and the line where it goes wrong.
//!
//! Text outside the BEGIN/END blocks is allowed, as RFC 7468 and openssl allow it (openssl
//! writes `subject=` and `Bag Attributes` lines there), but not a run of base64 there: that
//! is a block that lost its BEGIN line. Messages never quote a file: a key file's lines
//! are secret.

use crate::error::{Error, Result};
use crate::keys;
use crate::secret::Sensitive;
use std::path::Path;
use zeroize::Zeroizing;

/// How long a line of base64 characters outside any block must be to count as a lost
/// block body rather than a word of explanatory text (body lines are 64 characters).
const STRAY_BASE64: usize = 40;

/// One BEGIN/END block, as it stands in the file.
struct Block<'a> {
    label: &'a str,
    /// The line of its BEGIN, counted from 1.
    line: usize,
    /// Its body without the BEGIN and END lines, decoded.
    der: Zeroizing<Vec<u8>>,
}

/// The certificates in `path` (PEM, explanatory text allowed), as the file's text.
pub fn read_certificates(path: &Path) -> Result<String> {
    let text = read_text(path, "a certificate")?;
    let blocks = blocks(path, &text)?;
    let certificates: Vec<&Block> = blocks.iter().filter(|b| b.label == CERTIFICATE).collect();
    if certificates.is_empty() {
        return Err(match blocks.iter().find(|b| is_private_key(b.label)) {
            Some(key) => refuse(
                path,
                format!(
                    "it holds a {} block but no CERTIFICATE block: it looks like the key file",
                    key.label
                ),
            ),
            None => no_block(path, CERTIFICATE, &blocks),
        });
    }
    for block in certificates {
        keys::serial_of_der(&block.der).map_err(|e| {
            refuse(
                path,
                format!(
                    "the CERTIFICATE block begun on line {} is not a certificate ({e})",
                    block.line
                ),
            )
        })?;
    }
    Ok(text.to_string())
}

/// The private key in `path` (PKCS#8, PKCS#1 or SEC1 PEM), as certform keeps it.
pub fn read_private_key(path: &Path) -> Result<Sensitive> {
    let text = read_text(path, "a private key")?;
    let blocks = blocks(path, &text)?;
    let Some(key) = blocks.iter().find(|b| is_private_key(b.label)) else {
        return Err(if blocks.iter().any(|b| b.label == CERTIFICATE) {
            refuse(
                path,
                "it holds a CERTIFICATE block but no private key: it looks like the certificate file"
                    .to_string(),
            )
        } else {
            no_block(path, "PRIVATE KEY", &blocks)
        });
    };
    if key.label == "ENCRYPTED PRIVATE KEY" {
        return Err(encrypted(path));
    }
    keys::private_key_to_pkcs8(&text).map_err(|e| {
        refuse(
            path,
            format!("the {} block begun on line {}: {e}", key.label, key.line),
        )
    })
}

const CERTIFICATE: &str = "CERTIFICATE";

fn is_private_key(label: &str) -> bool {
    label.ends_with("PRIVATE KEY")
}

/// The file as text (zeroized when dropped: it may be a key). An empty file or one that is
/// not text is refused here.
fn read_text(path: &Path, holding: &str) -> Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| Error::io("Cannot read the file to import", path, e))?,
    );
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(refuse(
            path,
            format!("it is empty, where {holding} in PEM was expected"),
        ));
    }
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_string())),
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Err(refuse(
                path,
                format!(
                    "line {line} holds bytes that are not text (a DER file? `openssl x509 \
                     -inform der` or `openssl pkey -inform der` converts one to PEM)"
                ),
            ))
        }
    }
}

/// Every block of `text`, each with its body decoded; the first structural fault is refused.
fn blocks<'a>(path: &Path, text: &'a str) -> Result<Vec<Block<'a>>> {
    let fail = |why: String| Err(refuse(path, why));
    let mut blocks = Vec::new();
    // The open block: its label, BEGIN line and body so far.
    let mut open: Option<(&str, usize, Zeroizing<String>)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if let Some(label) = boundary(line, "BEGIN") {
            if let Some((outer, begun, _)) = &open {
                return fail(format!(
                    "line {number} begins a {label} block inside the {outer} block begun on \
                     line {begun}, which has no END line (cut short?)"
                ));
            }
            open = Some((label, number, Zeroizing::new(String::new())));
        } else if let Some(label) = boundary(line, "END") {
            let Some((outer, begun, body)) = open.take() else {
                return fail(format!(
                    "line {number} ends a {label} block that was never begun"
                ));
            };
            if label != outer {
                return fail(format!(
                    "line {number} ends a {label} block, but the block begun on line {begun} is \
                     a {outer} block"
                ));
            }
            blocks.push(Block {
                label,
                line: begun,
                der: decode(path, label, begun, &body)?,
            });
        } else if let Some((label, begun, body)) = &mut open {
            if line.contains(':') && is_private_key(label) {
                // `Proc-Type: 4,ENCRYPTED` and `DEK-Info:` headers: an OpenSSL-encrypted key.
                return Err(encrypted(path));
            }
            if !line.bytes().all(is_base64) {
                return fail(format!(
                    "line {number}, in the {label} block begun on line {begun}, holds a character \
                     that is not base64"
                ));
            }
            body.push_str(line);
        } else if line.len() >= STRAY_BASE64 && line.bytes().all(is_base64) {
            return fail(format!(
                "line {number} holds base64 data outside any BEGIN/END block (a block that lost \
                 its BEGIN line?)"
            ));
        }
    }
    match open {
        Some((label, begun, _)) => fail(format!(
            "it ends inside the {label} block begun on line {begun}: the file is cut short"
        )),
        None => Ok(blocks),
    }
}

/// `-----BEGIN LABEL-----` (or END): the label.
fn boundary<'a>(line: &'a str, which: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_prefix(which)?
        .strip_prefix(' ')?
        .strip_suffix("-----")
}

fn is_base64(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=')
}

fn decode(path: &Path, label: &str, begun: usize, body: &str) -> Result<Zeroizing<Vec<u8>>> {
    if body.is_empty() {
        return Err(refuse(
            path,
            format!("the {label} block begun on line {begun} is empty"),
        ));
    }
    // The decoder's own message would quote a byte of the body: it is not repeated.
    crate::pem::decode_body(body).ok_or_else(|| {
        refuse(
            path,
            format!(
                "the base64 body of the {label} block begun on line {begun} does not decode \
                     (a line is missing, cut short or has a character too many)"
            ),
        )
    })
}

fn no_block(path: &Path, wanted: &str, found: &[Block]) -> Error {
    let found: Vec<&str> = found.iter().map(|b| b.label).collect();
    refuse(
        path,
        if found.is_empty() {
            format!("it holds no PEM block (a {wanted} begins with `-----BEGIN {wanted}-----`)")
        } else {
            format!("it holds no {wanted} block, only {}", found.join(", "))
        },
    )
}

fn encrypted(path: &Path) -> Error {
    refuse(
        path,
        format!(
            "its private key is encrypted; certform needs it unencrypted (`openssl pkey -in {} \
             -out key.pem`, and keep that file private)",
            path.display()
        ),
    )
}

fn refuse(path: &Path, why: String) -> Error {
    Error::Usage(format!("Cannot import {}: {why}.", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> std::result::Result<Vec<(String, usize)>, String> {
        blocks(Path::new("f.pem"), text)
            .map(|blocks| {
                blocks
                    .iter()
                    .map(|b| (b.label.to_string(), b.line))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    const BODY: &str = "TWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmsu";

    fn block(label: &str) -> String {
        format!("-----BEGIN {label}-----\n{BODY}\n-----END {label}-----\n")
    }

    #[test]
    fn blocks_and_explanatory_text_are_read() {
        let text = format!(
            "subject=CN = www.example.org\n{}Bag Attributes\n    localKeyID: 01 02\n\n{}",
            block("CERTIFICATE"),
            block("PRIVATE KEY")
        );
        assert_eq!(
            check(&text).unwrap(),
            [
                ("CERTIFICATE".to_string(), 2),
                ("PRIVATE KEY".to_string(), 8)
            ]
        );
        // CRLF line ends, as Windows tools write them.
        assert_eq!(
            check(&block("CERTIFICATE").replace('\n', "\r\n"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn structural_faults_are_named_with_their_line() {
        let cut = &block("CERTIFICATE")[..40];
        assert!(check(cut).unwrap_err().contains(
            "it ends inside the CERTIFICATE block begun on line 1: the file is cut short"
        ));
        let nested = format!("{cut}\n{}", block("CERTIFICATE"));
        assert!(check(&nested).unwrap_err().contains(
            "line 3 begins a CERTIFICATE block inside the CERTIFICATE block begun on line 1"
        ));
        let stray = format!(
            "{}{BODY}{BODY}\n{}",
            block("CERTIFICATE"),
            block("CERTIFICATE")
        );
        assert!(check(&stray)
            .unwrap_err()
            .contains("line 4 holds base64 data outside any BEGIN/END block"));
        assert!(check("-----END CERTIFICATE-----\n")
            .unwrap_err()
            .contains("line 1 ends a CERTIFICATE block that was never begun"));
        let crossed = block("CERTIFICATE").replace("END CERTIFICATE", "END PRIVATE KEY");
        assert!(check(&crossed).unwrap_err().contains(
            "line 3 ends a PRIVATE KEY block, but the block begun on line 1 is a CERTIFICATE block"
        ));
        let bad_char = block("CERTIFICATE").replace("TWFu", "TW*u");
        assert!(check(&bad_char)
            .unwrap_err()
            .contains("line 2, in the CERTIFICATE block begun on line 1, holds a character that is not base64"));
        let bad_length = block("CERTIFICATE").replace("TWFu", "TWF");
        assert!(check(&bad_length)
            .unwrap_err()
            .contains("the base64 body of the CERTIFICATE block begun on line 1 does not decode"));
        let empty = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
        assert!(check(empty)
            .unwrap_err()
            .contains("the CERTIFICATE block begun on line 1 is empty"));
    }

    #[test]
    fn an_encrypted_key_is_named_as_such() {
        let legacy = block("RSA PRIVATE KEY").replace(
            &format!("{BODY}\n"),
            &format!("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n{BODY}\n"),
        );
        assert!(check(&legacy)
            .unwrap_err()
            .contains("its private key is encrypted"));
    }
}
