//! A damaged log record never decodes into a panic; a decoded one re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = credo_store::decode_event(data) {
        let mut again = Vec::new();
        credo_store::encode_event(&e, &mut again);
        assert_eq!(again, data);
    }
});
