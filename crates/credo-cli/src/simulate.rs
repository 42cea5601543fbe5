//! `credo features` (every subject's feature values as CSV, the input of a fit) and
//! `credo simulate` (what a proposed model or policy change would do to everyone, before
//! it goes live).

use crate::cmd::Global;
use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use credo_engine::{Engine, Lot};
use credo_score::Model;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct FeaturesArgs {
    /// Write the CSV here (`-`: standard output).
    #[arg(long)]
    pub out: PathBuf,
    /// Outcome labels, a CSV of `subject,outcome` (default: the folder's
    /// `population/labels.csv` from the generator, when there). Only labelled subjects
    /// are written when labels are given.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Write no labels even if the folder has them.
    #[arg(long)]
    pub no_labels: bool,
}

fn rows_bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    if let Ok(s) =
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} subjects eta {eta}")
    {
        pb.set_style(s.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

fn read_labels(path: &Path) -> Result<HashMap<String, String>> {
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header = rdr
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .clone();
    if header.len() != 2 {
        bail!(
            "{}: labels need two columns (subject, outcome), not {}",
            path.display(),
            header.len()
        );
    }
    let mut out = HashMap::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: line {}", path.display(), line + 2))?;
        out.insert(rec[0].trim().to_string(), rec[1].trim().to_string());
    }
    Ok(out)
}

pub fn features(g: &Global, a: &FeaturesArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let engine = g.open()?;
    let as_of = g.as_of.unwrap_or_else(|| engine.today());
    let default_labels = g.data.join("population").join("labels.csv");
    let labels_path = match (&a.labels, a.no_labels) {
        (_, true) => None,
        (Some(p), false) => Some(p.clone()),
        (None, false) => default_labels.exists().then_some(default_labels),
    };
    let labels = labels_path.as_deref().map(read_labels).transpose()?;
    let model = engine.model();
    let mut out: Box<dyn Write> = if a.out.as_os_str() == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        let f = std::fs::File::create(&a.out)
            .with_context(|| format!("creating {}", a.out.display()))?;
        Box::new(std::io::BufWriter::with_capacity(1 << 20, f))
    };
    let mut header = vec!["subject".to_string()];
    header.extend(model.features.iter().map(|f| f.name.clone()));
    if labels.is_some() {
        header.push("outcome".into());
    }
    writeln!(out, "{}", header.join(","))?;
    let n = engine.subject_count();
    let pb = rows_bar(n as u64, "features");
    let (mut written, mut unlabelled) = (0usize, 0usize);
    let mut line = String::new();
    const CHUNK: usize = 1 << 16;
    for from in (0..n).step_by(CHUNK) {
        for (id, values) in engine.feature_rows(from, from + CHUNK, as_of) {
            let id = id.to_string();
            let label = match &labels {
                Some(l) => match l.get(&id) {
                    Some(v) => Some(v.as_str()),
                    None => {
                        unlabelled += 1;
                        continue;
                    }
                },
                None => None,
            };
            line.clear();
            line.push_str(&id);
            for v in &values {
                line.push(',');
                if let Some(x) = v {
                    use std::fmt::Write as _;
                    let _ = write!(line, "{x}");
                }
            }
            if let Some(l) = label {
                line.push(',');
                line.push_str(l);
            }
            writeln!(out, "{line}")?;
            written += 1;
        }
        pb.set_position((from + CHUNK).min(n) as u64);
    }
    out.flush()
        .with_context(|| format!("writing {}", a.out.display()))?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "rows": written, "features": model.features.len(), "as_of": as_of.to_string(),
                "labels": labels_path.map(|p| p.display().to_string()),
                "unlabelled_left_out": unlabelled, "out": a.out.display().to_string(),
                "seconds": secs,
            }))?
        );
    } else if a.out.as_os_str() != "-" {
        println!(
            "{written} subjects × {} features as of {as_of} written to {} in {secs:.1} s{}.",
            model.features.len(),
            a.out.display(),
            match &labels_path {
                Some(p) if unlabelled > 0 => format!(
                    ", outcomes from {} ({unlabelled} without one left out)",
                    p.display()
                ),
                Some(p) => format!(", outcomes from {}", p.display()),
                None => String::new(),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct SimulateArgs {
    /// The proposed offer policies (default: the policies in force).
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// The model in force (default: the embedded one). The proposed model is --model.
    #[arg(long)]
    pub current_model: Option<PathBuf>,
    /// Write the chart of the score distributions before and after here (SVG).
    #[arg(long, default_value = "credo-simulate.svg")]
    pub chart: PathBuf,
    /// How many subjects (masked) to show for each kind of change.
    #[arg(long, default_value_t = 5)]
    pub examples: usize,
}

/// Per group (a province, a capacity decile): how many, and how they fare.
#[derive(Default, Clone, serde::Serialize)]
struct Group {
    subjects: usize,
    mean_before: f64,
    mean_after: f64,
    tier_up: usize,
    tier_down: usize,
    /// Answers that turn from deny to allow, and from allow to deny, over all offers.
    gains: usize,
    losses: usize,
}

impl Group {
    fn add(&mut self, b: &Lot, a: &Lot, up: bool, down: bool) {
        self.subjects += 1;
        self.mean_before += f64::from(b.score);
        self.mean_after += f64::from(a.score);
        self.tier_up += usize::from(up);
        self.tier_down += usize::from(down);
        for (x, y) in b.allowed.iter().zip(&a.allowed) {
            match (x, y) {
                (Some(false) | None, Some(true)) => self.gains += 1,
                (Some(true), Some(false) | None) => self.losses += 1,
                _ => {}
            }
        }
    }
    fn finish(mut self) -> Group {
        if self.subjects > 0 {
            self.mean_before /= self.subjects as f64;
            self.mean_after /= self.subjects as f64;
        }
        self
    }
}

/// Compares the lots of the same subjects (same order) under the current and the
/// proposed model and policies; `actions` names the answers in each lot. Tiers are
/// compared by their rank in each model's list.
pub fn compare(
    before: &[Lot],
    after: &[Lot],
    actions: &[String],
    current: &Model,
    proposed: &Model,
    examples: usize,
) -> Result<Value> {
    ensure!(
        before.len() == after.len(),
        "the folder changed between the two runs ({} subjects, then {}): simulate again",
        before.len(),
        after.len()
    );
    let n = before.len();
    // Capacity deciles by the current model: rank order, ties broken by index.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| before[x].capacity.total_cmp(&before[y].capacity));
    let mut decile = vec![0usize; n];
    for (rank, &i) in order.iter().enumerate() {
        decile[i] = rank * 10 / n.max(1);
    }
    let rank_of = |m: &Model, score: u16| -> usize {
        m.tiers
            .iter()
            .rposition(|(_, min)| score >= *min)
            .unwrap_or(0)
    };
    // Tiers are compared by their rank in each model's list, named by each model.
    let mut transitions: BTreeMap<(String, String), usize> = BTreeMap::new();
    let (mut up, mut down, mut changed) = (0usize, 0usize, 0usize);
    let mut by_province: BTreeMap<u32, Group> = BTreeMap::new();
    let mut by_decile = vec![Group::default(); 10];
    let mut total = Group::default();
    let k = actions.len();
    let mut per_action = vec![[0usize; 4]; k]; // allowed before, after, gained, lost
    let mut deltas: Vec<i32> = Vec::with_capacity(n);
    let mut loss_examples: Vec<Vec<(i32, usize)>> = vec![Vec::new(); k];
    let mut down_examples: Vec<(i32, usize)> = Vec::new();
    for i in 0..n {
        let (b, a) = (&before[i], &after[i]);
        ensure!(
            b.id == a.id,
            "the folder changed between the two runs (subject {} is now {}): simulate again",
            b.id.masked(),
            a.id.masked()
        );
        let (rb, ra) = (rank_of(current, b.score), rank_of(proposed, a.score));
        let (is_up, is_down) = (ra > rb, ra < rb);
        up += usize::from(is_up);
        down += usize::from(is_down);
        *transitions
            .entry((
                current.tier(b.score).to_string(),
                proposed.tier(a.score).to_string(),
            ))
            .or_default() += 1;
        let delta = i32::from(a.score) - i32::from(b.score);
        changed += usize::from(delta != 0);
        deltas.push(delta);
        if is_down {
            down_examples.push((delta, i));
        }
        for (j, (x, y)) in b.allowed.iter().zip(&a.allowed).enumerate() {
            let (x, y) = (*x == Some(true), *y == Some(true));
            per_action[j][0] += usize::from(x);
            per_action[j][1] += usize::from(y);
            per_action[j][2] += usize::from(!x && y);
            per_action[j][3] += usize::from(x && !y);
            if x && !y {
                loss_examples[j].push((delta, i));
            }
        }
        let province = b.region / 10_000;
        by_province
            .entry(province)
            .or_default()
            .add(b, a, is_up, is_down);
        by_decile[decile[i]].add(b, a, is_up, is_down);
        total.add(b, a, is_up, is_down);
    }
    let show = |mut v: Vec<(i32, usize)>| -> Vec<Value> {
        // The largest drops first.
        v.sort();
        v.into_iter()
            .take(examples)
            .map(|(d, i)| {
                json!({
                    "subject": before[i].id.masked(),
                    "before": before[i].score, "after": after[i].score, "change": d,
                })
            })
            .collect()
    };
    let mut sorted = deltas.clone();
    sorted.sort_unstable();
    let median = |v: &[i32]| v.get(v.len() / 2).copied().unwrap_or(0);
    let total = total.finish();
    let report = json!({
        "subjects": n,
        "current_model": format!("{} {}", current.name, current.version),
        "proposed_model": format!("{} {}", proposed.name, proposed.version),
        "score": {
            "mean_before": total.mean_before,
            "mean_after": total.mean_after,
            "changed": changed,
            "median_change": median(&sorted),
            "p05_change": sorted.get(n / 20).copied().unwrap_or(0),
            "p95_change": sorted.get(n * 19 / 20).copied().unwrap_or(0),
        },
        "tiers": {
            "up": up, "down": down, "same": n - up - down,
            "transitions": transitions.iter().map(|((f, t), c)| json!({"from": f, "to": t, "subjects": c})).collect::<Vec<_>>(),
            "down_examples": show(down_examples),
        },
        "actions": actions.iter().zip(per_action.iter().zip(loss_examples)).map(|(name, (c, ex))| json!({
            "action": name, "allowed_before": c[0], "allowed_after": c[1],
            "gained": c[2], "lost": c[3], "lost_examples": show(ex),
        })).collect::<Vec<_>>(),
        "by_province": by_province.into_iter().map(|(code, g)| {
            let name = credo_model::region::province(code * 10_000).map(|p| p.2).unwrap_or("unknown");
            let mut v = serde_json::to_value(g.finish()).unwrap_or(Value::Null);
            v["province"] = json!(name);
            v["code"] = json!(code);
            v
        }).collect::<Vec<_>>(),
        "by_capacity_decile": by_decile.into_iter().enumerate().map(|(d, g)| {
            let mut v = serde_json::to_value(g.finish()).unwrap_or(Value::Null);
            v["decile"] = json!(d + 1);
            v
        }).collect::<Vec<_>>(),
    });
    Ok(report)
}

pub fn simulate(g: &Global, a: &SimulateArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let current_g = Global {
        data: g.data.clone(),
        json: g.json,
        as_of: g.as_of,
        model: a.current_model.clone(),
    };
    let proposed_model = g.load_model()?;
    let policies = match &a.policies {
        Some(p) => Some((
            p.display().to_string(),
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )),
        None => None,
    };
    let pb = rows_bar(2, "simulate");
    // The current run. Only offers are compared: a catalogued action (a train ticket,
    // a flight) answers to the court list alone, which no model or policy changes.
    let engine = current_g.open()?;
    let as_of = g.as_of.unwrap_or_else(|| engine.today());
    let mut actions: Vec<String> = engine
        .policies()
        .offers
        .iter()
        .map(|o| o.id.clone())
        .collect();
    if let Some((name, text)) = &policies {
        let set =
            credo_rules::PolicySet::parse(name, text, (proposed_model.min, proposed_model.max))
                .with_context(|| format!("the proposed policies {name}"))?;
        for o in &set.offers {
            if !actions.contains(&o.id) {
                actions.push(o.id.clone());
            }
        }
    }
    let before = engine.lots(as_of, &actions);
    let current_model = engine.model().clone();
    drop(engine);
    pb.set_position(1);
    // The proposed run: the folder opened again under the proposed model, with the
    // proposed policies in memory only.
    let mut engine: Engine = g.open()?;
    if let Some((name, text)) = &policies {
        engine.use_policies(name, text)?;
    }
    let after = engine.lots(as_of, &actions);
    drop(engine);
    pb.finish_and_clear();
    let mut report = compare(
        &before,
        &after,
        &actions,
        &current_model,
        &proposed_model,
        a.examples,
    )?;
    let svg = chart(&current_model, &proposed_model, &before, &after);
    std::fs::write(&a.chart, svg).with_context(|| format!("writing {}", a.chart.display()))?;
    report["as_of"] = json!(as_of.to_string());
    report["chart"] = json!(a.chart.display().to_string());
    report["seconds"] = json!(started.elapsed().as_secs_f64());
    report["proposed_policies"] = json!(a.policies.as_ref().map(|p| p.display().to_string()));
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let u = |v: &Value| v.as_u64().unwrap_or(0);
    println!(
        "{} subjects as of {}: {} → {}{}.",
        u(&r["subjects"]),
        r["as_of"].as_str().unwrap_or(""),
        r["current_model"].as_str().unwrap_or(""),
        r["proposed_model"].as_str().unwrap_or(""),
        r["proposed_policies"]
            .as_str()
            .map_or(String::new(), |p| format!(", policies from {p}"))
    );
    let s = &r["score"];
    println!(
        "Scores: mean {:.1} → {:.1}; {} changed (median {:+}, 5th percentile {:+}, 95th {:+}).",
        f(&s["mean_before"]),
        f(&s["mean_after"]),
        u(&s["changed"]),
        s["median_change"].as_i64().unwrap_or(0),
        s["p05_change"].as_i64().unwrap_or(0),
        s["p95_change"].as_i64().unwrap_or(0),
    );
    let t = &r["tiers"];
    println!(
        "Tiers: {} up, {} down, {} the same.",
        u(&t["up"]),
        u(&t["down"]),
        u(&t["same"])
    );
    for x in t["transitions"].as_array().into_iter().flatten() {
        if x["from"] != x["to"] {
            println!(
                "  {:>10} → {:<10} {:>8}",
                x["from"].as_str().unwrap_or(""),
                x["to"].as_str().unwrap_or(""),
                u(&x["subjects"])
            );
        }
    }
    println!("Offers (allowed before → after, gained, lost):");
    for x in r["actions"].as_array().into_iter().flatten() {
        println!(
            "  {:<28} {:>8} → {:<8} +{:<7} −{}",
            x["action"].as_str().unwrap_or(""),
            u(&x["allowed_before"]),
            u(&x["allowed_after"]),
            u(&x["gained"]),
            u(&x["lost"])
        );
        for e in x["lost_examples"].as_array().into_iter().flatten().take(3) {
            println!(
                "      loses: {} ({} → {})",
                e["subject"].as_str().unwrap_or(""),
                u(&e["before"]),
                u(&e["after"])
            );
        }
    }
    println!(
        "By capacity decile (1 = least capacity): subjects, mean before → after, tier down, answers lost"
    );
    for x in r["by_capacity_decile"].as_array().into_iter().flatten() {
        println!(
            "  {:>2} {:>8}  {:>6.1} → {:<6.1} {:>7} {:>8}",
            u(&x["decile"]),
            u(&x["subjects"]),
            f(&x["mean_before"]),
            f(&x["mean_after"]),
            u(&x["tier_down"]),
            u(&x["losses"])
        );
    }
    println!("By province: subjects, mean before → after, tier down, answers lost");
    for x in r["by_province"].as_array().into_iter().flatten() {
        println!(
            "  {:<14} {:>8}  {:>6.1} → {:<6.1} {:>7} {:>8}",
            x["province"].as_str().unwrap_or(""),
            u(&x["subjects"]),
            f(&x["mean_before"]),
            f(&x["mean_after"]),
            u(&x["tier_down"]),
            u(&x["losses"])
        );
    }
    println!(
        "Chart of the score distributions: {}",
        r["chart"].as_str().unwrap_or("")
    );
}

/// Histograms of the scores before and after, 10 points a bar, as an SVG with the
/// proposed model's tier bounds. Written by hand: a few lines of markup, where a
/// plotting crate would bring a font stack for the axis labels.
pub fn chart(current: &Model, proposed: &Model, before: &[Lot], after: &[Lot]) -> String {
    use std::fmt::Write as _;
    let lo = current.min.min(proposed.min);
    let hi = current.max.max(proposed.max);
    let width = 10u16;
    let bins = usize::from((hi - lo) / width) + 1;
    let hist = |lots: &[Lot]| {
        let mut h = vec![0usize; bins];
        for l in lots {
            let k = usize::from(l.score.saturating_sub(lo) / width).min(bins - 1);
            h[k] += 1;
        }
        h
    };
    let (hb, ha) = (hist(before), hist(after));
    let n = before.len().max(1) as f64;
    let top = hb.iter().chain(&ha).copied().max().unwrap_or(1).max(1) as f64 / n;
    let (w, h, ml, mr, mt, mb) = (900.0, 420.0, 60.0, 20.0, 40.0, 50.0);
    let pw = w - ml - mr;
    let ph = h - mt - mb;
    let x = |score: f64| ml + (score - f64::from(lo)) / f64::from(hi - lo + width) * pw;
    let y = |share: f64| mt + ph - share / top * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="{w}" height="{h}" fill="#fff"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="{ml}" y="22" font-size="15">Score distribution: {} (grey) and {} (blue), {} subjects</text>"##,
        xml(&format!("{} {}", current.name, current.version)),
        xml(&format!("{} {}", proposed.name, proposed.version)),
        before.len()
    );
    // Axes, ticks every 50 points and at five shares.
    let _ = writeln!(
        s,
        r##"<line x1="{ml}" y1="{}" x2="{}" y2="{}" stroke="#000"/><line x1="{ml}" y1="{mt}" x2="{ml}" y2="{}" stroke="#000"/>"##,
        mt + ph,
        ml + pw,
        mt + ph,
        mt + ph
    );
    let mut t = lo.div_ceil(50) * 50;
    while t <= hi {
        let xt = x(f64::from(t));
        let _ = writeln!(
            s,
            r##"<line x1="{xt:.1}" y1="{}" x2="{xt:.1}" y2="{}" stroke="#000"/><text x="{xt:.1}" y="{}" text-anchor="middle">{t}</text>"##,
            mt + ph,
            mt + ph + 5.0,
            mt + ph + 18.0
        );
        t += 50;
    }
    for k in 0..=4 {
        let share = top * f64::from(k) / 4.0;
        let yt = y(share);
        let _ = writeln!(
            s,
            r##"<line x1="{}" y1="{yt:.1}" x2="{ml}" y2="{yt:.1}" stroke="#000"/><text x="{}" y="{:.1}" text-anchor="end">{:.1} %</text>"##,
            ml - 5.0,
            ml - 8.0,
            yt + 4.0,
            share * 100.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">score (bars of {width} points)</text>"##,
        ml + pw / 2.0,
        h - 10.0
    );
    // Tier bounds of the proposed model.
    for (name, min) in &proposed.tiers {
        if *min <= lo {
            continue;
        }
        let xt = x(f64::from(*min));
        let _ = writeln!(
            s,
            r##"<line x1="{xt:.1}" y1="{mt}" x2="{xt:.1}" y2="{}" stroke="#999" stroke-dasharray="4 3"/><text x="{:.1}" y="{}" fill="#666">{}</text>"##,
            mt + ph,
            xt + 3.0,
            mt + 12.0,
            xml(name)
        );
    }
    // The areas first, then both outlines over them, so neither hides the other.
    let outline = |hist: &[usize]| {
        let mut d = format!("M{:.1},{:.1}", x(f64::from(lo)), y(0.0));
        for (k, &c) in hist.iter().enumerate() {
            let x0 = x(f64::from(lo) + (k as f64) * f64::from(width));
            let x1 = x(f64::from(lo) + (k as f64 + 1.0) * f64::from(width));
            let yy = y(c as f64 / n);
            let _ = write!(d, " L{x0:.1},{yy:.1} L{x1:.1},{yy:.1}");
        }
        let _ = write!(
            d,
            " L{:.1},{:.1} Z",
            x(f64::from(lo) + bins as f64 * f64::from(width)),
            y(0.0)
        );
        d
    };
    let (db, da) = (outline(&hb), outline(&ha));
    for (d, colour) in [(&db, "#777777"), (&da, "#2266cc")] {
        let _ = writeln!(
            s,
            r##"<path d="{d}" fill="{colour}" fill-opacity="0.3" stroke="none"/>"##
        );
    }
    for (d, colour) in [(&db, "#555555"), (&da, "#2266cc")] {
        let _ = writeln!(
            s,
            r##"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.5"/>"##
        );
    }
    s.push_str("</svg>\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use credo_model::SubjectId;

    fn lot(i: u32, score: u16, capacity: f64, allowed: Vec<Option<bool>>) -> Lot {
        let body = format!("11010119900101{:03}", i % 1000);
        let digits: [u8; 17] = std::array::from_fn(|k| body.as_bytes()[k] - b'0');
        let check = credo_model::id::resident_check(&digits);
        let id: SubjectId = format!("{body}{check}").parse().unwrap();
        Lot {
            id,
            score,
            capacity,
            region: 110_101,
            allowed,
        }
    }

    /// The counts against a direct count over the same lots, on random lots.
    #[test]
    fn compare_counts_what_a_loop_counts() {
        use proptest::prelude::*;
        let m = Model::default_model();
        proptest!(ProptestConfig::with_cases(64), |(
            pairs in proptest::collection::vec((350u16..=950, 350u16..=950, 0.0f64..1.0, any::<[Option<bool>; 2]>(), any::<[Option<bool>; 2]>()), 1..200)
        )| {
            let before: Vec<Lot> = pairs.iter().enumerate().map(|(i, p)| lot(i as u32, p.0, p.2, p.3.to_vec())).collect();
            let after: Vec<Lot> = pairs.iter().enumerate().map(|(i, p)| lot(i as u32, p.1, p.2, p.4.to_vec())).collect();
            let actions = vec!["a".to_string(), "b".to_string()];
            let r = compare(&before, &after, &actions, &m, &m, 3).unwrap();
            let rank = |s: u16| m.tiers.iter().rposition(|(_, min)| s >= *min).unwrap();
            let up = pairs.iter().filter(|p| rank(p.1) > rank(p.0)).count();
            let down = pairs.iter().filter(|p| rank(p.1) < rank(p.0)).count();
            prop_assert_eq!(r["tiers"]["up"].as_u64().unwrap() as usize, up);
            prop_assert_eq!(r["tiers"]["down"].as_u64().unwrap() as usize, down);
            for j in 0..2 {
                let lost = pairs.iter().filter(|p| p.3[j] == Some(true) && p.4[j] != Some(true)).count();
                let gained = pairs.iter().filter(|p| p.3[j] != Some(true) && p.4[j] == Some(true)).count();
                prop_assert_eq!(r["actions"][j]["lost"].as_u64().unwrap() as usize, lost);
                prop_assert_eq!(r["actions"][j]["gained"].as_u64().unwrap() as usize, gained);
            }
            let deciles: u64 = r["by_capacity_decile"].as_array().unwrap().iter().map(|d| d["subjects"].as_u64().unwrap()).sum();
            prop_assert_eq!(deciles as usize, pairs.len());
            let losses: u64 = r["by_province"].as_array().unwrap().iter().map(|d| d["losses"].as_u64().unwrap()).sum();
            let all_lost: usize = (0..2).map(|j| pairs.iter().filter(|p| p.3[j] == Some(true) && p.4[j] != Some(true)).count()).sum();
            prop_assert_eq!(losses as usize, all_lost);
        });
    }

    #[test]
    fn chart_is_svg_with_both_distributions() {
        let m = Model::default_model();
        let before = vec![lot(0, 400, 0.1, vec![]), lot(1, 700, 0.5, vec![])];
        let after = vec![lot(0, 420, 0.1, vec![]), lot(1, 690, 0.5, vec![])];
        let s = chart(&m, &m, &before, &after);
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<path").count(), 4);
    }
}
