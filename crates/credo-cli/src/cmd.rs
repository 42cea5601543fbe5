use crate::render;
use anyhow::{Context, Result};
use credo_engine::{Clock, Engine, IngestOptions, IngestReport};
use credo_model::{Day, SubjectId};
use credo_score::Model;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

pub struct Global {
    pub data: PathBuf,
    pub json: bool,
    pub as_of: Option<Day>,
    pub model: Option<PathBuf>,
}

impl Global {
    pub fn load_model(&self) -> Result<Model> {
        match &self.model {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading model file {}", p.display()))?;
                Model::parse(&text).with_context(|| format!("model file {}", p.display()))
            }
            None => Ok(Model::default_model()),
        }
    }

    pub fn open(&self) -> Result<Engine> {
        let (engine, report) =
            Engine::open(&self.data, self.load_model()?, self.as_of.map(Clock::Fixed))
                .with_context(|| format!("opening data folder {}", self.data.display()))?;
        if let Some(at) = report.recovery.truncated_at {
            eprintln!(
                "warning: the event log ended in a torn batch (a crash during a write); {} unacknowledged bytes from byte {at} were truncated",
                report.recovery.truncated_bytes
            );
        }
        if let Some(at) = report.audit.audit_recovery.truncated_at {
            eprintln!(
                "warning: the audit log ended in a torn batch; {} unacknowledged bytes from byte {at} were truncated",
                report.audit.audit_recovery.truncated_bytes
            );
        }
        if report.audit.forgotten_inquiries > 0 {
            tracing::info!(
                inquiries = report.audit.forgotten_inquiries,
                "deleted inquiries past their 12 months"
            );
        }
        tracing::info!(
            events = report.events,
            subjects = report.subjects,
            seconds = report.seconds,
            "opened data folder"
        );
        Ok(engine)
    }
}

pub fn bar(total: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    let style = match total {
        Some(_) => "{msg:>10} [{bar:40}] {percent:>3}% {binary_bytes_per_sec} eta {eta}",
        None => "{msg:>10} {spinner} {binary_bytes} {binary_bytes_per_sec}",
    };
    if let Ok(s) = ProgressStyle::with_template(style) {
        pb.set_style(s.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

pub fn generate(
    g: &Global,
    people: usize,
    seed: u64,
    out: &Path,
    end: Option<Day>,
) -> Result<ExitCode> {
    let started = Instant::now();
    let summary = write_population(people, seed, out, end)?;
    let secs = started.elapsed().as_secs_f64();
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::generated_json(&summary, out, secs))?
        );
    } else {
        println!("{}", render::generated_text(&summary, out, secs));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn write_population(
    people: usize,
    seed: u64,
    out: &Path,
    end: Option<Day>,
) -> Result<credo_sim::Summary> {
    anyhow::ensure!(people > 0, "--people must be at least 1");
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let create = |name: &str| -> Result<std::io::BufWriter<std::fs::File>> {
        let p = out.join(name);
        let f = std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(std::io::BufWriter::with_capacity(1 << 20, f))
    };
    let (mut s, mut e, mut c, mut l) = (
        create("subjects.jsonl")?,
        create("events.jsonl")?,
        create("contacts.jsonl")?,
        create("labels.csv")?,
    );
    let mut cfg = credo_sim::Config {
        people,
        seed,
        ..Default::default()
    };
    if let Some(end) = end {
        cfg.end = end;
    }
    let pb = bar(Some(people as u64), "generate");
    if let Ok(st) =
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} people eta {eta}")
    {
        pb.set_style(st.progress_chars("=> "));
    }
    let summary = credo_sim::generate(
        &cfg,
        credo_sim::Sinks {
            subjects: &mut s,
            events: &mut e,
            contacts: &mut c,
            labels: &mut l,
        },
        &|done, total| {
            pb.set_length(total);
            pb.set_position(done);
        },
    )?;
    for w in [&mut s, &mut e, &mut c, &mut l] {
        w.flush().context("writing the population")?;
    }
    pb.finish_and_clear();
    Ok(summary)
}

/// Ingests files into an open engine, with a progress bar over their total size.
pub fn ingest_files(
    engine: &mut Engine,
    files: &[PathBuf],
    progress_json: bool,
    batch_bytes: usize,
) -> Result<IngestReport> {
    let total: Option<u64> = files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                None
            } else {
                std::fs::metadata(f).ok().map(|m| m.len())
            }
        })
        .sum();
    let pb = bar(total, "ingest");
    // Generated and typical furnisher lines are 120 to 200 bytes.
    engine.reserve_events(usize::try_from(total.unwrap_or(0) / 160).unwrap_or(0));
    let opts = IngestOptions {
        chunk_bytes: batch_bytes,
        ..Default::default()
    };
    let mut report = IngestReport::default();
    for f in files {
        let name = f.display().to_string();
        let done_before = report.bytes;
        let mut on_batch = |p: &credo_engine::BatchProgress<'_>| {
            pb.set_position(done_before + p.bytes);
            if progress_json {
                let line = serde_json::json!({
                    "file": p.file, "acked_line": p.acked_line, "accepted": p.accepted,
                    "duplicates": p.duplicates, "rejected": p.rejected,
                });
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        };
        let r = if f.as_os_str() == "-" {
            engine.ingest("-", std::io::stdin(), &opts, &mut on_batch)
        } else {
            let file = std::fs::File::open(f).with_context(|| format!("opening {name}"))?;
            engine.ingest(&name, file, &opts, &mut on_batch)
        }
        .with_context(|| format!("ingesting {name}"))?;
        report.add(r, opts.keep_errors);
    }
    pb.finish_and_clear();
    Ok(report)
}

