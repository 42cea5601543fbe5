//! Properties of the court rules that hold for any history.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use credo_model::{Amount, BanScope, Day, EventBody, RemovalReason, Text};
use credo_rules::{
    ACTIONS, CourtConfig, GivenFacts, Outcome, PolicySet, SubjectCourt, add_years, decide,
};
use proptest::prelude::*;

fn fixed(score: u16) -> GivenFacts {
    GivenFacts {
        score,
        capacity: 0.7,
        ..GivenFacts::default()
    }
}

const START: i32 = 19_000; // 2022-01-08

fn arb_body(cases: &'static [&'static str]) -> impl Strategy<Value = EventBody> {
    let case = proptest::sample::select(cases).prop_map(Text::from);
    prop_oneof![
        (case.clone(), 1i64..1_000_000).prop_map(|(case, a)| EventBody::Judgment {
            case,
            court: "court".into(),
            amount: Amount(a)
        }),
        (case.clone(), 1i64..1_000_000).prop_map(|(case, a)| EventBody::Performance {
            case,
            amount: Amount(a)
        }),
        (case.clone(), 1u8..=6, proptest::option::of(0u16..200)).prop_map(
            |(case, trigger, grace_days)| EventBody::Listing {
                case,
                court: "court".into(),
                trigger,
                grace_days
            }
        ),
        case.clone().prop_map(|case| EventBody::Restriction {
            case,
            court: "court".into()
        }),
        (case.clone(), 1u8..=3).prop_map(|(case, years)| EventBody::Extension { case, years }),
        (case, proptest::sample::select(RemovalReason::ALL.to_vec()))
            .prop_map(|(case, reason)| EventBody::Removal { case, reason }),
        (proptest::sample::select(BanScope::ALL.to_vec()), 1u16..400).prop_map(|(scope, days)| {
            EventBody::Ban {
                scope,
                days,
                code: "x".into(),
                authority: "a".into(),
            }
        }),
    ]
}

fn history() -> impl Strategy<Value = Vec<(i32, EventBody)>> {
    proptest::collection::vec((0i32..2200, arb_body(&["A", "B", "C"])), 0..25).prop_map(|mut v| {
        v.sort_by_key(|e| e.0);
        v
    })
}

fn replay(config: &CourtConfig, events: &[(i32, EventBody)]) -> SubjectCourt {
    let mut c = SubjectCourt::default();
    for (d, body) in events {
        c.apply(config, Day(START + d), body);
    }
    c
}

fn denied(
    court: &SubjectCourt,
    config: &CourtConfig,
    policies: &PolicySet,
    as_of: Day,
) -> Vec<(String, bool)> {
    ACTIONS
        .iter()
        .map(|a| a.id.to_string())
        .chain(policies.offers.iter().map(|o| o.id.clone()))
        .map(|a| {
            let d = decide(&a, Some(court), config, policies, &mut fixed(720), as_of).unwrap();
            (a, d.outcome == Outcome::Deny)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // Adding a listing (on any case, at any point) or an unpaid judgment (a new case that
    // is never paid) never turns a deny into an allow, on any day.
    #[test]
    fn more_court_trouble_never_allows_more(
        events in history(),
        extra_day in 0i32..2200,
        extra in prop_oneof![
            (proptest::sample::select(&["A", "B", "C", "D"][..]), 1u8..=6, proptest::option::of(0u16..200))
                .prop_map(|(case, trigger, grace_days)| EventBody::Listing {
                    case: case.into(), court: "court".into(), trigger, grace_days,
                }),
            (1i64..1_000_000).prop_map(|a| EventBody::Judgment {
                case: "NEW".into(), court: "court".into(), amount: Amount(a),
            }),
        ],
        grace in 0u16..60,
        asked in proptest::collection::vec(0i32..2600, 1..6),
    ) {
        let config = CourtConfig { grace_days: grace, ..CourtConfig::default() };
        let policies = PolicySet::default_set((350, 950)).unwrap();
        let before = replay(&config, &events);
        let mut more = events.clone();
        let at = more.partition_point(|e| e.0 <= extra_day);
        more.insert(at, (extra_day, extra));
        let after = replay(&config, &more);
        for d in asked {
            let as_of = Day(START + d);
            let (b, a) = (denied(&before, &config, &policies, as_of), denied(&after, &config, &policies, as_of));
            for ((action, was), (_, now)) in b.iter().zip(&a) {
                prop_assert!(!was || *now, "{action} on {as_of}: deny became allow");
            }
        }
    }

    // Every deny names at least one reason and one way to lift it.
    #[test]
    fn every_deny_explains_itself(events in history(), d in 0i32..2600, score in 350u16..950) {
        let config = CourtConfig::default();
        let policies = PolicySet::default_set((350, 950)).unwrap();
        let court = replay(&config, &events);
        for a in ACTIONS.iter().map(|a| a.id).chain(policies.offers.iter().map(|o| o.id.as_str())) {
            let dec = decide(a, Some(&court), &config, &policies, &mut fixed(score), Day(START + d)).unwrap();
            if dec.outcome == Outcome::Deny {
                prop_assert!(!dec.reasons.is_empty() && !dec.lift.is_empty(), "{a}: {dec:?}");
            } else {
                prop_assert!(dec.reasons.is_empty());
            }
        }
    }

    // Years are added as the Civil Code says, checked against a naive search: the last
    // day whose date is not after (year + n, month, day).
    #[test]
    fn add_years_matches_a_naive_search(d in -40_000i32..60_000, n in 0i32..8) {
        let day = Day(d);
        let (y, m, dd) = day.ymd();
        let target = (y + n, m, dd);
        let mut naive = day;
        while {
            let (ny, nm, nd) = Day(naive.0 + 1).ymd();
            (ny, nm, nd) <= target
        } {
            naive = Day(naive.0 + 1);
        }
        prop_assert_eq!(add_years(day, n), naive);
    }

    // A listing on triggers 2-6 with no removal is in force exactly from its day through
    // the same date `term + extensions` years on.
    #[test]
    fn term_listings_run_their_period(listed in 0i32..3000, trigger in 2u8..=6, ext in proptest::option::of(1u8..=3), probe in -10i32..2000) {
        let config = CourtConfig::default();
        let mut c = SubjectCourt::default();
        let on = Day(START + listed);
        c.apply(&config, on, &EventBody::Listing { case: "A".into(), court: "x".into(), trigger, grace_days: None });
        if let Some(years) = ext {
            c.apply(&config, on, &EventBody::Extension { case: "A".into(), years });
        }
        let years = 2 + i32::from(ext.unwrap_or(0));
        let last = add_years(on, years);
        for as_of in [Day(on.0 + probe), last, Day(last.0 + 1), Day(on.0 - 1), on] {
            let expected = on <= as_of && as_of <= last;
            prop_assert_eq!(c.listed_cases(&config, as_of).count() == 1, expected, "{} {}", as_of, last);
        }
    }
}
