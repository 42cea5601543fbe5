#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The log against a plain `Vec` model: commits survive reopening, a torn tail at any byte
//! is truncated back to the last whole batch, and damage in the middle is reported.

use credo_model::{
    Amount, BanScope, BillStatus, ContactOp, Event, EventBody, RemovalReason, ResidentId,
    SubjectId, SubjectRecord, Timestamp,
};
use credo_store::{Batch, Log, StoreError, decode_event, encode_event};
use proptest::prelude::*;
use std::path::Path;

fn subject(i: u64) -> SubjectId {
    SubjectId::Person(ResidentId::from_digits(11_010_519_900_101_000 + i).unwrap())
}

fn read_all(path: &Path) -> Result<(Vec<Vec<u8>>, credo_store::Recovery), StoreError> {
    let mut out = Vec::new();
    let (_, rec) = Log::open(path, |_, body| {
        out.push(body.to_vec());
        Ok(())
    })?;
    Ok((out, rec))
}

fn write_batches(path: &Path, batches: &[Vec<Vec<u8>>]) -> Vec<u64> {
    let (mut log, _) = Log::open(path, |_, _| Ok(())).unwrap();
    let mut ends = Vec::new();
    for b in batches {
        let mut batch = Batch::new();
        for r in b {
            batch.push(r);
        }
        log.commit(&mut batch).unwrap();
        ends.push(log.len());
    }
    ends
}

#[test]
fn torn_tail_at_every_byte_keeps_every_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    let batches: Vec<Vec<Vec<u8>>> = (0..4)
        .map(|b| {
            (0..3)
                .map(|r| format!("batch {b} record {r}").into_bytes())
                .collect()
        })
        .collect();
    let ends = write_batches(&path, &batches);
    let full = std::fs::read(&path).unwrap();
    for cut in 16..=full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let (records, rec) = read_all(&path).unwrap();
        let whole = ends.iter().filter(|&&e| e as usize <= cut).count();
        let want: Vec<Vec<u8>> = batches[..whole].iter().flatten().cloned().collect();
        assert_eq!(records, want, "cut at {cut}");
        let kept = if whole == 0 { 16 } else { ends[whole - 1] };
        assert_eq!(rec.truncated_bytes, cut as u64 - kept, "cut at {cut}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            kept,
            "file truncated at {cut}"
        );
    }
}

