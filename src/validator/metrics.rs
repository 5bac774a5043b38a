//! Service telemetry: Prometheus metrics (served on `/metrics`) and the liveness file that
//! `nexis health` reads, so a container health check sees whether the loop still moves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

/// The validator's metrics.
pub struct Metrics {
    registry: Registry,
    pub intervals: Counter,
    pub interval_errors: Counter,
    pub decisions: Family<ResultLabel, Counter>,
    pub failures: Family<CodeLabel, Counter>,
    pub pruned: Family<KindLabel, Counter>,
    pub stage_seconds: Family<StageLabel, Histogram>,
    pub last_interval: Gauge,
    pub current_block: Gauge,
    pub weight_submissions: Family<ResultLabel, Counter>,
    pub last_weight_submission: Gauge,
    pub llm_judgements: Counter,
    pub llm_unavailable: Counter,
    /// Row checks left unavailable by trouble on the validator's side, by check name.
    pub unavailable_checks: Family<KindLabel, Counter>,
    /// `nexis_weights_committed_total`: timelocked weight commits accepted by the chain.
    pub weights_committed: Counter,
    /// `nexis_weights_revealed_total`: commits the watchdog saw revealed as committed.
    pub weights_revealed: Counter,
    /// `nexis_weights_reveal_missing_total`: commits the chain dropped or never revealed.
    pub weights_reveal_missing: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `nexis_validator` prefix, and the weight-reveal
    /// counters as `nexis_weights_*`.
    pub fn new() -> Self {
        let mut root = Registry::default();
        let m = Self {
            intervals: Counter::default(),
            interval_errors: Counter::default(),
            decisions: Family::default(),
            failures: Family::default(),
            pruned: Family::default(),
            stage_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.01, 2.0, 16))),
            last_interval: Gauge::default(),
            current_block: Gauge::default(),
            weight_submissions: Family::default(),
            last_weight_submission: Gauge::default(),
            llm_judgements: Counter::default(),
            llm_unavailable: Counter::default(),
            unavailable_checks: Family::default(),
            weights_committed: Counter::default(),
            weights_revealed: Counter::default(),
            weights_reveal_missing: Counter::default(),
            registry: Registry::default(),
        };
        root.register(
            "nexis_weights_committed",
            "Timelocked weight commits accepted by the chain",
            m.weights_committed.clone(),
        );
        root.register(
            "nexis_weights_revealed",
            "Timelocked commits revealed with the committed weights",
            m.weights_revealed.clone(),
        );
        root.register(
            "nexis_weights_reveal_missing",
            "Timelocked commits the chain dropped at reveal or never revealed",
            m.weights_reveal_missing.clone(),
        );
        let registry = root.sub_registry_with_prefix("nexis_validator");
        registry.register("intervals", "Intervals evaluated and recorded", m.intervals.clone());
        registry.register(
            "interval_errors",
            "Interval evaluations abandoned for validator-side trouble",
            m.interval_errors.clone(),
        );
        registry.register("decisions", "Miner decisions by result", m.decisions.clone());
        registry.register("failures", "Failure codes in decisions", m.failures.clone());
        registry.register("overlap_pruned_rows", "Rows pruned as overlaps, by kind", m.pruned.clone());
        registry.register("stage_seconds", "Duration of interval stages", m.stage_seconds.clone());
        registry.register("last_interval", "Last interval recorded", m.last_interval.clone());
        registry.register("current_block", "Latest block seen", m.current_block.clone());
        registry.register("weight_submissions", "Weight submissions by result", m.weight_submissions.clone());
        registry.register(
            "last_weight_submission_timestamp_seconds",
            "Unix time of the last successful weight submission",
            m.last_weight_submission.clone(),
        );
        registry.register("llm_judgements", "Semantic and category judgements requested", m.llm_judgements.clone());
        registry.register(
            "llm_unavailable_checks",
            "Content checks left unavailable by model trouble (never the miner's fault)",
            m.llm_unavailable.clone(),
        );
        registry.register(
            "unavailable_checks",
            "Row checks (semantic, category, source) left unavailable, never the miner's fault",
            m.unavailable_checks.clone(),
        );
        Self { registry: root, ..m }
    }

    /// Observes one stage duration.
    pub fn stage(&self, stage: &str, took: Duration) {
        self.stage_seconds.get_or_create(&StageLabel { stage: stage.to_string() }).observe(took.as_secs_f64());
    }

    /// Counts by a result label.
    pub fn count(family: &Family<ResultLabel, Counter>, result: &str) {
        family.get_or_create(&ResultLabel { result: result.to_string() }).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `/metrics` on `addr` until the process ends. Returns the bound address.
pub async fn serve(metrics: Arc<Metrics>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    serve_render(move || metrics.render(), addr).await
}

/// Serves `/metrics` with the text `render` returns (any registry) until the process
/// ends. Returns the bound address.
pub async fn serve_render(
    render: impl Fn() -> String + Clone + Send + Sync + 'static,
    addr: SocketAddr,
) -> std::io::Result<SocketAddr> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let render = render.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                    render(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(bound)
}

/// What the liveness file says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Unix seconds of the last loop iteration that reached the chain.
    pub at: i64,
    pub block: u64,
    pub last_interval: Option<u64>,
    pub pid: u32,
}

/// The liveness file under a work directory.
pub fn heartbeat_path(workdir: &Path, service: &str) -> PathBuf {
    workdir.join(format!("{service}.heartbeat.json"))
}

/// Writes the liveness file atomically.
pub fn write_heartbeat(path: &Path, block: u64, last_interval: Option<u64>) -> std::io::Result<()> {
    let beat = Heartbeat { at: Utc::now().timestamp(), block, last_interval, pid: std::process::id() };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&beat).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, path)
}

/// Health of a service judged from its liveness file.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    Alive { age_sec: i64, beat: Heartbeat },
    Stale { age_sec: i64, beat: Heartbeat },
    Missing(String),
}

/// Reads the liveness file and compares its age with `max_age`.
pub fn check_health(path: &Path, max_age: Duration) -> Health {
    let beat: Heartbeat = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(b) => b,
        Err(e) => return Health::Missing(format!("{}: {e}", path.display())),
    };
    let age_sec = Utc::now().timestamp() - beat.at;
    if age_sec > max_age.as_secs() as i64 { Health::Stale { age_sec, beat } } else { Health::Alive { age_sec, beat } }
}
