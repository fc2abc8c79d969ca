//! Fleet simulation: thousands of pods, each running the real provider (cache, scheduler,
//! backoff, forced refresh), against one simulated KMS with the shared gateway's quota, on
//! tokio's paused clock. Prints a table, writes one CSV and one PNG chart per scenario.
//!
//! ```text
//! cargo run --release --example fleet --features test-util -- --pods 1000,10000 --out docs/fleet
//! ```
//!
//! (`test-util` for `testing::KubeletAtomicWriter`, which writes the file source's volume.)
//!
//! Options: `--pods N[,N...]` (default 1000), `--scenario NAME` (repeatable; default all six:
//! steady_day, scheduled_rotation, revoked_rotation, cold_start, kms_outage,
//! synced_file_rotation), `--out DIR`
//! (default `target/fleet`), `--quota QPS` (default 450), `--http-attempts N` (model the HTTP
//! clients' per-request retries, default 1 = off), `--jitter-ms MS`, `--retry-base-ms MS`,
//! `--retry-max-ms MS` (override the refresh defaults), `--no-charts`.
//!
//! `summary.csv` in the output directory keeps the rows of scenarios and sizes not run this
//! time, so one scenario can be re-run alone.
//!
//! The simulation itself is `sim.rs` (shared with `tests/fleet.rs`); its module docs say what
//! it exercises and what it does not.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

mod chart;
mod sim;

/// Counts allocations, for the memory per provider instance.
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

struct Options {
    pods: Vec<usize>,
    scenarios: Vec<String>,
    out: PathBuf,
    quota: u32,
    http_attempts: u32,
    jitter: Option<Duration>,
    retry_base: Option<Duration>,
    retry_max: Option<Duration>,
    charts: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        pods: vec![1000],
        scenarios: Vec::new(),
        out: PathBuf::from("target/fleet"),
        quota: 450,
        http_attempts: 1,
        jitter: None,
        retry_base: None,
        retry_max: None,
        charts: true,
    };
    let mut args = std::env::args().skip(1);
    let ms = |v: Option<String>, flag: &str| -> Result<Duration, String> {
        v.and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .ok_or_else(|| format!("{flag} needs a number of milliseconds"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--pods" => {
                let v = args.next().ok_or("--pods needs N[,N...]")?;
                o.pods = v
                    .split(',')
                    .map(|n| n.replace('_', "").trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("--pods {v}: expected numbers like 1000,10000"))?;
            }
            "--scenario" => o
                .scenarios
                .push(args.next().ok_or("--scenario needs a name")?),
            "--out" => o.out = args.next().ok_or("--out needs a directory")?.into(),
            "--quota" => {
                o.quota = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--quota needs a number")?
            }
            "--http-attempts" => {
                o.http_attempts = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--http-attempts needs a number")?
            }
            "--jitter-ms" => o.jitter = Some(ms(args.next(), "--jitter-ms")?),
            "--retry-base-ms" => o.retry_base = Some(ms(args.next(), "--retry-base-ms")?),
            "--retry-max-ms" => o.retry_max = Some(ms(args.next(), "--retry-max-ms")?),
            "--no-charts" => o.charts = false,
            other => {
                return Err(format!(
                    "unknown option {other}; see the header of examples/fleet/main.rs"
                ))
            }
        }
    }
    Ok(o)
}

fn fmt_secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.is_infinite() => "never".into(),
        Some(v) => format!("{v:.1}"),
    }
}

