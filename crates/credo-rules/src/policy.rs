//! Relying parties' offers: what a merchant, landlord or lender asks of a subject, in a
//! policy file (format in `docs/policies.md`). A file is validated as a whole: an error
//! names the file, line and problem, and nothing of a bad file is used.

use rustc_hash::FxHashMap;
use serde::Deserialize;

/// The policy file shipped with credo.
pub const DEFAULT_POLICIES: &str = include_str!("../policies/default.toml");

/// A lender's pre-approved limit: `per_point` yuan for each point above the offer's
/// `min_score`, scaled by the capacity dimension (0 to 1), capped at `max` and rounded
/// down to `step`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub per_point: f64,
    pub max: f64,
    #[serde(default = "default_step")]
    pub step: f64,
}

fn default_step() -> f64 {
    100.0
}

fn yes() -> bool {
    true
}

/// One offer of one relying party.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// What `credo check ID ACTION` names: lowercase letters, digits, `.`, `_` and `-`.
    pub id: String,
    #[serde(default)]
    pub party: String,
    #[serde(default)]
    pub label: String,
    /// The lowest score that passes (the answer says pass or fail, never the score).
    #[serde(default)]
    pub min_score: Option<u16>,
    /// A published listing on the court list denies (default true).
    #[serde(default = "yes")]
    pub deny_if_listed: bool,
    /// A consumption restriction in force denies (default false).
    #[serde(default)]
    pub deny_if_restricted: bool,
    /// Rentals not returned above this number deny.
    #[serde(default)]
    pub max_unreturned_rentals: Option<u32>,
    /// The amount the party risks (a waived deposit), declared as WeChat Pay Score asks.
    #[serde(default)]
    pub risk_amount: Option<f64>,
    #[serde(default)]
    pub limit: Option<Limit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    offer: Vec<toml::Spanned<Offer>>,
}

/// A policy file that failed validation: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {problem}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub problem: String,
}

/// The offers in force, looked up by id.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub offers: Vec<Offer>,
    by_id: FxHashMap<String, usize>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

impl PolicySet {
    /// Parses and validates a policy file. `score_range` is the model's range, which every
    /// `min_score` must lie in.
    pub fn parse(
        file: &str,
        text: &str,
        score_range: (u16, u16),
    ) -> Result<PolicySet, PolicyError> {
        let err = |offset: usize, problem: String| {
            let (line, column) = line_col(text, offset);
            PolicyError {
                file: file.to_string(),
                line,
                column,
                problem,
            }
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            err(offset, e.message().trim_end_matches('\n').to_string())
        })?;
        let mut set = PolicySet::default();
        for spanned in raw.offer {
            let at = spanned.span().start;
            let offer = spanned.into_inner();
            let bad = |problem: String| Err(err(at, format!("offer `{}`: {problem}", offer.id)));
            if offer.id.is_empty()
                || !offer
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            {
                return bad("the id must be lowercase letters, digits, '.', '_' or '-'".into());
            }
            if crate::actions::find(&offer.id).is_some() {
                return bad("the id is a catalogued action; choose another".into());
            }
            if set.by_id.contains_key(&offer.id) {
                return bad("a second offer with the same id".into());
            }
            if let Some(m) = offer.min_score
                && !(score_range.0..=score_range.1).contains(&m)
            {
                return bad(format!(
                    "min_score {m} is outside the score range {}-{}",
                    score_range.0, score_range.1
                ));
            }
            if let Some(r) = offer.risk_amount
                && !(r.is_finite() && r >= 0.0)
            {
                return bad("risk_amount must be a non-negative number".into());
            }
            if let Some(l) = &offer.limit {
                if offer.min_score.is_none() {
                    return bad("a limit needs a min_score to count points from".into());
                }
                if !(l.per_point.is_finite() && l.per_point > 0.0) {
                    return bad("limit.per_point must be a positive number".into());
                }
                if !(l.max.is_finite() && l.max > 0.0) {
                    return bad("limit.max must be a positive number".into());
                }
                if !(l.step.is_finite() && l.step > 0.0) {
                    return bad("limit.step must be a positive number".into());
                }
            }
            set.by_id.insert(offer.id.clone(), set.offers.len());
            set.offers.push(offer);
        }
        Ok(set)
    }

    pub fn default_set(score_range: (u16, u16)) -> Result<PolicySet, PolicyError> {
        Self::parse("policies/default.toml", DEFAULT_POLICIES, score_range)
    }

    pub fn get(&self, id: &str) -> Option<&Offer> {
        self.by_id.get(id).map(|&i| &self.offers[i])
    }

    pub fn len(&self) -> usize {
        self.offers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: (u16, u16) = (350, 950);

    fn problem(text: &str) -> (usize, String) {
        let e = PolicySet::parse("p.toml", text, RANGE).unwrap_err();
        assert_eq!(e.file, "p.toml");
        (e.line, e.problem)
    }

    #[test]
    fn the_default_file_is_valid() {
        let set = PolicySet::default_set(RANGE).unwrap();
        assert_eq!(set.len(), 4);
        assert_eq!(set.get("bike.deposit_free").unwrap().min_score, Some(650));
        assert!(set.get("bank.preapproved").unwrap().limit.is_some());
    }

    #[test]
    fn errors_name_the_line_and_problem() {
        let (line, p) = problem(
            "[[offer]]\nid = \"a\"\nmin_score = 650\n\n[[offer]]\nid = \"b\"\nmin_scor = 1\n",
        );
        assert_eq!(line, 7);
        assert!(p.contains("min_scor"), "{p}");

        let (line, p) = problem("[[offer]]\nid = \"a\"\n\n[[offer]]\nid = \"a\"\n");
        assert_eq!(line, 4);
        assert!(p.contains("same id"), "{p}");

        let (line, p) = problem("[[offer]]\nid = \"x\"\nmin_score = 1200\n");
        assert_eq!(line, 1);
        assert!(p.contains("outside the score range"), "{p}");

        let (_, p) = problem("[[offer]]\nid = \"flight\"\n");
        assert!(p.contains("catalogued action"), "{p}");

        let (line, p) = problem("[[offer]]\nid = \"x\"\nmin_score = \"high\"\n");
        assert_eq!(line, 3);
        assert!(p.contains("integer") || p.contains("invalid type"), "{p}");

        let (line, _) = problem("[[offer]\nid = 1\n");
        assert_eq!(line, 1);

        let (_, p) = problem("[[offer]]\nid = \"Bad Id\"\n");
        assert!(p.contains("lowercase"), "{p}");

        let (_, p) = problem("[[offer]]\nid = \"x\"\n[offer.limit]\nper_point = 1.0\nmax = 2.0\n");
        assert!(p.contains("needs a min_score"), "{p}");
    }
}
