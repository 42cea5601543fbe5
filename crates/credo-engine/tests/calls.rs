#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Call warnings and notice plans on a data folder: a listed debtor's numbers warn with
//! the court's configured words until the judgment is paid, after a reopen too; a notice's
//! audience counts each criterion as a naive count does and never holds companies.

mod common;
use common::{ingest_clean as ingest, open, person};
use credo_engine::EngineError;
use credo_engine::notices::{IndustryMatch, NoticeOptions};

const A: &str = "11010519491231002X";
const COURT: &str = "北京市朝阳区人民法院";

fn court_line(n: &str, day: &str, body: &str) -> String {
    format!(r#"{{"id":"{n}","source":"court","subject":"{A}","at":"{day}",{body}}}"#) + "\n"
}

fn listed() -> String {
    court_line(
        "j",
        "2026-08-10",
        &format!(r#""kind":"judgment","case":"K1","court":"{COURT}","amount":5000"#),
    ) + &court_line(
        "l",
        "2026-09-01",
        &format!(r#""kind":"listing","case":"K1","court":"{COURT}","trigger":1"#),
    )
}

#[test]
fn a_listed_debtor_s_numbers_warn_until_the_judgment_is_paid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("courts.toml"),
        format!("[[court]]\nname = \"{COURT}\"\ncall_message = \"{{court}}提醒：机主为失信被执行人\"\nreward_sms = \"举报财产线索有奖\"\n"),
    )
    .unwrap();
    let mut e = open(dir.path());
    ingest(
        &mut e,
        &format!(
            r#"{{"id":"{A}","kind":"subject","at":"2024-11-01","name":"王芳","phones":["13800138000","010-12345678"]}}"#
        ),
        1 << 20,
    );
    assert!(!e.screen_call("13800138000").unwrap().warn);
    ingest(&mut e, &listed(), 1 << 20);
    for n in ["+86 138-0013-8000", "010 1234 5678"] {
        let s = e.screen_call(n).unwrap();
        assert!(s.warn, "{n}");
        assert_eq!(
            s.message.as_deref(),
            Some("北京市朝阳区人民法院提醒：机主为失信被执行人")
        );
        assert_eq!(s.sms.as_deref(), Some("举报财产线索有奖"));
        assert_eq!(s.case.as_deref(), Some("K1"));
    }
    assert!(!e.screen_call("13900139000").unwrap().warn);
    assert!(matches!(
        e.screen_call("12-34"),
        Err(EngineError::BadNumber(_))
    ));
    assert_eq!(e.warned_numbers(), 2);
    drop(e);
    // The same after a reopen, and lifted by payment on the same ingest.
    let mut e = open(dir.path());
    assert!(e.screen_call("13800138000").unwrap().warn);
    ingest(
        &mut e,
        &court_line(
            "p",
            "2026-10-01",
            r#""kind":"performance","case":"K1","amount":5000"#,
        ),
        1 << 20,
    );
    assert!(!e.screen_call("13800138000").unwrap().warn);
    assert_eq!(e.warned_numbers(), 0);
}

#[test]
fn a_notice_audience_counts_each_criterion_and_holds_no_company() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open(dir.path());
    // The debtor at Tiananmen; 40 people along a line going east, 256 m apart, in two
    // regions and three industries; a company right next door; contacts in a chain.
    let mut text = format!(
        r#"{{"id":"{A}","kind":"subject","at":"2024-11-01","name":"王芳","lat":39.9087,"lon":116.3975,"region":"110101","industry":"E"}}"#
    ) + "\n";
    let industries = ["E", "K", "C"];
    for i in 0..40 {
        text += &(format!(
            r#"{{"id":"{}","kind":"subject","at":"2024-11-01","name":"p{i}","lat":39.9087,"lon":{},"region":"{}","industry":"{}"}}"#,
            person(i),
            116.3975 + 0.003 * i as f64,
            if i % 2 == 0 { 110101 } else { 110105 },
            industries[i % 3]
        ) + "\n");
    }
    text += r#"{"id":"91350100M000100Y43","kind":"subject","at":"2024-11-01","name":"某某公司","lat":39.9087,"lon":116.3976,"region":"110101","industry":"E"}"#;
    text += "\n";
    text += &format!(
        r#"{{"id":"c0","source":"s","subject":"{A}","at":"2025-01-01","kind":"contact","other":"{}"}}"#,
        person(7)
    );
    text += "\n";
    for i in 7..10 {
        text += &(format!(
            r#"{{"id":"c{}","source":"s","subject":"{}","at":"2025-01-01","kind":"contact","other":"{}"}}"#,
            i + 1,
            person(i),
            person(i + 1)
        ) + "\n");
    }
    ingest(&mut e, &text, 1 << 20);
    ingest(&mut e, &listed(), 1 << 20);
    let o = NoticeOptions {
        radius_km: 3.0,
        same_region: true,
        industry: Some(IndustryMatch::Related),
        hops: 2,
        cap: 1000,
    };
    let p = e.notice_plan("K1", &o).unwrap();
    // 256 m apart: persons 0..=11 are within 3 km (2,815 m), person 12 is not (3,071 m).
    assert_eq!(p.by_radius, 12, "{p:?}");
    assert_eq!(p.by_region, 20);
    // E and K are related (construction and property); C is not.
    assert_eq!(p.by_industry, 27);
    // Person 7 directly, person 8 at two hops.
    assert_eq!(p.by_contacts, 2);
    let company: credo_model::SubjectId = "91350100M000100Y43".parse().unwrap();
    assert!(!p.members.contains(&company));
    assert!(!p.members.contains(&A.parse().unwrap()));
    let mut m = p.members.clone();
    m.sort();
    m.dedup();
    assert_eq!(m.len(), p.members.len());
    assert_eq!(p.members[0], person(7).parse().unwrap());
    // A small cap cuts it, circle first.
    let p = e.notice_plan("K1", &NoticeOptions { cap: 3, ..o }).unwrap();
    assert!(p.capped);
    assert_eq!(p.members.len(), 3);
    assert!(matches!(
        e.notice_plan("nope", &o),
        Err(EngineError::NoCase(_))
    ));
    assert!(matches!(
        e.notice_plan("K1", &NoticeOptions { hops: 9, ..o }),
        Err(EngineError::BadNotice(_))
    ));
}
