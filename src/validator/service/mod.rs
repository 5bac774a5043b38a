//! The long-running validator (protocol §2, §11): polls the block clock, evaluates every
//! closed interval exactly once and in order (resuming after the last recorded one),
//! records each atomically, reports it to the validation API, and has the
//! [`WeightSetter`](weight_setter) set weights once per epoch. Beside the loop: how a
//! validator is built ([`config`]), its durable [`state`], its [`metrics`], the reveal
//! watchdog ([`reveal_watchdog`]) and the source-auth sidecar ([`source_auth`]).

mod config;
mod metrics;
mod reveal_watchdog;
mod source_auth;
mod state;
mod weight_setter;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tracing::{debug, error, info, warn};

pub use config::{ConfigError, ConfigField, ServiceSettings, ValidatorConfig};
pub use metrics::Metrics;
pub use reveal_watchdog::Watched;
pub use source_auth::SourceAuthSidecar;
pub use state::{StateError, ValidatorState, WeightSubmission};
use weight_setter::{ServiceParts, WeightSetter, api_excluded};

use crate::chain::Chain;
use crate::evidence::EvidenceApi;
use crate::index::overlap::OverlapIndex;
use crate::index::refresh::{SnapshotRead, SnapshotSource};
use crate::protocol::{Block, IntervalId};
use crate::shutdown::{Shutdown, run_every};
use crate::telemetry::write_heartbeat;
use crate::validator::interval::{
    IntervalContext, IntervalError, IntervalEvaluator, IntervalReport, PublishSummary, Seat,
};

/// Work done after an interval is recorded (owner publishing, protocol §13). Failures
/// are the implementation's to log; they never undo or repeat the interval.
#[async_trait]
pub trait IntervalPublisher: Send + Sync {
    /// Called once per recorded interval with the snapshot read of this poll (`None` when
    /// no snapshot source is configured) and the index after the interval was recorded;
    /// says what it published.
    async fn after_interval(
        &self,
        report: &IntervalReport,
        snapshot: Option<&SnapshotRead>,
        index: &OverlapIndex,
    ) -> PublishSummary;

    /// Entries of the state's owner-pending tree to record atomically with the interval,
    /// so its work survives a stop between recording and publishing.
    fn pending_entries(&self, _report: &IntervalReport) -> Vec<(Vec<u8>, Vec<u8>)> {
        Vec::new()
    }

    /// Called once when the service starts: finishes work a stop cut short.
    async fn resume(&self, _index: &OverlapIndex) {}
}

/// Service failures that end the loop (state trouble). Chain and interval trouble is
/// retried on the next poll instead.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The state could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The state records an interval the chain has not reached.
    #[error(
        "the recorded state is ahead of the chain: last finished interval {last} but the chain is at block \
         {block}. This state belongs to another chain (an embedded chain that was reset?); point the work \
         directory at a fresh one or remove the old one"
    )]
    StateAheadOfChain {
        /// The last recorded interval.
        last: u64,
        /// The chain's current block.
        block: u64,
    },
}

/// How the evaluation of one interval ended.
#[derive(Debug)]
enum IntervalRun {
    /// Evaluated and recorded (boxed: a report is large).
    Recorded(Box<IntervalReport>),
    /// Not evaluated (chain or interval trouble, logged); retried on the next poll.
    Retry,
    /// Evaluated, but the state already held it (another run recorded it); not counted again.
    AlreadyRecorded,
}

/// What one poll did.
#[derive(Debug, Default)]
pub struct TickReport {
    /// The chain's block at the start of the poll.
    pub block: u64,
    /// Intervals evaluated and recorded, oldest first.
    pub intervals: Vec<IntervalReport>,
    /// Weights set (or found already set) this poll.
    pub weights: Option<WeightSubmission>,
    /// What the refresh of the shared overlap snapshot found, when intervals were pending
    /// and a snapshot source is configured.
    pub snapshot: Option<SnapshotRead>,
}

