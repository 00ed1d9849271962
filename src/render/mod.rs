//! Everything shown to a user is rendered here.

pub mod diagnostics;
