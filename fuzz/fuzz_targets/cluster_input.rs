//! What a cluster node reads from outside or from its bucket must never panic: the input
//! of `POST /v1/events` as routed to partitions, the stored assignment's text, and a key
//! record from the bucket. Routing must place every accepted line, a contact in both its
//! ends' partitions when they differ, and nothing else.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = credo_cluster::Partitioning::new(16).unwrap();
    let r = credo_bus::route(p, data);
    let placed: u64 = r
        .parts
        .values()
        .map(|l| l.iter().filter(|&&b| b == b'\n').count() as u64)
        .sum();
    // Each routed line once, plus at most once more (a contact's second partition).
    assert!(placed >= r.routed && placed <= 2 * r.routed, "{placed} vs {}", r.routed);
    for lines in r.parts.values() {
        assert!(lines.is_empty() || lines.ends_with(b"\n"));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(a) = credo_cluster::Assignment::parse(text) {
            assert_eq!(credo_cluster::Assignment::parse(&a.to_text()).unwrap(), a);
        }
    }
    let _ = credo_engine::access::op_from_json(data);
});
