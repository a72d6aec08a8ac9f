//! The storage engine of the `loki` crate family: where the crates become a
//! database.
//!
//! This crate is being built up piece by piece. It holds so far:
//!
//! - [`wal`]: the write-ahead log. Every accepted batch is appended with
//!   length framing and a CRC and synced before the write is acknowledged;
//!   replay on start-up truncates a torn tail at the last good record.
//!
//! ```
//! use loki_store::wal::{StreamBatch, Wal, WalOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let (mut wal, report) = Wal::open(dir.path(), WalOptions::default(), |_| Ok(()))?;
//! assert_eq!(report.records, 0);
//! let labels = vec![("app".to_owned(), "shop".to_owned())];
//! let entries = [(1_700_000_000_000_000_000, &b"GET /cart 200"[..], &[][..])];
//! wal.append(&[StreamBatch { stream: 1, tenant: "tenant-a", labels: &labels, entries: &entries }])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! None yet.
//!
//! # Dependencies, and why
//!
//! - `crc32fast`: the WAL's record checksums (our own format, so IEEE CRC-32).
//! - `thiserror`: the error type.

mod error;
pub mod wal;

pub use error::{Error, ErrorKind, Result};