/// The validator loop; built by [`ValidatorConfig::build`](crate::validator::ValidatorConfig::build).
pub struct ValidatorService {
    /// Evaluates intervals (and holds the seat: netuid, clock, hotkey).
    pub evaluator: IntervalEvaluator,
    /// The recorded state.
    pub state: ValidatorState,
    /// The validation API, if configured.
    pub api: Option<Arc<dyn EvidenceApi>>,
    /// The loop's metrics.
    pub metrics: Arc<Metrics>,
    /// How the loop polls and sets weights.
    pub settings: ServiceSettings,
    /// The shared overlap snapshot, when a record-info bucket is configured.
    snapshot: Option<SnapshotSource>,
    /// Post-interval work (owner mode).
    publisher: Option<Arc<dyn IntervalPublisher>>,
    /// Sets the weights of each epoch and follows the commits until their reveal.
    weights: WeightSetter,
}

impl ValidatorService {
    pub(crate) fn new(
        evaluator: IntervalEvaluator,
        state: ValidatorState,
        api: Option<Arc<dyn EvidenceApi>>,
        metrics: Arc<Metrics>,
        settings: ServiceSettings,
        snapshot: Option<SnapshotSource>,
        publisher: Option<Arc<dyn IntervalPublisher>>,
    ) -> Self {
        Self { evaluator, state, api, metrics, settings, snapshot, publisher, weights: WeightSetter::default() }
    }

    fn seat(&self) -> &Seat {
        &self.evaluator.seat
    }

    fn chain(&self) -> &dyn Chain {
        self.evaluator.chain.as_ref()
    }

    /// Closed intervals still to evaluate at `block`, oldest first: after the last
    /// recorded one, or just the latest closed one on a first start.
    pub fn pending_intervals(&self, block: u64) -> Result<Vec<u64>, ServiceError> {
        let clock = &self.seat().clock;
        let Some(latest) = clock.latest_closed(Block::new(block)).map(IntervalId::get) else { return Ok(Vec::new()) };
        let first = match self.state.last_finished_interval()? {
            Some(last) if last > latest => return Err(ServiceError::StateAheadOfChain { last, block }),
            Some(last) => last + clock.interval_blocks,
            None => latest,
        };
        Ok((first..=latest).step_by(clock.interval_blocks as usize).collect())
    }

