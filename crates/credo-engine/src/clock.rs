//! The only place in credo that reads the wall clock.

use credo_model::{Day, Timestamp};

/// Where "now" comes from: a fixed day (tests, synthetic data, `--as-of`) or the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Fixed(Day),
    System,
}

impl Clock {
    pub fn today(self) -> Day {
        match self {
            Clock::Fixed(d) => d,
            Clock::System => Self::now().day(),
        }
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "the engine's clock is the one place that reads the time"
    )]
    pub fn now() -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}
