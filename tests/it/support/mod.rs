//! Shared helpers for integration tests: `use crate::support;` in a test module, then
//! `support::pebble::Pebble::start()`.
#![allow(dead_code)]

pub mod ari_proxy;
pub mod backend_servers;
pub mod bind;
pub mod certform;
pub mod fault_proxy;
pub mod golden;
pub mod kill_harness;
pub mod moto;
pub mod pebble;
pub mod project;
pub mod schema;
pub mod tls_proxy;
pub mod tls_server;
