//! Peer benchmark: `cedar-policy` evaluating relying-party "offer" policies.
//!
//! Every offer of our TOML policy format becomes one Cedar `permit` policy in a
//! single `PolicySet`. A synthetic subject population (splitmix64, identical to
//! the one our own benchmark generates) is queried with `--decisions` requests;
//! per request the caller builds the principal entity, an `Entities` holding just
//! that entity, and a `Request`, then calls `Authorizer::is_authorized`. Only that
//! loop is timed. Single-threaded.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use clap::Parser;
use serde::Deserialize;

/// The cedar-policy version this crate was built and measured with (from Cargo.lock).
const CEDAR_VERSION: &str = "4.14.1";

#[derive(Parser, Debug)]
#[command(name = "credo-cedar-peer", about = "cedar-policy peer benchmark for offer policies")]
struct Args {
    /// Offer policy file (our TOML format, `[[offer]]` tables).
    #[arg(long)]
    policies: PathBuf,
    /// Size of the synthetic subject population.
    #[arg(long)]
    subjects: u64,
    /// Number of decisions to time.
    #[arg(long)]
    decisions: u64,
    /// Seed of the population and of the request stream.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print the first 5 requests (subject, offer, attributes, decision) to
    /// stderr and cross-check every cedar decision against a direct evaluation
    /// of the same rules (untimed, before the timed run).
    #[arg(long)]
    check: bool,
}

#[derive(Deserialize, Debug, Default)]
#[serde(default)]
struct PolicyFile {
    offer: Vec<Offer>,
}

/// Permissive: unknown keys are ignored; fields the peer does not model
/// (party, label, risk_amount, max_unreturned_rentals, limit) are not read.
#[derive(Deserialize, Debug)]
#[serde(default)]
struct Offer {
    id: String,
    min_score: Option<i64>,
    deny_if_listed: bool,
    deny_if_restricted: bool,
}

