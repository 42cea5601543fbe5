//! The JSON bodies of scores, decisions and the self-access report: one shape whether it
//! comes over HTTP or from `credo … --json`. Built by hand, not derived from the engine's
//! types, so that renaming an internal field cannot change the wire.

use credo_access::{DisputeState, Grant, Inquiry};
use credo_engine::{Engine, EngineError, ScoreView};
use credo_model::{Day, Event, SubjectId};
use credo_score::Model;
use serde_json::{Value, json};

pub fn month(m: i32) -> String {
    Day::month_label(m)
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn score_json(v: &ScoreView, model: &Model) -> Value {
    let c = &v.card;
    let dims: serde_json::Map<String, Value> = c
        .dimensions
        .iter()
        .map(|d| {
            (
                d.dimension.as_str().to_string(),
                json!({"percent": d.percent, "points": round2(d.points), "max_points": round2(d.max_points)}),
            )
        })
        .collect();
    json!({
        "subject": v.subject.to_string(),
        "name": v.name,
        "score": c.score,
        "tier": c.tier,
        "range": {"min": model.min, "max": model.max},
        "as_of": c.as_of.to_string(),
        "model": v.model,
        "dimensions": dims,
        "reasons": c.reasons.iter().map(|r| json!({
            "code": r.code, "text": r.text, "feature": r.feature,
            "value": r.value.map(round2), "points_lost": round2(r.lost),
        })).collect::<Vec<_>>(),
        "features": c.features.iter().map(|f| json!({"name": f.name, "value": f.value.map(round2), "points": round2(f.points)})).collect::<Vec<_>>(),
        "history": v.history.iter().map(|(m, s)| json!({"month": month(*m), "score": s})).collect::<Vec<_>>(),
    })
}

pub fn decision_json(d: &credo_engine::Decision, subject: &str) -> Value {
    let mut v = json!({
        "subject": subject,
        "action": d.action,
        "decision": d.outcome.as_str(),
        "reasons": d.reasons.iter().map(|r| {
            let mut o = json!({"code": r.code, "text": r.text});
            if let Some(c) = &r.case { o["case"] = json!(c); }
            if let Some(c) = &r.court { o["court"] = json!(c); }
            if let Some(u) = r.until { o["until"] = json!(u.to_string()); }
            if let Some(t) = r.threshold { o["threshold"] = json!(t); }
            o
        }).collect::<Vec<_>>(),
        "lift": d.lift.iter().map(|l| json!({"code": l.code, "text": l.text})).collect::<Vec<_>>(),
    });
    if let Some(l) = d.limit {
        v["limit"] = json!(l);
    }
    if let Some(r) = d.risk_amount {
        v["risk_amount"] = json!(r);
    }
    v
}

pub fn grant_json(g: &Grant, today: Day) -> Value {
    json!({
        "id": g.id,
        "party": g.party,
        "purpose": g.purpose,
        "granted": g.granted.to_string(),
        "until": g.until.to_string(),
        "revoked": g.revoked.map(|t| t.to_string()),
        "valid": g.valid_on(today),
    })
}

/// A key as listed (never its token or hash).
pub fn key_json(k: &credo_access::KeyRecord) -> Value {
    json!({
        "id": k.id,
        "role": k.role.name(),
        "party": k.party,
        "created": k.created.to_string(),
        "revoked": k.revoked.map(|t| t.to_string()),
    })
}

pub fn inquiry_json(q: &Inquiry) -> Value {
    json!({
        "at": q.at.to_string(),
        "role": q.role.name(),
        "party": q.party,
        "what": q.what,
        "answer": q.answer,
    })
}

pub fn dispute_json(d: &credo_access::Dispute, ids: IdSpace) -> Value {
    let mut v = json!({
        "id": ids.public(d.id),
        "subject": d.subject.to_string(),
        "source": d.source,
        "event": d.event,
        "reason": d.reason,
        "filed": d.filed.to_string(),
        "status": "open",
    });
    if let DisputeState::Resolved {
        resolution,
        by,
        at,
        note,
    } = &d.state
    {
        v["status"] = json!(resolution.name());
        v["resolved_by"] = json!(by);
        v["resolved_at"] = json!(at.to_string());
        v["note"] = json!(note);
        if let credo_access::Resolution::Corrected { replacement } = resolution {
            v["replacement"] = json!(replacement);
        }
    }
    v
}

fn event_json(e: &Event, retracted: bool) -> Value {
    // The event's own wire form (what the furnisher sent), plus whether it still counts.
    let mut v = credo_engine::wire::event_json(e);
    v["counts"] = json!(!retracted);
    v
}

/// The self-access report: all data held about the subject, its sources, its recipients,
/// every score or answer sent in the last 12 months, consents and disputes.
pub fn report_json(engine: &Engine, id: SubjectId) -> Result<Value, EngineError> {
    let today = engine.today();
    let events = engine.subject_events(id)?;
    let mut sources: Vec<&str> = events.iter().map(|e| e.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    let cutoff = credo_access::retention_cutoff(today);
    let inquiries: Vec<&Inquiry> = engine
        .inquiries()
        .of(id)
        .iter()
        .filter(|q| q.at.day() >= cutoff)
        .collect();
    let mut recipients: Vec<&str> = inquiries.iter().map(|q| q.party.as_str()).collect();
    recipients.sort_unstable();
    recipients.dedup();
    let score = match engine.score(id, None) {
        Ok(v) => Some(score_json(&v, engine.model())),
        Err(EngineError::UnknownSubject(_)) => None,
        Err(e) => return Err(e),
    };
    let access = engine.access();
    let ids = IdSpace::of(engine.partition());
    Ok(json!({
        "subject": id.to_string(),
        "as_of": today.to_string(),
        "score": score,
        "data": events.iter().map(|e| event_json(e, engine.is_retracted(e))).collect::<Vec<_>>(),
        "sources": sources,
        "recipients": recipients,
        "inquiries": inquiries.iter().map(|q| inquiry_json(q)).collect::<Vec<_>>(),
        "inquiries_kept_since": cutoff.to_string(),
        "consents": access.consents.of(id).map(|g| grant_json(g, today)).collect::<Vec<_>>(),
        "disputes": access.disputes.iter().filter(|d| d.subject == id).map(|d| dispute_json(d, ids)).collect::<Vec<_>>(),
    }))
}

/// The score as a third party receives it (no feature values): score, tier, range,
/// dimensions and reasons.
pub fn third_party_score_json(v: &ScoreView, model: &Model) -> Value {
    let mut j = score_json(v, model);
    if let Some(o) = j.as_object_mut() {
        o.remove("features");
        o.remove("history");
    }
    j
}

pub fn audit_verify_json(v: &credo_engine::access::AuditVerify) -> Value {
    let hex = credo_engine::access::hex;
    json!({
        "entries": v.entries,
        "head": v.head.map(|(seq, h)| json!({"seq": seq, "hash": hex(&h)})),
        "last_hash": hex(&v.last_hash),
        "torn_tail_bytes": v.torn_tail_bytes,
        "ok": v.result.is_ok(),
        "problem": v.result.as_ref().err().map(|e| json!({
            "position": e.position, "seq": e.seq, "kind": format!("{:?}", e.kind), "message": e.to_string(),
        })),
    })
}

/// An audit entry as listed (`credo audit log`, `GET /v1/audit`).
pub fn audit_entry_json(e: &credo_engine::access::AuditEntry) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at.to_string(),
        "actor": e.actor,
        "op": e.op.name(),
        "hash": credo_engine::access::hex(&e.hash),
    })
}

