//! The decision: may this subject do this action today? Allow or deny, every reason,
//! and for a deny the way to lift it. A relying party's answer never carries the score.

use crate::actions::{self, ActionSpec};
use crate::court::{CaseRecord, CourtConfig, ListingState, SubjectCourt, behaviour};
use crate::policy::{Offer, PolicySet};
use credo_model::{BanScope, Day};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
        }
    }
}

/// Why: a stable code, plain text, and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub code: Cow<'static, str>,
    pub text: Cow<'static, str>,
    pub case: Option<String>,
    pub court: Option<String>,
    /// The last day the cause is in force, when it is known to end by itself.
    pub until: Option<Day>,
    /// The offer's threshold that was missed (never the subject's score).
    pub threshold: Option<u16>,
}

/// One way to lift a deny.
#[derive(Debug, Clone, PartialEq)]
pub struct Lift {
    pub code: &'static str,
    pub text: Cow<'static, str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub action: String,
    pub outcome: Outcome,
    pub reasons: Vec<Reason>,
    pub lift: Vec<Lift>,
    /// A lender's pre-approved limit in yuan (offers with a `limit` only).
    pub limit: Option<f64>,
    /// The risk amount the offer declared.
    pub risk_amount: Option<f64>,
}

/// What a decision may need of a subject beyond the court record. Score-based parts are
/// asked for only when an offer needs them, so catalogue checks never compute a score.
pub trait SubjectFacts {
    fn score(&mut self) -> u16;
    /// The capacity dimension's share of its maximum points, 0 to 1.
    fn capacity(&mut self) -> f64;
    /// The score's reason codes and texts, the costliest first (at most four).
    fn factors(&mut self) -> Vec<(String, String)>;
    fn unreturned_rentals(&mut self) -> u32;
}

/// Facts given outright, where no score model runs: policy simulations over a population,
/// benchmarks, scenarios and tests.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GivenFacts {
    pub score: u16,
    pub capacity: f64,
    pub factors: Vec<(String, String)>,
    pub unreturned_rentals: u32,
}

