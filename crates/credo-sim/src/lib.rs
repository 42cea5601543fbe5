//! A deterministic synthetic population for demos, tests, benchmarks and scorecard fitting.
//!
//! - Subjects live in fifty real cities ([`cities`]), in proportion to their population, at an
//!   address of record near the centre. Resident IDs carry the city's region code, a birth
//!   date, a sequence of the right parity and a valid check character; companies carry
//!   valid unified social credit codes.
//! - Each subject has a latent reliability (standard normal, shifted a little by city and
//!   industry). It drives late and unpaid bills, late repayments, defaults, unreturned
//!   rentals, violations and judgments, and also the outcome label for the 12 months after
//!   the period, so a scorecard fitted on the events has real signal.
//! - Contacts form a graph with a heavy-tailed degree (discrete Pareto) and homophily: most
//!   edges join people of one city, many of one city and industry.
//!
//! The output is the same bytes for the same [`Config`], whatever the number of threads:
//! every subject draws from its own generator seeded from `(seed, index)`.

pub mod cities;
pub mod graph;
mod names;

use cities::{CITIES, City};
use credo_model::Day;
use credo_model::id::{credit_code_check, resident_check};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{Seek, Write};

#[derive(Debug, Clone)]
pub struct Config {
    pub people: usize,
    pub seed: u64,
    /// The last day of the period.
    pub end: Day,
    /// Length of the period in months.
    pub months: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            people: 10_000,
            seed: 42,
            end: Day(20_757),
            months: 24,
        } // 2026-10-31
    }
}

pub struct Sinks<'a> {
    pub subjects: &'a mut dyn Write,
    pub events: &'a mut dyn Write,
    pub contacts: &'a mut dyn Write,
    pub labels: &'a mut dyn Write,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub people: u64,
    pub companies: u64,
    pub events: u64,
    pub contacts: u64,
    pub with_unpaid_judgments: u64,
    pub bad_labels: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("could not write {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the period must be 1 to 120 months and end after 2001")]
    Period,
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> SimError {
    move |source| SimError::Io { what, source }
}

/// SplitMix64: spreads `(seed, index)` into independent generator seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn rng_for(seed: u64, stream: u64, i: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(mix(
        mix(seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407)) ^ i
    ))
}