/// One published case on the map: the court list's published fields (ID masked), the
/// distance from the point asked about, and the snapped location. Never the address.
pub fn map_entry_json(m: &credo_engine::MapEntry) -> Value {
    let e = &m.entry;
    json!({
        "key": m.key,
        "name": e.name,
        "id_masked": e.masked_id,
        "credit_code": e.credit_code,
        "kind": if e.credit_code.is_some() { "company" } else { "person" },
        "distance_m": m.distance_m.map(|d| (d * 10.0).round() / 10.0),
        "lat": m.lat,
        "lon": m.lon,
        "case": e.case,
        "court": e.court,
        "amount": round2(e.unperformed),
        "obligation": round2(e.obligation),
        "performance": e.performance,
        "behaviour": e.behaviour,
        "published_on": e.published_on,
    })
}

pub fn nearby_json(n: &credo_engine::Nearby) -> Value {
    json!({
        "results": n.entries.iter().map(map_entry_json).collect::<Vec<_>>(),
        "count": n.entries.len(),
        "debtors": n.debtors,
        "level": n.level.as_str(),
        "truncated": n.truncated,
        "radius_m": n.radius_m,
        "cell_m": n.cell_m,
        "as_of": n.as_of.to_string(),
    })
}

pub fn map_alert_json(a: &credo_engine::MapAlert) -> Value {
    match a {
        credo_engine::MapAlert::Enter(cases) => json!({
            "type": "enter",
            "key": cases.first().map(|c| c.key.clone()),
            "cases": cases.iter().map(map_entry_json).collect::<Vec<_>>(),
        }),
        credo_engine::MapAlert::Leave { key } => json!({"type": "leave", "key": key}),
    }
}

