//! The disk format of one event record (format version 1). Hand-written rather than
//! derived so that the bytes are fixed by this file and `docs/storage.md`, not by a
//! serialisation library's version, and because it runs once per event on ingest and replay.
//!
//! Layout: `kind: u8`, `at: i64`, `subject key: u128`, `source: str`, `id: str`, then the
//! kind's fields in declaration order. Integers are little-endian; `str` is a `u32` length
//! and UTF-8 bytes; `f64` is IEEE 754 bits; `opt str` is a `u8` 0/1 then a `str`.

use credo_model::{
    Amount, BanScope, BillStatus, ContactOp, Event, EventBody, RemovalReason, RentalStatus,
    SubjectId, SubjectRecord, Text, Timestamp,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("record ends early")]
    Short,
    #[error("unknown kind tag {0}")]
    Kind(u8),
    #[error("unknown {what} tag {tag}")]
    Tag { what: &'static str, tag: u8 },
    #[error("string is not UTF-8")]
    Utf8,
    #[error("bad subject key")]
    Subject,
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

struct W<'a>(&'a mut Vec<u8>);

impl W<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(s.as_bytes());
    }
}

struct R<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let s = self.b.get(self.at..self.at + n).ok_or(CodecError::Short)?;
        self.at += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn i64(&mut self) -> Result<i64, CodecError> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    fn u128(&mut self) -> Result<u128, CodecError> {
        Ok(u128::from_le_bytes(self.arr()?))
    }
    fn f64(&mut self) -> Result<f64, CodecError> {
        Ok(f64::from_bits(u64::from_le_bytes(self.arr()?)))
    }
    fn str(&mut self) -> Result<String, CodecError> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| CodecError::Utf8)
    }
    fn text(&mut self) -> Result<Text, CodecError> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(Text::from)
            .map_err(|_| CodecError::Utf8)
    }
    fn amount(&mut self) -> Result<Amount, CodecError> {
        Ok(Amount(self.i64()?))
    }
    fn subject(&mut self) -> Result<SubjectId, CodecError> {
        SubjectId::from_key(self.u128()?).map_err(|_| CodecError::Subject)
    }
}

/// Appends the encoding of `e` to `out`.
pub fn encode_event(e: &Event, out: &mut Vec<u8>) {
    let mut w = W(out);
    let tag = match &e.body {
        EventBody::Subject(_) => 1,
        EventBody::Payment { .. } => 2,
        EventBody::Bill { .. } => 3,
        EventBody::Loan { .. } => 4,
        EventBody::Repayment { .. } => 5,
        EventBody::Default { .. } => 6,
        EventBody::Rental { .. } => 7,
        EventBody::Judgment { .. } => 8,
        EventBody::Performance { .. } => 9,
        EventBody::Violation { .. } => 10,
        EventBody::Contact { .. } => 11,
        EventBody::Listing { .. } => 12,
        EventBody::Restriction { .. } => 13,
        EventBody::Extension { .. } => 14,
        EventBody::Removal { .. } => 15,
        EventBody::Ban { .. } => 16,
    };
    w.u8(tag);
    w.i64(e.at.0);
    w.u128(e.subject.key());
    w.str(&e.source);
    w.str(&e.id);
    match &e.body {
        EventBody::Subject(r) => {
            w.str(&r.name);
            w.u32(r.region);
            w.str(&r.industry);
            w.f64(r.lat);
            w.f64(r.lon);
            w.str(&r.address);
            w.u32(r.phones.len() as u32);
            for p in &r.phones {
                w.str(p);
            }
            match &r.legal_rep {
                Some(l) => {
                    w.u8(1);
                    w.str(l);
                }
                None => w.u8(0),
            }
        }
        EventBody::Payment { amount } => w.i64(amount.0),
        EventBody::Bill {
            reference,
            amount,
            status,
        } => {
            w.str(reference);
            w.i64(amount.0);
            let (t, days) = match status {
                BillStatus::Due => (0, 0),
                BillStatus::Paid => (1, 0),
                BillStatus::Late { days } => (2, *days),
                BillStatus::Unpaid => (3, 0),
            };
            w.u8(t);
            w.u16(days);
        }
        EventBody::Loan { reference, amount } | EventBody::Default { reference, amount } => {
            w.str(reference);
            w.i64(amount.0);
        }
        EventBody::Repayment {
            reference,
            amount,
            days_late,
        } => {
            w.str(reference);
            w.i64(amount.0);
            w.u16(*days_late);
        }
        EventBody::Rental { reference, status } => {
            w.str(reference);
            w.u8(match status {
                RentalStatus::Started => 0,
                RentalStatus::Returned => 1,
                RentalStatus::Unreturned => 2,
            });
        }
        EventBody::Judgment {
            case,
            court,
            amount,
        } => {
            w.str(case);
            w.str(court);
            w.i64(amount.0);
        }
        EventBody::Performance { case, amount } => {
            w.str(case);
            w.i64(amount.0);
        }
        EventBody::Violation {
            code,
            points,
            authority,
        } => {
            w.str(code);
            w.u16(*points);
            w.str(authority);
        }
        EventBody::Contact { other, op } => {
            w.u128(other.key());
            w.u8(match op {
                ContactOp::Add => 0,
                ContactOp::Remove => 1,
            });
        }
        EventBody::Listing {
            case,
            court,
            trigger,
            grace_days,
        } => {
            w.str(case);
            w.str(court);
            w.u8(*trigger);
            match grace_days {
                Some(d) => {
                    w.u8(1);
                    w.u16(*d);
                }
                None => w.u8(0),
            }
        }
        EventBody::Restriction { case, court } => {
            w.str(case);
            w.str(court);
        }
        EventBody::Extension { case, years } => {
            w.str(case);
            w.u8(*years);
        }
        EventBody::Removal { case, reason } => {
            w.str(case);
            w.u8(RemovalReason::ALL
                .iter()
                .position(|r| r == reason)
                .unwrap_or(0) as u8);
        }
        EventBody::Ban {
            scope,
            days,
            code,
            authority,
        } => {
            w.u8(BanScope::ALL.iter().position(|b| b == scope).unwrap_or(0) as u8);
            w.u16(*days);
            w.str(code);
            w.str(authority);
        }
    }
}

