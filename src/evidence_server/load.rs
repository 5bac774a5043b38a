//! The load behind `nexis bench api`, sent to any evidence API server at a base URL (ours
//! or the Python reference): simulated validators post signed reports of the current
//! interval at their rate limit (our client, distinct nonces) while miners poll their
//! results (`GET /v1/validation-results?validator_hotkey=…&interval_id=…`) and readers poll
//! `get_latest_result`; reports requests/s and latency percentiles of each kind.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::chain::Hotkey;
use crate::evidence::{EvidenceClient, EvidenceError};
use crate::model::{Decision, DecisionNotes, Failure};
use crate::protocol::{Block, IntervalClock};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Concurrent validators.
    pub validators: usize,
    /// Posts per validator.
    pub posts: usize,
    /// Decisions per post.
    pub decisions: usize,
    /// Concurrent miners polling their results.
    pub miners: usize,
    /// Concurrent `get_latest_result` readers.
    pub readers: usize,
    /// Time between one validator's posts (its rate limit); a slower server makes them
    /// back to back.
    pub post_every: Duration,
    /// Time between one poller's reads.
    pub poll_every: Duration,
    /// Timeout of each request.
    pub timeout: Duration,
    /// No post starts after this long (a server too slow for `posts` is measured on what
    /// it completed by then).
    pub max_duration: Duration,
}

/// The chain clock the load follows: posts are for the current interval.
#[derive(Debug, Clone, Copy)]
pub struct ChainClock {
    /// Wall-clock start of block 0, Unix milliseconds.
    pub genesis_ms: u64,
    /// Milliseconds per block.
    pub block_ms: u64,
}

impl ChainClock {
    /// The first block of the current interval.
    pub fn interval(&self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let block = now.saturating_sub(self.genesis_ms) / self.block_ms.max(1);
        IntervalClock::default().interval_start(Block::new(block)).get()
    }
}

/// Throughput and latency of one kind of request.
#[derive(Debug, Clone, Serialize)]
pub struct LoadStats {
    /// Requests completed.
    pub requests: usize,
    /// Requests that failed.
    pub errors: usize,
    /// Completed requests per second of the run.
    pub per_sec: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Signed posts.
    pub posts: LoadStats,
    /// `get_latest_result` reads (while the posts run).
    pub reads: LoadStats,
    /// Miners' `GET /v1/validation-results` reads (while the posts run).
    pub miner_reads: LoadStats,
    /// Wall time of the run, seconds.
    pub wall_sec: f64,
    /// The first error seen, if any (to tell a timeout from a refusal).
    pub first_error: Option<String>,
}

fn stats(mut lat: Vec<Duration>, errors: usize, wall: Duration) -> LoadStats {
    lat.sort();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    LoadStats {
        requests: lat.len(),
        errors,
        per_sec: lat.len() as f64 / wall.as_secs_f64().max(1e-9),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

/// The hotkey of simulated miner `m`.
fn miner_hotkey(m: usize) -> String {
    format!("5BenchMiner{m:05}")
}

fn decisions(v: usize, interval: u64, miners: usize) -> Vec<Decision> {
    (0..miners)
        .map(|m| {
            let hotkey = miner_hotkey(m);
            if (m + v).is_multiple_of(5) {
                Decision::load_failure(&hotkey, interval, Failure::DatasetSha256Mismatch, DecisionNotes::default())
            } else {
                Decision::evaluated(&hotkey, interval, vec![], 50, 10, DecisionNotes::default())
            }
        })
        .collect()
}

/// The keys of `n` simulated validators (the allowlist the server must hold).
pub fn validator_keys(n: usize) -> Vec<Hotkey> {
    (0..n).map(|i| Hotkey::from_seed([(i % 251) as u8 + 1; 32])).collect()
}

/// Latencies of the successful requests of one task, how many failed, and the first error.
type TaskResult = (Vec<Duration>, usize, Option<String>);

/// Runs `spec` against the server at `base` (`http://host:port`), whose allowlist holds
/// [`validator_keys`]`(spec.validators)`, following `clock`.
pub async fn run_load(base: &str, clock: ChainClock, spec: &LoadSpec) -> std::io::Result<LoadReport> {
    let keys = validator_keys(spec.validators);
    let started = Instant::now();
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let writers = spawn_writers(keys.clone(), base, clock, spec)?;
    let latest = format!("{base}/v1/get_latest_result");
    let readers = (0..spec.readers)
        .map(|_| {
            let url = latest.clone();
            poller(spec, &done_rx, move || url.clone())
        })
        .collect();
    let miners = (0..spec.miners)
        .map(|m| {
            let (base, validator) = (base.to_string(), keys[m % keys.len().max(1)].ss58());
            poller(spec, &done_rx, move || {
                format!("{base}/v1/validation-results?validator_hotkey={validator}&interval_id={}", clock.interval())
            })
        })
        .collect();
    let (post_lat, post_err, post_first) = join_all(writers).await?;
    let post_wall = started.elapsed();
    let _ = done_tx.send(true);
    let (read_lat, read_err, read_first) = join_all(readers).await?;
    let (miner_lat, miner_err, miner_first) = join_all(miners).await?;
    Ok(LoadReport {
        posts: stats(post_lat, post_err, post_wall),
        reads: stats(read_lat, read_err, post_wall),
        miner_reads: stats(miner_lat, miner_err, post_wall),
        wall_sec: post_wall.as_secs_f64(),
        first_error: post_first.or(read_first).or(miner_first),
    })
}

/// One signed writer per validator key, each posting `spec.posts` reports of the current
/// interval, one every `spec.post_every` (staggered across validators).
fn spawn_writers(
    keys: Vec<Hotkey>,
    base: &str,
    clock: ChainClock,
    spec: &LoadSpec,
) -> std::io::Result<Vec<tokio::task::JoinHandle<TaskResult>>> {
    let n = keys.len().max(1) as u32;
    let mut writers = Vec::new();
    for (v, key) in keys.into_iter().enumerate() {
        let api = EvidenceClient::new(base, spec.timeout, key).map_err(std::io::Error::other)?;
        let (posts, miners, every) = (spec.posts, spec.decisions, spec.post_every);
        let deadline = tokio::time::Instant::now() + spec.max_duration;
        let offset = every / n * v as u32;
        writers.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut first) = (Vec::with_capacity(posts), 0, None);
            let start = tokio::time::Instant::now() + offset;
            for p in 0..posts {
                tokio::time::sleep_until(start + every * p as u32).await;
                if tokio::time::Instant::now() > deadline {
                    break;
                }
                let interval = clock.interval();
                let t = Instant::now();
                let r: Result<(), EvidenceError> = api.post_results(interval, &decisions(v, interval, miners)).await;
                match r {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first.get_or_insert_with(|| format!("POST: {e}"));
                    }
                }
            }
            (lat, errors, first)
        }));
    }
    Ok(writers)
}

