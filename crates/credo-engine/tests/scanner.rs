#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The hand-written event scanner against serde_json (`parse_line_reference`): on random
//! objects, random values and random byte damage, both accept the same lines, produce the
//! same events, and reject with the same code (a type error may be reported as `bad_field`
//! by one and `bad_json` by the other when the value is also malformed).

use credo_engine::wire::{parse_line, parse_line_reference};
use proptest::prelude::*;

/// The known field names, and two that are not (unknown, wrong case).
fn keys() -> Vec<&'static str> {
    credo_engine::wire::FIELDS
        .iter()
        .copied()
        .chain(["unknown", "Id"])
        .collect()
}

fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"11010519491231002X\"".to_string()),
        Just("\"440524188001010014\"".to_string()),
        Just("\"2025-03-14T09:30:00+08:00\"".to_string()),
        Just("\"2025-03-14\"".to_string()),
        Just("\"payment\"".to_string()),
        Just("\"bill\"".to_string()),
        Just("\"late\"".to_string()),
        Just("\"subject\"".to_string()),
        Just("\"contact\"".to_string()),
        Just("\"110105\"".to_string()),
        Just("\"\\u738b\\u82b3 \\\"q\\\" \\\\ \\/ \\n\"".to_string()),
        Just("\"\\ud83d\\ude00\"".to_string()),
        Just("\"\\ud83d\"".to_string()),
        Just("\"bad \\x escape\"".to_string()),
        "[a-z0-9王芳 ]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ]
}

fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => json_string(),
        1 => Just("null".to_string()),
        1 => Just("true".to_string()),
        1 => Just("[]".to_string()),
        1 => Just("[\"13800138000\", \"x\"]".to_string()),
        1 => Just("[1]".to_string()),
        1 => Just("{}".to_string()),
        1 => Just("[\"a\", \"b\"]".to_string()),
        1 => Just("-0".to_string()),
        1 => Just("01".to_string()),
        1 => Just("1e400".to_string()),
        1 => Just("2.".to_string()),
        2 => (0u32..100_000).prop_map(|n| n.to_string()),
        1 => (-1000i64..0).prop_map(|n| n.to_string()),
        2 => (0.0f64..1e6).prop_map(|x| format!("{x}")),
        1 => (0.0f64..1e3).prop_map(|x| format!("{x:e}")),
        1 => Just("4294967296".to_string()),
    ]
}

fn object() -> impl Strategy<Value = String> {
    proptest::collection::vec((proptest::sample::select(keys()), json_value()), 0..10).prop_map(
        |fields| {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\"{k}\" : {v}"))
                .collect();
            format!("{{ {} }}", body.join(", "))
        },
    )
}

/// A well-formed event of a random kind, so that acceptance is exercised too.
fn event() -> impl Strategy<Value = String> {
    let kinds = prop_oneof![
        Just(r#""kind":"payment","amount":12.5"#.to_string()),
        Just(r#""kind":"bill","ref":"r\"1","amount":3,"status":"late","days_late":4"#.to_string()),
        Just(
            r#""kind":"violation","code":"red_light","points":50,"authority":"\u4ea4\u8b66"}"#
                .to_string()
        ),
        Just(r#""kind":"contact","other":"440524188001010014","op":null"#.to_string()),
        Just(
            r#""kind":"listing","case":"c","court":"x","trigger":2,"grace_days":null"#.to_string()
        ),
        Just(r#""kind":"extension","case":"c","years":3"#.to_string()),
        Just(r#""kind":"removal","case":"c","reason":"set_aside""#.to_string()),
        Just(r#""kind":"ban","scope":"flight","days":365,"code":"tax""#.to_string()),
        Just(r#""kind":"subject","name":"王芳","phones":[],"lat":39.9,"lon":116.4"#.to_string()),
    ];
    (kinds, "[a-z0-9-]{1,10}").prop_map(|(k, id)| {
        format!(r#"{{"id":"{id}","source":"s","subject":"11010519491231002X","at":"2025-03-14T09:30:00Z",{k}}}"#)
    })
}

fn damage(s: String, at: usize, byte: u8, mode: u8) -> Vec<u8> {
    let mut b = s.into_bytes();
    if b.is_empty() {
        return b;
    }
    let i = at % b.len();
    match mode % 4 {
        0 => {
            b.remove(i);
        }
        1 => b.insert(i, byte),
        2 => b[i] = byte,
        _ => {}
    }
    b
}

fn agree(line: &[u8]) -> Result<(), TestCaseError> {
    let fast = parse_line(line);
    let slow = parse_line_reference(line);
    match (&fast, &slow) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Err(a), Err(b)) => {
            let lenient = ["bad_json", "bad_field"];
            prop_assert!(
                a.code == b.code || (lenient.contains(&a.code) && lenient.contains(&b.code)),
                "codes differ on {:?}: scanner {:?}, serde {:?}",
                String::from_utf8_lossy(line),
                a,
                b
            );
        }
        _ => prop_assert!(
            false,
            "disagree on {:?}: scanner {:?}, serde {:?}",
            String::from_utf8_lossy(line),
            fast,
            slow
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn scanner_agrees_with_serde_on_objects(s in object()) {
        agree(s.as_bytes())?;
    }

    #[test]
    fn scanner_agrees_with_serde_on_events(s in event(), at in any::<usize>(), byte in any::<u8>(), mode in any::<u8>()) {
        agree(s.as_bytes())?;
        agree(&damage(s, at, byte, mode))?;
    }

    #[test]
    fn arrays_are_not_events(values in proptest::collection::vec(json_string(), 0..6)) {
        // serde reads a struct from an array of its fields; the format is objects only.
        agree(format!("[{}]", values.join(",")).as_bytes())?;
    }

    #[test]
    fn scanner_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_line(&bytes);
    }
}
