//! The desired model and how configuration becomes it.

pub mod model;