/// A standard normal draw (Box–Muller); the benches draw their spreads with it too.
pub fn normal(r: &mut impl Rng) -> f64 {
    // Box–Muller.
    let u1: f64 = r.random::<f64>().max(1e-300);
    let u2: f64 = r.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn lognormal(r: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    (median * (sigma * normal(r)).exp() * 100.0).round() / 100.0
}

/// GB/T 4754 sections with rough shares of employment.
const INDUSTRIES: &[(&str, u32)] = &[
    ("A", 10),
    ("C", 22),
    ("E", 7),
    ("F", 8),
    ("G", 14),
    ("H", 6),
    ("I", 5),
    ("J", 3),
    ("K", 3),
    ("L", 3),
    ("M", 3),
    ("N", 2),
    ("O", 3),
    ("P", 5),
    ("Q", 4),
    ("S", 2),
];

const VIOLATIONS: &[(&str, u16, &str)] = &[
    ("red_light", 50, "公安交通管理局"),
    ("speeding", 30, "公安交通管理局"),
    ("drunk_driving", 100, "公安交通管理局"),
    ("smoking_on_train", 20, "铁路公安局"),
    ("fare_evasion", 10, "城市轨道交通管理处"),
    ("illegal_parking", 5, "城市管理综合执法局"),
];

struct Subject {
    id: String,
    company: bool,
    city: usize,
    industry: usize,
    reliability: f64,
}

fn pick_weighted(r: &mut impl Rng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(1.0);
    let x = r.random::<f64>() * total;
    cumulative
        .partition_point(|&c| c <= x)
        .min(cumulative.len().saturating_sub(1))
}

fn cumulate(w: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    w.map(|x| {
        acc += x;
        acc
    })
    .collect()
}

fn resident_id(r: &mut impl Rng, city: &City, end: Day) -> String {
    let (ey, _, _) = end.ymd();
    let age = 18 + (r.random::<f64>().powf(1.3) * 62.0) as i32;
    let y = ey - age;
    let m = r.random_range(1..=12u32);
    let d = r.random_range(1..=credo_model::time::days_in_month(y, m));
    let seq = r.random_range(0..1000u32);
    let body = format!("{:06}{y:04}{m:02}{d:02}{seq:03}", city.region);
    let mut digits = [0u8; 17];
    for (slot, c) in digits.iter_mut().zip(body.bytes()) {
        *slot = c - b'0';
    }
    format!("{body}{}", resident_check(&digits))
}

const USCC: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn credit_code(r: &mut impl Rng, city: &City) -> String {
    // "91" (industry and commerce, enterprise), the region code, then an organisation code
    // (GB 11714: eight characters and its own check), then the overall check.
    let mut org = [0u32; 8];
    for o in &mut org {
        *o = r.random_range(0..10);
    }
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let s: u32 = org.iter().zip(W).map(|(a, w)| a * w).sum();
    let c = 11 - s % 11;
    let org_check = match c {
        10 => 'X',
        11 => '0',
        c => char::from(b'0' + c as u8),
    };
    let body = format!(
        "91{:06}{}{org_check}",
        city.region,
        org.iter()
            .map(|d| char::from(b'0' + *d as u8))
            .collect::<String>()
    );
    let mut values = [0u32; 17];
    for (v, ch) in values.iter_mut().zip(body.bytes()) {
        *v = USCC.iter().position(|&a| a == ch).unwrap_or(0) as u32;
    }
    format!("{body}{}", credit_code_check(&values))
}

fn esc(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// One month of a subject's events, as JSON lines.
struct Lines {
    by_month: Vec<String>,
    events: u64,
}

struct Ctx<'a> {
    cfg: &'a Config,
    start: Day,
    first_month: i32,
}

impl Ctx<'_> {
    fn day_in(&self, r: &mut impl Rng, month: i32) -> Day {
        let first = Day::end_of_month(month - 1).0 + 1;
        let last = Day::end_of_month(month).0.min(self.cfg.end.0);
        Day(r.random_range(first.max(self.start.0)..=last.max(first)))
    }
}

fn at(r: &mut impl Rng, d: Day) -> String {
    let (y, m, dd) = d.ymd();
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}+08:00",
        r.random_range(8..22),
        r.random_range(0..60),
        r.random_range(0..60)
    )
}

impl Lines {
    fn push(&mut self, ctx: &Ctx<'_>, month: i32, line: String) {
        let i = (month - ctx.first_month) as usize;
        if let Some(b) = self.by_month.get_mut(i) {
            b.push_str(&line);
            b.push('\n');
            self.events += 1;
        }
    }
}

struct Outcome {
    lines: Lines,
    unpaid_judgment: bool,
    bad: bool,
}

