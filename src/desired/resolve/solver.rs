//! Solver blocks: `http_solver` (webroot or built-in listener) and `tls_alpn_solver`
//! (built-in listener). `dns_solver` has its own module.

use super::*;

/// What `http_solver` and `tls_alpn_solver` blocks accept (also read by [`super::schema`]).
pub(super) const HTTP_ATTRIBUTES: &[&str] = &["webroot", "listen"];
pub(super) const TLS_ALPN_ATTRIBUTES: &[&str] = &["listen"];

pub(super) fn http_solver(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    address: &Address,
    diags: &mut Diagnostics,
) -> Option<HttpSolverSpec> {
    let reader = BodyReader::new(
        file,
        &config.eval,
        block,
        format!("`http_solver \"{}\"`", address.name),
    );
    reader.check(HTTP_ATTRIBUTES, &[], diags);
    let webroot = reader.string("webroot", diags);
    let listen = reader.string_spanned("listen", diags);
    match (webroot, listen) {
        (Got::Value(_), Got::Value((_, span))) => {
            diags.error(
                Some(span),
                "Conflicting attributes",
                format!(
                    "{} sets both `webroot` and `listen`; set exactly one: webroot to write challenge files for an existing web server, or listen to serve them from certform.",
                    reader.what
                ),
            );
            None
        }
        (Got::Value(webroot), Got::Absent) => Some(HttpSolverSpec::Webroot {
            webroot: absolute(&config.dir, &webroot),
        }),
        (Got::Absent, Got::Value((listen, span))) => match listen_address(&listen) {
            Ok(listen) => Some(HttpSolverSpec::Listen { listen }),
            Err(why) => {
                diags.error(Some(span), "Invalid listen address", why);
                None
            }
        },
        (Got::Absent, Got::Absent) => {
            diags.error(
                Some(reader.header_span()),
                "Missing required attribute",
                format!(
                    "{} must set either `webroot = \"/var/www/html\"` (write challenge files for an existing web server) or `listen = \":80\"` (serve them from certform).",
                    reader.what
                ),
            );
            None
        }
        _ => None,
    }
}

pub(super) fn tls_alpn_solver(
    config: &Config,
    file: &SourceFile,
    block: &Block,
    address: &Address,
    diags: &mut Diagnostics,
) -> Option<TlsAlpnSolverSpec> {
    let reader = BodyReader::new(
        file,
        &config.eval,
        block,
        format!("`tls_alpn_solver \"{}\"`", address.name),
    );
    reader.check(TLS_ALPN_ATTRIBUTES, &[], diags);
    let listen = reader.string_spanned("listen", diags);
    let (listen, span) = reader.required("listen", "\":443\"", listen, diags)?;
    match listen_address(&listen) {
        Ok(listen) => Some(TlsAlpnSolverSpec { listen }),
        Err(why) => {
            diags.error(Some(span), "Invalid listen address", why);
            None
        }
    }
}

/// `":80"` → `0.0.0.0:80`; `"127.0.0.1:5002"` and `"[::]:80"` kept.
pub fn listen_address(text: &str) -> Result<String, String> {
    let bad = || {
        format!("{text:?} is not a listen address. Write \":PORT\" for all interfaces or \"HOST:PORT\", such as \":80\" or \"127.0.0.1:5002\".")
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(bad()),
    }
    if host.is_empty() {
        return Ok(format!("0.0.0.0:{port}"));
    }
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.contains(char::is_whitespace) || (host.contains(':') && !bracketed) {
        return Err(bad());
    }
    Ok(text.to_string())
}
