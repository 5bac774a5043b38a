//! A local HTTP server that speaks the OpenAI chat-completions protocol, standing in for a
//! hosted model: it checks the bearer key, records every request body, and answers each
//! request with whatever the test's responder returns (a reply text, an HTTP error, a
//! delay).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// The key the server accepts.
pub(crate) const CHAT_KEY: &str = "sk-test-local-0123456789";

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// A normal completion with this message content.
    Text(String),
    /// An HTTP status with an OpenAI-style error body.
    Status(u16),
    /// Sleeps, then answers.
    Delay(Duration, Box<Answer>),
    /// A 200 whose body is not a completion.
    Raw(String),
    /// An HTTP status with an OpenAI-style error body carrying this message.
    StatusMessage(u16, String),
    /// A 429 with these headers (`retry-after`, `retry-after-ms`).
    TooMany(Vec<(&'static str, String)>),
}

type Responder = Arc<dyn Fn(&Value, usize) -> Answer + Send + Sync>;

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Value>>>,
    responder: Responder,
}

/// A running chat-completions server; stops when dropped.
pub(crate) struct ChatServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChatServer {
    /// Starts a server answering request `n` (0-based) with `responder(body, n)`.
    pub(crate) async fn start(responder: impl Fn(&Value, usize) -> Answer + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { requests: requests.clone(), responder: Arc::new(responder) };
        let app = axum::Router::new().route("/v1/chat/completions", post(complete)).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, requests, task }
    }

    /// The base URL to configure (`OPENAI_BASE_URL`).
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Bodies of the requests received so far.
    pub(crate) fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("lock").clone()
    }
}

/// A chat-completions reply body with `text` as the message content.
pub(crate) fn completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-local", "object": "chat.completion", "created": 0, "model": "local",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}

/// The `data:image/jpeg;base64,` URLs of a request body's user message.
pub(crate) fn image_urls(body: &Value) -> Vec<String> {
    body.pointer("/messages/1/content")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.pointer("/image_url/url").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn error(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(json!({"error": {"message": format!("local test error {status}"), "type": "test"}}))).into_response()
}

async fn complete(State(shared): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth != format!("Bearer {CHAT_KEY}") {
        return error(401);
    }
    let n = {
        let mut requests = shared.requests.lock().expect("lock");
        requests.push(body.clone());
        requests.len() - 1
    };
    let mut answer = (shared.responder)(&body, n);
    loop {
        match answer {
            Answer::Delay(wait, next) => {
                tokio::time::sleep(wait).await;
                answer = *next;
            }
            Answer::Text(text) => return Json(completion(&text)).into_response(),
            Answer::Status(status) => return error(status),
            Answer::Raw(text) => return (StatusCode::OK, text).into_response(),
            Answer::TooMany(headers) => {
                let mut response = error(429);
                for (name, value) in headers {
                    if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                        response.headers_mut().insert(name, value);
                    }
                }
                return response;
            }
            Answer::StatusMessage(status, message) => {
                let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return (code, Json(json!({"error": {"message": message, "type": "test"}}))).into_response();
            }
        }
    }
}
