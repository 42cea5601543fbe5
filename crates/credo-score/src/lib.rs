//! Scoring: the model file, the compact per-subject feature state that events update
//! incrementally, and the scorecard that turns features into a score with reasons.
//!
//! Pure: no I/O, no clock. `as_of` is always an argument.
//!
//! - [`spec`] parses and validates the model file (TOML).
//! - [`state`] holds every subject's accumulators in flat columns indexed by a dense
//!   subject index, and applies events to them.
//! - [`card`] evaluates features at `as_of`, sums points, and picks reason codes.
//! - [`reference`] recomputes the same features naively from a subject's full event
//!   list; tests check the incremental state against it.

pub mod card;
pub mod fact;
pub mod reference;
pub mod signal;
pub mod spec;
pub mod state;

pub use card::{DimensionScore, FeatureValue, Reason, ScoreCard};
pub use fact::{Fact, LedgerOp};
pub use signal::Signal;
pub use spec::{Dimension, Model, ModelError};
pub use state::{ScoreState, StateFootprint};

/// The model that ships with credo.
pub const DEFAULT_MODEL: &str = include_str!("../models/default.toml");

/// Days are stored as `u16` counted from this day (2000-01-01) plus one; 0 means "never".
pub const DAY_BASE: i32 = 10_957;

/// Converts a day to the compact form used in the state, or `None` if out of range
/// (before 2000-01-01 or after 2179).
pub fn pack_day(d: credo_model::Day) -> Option<u16> {
    let v = d.0 - DAY_BASE + 1;
    u16::try_from(v).ok().filter(|&x| x > 0)
}

pub fn unpack_day(v: u16) -> credo_model::Day {
    credo_model::Day(i32::from(v) + DAY_BASE - 1)
}