fn subject_events(ctx: &Ctx<'_>, idx: usize, s: &Subject, seed: u64) -> Outcome {
    let mut r = rng_for(seed, 2, idx as u64);
    let months = ctx.cfg.months as i32;
    let mut lines = Lines {
        by_month: vec![String::new(); months as usize],
        events: 0,
    };
    let rel = s.reliability;
    let who = &s.id;
    let city = &CITIES[s.city];
    let last_month = ctx.first_month + months - 1;
    let p_late = sigmoid(-3.0 - 1.3 * rel);
    let p_unpaid = sigmoid(-5.2 - 1.6 * rel);
    let scale = if s.company { 8.0 } else { 1.0 };
    // Bills: a utility for everyone, a telco for some; companies pay larger bills.
    let mut accounts = vec![("state-grid", 120.0)];
    if r.random::<f64>() < 0.35 {
        accounts.push(("china-mobile", 80.0));
    }
    for (ai, (source, median)) in accounts.iter().enumerate() {
        let acct = r.random_range(100_000..999_999u32);
        let mut open_unpaid: Vec<(String, f64, i32)> = Vec::new();
        for m in ctx.first_month..=last_month {
            let d = ctx.day_in(&mut r, m);
            let amount = lognormal(&mut r, median * scale, 0.4);
            let bref = format!("{acct}-{m}");
            let x: f64 = r.random();
            let (status, extra) = if x < p_unpaid {
                open_unpaid.push((bref.clone(), amount, m));
                ("unpaid", String::new())
            } else if x < p_unpaid + p_late {
                ("late", format!(",\"days_late\":{}", r.random_range(3..45)))
            } else {
                ("paid", String::new())
            };
            lines.push(
                ctx,
                m,
                format!(
                    "{{\"id\":\"bill-{idx}-{ai}-{m}\",\"source\":\"{source}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"bill\",\"ref\":\"{bref}\",\"amount\":{amount}{extra},\"status\":\"{status}\"}}",
                    at(&mut r, d)
                ),
            );
            // Reliable people settle overdue bills within a few months.
            open_unpaid.retain(|(bref, amount, since)| {
                if m > *since && r.random::<f64>() < sigmoid(0.3 + 1.2 * rel) * 0.5 {
                    let d = ctx.day_in(&mut r, m);
                    lines.push(
                        ctx,
                        m,
                        format!(
                            "{{\"id\":\"settle-{idx}-{ai}-{since}\",\"source\":\"{source}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"bill\",\"ref\":\"{bref}\",\"amount\":{amount},\"status\":\"late\",\"days_late\":{}}}",
                            at(&mut r, d),
                            (m - since) * 30
                        ),
                    );
                    false
                } else {
                    true
                }
            });
        }
    }
    // Payments.
    let n_pay = r.random_range(2..10) as usize;
    for k in 0..n_pay {
        let m = r.random_range(ctx.first_month..=last_month);
        let d = ctx.day_in(&mut r, m);
        let amount = lognormal(&mut r, 300.0 * scale, 1.0);
        lines.push(
            ctx,
            m,
            format!(
                "{{\"id\":\"pay-{idx}-{k}\",\"source\":\"alipay\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"payment\",\"amount\":{amount}}}",
                at(&mut r, d)
            ),
        );
    }
    // A loan with monthly repayments for about 30 %.
    if r.random::<f64>() < 0.3 {
        let m0 = r.random_range(ctx.first_month..=ctx.first_month + months / 2);
        let principal = lognormal(&mut r, 30_000.0 * scale, 0.8);
        let term = [6, 12, 12, 24][r.random_range(0..4)];
        let lref = format!("L{}", r.random_range(10_000_000..99_999_999u32));
        let bank = ["icbc", "ccb", "boc", "abc", "cmb", "webank"][r.random_range(0..6)];
        let d = ctx.day_in(&mut r, m0);
        lines.push(ctx, m0, format!("{{\"id\":\"loan-{idx}\",\"source\":\"{bank}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"loan\",\"ref\":\"{lref}\",\"amount\":{principal}}}", at(&mut r, d)));
        let installment = (principal / f64::from(term) * 100.0).round() / 100.0;
        let p_default = sigmoid(-5.0 - 2.0 * rel) / 6.0;
        let mut outstanding = principal;
        for k in 1..=term {
            let m = m0 + k;
            if m > last_month {
                break;
            }
            let d = ctx.day_in(&mut r, m);
            if r.random::<f64>() < p_default {
                lines.push(ctx, m, format!("{{\"id\":\"default-{idx}\",\"source\":\"{bank}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"default\",\"ref\":\"{lref}\",\"amount\":{:.2}}}", at(&mut r, d), outstanding));
                break;
            }
            let late = if r.random::<f64>() < p_late * 1.2 {
                r.random_range(1..40)
            } else {
                0
            };
            lines.push(ctx, m, format!("{{\"id\":\"repay-{idx}-{k}\",\"source\":\"{bank}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"repayment\",\"ref\":\"{lref}\",\"amount\":{installment},\"days_late\":{late}}}", at(&mut r, d)));
            outstanding -= installment;
        }
    }
    // Rentals (people only).
    if !s.company && r.random::<f64>() < 0.25 {
        for k in 0..r.random_range(1..4) {
            let m = r.random_range(ctx.first_month..=last_month);
            let d = ctx.day_in(&mut r, m);
            let (source, kind) = [
                ("hellobike", "bike"),
                ("meituan", "powerbank"),
                ("evcard", "car"),
            ][r.random_range(0..3)];
            let rref = format!("{kind}-{idx}-{k}");
            lines.push(ctx, m, format!("{{\"id\":\"rent-{idx}-{k}\",\"source\":\"{source}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"rental\",\"ref\":\"{rref}\",\"status\":\"started\"}}", at(&mut r, d)));
            let status = if r.random::<f64>() < sigmoid(-4.0 - 1.5 * rel) {
                "unreturned"
            } else {
                "returned"
            };
            lines.push(ctx, m, format!("{{\"id\":\"rent-{idx}-{k}-end\",\"source\":\"{source}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"rental\",\"ref\":\"{rref}\",\"status\":\"{status}\"}}", at(&mut r, d)));
        }
    }
    // Violations.
    if !s.company && r.random::<f64>() < sigmoid(-3.0 - 0.8 * rel) {
        for k in 0..r.random_range(1..3) {
            let m = r.random_range(ctx.first_month..=last_month);
            let d = ctx.day_in(&mut r, m);
            let (code, points, authority) = VIOLATIONS[r.random_range(0..VIOLATIONS.len())];
            let when = at(&mut r, d);
            lines.push(ctx, m, format!("{{\"id\":\"viol-{idx}-{k}\",\"source\":\"gov-{}\",\"subject\":\"{who}\",\"at\":\"{when}\",\"kind\":\"violation\",\"code\":\"{code}\",\"points\":{points},\"authority\":\"{}{authority}\"}}", city.region, city.name));
            if code == "smoking_on_train" {
                lines.push(ctx, m, format!("{{\"id\":\"ban-{idx}-{k}\",\"source\":\"railway\",\"subject\":\"{who}\",\"at\":\"{when}\",\"kind\":\"ban\",\"scope\":\"rail\",\"days\":180,\"code\":\"{code}\",\"authority\":\"中国铁路\"}}"));
            }
        }
    }
    // Judgments: rare, for the least reliable; some performed in full, some in part.
    let mut unpaid_judgment = false;
    let mut judgment = None;
    if r.random::<f64>() < sigmoid(-5.9 - 1.9 * rel) {
        let m = r.random_range(ctx.first_month..=last_month);
        let d = ctx.day_in(&mut r, m);
        let (y, _, _) = d.ymd();
        let case = format!(
            "({y}){}{:04}执{}号",
            city.abbr,
            city.region % 10_000,
            r.random_range(100..9999)
        );
        let court = format!("{}市中级人民法院", city.name);
        let amount = lognormal(&mut r, 60_000.0 * scale, 1.0);
        let source = format!("court-{}", city.region);
        lines.push(ctx, m, format!("{{\"id\":\"judg-{idx}\",\"source\":\"{source}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"judgment\",\"case\":\"{case}\",\"court\":\"{court}\",\"amount\":{amount}}}", at(&mut r, d)));
        let x: f64 = r.random();
        let performs = sigmoid(0.3 + 1.0 * rel);
        let paid = if x < performs * 0.6 {
            amount
        } else if x < performs {
            (amount * r.random_range(0.1..0.9) * 100.0).round() / 100.0
        } else {
            0.0
        };
        let pm = (m + r.random_range(1..6)).min(last_month);
        judgment = Some((
            m,
            case.clone(),
            court.clone(),
            source.clone(),
            amount,
            paid,
            pm,
        ));
        if paid > 0.0 && pm > m {
            let d = ctx.day_in(&mut r, pm);
            lines.push(ctx, pm, format!("{{\"id\":\"perf-{idx}\",\"source\":\"{source}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"performance\",\"case\":\"{case}\",\"amount\":{paid}}}", at(&mut r, d)));
            unpaid_judgment = paid < amount;
        } else {
            unpaid_judgment = true;
        }
    }
    let bad =
        r.random::<f64>() < sigmoid(-2.8 - 1.5 * rel + if unpaid_judgment { 1.0 } else { 0.0 });
    // The court side, on its own random stream so the lines above stay as they were:
    // most debtors who have not paid a month after judgment are listed (mostly trigger 1,
    // which lasts until performance), the rest get a restriction order; some settle.
    // Smoking on a train brings a 180-day rail ban.
    let mut rc = rng_for(ctx.cfg.seed, 5, idx as u64);
    if let Some((m, case, court, source, amount, paid, pm)) = judgment {
        let lm = m + 1;
        let settled_before = paid >= amount && pm <= lm;
        if lm <= last_month && !settled_before {
            let d = ctx.day_in(&mut rc, lm);
            if rc.random::<f64>() < 0.8 {
                let x: f64 = rc.random();
                let trigger = if x < 0.7 {
                    1
                } else if x < 0.85 {
                    3
                } else if x < 0.95 {
                    4
                } else {
                    6
                };
                lines.push(ctx, lm, format!("{{\"id\":\"list-{idx}\",\"source\":\"{source}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"listing\",\"case\":\"{case}\",\"court\":\"{court}\",\"trigger\":{trigger}}}", at(&mut rc, d)));
                // A few settle with the creditor later and are removed.
                let sm = lm + rc.random_range(2..12);
                if paid < amount && sm <= last_month && rc.random::<f64>() < 0.1 {
                    let d = ctx.day_in(&mut rc, sm);
                    lines.push(ctx, sm, format!("{{\"id\":\"remove-{idx}\",\"source\":\"{source}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"removal\",\"case\":\"{case}\",\"reason\":\"settlement\"}}", at(&mut rc, d)));
                }
            } else {
                lines.push(ctx, lm, format!("{{\"id\":\"restrict-{idx}\",\"source\":\"{source}\",\"subject\":\"{who}\",\"at\":\"{}\",\"kind\":\"restriction\",\"case\":\"{case}\",\"court\":\"{court}\"}}", at(&mut rc, d)));
            }
        }
    }
    Outcome {
        lines,
        unpaid_judgment,
        bad,
    }
}

