//! Service telemetry shared by every long-running command: the `/metrics` endpoint and
//! the liveness file that `nexis health` reads, so a container health check sees whether
//! a service's loop still moves.

use crate::protocol::{Block, IntervalId};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

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
    /// Chain block seen at that iteration.
    pub block: u64,
    /// Last interval the service finished, if any.
    pub last_interval: Option<u64>,
    /// Process id of the service.
    pub pid: u32,
}

/// The liveness file under a work directory.
pub fn heartbeat_path(workdir: &Path, service: &str) -> PathBuf {
    workdir.join(format!("{service}.heartbeat.json"))
}

/// Writes the liveness file atomically.
pub fn write_heartbeat(path: &Path, block: Block, last_interval: Option<IntervalId>) -> std::io::Result<()> {
    let (block, last_interval) = (block.get(), last_interval.map(IntervalId::get));
    let beat = Heartbeat { at: Utc::now().timestamp(), block, last_interval, pid: std::process::id() };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&beat).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, path)
}

/// Health of a service judged from its liveness file.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// The file is fresh.
    Alive {
        /// Seconds since the last beat.
        age_sec: i64,
        /// The file's content.
        beat: Heartbeat,
    },
    /// The file is older than the allowed age.
    Stale {
        /// Seconds since the last beat.
        age_sec: i64,
        /// The file's content.
        beat: Heartbeat,
    },
    /// The file is absent or unreadable (the reason).
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
