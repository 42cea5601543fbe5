//! `credo`: the command-line edge. Flag parsing lives here; the work is done by
//! credo-engine, credo-sim and credo-server.

mod access;

// The server allocates per request (hyper, JSON bodies, audit records) on every core;
// glibc's malloc showed up at about a fifth of its profile under load (BENCHMARKS.md,
// HTTP decisions). mimalloc's thread-local free lists take that away.
//
// Built with `no_thp`: mimalloc otherwise asks for transparent huge pages on its arenas
// and later returns parts of them to the OS, so the kernel zeroes whole 2 MiB pages again
// and again. On a fresh `credo ingest` of 4.4 M events that zeroing was a fifth of the
// CPU time (`clear_page_erms`), and the run took 5.3 s instead of 3.0 s (BENCHMARKS.md,
// durable ingest). The map's queries, which might have gained from huge pages, measured
// the same without them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod cluster;
mod cmd;
mod fit;
mod graph;
mod model_out;
mod render;
mod simulate;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use credo_model::Day;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "credo",
    version,
    about = "Credit scores, the court list and decisions, from one durable event log"
)]
struct Cli {
    /// The data folder.
    #[arg(
        long,
        global = true,
        default_value = "./credo-data",
        env = "CREDO_DATA"
    )]
    data: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Evaluate as of this day (YYYY-MM-DD) instead of today (or the folder's fixed day).
    #[arg(long, global = true, value_parser = parse_day)]
    as_of: Option<Day>,
    /// A model file to score with instead of the embedded default (see docs/model.md).
    #[arg(long, global = true)]
    model: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make a synthetic population if the data folder is empty, ingest and score it, print a summary, then serve.
    Demo(DemoArgs),
    /// Write a realistic synthetic population as JSON lines.
    Generate(GenerateArgs),
    /// Load subjects and events from JSON-lines files (`-` for standard input). Idempotent.
    Ingest(IngestArgs),
    /// A subject's score, tier, dimensions, reason codes and history.
    Score(ScoreArgs),
    /// Counts, score distribution and tiers of the whole data folder.
    Summary,
    /// May this subject do this action? Allow or deny, the reasons, and how to lift a deny.
    Check(CheckArgs),
    /// The public court list.
    #[command(subcommand)]
    List(ListCmd),
    /// Listed debtors near a point, nearest first (the debtor map).
    Nearby(NearbyArgs),
    /// The contact graph: the relationships propagation.
    #[command(subcommand)]
    Graph(GraphCmd),
    /// Fit a scorecard on a CSV of labelled outcomes (WOE binning, IV selection,
    /// logistic regression by IRLS, points scaling).
    Fit(FitArgs),
    /// A scorecard's (or model file's) AUC, Gini, KS, bad rate per score band and
    /// calibration on a labelled CSV.
    Evaluate(EvaluateArgs),
    /// Population stability of a scorecard or model between two CSVs: the PSI of the
    /// score and of each characteristic, with the usual thresholds flagged.
    Monitor(MonitorArgs),
    /// Every subject's feature values (the model's features) as of a day, as CSV, with
    /// the generator's outcome labels when the folder has them.
    Features(simulate::FeaturesArgs),
    /// Compare the current model and policies with proposed ones (--model, --policies)
    /// over the whole population: tier changes, actions gained and lost, by province and
    /// capacity decile, and a chart of the score distributions.
    Simulate(simulate::SimulateArgs),
    /// Court notices targeted by area, region, industry and social circle.
    #[command(subcommand)]
    Notices(NoticesCmd),
    /// Call warnings for telcos.
    #[command(subcommand)]
    Calls(CallsCmd),
    /// Relying parties' offer policies (see docs/policies.md).
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// API keys: create (the token is shown once), list, revoke.
    #[command(subcommand)]
    Key(KeyCmd),
    /// The audit log: verify its hash chain, or print it.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// A subject's self-access report: all data held, sources, recipients, inquiries of the
    /// last 12 months, consents and disputes.
    Report(ScoreArgs),
    /// Check every file of the data folder offline (read-only, beside a server too):
    /// checksums, decoding, duplicates, the audit chain, settings. Exit 1 on damage.
    Fsck,
    /// The project's own benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Run a cluster node: apply the partitions the assignment gives it from the NATS
    /// stream, and serve the HTTP API (docs/cluster.md).
    Node(cluster::NodeArgs),
    /// A local cluster, its keys and its input.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
}