/// Large batches go past the page cache (`O_DIRECT`, block-aligned, framed by filler
/// batches), small ones through it. Whatever the mix: every record reads back by position
/// and on reopening, a direct batch starts on a block, and a tear at any point of a batch
/// or of a filler keeps exactly the whole batches before it.
#[test]
fn large_batches_written_direct_read_back_and_tear_at_batch_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    let (mut log, _) = Log::open(&path, |_, _| Ok(())).unwrap();
    let direct = log.writes_direct();
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    // (batch start, the batch's own end, its records)
    let mut written: Vec<(u64, u64, Vec<Vec<u8>>)> = Vec::new();
    for b in 0..9 {
        let large = b % 3 != 0;
        let n = if large {
            80 + next() % 80
        } else {
            1 + next() % 4
        };
        let records: Vec<Vec<u8>> = (0..n)
            .map(|r| {
                let len = if large {
                    2000 + next() % 3000
                } else {
                    5 + next() % 40
                };
                (0..len).map(|i| (b * 31 + r * 7 + i) as u8).collect()
            })
            .collect();
        let mut batch = Batch::new();
        let at: Vec<u64> = records.iter().map(|r| batch.push(r)).collect();
        let bytes = batch.bytes() as u64;
        let start = log.commit(&mut batch).unwrap();
        if direct && large {
            assert_eq!(start % 4096, 0, "batch {b} starts on a block");
            assert_eq!(log.len() % 4096, 0, "batch {b} ends on a block");
        }
        for (r, &p) in records.iter().zip(&at) {
            let back = log
                .read(credo_store::RecordRef {
                    offset: start + p,
                    len: r.len() as u32,
                })
                .unwrap();
            assert_eq!(&back, r, "batch {b} read back by position");
        }
        written.push((start, start + bytes, records));
    }
    drop(log);
    let all: Vec<Vec<u8>> = written.iter().flat_map(|w| w.2.clone()).collect();
    assert_eq!(read_all(&path).unwrap().0, all, "every record on reopening");
    let full = std::fs::read(&path).unwrap();
    // Cuts around every batch's start and end, and inside batches and fillers.
    let mut cuts: Vec<usize> = vec![16, 17, full.len() - 1, full.len()];
    for (start, end, _) in &written {
        for c in [*start, *end] {
            for d in [-25i64, -1, 0, 1, 24, 25, 700] {
                cuts.push((c as i64 + d).clamp(16, full.len() as i64) as usize);
            }
        }
    }
    for cut in cuts {
        std::fs::write(&path, &full[..cut]).unwrap();
        let (records, _) = read_all(&path).unwrap();
        let whole = written.iter().take_while(|w| w.1 as usize <= cut).count();
        let want: Vec<Vec<u8>> = written[..whole].iter().flat_map(|w| w.2.clone()).collect();
        assert_eq!(records.len(), want.len(), "cut at {cut}");
        assert_eq!(records, want, "cut at {cut}");
        // The log opens for writing again after the cut, and the next batch lands.
        let (mut log, _) = Log::open(&path, |_, _| Ok(())).unwrap();
        let mut batch = Batch::new();
        let big = vec![9u8; 300 << 10];
        let p = batch.push(&big);
        let start = log.commit(&mut batch).unwrap();
        if direct {
            assert_eq!(start % 4096, 0, "cut at {cut}, then a batch on a block");
        }
        let back = log
            .read(credo_store::RecordRef {
                offset: start + p,
                len: big.len() as u32,
            })
            .unwrap();
        assert_eq!(back, big, "cut at {cut}, then a batch read back");
        drop(log);
        let (again, _) = read_all(&path).unwrap();
        assert_eq!(again.len(), want.len() + 1, "cut at {cut}, then a batch");
        assert_eq!(again.last().unwrap(), &big);
    }
}

/// A crash during a direct write may keep the batch's trailing filler on the disk and not
/// the batch's first block (the disk orders a write's blocks as it likes). That is still
/// a torn tail: the batches before it stay, the rest is cut, nothing is called damage.
#[test]
fn a_direct_batch_torn_before_its_filler_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    let (mut log, _) = Log::open(&path, |_, _| Ok(())).unwrap();
    if !log.writes_direct() {
        eprintln!("no O_DIRECT on this file system: nothing to check");
        return;
    }
    let mut batch = Batch::new();
    batch.push(b"small, through the cache");
    log.commit(&mut batch).unwrap();
    let big: Vec<u8> = (0..300 << 10).map(|i| (i % 251) as u8).collect();
    batch.push(&big);
    let start = log.commit(&mut batch).unwrap();
    let end = log.len();
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, end);
    // The batch's first block lost, its filler kept.
    bytes[start as usize..start as usize + 4096].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let (records, rec) = read_all(&path).unwrap();
    assert_eq!(records, vec![b"small, through the cache".to_vec()]);
    assert_eq!(rec.truncated_at, Some(start));
    // A batch *with records* after the damage is still damage in the middle.
    let (mut log, _) = Log::open(&path, |_, _| Ok(())).unwrap();
    batch.push(&big);
    log.commit(&mut batch).unwrap();
    batch.push(&big);
    let second = log.commit(&mut batch).unwrap();
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[second as usize - 4096..second as usize].fill(0xAB);
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(read_all(&path), Err(StoreError::Corrupt { .. })));
}

#[test]
fn a_flipped_bit_in_the_middle_is_reported_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    let batches: Vec<Vec<Vec<u8>>> = (0..3)
        .map(|b| vec![format!("record of batch {b}").into_bytes()])
        .collect();
    let ends = write_batches(&path, &batches);
    let mut bytes = std::fs::read(&path).unwrap();
    let victim = ends[0] as usize + 30; // inside batch 2's payload
    bytes[victim] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    match read_all(&path) {
        Err(StoreError::Corrupt { offset, .. }) => assert_eq!(offset, ends[0]),
        other => panic!("expected corruption, got {other:?}"),
    }
    // The file was not truncated: the damage is left for a person to see.
    assert_eq!(
        std::fs::metadata(&path).unwrap().len() as usize,
        bytes.len()
    );
}

