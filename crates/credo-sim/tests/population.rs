#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The population's realism claims, measured on a generated population.

use std::collections::{HashMap, HashSet};

struct Out {
    subjects: String,
    events: String,
    contacts: String,
    labels: String,
    summary: credo_sim::Summary,
}

fn run(people: usize, seed: u64) -> Out {
    let g = credo_sim::generate_in_memory(people, seed).unwrap();
    Out {
        subjects: String::from_utf8(g.subjects).unwrap(),
        events: String::from_utf8(g.events).unwrap(),
        contacts: String::from_utf8(g.contacts).unwrap(),
        labels: String::from_utf8(g.labels).unwrap(),
        summary: g.summary,
    }
}

#[test]
fn deterministic_for_a_seed() {
    let a = run(2000, 9);
    let b = run(2000, 9);
    let c = run(2000, 10);
    assert_eq!(a.subjects, b.subjects);
    assert_eq!(a.events, b.events);
    assert_eq!(a.contacts, b.contacts);
    assert_eq!(a.labels, b.labels);
    assert_ne!(a.events, c.events);
    // The same bytes on one thread as on the default pool.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| run(2000, 9));
    assert_eq!(one.events, a.events);
}

#[test]
fn realism() {
    let out = run(20_000, 3);
    let mut ids: HashMap<String, (String, bool)> = HashMap::new(); // id -> (region, company)
    for line in out.subjects.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["id"].as_str().unwrap().to_string();
        let sid = credo_model::SubjectId::parse(&id).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            sid.region().map(|r| format!("{r:06}")).as_deref(),
            v["region"].as_str(),
            "{id}"
        );
        ids.insert(
            id,
            (v["region"].as_str().unwrap().to_string(), sid.is_company()),
        );
    }
    assert_eq!(ids.len() as u64, out.summary.people + out.summary.companies);
    // Every event is well formed, known, about a known subject, inside the period, and ordered by month.
    let kinds: HashSet<&str> = credo_model::event::KINDS.iter().copied().collect();
    let mut keys = HashSet::new();
    let mut last_month = String::new();
    let mut late: HashMap<String, u32> = HashMap::new();
    for line in out.events.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let subject = v["subject"].as_str().unwrap();
        assert!(ids.contains_key(subject));
        assert!(kinds.contains(v["kind"].as_str().unwrap()));
        assert!(
            keys.insert((
                v["source"].as_str().unwrap().to_string(),
                v["id"].as_str().unwrap().to_string()
            )),
            "duplicate id {line}"
        );
        let at = v["at"].as_str().unwrap();
        assert!(("2024-11-01".."2026-11-01").contains(&at), "{at}");
        assert!(at[..7] >= *last_month, "events are ordered by month");
        last_month = at[..7].to_string();
        if v["status"] == "late" || v["status"] == "unpaid" {
            *late.entry(subject.to_string()).or_default() += 1;
        }
    }
    let per_person =
        out.summary.events as f64 / (out.summary.people + out.summary.companies) as f64;
    assert!(
        (30.0..60.0).contains(&per_person),
        "{per_person} events per subject"
    );
    // About 1 % of adults end with unpaid judgments.
    let share = out.summary.with_unpaid_judgments as f64 / out.summary.people as f64;
    assert!(
        (0.005..0.02).contains(&share),
        "unpaid judgment share {share}"
    );
    // Labels: a plausible bad rate, and bad subjects were visibly later payers.
    let mut bad_late = (0.0, 0.0);
    let mut good_late = (0.0, 0.0);
    for line in out.labels.lines().skip(1) {
        let (id, outcome) = line.split_once(',').unwrap();
        let l = f64::from(late.get(id).copied().unwrap_or(0));
        if outcome == "bad" {
            bad_late = (bad_late.0 + l, bad_late.1 + 1.0);
        } else {
            good_late = (good_late.0 + l, good_late.1 + 1.0);
        }
    }
    let rate = bad_late.1 / (bad_late.1 + good_late.1);
    assert!((0.06..0.2).contains(&rate), "bad rate {rate}");
    let (b, g) = (bad_late.0 / bad_late.1, good_late.0 / good_late.1);
    assert!(
        b > 1.5 * g,
        "bad subjects average {b} late bills, good ones {g}"
    );
    // The contact graph: valid ends, no self-loops or repeats, heavy-tailed, homophilous.
    let mut degree: HashMap<String, u32> = HashMap::new();
    let mut same_region = 0;
    let mut edges = HashSet::new();
    for line in out.contacts.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (a, b) = (
            v["subject"].as_str().unwrap().to_string(),
            v["other"].as_str().unwrap().to_string(),
        );
        assert_ne!(a, b);
        assert!(ids.contains_key(&a) && ids.contains_key(&b));
        assert!(
            edges.insert((a.clone().min(b.clone()), a.clone().max(b.clone()))),
            "repeated edge"
        );
        same_region += u32::from(ids[&a].0 == ids[&b].0);
        *degree.entry(a).or_default() += 1;
        *degree.entry(b).or_default() += 1;
    }
    let mean = 2.0 * edges.len() as f64 / out.summary.people as f64;
    let max = f64::from(degree.values().copied().max().unwrap());
    assert!(max >= 10.0 * mean, "max degree {max}, mean {mean}");
    let homophily = f64::from(same_region) / edges.len() as f64;
    assert!(homophily >= 0.6, "{homophily} of edges within one city");
}
