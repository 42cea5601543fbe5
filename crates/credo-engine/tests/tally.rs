#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `/v1/stats` across a cluster: the tallies of a population's partitions, added up, are
//! the tally of one machine holding the whole population; a tally's mean, median, bands
//! and tiers are those computed here from every score; and adding tallies
//! agrees with counting the scores of the whole (a property, against sorting). A
//! partition's folder keeps the cross-node job's terms across a reopen.

mod common;

use credo_engine::Tally;
use credo_model::SubjectId;
use proptest::prelude::*;

#[test]
fn the_partitions_tallies_add_up_to_one_machines() {
    let g = credo_sim::generate_in_memory(3000, 11).unwrap();
    let files: Vec<&str> = [&g.subjects, &g.events, &g.contacts]
        .into_iter()
        .map(|b| std::str::from_utf8(b).unwrap())
        .collect();
    // The relationships term comes from a propagation across partitions (the cluster's
    // dataflow job): here every folder is given the same made-up terms.
    let terms: Vec<(SubjectId, Option<f64>)> = files[0]
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let id: SubjectId = v["id"].as_str().unwrap().parse().unwrap();
            (id, Some((id.key() % 1000) as f64 / 1000.0))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut one = common::open(&dir.path().join("one"));
    for text in &files {
        common::ingest_clean(&mut one, text, 1 << 16);
    }
    one.set_contact_terms(&terms).unwrap();
    let n = 4;
    let mut sum: Option<Tally> = None;
    let mut foreign_contacts = 0;
    for p in 0..n {
        let mut e = common::partition_folder(dir.path(), p, n, &files);
        e.set_contact_terms(&terms).unwrap();
        let t = e.tally(None);
        // The folder keeps the job's terms: opened again (a node restarted), it scores
        // the same.
        drop(e);
        let e = common::open(&dir.path().join(format!("p{p}")));
        assert_eq!(e.partition(), Some((p, n)));
        assert_eq!(e.tally(None), t, "partition {p} reopened");
        // A contact between partitions is in both logs, and counted in one.
        foreign_contacts += e.event_count() - t.events;
        match &mut sum {
            Some(s) => s.add(&t).unwrap(),
            None => sum = Some(t),
        }
    }
    assert!(foreign_contacts > 0, "no contact crossed partitions");
    let whole = one.tally(None);
    assert_eq!(sum.unwrap(), whole);
    assert!(whole.listed > 0 && whole.with_unpaid_judgments > 0);

    // The tally's figures against a reference computed here from every score.
    let scores = one.all_scores(one.today());
    let model = one.model();
    let mut sorted = scores.clone();
    sorted.sort_unstable();
    let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len() as f64;
    assert_eq!(whole.mean(), mean);
    assert_eq!(whole.median(), sorted[sorted.len() / 2]);
    let mut bands = Vec::new();
    let mut lo = model.min;
    while lo < model.max {
        let hi = (lo + 50).min(model.max);
        let n = scores
            .iter()
            .filter(|&&s| s >= lo && (s < hi || (hi == model.max && s == hi)))
            .count() as u64;
        bands.push((lo, hi, n));
        lo = hi;
    }
    assert_eq!(whole.bands(model), bands);
    let tiers: Vec<(String, u64)> = model
        .tiers
        .iter()
        .map(|(name, _)| {
            let n = scores.iter().filter(|&&s| model.tier(s) == name).count() as u64;
            (name.clone(), n)
        })
        .collect();
    assert_eq!(whole.tiers(model), tiers);
    let s = one.summary(None);
    assert_eq!(
        (whole.subjects, whole.companies, whole.events),
        (s.subjects as u64, s.companies as u64, s.events)
    );

    // Tallies of another day or model do not add.
    let mut other = whole.clone();
    other.as_of = "2020-01-01".into();
    assert!(other.add(&whole).is_err());
}

fn tally_of(scores: &[u16]) -> Tally {
    let mut counts = vec![0u64; 601];
    for &s in scores {
        counts[usize::from(s - 350)] += 1;
    }
    Tally {
        as_of: "2026-10-31".into(),
        model: "m 1".into(),
        subjects: scores.len() as u64,
        companies: 0,
        events: 0,
        min: 350,
        scores: counts,
        with_unpaid_judgments: 0,
        listed: 0,
    }
}

proptest! {
    #[test]
    fn added_tallies_are_the_whole_and_their_median_is_the_sorted_middle(
        scores in proptest::collection::vec(350u16..=950, 0..300),
        cut in 0usize..300,
    ) {
        let cut = cut.min(scores.len());
        let mut a = tally_of(&scores[..cut]);
        a.add(&tally_of(&scores[cut..])).unwrap();
        let whole = tally_of(&scores);
        prop_assert_eq!(&a, &whole);
        let mut sorted = scores.clone();
        sorted.sort_unstable();
        prop_assert_eq!(a.median(), sorted.get(sorted.len() / 2).copied().unwrap_or(0));
        let mean = if scores.is_empty() {
            0.0
        } else {
            scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len() as f64
        };
        prop_assert_eq!(a.mean(), mean);
    }
}