fn main() {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&options.out).expect("create the output directory");
    let mut table = String::new();
    let header = "| scenario | pods | peak QPS | mean QPS | requests | throttled | unavailable | failed reads | not-ready reads | revoked-key reads (recovered / failed) | new key p50 / p99 / max (s) | heap per pod | wall |";
    let _ = writeln!(table, "{header}");
    let _ = writeln!(table, "|{}", "---|".repeat(13));
    let mut summary = String::from("scenario,pods,quota_qps,peak_qps,mean_qps,requests,throttled,unavailable,reads_ok,failed_reads,not_ready_reads,revoked_recovered,revoked_failed,pods_needing_key,never_reached,reach_p50_s,reach_p99_s,reach_max_s,heap_bytes_per_pod,allocations_per_pod,wall_s\n");
    for &pods in &options.pods {
        let mut scenarios = sim::Scenario::standard(pods);
        if let Some(unknown) = options
            .scenarios
            .iter()
            .find(|n| !scenarios.iter().any(|s| s.name == n.as_str()))
        {
            let known: Vec<_> = scenarios.iter().map(|s| s.name).collect();
            eprintln!(
                "error: unknown --scenario {unknown}; one of: {}",
                known.join(", ")
            );
            std::process::exit(2);
        }
        if !options.scenarios.is_empty() {
            scenarios.retain(|s| options.scenarios.iter().any(|n| n == s.name));
        }
        for mut scenario in scenarios {
            scenario.quota_qps = options.quota;
            scenario.http_attempts = options.http_attempts;
            if let Some(j) = options.jitter {
                scenario.refresh.jitter = j;
            }
            if let Some(b) = options.retry_base {
                scenario.refresh.retry_base = b;
            }
            if let Some(m) = options.retry_max {
                scenario.refresh.retry_max = m;
            }
            let wall = Instant::now();
            let region = Region::new(GLOBAL);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("runtime");
            let live = || {
                let s = region.change();
                s.bytes_allocated as i64 - s.bytes_deallocated as i64 + s.bytes_reallocated as i64
            };
            let report = runtime.block_on(sim::run(&scenario, &live));
            drop(runtime);
            let stats = region.change();
            let wall = wall.elapsed();
            let per_pod = report.heap_per_pod;
            let allocs = stats.allocations as f64 / pods as f64;
            let p = |q| report.reach_percentile(q);
            let reach = if report.has_mark {
                format!(
                    "{} / {} / {}",
                    fmt_secs(p(50.0)),
                    fmt_secs(p(99.0)),
                    fmt_secs(p(100.0))
                )
            } else {
                "-".into()
            };
            let _ = writeln!(
                table,
                "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} / {} | {} | {:.1} KiB | {:.0} s |",
                report.name,
                pods,
                report.peak_qps,
                report.mean_qps,
                report.requests,
                report.throttled,
                report.unavailable,
                report.reads_failed,
                report.reads_not_ready,
                report.revoked_recovered,
                report.revoked_failed,
                reach,
                per_pod / 1024.0,
                wall.as_secs_f64()
            );
            let opt = |v: Option<f64>| {
                v.filter(|v| v.is_finite())
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                summary,
                "{},{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.0},{:.1},{:.1}",
                report.name,
                pods,
                report.quota_qps,
                report.peak_qps,
                report.mean_qps,
                report.requests,
                report.throttled,
                report.unavailable,
                report.reads_ok,
                report.reads_failed,
                report.reads_not_ready,
                report.revoked_recovered,
                report.revoked_failed,
                report.needed,
                report.never_reached(),
                opt(p(50.0)),
                opt(p(99.0)),
                opt(p(100.0)),
                per_pod,
                allocs,
                wall.as_secs_f64()
            );
            let stem = format!("{}_{}", report.name, pods);
            write_csv(&options.out.join(format!("{stem}.csv")), &report);
            if options.charts {
                chart::draw(&options.out.join(format!("{stem}.png")), &report)
                    .expect("draw the chart");
            }
            println!("{}", table.lines().last().unwrap_or_default());
            if !report.file_writes.is_empty() {
                let after = sim::percentiles(&report.reached_after_write);
                println!(
                    "  file source: operator wrote versions at {:?} (s, version), {} failed polls; pods on the new key after its write p50 / p99 / max {} / {} / {} s; paused clock moved {:?} during blocking writes",
                    report.file_writes,
                    report.operator_failures,
                    fmt_secs(after.map(|a| a.0)),
                    fmt_secs(after.map(|a| a.1)),
                    fmt_secs(after.map(|a| a.2)),
                    report.blocking_clock_advance
                );
            }
        }
    }
    let summary = merge_summary(&options.out.join("summary.csv"), &summary);
    std::fs::write(options.out.join("summary.csv"), &summary).expect("write summary.csv");
    println!("\n{table}");
    println!("CSV and charts in {}", options.out.display());
}

/// `fresh` (header and rows of this run) with the rows of an existing summary with the same
/// header whose scenario and size were not run this time, in their previous order, first.
fn merge_summary(path: &Path, fresh: &str) -> String {
    let Ok(old) = std::fs::read_to_string(path) else {
        return fresh.to_owned();
    };
    let mut fresh_lines = fresh.lines();
    let header = fresh_lines.next().unwrap_or_default();
    let mut old_lines = old.lines();
    if old_lines.next() != Some(header) {
        return fresh.to_owned();
    }
    let key = |line: &str| line.splitn(3, ',').take(2).collect::<Vec<_>>().join(",");
    let fresh_rows: Vec<&str> = fresh_lines.collect();
    let mut out = format!("{header}\n");
    for line in old_lines {
        if !fresh_rows.iter().any(|f| key(f) == key(line)) {
            let _ = writeln!(out, "{line}");
        }
    }
    for line in fresh_rows {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// One row per bucket of simulated time (1 s for runs up to 2 h, else 60 s): requests and
/// answers summed over the bucket, the busiest second in it, and the pod gauges at its end.
fn write_csv(path: &Path, report: &sim::Report) {
    let bucket = report.bucket_secs();
    let mut out = String::from(
        "t_s,requests,ok,throttled,unavailable,peak_qps,pods_on_current_key,pods_stale\n",
    );
    for (i, chunk) in report.seconds.chunks(bucket).enumerate() {
        let sum = |f: fn(&sim::Second) -> u32| chunk.iter().map(|s| f(s) as u64).sum::<u64>();
        let last = chunk.last().expect("chunks are never empty");
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            i * bucket,
            sum(|s| s.requests),
            sum(|s| s.ok),
            sum(|s| s.throttled),
            sum(|s| s.unavailable),
            chunk.iter().map(|s| s.requests).max().unwrap_or(0),
            last.on_current,
            last.stale
        );
    }
    std::fs::write(path, out).expect("write the CSV");
}
