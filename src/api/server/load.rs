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

/// Runs `spec` against a server over `store`.
pub async fn run_load(store: Arc<dyn EvidenceStore>, spec: &LoadSpec) -> std::io::Result<LoadReport> {
    let keys: Vec<Hotkey> = (0..spec.validators).map(|i| Hotkey::from_seed([(i % 251) as u8 + 1; 32])).collect();
    let described = store.describe();
    let server = ApiServer::new(store, ServerConfig { rate_per_min: 0, ..ServerConfig::default() });
    server.set_allowlist(Allowlist { stakes: keys.iter().map(|k| (k.ss58(), 1)).collect(), ..Default::default() });
    let (stop, rx) = tokio::sync::watch::channel(false);
    let (addr, task) = serve(&server, "127.0.0.1:0".parse().map_err(std::io::Error::other)?, rx).await?;
    let base = format!("http://{addr}");
    let _ = server.refresh_latest(1_000).await;
    let started = Instant::now();
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for (v, key) in keys.into_iter().enumerate() {
        let api = ValidationApi::new(&base, DEFAULT_TIMEOUT, key).map_err(std::io::Error::other)?;
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
    let mut readers = Vec::new();
    for _ in 0..spec.readers {
        let (url, mut done) = (format!("{base}/get_latest_result"), done_rx.clone());
        let http = reqwest::Client::new();
        readers.push(tokio::spawn(async move {
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
    let refresher = {
        let server = server.clone();
        let mut done = done_rx.clone();
        tokio::spawn(async move {
            let mut block = 1_000;
            while !*done.borrow_and_update() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                block += 30;
                let _ = server.refresh_latest(block).await;
            }
        })
    };
    let (mut post_lat, mut post_err) = (Vec::new(), 0);
    for w in writers {
        let (l, e) = w.await.map_err(std::io::Error::other)?;
        post_lat.extend(l);
        post_err += e;
    }
    let post_wall = started.elapsed();
    let _ = done_tx.send(true);
    let (mut read_lat, mut read_err) = (Vec::new(), 0);
    for r in readers {
        let (l, e) = r.await.map_err(std::io::Error::other)?;
        read_lat.extend(l);
        read_err += e;
    }
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
