//! What `nexis bench api` reports: per-server load and memory figures, the table and the
//! verdicts against the targets.

use serde::Serialize;

use super::Target;
use nexis::evidence_server::load::LoadReport;

/// Resident memory of a server process over a run, MiB.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Memory {
    /// When the load started.
    pub(super) rss_start_mib: f64,
    /// Largest sample of the first half of the run.
    pub(super) rss_first_half_max_mib: f64,
    /// Largest sample of the second half of the run.
    pub(super) rss_second_half_max_mib: f64,
    /// When the load ended.
    pub(super) rss_end_mib: f64,
    /// The process's peak (VmHWM), start-up included.
    pub(super) peak_rss_mib: f64,
}

/// One target's result.
#[derive(Debug, Clone, Serialize)]
pub(super) struct TargetReport {
    pub(super) target: &'static str,
    pub(super) server: &'static str,
    /// `measured`, `skipped` or `unavailable`.
    pub(super) status: &'static str,
    /// Why it was not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(super) load: Option<LoadReport>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(super) memory: Option<Memory>,
}

impl TargetReport {
    pub(super) fn not_measured(target: Target, status: &'static str, reason: String) -> Self {
        Self { target: target.id(), server: target.label(), status, reason: Some(reason), load: None, memory: None }
    }
}

/// The whole run.
#[derive(Debug, Serialize)]
pub(super) struct BenchReport {
    /// `debug` or `release`.
    pub(super) build: &'static str,
    pub(super) validators: usize,
    pub(super) posts_per_validator: usize,
    pub(super) decisions_per_post: usize,
    pub(super) miners: usize,
    pub(super) readers: usize,
    pub(super) rate_per_min: u32,
    pub(super) poll_ms: u64,
    pub(super) block_ms: u64,
    pub(super) max_sec_per_target: u64,
    pub(super) targets: Vec<TargetReport>,
}

/// The run as a table, one row per server.
pub(super) fn print_table(r: &BenchReport) {
    println!(
        "{} build; {} validators x {} posts of {} decisions at {} a minute each; {} miners and {} readers polling every {} ms",
        r.build,
        r.validators,
        r.posts_per_validator,
        r.decisions_per_post,
        r.rate_per_min,
        r.miners,
        r.readers,
        r.poll_ms
    );
    println!(
        "{:<24} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>10} {:>15}",
        "server",
        "posts/s",
        "post p50",
        "post p99",
        "read p50",
        "read p99",
        "miner p50",
        "miner p99",
        "errors",
        "peak RSS",
        "RSS 1st/2nd half"
    );
    for t in &r.targets {
        let (Some(l), Some(m)) = (&t.load, &t.memory) else {
            println!("{:<24} {} ({})", t.server, t.status, t.reason.as_deref().unwrap_or(""));
            continue;
        };
        println!(
            "{:<24} {:>8.1} {:>6.0} ms {:>6.0} ms {:>6.0} ms {:>6.0} ms {:>6.0} ms {:>6.0} ms {:>7} {:>6.0} MiB {:>6.0}/{:.0} MiB",
            t.server,
            l.posts.per_sec,
            l.posts.p50_ms,
            l.posts.p99_ms,
            l.reads.p50_ms,
            l.reads.p99_ms,
            l.miner_reads.p50_ms,
            l.miner_reads.p99_ms,
            l.posts.errors + l.reads.errors + l.miner_reads.errors,
            m.peak_rss_mib,
            m.rss_first_half_max_mib,
            m.rss_second_half_max_mib
        );
        if let Some(e) = &l.first_error {
            println!("{:<24} first error: {e}", "");
        }
    }
}

/// The targets, judged on this run: our PostgreSQL server at least 5x the
/// reference's posts/s at a lower post p99, our reads under 50 ms p99 while posts run, and
/// memory flat (the second half's largest RSS within 10 % of the first half's).
pub(super) fn print_verdicts(r: &BenchReport) {
    let find =
        |id: &str| r.targets.iter().find(|t| t.target == id).and_then(|t| Some((t.load.as_ref()?, t.memory.as_ref()?)));
    if let (Some((ours, _)), Some((reference, _))) = (find("nexis-postgres"), find("reference-postgres")) {
        let ratio = ours.posts.per_sec / reference.posts.per_sec.max(1e-9);
        let lower = ours.posts.p99_ms < reference.posts.p99_ms;
        println!(
            "posts/s nexis-postgres / reference: {ratio:.1}x (target >= 5x: {}); post p99 {:.0} vs {:.0} ms (lower: {})",
            yes(ratio >= 5.0),
            ours.posts.p99_ms,
            reference.posts.p99_ms,
            yes(lower)
        );
    }
    for id in ["nexis-sqlite", "nexis-postgres"] {
        if let Some((l, m)) = find(id) {
            let reads = l.reads.p99_ms.max(l.miner_reads.p99_ms);
            let flat = m.rss_second_half_max_mib <= m.rss_first_half_max_mib * 1.1;
            println!(
                "{id}: reads p99 {reads:.0} ms (target < 50 ms: {}); memory flat: {}",
                yes(reads < 50.0),
                yes(flat)
            );
        }
    }
}

fn yes(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}
