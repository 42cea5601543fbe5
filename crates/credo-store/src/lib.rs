//! The durable event log and the disk format of events.
//!
//! The log is one append-only file of batches. Each batch is written whole and synced
//! (`fdatasync`) before [`Log::commit`] returns, so an acknowledged batch survives a
//! crash: this is group commit, one sync per batch. Every batch header and every record
//! carries a CRC-32. On open, a torn tail (a batch cut short by a crash) is truncated and
//! reported; damage anywhere else is an error that names the offset, never a silent drop.
//!
//! The byte layout is documented in `docs/storage.md`.

pub mod codec;
mod log;

pub use codec::{CodecError, decode_event, encode_event};
pub use log::{Batch, Check, Damage, Log, Record, RecordRef, Recovery};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a credo event log (bad magic)")]
    NotALog { path: String },
    #[error("{path} was written by format version {found}; this build reads version {supported}")]
    Version {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error(
        "{path} is damaged at byte {offset}: {problem}; later data exists, so this is not a torn tail. Restore from a backup or run `credo fsck`"
    )]
    Corrupt {
        path: String,
        offset: u64,
        problem: String,
    },
    #[error("record at byte {offset} does not decode: {source}")]
    Decode {
        offset: u64,
        #[source]
        source: CodecError,
    },
    #[error("a batch of {0} bytes is too large (limit 1 GiB)")]
    BatchTooLarge(usize),
}
