//! The `signalbox bench` command line.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use url::Url;

use super::load::{MAX_IN_FLIGHT, Mode};
use super::progress::Progress;
use super::report::Report;
use super::setup::{Setup, SetupOptions, TargetKind};
use super::{Plan, measure, report};

/// Measure signalbox's own cost: the same load routed through signalbox and sent direct,
/// in alternating blocks; reports latency, overhead, throughput, errors and memory.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Measured requests on each path (routed and direct).
    #[arg(short = 'n', long, default_value_t = 10_000)]
    pub requests: u64,

    /// Closed loop: this many requests in flight, each sender sending again when its
    /// answer ends.
    #[arg(long, default_value_t = 16, conflicts_with = "rate")]
    pub concurrency: usize,

    /// Open loop: arrivals at this many requests per second; latency runs from each
    /// scheduled arrival.
    #[arg(short = 'r', long)]
    pub rate: Option<f64>,

    /// Open loop: most requests in flight at once; a later arrival waits for a slot (and
    /// the wait counts in its latency).
    #[arg(long, default_value_t = 1024)]
    pub max_in_flight: usize,

    /// `engine` (in-process engine over emulator models), `serve` (the HTTP proxy over
    /// that engine, in-process), `fake` (engine over in-memory backends, no HTTP), or the
    /// URL of an Ollama-compatible server such as `signalbox serve`.
    #[arg(short = 't', long, default_value = "engine")]
    pub target: TargetKind,

    /// Emulator (or fake) models behind the in-process engine.
    #[arg(long, default_value_t = 2)]
    pub models: usize,

    /// The user message of every request.
    #[arg(long, default_value = "Why is the sky blue?")]
    pub prompt: String,

    /// URL target: the model name to ask for (`signalbox` lets the router choose).
    #[arg(long, default_value = "signalbox")]
    pub model: String,

    /// URL target: the model server behind it, measured directly for the overhead.
    #[arg(long)]
    pub direct: Option<Url>,

    /// URL target: the model name on the direct server (default: --model).
    #[arg(long)]
    pub direct_model: Option<String>,

    /// Uncounted requests sent first on each path.
    #[arg(long, default_value_t = 200)]
    pub warmup: u64,

    /// Blocks per path; routed and direct alternate block by block.
    #[arg(long, default_value_t = 10)]
    pub blocks: u32,

    /// Each request's time limit (both paths).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// Stop sending after this long, however many requests are left.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub duration: Duration,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    fn plan(&self) -> anyhow::Result<Plan> {
        let mode = match self.rate {
            Some(rate) if !(rate.is_finite() && rate > 0.0) => {
                bail!("--rate must be a number of requests per second above zero, got {rate}")
            }
            Some(rate) => Mode::Open {
                rate,
                max_in_flight: self.max_in_flight.clamp(1, MAX_IN_FLIGHT),
            },
            None if self.concurrency == 0 => bail!("--concurrency must be at least 1"),
            None => Mode::Closed {
                concurrency: self.concurrency,
            },
        };
        if self.requests == 0 {
            bail!("--requests must be at least 1");
        }
        Ok(Plan {
            requests: self.requests,
            mode,
            warmup: self.warmup,
            blocks: self.blocks.max(1),
            timeout: self.timeout,
            duration: self.duration,
        })
    }

    fn setup_options(&self, plan: &Plan) -> SetupOptions {
        let width = match plan.mode {
            Mode::Closed { concurrency } => concurrency,
            Mode::Open { max_in_flight, .. } => max_in_flight,
        };
        SetupOptions {
            target: self.target.clone(),
            models: self.models.max(1),
            prompt: self.prompt.clone(),
            width,
            timeout: self.timeout,
            model: self.model.clone(),
            direct: self.direct.clone(),
            direct_model: self.direct_model.clone(),
        }
    }
}

/// Run the benchmark and print its report (a table, or JSON with `--json`). Fails when no
/// routed request was answered.
pub async fn run_cli(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let report = run(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(if report.routed.ok > 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("signalbox bench: no routed request was answered; see the errors above");
        ExitCode::FAILURE
    })
}