#[test]
fn not_a_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    std::fs::write(&path, b"hello, this is not a log file at all").unwrap();
    assert!(matches!(read_all(&path), Err(StoreError::NotALog { .. })));
}

#[test]
fn records_read_back_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    let (mut log, _) = Log::open(&path, |_, _| Ok(())).unwrap();
    let mut batch = Batch::new();
    let p = batch.push(b"first");
    let q = batch.push(b"second");
    let start = log.commit(&mut batch).unwrap();
    assert_eq!(
        log.read(credo_store::RecordRef {
            offset: start + q,
            len: 6
        })
        .unwrap(),
        b"second"
    );
    assert_eq!(
        log.read(credo_store::RecordRef {
            offset: start + p,
            len: 5
        })
        .unwrap(),
        b"first"
    );
}

fn arb_event() -> impl Strategy<Value = Event> {
    let s = "\\PC{0,12}";
    let body = prop_oneof![
        (
            s,
            0u32..999_999,
            s,
            -90.0f64..90.0,
            -180.0f64..180.0,
            proptest::collection::vec(s, 0..3),
            proptest::option::of(s)
        )
            .prop_map(|(name, region, industry, lat, lon, phones, legal_rep)| {
                EventBody::Subject(SubjectRecord {
                    name,
                    region,
                    industry,
                    lat,
                    lon,
                    address: "addr".into(),
                    phones,
                    legal_rep,
                })
            }),
        (0i64..i64::MAX).prop_map(|a| EventBody::Payment { amount: Amount(a) }),
        (s, 0i64..1_000_000, 0u16..400).prop_map(|(reference, a, d)| EventBody::Bill {
            reference: reference.into(),
            amount: Amount(a),
            status: if d == 0 {
                BillStatus::Unpaid
            } else {
                BillStatus::Late { days: d }
            }
        }),
        (s, s, 0i64..1_000_000).prop_map(|(case, court, a)| EventBody::Judgment {
            case: case.into(),
            court: court.into(),
            amount: Amount(a)
        }),
        (s, 0u16..1000, s).prop_map(|(code, points, authority)| EventBody::Violation {
            code: code.into(),
            points,
            authority: authority.into()
        }),
        (s, s, 1u8..=6, proptest::option::of(any::<u16>())).prop_map(
            |(case, court, trigger, grace_days)| EventBody::Listing {
                case: case.into(),
                court: court.into(),
                trigger,
                grace_days,
            }
        ),
        (s, s).prop_map(|(case, court)| EventBody::Restriction {
            case: case.into(),
            court: court.into()
        }),
        (s, 1u8..=3).prop_map(|(case, years)| EventBody::Extension {
            case: case.into(),
            years
        }),
        (s, proptest::sample::select(RemovalReason::ALL.to_vec())).prop_map(|(case, reason)| {
            EventBody::Removal {
                case: case.into(),
                reason,
            }
        }),
        (
            proptest::sample::select(BanScope::ALL.to_vec()),
            any::<u16>(),
            s,
            s
        )
            .prop_map(|(scope, days, code, authority)| EventBody::Ban {
                scope,
                days,
                code: code.into(),
                authority: authority.into()
            }),
        (0u64..1000, any::<bool>()).prop_map(|(o, add)| EventBody::Contact {
            other: subject(o),
            op: if add {
                ContactOp::Add
            } else {
                ContactOp::Remove
            }
        }),
    ];
    (s, s, 0u64..1000, 946_684_800i64..4_000_000_000, body).prop_map(
        |(source, id, sub, at, body)| Event {
            source: source.into(),
            id: id.into(),
            subject: subject(sub),
            at: Timestamp(at),
            body,
        },
    )
}

