//! Every integration test in one binary, so the dependency tree is linked once instead of
//! once per test file (cargo's layout: `tests/it/main.rs` and a module per area). Run one
//! area with `cargo test --test it crash_safety::`. Fixtures and golden files stay in
//! `tests/fixtures/` and `tests/golden/`.
//!
//! Tests share one process: a test that sets an environment variable sets it for every
//! test (the AWS variables some set are the same everywhere), and none changes the
//! working directory. Tests that need a process of their own run the test binary again
//! (`crash_safety::harness_victim`, `acme_pebble::missing_pebble_panics_with_install_hint`).

mod support;

mod acme_pebble;
mod ari;
#[cfg(all(feature = "postgres", feature = "s3"))]
mod backends_e2e;
mod bad_inputs;
mod chains;
mod cli_polish;
mod concurrency;
mod config_diagnostics;
mod crash_safety;
#[cfg(all(feature = "aws-acm", feature = "aws-secretsmanager", feature = "s3"))]
mod delivery_aws;
mod delivery_files;
mod delivery_ssh;
mod dns01;
mod dns_cloud_providers;
mod dns_persist;
mod dns_providers;
mod dns_providers_acme_dns;
mod dns_providers_powerdns;
mod e2e;
mod faults;
mod file_safety;
mod for_each;
mod issuance_trust;
mod lifecycle;
mod modern_acme;
mod multi_site;
mod plan_completeness;
mod plan_contract;
mod plan_golden;
mod profile;
mod release_script;
mod renewal_windows;
mod review;
#[cfg(feature = "route53")]
mod route53_moto;
mod secret_hygiene;
mod sensitive_values;
mod state_authentication;
#[cfg(all(feature = "postgres", feature = "s3"))]
mod state_backends;
mod systemd_units;
mod terraform_habits;
mod tls_alpn;
