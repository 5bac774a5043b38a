//! The services a benchmarked validator talks to, on loopback and in process: an S3
//! server (`s3s-fs`, buckets are directories, real SigV4) and a chat-completions stub that
//! answers after a fixed latency and enforces a requests-per-minute limit the way hosted
//! providers do (HTTP 429 with `Retry-After` and `retry-after-ms` beyond it).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Access key the loopback S3 server accepts (32 characters, as miners commit).
pub const S3_ACCESS_KEY: &str = "NEXISBENCHACCESSKEY0123456789012";
/// Secret key the loopback S3 server accepts (64 characters).
pub const S3_SECRET_KEY: &str = "nexis-bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz01234";
/// The key the chat stub accepts.
pub const CHAT_KEY: &str = "sk-bench-local";

/// An in-process S3 server over a directory; aborted when dropped.
pub struct S3Loopback {
    root: PathBuf,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Loopback {
    /// Serves the buckets under `root` (one directory each) on `127.0.0.1:<ephemeral>`.
    pub async fn start(root: PathBuf) -> std::io::Result<Self> {
        let fs = s3s_fs::FileSystem::new(&root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(S3_ACCESS_KEY, S3_SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            let mut connections = tokio::task::JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                let Ok((socket, _)) = listener.accept().await else { continue };
                let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                connections.spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Ok(Self { root, addr, task })
    }

    /// `http://127.0.0.1:{port}`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where object `key` of `bucket` lives on disk (written there, it is served).
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }
}

/// What the chat stub has seen.
#[derive(Debug, Default)]
pub struct ChatCounts {
    /// Requests answered with a completion.
    pub answered: AtomicU64,
    /// Requests refused with 429.
    pub rate_limited: AtomicU64,
}

struct Stub {
    latency: Duration,
    rpm: u32,
    window: Mutex<VecDeque<Instant>>,
    counts: Arc<ChatCounts>,
}

impl Stub {
    /// Admits a request into the last minute's window, or says how long until a slot frees.
    fn admit(&self) -> Result<(), Duration> {
        if self.rpm == 0 {
            return Ok(());
        }
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            window.pop_front();
        }
        if window.len() < self.rpm as usize {
            window.push_back(now);
            return Ok(());
        }
        let oldest = window.front().copied().unwrap_or(now);
        Err((oldest + Duration::from_secs(60)).saturating_duration_since(now))
    }
}

/// A chat-completions stub on loopback; aborted when dropped.
pub struct ChatStub {
    addr: SocketAddr,
    counts: Arc<ChatCounts>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChatStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChatStub {
    /// Answers every request after `latency`, refusing those beyond `rpm` per rolling minute
    /// (0: no limit). Semantic requests get a match, category requests nature frames.
    pub async fn start(latency: Duration, rpm: u32) -> std::io::Result<Self> {
        let counts = Arc::new(ChatCounts::default());
        let stub = Arc::new(Stub { latency, rpm, window: Mutex::new(VecDeque::new()), counts: counts.clone() });
        let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer)).with_state(stub);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, counts, task })
    }

    /// The base URL (`OPENAI_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// What it has answered and refused.
    pub fn counts(&self) -> &ChatCounts {
        &self.counts
    }
}

fn nature_frames() -> String {
    let frame = json!({"winner": "nature", "nature_score": 0.9, "people_score": 0.0, "animal_score": 0.0,
        "vehicle_score": 0.0, "urban_score": 0.0, "indoor_score": 0.0});
    json!({"frames": [frame, frame, frame]}).to_string()
}

async fn answer(State(stub): State<Arc<Stub>>, Json(body): Json<Value>) -> Response {
    if let Err(wait) = stub.admit() {
        stub.counts.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": {"message": "Rate limit reached for requests per minute", "type": "requests"}})),
        )
            .into_response();
        let headers = response.headers_mut();
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            headers.insert("retry-after", v);
        }
        if let Ok(v) = HeaderValue::from_str(&wait.as_millis().to_string()) {
            headers.insert("retry-after-ms", v);
        }
        return response;
    }
    tokio::time::sleep(stub.latency).await;
    stub.counts.answered.fetch_add(1, Ordering::Relaxed);
    let system = body.pointer("/messages/0/content").and_then(Value::as_str).unwrap_or("");
    let text = if system.contains("nature_score") { nature_frames() } else { "{\"match\": true}".to_string() };
    Json(json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }))
    .into_response()
}