impl Default for Offer {
    fn default() -> Self {
        Offer {
            id: String::new(),
            min_score: None,
            deny_if_listed: true,
            deny_if_restricted: false,
        }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E3779B97F4A7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

#[derive(Clone, Copy, Debug)]
struct Subject {
    score: i64,
    listed: bool,
    restricted: bool,
}

fn subject(seed: u64, j: u64) -> Subject {
    let h = splitmix64(seed ^ j);
    let listed = (h >> 20) % 100 == 0;
    Subject {
        score: 350 + (h % 601) as i64,
        listed,
        restricted: listed || (h >> 40) % 200 == 0,
    }
}

/// Request k -> (subject index j, offer index).
fn request(seed: u64, k: u64, n_subjects: u64, n_offers: u64) -> (u64, usize) {
    let r = splitmix64(seed.wrapping_add(0x5EED) ^ k);
    (r % n_subjects, ((r >> 32) % n_offers) as usize)
}

fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

/// One Cedar policy per offer. The action uid is rendered through `EntityUid`'s
/// `Display`, which emits a properly escaped Cedar string literal.
fn cedar_policy_text(offer: &Offer, action: &EntityUid) -> String {
    let mut conds: Vec<String> = Vec::new();
    if let Some(min) = offer.min_score {
        conds.push(format!("principal.score >= {min}"));
    }
    if offer.deny_if_listed {
        conds.push("!principal.listed".to_string());
    }
    if offer.deny_if_restricted {
        conds.push("!principal.restricted".to_string());
    }
    let mut s = format!("permit(principal is Subject, action == {action}, resource)");
    if !conds.is_empty() {
        s.push_str(" when { ");
        s.push_str(&conds.join(" && "));
        s.push_str(" }");
    }
    s.push_str(";\n");
    s
}

/// Direct evaluation of the same semantics, used only by `--check`.
fn native_allows(offer: &Offer, s: &Subject) -> bool {
    offer.min_score.is_none_or(|m| s.score >= m)
        && !(offer.deny_if_listed && s.listed)
        && !(offer.deny_if_restricted && s.restricted)
}

struct Bench {
    subject_ty: EntityTypeName,
    actions: Vec<EntityUid>,
    resource: EntityUid,
    policy_set: PolicySet,
    authorizer: Authorizer,
}

impl Bench {
    /// Everything a caller does per decision: build the principal entity and a
    /// one-entity `Entities`, build the `Request`, authorize.
    #[inline(never)]
    fn decide(&self, j: u64, offer_idx: usize, s: &Subject) -> Result<bool> {
        let principal = uid(&self.subject_ty, &j.to_string());
        let attrs: HashMap<String, RestrictedExpression> = HashMap::from([
            ("score".to_string(), RestrictedExpression::new_long(s.score)),
            ("listed".to_string(), RestrictedExpression::new_bool(s.listed)),
            ("restricted".to_string(), RestrictedExpression::new_bool(s.restricted)),
        ]);
        let entity = Entity::new(principal.clone(), attrs, HashSet::new())?;
        let entities = Entities::from_entities([entity], None)?;
        let req = Request::new(
            principal,
            self.actions[offer_idx].clone(),
            self.resource.clone(),
            Context::empty(),
            None,
        )?;
        let resp = self.authorizer.is_authorized(&req, &self.policy_set, &entities);
        Ok(resp.decision() == Decision::Allow)
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.subjects == 0 {
        bail!("--subjects must be > 0");
    }

    let text = std::fs::read_to_string(&args.policies)
        .with_context(|| format!("reading {}", args.policies.display()))?;
    let file: PolicyFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", args.policies.display()))?;
    let offers = file.offer;
    if offers.is_empty() {
        bail!("{}: no [[offer]] entries", args.policies.display());
    }
    let mut seen = HashSet::new();
    for o in &offers {
        if o.id.is_empty() {
            bail!("an [[offer]] has no id");
        }
        if !seen.insert(o.id.as_str()) {
            bail!("duplicate offer id {:?}", o.id);
        }
    }

    // ---- setup (untimed) ----
    let subject_ty = EntityTypeName::from_str("Subject")?;
    let action_ty = EntityTypeName::from_str("Action")?;
    let offer_ty = EntityTypeName::from_str("Offer")?;
    let actions: Vec<EntityUid> = offers.iter().map(|o| uid(&action_ty, &o.id)).collect();
    let mut src = String::new();
    for (o, a) in offers.iter().zip(&actions) {
        src.push_str(&cedar_policy_text(o, a));
    }
    let policy_set = PolicySet::from_str(&src)
        .map_err(|e| anyhow::anyhow!("cedar rejected the generated policies: {e:?}"))?;
    if policy_set.policies().count() != offers.len() {
        bail!("expected {} cedar policies, got {}", offers.len(), policy_set.policies().count());
    }
    let bench = Bench {
        subject_ty,
        actions,
        resource: uid(&offer_ty, "x"),
        policy_set,
        authorizer: Authorizer::new(),
    };
    let n_offers = offers.len() as u64;

    if args.check {
        let mut mismatches = 0u64;
        for k in 0..args.decisions {
            let (j, oi) = request(args.seed, k, args.subjects, n_offers);
            let s = subject(args.seed, j);
            let allow = bench.decide(j, oi, &s)?;
            let expect = native_allows(&offers[oi], &s);
            if k < 5 {
                eprintln!(
                    "check k={k} j={j} offer={} score={} listed={} restricted={} decision={}",
                    offers[oi].id,
                    s.score,
                    s.listed,
                    s.restricted,
                    if allow { "allow" } else { "deny" }
                );
            }
            if allow != expect {
                mismatches += 1;
                if mismatches <= 5 {
                    eprintln!("MISMATCH k={k} j={j} offer={} cedar={allow} native={expect}", offers[oi].id);
                }
            }
        }
        eprintln!("check: {} requests, {mismatches} cedar/native mismatches", args.decisions);
        if mismatches > 0 {
            bail!("cedar decisions disagree with the direct evaluation");
        }
    }

    // ---- timed decision loop ----
    let mut allowed = 0u64;
    let mut denied = 0u64;
    let start = Instant::now();
    for k in 0..args.decisions {
        let (j, oi) = request(args.seed, k, args.subjects, n_offers);
        let s = subject(args.seed, j);
        if bench.decide(j, oi, &s)? {
            allowed += 1;
        } else {
            denied += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();

    let out = serde_json::json!({
        "peer": "cedar-policy",
        "cedar_version": CEDAR_VERSION,
        "policies": offers.len(),
        "subjects": args.subjects,
        "decisions": args.decisions,
        "seed": args.seed,
        "entities_per_request": 1,
        "threads": 1,
        "seconds": seconds,
        "decisions_per_s": if seconds > 0.0 { args.decisions as f64 / seconds } else { 0.0 },
        "allowed": allowed,
        "denied": denied,
    });
    println!("{out}");
    Ok(())
}
