//! Scorecards from labelled outcomes, as credit bureaus fit them: each characteristic is
//! binned (numeric ones into bins whose bad rate is monotonic, with a minimum share per
//! bin; categorical ones grouped by bad rate), each bin gets its weight of evidence, the
//! characteristics are chosen by information value, a logistic regression on the WOE
//! values is fitted by IRLS (Newton), and the coefficients are scaled to points.
//!
//! Pure: no I/O, no clock. Columns come in as vectors; the CSV reader is an edge.

pub mod bin;
pub mod card;
pub mod logit;
pub mod measure;
pub mod scale;

pub use bin::{BinOptions, Binned, Bins, Trend};
pub use card::{Characteristic, FitOptions, Fitted, Values, fit};
pub use logit::{Logit, fit_logit};
pub use measure::{auc, ks, psi};
pub use scale::{Scaling, Scorecard};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("column {column:?}: {problem}")]
    Column { column: String, problem: String },
    #[error("the target has only one class ({0}): a scorecard needs good and bad outcomes")]
    OneClass(&'static str),
    #[error("no characteristic reaches the information value threshold {0}")]
    NothingSelected(f64),
    #[error("the regression did not converge in {iterations} iterations (last step {step:e})")]
    NoConvergence { iterations: u32, step: f64 },
    #[error(
        "the regression's information matrix is singular: characteristics {0} carry the same information"
    )]
    Singular(String),
    #[error("{0}")]
    Options(String),
}