/// Set the target up, measure, stop what was started, and report.
pub async fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    let plan = args.plan()?;
    let setup = Setup::new(&args.setup_options(&plan)).await?;
    let paths = 1 + u64::from(setup.direct.is_some());
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(done.clone(), (plan.requests + plan.warmup) * paths);
    let measured = measure(&plan, &setup, &done).await;
    progress.finish();
    let report = report(&plan, &setup, &measured);
    setup.shutdown().await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::report::ModeReport;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn args(line: &str) -> BenchArgs {
        let words = std::iter::once("bench").chain(line.split_whitespace());
        Cli::try_parse_from(words).unwrap().bench
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tiny_engine_run_answers_every_request_and_reports_every_field() {
        let args = args(
            "-n 200 --concurrency 4 --warmup 10 --blocks 2 --timeout 10s --duration 60s --json",
        );
        let report = tokio::time::timeout(Duration::from_secs(60), run(&args))
            .await
            .expect("a 400-request run ends well within a minute")
            .unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["target"], "engine");
        assert_eq!(json["mode"]["closed"]["concurrency"], 4);
        for path in ["routed", "direct"] {
            assert_eq!(json[path]["requests"], 200, "{json:#}");
            assert_eq!(json[path]["ok"], 200, "{json:#}");
            assert_eq!(json[path]["errors"], serde_json::json!({}));
            assert!(json[path]["throughput_per_s"].as_f64().unwrap() > 0.0);
            for figure in ["latency", "service", "ttft"] {
                let q = &json[path][figure];
                assert_eq!(q["count"], 200, "{path} {figure}: {q}");
                let (p50, p99) = (q["p50_us"].as_f64().unwrap(), q["p99_us"].as_f64().unwrap());
                assert!(0.0 < p50 && p50 <= p99 && p99 <= q["max_us"].as_f64().unwrap());
            }
        }
        for key in ["p50_us", "p95_us", "p99_us"] {
            assert!(json["overhead"][key].is_f64(), "{json:#}");
        }
        assert!(json["rss_kib"]["start"].is_u64() && json["rss_kib"]["end"].is_u64());
        assert_eq!(json["duration_capped"], false);
        assert!(
            json["method"]
                .as_str()
                .unwrap()
                .contains("alternating blocks")
        );
        assert!(report.table().contains("latency p99"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tiny_serve_run_goes_through_the_proxy_and_straight_to_the_emulator() {
        let args = args("-t serve -n 100 --concurrency 4 --warmup 10 --blocks 2 --duration 60s");
        let report = tokio::time::timeout(Duration::from_secs(60), run(&args))
            .await
            .expect("a 200-request run ends well within a minute")
            .unwrap();
        assert_eq!(report.target, "serve");
        let direct = report.direct.as_ref().unwrap();
        assert_eq!(
            (report.routed.ok, direct.ok),
            (100, 100),
            "{}",
            report.table()
        );
        assert!(report.overhead.is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_loop_run_on_fakes_sends_every_arrival() {
        let args = args("-t fake -n 200 --rate 2000 --warmup 0 --blocks 2 --duration 60s");
        let report = run(&args).await.unwrap();
        assert!(matches!(report.mode, ModeReport::Open { rate, .. } if rate == 2000.0));
        let direct = report.direct.as_ref().unwrap();
        assert_eq!((report.routed.ok, direct.ok), (200, 200));
        assert!(report.overhead.is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_duration_cap_ends_a_run_early_and_says_so() {
        let args = args("-t fake -n 1000000 --rate 1000 --warmup 0 --blocks 1 --duration 200ms");
        let report = tokio::time::timeout(Duration::from_secs(30), run(&args))
            .await
            .expect("the cap ends the run")
            .unwrap();
        assert!(report.duration_capped);
        assert!(report.routed.requests < 1000, "{}", report.routed.requests);
    }

    #[test]
    fn bad_loads_are_refused_with_what_to_give() {
        let error = args("--rate 0").plan().unwrap_err().to_string();
        assert!(error.contains("--rate must be"), "{error}");
        assert!(args("--concurrency 0").plan().is_err());
        assert!(Cli::try_parse_from(["bench", "--concurrency", "4", "--rate", "10"]).is_err());
        let target = Cli::try_parse_from(["bench", "--target", "nowhere"]);
        assert!(target.is_err());
    }
}