fn subject_line(r: &mut impl Rng, s: &Subject, ctx: &Ctx<'_>) -> String {
    let city = &CITIES[s.city];
    let lat = city.lat + normal(r) * 0.06;
    let lon = city.lon + normal(r) * 0.07;
    let mut line = String::with_capacity(320);
    let _ = write!(
        line,
        "{{\"id\":\"{}\",\"kind\":\"subject\",\"at\":\"{}T00:00:00+08:00\",\"name\":\"",
        s.id, ctx.start
    );
    let name = if s.company {
        names::company(r, city.name)
    } else {
        names::person(r)
    };
    esc(&mut line, &name);
    let _ = write!(
        line,
        "\",\"region\":\"{:06}\",\"industry\":\"{}\",\"lat\":{lat:.5},\"lon\":{lon:.5},\"address\":\"",
        city.region, INDUSTRIES[s.industry].0
    );
    esc(&mut line, &names::address(r, city.name));
    line.push_str("\",\"phones\":[");
    let phones = if s.company || r.random::<f64>() < 0.3 {
        2
    } else {
        1
    };
    for k in 0..phones {
        if k > 0 {
            line.push(',');
        }
        let prefix = ["13", "15", "18", "17", "19"][r.random_range(0..5)];
        let _ = write!(
            line,
            "\"{prefix}{:09}\"",
            r.random_range(0..1_000_000_000u32)
        );
    }
    line.push(']');
    if s.company {
        line.push_str(",\"legal_rep\":\"");
        esc(&mut line, &names::person(r));
        line.push('"');
    }
    line.push('}');
    line
}

