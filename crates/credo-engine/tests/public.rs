#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The public replica (a cluster node's copy of every partition's public state) against
//! the folder it copies: fed the public states an owner publishes, in two rounds as
//! events arrive, it answers the list, the map and call screening as the owner does,
//! with the states going through their JSON form on the way.

#[path = "common/public.rs"]
mod answers;
mod common;
use answers::same_answers;

use credo_engine::public::PublicState;
use credo_model::SubjectId;

fn through_json(states: Vec<PublicState>, seq: u64) -> Vec<PublicState> {
    states
        .into_iter()
        .map(|s| {
            let (back, n) = PublicState::from_json(&s.to_json(seq)).unwrap();
            assert_eq!(n, seq);
            assert_eq!(back, s);
            back
        })
        .collect()
}

#[test]
fn a_replica_fed_the_published_states_answers_as_the_owner() {
    let g = credo_sim::generate_in_memory(4000, 5).unwrap();
    let events = std::str::from_utf8(&g.events).unwrap();
    let cut = events[..events.len() / 2].rfind('\n').unwrap() + 1;
    let (dir, rdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut owner = common::open(dir.path());
    common::ingest_clean(
        &mut owner,
        std::str::from_utf8(&g.subjects).unwrap(),
        1 << 16,
    );
    common::ingest_clean(&mut owner, &events[..cut], 1 << 16);
    owner.publish_public();
    let mut replica = common::open(rdir.path());

    let first = owner.take_public().unwrap();
    assert!(!first.is_empty());
    replica.put_public(through_json(first, 1)).unwrap();
    let listed = same_answers(&owner, &replica);
    assert!(listed > 0, "no one listed: the comparison proves little");

    // The rest of the events: only subjects whose court record or record changed come.
    common::ingest_clean(&mut owner, &events[cut..], 1 << 16);
    let second = owner.take_public().unwrap();
    let court_subjects = owner.listed_count(owner.today());
    assert!(!second.is_empty());
    replica.put_public(through_json(second, 2)).unwrap();
    assert!(same_answers(&owner, &replica) >= listed.min(court_subjects));
    assert!(
        owner.take_public().unwrap().is_empty(),
        "each change comes once"
    );

    // A state that lost its court events takes the subject off the replica's map.
    let (gone, _) = owner.map_points()[0];
    let mut st = owner.public_state(gone).unwrap();
    st.court.clear();
    replica.put_public(vec![st]).unwrap();
    assert!(!replica.map_points().iter().any(|p| p.0 == gone));
    assert_eq!(replica.map_len() + 1, owner.map_len());
}

#[test]
fn a_bad_public_state_is_refused() {
    let a = "11010519491231002X";
    let b = "440524188001010014";
    let judgment = |who: &str| {
        format!(
            r#"{{"id":"j","source":"court","subject":"{who}","at":"2025-01-10T00:00:00+08:00","kind":"judgment","case":"k","court":"c","amount":100}}"#
        )
    };
    let payment = format!(
        r#"{{"id":"p","source":"bank","subject":"{a}","at":"2025-01-10T00:00:00+08:00","kind":"payment","amount":1}}"#
    );
    let ok = format!(
        r#"{{"subject":"{a}","seq":3,"record":null,"court":[{}]}}"#,
        judgment(a)
    );
    let (st, seq) = PublicState::from_json(ok.as_bytes()).unwrap();
    assert_eq!(
        (st.subject, seq, st.court.len()),
        (a.parse::<SubjectId>().unwrap(), 3, 1)
    );
    for bad in [
        "not json".to_string(),
        format!(
            r#"{{"subject":"{a}","seq":3,"record":null,"court":[{}]}}"#,
            judgment(b)
        ),
        format!(r#"{{"subject":"{a}","seq":3,"record":null,"court":[{payment}]}}"#),
        format!(
            r#"{{"subject":"{a}","seq":3,"record":{},"court":[]}}"#,
            judgment(a)
        ),
        r#"{"subject":"110105194912310021","seq":3,"record":null,"court":[]}"#.to_string(),
        format!(r#"{{"subject":"{a}","seq":3,"record":null,"court":[],"extra":1}}"#),
    ] {
        assert!(PublicState::from_json(bad.as_bytes()).is_err(), "{bad}");
    }
}
