//! The storage engine of the `loki` crate family.
//!
//! This crate is filled in by its own work item; it is empty for now.
