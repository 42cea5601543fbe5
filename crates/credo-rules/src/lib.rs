//! The court list of dishonest judgment defaulters, consumption restrictions and temporary
//! bans, the catalogue of restricted actions, relying parties' offers, and the decision
//! "may subject X do action Y?" with its reasons and the way to lift a deny.
//!
//! Pure: no I/O and no clock. Every question takes `as_of`, so periods, grace and expiry
//! are plain arithmetic on days, and a decision is a value (after cedar's
//! `is_authorized`): a deny is an [`Outcome::Deny`], never an `Err`.

pub mod actions;
pub mod court;
pub mod decide;
pub mod policy;

pub use actions::{ACTIONS, ActionSpec, Blocks};
pub use court::{
    Ban, CaseRecord, CourtBook, CourtConfig, Listing, ListingState, SubjectCourt, add_years,
    behaviour,
};
pub use decide::{
    Decision, GivenFacts, Lift, Outcome, Reason, SubjectFacts, UnknownAction, decide,
};
pub use policy::{DEFAULT_POLICIES, Limit, Offer, PolicyError, PolicySet};
