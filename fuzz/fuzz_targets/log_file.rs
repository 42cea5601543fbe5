//! Any bytes as an event-log file: `Log::check` (credo fsck) never panics, and where a
//! normal read succeeds it finds no damage and the same records; where the read refuses
//! damage, the check names a damaged stretch.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // One file per fuzzing process, rewritten for every input.
    let path = std::env::temp_dir().join(format!("credo-fuzz-log-{}.log", std::process::id()));
    // A valid file header, so the batches behind it are what is exercised.
    let mut bytes = b"CREDOLOG\x01\x00\x00\x00\x00\x00\x00\x00".to_vec();
    bytes.extend_from_slice(data);
    std::fs::write(&path, &bytes).unwrap();
    let mut checked = Vec::new();
    let check = credo_store::Log::check(&path, |records| {
        checked.extend(records.iter().map(|r| r.body.to_vec()));
    });
    let mut scanned = Vec::new();
    let scan = credo_store::Log::scan(&path, |records| {
        scanned.extend(records.iter().map(|r| r.body.to_vec()));
        Ok(())
    });
    match (scan, check) {
        (Ok(rec), Ok(c)) => {
            assert!(c.damage.is_empty());
            assert_eq!(scanned, checked);
            assert_eq!(rec.truncated_at, c.torn_tail.map(|t| t.0));
        }
        (Err(credo_store::StoreError::Corrupt { .. }), Ok(c)) => assert!(!c.damage.is_empty()),
        (Err(e), c) => panic!("scan {e}, check {c:?}"),
        (Ok(_), Err(e)) => panic!("check failed where scan did not: {e}"),
    }
});