pub fn decode_event(b: &[u8]) -> Result<Event, CodecError> {
    let mut r = R { b, at: 0 };
    let tag = r.u8()?;
    let at = Timestamp(r.i64()?);
    let subject = r.subject()?;
    let source = r.text()?;
    let id = r.text()?;
    let body = match tag {
        1 => {
            let name = r.str()?;
            let region = r.u32()?;
            let industry = r.str()?;
            let lat = r.f64()?;
            let lon = r.f64()?;
            let address = r.str()?;
            let n = r.u32()? as usize;
            let mut phones = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                phones.push(r.str()?);
            }
            let legal_rep = match r.u8()? {
                0 => None,
                1 => Some(r.str()?),
                t => {
                    return Err(CodecError::Tag {
                        what: "option",
                        tag: t,
                    });
                }
            };
            EventBody::Subject(SubjectRecord {
                name,
                region,
                industry,
                lat,
                lon,
                address,
                phones,
                legal_rep,
            })
        }
        2 => EventBody::Payment {
            amount: r.amount()?,
        },
        3 => {
            let reference = r.text()?;
            let amount = r.amount()?;
            let t = r.u8()?;
            let days = r.u16()?;
            // Strict: only the canonical encoding decodes, so damage cannot hide in a
            // field that would be ignored.
            let status = match (t, days) {
                (0, 0) => BillStatus::Due,
                (1, 0) => BillStatus::Paid,
                (2, days) => BillStatus::Late { days },
                (3, 0) => BillStatus::Unpaid,
                (0..=3, _) => {
                    return Err(CodecError::Tag {
                        what: "days_late of a bill that is not late",
                        tag: t,
                    });
                }
                (t, _) => {
                    return Err(CodecError::Tag {
                        what: "bill status",
                        tag: t,
                    });
                }
            };
            EventBody::Bill {
                reference,
                amount,
                status,
            }
        }
        4 => EventBody::Loan {
            reference: r.text()?,
            amount: r.amount()?,
        },
        5 => EventBody::Repayment {
            reference: r.text()?,
            amount: r.amount()?,
            days_late: r.u16()?,
        },
        6 => EventBody::Default {
            reference: r.text()?,
            amount: r.amount()?,
        },
        7 => {
            let reference = r.text()?;
            let status = match r.u8()? {
                0 => RentalStatus::Started,
                1 => RentalStatus::Returned,
                2 => RentalStatus::Unreturned,
                t => {
                    return Err(CodecError::Tag {
                        what: "rental status",
                        tag: t,
                    });
                }
            };
            EventBody::Rental { reference, status }
        }
        8 => EventBody::Judgment {
            case: r.text()?,
            court: r.text()?,
            amount: r.amount()?,
        },
        9 => EventBody::Performance {
            case: r.text()?,
            amount: r.amount()?,
        },
        10 => EventBody::Violation {
            code: r.text()?,
            points: r.u16()?,
            authority: r.text()?,
        },
        11 => {
            let other = r.subject()?;
            let op = match r.u8()? {
                0 => ContactOp::Add,
                1 => ContactOp::Remove,
                t => {
                    return Err(CodecError::Tag {
                        what: "contact op",
                        tag: t,
                    });
                }
            };
            EventBody::Contact { other, op }
        }
        12 => {
            let case = r.text()?;
            let court = r.text()?;
            let trigger = r.u8()?;
            if !(1..=6).contains(&trigger) {
                return Err(CodecError::Tag {
                    what: "listing trigger",
                    tag: trigger,
                });
            }
            let grace_days = match r.u8()? {
                0 => None,
                1 => Some(r.u16()?),
                t => {
                    return Err(CodecError::Tag {
                        what: "grace days flag",
                        tag: t,
                    });
                }
            };
            EventBody::Listing {
                case,
                court,
                trigger,
                grace_days,
            }
        }
        13 => EventBody::Restriction {
            case: r.text()?,
            court: r.text()?,
        },
        14 => {
            let case = r.text()?;
            let years = r.u8()?;
            if !(1..=3).contains(&years) {
                return Err(CodecError::Tag {
                    what: "extension years",
                    tag: years,
                });
            }
            EventBody::Extension { case, years }
        }
        15 => {
            let case = r.text()?;
            let t = r.u8()?;
            let reason = *RemovalReason::ALL
                .get(usize::from(t))
                .ok_or(CodecError::Tag {
                    what: "removal reason",
                    tag: t,
                })?;
            EventBody::Removal { case, reason }
        }
        16 => {
            let t = r.u8()?;
            let scope = *BanScope::ALL.get(usize::from(t)).ok_or(CodecError::Tag {
                what: "ban scope",
                tag: t,
            })?;
            EventBody::Ban {
                scope,
                days: r.u16()?,
                code: r.text()?,
                authority: r.text()?,
            }
        }
        t => return Err(CodecError::Kind(t)),
    };
    if r.at != b.len() {
        return Err(CodecError::Trailing(b.len() - r.at));
    }
    Ok(Event {
        source,
        id,
        subject,
        at,
        body,
    })
}
