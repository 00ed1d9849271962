//! Shared helpers for integration tests: `mod support;` in a test file, then
//! `support::pebble::Pebble::start()`. Each test binary uses only part of it.
#![allow(dead_code)]

pub mod bind;
pub mod certform;
pub mod moto;
pub mod pebble;
