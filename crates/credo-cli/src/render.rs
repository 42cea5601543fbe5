//! Human and JSON renderings of the CLI's answers. The JSON shapes are the CLI's own
//! wire types, documented in the README; they are built here, not derived from the
//! engine's types, so that renaming an internal field cannot change them.

use credo_engine::{IngestReport, ScoreView, Summary};
use credo_score::Model;
pub use credo_server::body::{decision_json, score_json};
use credo_server::body::{month, round2};
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::Path;

pub fn score_text(v: &ScoreView, model: &Model) -> String {
    let c = &v.card;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}  {}",
        v.name.as_deref().unwrap_or("(no name on record)"),
        v.subject
    );
    let _ = writeln!(
        s,
        "score {} ({}) on {}–{}, as of {}, model {}",
        c.score, c.tier, model.min, model.max, c.as_of, v.model
    );
    let _ = writeln!(s);
    for d in &c.dimensions {
        if d.max_points <= 0.0 {
            // A fitted model may leave a whole dimension out.
            let _ = writeln!(
                s,
                "  {:<15} {}       (not scored by this model)",
                d.dimension.as_str().replace('_', " "),
                "·".repeat(20)
            );
            continue;
        }
        let filled = usize::from(d.percent) / 5;
        let _ = writeln!(
            s,
            "  {:<15} {}{} {:>3} %  ({:.0} of {:.0} points)",
            d.dimension.as_str().replace('_', " "),
            "█".repeat(filled),
            "░".repeat(20 - filled),
            d.percent,
            d.points,
            d.max_points
        );
    }
    let _ = writeln!(s);
    if c.reasons.is_empty() {
        let _ = writeln!(s, "no factor costs points");
    } else {
        let _ = writeln!(s, "what costs the most points:");
        for r in &c.reasons {
            let value = r
                .value
                .map_or("none".to_string(), |x| format!("{}", round2(x)));
            let _ = writeln!(
                s,
                "  {}  {} (value {value}; −{:.0} points)",
                r.code, r.text, r.lost
            );
        }
    }
    if !v.history.is_empty() {
        let _ = writeln!(s);
        let items: Vec<String> = v
            .history
            .iter()
            .map(|(m, sc)| format!("{} {sc}", month(*m)))
            .collect();
        let _ = write!(s, "history (score at month end): {}", items.join(" · "));
    }
    s.trim_end().to_string()
}

pub fn ingest_json(r: &IngestReport, secs: f64) -> Value {
    json!({
        "accepted": r.accepted,
        "duplicates": r.duplicates,
        "rejected": r.rejected,
        "lines": r.lines,
        "bytes": r.bytes,
        "seconds": round2(secs),
        "events_per_s": if secs > 0.0 { (r.accepted + r.duplicates) as f64 / secs } else { 0.0 }.round(),
        "errors": r.errors.iter().map(|e| json!({"file": e.file, "line": e.line, "code": e.code, "message": e.message})).collect::<Vec<_>>(),
    })
}

pub fn ingest_text(r: &IngestReport, secs: f64) -> String {
    let mut s = format!(
        "ingested {} lines ({:.1} MB) in {secs:.2} s: {} accepted, {} duplicates, {} rejected",
        r.lines,
        r.bytes as f64 / 1e6,
        r.accepted,
        r.duplicates,
        r.rejected
    );
    for e in r.errors.iter().take(20) {
        let _ = write!(s, "\n  {}:{}: {}: {}", e.file, e.line, e.code, e.message);
    }
    if r.rejected as usize > r.errors.len().min(20) {
        let _ = write!(
            s,
            "\n  … {} more rejections (see --json)",
            r.rejected as usize - r.errors.len().min(20)
        );
    }
    s
}

pub fn generated_json(g: &credo_sim::Summary, out: &Path, secs: f64) -> Value {
    json!({
        "out": out.display().to_string(),
        "people": g.people, "companies": g.companies, "events": g.events, "contacts": g.contacts,
        "with_unpaid_judgments": g.with_unpaid_judgments, "bad_labels": g.bad_labels,
        "seconds": round2(secs),
    })
}

pub fn generated_text(g: &credo_sim::Summary, out: &Path, secs: f64) -> String {
    format!(
        "generated {} people and {} companies in {secs:.1} s into {}: {} events, {} contacts, {} with unpaid judgments, {} bad outcome labels",
        g.people,
        g.companies,
        out.display(),
        g.events,
        g.contacts,
        g.with_unpaid_judgments,
        g.bad_labels
    )
}

