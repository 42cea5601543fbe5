//! Helpers shared by the server's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use credo_engine::{Clock, Engine, IngestOptions};

/// A data folder whose "today" is 2026-01-01, holding `lines` (JSON lines, all accepted).
pub fn engine_with(dir: &std::path::Path, lines: &str) -> Engine {
    let (mut e, _) = Engine::open(
        dir,
        credo_score::Model::default_model(),
        Some(Clock::Fixed(
            credo_model::Day::from_ymd(2026, 1, 1).unwrap(),
        )),
    )
    .unwrap();
    let r = e
        .ingest(
            "t",
            lines.as_bytes(),
            &IngestOptions::default(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(r.rejected, 0, "{:?}", r.errors);
    e
}

/// Server settings for tests: rate limits out of the way.
pub fn config() -> credo_server::Config {
    credo_server::Config {
        public_rate: 1e6,
        public_burst: 1e6,
    }
}
