//! A policy file either loads or is refused with an error naming a line inside the file;
//! it never panics, and a loaded one answers every offer it holds.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        match credo_rules::PolicySet::parse("fuzz.toml", s, (350, 950)) {
            Ok(set) => {
                let config = credo_rules::CourtConfig::default();
                for o in &set.offers {
                    let d = credo_rules::decide(
                        &o.id,
                        None,
                        &config,
                        &set,
                        &mut credo_rules::GivenFacts {
                            score: 600,
                            capacity: 0.5,
                            factors: Vec::new(),
                            unreturned_rentals: 1,
                        },
                        credo_model::Day(20_000),
                    );
                    assert!(d.is_ok());
                }
            }
            Err(e) => assert!(e.line >= 1 && e.line <= s.lines().count().max(1) + 1, "{e}"),
        }
    }
});