/// A task reading `url()` once every `spec.poll_every` until `done` turns true.
fn poller(
    spec: &LoadSpec,
    done: &tokio::sync::watch::Receiver<bool>,
    url: impl Fn() -> String + Send + 'static,
) -> tokio::task::JoinHandle<TaskResult> {
    let (mut done, every) = (done.clone(), spec.poll_every);
    let http = reqwest::Client::builder().timeout(spec.timeout).build().unwrap_or_default();
    tokio::spawn(async move {
        let (mut lat, mut errors, mut first) = (Vec::new(), 0, None);
        let mut etag: Option<reqwest::header::HeaderValue> = None;
        while !*done.borrow_and_update() {
            let next = tokio::time::Instant::now() + every;
            let t = Instant::now();
            let target = url();
            // As a polling client does: gzip accepted, and the last entity tag sent back
            // (servers without them answer in full, as before).
            let mut request = http.get(&target).header(reqwest::header::ACCEPT_ENCODING, "gzip");
            if let Some(tag) = &etag {
                request = request.header(reqwest::header::IF_NONE_MATCH, tag.clone());
            }
            let result = match request.send().await {
                Ok(r) if r.status() == reqwest::StatusCode::NOT_MODIFIED => Ok(()),
                Ok(r) if r.status().is_success() => {
                    etag = r.headers().get(reqwest::header::ETAG).cloned();
                    r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                }
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(()) => lat.push(t.elapsed()),
                Err(e) => {
                    errors += 1;
                    let path = target.split_once("/v1/").map_or(target.as_str(), |(_, p)| p);
                    first.get_or_insert_with(|| format!("GET /v1/{path}: {e}"));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = done.changed() => {}
            }
        }
        (lat, errors, first)
    })
}

/// Waits for `tasks` and merges their latencies, error counts and first errors.
async fn join_all(tasks: Vec<tokio::task::JoinHandle<TaskResult>>) -> std::io::Result<TaskResult> {
    let (mut lat, mut errors, mut first) = (Vec::new(), 0, None);
    for task in tasks {
        let (l, e, f) = task.await.map_err(std::io::Error::other)?;
        lat.extend(l);
        errors += e;
        first = first.or(f);
    }
    Ok((lat, errors, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rate() {
        let lat: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = stats(lat, 2, Duration::from_secs(10));
        assert_eq!((s.requests, s.errors), (100, 2));
        assert!((s.p50_ms - 50.0).abs() < 1e-9 && (s.p99_ms - 99.0).abs() < 1e-9, "{s:?}");
        assert!((s.per_sec - 10.0).abs() < 1e-9);
    }

    #[test]
    fn clock_gives_interval_starts() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64;
        let clock = ChainClock { genesis_ms: now - 1_234 * 10, block_ms: 10 };
        let interval = clock.interval();
        assert_eq!(interval % IntervalClock::default().interval_blocks, 0);
        assert!((1_200..=1_250).contains(&interval), "{interval}");
    }
}