#[derive(Args)]
struct DemoArgs {
    #[arg(long, default_value_t = 100_000)]
    people: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the summary and stop instead of serving.
    #[arg(long)]
    no_serve: bool,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
}

#[derive(Args)]
struct GenerateArgs {
    #[arg(long)]
    people: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    /// The last day of the generated period (YYYY-MM-DD).
    #[arg(long, value_parser = parse_day)]
    end: Option<Day>,
}

#[derive(Args)]
struct IngestArgs {
    /// JSON-lines files; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print one JSON line per synced batch to standard output (what is acknowledged so far).
    #[arg(long)]
    progress_json: bool,
    /// Bytes of input per synced batch.
    #[arg(long, default_value_t = 8 << 20)]
    batch_bytes: usize,
}

#[derive(Args)]
struct ScoreArgs {
    /// Resident ID or unified social credit code.
    id: String,
}

#[derive(Args)]
struct CheckArgs {
    /// Resident ID or unified social credit code.
    id: String,
    /// A catalogued action (flight, rail_g, star_hotel, ...; `credo policy list` shows all)
    /// or the id of a relying party's offer.
    action: String,
}

#[derive(Subcommand)]
enum ListCmd {
    /// Search published entries by name, as the court's site does.
    Search(ListSearchArgs),
}

#[derive(Args)]
struct ListSearchArgs {
    #[arg(long)]
    name: String,
    /// Narrow to one resident ID or unified social credit code.
    #[arg(long)]
    id: Option<String>,
    /// Narrow to a province: its name (北京, Beijing) or two-digit code.
    #[arg(long)]
    province: Option<String>,
}

