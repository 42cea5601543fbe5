//! Plain values of the credo domain: identifiers, time, money and events.
//!
//! This crate does no I/O and never reads the clock. Everything that depends on
//! "now" takes it as an argument.

pub mod event;
pub mod id;
pub mod money;
pub mod region;
pub mod time;

pub use event::{
    BanScope, BillStatus, ContactOp, Event, EventBody, RemovalReason, RentalStatus, SubjectRecord,
    Text,
};
pub use id::{CreditCode, IdError, ResidentId, SubjectId};
pub use money::Amount;
pub use time::{Day, TimeError, Timestamp};
