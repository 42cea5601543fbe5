//! A model file either loads or is refused with an error; it never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(m) = credo_score::Model::parse(s) {
            let state = credo_score::ScoreState::new(&m);
            let id = credo_model::SubjectId::parse("11010519491231002X").unwrap();
            let _ = credo_score::ScoreCard::from_state(&m, &state, 0, id, credo_model::Day(20_000));
        }
    }
});
