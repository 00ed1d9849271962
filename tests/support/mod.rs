//! Shared helpers for integration tests: `mod support;` in a test file, then
//! `support::pebble::Pebble::start()`. Each test binary uses only part of it.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod kill_harness;
pub mod pebble;
pub mod project;
