//! Runs every scenario in `tests/scenarios/`: plain-text files a non-programmer can read
//! and write. Each line is a dated court event or a check with its expected answer:
//!
//! ```text
//! # comment
//! config grace_days=30              (court settings; before the first event)
//! score 640                         (the subject's score from here on; also capacity, unreturned)
//! 2025-01-10 judgment case=A1 court=Chaoyang amount=50000
//! 2025-02-01 listing case=A1 trigger=1
//! 2025-03-01 check flight => deny listed_dishonest lift:perform
//! 2025-03-05 performance case=A1 amount=50000
//! 2025-03-05 check flight => allow
//! 2025-03-05 check bank.preapproved => allow limit=10000
//! ```
//!
//! After `=>`: `allow` or `deny`, then reason codes that must appear, `lift:CODE` for a
//! way to lift that must be offered, `limit=N` for a lender's limit, and `!CODE` for a
//! reason that must not appear. Checks use the shipped policy file.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use credo_model::{Amount, BanScope, Day, EventBody, RemovalReason, Text};
use credo_rules::{CourtConfig, GivenFacts, Outcome, PolicySet, SubjectCourt, decide};
use std::collections::HashMap;

fn day(s: &str) -> Result<Day, String> {
    Day::parse(s).map_err(|e| e.to_string())
}

fn event(kind: &str, kv: &HashMap<&str, &str>) -> Result<EventBody, String> {
    let get = |k: &str| kv.get(k).copied().ok_or(format!("`{kind}` needs {k}="));
    let text = |k: &str| get(k).map(Text::from);
    let num = |k: &str| -> Result<u32, String> {
        get(k)?
            .parse()
            .map_err(|_| format!("{k}= must be a whole number"))
    };
    let amount = || -> Result<Amount, String> {
        let y: f64 = get("amount")?
            .parse()
            .map_err(|_| "amount= must be a number")?;
        Amount::from_yuan(y).map_err(|e| e.to_string())
    };
    Ok(match kind {
        "judgment" => EventBody::Judgment {
            case: text("case")?,
            court: text("court")?,
            amount: amount()?,
        },
        "performance" => EventBody::Performance {
            case: text("case")?,
            amount: amount()?,
        },
        "listing" => EventBody::Listing {
            case: text("case")?,
            court: kv.get("court").copied().unwrap_or("").into(),
            trigger: num("trigger")? as u8,
            grace_days: kv.get("grace").map(|g| g.parse().unwrap_or(0)),
        },
        "restriction" => EventBody::Restriction {
            case: text("case")?,
            court: kv.get("court").copied().unwrap_or("").into(),
        },
        "extension" => EventBody::Extension {
            case: text("case")?,
            years: num("years")? as u8,
        },
        "removal" => EventBody::Removal {
            case: text("case")?,
            reason: RemovalReason::parse(get("reason")?).ok_or("unknown reason=")?,
        },
        "ban" => EventBody::Ban {
            scope: BanScope::parse(get("scope")?).ok_or("unknown scope=")?,
            days: num("days")? as u16,
            code: text("code")?,
            authority: kv.get("authority").copied().unwrap_or("").into(),
        },
        other => return Err(format!("unknown event `{other}`")),
    })
}

fn run(text: &str) -> Result<usize, String> {
    let policies = PolicySet::default_set((350, 950)).map_err(|e| e.to_string())?;
    let mut config = CourtConfig::default();
    let mut court = SubjectCourt::default();
    let mut facts = GivenFacts {
        score: 700,
        capacity: 1.0,
        factors: vec![(
            "late_bills".into(),
            "bills paid late in the last 12 months".into(),
        )],
        unreturned_rentals: 0,
    };
    let mut checks = 0;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}\n  {line}", n + 1);
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        fn kv<'a>(ws: &[&'a str]) -> HashMap<&'a str, &'a str> {
            ws.iter().filter_map(|w| w.split_once('=')).collect()
        }
        match words[0] {
            "config" => {
                let kv = kv(&words[1..]);
                if let Some(g) = kv.get("grace_days") {
                    config.grace_days = g.parse().map_err(|_| at("bad grace_days".into()))?;
                }
                if let Some(t) = kv.get("term_years") {
                    config.term_years = t.parse().map_err(|_| at("bad term_years".into()))?;
                }
            }
            "score" => facts.score = words[1].parse().map_err(|_| at("bad score".into()))?,
            "capacity" => {
                facts.capacity = words[1].parse().map_err(|_| at("bad capacity".into()))?
            }
            "unreturned" => {
                facts.unreturned_rentals = words[1].parse().map_err(|_| at("bad count".into()))?
            }
            d => {
                let on = day(d).map_err(at)?;
                if words.get(1) == Some(&"check") {
                    let action = words
                        .get(2)
                        .ok_or_else(|| at("check needs an action".into()))?;
                    let arrow = words
                        .iter()
                        .position(|w| *w == "=>")
                        .ok_or_else(|| at("check needs =>".into()))?;
                    let expect = &words[arrow + 1..];
                    let got = decide(action, Some(&court), &config, &policies, &mut facts, on)
                        .map_err(|e| at(e.to_string()))?;
                    let codes: Vec<&str> = got.reasons.iter().map(|r| r.code.as_ref()).collect();
                    let lifts: Vec<&str> = got.lift.iter().map(|l| l.code).collect();
                    let shown = format!(
                        "got {} {codes:?} lift {lifts:?} limit {:?}",
                        got.outcome.as_str(),
                        got.limit
                    );
                    let want = match expect.first() {
                        Some(&"allow") => Outcome::Allow,
                        Some(&"deny") => Outcome::Deny,
                        _ => return Err(at("expected allow or deny after =>".into())),
                    };
                    if got.outcome != want {
                        return Err(at(shown));
                    }
                    for w in &expect[1..] {
                        let ok = if let Some(l) = w.strip_prefix("lift:") {
                            lifts.contains(&l)
                        } else if let Some(l) = w.strip_prefix("limit=") {
                            got.limit == l.parse::<f64>().ok()
                        } else if let Some(c) = w.strip_prefix('!') {
                            !codes.contains(&c)
                        } else {
                            codes.contains(w)
                        };
                        if !ok {
                            return Err(at(format!("expected {w}; {shown}")));
                        }
                    }
                    // Every deny says how to lift it; no answer carries the score.
                    if got.outcome == Outcome::Deny && got.lift.is_empty() {
                        return Err(at("a deny without a way to lift it".into()));
                    }
                    let score = facts.score.to_string();
                    if got.reasons.iter().any(|r| {
                        r.text
                            .split(|c: char| !c.is_ascii_digit())
                            .any(|t| t == score)
                    }) {
                        return Err(at("an answer revealed the score".into()));
                    }
                    checks += 1;
                } else {
                    let kind = words
                        .get(1)
                        .ok_or_else(|| at("an event needs a kind".into()))?;
                    let body = event(kind, &kv(&words[2..])).map_err(at)?;
                    court.apply(&config, on, &body);
                }
            }
        }
    }
    Ok(checks)
}

#[test]
fn every_scenario_holds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the corpus has {} scenarios",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        match run(&text) {
            Ok(0) => failures.push(format!("{}: no checks", f.display())),
            Ok(_) => {}
            Err(e) => failures.push(format!("{}: {e}", f.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_runner_catches_a_wrong_expectation() {
    let wrong = "2025-01-10 judgment case=A court=C amount=10\n2025-01-11 listing case=A trigger=1\n2025-01-12 check flight => allow\n";
    assert!(run(wrong).unwrap_err().contains("got deny"));
}