pub fn summary_json(s: &Summary) -> Value {
    let f = &s.footprint;
    json!({
        "as_of": s.as_of.to_string(),
        "model": s.model,
        "subjects": s.subjects,
        "companies": s.companies,
        "events": s.events,
        "events_by_kind": s.by_kind.iter().map(|(k, n)| (k.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "contact_edges": s.edges,
        "score": {"mean": round2(s.mean), "median": s.median},
        "bands": s.bands.iter().map(|(lo, hi, n)| json!({"from": lo, "to": hi, "count": n})).collect::<Vec<_>>(),
        "tiers": s.tiers.iter().map(|(t, n)| json!({"tier": t, "count": n})).collect::<Vec<_>>(),
        "with_unpaid_judgments": s.with_unpaid_judgments,
        "listed": s.listed,
        "restricted": s.restricted,
        "unpaid_judgment_yuan": round2(s.unpaid_judgment_yuan),
        "memory": {
            "scoring_state_bytes_per_subject": f.scoring.dense_bytes_per_subject + 4,
            "index_bytes_per_subject": round2(f.index_bytes_per_subject),
            "sparse_ledger_entries": f.scoring.sparse_entries,
            "sparse_ledger_bytes": f.scoring.sparse_bytes,
            "history_entries": f.history_entries,
            "dedupe_keys": f.dedupe_keys,
        },
    })
}

pub fn summary_text(s: &Summary) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} subjects ({} companies), {} events, {} contact edges; scored as of {} with {}",
        s.subjects, s.companies, s.events, s.edges, s.as_of, s.model
    );
    let _ = writeln!(t, "score: mean {:.1}, median {}", s.mean, s.median);
    let max = s.bands.iter().map(|b| b.2).max().unwrap_or(1).max(1);
    for (lo, hi, n) in &s.bands {
        let w = n * 40 / max;
        let _ = writeln!(t, "  {lo}–{hi:<4} {:<40} {n}", "█".repeat(w));
    }
    let _ = writeln!(t, "tiers:");
    for (tier, n) in &s.tiers {
        let pct = if s.subjects > 0 {
            100.0 * *n as f64 / s.subjects as f64
        } else {
            0.0
        };
        let _ = writeln!(t, "  {tier:<10} {n:>8}  {pct:5.1} %");
    }
    let pct = if s.subjects > 0 {
        100.0 * s.with_unpaid_judgments as f64 / s.subjects as f64
    } else {
        0.0
    };
    let _ = write!(
        t,
        "with unpaid court judgments (candidates for the court list): {} ({pct:.2} %), owing ¥{:.0} in all",
        s.with_unpaid_judgments, s.unpaid_judgment_yuan
    );
    let _ = write!(
        t,
        "\non the court list of dishonest judgment defaulters: {} published; {} under consumption restrictions",
        s.listed, s.restricted
    );
    t
}

pub fn decision_text(d: &credo_engine::Decision, subject: &str) -> String {
    let mut t = String::new();
    let _ = write!(
        t,
        "{}: {} {}",
        d.outcome.as_str().to_uppercase(),
        subject,
        d.action
    );
    if let Some(l) = d.limit {
        let _ = write!(t, " (pre-approved limit ¥{l:.0})");
    }
    for r in &d.reasons {
        let _ = write!(t, "\n  because [{}] {}", r.code, r.text);
    }
    for l in &d.lift {
        let _ = write!(t, "\n  to lift: {}", l.text);
    }
    t
}

pub fn list_text(entries: &[credo_engine::PublicEntry]) -> String {
    if entries.is_empty() {
        return "no published entry matches".into();
    }
    let mut t = String::new();
    for e in entries {
        let who = match (e.gender, e.age) {
            (Some(g), Some(a)) => format!("{g}, {a}"),
            _ => e
                .legal_representative
                .clone()
                .map_or_else(String::new, |l| format!("legal representative {l}")),
        };
        let _ = writeln!(
            t,
            "{} ({who}) {}{}\n  case {} of {}, {}, filed {}\n  obligation ¥{:.2}, performed ¥{:.2}, unperformed ¥{:.2} ({})\n  {}; published {}",
            e.name,
            e.masked_id,
            e.credit_code
                .as_deref()
                .map(|c| format!(" code {c}"))
                .unwrap_or_default(),
            e.case,
            e.court,
            e.province.as_deref().unwrap_or("?"),
            e.filed_on.as_deref().unwrap_or("?"),
            e.obligation,
            e.performed,
            e.unperformed,
            e.performance,
            e.behaviour,
            e.published_on
        );
    }
    t.trim_end().to_string()
}

pub fn nearby_text(n: &credo_engine::Nearby) -> String {
    let mut t = format!(
        "{} listed debtor{} within {} m (warning level: {}), as of {}; locations snapped to a {} m grid\n",
        n.debtors,
        if n.debtors == 1 { "" } else { "s" },
        n.radius_m,
        n.level.as_str(),
        n.as_of,
        n.cell_m
    );
    for m in &n.entries {
        let e = &m.entry;
        let _ = writeln!(
            t,
            "{:>7.0} m  {} {}  case {} of {}: ¥{:.2} unperformed",
            m.distance_m.unwrap_or(0.0),
            e.name,
            e.masked_id,
            e.case,
            e.court,
            e.unperformed
        );
    }
    if n.truncated {
        t.push_str("(more cases than the limit; ask a smaller radius)\n");
    }
    t.trim_end().to_string()
}
