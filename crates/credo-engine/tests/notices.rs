#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A court notice's plan across a cluster: the debtor's partition gives its centre, the
//! circle is found a hop at a time from every partition's contacts, every partition gives
//! its share, and the merge equals one machine's plan over the whole population (every
//! count, the size, whether the cap cut it, the circle; the members themselves when the
//! audience fits in the list), for many cases and options.

mod common;

use credo_engine::Engine;
use credo_engine::notices::{Circle, IndustryMatch, NoticeOptions, merge_plan};

fn plan_across(
    parts: &[Engine],
    case: &str,
    o: &NoticeOptions,
    keep: usize,
) -> credo_engine::NoticePlan {
    let centre = parts
        .iter()
        .filter_map(|e| e.notice_centre(case))
        .collect::<Vec<_>>();
    assert_eq!(centre.len(), 1, "one partition holds the debtor of {case}");
    let centre = &centre[0];
    let mut circle = Circle::new(centre.debtor);
    for _ in 0..o.hops {
        let contacts: Vec<_> = parts
            .iter()
            .flat_map(|e| e.contacts_of(circle.frontier()))
            .collect();
        circle.hop(contacts);
    }
    let shares: Vec<_> = parts
        .iter()
        .map(|e| e.notice_share(centre, o, circle.members(), keep).unwrap())
        .collect();
    merge_plan(centre, o, circle.members(), &shares, keep)
}

#[test]
fn a_plan_from_partitions_is_one_machines() {
    let g = credo_sim::generate_in_memory(3000, 5).unwrap();
    let files: Vec<&str> = [&g.subjects, &g.events, &g.contacts]
        .into_iter()
        .map(|b| std::str::from_utf8(b).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut one = common::open(&dir.path().join("one"));
    for text in &files {
        common::ingest_clean(&mut one, text, 1 << 16);
    }
    // One machine's circle comes from its relations graph, built by the propagation.
    one.propagate_relations(&mut |_| {}).unwrap();
    let n = 4;
    let parts: Vec<Engine> = (0..n)
        .map(|p| common::partition_folder(dir.path(), p, n, &files))
        .collect();
    let d = NoticeOptions::default();
    let options = [
        d,
        NoticeOptions {
            hops: 3,
            cap: 40,
            ..d
        },
        NoticeOptions {
            radius_km: 10.0,
            same_region: false,
            industry: Some(IndustryMatch::Same),
            hops: 1,
            ..d
        },
        NoticeOptions {
            radius_km: 0.0,
            industry: None,
            hops: 0,
            ..d
        },
        NoticeOptions {
            radius_km: 50.0,
            cap: 5,
            ..d
        },
    ];
    let cases: Vec<String> = files[1]
        .lines()
        .filter(|l| l.contains(r#""kind":"listing""#))
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some(v["case"].as_str()?.to_string())
        })
        .filter(|c| one.notice_plan(c, &d).is_ok())
        .take(12)
        .collect();
    assert!(cases.len() >= 5, "published cases: {cases:?}");
    let (mut compared, mut circles, mut capped, mut whole) = (0, 0, 0, 0);
    for case in &cases {
        for o in &options {
            let keep = 1000;
            let want = one.notice_plan(case, o).unwrap();
            let got = plan_across(&parts, case, o, keep);
            compared += 1;
            capped += usize::from(want.capped);
            let counts = |p: &credo_engine::NoticePlan| {
                (
                    p.court.clone(),
                    p.debtor,
                    [
                        p.by_radius,
                        p.by_region,
                        p.by_industry,
                        p.by_contacts,
                        p.size,
                    ],
                    p.capped,
                    p.delivered,
                )
            };
            assert_eq!(counts(&got), counts(&want), "{case} {o:?}");
            if !want.capped && want.size <= keep {
                let mut a = got.members.clone();
                let mut b = want.members.clone();
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b, "{case} {o:?}");
                whole += 1;
            }
            // The circle comes first on both: the same people, when the whole circle is
            // listed (within a hop, the order is each graph's own).
            let c = want.by_contacts;
            if c > want.size.min(keep) {
                continue;
            }
            let mut a = got.members[..c].to_vec();
            let mut b = want.members[..c].to_vec();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "circle of {case} {o:?}");
            circles += usize::from(want.by_contacts > 0);
        }
    }
    // The comparisons covered circles, caps and whole audiences.
    assert!(
        circles >= 5 && capped >= 5 && whole >= 5,
        "{compared} plans: {circles} with a circle, {capped} capped, {whole} whole"
    );
}

/// What a partition's contacts cost (the capacity plan's figure, docs/cluster.md): nearly
/// all are half-edges, 16 B and a control byte in a table at least 7/16 full, so at most
/// 39 B an entry (48-byte pairs were at least 56). Prints the figure; with
/// `CREDO_MEASURE_PEOPLE=100000` it is the plan's measurement (4 of 16 partitions).
#[test]
fn a_partitions_contacts_cost_at_most_39_bytes_an_entry() {
    let people = std::env::var("CREDO_MEASURE_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let g = credo_sim::generate_in_memory(people, 7).unwrap();
    // Subjects and contacts: the events do not touch the contact tables.
    let files: Vec<&str> = [&g.subjects, &g.contacts]
        .into_iter()
        .map(|b| std::str::from_utf8(b).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (mut whole, mut half, mut bytes) = (0, 0, 0);
    for p in 0..4 {
        let f = common::partition_folder(dir.path(), p, 16, &files).footprint();
        whole += f.edges;
        half += f.half_edges;
        bytes += f.contact_bytes;
    }
    let per = bytes as f64 / (whole + half) as f64;
    eprintln!(
        "{people} people, 4 partitions of 16: {half} half-edges, {whole} whole edges, \
         {bytes} bytes: {per:.1} B an entry"
    );
    assert!(half > 10 * whole, "most contacts cross partitions");
    assert!(per <= 39.0, "{per:.1} B an entry");
}
