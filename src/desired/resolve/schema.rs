//! The attributes each configuration block accepts, as the parsers check them: one list per
//! block, so a test can hold every attribute to a planning decision (`plan::diff` tests).

/// Each block (named as in the README's attribute table) with the attributes it accepts.
/// A `state` block's attributes depend on its backend; they are listed together.
pub fn attributes() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut state: Vec<&str> = super::settings::LOCAL_STATE_ATTRIBUTES
        .iter()
        .copied()
        .chain(super::backend::postgres_attributes())
        .chain(super::backend::s3_attributes())
        .collect();
    state.sort_unstable();
    state.dedup();
    vec![
        ("account", super::account::ATTRIBUTES.to_vec()),
        (
            "external_account_binding",
            super::account::EAB_ATTRIBUTES.to_vec(),
        ),
        ("certificate", super::certificate::ATTRIBUTES.to_vec()),
        ("output", super::output::attributes()),
        ("check", super::certificate::CHECK_ATTRIBUTES.to_vec()),
        (
            "renewal_window",
            super::certificate::WINDOW_ATTRIBUTES.to_vec(),
        ),
        ("freeze", super::certificate::FREEZE_ATTRIBUTES.to_vec()),
        ("http_solver", super::solver::HTTP_ATTRIBUTES.to_vec()),
        (
            "tls_alpn_solver",
            super::solver::TLS_ALPN_ATTRIBUTES.to_vec(),
        ),
        ("dns_solver", super::dns_solver::attributes()),
        (
            "dns_persist_solver",
            super::dns_persist::ATTRIBUTES.to_vec(),
        ),
        ("certform", super::settings::CERTFORM_ATTRIBUTES.to_vec()),
        ("state", state),
    ]
}
