//! The contact graph: compressed sparse rows laid out for locality (`csr`), the
//! relationships propagation run as a full job (`propagate`) and kept up to date between
//! jobs by local pushes (`live`, which also walks circles of contacts within k hops),
//! notice audiences (`audience`), and the naive
//! recomputations the tests hold them to (`reference`).
//!
//! Pure: no I/O, no clock and no people. A node is a `u32` the caller gives meaning to.

pub mod audience;
pub mod csr;
pub mod live;
pub mod propagate;
pub mod reference;

pub use csr::{Csr, Layout};
pub use live::Relations;
pub use propagate::{Params, Propagation, Step, propagate};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    #[error("edge ({a}, {b}) names a node outside the graph's {n} nodes")]
    NodeOutOfRange { a: u32, b: u32, n: usize },
    #[error("the graph has {n} nodes; at most {max} are supported")]
    TooManyNodes { n: usize, max: usize },
    #[error("{what} has {got} values for a graph of {n} nodes")]
    Length {
        what: &'static str,
        got: usize,
        n: usize,
    },
    #[error("own standing of node {node} is {value}, not a finite number")]
    NotFinite { node: u32, value: f64 },
    #[error("damping {0} is out of range (0 to below 1)")]
    Damping(f64),
    #[error("tolerance {0} is out of range (a positive number below 1)")]
    Tolerance(f64),
    #[error("node {0} is not in the graph")]
    NoNode(u32),
}
