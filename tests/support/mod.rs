//! Shared helpers for integration tests: `mod support;` in a test file, then
//! `support::pebble::Pebble::start()`. Each test binary uses only part of it.
#![allow(dead_code)]

pub mod acme_dns;
pub mod ari_proxy;
pub mod backend_servers;
pub mod bind;
pub mod certform;
pub mod fault_proxy;
pub mod golden;
pub mod kill_harness;
pub mod moto;
pub mod pdns;
pub mod pebble;
pub mod project;
pub mod schema;
pub mod tls_server;
