//! The application layer: one data folder holding the durable event log, and the
//! per-subject state derived from it (subject index, dedupe set, social-graph edges,
//! scoring state, score history). The CLI and the server both drive an [`Engine`].
//!
//! The event log is the truth: [`Engine::open`] rebuilds every derived structure by
//! replaying it, and ingest applies an event to the derived state only after the batch
//! holding it is synced.

pub mod access;
mod adjacency;
pub mod calls;
mod chain;
mod clock;
mod court;
mod engine;
mod error;
pub mod fsck;
mod history;
mod ingest;
mod keyset;
mod map;
pub mod notices;
mod population;
pub mod public;
mod relations;
mod subjects;
pub mod tally;
pub mod wire;

pub use clock::Clock;
pub use court::{ListQuery, PublicEntry};
pub use credo_rules::{ACTIONS, Decision, Outcome};
pub use engine::{Engine, Footprint, OpenReport, ScoreView, Summary};
pub use error::EngineError;
pub use ingest::{BatchProgress, IngestOptions, IngestReport, LineError, Sender};
pub use map::{AREA_BINS, Level, MapAlert, MapEntry, MapView, Nearby};
pub use notices::{NoticeOptions, NoticePlan};
pub use population::Lot;
pub use relations::{ContactShare, PropagationReport, propagation_params};
pub use tally::Tally;
