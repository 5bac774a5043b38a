//! The `/metrics` endpoint of a service or the miner, from its address flag.

use std::net::SocketAddr;

use anyhow::Context;
use tracing::info;

use nexis::telemetry::serve_render;

/// Serves Prometheus `/metrics` with `render` on `addr` (the value of the environment
/// variable `var`, named in errors) unless it is empty.
pub(crate) async fn serve_metrics(
    addr: &str,
    var: &str,
    render: impl Fn() -> String + Clone + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let text = addr.trim();
    if text.is_empty() {
        return Ok(());
    }
    let addr: SocketAddr = text.parse().with_context(|| format!("{var} {text:?} is not host:port"))?;
    let bound = serve_render(render, addr)
        .await
        .with_context(|| format!("serving /metrics on {addr} (set {var} to another port or empty)"))?;
    info!(%bound, "metrics on http://{bound}/metrics");
    Ok(())
}
