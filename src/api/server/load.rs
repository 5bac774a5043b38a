//! The load benchmark behind `nexis bench api`: simulated validators post signed decisions
//! concurrently (distinct nonces, our client) while readers poll `get_latest_result`, all
//! against an in-process server on loopback; reports requests/s and latency percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::quorum::Allowlist;
use super::store::EvidenceStore;
use super::{ApiServer, ServerConfig, serve};
use crate::api::{ApiError, DEFAULT_TIMEOUT, ValidationApi};
use crate::chain::Hotkey;
use crate::model::{Decision, DecisionNotes, Failure};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Concurrent validators.
    pub validators: usize,
    /// Posts per validator.
    pub posts: usize,
    /// Decisions per post.
    pub miners: usize,
    /// Concurrent `get_latest_result` readers (they run while the posts do).
    pub readers: usize,
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
    /// The store measured.
    pub(crate) store: String,
    /// Signed posts.
    pub posts: LoadStats,
    /// `get_latest_result` reads.
    pub reads: LoadStats,
    /// Wall time of the run, seconds.
    pub(crate) wall_sec: f64,
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

fn decisions(v: usize, interval: u64, miners: usize) -> Vec<Decision> {
    (0..miners)
        .map(|m| {
            let hotkey = format!("5Miner{m:04}");
            if (m + v).is_multiple_of(5) {
                Decision::load_failure(&hotkey, interval, Failure::DatasetSha256Mismatch, DecisionNotes::default())
            } else {
                Decision::evaluated(&hotkey, interval, vec![], 50, 10, DecisionNotes::default())
            }
        })
        .collect()
}

/// Latencies of the successful requests of one task, and how many failed.
type TaskResult = (Vec<Duration>, usize);

/// Runs `spec` against a server over `store`.
pub async fn run_load(store: Arc<dyn EvidenceStore>, spec: &LoadSpec) -> std::io::Result<LoadReport> {
    let keys: Vec<Hotkey> = (0..spec.validators).map(|i| Hotkey::from_seed([(i % 251) as u8 + 1; 32])).collect();
    let described = store.describe();
    let server =
        ApiServer::new(store, ServerConfig { rate_per_min: 0, read_rate_per_min: 0, ..ServerConfig::default() });
    server.set_allowlist(Allowlist { stakes: keys.iter().map(|k| (k.ss58(), 1)).collect(), ..Default::default() });
    let (stop, rx) = tokio::sync::watch::channel(false);
    let (addr, task) = serve(&server, "127.0.0.1:0".parse().map_err(std::io::Error::other)?, rx).await?;
    let base = format!("http://{addr}");
    let _ = server.refresh_latest(1_000).await;
    let started = Instant::now();
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let writers = spawn_writers(keys, &base, spec)?;
    let readers = spawn_readers(&base, spec.readers, &done_rx);
    let refresher = spawn_refresher(&server, done_rx);
    let (post_lat, post_err) = join_all(writers).await?;
    let post_wall = started.elapsed();
    let _ = done_tx.send(true);
    let (read_lat, read_err) = join_all(readers).await?;
    let _ = refresher.await;
    let wall = started.elapsed();
    let _ = stop.send(true);
    let _ = task.await;
    Ok(LoadReport {
        store: described,
        posts: stats(post_lat, post_err, post_wall),
        reads: stats(read_lat, read_err, wall),
        wall_sec: wall.as_secs_f64(),
    })
}

/// One signed writer per validator key, each posting `spec.posts` intervals of results.
fn spawn_writers(
    keys: Vec<Hotkey>,
    base: &str,
    spec: &LoadSpec,
) -> std::io::Result<Vec<tokio::task::JoinHandle<TaskResult>>> {
    let mut writers = Vec::new();
    for (v, key) in keys.into_iter().enumerate() {
        let api = ValidationApi::new(base, DEFAULT_TIMEOUT, key).map_err(std::io::Error::other)?;
        let (posts, miners) = (spec.posts, spec.miners);
        writers.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::with_capacity(posts), 0);
            for p in 0..posts {
                let interval = 1_000 + p as u64 * 50;
                let t = Instant::now();
                let r: Result<(), ApiError> = api.post_results(interval, &decisions(v, interval, miners)).await;
                match r {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    Ok(writers)
}

/// `readers` tasks reading `/get_latest_result` in a loop until `done` turns true.
fn spawn_readers(
    base: &str,
    readers: usize,
    done: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<TaskResult>> {
    let mut tasks = Vec::new();
    for _ in 0..readers {
        let (url, mut done) = (format!("{base}/get_latest_result"), done.clone());
        let http = reqwest::Client::new();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0);
            while !*done.borrow_and_update() {
                let t = Instant::now();
                let ok = match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    tasks
}

/// Advances the server's latest block every 500 ms, as a chain would, until `done`.
fn spawn_refresher(
    server: &Arc<ApiServer>,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let server = Arc::clone(server);
    tokio::spawn(async move {
        let mut block = 1_000;
        while !*done.borrow_and_update() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            block += 30;
            let _ = server.refresh_latest(block).await;
        }
    })
}

/// Waits for `tasks` and merges their latencies and error counts.
async fn join_all(tasks: Vec<tokio::task::JoinHandle<TaskResult>>) -> std::io::Result<TaskResult> {
    let (mut lat, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await.map_err(std::io::Error::other)?;
        lat.extend(l);
        errors += e;
    }
    Ok((lat, errors))
}
