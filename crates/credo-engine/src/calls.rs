//! Call warnings: every phone number on the record of a subject published on the court
//! list maps to a warning that a telco plays to the caller before connecting, in the
//! words the listing court configured (`courts.toml` in the data folder), with an
//! optional text to the caller offering a reward for asset leads.
//!
//! The index is kept by [`Engine::refresh_map`] with the map (the same published set, on
//! the same refreshes), so a lifted listing stops warning on the same ingest.

use crate::engine::Engine;
use crate::error::{EngineError, io};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::path::Path;

pub(crate) const COURTS_FILE: &str = "courts.toml";

/// The warning when the court configured none. `{court}` is the court's name.
pub const DEFAULT_MESSAGE: &str =
    "您拨打的用户已被{court}列入失信被执行人名单，请督促其尽快履行法律义务。";

/// A number, normalised: its digits after any +86/0086 country prefix, as a number
/// with a leading 1 so that leading zeros count (`010…` differs from `10…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Number(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a phone number: give 7 to 12 digits (a mobile's 11, or a landline with its area code), optionally after +86, with spaces or dashes"
)]
pub struct BadNumber(pub String);

impl Number {
    pub fn parse(s: &str) -> Result<Number, BadNumber> {
        let bad = || BadNumber(s.chars().take(40).collect());
        let t = s.trim();
        let t = t
            .strip_prefix("+86")
            .or_else(|| t.strip_prefix("0086"))
            .unwrap_or(t);
        let mut digits = 0u64;
        let mut len = 0;
        for b in t.bytes() {
            match b {
                b'0'..=b'9' => {
                    len += 1;
                    if len > 12 {
                        return Err(bad());
                    }
                    digits = digits * 10 + u64::from(b - b'0');
                }
                b' ' | b'-' | b'(' | b')' => {}
                _ => return Err(bad()),
            }
        }
        // "86" then a mobile number, written without the plus.
        if len == 13 {
            return Err(bad());
        }
        if len < 7 {
            return Err(bad());
        }
        Ok(Number(10u64.pow(len) + digits))
    }
}

/// A court's settings for call warnings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CourtCalls {
    pub name: String,
    /// The warning played to the caller; `{court}` is replaced by the court's name.
    pub call_message: Option<String>,
    /// A text message to the caller offering a reward for asset leads.
    pub reward_sms: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CourtsFile {
    #[serde(default)]
    court: Vec<CourtCalls>,
}

/// The folder's `courts.toml`, if there is one.
pub(crate) fn load_courts(dir: &Path) -> Result<FxHashMap<String, CourtCalls>, EngineError> {
    let path = dir.join(COURTS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FxHashMap::default()),
        Err(e) => return Err(io(&path)(e)),
    };
    let file: CourtsFile = toml::from_str(&text).map_err(|e| EngineError::Meta {
        path: path.display().to_string(),
        problem: e.to_string(),
    })?;
    Ok(file
        .court
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect())
}

/// What the telco is told about a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    pub warn: bool,
    /// The warning to play (when `warn`).
    pub message: Option<String>,
    /// The listing court and case (when `warn`).
    pub court: Option<String>,
    pub case: Option<String>,
    /// The text to send the caller, if the court configured one.
    pub sms: Option<String>,
    /// The listed subject (for the inquiry log; never in the answer).
    pub subject: Option<credo_model::SubjectId>,
}

/// A listed subject's numbers, and the court and case its warning names.
type Warned = (Vec<Number>, Box<str>, Box<str>);

/// Numbers that warn, and the subject each belongs to.
#[derive(Debug, Default)]
pub struct CallIndex {
    by_number: FxHashMap<Number, u32>,
    of_subject: FxHashMap<u32, Warned>,
}

impl CallIndex {
    /// Sets a subject's entry: its numbers and the listing it warns of, or none.
    pub fn set(&mut self, s: u32, entry: Option<(Vec<Number>, String, String)>) {
        if let Some((old, _, _)) = self.of_subject.remove(&s) {
            for n in old {
                if self.by_number.get(&n) == Some(&s) {
                    self.by_number.remove(&n);
                }
            }
        }
        if let Some((numbers, court, case)) = entry
            && !numbers.is_empty()
        {
            for &n in &numbers {
                self.by_number.insert(n, s);
            }
            self.of_subject
                .insert(s, (numbers, court.into_boxed_str(), case.into_boxed_str()));
        }
    }

    pub fn get(&self, n: Number) -> Option<(u32, &str, &str)> {
        let &s = self.by_number.get(&n)?;
        let (_, court, case) = self.of_subject.get(&s)?;
        Some((s, court, case))
    }

    pub fn len(&self) -> usize {
        self.by_number.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_number.is_empty()
    }
}

impl Engine {
    /// Whether to warn a caller of this number, and with what (see the module doc).
    pub fn screen_call(&self, number: &str) -> Result<Screen, EngineError> {
        let n = Number::parse(number)?;
        Ok(self.screen_number(n))
    }

    /// [`Engine::screen_call`] for a parsed number: one hash lookup when not listed.
    pub fn screen_number(&self, n: Number) -> Screen {
        match self.calls.get(n) {
            None => Screen {
                warn: false,
                message: None,
                court: None,
                case: None,
                sms: None,
                subject: None,
            },
            Some((s, court, case)) => {
                let cfg = self.courts.get(court);
                let message = cfg
                    .and_then(|c| c.call_message.as_deref())
                    .unwrap_or(DEFAULT_MESSAGE)
                    .replace("{court}", court);
                Screen {
                    warn: true,
                    message: Some(message),
                    court: Some(court.to_string()),
                    case: Some(case.to_string()),
                    sms: cfg.and_then(|c| c.reward_sms.clone()),
                    subject: self.core.subjects.id(s),
                }
            }
        }
    }

    /// Numbers that warn today.
    pub fn warned_numbers(&self) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise_and_bad_ones_are_refused() {
        let a = Number::parse("13800138000").unwrap();
        assert_eq!(Number::parse("+86 138-0013-8000"), Ok(a));
        assert_eq!(Number::parse("0086 13800138000"), Ok(a));
        assert_ne!(
            Number::parse("010-12345678").unwrap(),
            Number::parse("10-12345678").unwrap()
        );
        for bad in ["", "12345", "8613800138000", "1380013800x", "1234567890123"] {
            assert!(Number::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_subject_s_numbers_follow_its_entry() {
        let mut ix = CallIndex::default();
        let n = |s: &str| Number::parse(s).unwrap();
        ix.set(
            1,
            Some((
                vec![n("13800138000"), n("0817-1234567")],
                "c".into(),
                "k".into(),
            )),
        );
        assert_eq!(ix.get(n("13800138000")).map(|x| x.0), Some(1));
        ix.set(1, Some((vec![n("13900139000")], "c".into(), "k".into())));
        assert_eq!(ix.get(n("13800138000")), None);
        assert_eq!(ix.len(), 1);
        ix.set(1, None);
        assert_eq!(ix.len(), 0);
    }
}