pub fn ingest(
    g: &Global,
    files: &[PathBuf],
    progress_json: bool,
    batch_bytes: usize,
) -> Result<ExitCode> {
    let mut engine = g.open()?;
    let started = Instant::now();
    let report = ingest_files(&mut engine, files, progress_json, batch_bytes)?;
    let secs = started.elapsed().as_secs_f64();
    if g.json || progress_json {
        println!(
            "{}",
            serde_json::to_string(&render::ingest_json(&report, secs))?
        );
    } else {
        println!("{}", render::ingest_text(&report, secs));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn parse_subject(id: &str) -> Result<SubjectId, ExitCode> {
    SubjectId::parse(id.trim()).map_err(|e| {
        eprintln!("error: {id:?} is not a valid subject id: {e}");
        ExitCode::from(2)
    })
}

pub fn score(g: &Global, id: &str) -> Result<ExitCode> {
    let sid = match parse_subject(id) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let engine = g.open()?;
    let view = engine.score(sid, g.as_of)?;
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::score_json(&view, engine.model()))?
        );
    } else {
        println!("{}", render::score_text(&view, engine.model()));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn summary(g: &Global) -> Result<ExitCode> {
    let engine = g.open()?;
    let s = engine.summary(g.as_of);
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::summary_json(&s))?
        );
    } else {
        println!("{}", render::summary_text(&s));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check(g: &Global, id: &str, action: &str) -> Result<ExitCode> {
    let sid = match parse_subject(id) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let engine = g.open()?;
    let d = match engine.check(sid, action, g.as_of) {
        Ok(d) => d,
        Err(credo_engine::EngineError::UnknownAction(e)) => {
            eprintln!("error: {e} (`credo policy list` shows what there is)");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    let shown = sid.masked();
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::decision_json(&d, &shown))?
        );
    } else {
        println!("{}", render::decision_text(&d, &shown));
    }
    // A deny is an answer, not a failure: the exit code is 0 either way.
    Ok(ExitCode::SUCCESS)
}

