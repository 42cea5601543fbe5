//! ID parsing never panics, and whatever parses prints back to a string that parses to it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(id) = credo_model::SubjectId::parse(s) {
            assert_eq!(credo_model::SubjectId::parse(&id.to_string()), Ok(id));
            assert_eq!(credo_model::SubjectId::from_key(id.key()), Ok(id));
            assert_eq!(id.masked().matches('*').count(), 4);
        }
        let _ = credo_model::Timestamp::parse(s);
    }
});
