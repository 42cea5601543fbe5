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
            serde_json::to_string_pretty(&json!({
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
                "edges_per_s": edges_per_s,
                "costing": r.costing,
                "max_points_lost": r.max_points_lost,
                "cap_points": r.cap_points,
                "contacts_mean_quantiles": {"p10": r.quantiles[0], "p25": r.quantiles[1], "p50": r.quantiles[2], "p75": r.quantiles[3], "p90": r.quantiles[4]},
            }))?
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