proptest! {
    #[test]
    fn codec_roundtrip(e in arb_event()) {
        let mut buf = Vec::new();
        encode_event(&e, &mut buf);
        prop_assert_eq!(decode_event(&buf).unwrap(), e);
        // A truncated record never decodes to something.
        if buf.len() > 1 {
            prop_assert!(decode_event(&buf[..buf.len() - 1]).is_err());
        }
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_event(&bytes);
    }

    #[test]
    fn log_matches_a_vec_model(batches in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..5), 0..6)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        write_batches(&path, &batches);
        let (records, rec) = read_all(&path).unwrap();
        let want: Vec<Vec<u8>> = batches.iter().flatten().cloned().collect();
        prop_assert_eq!(records, want);
        prop_assert_eq!(rec.truncated_bytes, 0);
    }
}

/// Found by the `log_record` fuzz target: a due bill whose unused `days_late` bytes were
/// damaged decoded, and re-encoded differently. Only the canonical encoding decodes now.
#[test]
fn fuzz_log_record_days_on_a_bill_that_is_not_late_is_damage() {
    let e = Event {
        source: "s".into(),
        id: "i".into(),
        subject: subject(1),
        at: Timestamp(1_700_000_000),
        body: EventBody::Bill {
            reference: "r".into(),
            amount: Amount(100),
            status: BillStatus::Unpaid,
        },
    };
    let mut buf = Vec::new();
    encode_event(&e, &mut buf);
    assert_eq!(decode_event(&buf).unwrap(), e);
    let last = buf.len() - 1;
    buf[last] = 0x80; // high byte of days_late
    assert!(decode_event(&buf).is_err());
}

fn check_all(path: &Path) -> (Vec<Vec<u8>>, credo_store::Check) {
    let mut out = Vec::new();
    let c = Log::check(path, |records| {
        out.extend(records.iter().map(|r| r.body.to_vec()));
    })
    .unwrap();
    (out, c)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// `credo fsck`'s check against what is known: a byte flipped anywhere in batch k of
    /// n names batch k's stretch as damage when a later batch exists (a torn tail when
    /// it is the last), keeps every other batch's records, and leaves the file as it was;
    /// on a clean log it reads what `open` reads.
    #[test]
    fn check_names_every_damaged_batch_and_keeps_the_rest(
        sizes in proptest::collection::vec(1usize..4, 2..7),
        victim_batch in any::<prop::sample::Index>(),
        victim_byte in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let batches: Vec<Vec<Vec<u8>>> = sizes
            .iter()
            .enumerate()
            .map(|(b, &n)| (0..n).map(|r| format!("batch {b} record {r} {}", "x".repeat(r * 7)).into_bytes()).collect())
            .collect();
        let ends = write_batches(&path, &batches);
        let (clean, c) = check_all(&path);
        prop_assert_eq!(&clean, &read_all(&path).unwrap().0);
        prop_assert!(c.damage.is_empty() && c.torn_tail.is_none());
        let k = victim_batch.index(batches.len());
        let start = if k == 0 { 16 } else { ends[k - 1] };
        let at = start + victim_byte.index((ends[k] - start) as usize) as u64;
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at as usize] ^= 1 << bit;
        std::fs::write(&path, &bytes).unwrap();
        let (records, c) = check_all(&path);
        let want: Vec<Vec<u8>> = batches.iter().enumerate().filter(|(b, _)| *b != k).flat_map(|(_, r)| r.clone()).collect();
        prop_assert_eq!(records, want);
        if k + 1 < batches.len() {
            prop_assert_eq!(c.damage.len(), 1);
            prop_assert_eq!(c.damage[0].from, start);
            prop_assert_eq!(c.damage[0].to, ends[k]);
            prop_assert!(c.torn_tail.is_none());
            // A normal open refuses, at the same place.
            match read_all(&path) {
                Err(StoreError::Corrupt { offset, .. }) => prop_assert!(offset >= start && offset < ends[k]),
                other => prop_assert!(false, "expected corruption, got {:?}", other.map(|r| r.1)),
            }
        } else {
            prop_assert!(c.damage.is_empty());
            prop_assert_eq!(c.torn_tail, Some((start, ends[k] - start)));
        }
        prop_assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
