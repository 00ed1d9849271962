//! State: the model, its versioned on-disk format with split encryption (the only user of
//! `age`), identities, and the local backend with its lock.

pub mod model;
