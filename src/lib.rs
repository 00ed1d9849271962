//! certform: a Terraform-style declarative manager for ACME certificates.
//!
//! Data flows one way: `config` (HCL with spans) → `desired` (validated model) →
//! `plan` (pure diff against `state`) → `apply` (executes, persisting state after every
//! action). `render` owns every byte shown to a user; `ops` sequences each command.

pub mod address;
pub mod config;
pub mod desired;
pub mod diag;
pub mod error;
pub mod keytype;
pub mod render;
pub mod secret;
pub mod state;

pub use error::{Error, Result};