#[derive(Args)]
struct NearbyArgs {
    /// Latitude of the point (WGS-84 degrees).
    #[arg(long, allow_hyphen_values = true)]
    lat: f64,
    /// Longitude of the point.
    #[arg(long, allow_hyphen_values = true)]
    lon: f64,
    /// Radius in metres.
    #[arg(long, default_value_t = 500.0)]
    radius: f64,
    /// Cases listed at most.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Subcommand)]
enum GraphCmd {
    /// Run the full propagation of contacts' standing now, with progress (see docs/graph.md).
    Propagate,
}

#[derive(Args)]
struct FitArgs {
    /// The CSV (with a header).
    file: PathBuf,
    /// The outcome column.
    #[arg(long)]
    target: String,
    /// The target's value for a good outcome; every other value is bad.
    #[arg(long)]
    good: String,
    /// Write the scorecard here (TOML).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Treat these columns as categories even if they hold numbers.
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
    /// Leave these columns out. (A column of words with a different value in every row,
    /// an identifier, is left out anyway.)
    #[arg(long, value_delimiter = ',')]
    ignore: Vec<String>,
    /// Also write an engine model file: the features of the base model (--model, or the
    /// embedded default) with the fitted points. Needs columns named as the model's
    /// features (`credo features` writes them).
    #[arg(long)]
    engine_model: Option<PathBuf>,
    /// Points at the base odds. Without any of --base-points, --base-odds and --pdo, the
    /// scaling puts the lowest score the card can give at the bottom of the model's range
    /// (350) and the highest at the top (950), and reports the odds and points to double
    /// that come out; with any of them, the others default to 650, 10 and 60.
    #[arg(long)]
    base_points: Option<f64>,
    /// Odds of good to bad at the base points.
    #[arg(long)]
    base_odds: Option<f64>,
    /// Points to double the odds.
    #[arg(long)]
    pdo: Option<f64>,
    /// The shape numeric characteristics' bad rates must take: `auto` (optbinning's rule:
    /// ascending, descending, peak or valley per characteristic), `monotonic`,
    /// `ascending`, `descending`, `peak` or `valley`.
    #[arg(long, value_enum, default_value_t = TrendArg::Auto)]
    trend: TrendArg,
    /// The smallest share of rows a bin may hold.
    #[arg(long, default_value_t = 0.0)]
    min_share: f64,
    /// At most this many bins per characteristic.
    #[arg(long, default_value_t = 8)]
    max_bins: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TrendArg {
    Auto,
    Monotonic,
    Ascending,
    Descending,
    Peak,
    Valley,
}

impl From<TrendArg> for credo_fit::Trend {
    fn from(t: TrendArg) -> credo_fit::Trend {
        match t {
            TrendArg::Auto => credo_fit::Trend::Auto,
            TrendArg::Monotonic => credo_fit::Trend::Monotonic,
            TrendArg::Ascending => credo_fit::Trend::Ascending,
            TrendArg::Descending => credo_fit::Trend::Descending,
            TrendArg::Peak => credo_fit::Trend::Peak,
            TrendArg::Valley => credo_fit::Trend::Valley,
        }
    }
}

#[derive(Args)]
struct MonitorArgs {
    /// A scorecard (`credo fit --out`) or a model file.
    model: PathBuf,
    /// The population the model was built on.
    base: PathBuf,
    /// The population now.
    now: PathBuf,
}

#[derive(Args)]
struct EvaluateArgs {
    /// A scorecard written by `credo fit --out`, or a model file (its features are read
    /// from the columns of their names).
    model: PathBuf,
    file: PathBuf,
    #[arg(long)]
    target: String,
    /// The good value (default: the scorecard's).
    #[arg(long)]
    good: Option<String>,
}

#[derive(Subcommand)]
enum NoticesCmd {
    /// The audience of a notice about a published case, by criterion.
    Plan(graph::PlanArgs),
}

#[derive(Subcommand)]
enum CallsCmd {
    /// Whether a call to this number gets a warning, and which.
    Screen { number: String },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Validate a policy file without installing it.
    Check { file: PathBuf },
    /// Validate a policy file and, if it is valid, make it the data folder's policies.
    Install { file: PathBuf },
    /// The catalogued actions and the offers in force.
    List,
}

/// A new key's role and holder.
#[derive(Args)]
pub struct KeyArgs {
    /// admin, furnisher, court, relying_party, telco or subject.
    #[arg(long)]
    role: String,
    /// The party's name (a-z, 0-9, '-', '_', '.'); not for a subject.
    #[arg(long)]
    party: Option<String>,
    /// For a subject's key: its ID.
    #[arg(long)]
    subject: Option<String>,
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create a key; prints its token once (only its SHA-256 is kept).
    Create(KeyArgs),
    /// Every key (never a token).
    List,
    /// Revoke a key at once.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain against the recorded head: any edited, removed or reordered
    /// entry is found. Exits 1 if the chain is broken. Read-only.
    Verify,
    /// Print every entry.
    Log,
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    limits: PublicLimits,
}

/// The public routes' rate limit (a server's, or a cluster node's).
#[derive(Args, Clone, Copy)]
pub struct PublicLimits {
    /// Requests per second per client IP on the public routes (list, map, tip-offs).
    #[arg(long, env = "CREDO_PUBLIC_RATE", default_value_t = 10.0)]
    public_rate: f64,
    /// The burst a client may use before the rate applies.
    #[arg(long, env = "CREDO_PUBLIC_BURST", default_value_t = 40.0)]
    public_burst: f64,
}

impl PublicLimits {
    pub fn config(self) -> credo_server::Config {
        credo_server::Config {
            public_rate: self.public_rate,
            public_burst: self.public_burst,
        }
    }
}

fn parse_day(s: &str) -> Result<Day, String> {
    Day::parse(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    // `credo … | head` closes the pipe early; `println!` then panics. End quietly with a
    // SIGPIPE's status, as a shell tool does, instead of printing a panic. (Stable Rust
    // has no flag to restore the default SIGPIPE action without unsafe code.)
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    // Logs go to stderr, filtered by RUST_LOG; CREDO_LOG_FORMAT=json makes them one JSON
    // object per line for a log collector.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr);
    if std::env::var("CREDO_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", chain_text(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes joined by ": ", as `{:#}` does, but without a cause whose
/// text the message before it already ends with (the library errors put an I/O error's
/// text in their own message and also give it as the source).
fn chain_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn run(cli: Cli) -> Result<ExitCode> {
    let g = cmd::Global {
        data: cli.data,
        json: cli.json,
        as_of: cli.as_of,
        model: cli.model,
    };
    match cli.cmd {
        Cmd::Demo(a) => cmd::demo(&g, a.people, a.seed, a.no_serve, &a.listen),
        Cmd::Generate(a) => cmd::generate(&g, a.people, a.seed, &a.out, a.end),
        Cmd::Ingest(a) => cmd::ingest(&g, &a.files, a.progress_json, a.batch_bytes),
        Cmd::Score(a) => cmd::score(&g, &a.id),
        Cmd::Summary => cmd::summary(&g),
        Cmd::Check(a) => cmd::check(&g, &a.id, &a.action),
        Cmd::List(ListCmd::Search(a)) => {
            cmd::list_search(&g, &a.name, a.id.as_deref(), a.province.as_deref())
        }
        Cmd::Policy(PolicyCmd::Check { file }) => cmd::policy_check(&g, &file, false),
        Cmd::Policy(PolicyCmd::Install { file }) => cmd::policy_check(&g, &file, true),
        Cmd::Policy(PolicyCmd::List) => cmd::policy_list(&g),
        Cmd::Graph(GraphCmd::Propagate) => graph::propagate(&g),
        Cmd::Fit(a) => fit::fit(
            &g,
            &fit::FitArgs {
                file: &a.file,
                target: &a.target,
                good: &a.good,
                out: a.out.as_deref(),
                categorical: &a.categorical,
                ignore: &a.ignore,
                engine_model: a.engine_model.as_deref(),
                scaling: (a.base_points.is_some() || a.base_odds.is_some() || a.pdo.is_some())
                    .then(|| {
                        let d = credo_fit::Scaling::default();
                        credo_fit::Scaling {
                            base_points: a.base_points.unwrap_or(d.base_points),
                            base_odds: a.base_odds.unwrap_or(d.base_odds),
                            pdo: a.pdo.unwrap_or(d.pdo),
                        }
                    }),
                bins: credo_fit::BinOptions {
                    trend: a.trend.into(),
                    min_share: a.min_share,
                    max_bins: a.max_bins,
                    ..Default::default()
                },
            },
        ),
        Cmd::Evaluate(a) => fit::evaluate(&g, &a.model, &a.file, &a.target, a.good.as_deref()),
        Cmd::Monitor(a) => fit::monitor(&g, &a.model, &a.base, &a.now),
        Cmd::Features(a) => simulate::features(&g, &a),
        Cmd::Simulate(a) => simulate::simulate(&g, &a),
        Cmd::Notices(NoticesCmd::Plan(a)) => graph::notices_plan(&g, &a),
        Cmd::Calls(CallsCmd::Screen { number }) => graph::calls_screen(&g, &number),
        Cmd::Nearby(a) => cmd::nearby(&g, a.lat, a.lon, a.radius, a.limit),
        Cmd::Serve(a) => cmd::serve(&g, &a.listen, a.limits.config()),
        Cmd::Key(KeyCmd::Create(k)) => {
            access::key_create(&g, &k.role, k.party, k.subject.as_deref())
        }
        Cmd::Key(KeyCmd::List) => access::key_list(&g),
        Cmd::Key(KeyCmd::Revoke { id }) => access::key_revoke(&g, &id),
        Cmd::Audit(AuditCmd::Verify) => access::audit_verify(&g),
        Cmd::Audit(AuditCmd::Log) => access::audit_log(&g),
        Cmd::Report(a) => access::report(&g, &a.id),
        Cmd::Fsck => access::fsck(&g),
        Cmd::Bench(b) => bench::run(&g, b),
        Cmd::Node(a) => cluster::node(&g, &a),
        Cmd::Cluster(c) => cluster::run(&g, &c),
    }
}

#[cfg(test)]
mod tests {
    use super::chain_text;

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        // The engine's I/O error has the I/O error's text in its message, and as source.
        let io = credo_engine::EngineError::Io {
            path: "events.log".into(),
            source: std::io::Error::other("No space left on device"),
        };
        let e = anyhow::Error::new(io).context("ingesting a.jsonl");
        assert_eq!(
            chain_text(&e),
            "ingesting a.jsonl: i/o error on events.log: No space left on device"
        );
        // Causes not in the message before them are kept, as `{:#}` keeps them.
        let e = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(chain_text(&e), "outer: middle: inner");
    }
}
