//! The event scanner must never panic, and must agree with serde_json.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast = credo_engine::wire::parse_line(data);
    let slow = credo_engine::wire::parse_line_reference(data);
    match (&fast, &slow) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => {
            let lenient = ["bad_json", "bad_field"];
            assert!(
                a.code == b.code || (lenient.contains(&a.code) && lenient.contains(&b.code)),
                "{a:?} vs {b:?}"
            );
        }
        _ => panic!("scanner {fast:?} vs serde {slow:?}"),
    }
});
