//! `credo graph propagate`: the relationships propagation as a job.

use crate::cmd::Global;
use anyhow::Result;
use serde_json::json;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

pub fn propagate(g: &Global) -> Result<ExitCode> {
    let mut engine = g.open()?;
    let bar = if g.json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message("propagating");
        pb
    };
    let started = Instant::now();
    let report = engine.propagate_relations(&mut |s| {
        bar.set_message(format!(
            "sweep {}: largest move {:.2e}, {} edge visits",
            s.iteration, s.residual, s.edge_visits
        ));
        bar.tick();
    })?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let Some(r) = report else {
        if g.json {
            println!(
                "{}",
                json!({"propagated": false, "reason": "the model has no contacts_standing feature"})
            );
        } else {
            println!("The model has no contacts_standing feature: nothing to propagate.");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let edges_per_s = r.edge_visits as f64 / seconds.max(1e-9);
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&credo_server::body::propagation_json(&r, seconds))?
        );
    } else {
        println!(
            "Propagated over {} subjects and {} contacts as of {}: {} sweeps, largest last move {:.1e} ({}), {:.2} s, {:.0} M edge visits/s.",
            r.subjects,
            r.contacts,
            r.as_of,
            r.iterations,
            r.residual,
            if r.converged {
                "converged"
            } else {
                "NOT converged"
            },
            seconds,
            edges_per_s / 1e6
        );
        println!(
            "{} subjects lose points through their contacts (at most {:.0}; the model's cap is {:.0}).",
            r.costing, r.max_points_lost, r.cap_points
        );
        println!(
            "Contacts' mean standing: p10 {:.3}, p25 {:.3}, median {:.3}, p75 {:.3}, p90 {:.3}.",
            r.quantiles[0], r.quantiles[1], r.quantiles[2], r.quantiles[3], r.quantiles[4]
        );
    }
    Ok(if r.converged {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(clap::Args)]
pub struct PlanArgs {
    /// A published case number.
    case: String,
    /// People within this many km of the debtor's address (0: off; at most 50).
    #[arg(long, default_value_t = 3.0)]
    radius_km: f64,
    /// Leave out the debtor's region code.
    #[arg(long)]
    no_region: bool,
    /// Industry match: same, related or off.
    #[arg(long, default_value = "related", value_parser = ["same", "related", "off"])]
    industry: String,
    /// The debtor's contacts within this many hops (0: off; at most 3).
    #[arg(long, default_value_t = 2)]
    hops: u8,
    /// The most people in the audience.
    #[arg(long, default_value_t = 100_000)]
    cap: usize,
    /// Masked IDs of the first members to print.
    #[arg(long, default_value_t = 20)]
    members: usize,
}

pub fn notices_plan(g: &Global, a: &PlanArgs) -> Result<ExitCode> {
    let engine = g.open()?;
    let o = credo_engine::NoticeOptions {
        radius_km: a.radius_km,
        same_region: !a.no_region,
        industry: credo_engine::notices::IndustryMatch::parse(&a.industry)?,
        hops: a.hops,
        cap: a.cap,
    };
    let started = Instant::now();
    let plan = match engine.notice_plan(&a.case, &o) {
        Ok(p) => p,
        Err(
            e @ (credo_engine::EngineError::NoCase(_) | credo_engine::EngineError::BadNotice(_)),
        ) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let mut v = credo_server::body::notice_plan_json(&plan, a.members);
    if g.json {
        v["ms"] = json!(ms);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "Notice for case {} ({}), debtor {}: {} people{} in {ms:.1} ms.",
            plan.case,
            plan.court,
            plan.debtor.masked(),
            plan.members.len(),
            if plan.capped { " (capped)" } else { "" }
        );
        println!(
            "  within {} km: {}; same region: {}; same or related industry: {}; contacts within {} hops: {}",
            o.radius_km, plan.by_radius, plan.by_region, plan.by_industry, o.hops, plan.by_contacts
        );
        println!("  impressions delivered so far: {}", plan.delivered);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn calls_screen(g: &Global, number: &str) -> Result<ExitCode> {
    let engine = g.open()?;
    let s = match engine.screen_call(number) {
        Ok(s) => s,
        Err(e @ credo_engine::EngineError::BadNumber(_)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    if g.json {
        println!("{}", credo_server::body::screen_json(&s));
    } else if s.warn {
        println!("warn: {}", s.message.unwrap_or_default());
        if let Some(sms) = s.sms {
            println!("text to the caller: {sms}");
        }
    } else {
        println!("no warning");
    }
    Ok(ExitCode::SUCCESS)
}