/// A generated population held in memory: the four files' bytes and the summary.
pub struct InMemory {
    pub subjects: Vec<u8>,
    pub events: Vec<u8>,
    pub contacts: Vec<u8>,
    pub labels: Vec<u8>,
    pub summary: Summary,
}

/// [`generate`] for `people` and `seed` over the default period, into memory, without
/// progress (tests and small runs).
pub fn generate_in_memory(people: usize, seed: u64) -> Result<InMemory, SimError> {
    let (mut subjects, mut events, mut contacts, mut labels) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let summary = generate(
        &Config {
            people,
            seed,
            ..Default::default()
        },
        Sinks {
            subjects: &mut subjects,
            events: &mut events,
            contacts: &mut contacts,
            labels: &mut labels,
        },
        &|_, _| {},
    )?;
    Ok(InMemory {
        subjects,
        events,
        contacts,
        labels,
        summary,
    })
}

/// Writes the population. `progress(done, total)` is called as subjects are generated.
pub fn generate(
    cfg: &Config,
    sinks: Sinks<'_>,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Summary, SimError> {
    if cfg.months == 0 || cfg.months > 120 || cfg.end.0 < 11_400 {
        return Err(SimError::Period);
    }
    let last_month = cfg.end.month_index();
    let first_month = last_month - cfg.months as i32 + 1;
    let start = Day(Day::end_of_month(first_month - 1).0 + 1);
    let ctx = Ctx {
        cfg,
        start,
        first_month,
    };
    let companies = cfg.people / 50;
    let total = cfg.people + companies;
    let city_w = cumulate(CITIES.iter().map(|c| c.millions));
    let ind_w = cumulate(INDUSTRIES.iter().map(|i| f64::from(i.1)));
    // Shared effects: some cities and industries are a little more or less reliable.
    let mut fx = rng_for(cfg.seed, 0, 0);
    let city_fx: Vec<f64> = CITIES.iter().map(|_| normal(&mut fx) * 0.25).collect();
    let ind_fx: Vec<f64> = INDUSTRIES.iter().map(|_| normal(&mut fx) * 0.25).collect();
    let subjects: Vec<Subject> = (0..total)
        .into_par_iter()
        .map(|i| {
            let mut r = rng_for(cfg.seed, 1, i as u64);
            let company = i >= cfg.people;
            let city = pick_weighted(&mut r, &city_w);
            let industry = pick_weighted(&mut r, &ind_w);
            let id = if company {
                credit_code(&mut r, &CITIES[city])
            } else {
                resident_id(&mut r, &CITIES[city], cfg.end)
            };
            let reliability = normal(&mut r) * 0.95 + city_fx[city] + ind_fx[industry];
            Subject {
                id,
                company,
                city,
                industry,
                reliability,
            }
        })
        .collect();
    // Two subjects may draw the same ID (same district, birthday and sequence): keep the first.
    let mut seen = HashSet::with_capacity(total);
    let keep: Vec<bool> = subjects.iter().map(|s| seen.insert(s.id.clone())).collect();
    drop(seen);

    let mut summary = Summary::default();
    for (i, s) in subjects.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let mut r = rng_for(cfg.seed, 3, i as u64);
        let line = subject_line(&mut r, s, &ctx);
        writeln!(sinks.subjects, "{line}").map_err(io("subjects"))?;
        if s.company {
            summary.companies += 1;
        } else {
            summary.people += 1;
        }
    }

    // Events, in blocks generated in parallel and spooled per month, then written month by month.
    let mut spools: Vec<std::fs::File> = (0..cfg.months)
        .map(|_| tempfile::tempfile().map_err(io("a temporary file")))
        .collect::<Result<_, _>>()?;
    writeln!(sinks.labels, "subject,outcome").map_err(io("labels"))?;
    const BLOCK: usize = 8192;
    let mut done = 0u64;
    for block in (0..total).collect::<Vec<_>>().chunks(BLOCK) {
        let outs: Vec<Option<Outcome>> = block
            .par_iter()
            .map(|&i| keep[i].then(|| subject_events(&ctx, i, &subjects[i], cfg.seed)))
            .collect();
        for (&i, o) in block.iter().zip(outs) {
            let Some(o) = o else { continue };
            for (m, text) in o.lines.by_month.iter().enumerate() {
                spools[m]
                    .write_all(text.as_bytes())
                    .map_err(io("a temporary file"))?;
            }
            summary.events += o.lines.events;
            summary.with_unpaid_judgments += u64::from(o.unpaid_judgment);
            summary.bad_labels += u64::from(o.bad);
            writeln!(
                sinks.labels,
                "{},{}",
                subjects[i].id,
                if o.bad { "bad" } else { "good" }
            )
            .map_err(io("labels"))?;
        }
        done += block.len() as u64;
        progress(done, total as u64);
    }
    for f in &mut spools {
        f.seek(std::io::SeekFrom::Start(0))
            .map_err(io("a temporary file"))?;
        std::io::copy(f, sinks.events).map_err(io("events"))?;
    }

    // Contacts among people: heavy-tailed degrees, homophilous by city and industry.
    let people: Vec<usize> = (0..cfg.people).filter(|&i| keep[i]).collect();
    let mut by_city: Vec<Vec<u32>> = vec![Vec::new(); CITIES.len()];
    let mut by_city_ind: Vec<Vec<u32>> = vec![Vec::new(); CITIES.len() * INDUSTRIES.len()];
    for (k, &i) in people.iter().enumerate() {
        let s = &subjects[i];
        by_city[s.city].push(k as u32);
        by_city_ind[s.city * INDUSTRIES.len() + s.industry].push(k as u32);
    }
    let mut g = rng_for(cfg.seed, 4, 0);
    let mut edges: HashSet<(u32, u32)> = HashSet::new();
    let mut lines = String::new();
    if people.len() > 1 {
        for (k, &i) in people.iter().enumerate() {
            let s = &subjects[i];
            // Discrete Pareto, alpha 2.3, minimum 2: mean about 8, a long tail.
            let u: f64 = g.random::<f64>().max(1e-12);
            let degree = ((2.0 * u.powf(-1.0 / 1.3)) as usize).min(1000);
            let wanted = degree.div_ceil(2);
            for _ in 0..wanted {
                let x: f64 = g.random();
                let pool: &[u32] = if x < 0.45 {
                    &by_city_ind[s.city * INDUSTRIES.len() + s.industry]
                } else if x < 0.85 {
                    &by_city[s.city]
                } else {
                    &[]
                };
                let other = if pool.len() > 1 {
                    pool[g.random_range(0..pool.len())]
                } else {
                    g.random_range(0..people.len()) as u32
                };
                let k = k as u32;
                if other == k {
                    continue;
                }
                let e = (k.min(other), k.max(other));
                if !edges.insert(e) {
                    continue;
                }
                let month = g.random_range(first_month..=last_month);
                let d = ctx.day_in(&mut g, month);
                lines.clear();
                let _ = write!(
                    lines,
                    "{{\"id\":\"contact-{}-{}\",\"source\":\"contacts\",\"subject\":\"{}\",\"at\":\"{}\",\"kind\":\"contact\",\"other\":\"{}\",\"op\":\"add\"}}",
                    e.0,
                    e.1,
                    subjects[people[e.0 as usize]].id,
                    at(&mut g, d),
                    subjects[people[e.1 as usize]].id
                );
                writeln!(sinks.contacts, "{lines}").map_err(io("contacts"))?;
                summary.contacts += 1;
            }
        }
    }
    Ok(summary)
}
