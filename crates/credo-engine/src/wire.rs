//! The JSON-lines wire format of events (see `docs/events.md`), parsed into domain events.
//! Pure: bytes in, an [`Event`] or a [`Reject`] out.

use credo_model::{
    Amount, BillStatus, ContactOp, Event, EventBody, RentalStatus, SubjectId, SubjectRecord, Text,
    Timestamp,
};
use serde::Deserialize;
use std::borrow::Cow;

/// The longest line accepted.
pub const MAX_LINE: usize = 1 << 20;
const MAX_ID: usize = 128;
const MAX_SOURCE: usize = 64;
const MAX_TEXT: usize = 4096;

/// Why a line was rejected: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub code: &'static str,
    pub message: String,
}

fn reject(code: &'static str, message: impl Into<String>) -> Reject {
    Reject {
        code,
        message: message.into(),
    }
}

mod scan;

/// Every field name an event line may carry (the JSON keys), in a fixed order.
pub use scan::FIELDS;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Wire<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subject: Option<Cow<'a, str>>,
    #[serde(borrow)]
    at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    // subject
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    industry: Option<Cow<'a, str>>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    #[serde(borrow, default)]
    address: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    phones: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    legal_rep: Option<Cow<'a, str>>,
    // money, references, statuses
    #[serde(default)]
    amount: Option<f64>,
    #[serde(rename = "ref", borrow, default)]
    reference: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    days_late: Option<u32>,
    #[serde(borrow, default)]
    case: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    court: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(default)]
    points: Option<u32>,
    #[serde(borrow, default)]
    authority: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    other: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    op: Option<Cow<'a, str>>,
    // court lifecycle and bans
    #[serde(default)]
    trigger: Option<u32>,
    #[serde(default)]
    grace_days: Option<u32>,
    #[serde(default)]
    years: Option<u32>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    scope: Option<Cow<'a, str>>,
    #[serde(default)]
    days: Option<u32>,
}

fn classify(e: &serde_json::Error) -> Reject {
    let msg = e.to_string();
    let code = match e.classify() {
        serde_json::error::Category::Data if msg.starts_with("unknown field") => "unknown_field",
        serde_json::error::Category::Data if msg.starts_with("missing field") => "missing_field",
        serde_json::error::Category::Data => "bad_field",
        _ => "bad_json",
    };
    Reject { code, message: msg }
}

fn need<T>(v: Option<T>, field: &str) -> Result<T, Reject> {
    v.ok_or_else(|| reject("missing_field", format!("missing field `{field}`")))
}

/// A required string field, as a `String` or an inline [`credo_model::Text`].
fn text<T: for<'x> From<&'x str>>(
    v: Option<Cow<'_, str>>,
    field: &str,
    max: usize,
) -> Result<T, Reject> {
    let s = need(v, field)?;
    if s.len() > max {
        return Err(reject(
            "bad_field",
            format!("`{field}` is longer than {max} bytes"),
        ));
    }
    Ok(T::from(s.as_ref()))
}

fn opt_text<T: for<'x> From<&'x str> + Default>(
    v: Option<Cow<'_, str>>,
    field: &str,
) -> Result<T, Reject> {
    match v {
        None => Ok(T::default()),
        some => text(some, field, MAX_TEXT),
    }
}

fn amount(v: Option<f64>) -> Result<Amount, Reject> {
    Amount::from_yuan(need(v, "amount")?)
        .map_err(|e| reject("bad_amount", format!("`amount`: {e}")))
}

fn subject_id(s: &str, field: &str) -> Result<SubjectId, Reject> {
    SubjectId::parse(s).map_err(|e| reject("bad_id", format!("`{field}`: {e}")))
}

/// The earliest accepted event time, 2000-01-01T00:00:00Z.
pub const EARLIEST: Timestamp = Timestamp(946_684_800);

/// Parses one line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<Event, Reject> {
    Parser::default().parse(line)
}

/// A line parser that remembers the last subject ID it validated: bulk files group a
/// subject's events, and checking an ID (region, birth date, check character) is a fair
/// share of the cost of a line.
#[derive(Default)]
pub struct Parser {
    last_subject: Option<(Text, SubjectId)>,
}

impl Parser {
    pub fn parse(&mut self, line: &[u8]) -> Result<Event, Reject> {
        self.parse_text(utf8_line(line)?)
    }