impl SubjectFacts for GivenFacts {
    fn score(&mut self) -> u16 {
        self.score
    }
    fn capacity(&mut self) -> f64 {
        self.capacity
    }
    fn factors(&mut self) -> Vec<(String, String)> {
        self.factors.clone()
    }
    fn unreturned_rentals(&mut self) -> u32 {
        self.unreturned_rentals
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}`: not in the catalogue and no loaded offer has this id")]
pub struct UnknownAction(pub String);

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// The reason and lifts for one case that restricts on `as_of`.
fn case_reason(c: &CaseRecord, config: &CourtConfig, as_of: Day, lift: &mut Vec<Lift>) -> Reason {
    let listing = c.listing_in_force(config, as_of);
    let (code, text, until) = match listing {
        Some(l) => {
            let published = l.state(config, as_of) == ListingState::Published;
            let last = l.last_day(config);
            (
                "listed_dishonest",
                format!(
                    "on the list of dishonest judgment defaulters{} since {} in case {} of {}: {}",
                    if published {
                        ""
                    } else {
                        " (not yet published)"
                    },
                    l.listed_on,
                    c.case,
                    c.court,
                    behaviour(l.trigger)
                ),
                last,
            )
        }
        None => (
            "consumption_restriction",
            format!(
                "under a consumption-restriction order in case {} of {}",
                c.case, c.court
            ),
            None,
        ),
    };
    let unperformed = c.unperformed().0;
    if unperformed > 0 {
        lift.push(Lift {
            code: "perform",
            text: format!(
                "pay the unperformed {} yuan in case {} to {}: the listing and restriction lift as soon as the payment is reported",
                yuan(unperformed),
                c.case,
                c.court
            ).into(),
        });
    }
    lift.push(Lift {
        code: "court_removal",
        text: format!(
            "or have {} remove it: a fulfilled settlement, the creditor's written request, or the end of enforcement",
            if c.court.is_empty() { "the court" } else { c.court.as_str() }
        ).into(),
    });
    if let Some(last) = until {
        lift.push(Lift {
            code: "expiry",
            text: format!("otherwise it ends by itself after {last}").into(),
        });
    }
    Reason {
        code: Cow::Borrowed(code),
        text: text.into(),
        case: Some(c.case.to_string()),
        court: Some(c.court.to_string()),
        until,
        threshold: None,
    }
}

/// Court-side reasons that stop a catalogued action.
fn catalogue_reasons(
    spec: &ActionSpec,
    court: Option<&SubjectCourt>,
    config: &CourtConfig,
    as_of: Day,
    reasons: &mut Vec<Reason>,
    lift: &mut Vec<Lift>,
) {
    let Some(court) = court else { return };
    if spec.blocks.restriction {
        for c in court.cases.iter().filter(|c| c.restricted(config, as_of)) {
            reasons.push(case_reason(c, config, as_of, lift));
        }
    }
    for b in court.bans.iter().filter(|b| b.in_force(as_of)) {
        let hits = match b.scope {
            BanScope::Rail => spec.blocks.rail_ban,
            BanScope::Flight => spec.blocks.flight_ban,
            BanScope::Travel => spec.blocks.rail_ban || spec.blocks.flight_ban,
        };
        if hits {
            reasons.push(Reason {
                code: Cow::Borrowed(match b.scope {
                    BanScope::Rail => "rail_ban",
                    BanScope::Flight => "flight_ban",
                    BanScope::Travel => "travel_ban",
                }),
                text: format!(
                    "banned ({}) by {} for {} from {} through {}",
                    b.scope.as_str(),
                    if b.authority.is_empty() {
                        "the authority"
                    } else {
                        b.authority.as_str()
                    },
                    b.code,
                    b.from,
                    b.last_day
                )
                .into(),
                case: None,
                court: None,
                until: Some(b.last_day),
                threshold: None,
            });
            lift.push(Lift {
                code: "expiry",
                text: format!("the ban ends by itself after {}", b.last_day).into(),
            });
        }
    }
}

fn offer_decision(
    offer: &Offer,
    court: Option<&SubjectCourt>,
    config: &CourtConfig,
    facts: &mut dyn SubjectFacts,
    as_of: Day,
    reasons: &mut Vec<Reason>,
    lift: &mut Vec<Lift>,
) -> Option<f64> {
    if let Some(court) = court {
        for c in &court.cases {
            let listed = offer.deny_if_listed && c.published(config, as_of).is_some();
            let restricted = offer.deny_if_restricted && c.restricted(config, as_of);
            if listed || restricted {
                reasons.push(case_reason(c, config, as_of, lift));
            }
        }
    }
    if let Some(max) = offer.max_unreturned_rentals {
        let n = facts.unreturned_rentals();
        if n > max {
            reasons.push(Reason {
                code: Cow::Borrowed("unreturned_rentals"),
                text: format!("{n} rented items not returned (this offer allows {max})").into(),
                case: None,
                court: None,
                until: None,
                threshold: None,
            });
            lift.push(Lift {
                code: "return_rentals",
                text: Cow::Borrowed("return the rented items, or settle with their owners"),
            });
        }
    }
    let mut limit = None;
    if let Some(min) = offer.min_score {
        let score = facts.score();
        let below = score < min;
        let mut capacity_short = false;
        if !below && let Some(l) = &offer.limit {
            let raw = f64::from(score - min) * l.per_point * facts.capacity().clamp(0.0, 1.0);
            let granted = (raw.min(l.max) / l.step).floor() * l.step;
            capacity_short = granted < l.step;
            limit = Some(granted);
        }
        if below || capacity_short {
            reasons.push(Reason {
                code: Cow::Borrowed(if below {
                    "score_below_threshold"
                } else {
                    "capacity_too_low"
                }),
                text: Cow::Borrowed(if below {
                    "the credit score did not reach this offer's threshold"
                } else {
                    "the score and capacity give no credit line yet"
                }),
                case: None,
                court: None,
                until: None,
                threshold: below.then_some(min),
            });
            let factors = facts.factors();
            let none = factors.is_empty();
            for (code, text) in factors {
                reasons.push(Reason {
                    code: code.into(),
                    text: text.into(),
                    case: None,
                    court: None,
                    until: None,
                    threshold: None,
                });
            }
            lift.push(Lift {
                code: "improve_factors",
                text: Cow::Borrowed(if none {
                    "build a longer record of bills and repayments paid on time"
                } else {
                    "improve the factors given as reasons above; the score is recomputed with every reported event"
                }),
            });
        }
    }
    limit
}

/// Decides `action` for a subject on `as_of`. `action` is a catalogued action or the id
/// of a loaded offer; anything else is an error (invalid input), never a deny.
pub fn decide(
    action: &str,
    court: Option<&SubjectCourt>,
    config: &CourtConfig,
    policies: &PolicySet,
    facts: &mut dyn SubjectFacts,
    as_of: Day,
) -> Result<Decision, UnknownAction> {
    let mut reasons = Vec::new();
    let mut lift = Vec::new();
    let mut limit = None;
    let mut risk_amount = None;
    if let Some(spec) = actions::find(action) {
        catalogue_reasons(spec, court, config, as_of, &mut reasons, &mut lift);
    } else if let Some(offer) = policies.get(action) {
        limit = offer_decision(offer, court, config, facts, as_of, &mut reasons, &mut lift);
        risk_amount = offer.risk_amount;
    } else {
        return Err(UnknownAction(action.to_string()));
    }
    let outcome = if reasons.is_empty() {
        Outcome::Allow
    } else {
        Outcome::Deny
    };
    if outcome == Outcome::Deny {
        limit = None;
    }
    Ok(Decision {
        action: action.to_string(),
        outcome,
        reasons,
        lift,
        limit,
        risk_amount,
    })
}
