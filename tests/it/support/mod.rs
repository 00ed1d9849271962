//! Shared helpers for integration tests: `use crate::support;` in a test module, then
//! `support::pebble::Pebble::start()`.
#![allow(dead_code)]

pub mod acme_dns;
pub mod ari_proxy;
pub mod backend_servers;
pub mod bind;
pub mod certform;
pub mod fake_api;
pub mod fake_azure;
pub mod fake_cloudflare;
pub mod fake_digitalocean;
pub mod fake_google;
pub mod fake_hetzner;
pub mod fault_proxy;
pub mod features;
pub mod golden;
pub mod kill_harness;
pub mod moto;
pub mod pdns;
pub mod pebble;
pub mod project;
pub mod schema;
pub mod sshd;
pub mod tls_proxy;
pub mod tls_server;
