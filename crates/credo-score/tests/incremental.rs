#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The incremental state against the naive reference, on random event histories that
//! arrive out of order, and the score's monotonicity in unpaid judgments.

use credo_model::{
    Amount, BillStatus, Day, EventBody, RentalStatus, ResidentId, SubjectId, SubjectRecord,
};
use credo_score::reference::{self, History};
use credo_score::{Model, ScoreCard, ScoreState};
use proptest::prelude::*;

fn person(i: u32) -> SubjectId {
    let digits = 110_101_199_001_010_000u64 / 10 + u64::from(i);
    SubjectId::Person(ResidentId::from_digits(digits).unwrap())
}

fn arb_body() -> impl Strategy<Value = EventBody> {
    let amount = (0i64..2_000_000).prop_map(Amount);
    let reference = (0u8..4).prop_map(|r| credo_model::Text::from(format!("r{r}")));
    prop_oneof![
        amount
            .clone()
            .prop_map(|amount| EventBody::Payment { amount }),
        (reference.clone(), amount.clone(), 0u8..4, 0u16..90).prop_map(
            |(reference, amount, s, days)| EventBody::Bill {
                reference,
                amount,
                status: match s {
                    0 => BillStatus::Due,
                    1 => BillStatus::Paid,
                    2 => BillStatus::Late { days: days + 1 },
                    _ => BillStatus::Unpaid,
                },
            }
        ),
        (reference.clone(), amount.clone())
            .prop_map(|(reference, amount)| EventBody::Loan { reference, amount }),
        (reference.clone(), amount.clone(), 0u16..3).prop_map(|(reference, amount, days_late)| {
            EventBody::Repayment {
                reference,
                amount,
                days_late,
            }
        }),
        (reference.clone(), amount.clone())
            .prop_map(|(reference, amount)| EventBody::Default { reference, amount }),
        (reference.clone(), 0u8..3).prop_map(|(reference, s)| EventBody::Rental {
            reference,
            status: [
                RentalStatus::Started,
                RentalStatus::Returned,
                RentalStatus::Unreturned
            ][s as usize],
        }),
        (reference.clone(), amount.clone()).prop_map(|(case, amount)| EventBody::Judgment {
            case,
            court: "c".into(),
            amount
        }),
        (reference.clone(), amount.clone())
            .prop_map(|(case, amount)| EventBody::Performance { case, amount }),
        (1u16..13).prop_map(|points| EventBody::Violation {
            code: "v".into(),
            points,
            authority: "a".into()
        }),
        (any::<bool>(), any::<bool>()).prop_map(|(a, p)| EventBody::Subject(SubjectRecord {
            name: "n".into(),
            address: if a { "addr".into() } else { String::new() },
            phones: if p { vec!["1".into()] } else { vec![] },
            ..Default::default()
        })),
    ]
}

fn arb_day() -> impl Strategy<Value = Day> {
    // 2019-01-01 .. 2026-12-31, with a few days before the state's range (ignored by both).
    (17_500i32..20_800).prop_map(Day)
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() <= 0.05 + 1e-4 * x.abs().max(y.abs()),
        _ => false,
    }
}

fn near_boundary(model: &Model, values: &[Option<f64>]) -> bool {
    model.features.iter().zip(values).any(|(f, v)| {
        v.is_some_and(|v| {
            f.bins
                .iter()
                .any(|(b, _)| (v - b).abs() <= 0.05 + 1e-4 * b.abs())
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn incremental_equals_reference(
        events in proptest::collection::vec((0u32..3, arb_day(), arb_body()), 0..120),
        contacts in proptest::collection::vec(0u32..40, 3),
        extra in 0i32..800,
    ) {
        let model = Model::default_model();
        let mut state = ScoreState::new(&model);
        state.grow(3);
        for (s, c) in contacts.iter().enumerate() {
            for _ in 0..*c {
                state.adjust_contacts(s as u32, true);
            }
        }
        for (s, d, b) in &events {
            state.apply_event(&model, *s, *d, b);
        }
        let latest = events.iter().map(|e| e.1).max().unwrap_or(Day(20_000));
        let as_of = Day(latest.0 + extra);
        for s in 0..3u32 {
            let mine: Vec<(Day, EventBody)> =
                events.iter().filter(|e| e.0 == s).map(|e| (e.1, e.2.clone())).collect();
            let h = History { id: person(s), events: &mine, contacts: contacts[s as usize] };
            let want = reference::features(&model, &h, as_of);
            let got = state.features(&model, s, person(s), as_of);
            for ((f, w), g) in model.features.iter().zip(&want).zip(&got) {
                prop_assert!(close(*w, *g), "subject {} feature {}: reference {:?}, incremental {:?}", s, f.name, w, g);
            }
            let a = ScoreCard::from_values(&model, &want, as_of);
            let b = ScoreCard::from_state(&model, &state, s, person(s), as_of);
            prop_assert!(a.score == b.score || near_boundary(&model, &want), "scores {} vs {}", a.score, b.score);
        }
    }

    #[test]
    fn an_unpaid_judgment_never_raises_the_score(
        events in proptest::collection::vec((arb_day(), arb_body()), 0..60),
        day in arb_day(),
        amount in 1i64..10_000_000,
    ) {
        let model = Model::default_model();
        let mut state = ScoreState::new(&model);
        for (d, b) in &events {
            state.apply_event(&model, 0, *d, b);
        }
        let as_of = Day(20_900);
        let before = ScoreCard::from_state(&model, &state, 0, person(0), as_of);
        state.apply_event(&model, 0, day, &EventBody::Judgment { case: "fresh-case".into(), court: "c".into(), amount: Amount(amount) });
        let after = ScoreCard::from_state(&model, &state, 0, person(0), as_of);
        prop_assert!(after.score <= before.score, "{} -> {}", before.score, after.score);
    }
}

#[test]
fn reasons_name_the_costliest_factors() {
    let model = Model::default_model();
    let mut state = ScoreState::new(&model);
    let d = Day::from_ymd(2026, 6, 1).unwrap();
    state.apply_event(
        &model,
        0,
        d,
        &EventBody::Judgment {
            case: "(2026)京0105执123号".into(),
            court: "c".into(),
            amount: Amount(5_000_000),
        },
    );
    for m in 0..5 {
        state.apply_event(
            &model,
            0,
            Day(d.0 + m * 30),
            &EventBody::Bill {
                reference: format!("b{m}").into(),
                amount: Amount(10_000),
                status: BillStatus::Late { days: 10 },
            },
        );
    }
    let card = ScoreCard::from_state(
        &model,
        &state,
        0,
        person(0),
        Day::from_ymd(2026, 11, 1).unwrap(),
    );
    let codes: Vec<&str> = card.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes.len(), 4);
    // Five months of history cost 126 of 126; five late bills in 12 months cost 122 of 144;
    // then three factors cost 108 each and tie, so they come in model order: unpaid
    // judgments, late share (judgment amount is fifth and left out).
    assert_eq!(codes, ["CH04", "CH01", "CH03", "BE02"]);
    assert!(card.score < 550, "score {}", card.score);
    assert_eq!(card.tier, "poor");
}
