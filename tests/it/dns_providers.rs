//! The DNS provider table as users see it: the README's provider table is the one the code
//! renders from `solver::PROVIDERS` (`UPDATE_README=1` rewrites it), and the example of
//! each HTTP API provider validates without its credentials.

use crate::support;

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
        "the README's provider table is not the generated one: run UPDATE_README=1 cargo test --test it dns_providers::"
    );
    for provider in certform::solver::PROVIDERS {
        assert!(table.contains(&format!("| `{}` |", provider.name)));
    }
}

#[test]
fn the_examples_of_http_api_providers_validate_without_their_credentials() {
    for example in [
        "dns-powerdns",
        "dns-acme-dns",
        "dns-cloudflare",
        "dns-digitalocean",
        "dns-hetzner",
        "dns-google",
        "dns-azure",
    ] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example);
        let out = certform_in(&dir)
            .arg("validate")
            .env_remove("PDNS_API_KEY")
            .env_remove("ACMEDNS_PASSWORD")
            .env_remove("CLOUDFLARE_DNS_API_TOKEN")
            .env_remove("DO_AUTH_TOKEN")
            .env_remove("HETZNER_API_KEY")
            .env_remove("GCE_SERVICE_ACCOUNT")
            .env_remove("AZURE_CLIENT_SECRET")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{example}: {}", text(&out));
    }
}

#[test]
fn an_unknown_provider_is_an_error_listing_every_provider_or_the_closest() {
    let work = support::certform::Workdir::new();
    let block = |provider: &str| {
        format!("dns_solver \"x\" {{\n  provider = \"{provider}\"\n  zones    = [\"example.com\"]\n}}\n")
    };
    work.write("main.hcl", &block("no-such-dns-host"));
    let out = work.command(&["validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("\"no-such-dns-host\" is not a DNS provider. Use "),
        "{all}"
    );
    for provider in certform::solver::PROVIDERS {
        assert!(all.contains(&format!("\"{}\"", provider.name)), "{all}");
    }

    work.write("main.hcl", &block("powerdsn"));
    let out = work.command(&["validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("\"powerdsn\" is not a DNS provider. Did you mean \"powerdns\"?"),
        "{}",
        text(&out)
    );
}