    /// [`Parser::parse`] of a line already known to be UTF-8 (bulk ingest validates a few
    /// thousand lines at once: one call instead of one a line).
    pub(crate) fn parse_str(&mut self, line: &str) -> Result<Event, Reject> {
        within_limit(line.as_bytes())?;
        self.parse_text(line)
    }

    /// A line within the limit and UTF-8.
    fn parse_text(&mut self, line: &str) -> Result<Event, Reject> {
        // Filled in place and lent to `to_event`: the struct is ~600 bytes, and moving it
        // by value cost two memcpys a line.
        let mut w = Wire::default();
        scan_str(line, &mut w)?;
        let subject = match (&w.subject, w.kind.as_deref()) {
            (Some(s), _) => Some(s.as_ref()),
            (None, Some("subject")) => w.id.as_deref(),
            (None, _) => None,
        };
        let known = match (subject, &self.last_subject) {
            (Some(s), Some((text, id))) if text.as_str() == s => Some(*id),
            _ => None,
        };
        let text = if known.is_none() {
            subject.map(Text::from)
        } else {
            None
        };
        let e = to_event(&mut w, known)?;
        if let Some(text) = text {
            self.last_subject = Some((text, e.subject));
        }
        Ok(e)
    }
}

/// A line within the length limit, or the rejection that says it is not.
fn within_limit(line: &[u8]) -> Result<(), Reject> {
    if line.len() > MAX_LINE {
        return Err(reject(
            "line_too_long",
            format!("line has {} bytes; the limit is {MAX_LINE}", line.len()),
        ));
    }
    Ok(())
}

/// A line as text: within the length limit and UTF-8, or the reason it is not.
fn utf8_line(line: &[u8]) -> Result<&str, Reject> {
    within_limit(line)?;
    // SIMD validation first (it runs over every input byte); std's only to name the column.
    simdutf8::basic::from_utf8(line).map_err(|_| {
        let col = std::str::from_utf8(line)
            .err()
            .map_or(0, |e| e.valid_up_to())
            + 1;
        reject(
            "not_utf8",
            format!("line is not UTF-8 (bad byte at column {col})"),
        )
    })
}

fn scan_str<'a>(s: &'a str, w: &mut Wire<'a>) -> Result<(), Reject> {
    if scan::scan_plain(s, w) {
        return Ok(());
    }
    *w = Wire::default();
    scan::scan(s, w)
}

/// The same as [`parse_line`], with serde_json doing the JSON: the reference the
/// hand-written scanner is tested against.
pub fn parse_line_reference(line: &[u8]) -> Result<Event, Reject> {
    within_limit(line)?;
    let s = std::str::from_utf8(line).map_err(|e| {
        reject(
            "not_utf8",
            format!(
                "line is not UTF-8 (bad byte at column {})",
                e.valid_up_to() + 1
            ),
        )
    })?;
    // serde would also read a struct from a JSON array of its fields in order; the format
    // is one object a line.
    if !s.trim_start().starts_with('{') {
        return Err(reject("bad_json", "expected a JSON object"));
    }
    let mut w: Wire<'_> = serde_json::from_str(s).map_err(|e| classify(&e))?;
    to_event(&mut w, None)
}