/// A call-screening answer: never the subject, only what the caller is told.
pub fn screen_json(s: &credo_engine::calls::Screen) -> Value {
    let mut v = json!({ "warn": s.warn });
    if s.warn {
        v["message"] = json!(s.message);
        v["court"] = json!(s.court);
        v["case"] = json!(s.case);
        if let Some(sms) = &s.sms {
            v["sms"] = json!(sms);
        }
    }
    v
}

/// A notice plan: sizes per criterion, the merged size, and up to `members` masked IDs.
pub fn notice_plan_json(p: &credo_engine::NoticePlan, members: usize) -> Value {
    let o = &p.options;
    json!({
        "case": p.case,
        "court": p.court,
        "debtor": p.debtor.masked(),
        "criteria": {
            "radius_km": o.radius_km,
            "same_region": o.same_region,
            "industry": credo_engine::notices::IndustryMatch::name(o.industry),
            "hops": o.hops,
            "cap": o.cap,
        },
        "by_criterion": {
            "radius": p.by_radius,
            "region": p.by_region,
            "industry": p.by_industry,
            "contacts": p.by_contacts,
        },
        "size": p.size,
        "capped": p.capped,
        "delivered": p.delivered,
        "members": p.members.iter().take(members).map(|m| m.masked()).collect::<Vec<_>>(),
    })
}

/// What a full propagation did.
pub fn propagation_json(r: &credo_engine::PropagationReport, seconds: f64) -> Value {
    json!({
        "propagated": true,
        "as_of": r.as_of.to_string(),
        "subjects": r.subjects,
        "contacts": r.contacts,
        "iterations": r.iterations,
        "residual": r.residual,
        "converged": r.converged,
        "damping": r.damping,
        "tolerance": r.tolerance,
        "edge_visits": r.edge_visits,
        "seconds": seconds,
        "edges_per_s": r.edge_visits as f64 / seconds.max(1e-9),
        "costing": r.costing,
        "max_points_lost": r.max_points_lost,
        "cap_points": r.cap_points,
        "contacts_mean_quantiles": {"p10": r.quantiles[0], "p25": r.quantiles[1], "p50": r.quantiles[2], "p75": r.quantiles[3], "p90": r.quantiles[4]},
    })
}

/// `/v1/stats` from a folder's tally, or from the sum of a cluster's partitions'.
pub fn stats_json(t: &credo_engine::Tally, model: &credo_score::Model) -> Value {
    json!({
        "as_of": t.as_of,
        "model": t.model,
        "subjects": t.subjects,
        "companies": t.companies,
        "events": t.events,
        "mean_score": (t.mean() * 10.0).round() / 10.0,
        "median_score": t.median(),
        "bands": t.bands(model).iter().map(|(from, to, count)| json!({"from": from, "to": to, "count": count})).collect::<Vec<_>>(),
        "tiers": t.tiers(model).iter().map(|(tier, count)| json!({"tier": tier, "count": count})).collect::<Vec<_>>(),
        "with_unpaid_judgments": t.with_unpaid_judgments,
        "listed": t.listed,
    })
}

/// The ids of a folder's disputes and tip-offs as clients see them. They are audit
/// sequence numbers, unique in one folder; a cluster partition's are made unique across
/// the cluster as `seq · P + p` (partition `p` of `P`), so that any node can tell a
/// dispute's partition from its id. On one machine they are the sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSpace {
    stride: u64,
    offset: u64,
}

impl IdSpace {
    /// The id space of a folder that is partition `p` of `n`, or of one machine.
    pub fn of(partition: Option<(u32, u32)>) -> IdSpace {
        match partition {
            Some((p, n)) if n > 0 => IdSpace {
                stride: u64::from(n),
                offset: u64::from(p),
            },
            _ => IdSpace {
                stride: 1,
                offset: 0,
            },
        }
    }

    /// The id clients see for local sequence number `seq`.
    pub fn public(self, seq: u64) -> u64 {
        seq.saturating_mul(self.stride).saturating_add(self.offset)
    }

    /// The local sequence number of a client's id, if the id is this folder's.
    pub fn local(self, id: u64) -> Option<u64> {
        (id % self.stride == self.offset).then_some(id / self.stride)
    }

    /// The partition of `id` among `n` (the cluster's router).
    pub fn partition_of(id: u64, n: u32) -> u32 {
        (id % u64::from(n.max(1))) as u32
    }
}