    /// What the weight setter borrows for one poll.
    fn parts(&self) -> ServiceParts<'_> {
        ServiceParts {
            chain: self.chain(),
            seat: self.seat(),
            state: &self.state,
            metrics: &self.metrics,
            settings: &self.settings,
            api: self.api.as_deref(),
        }
    }

    /// The commits the reveal watchdog follows until their reveal.
    pub fn watched_commits(&self) -> Vec<Watched> {
        self.weights.watched()
    }

    /// Finishes work a stop cut short (owner bundles recorded but not published); call
    /// once at start.
    pub async fn resume(&self) {
        if let Some(publisher) = &self.publisher {
            publisher.resume(&self.state.index()).await;
        }
    }

    /// One poll: evaluate what is pending, then set weights if a new epoch began.
    /// Interval and chain trouble is logged and left for the next poll.
    pub async fn tick(&self) -> Result<TickReport, ServiceError> {
        let block = match self.chain().current_block().await {
            Ok(b) => b,
            Err(e) => {
                warn!(chain = %self.chain().describe(), error = %e, "cannot read the current block; retrying next poll");
                return Ok(TickReport::default());
            }
        };
        self.metrics.current_block.set(block as i64);
        let pending = self.pending_intervals(block)?;
        let snapshot = match &self.snapshot {
            Some(source) if !pending.is_empty() => Some(source.refresh(&self.state.index()).await),
            _ => None,
        };
        let mut report = TickReport { block, snapshot, ..Default::default() };
        let mut last = None;
        for interval_id in pending {
            let Some(ctx) =
                self.interval_context(IntervalId::new(interval_id), Block::new(block), report.snapshot.clone()).await
            else {
                break;
            };
            match self.run_interval(&ctx).await? {
                IntervalRun::Recorded(done) => report.intervals.push(*done),
                IntervalRun::Retry | IntervalRun::AlreadyRecorded => break,
            }
            last = Some(ctx);
        }
        if self.settings.set_weights {
            report.weights = self.weights.maybe_set(&self.parts(), block, last.as_ref()).await?;
        }
        if let Some(path) = &self.settings.heartbeat
            && let Err(e) =
                write_heartbeat(path, Block::new(block), self.state.last_finished_interval()?.map(IntervalId::new))
        {
            warn!(path = %path.display(), error = %e, "cannot write the liveness file");
        }
        Ok(report)
    }

    /// What the evaluation of `interval_id` shares; `None` (logged) when it must wait.
    async fn interval_context(
        &self,
        interval: IntervalId,
        block: Block,
        snapshot: Option<SnapshotRead>,
    ) -> Option<IntervalContext> {
        let interval_id = interval.get();
        let api_excluded = api_excluded(self.api.as_deref(), interval_id).await;
        match self.evaluator.context(interval, block, api_excluded, snapshot).await {
            Ok(ctx) => Some(ctx),
            Err(e) => {
                self.metrics.interval_errors.inc();
                log_interval_error(interval_id, &e);
                None
            }
        }
    }

    /// Evaluates and records one interval.
    async fn run_interval(&self, ctx: &IntervalContext) -> Result<IntervalRun, ServiceError> {
        let interval_id = ctx.interval_id.get();
        let started = Instant::now();
        let mut report = match self.evaluator.evaluate(ctx, &self.state.index()).await {
            Ok(r) => r,
            Err(e) => {
                self.metrics.interval_errors.inc();
                log_interval_error(interval_id, &e);
                return Ok(IntervalRun::Retry);
            }
        };
        for d in &report.record.decisions {
            info!(interval_id, miner = %d.miner_hotkey, accepted = d.accepted, decision = %d.to_json(), "decision");
        }
        if let Some(publisher) = &self.publisher {
            report.record.pending_bundles = publisher.pending_entries(&report);
        }
        if !self.state.record_interval(&report.record)? {
            warn!(interval_id, "interval already recorded; not counting it again");
            return Ok(IntervalRun::AlreadyRecorded);
        }
        self.metrics.record_interval(&report, started.elapsed());
        log_interval(&report, started.elapsed());
        if let Some(api) = &self.api {
            api.report(interval_id, &report.record.decisions).await;
        }
        if let Some(publisher) = &self.publisher {
            report.published =
                Some(publisher.after_interval(&report, ctx.snapshot.as_ref(), &self.state.index()).await);
        }
        Ok(IntervalRun::Recorded(Box::new(report)))
    }

    /// Follows earlier commits (after a start, the last recorded one too): the reveal
    /// watchdog alone, without evaluating or setting anything.
    pub async fn follow_reveals(&self, block: u64) -> Result<(), ServiceError> {
        Ok(self.weights.check_reveals(&self.parts(), block).await?)
    }

    /// Runs until `shutdown`: finishes work a stop cut short, then polls. An interrupted
    /// interval is simply not recorded.
    pub async fn run(&self, shutdown: &Shutdown) -> Result<(), ServiceError> {
        let seat = self.seat();
        info!(
            chain = %self.chain().describe(),
            netuid = seat.netuid,
            hotkey = %seat.hotkey.ss58(),
            poll_sec = self.settings.poll.as_secs_f64(),
            "validator started"
        );
        if shutdown.unless_stopped(self.resume()).await.is_some() {
            run_every(self.settings.poll, shutdown, || async { self.tick().await.map(drop) }).await?;
        }
        info!("validator stopped; state is consistent");
        Ok(())
    }
}

/// The summary lines of a recorded interval.
fn log_interval(report: &IntervalReport, took: Duration) {
    let interval_id = report.record.interval_id;
    let llm = report.timings.llm;
    if llm.judgements > 0 {
        if llm.unavailable > 0 {
            warn!(
                interval_id,
                unavailable = llm.unavailable,
                "some content checks were unavailable (see the decision notes)"
            );
        }
        info!(interval_id, judgements = llm.judgements, llm_ms = llm.busy.as_millis() as u64, "LLM time this interval");
    }
    let accepted = report.record.decisions.iter().filter(|d| d.accepted).count();
    info!(
        interval_id,
        candidates = report.candidates,
        evaluated = report.record.decisions.len(),
        accepted,
        index_entries_added = report.record.index_entries.len(),
        took_ms = took.as_millis() as u64,
        "interval recorded"
    );
    debug!(
        interval_id,
        discover_ms = report.timings.discover.as_millis() as u64,
        miners_ms = report.timings.miners.as_millis() as u64,
        prune_ms = report.timings.prune.as_millis() as u64,
        "interval stage timings"
    );
}

fn log_interval_error(interval_id: u64, e: &IntervalError) {
    error!(interval_id, error = %e, "interval not evaluated; it will be retried on the next poll");
}