/// Validates the fields of one line. `known` is the subject when the caller has already
/// validated the same `subject` text.
fn to_event(w: &mut Wire<'_>, known: Option<SubjectId>) -> Result<Event, Reject> {
    let kind = need(w.kind.take(), "kind")?;
    let id: Text = text(w.id.take(), "id", MAX_ID)?;
    if id.is_empty() {
        return Err(reject("bad_field", "`id` is empty"));
    }
    let source: Text = match w.source.take() {
        None => Text::default(),
        some => text(some, "source", MAX_SOURCE)?,
    };
    let at_text = need(w.at.take(), "at")?;
    let at = Timestamp::parse(&at_text).map_err(|e| reject("bad_time", format!("`at`: {e}")))?;
    if at < EARLIEST {
        return Err(reject(
            "bad_time",
            format!("`at` {at} is before 2000-01-01"),
        ));
    }
    let subject_text = match (&w.subject, kind.as_ref()) {
        (Some(s), _) => s.as_ref(),
        (None, "subject") => id.as_str(),
        (None, _) => return Err(reject("missing_field", "missing field `subject`")),
    };
    let subject = match known {
        Some(id) => id,
        None => subject_id(subject_text, "subject")?,
    };
    let reference = |r: Option<Cow<'_, str>>| text(r, "ref", MAX_ID);
    let body = match kind.as_ref() {
        "subject" => {
            let name = text(w.name.take(), "name", MAX_TEXT)?;
            let region = match w.region.take() {
                None => subject.region().unwrap_or(0),
                Some(r) if r.len() == 6 && r.bytes().all(|b| b.is_ascii_digit()) => r
                    .parse()
                    .map_err(|_| reject("bad_field", "`region` must be 6 digits"))?,
                Some(r) => {
                    return Err(reject(
                        "bad_field",
                        format!("`region` {r:?} must be 6 digits"),
                    ));
                }
            };
            let (lat, lon) = match (w.lat, w.lon) {
                (None, None) => (f64::NAN, f64::NAN),
                (Some(la), Some(lo))
                    if (-90.0..=90.0).contains(&la) && (-180.0..=180.0).contains(&lo) =>
                {
                    (la, lo)
                }
                (Some(_), Some(_)) => return Err(reject("bad_field", "`lat`/`lon` out of range")),
                _ => return Err(reject("bad_field", "`lat` and `lon` come together")),
            };
            let phones = w
                .phones
                .take()
                .unwrap_or_default()
                .into_iter()
                .map(|p| {
                    if p.is_empty()
                        || p.len() > 20
                        || !p
                            .bytes()
                            .all(|b| b.is_ascii_digit() || b == b'+' || b == b'-')
                    {
                        Err(reject(
                            "bad_field",
                            format!("`phones`: {p:?} is not a phone number"),
                        ))
                    } else {
                        Ok(p.into_owned())
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            EventBody::Subject(SubjectRecord {
                name,
                region,
                industry: opt_text(w.industry.take(), "industry")?,
                lat,
                lon,
                address: opt_text(w.address.take(), "address")?,
                phones,
                legal_rep: match w.legal_rep.take() {
                    None => None,
                    some => Some(text(some, "legal_rep", MAX_TEXT)?),
                },
            })
        }
        "payment" => EventBody::Payment {
            amount: amount(w.amount)?,
        },
        "bill" => {
            let status = match need(w.status.take(), "status")?.as_ref() {
                "due" => BillStatus::Due,
                "paid" => BillStatus::Paid,
                "unpaid" => BillStatus::Unpaid,
                "late" => match w.days_late {
                    Some(d) if (1..=u32::from(u16::MAX)).contains(&d) => {
                        BillStatus::Late { days: d as u16 }
                    }
                    Some(d) => {
                        return Err(reject(
                            "bad_field",
                            format!("`days_late` {d} must be 1 to 65535 for a late bill"),
                        ));
                    }
                    None => {
                        return Err(reject(
                            "missing_field",
                            "missing field `days_late` (a late bill needs it)",
                        ));
                    }
                },
                other => {
                    return Err(reject(
                        "bad_field",
                        format!("`status` {other:?} must be due, paid, late or unpaid"),
                    ));
                }
            };
            EventBody::Bill {
                reference: reference(w.reference.take())?,
                amount: amount(w.amount)?,
                status,
            }
        }
        "loan" => EventBody::Loan {
            reference: reference(w.reference.take())?,
            amount: amount(w.amount)?,
        },
        "repayment" => EventBody::Repayment {
            reference: reference(w.reference.take())?,
            amount: amount(w.amount)?,
            days_late: u16::try_from(w.days_late.unwrap_or(0))
                .map_err(|_| reject("bad_field", "`days_late` must be at most 65535"))?,
        },
        "default" => EventBody::Default {
            reference: reference(w.reference.take())?,
            amount: amount(w.amount)?,
        },
        "rental" => EventBody::Rental {
            reference: reference(w.reference.take())?,
            status: match need(w.status.take(), "status")?.as_ref() {
                "started" => RentalStatus::Started,
                "returned" => RentalStatus::Returned,
                "unreturned" => RentalStatus::Unreturned,
                other => {
                    return Err(reject(
                        "bad_field",
                        format!("`status` {other:?} must be started, returned or unreturned"),
                    ));
                }
            },
        },
        "judgment" => EventBody::Judgment {
            case: text(w.case.take(), "case", MAX_ID)?,
            court: text(w.court.take(), "court", MAX_TEXT)?,
            amount: amount(w.amount)?,
        },
        "performance" => EventBody::Performance {
            case: text(w.case.take(), "case", MAX_ID)?,
            amount: amount(w.amount)?,
        },
        "violation" => EventBody::Violation {
            code: text(w.code.take(), "code", MAX_ID)?,
            points: match need(w.points, "points")? {
                p @ 0..=1000 => p as u16,
                p => {
                    return Err(reject(
                        "bad_field",
                        format!("`points` {p} must be 0 to 1000"),
                    ));
                }
            },
            authority: opt_text(w.authority.take(), "authority")?,
        },
        "listing" => EventBody::Listing {
            case: text(w.case.take(), "case", MAX_ID)?,
            court: text(w.court.take(), "court", MAX_TEXT)?,
            trigger: match need(w.trigger, "trigger")? {
                t @ 1..=6 => t as u8,
                t => {
                    return Err(reject(
                        "bad_field",
                        format!("`trigger` {t} must be 1 to 6 (the six grounds for listing)"),
                    ));
                }
            },
            grace_days: match w.grace_days {
                None => None,
                Some(d @ 0..=3650) => Some(d as u16),
                Some(d) => {
                    return Err(reject(
                        "bad_field",
                        format!("`grace_days` {d} must be 0 to 3650"),
                    ));
                }
            },
        },
        "restriction" => EventBody::Restriction {
            case: text(w.case.take(), "case", MAX_ID)?,
            court: text(w.court.take(), "court", MAX_TEXT)?,
        },
        "extension" => EventBody::Extension {
            case: text(w.case.take(), "case", MAX_ID)?,
            years: match need(w.years, "years")? {
                y @ 1..=3 => y as u8,
                y => {
                    return Err(reject("bad_field", format!("`years` {y} must be 1 to 3")));
                }
            },
        },
        "removal" => {
            let r = need(w.reason.take(), "reason")?;
            EventBody::Removal {
                case: text(w.case.take(), "case", MAX_ID)?,
                reason: credo_model::RemovalReason::parse(&r).ok_or_else(|| {
                    reject(
                        "bad_field",
                        format!(
                            "`reason` {r:?} must be performed, settlement, creditor_request, \
                             enforcement_ended, suspended or set_aside"
                        ),
                    )
                })?,
            }
        }
        "ban" => {
            let sc = need(w.scope.take(), "scope")?;
            EventBody::Ban {
                scope: credo_model::BanScope::parse(&sc).ok_or_else(|| {
                    reject(
                        "bad_field",
                        format!("`scope` {sc:?} must be rail, flight or travel"),
                    )
                })?,
                days: match need(w.days, "days")? {
                    d @ 1..=3650 => d as u16,
                    d => {
                        return Err(reject("bad_field", format!("`days` {d} must be 1 to 3650")));
                    }
                },
                code: text(w.code.take(), "code", MAX_ID)?,
                authority: opt_text(w.authority.take(), "authority")?,
            }
        }
        "contact" => {
            let other = subject_id(&need(w.other.take(), "other")?, "other")?;
            if other == subject {
                return Err(reject("bad_field", "`other` is the subject itself"));
            }
            EventBody::Contact {
                other,
                op: match w.op.as_deref() {
                    None | Some("add") => ContactOp::Add,
                    Some("remove") => ContactOp::Remove,
                    Some(o) => {
                        return Err(reject(
                            "bad_field",
                            format!("`op` {o:?} must be add or remove"),
                        ));
                    }
                },
            }
        }
        other => {
            return Err(reject(
                "unknown_kind",
                format!(
                    "unknown kind {other:?}; expected one of {}",
                    credo_model::event::KINDS.join(", ")
                ),
            ));
        }
    };
    Ok(Event {
        source,
        id,
        subject,
        at,
        body,
    })
}

/// An event in its JSON-lines form, as a furnisher would send it (the self-access report
/// shows data in the form it arrived). [`parse_line`] reads it back to the same event.
pub fn event_json(e: &Event) -> serde_json::Value {
    use credo_model::{BillStatus, ContactOp, EventBody as B};
    use serde_json::json;
    let mut v = json!({
        "id": e.id.as_str(),
        "source": e.source.as_str(),
        "subject": e.subject.to_string(),
        "at": e.at.to_string(),
        "kind": e.body.kind(),
    });
    let mut set = |k: &str, x: serde_json::Value| {
        v[k] = x;
    };
    match &e.body {
        B::Subject(r) => {
            set("name", json!(r.name));
            set("region", json!(format!("{:06}", r.region)));
            if !r.industry.is_empty() {
                set("industry", json!(r.industry));
            }
            if r.lat.is_finite() && r.lon.is_finite() {
                set("lat", json!(r.lat));
                set("lon", json!(r.lon));
            }
            if !r.address.is_empty() {
                set("address", json!(r.address));
            }
            if !r.phones.is_empty() {
                set("phones", json!(r.phones));
            }
            if let Some(l) = &r.legal_rep {
                set("legal_rep", json!(l));
            }
        }
        B::Payment { amount } => set("amount", json!(amount.yuan())),
        B::Bill {
            reference,
            amount,
            status,
        } => {
            set("ref", json!(reference.as_str()));
            set("amount", json!(amount.yuan()));
            set("status", json!(status.as_str()));
            if let BillStatus::Late { days } = status {
                set("days_late", json!(days));
            }
        }
        B::Loan { reference, amount } | B::Default { reference, amount } => {
            set("ref", json!(reference.as_str()));
            set("amount", json!(amount.yuan()));
        }
        B::Repayment {
            reference,
            amount,
            days_late,
        } => {
            set("ref", json!(reference.as_str()));
            set("amount", json!(amount.yuan()));
            set("days_late", json!(days_late));
        }
        B::Rental { reference, status } => {
            set("ref", json!(reference.as_str()));
            set("status", json!(status.as_str()));
        }
        B::Judgment {
            case,
            court,
            amount,
        } => {
            set("case", json!(case.as_str()));
            set("court", json!(court.as_str()));
            set("amount", json!(amount.yuan()));
        }
        B::Performance { case, amount } => {
            set("case", json!(case.as_str()));
            set("amount", json!(amount.yuan()));
        }
        B::Violation {
            code,
            points,
            authority,
        } => {
            set("code", json!(code.as_str()));
            set("points", json!(points));
            if !authority.as_str().is_empty() {
                set("authority", json!(authority.as_str()));
            }
        }
        B::Contact { other, op } => {
            set("other", json!(other.to_string()));
            set(
                "op",
                json!(match op {
                    ContactOp::Add => "add",
                    ContactOp::Remove => "remove",
                }),
            );
        }
        B::Listing {
            case,
            court,
            trigger,
            grace_days,
        } => {
            set("case", json!(case.as_str()));
            set("court", json!(court.as_str()));
            set("trigger", json!(trigger));
            if let Some(g) = grace_days {
                set("grace_days", json!(g));
            }
        }
        B::Restriction { case, court } => {
            set("case", json!(case.as_str()));
            set("court", json!(court.as_str()));
        }
        B::Extension { case, years } => {
            set("case", json!(case.as_str()));
            set("years", json!(years));
        }
        B::Removal { case, reason } => {
            set("case", json!(case.as_str()));
            set("reason", json!(reason.as_str()));
        }
        B::Ban {
            scope,
            days,
            code,
            authority,
        } => {
            set("scope", json!(scope.as_str()));
            set("days", json!(days));
            set("code", json!(code.as_str()));
            if !authority.as_str().is_empty() {
                set("authority", json!(authority.as_str()));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "11010519491231002X";

    fn line(s: &str) -> Result<Event, Reject> {
        parse_line(s.as_bytes())
    }

    #[test]
    fn every_kind_parses() {
        let cases = [
            format!(
                r#"{{"id":"{P}","kind":"subject","at":"2024-01-01","name":"王芳","region":"110105","lat":39.9,"lon":116.4,"phones":["13800138000"]}}"#
            ),
            format!(
                r#"{{"id":"p1","source":"alipay","subject":"{P}","at":"2025-03-14T09:30:00+08:00","kind":"payment","amount":12.5}}"#
            ),
            format!(
                r#"{{"id":"b1","subject":"{P}","at":"2025-03-14","kind":"bill","ref":"x","amount":1,"status":"late","days_late":3}}"#
            ),
            format!(
                r#"{{"id":"l1","subject":"{P}","at":"2025-03-14","kind":"loan","ref":"x","amount":1000}}"#
            ),
            format!(
                r#"{{"id":"r1","subject":"{P}","at":"2025-03-14","kind":"repayment","ref":"x","amount":100}}"#
            ),
            format!(
                r#"{{"id":"d1","subject":"{P}","at":"2025-03-14","kind":"default","ref":"x","amount":100}}"#
            ),
            format!(
                r#"{{"id":"t1","subject":"{P}","at":"2025-03-14","kind":"rental","ref":"x","status":"unreturned"}}"#
            ),
            format!(
                r#"{{"id":"j1","subject":"{P}","at":"2025-03-14","kind":"judgment","case":"(2025)京0105执1号","court":"c","amount":5}}"#
            ),
            format!(
                r#"{{"id":"f1","subject":"{P}","at":"2025-03-14","kind":"performance","case":"(2025)京0105执1号","amount":5}}"#
            ),
            format!(
                r#"{{"id":"v1","subject":"{P}","at":"2025-03-14","kind":"violation","code":"red_light","points":50}}"#
            ),
            format!(
                r#"{{"id":"c1","subject":"{P}","at":"2025-03-14","kind":"contact","other":"440524188001010014"}}"#
            ),
            format!(
                r#"{{"id":"s1","subject":"{P}","at":"2025-03-14","kind":"listing","case":"(2025)京0105执1号","court":"c","trigger":1,"grace_days":30}}"#
            ),
            format!(
                r#"{{"id":"s2","subject":"{P}","at":"2025-03-14","kind":"restriction","case":"(2025)京0105执1号","court":"c"}}"#
            ),
            format!(
                r#"{{"id":"s3","subject":"{P}","at":"2025-03-14","kind":"extension","case":"(2025)京0105执1号","years":2}}"#
            ),
            format!(
                r#"{{"id":"s4","subject":"{P}","at":"2025-03-14","kind":"removal","case":"(2025)京0105执1号","reason":"creditor_request"}}"#
            ),
            format!(
                r#"{{"id":"s5","subject":"{P}","at":"2025-03-14","kind":"ban","scope":"rail","days":180,"code":"smoking_on_bullet_train"}}"#
            ),
        ];
        let kinds: Vec<&str> = cases
            .iter()
            .map(|c| {
                line(c)
                    .map(|e| {
                        assert_eq!(
                            credo_model::event::KINDS[e.body.kind_index()],
                            e.body.kind()
                        );
                        e.body.kind()
                    })
                    .unwrap_or_else(|r| panic!("{c}: {r:?}"))
            })
            .collect();
        assert_eq!(kinds, credo_model::event::KINDS);
    }

    #[test]
    fn rejections_carry_codes_and_name_the_field() {
        let bad = |s: String| line(&s).unwrap_err();
        let r = bad(r#"{"id":"x","subject":"110105194912310021","at":"2025-01-01","kind":"payment","amount":1}"#.to_string());
        assert_eq!(r.code, "bad_id");
        assert_eq!(
            r.message,
            "`subject`: resident id check character is '1' but should be 'X'"
        );
        assert_eq!(
            bad(format!(
                r#"{{"id":"x","subject":"{P}","at":"2025-01-01","kind":"payment","amount":-1}}"#
            ))
            .code,
            "bad_amount"
        );
        assert_eq!(
            bad(format!(
                r#"{{"id":"x","subject":"{P}","at":"2025-01-01","kind":"payment"}}"#
            ))
            .code,
            "missing_field"
        );
        assert_eq!(
            bad(format!(
                r#"{{"id":"x","subject":"{P}","at":"2025-02-30","kind":"payment","amount":1}}"#
            ))
            .code,
            "bad_time"
        );
        assert_eq!(
            bad(format!(
                r#"{{"id":"x","subject":"{P}","at":"1999-12-31","kind":"payment","amount":1}}"#
            ))
            .code,
            "bad_time"
        );
        assert_eq!(
            bad(format!(
                r#"{{"id":"x","subject":"{P}","at":"2025-01-01","kind":"tweet"}}"#
            ))
            .code,
            "unknown_kind"
        );
        assert_eq!(
            bad(format!(
                r#"{{"id":"x","subject":"{P}","at":"2025-01-01","kind":"payment","amont":1}}"#
            ))
            .code,
            "unknown_field"
        );
        assert_eq!(
            bad(format!(
                r#"{{"id":"x","subject":"{P}","at":"2025-01-01","kind":"payment","amount":"1"}}"#
            ))
            .code,
            "bad_field"
        );
        assert_eq!(bad(r#"{"id":"x","#.to_string()).code, "bad_json");
        assert_eq!(
            parse_line(b"{\"id\":\"\xff\"}").unwrap_err().code,
            "not_utf8"
        );
        assert_eq!(
            bad(format!(
                r#"{{"id":"x","subject":"{P}","at":"2025-01-01","kind":"payment","amount":1e400}}"#
            ))
            .code,
            "bad_json"
        );
        let long = format!(r#"{{"id":"{}"}}"#, "a".repeat(MAX_LINE));
        assert_eq!(bad(long).code, "line_too_long");
    }
}