pub fn list_search(
    g: &Global,
    name: &str,
    id: Option<&str>,
    province: Option<&str>,
) -> Result<ExitCode> {
    let id = match id.map(parse_subject).transpose() {
        Ok(i) => i,
        Err(code) => return Ok(code),
    };
    if name.trim().is_empty() {
        eprintln!("error: --name must not be empty");
        return Ok(ExitCode::from(2));
    }
    let engine = g.open()?;
    let q = credo_engine::ListQuery {
        name: name.to_string(),
        id,
        province: province.map(str::to_string),
    };
    let found = engine.list_search(&q, g.as_of)?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        println!("{}", render::list_text(&found));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn nearby(g: &Global, lat: f64, lon: f64, radius: f64, limit: usize) -> Result<ExitCode> {
    let engine = g.open()?;
    let n = match engine.nearby(lat, lon, radius, limit) {
        Ok(n) => n,
        Err(credo_engine::EngineError::Geo(e)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&credo_server::body::nearby_json(&n))?
        );
    } else {
        println!("{}", render::nearby_text(&n));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn policy_check(g: &Global, file: &Path, install: bool) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file.display().to_string();
    let model = g.load_model()?;
    let result = if install {
        let mut engine = g.open()?;
        engine.install_policies(&name, &text).map(|n| (n, true))
    } else {
        credo_rules::PolicySet::parse(&name, &text, (model.min, model.max))
            .map(|s| (s.len(), false))
            .map_err(credo_engine::EngineError::from)
    };
    match result {
        Ok((n, installed)) => {
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({"file": name, "valid": true, "offers": n, "installed": installed})
                );
            } else if installed {
                println!("{name}: valid, {n} offers installed");
            } else {
                println!("{name}: valid, {n} offers");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(credo_engine::EngineError::Policy(e)) => {
            if g.json {
                println!(
                    "{}",
                    serde_json::json!({"file": e.file, "valid": false, "line": e.line, "column": e.column, "problem": e.problem})
                );
            } else {
                eprintln!("error: {e}");
            }
            if install {
                eprintln!("nothing was installed; the policies in force are unchanged");
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn policy_list(g: &Global) -> Result<ExitCode> {
    let engine = g.open()?;
    let p = engine.policies();
    if g.json {
        let actions: Vec<_> = credo_rules::ACTIONS
            .iter()
            .map(|a| serde_json::json!({"id": a.id, "label": a.label}))
            .collect();
        let offers: Vec<_> = p
            .offers
            .iter()
            .map(|o| serde_json::json!({"id": o.id, "party": o.party, "label": o.label}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"actions": actions, "offers": offers})
            )?
        );
    } else {
        println!("catalogued actions (court restrictions and bans):");
        for a in credo_rules::ACTIONS {
            println!("  {:<24} {}", a.id, a.label);
        }
        println!("offers in force:");
        for o in &p.offers {
            println!("  {:<24} {} ({})", o.id, o.label, o.party);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn serve(g: &Global, listen: &str, config: credo_server::Config) -> Result<ExitCode> {
    let engine = g.open()?;
    serve_engine(engine, listen, config)
}

fn serve_engine(
    mut engine: Engine,
    listen: &str,
    config: credo_server::Config,
) -> Result<ExitCode> {
    // Decisions for today read kept scores and reasons instead of computing them.
    let today = engine.today();
    engine.keep_day_facts(today);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("serving on http://{addr}/ (Ctrl-C to stop)");
        credo_server::serve(listener, engine, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn demo(
    g: &Global,
    people: usize,
    seed: u64,
    no_serve: bool,
    listen: &str,
) -> Result<ExitCode> {
    let started = Instant::now();
    let mut engine = g.open()?;
    let mut generated = None;
    let mut ingested = None;
    if engine.event_count() == 0 {
        let pop = g.data.join("population");
        let t = Instant::now();
        let summary = write_population(people, seed, &pop, None)?;
        generated = Some((summary, t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let files: Vec<PathBuf> = ["subjects.jsonl", "contacts.jsonl", "events.jsonl"]
            .iter()
            .map(|f| pop.join(f))
            .collect();
        let report = ingest_files(&mut engine, &files, false, 8 << 20)?;
        ingested = Some((report, t.elapsed().as_secs_f64()));
        // Synthetic data has its own "now": the end of the generated period.
        engine.set_folder_as_of(Some(credo_sim::Config::default().end))?;
    }
    let t = Instant::now();
    let summary = engine.summary(g.as_of);
    let scoring_secs = t.elapsed().as_secs_f64();
    let total = started.elapsed().as_secs_f64();
    if g.json {
        let mut v = render::summary_json(&summary);
        if let Some((s, secs)) = &generated {
            v["generated"] = render::generated_json(s, &g.data.join("population"), *secs);
        }
        if let Some((r, secs)) = &ingested {
            v["ingest"] = render::ingest_json(r, *secs);
        }
        v["scoring_seconds"] = serde_json::json!(scoring_secs);
        v["total_seconds"] = serde_json::json!(total);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if let Some((s, secs)) = &generated {
            println!(
                "{}\n",
                render::generated_text(s, &g.data.join("population"), *secs)
            );
        }
        if let Some((r, secs)) = &ingested {
            println!("{}\n", render::ingest_text(r, *secs));
        }
        println!("{}", render::summary_text(&summary));
        println!(
            "scored {} subjects in {scoring_secs:.2} s; demo took {total:.1} s",
            summary.subjects
        );
    }
    if no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    let keys = crate::access::demo_keys(&mut engine)?;
    eprintln!("\nkeys for trying the API (new for this run; shown once, kept only as SHA-256):");
    for (role, party, token) in &keys {
        eprintln!("  {:<14} {:<20} {token}", role.name(), party);
    }
    eprintln!(
        "send them as `Authorization: Bearer <key>`; pages: http://{listen}/me (the subject's key and ID), http://{listen}/court (the court's key, party court-1)\n"
    );
    serve_engine(engine, listen, credo_server::Config::default())
}
