//! The DNS provider table as users see it: the README's provider table is the one the code
//! renders from `solver::PROVIDERS` (`UPDATE_README=1` rewrites it), and the example of
//! each HTTP API provider validates without its credentials.

mod support;

use certform::solver::dns_provider::{markdown_table, README_TABLE_END, README_TABLE_START};
use std::path::Path;
use support::project::{certform_in, text};

#[test]
fn the_readme_provider_table_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (before, rest) = readme
        .split_once(&format!("{README_TABLE_START}\n"))
        .unwrap_or_else(|| panic!("README.md has no line {README_TABLE_START}"));
    let (table, after) = rest
        .split_once(&format!("{README_TABLE_END}\n"))
        .unwrap_or_else(|| panic!("README.md has no line {README_TABLE_END}"));
    let generated = markdown_table();
    if std::env::var_os("UPDATE_README").is_some() {
        let updated =
            format!("{before}{README_TABLE_START}\n{generated}{README_TABLE_END}\n{after}");
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        table, generated,
        "the README's provider table is not the generated one: run UPDATE_README=1 cargo test --test dns_providers"
    );
    for provider in certform::solver::PROVIDERS {
        assert!(table.contains(&format!("| `{}` |", provider.name)));
    }
}

#[test]
fn the_examples_of_http_api_providers_validate_without_their_credentials() {
    for example in ["dns-powerdns", "dns-acme-dns"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example);
        let out = certform_in(&dir)
            .arg("validate")
            .env_remove("PDNS_API_KEY")
            .env_remove("ACMEDNS_PASSWORD")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{example}: {}", text(&out));
    }
}
