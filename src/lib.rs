//! certform: a Terraform-style declarative manager for ACME certificates.
//!
//! Data flows one way: `config` (HCL with spans) → `desired` (validated model) →
//! `plan` (pure diff against `state`) → `apply` (executes, persisting state after every
//! action). `render` owns every byte shown to a user; `ops` sequences each command.

pub mod acme;
pub mod address;
pub mod apply;
pub mod aws;
pub mod bounded_read;
pub mod child;
pub mod cli;
pub mod cli_argv;
pub mod cli_help;
pub mod config;
pub mod deploy;
pub mod desired;
pub mod diag;
pub mod error;
pub mod features;
pub mod fmt;
pub mod hook_env;
pub mod keys;
pub mod keytype;
pub mod log;
pub mod ops;
pub mod pem;
pub mod plan;
pub mod redact;
pub mod refresh;
pub mod render;
pub mod runtime;
pub mod secret;
pub mod solver;
pub mod state;
pub mod trust;

pub use error::{Error, Result};
