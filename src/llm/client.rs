//! The chat-completions client: builds the request body (system prompt, user text and
//! JPEG frames as `data:image/jpeg;base64` parts), sends it with a per-attempt timeout
//! under a shared concurrency limit, retries transient failures with exponential backoff
//! and classifies everything else so callers can tell "the model said no" from "the
//! service is unavailable". A 429 pauses every request sharing the client's
//! [`RateLimiter`] for the provider's `Retry-After` and is retried apart from the other
//! transient failures.

use crate::model::FailureCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::provider::LlmProvider;
use super::rate::{RateLimiter, retry_after};

/// Largest reply body read from the server.
const MAX_REPLY_BYTES: usize = 1 << 20;

/// Why a completion could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// No complete reply within the request timeout.
    #[error("the model did not answer within {0:?}")]
    Timeout(Duration),
    /// HTTP 429 from the provider, still there after the rate-limit retries.
    #[error("rate limited by the provider (HTTP {status})")]
    RateLimited {
        /// HTTP status code.
        status: u16,
        /// How long the provider asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// HTTP 5xx from the provider.
    #[error("provider server error (HTTP {0})")]
    Server(u16),
    /// The provider refused the request as malformed or unauthorised.
    #[error("request refused (HTTP {status}: {detail}); check the API key, the model name and the base URL")]
    Config {
        /// HTTP status code.
        status: u16,
        /// The provider's error text, secrets scrubbed.
        detail: String,
    },
    /// The request could not be sent or the reply not read.
    #[error("cannot reach the provider: {0}")]
    Transport(String),
    /// The reply is not a chat completion.
    #[error("unusable reply: {0}")]
    BadReply(String),
    /// An HTTP 200 completion without an answer: empty content or a refusal.
    #[error("no answer in the reply: {0}")]
    NoAnswer(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
}

impl LlmError {
    /// The error with every occurrence of `secret` in its texts replaced by `<redacted>`
    /// (providers echo keys in error bodies).
    pub fn scrubbed(self, secret: &str) -> Self {
        let s = |text: String| scrub(&text, secret);
        match self {
            Self::Config { status, detail } => Self::Config { status, detail: s(detail) },
            Self::Transport(t) => Self::Transport(s(t)),
            Self::BadReply(t) => Self::BadReply(s(t)),
            Self::NoAnswer(t) => Self::NoAnswer(s(t)),
            Self::Setup(t) => Self::Setup(s(t)),
            other => other,
        }
    }

    /// Whether trying again later may succeed.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, Self::Timeout(_) | Self::RateLimited { .. } | Self::Server(_) | Self::Transport(_))
    }

    /// A short stable name for metrics and decision notes.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::RateLimited { .. } => "rate_limited",
            Self::Server(_) => "server_error",
            Self::Config { .. } => "config_error",
            Self::Transport(_) => "transport",
            Self::BadReply(_) => "bad_reply",
            Self::NoAnswer(_) => "no_answer",
            Self::Setup(_) => "setup",
        }
    }
}

/// How often and how patiently transient failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Delay before the first retry; doubles per attempt.
    pub base_delay: Duration,
    /// Cap on the delay between attempts.
    pub max_delay: Duration,
    /// Retries after a 429, on top of `attempts`: each waits the provider's `Retry-After`
    /// (or the backoff delay when it gives none).
    pub rate_limit_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            rate_limit_retries: 8,
        }
    }
}

impl RetryPolicy {
    fn delay(&self, failed_attempts: u32) -> Duration {
        let factor = 1u32 << failed_attempts.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// `text` with every occurrence of `secret` (when not blank) replaced by `<redacted>`.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    if secret.trim().is_empty() { text.to_string() } else { text.replace(secret, "<redacted>") }
}

/// A JSON schema the reply must follow (structured output, where the provider supports it).
#[derive(Debug, Clone)]
pub struct ReplySchema {
    /// Schema name sent to the provider.
    pub(crate) name: &'static str,
    pub(crate) schema: Value,
}

/// One request: instructions, the user's text and JPEG images.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    /// System instructions.
    pub system: &'a str,
    /// The user's text.
    pub text: &'a str,
    /// JPEG images sent with the text, in order.
    pub images: &'a [Vec<u8>],
    /// Cap on the completion's tokens.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Structured output, when the provider accepts `response_format` with a JSON schema.
    pub schema: Option<&'a ReplySchema>,
}

/// Why [`ChatClient::ask_parsed`] has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AskFailure {
    /// The provider answered (HTTP 200) but, twice, with nothing usable: a refusal, prose,
    /// wrong JSON. This depends on the content shown to the model.
    Unusable(String),
    /// The validator's own trouble: timeouts, rate limits, server or configuration errors.
    Unavailable(String),
}

/// A chat-completions client for one provider and model.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    provider: LlmProvider,
    model: String,
    timeout: Duration,
    retry: RetryPolicy,
    limit: Arc<Semaphore>,
    rate: Arc<RateLimiter>,
    /// Cleared when the server refuses `response_format` (HTTP 400): it is not sent again.
    structured: Arc<AtomicBool>,
}

impl ChatClient {
    /// A client allowing `concurrency` requests in flight at once.
    pub fn new(provider: LlmProvider, model: String, timeout: Duration, concurrency: usize) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .user_agent(concat!("nexis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            provider,
            model,
            timeout,
            retry: RetryPolicy::default(),
            limit: Arc::new(Semaphore::new(concurrency.max(1))),
            rate: Arc::new(RateLimiter::default()),
            structured: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Shares a concurrency limit with other clients (e.g. both validator checks).
    pub fn with_limit(mut self, limit: Arc<Semaphore>) -> Self {
        self.limit = limit;
        self
    }

    /// Shares a rate limiter (requests per minute, 429 pauses) with other clients of the
    /// same provider.
    pub fn with_rate_limiter(mut self, rate: Arc<RateLimiter>) -> Self {
        self.rate = rate;
        self
    }

    /// The rate limiter this client paces its requests with.
    pub fn rate_limiter(&self) -> &Arc<RateLimiter> {
        &self.rate
    }

    /// The model requests name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The provider, for logs.
    pub fn provider(&self) -> &LlmProvider {
        &self.provider
    }

    /// The JSON body sent for `req`.
    pub fn body(&self, req: &ChatRequest<'_>) -> Value {
        let mut content = vec![json!({"type": "text", "text": req.text})];
        for image in req.images {
            let url = format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(image));
            content.push(json!({"type": "image_url", "image_url": {"url": url}}));
        }
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": req.system},
                {"role": "user", "content": content},
            ],
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
        });
        if let Some(schema) = req.schema.filter(|_| self.structured.load(Ordering::Relaxed)) {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": schema.name, "strict": true, "schema": schema.schema},
            });
        }
        body
    }

    /// The model's text reply, retrying transient failures.
    pub async fn complete(&self, req: &ChatRequest<'_>) -> Result<String, LlmError> {
        let mut body = self.body(req);
        let attempts = self.retry.attempts.max(1);
        let (mut attempt, mut rate_limited) = (1, 0);
        loop {
            let result = {
                let _permit = self.limit.acquire().await.map_err(|e| LlmError::Setup(e.to_string()))?;
                self.rate.acquire().await;
                match tokio::time::timeout(self.timeout, self.attempt(&body)).await {
                    Ok(r) => r,
                    Err(_) => Err(LlmError::Timeout(self.timeout)),
                }
            };
            match result {
                Err(LlmError::RateLimited { retry_after, .. }) if rate_limited < self.retry.rate_limit_retries => {
                    rate_limited += 1;
                    let wait = retry_after.unwrap_or_else(|| self.retry.delay(rate_limited));
                    tracing::debug!(wait_ms = wait.as_millis() as u64, "rate limited by the provider; waiting");
                    // Every request sharing the limiter waits too; this one waits its turn.
                    self.rate.pause(wait);
                }
                Err(LlmError::Config { status: 400, detail }) if body.get("response_format").is_some() => {
                    tracing::warn!(model = %self.model, %detail, "the provider refuses structured output; asking without it");
                    self.structured.store(false, Ordering::Relaxed);
                    body = self.body(req);
                }
                Err(e) if e.is_transient() && attempt < attempts => {
                    let wait = self.retry.delay(attempt);
                    tracing::debug!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "LLM request failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The reply parsed by `parse`; an unusable reply is asked for once more. Failures
    /// carry `"{class}: {detail}"`, ready for decision notes, with the key scrubbed.
    pub(crate) async fn ask_parsed<T>(
        &self,
        req: &ChatRequest<'_>,
        invalid_class: FailureCode,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, AskFailure> {
        let mut last = AskFailure::Unusable(String::new());
        for _ in 0..2 {
            match self.complete(req).await {
                Ok(reply) => match parse(&reply) {
                    Ok(v) => return Ok(v),
                    Err(why) => last = AskFailure::Unusable(self.scrub(&format!("{invalid_class}: {why}"))),
                },
                Err(e @ LlmError::NoAnswer(_)) => last = AskFailure::Unusable(format!("{}: {e}", e.class())),
                Err(e @ LlmError::BadReply(_)) => last = AskFailure::Unavailable(format!("{}: {e}", e.class())),
                Err(e) => return Err(AskFailure::Unavailable(format!("{}: {e}", e.class()))),
            }
        }
        Err(last)
    }

    /// `text` with this client's API key redacted.
    pub(crate) fn scrub(&self, text: &str) -> String {
        scrub(text, self.provider.api_key())
    }

    async fn attempt(&self, body: &Value) -> Result<String, LlmError> {
        self.attempt_raw(body).await.map_err(|e| e.scrubbed(self.provider.api_key()))
    }

    async fn attempt_raw(&self, body: &Value) -> Result<String, LlmError> {
        let response = self
            .http
            .post(self.provider.chat_url())
            .bearer_auth(self.provider.api_key())
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() { LlmError::Timeout(self.timeout) } else { LlmError::Transport(e.to_string()) }
            })?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let bytes = read_capped(response).await?;
        match status {
            200..=299 => reply_text(&bytes),
            429 => Err(LlmError::RateLimited { status, retry_after: wait }),
            500..=599 => Err(LlmError::Server(status)),
            _ => Err(LlmError::Config { status, detail: error_detail(&bytes) }),
        }
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, LlmError> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| LlmError::Transport(e.to_string()))? {
        if out.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(LlmError::BadReply(format!("reply larger than {MAX_REPLY_BYTES} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The server's error message, shortened, for the log.
fn error_detail(bytes: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message").or_else(|| v.pointer("/0/error/message")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    message.chars().take(200).collect()
}

/// `choices[0].message.content` of a chat-completions reply (a string, or text parts).
fn reply_text(bytes: &[u8]) -> Result<String, LlmError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| LlmError::BadReply(format!("not JSON: {e}")))?;
    let message =
        value.pointer("/choices/0/message").ok_or_else(|| LlmError::BadReply("no choices[0].message".into()))?;
    let content = message.get("content").unwrap_or(&Value::Null);
    let text = match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        _ => String::new(),
    };
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str)
        && text.trim().is_empty()
    {
        return Err(LlmError::NoAnswer(format!("refusal: {}", refusal.chars().take(120).collect::<String>())));
    }
    if text.trim().is_empty() {
        return Err(LlmError::NoAnswer("empty message content".into()));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_content_string_or_parts() {
        let r = br#"{"choices":[{"message":{"role":"assistant","content":"hello"}}]}"#;
        assert_eq!(reply_text(r).expect("text"), "hello");
        let r = br#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}]}"#;
        assert_eq!(reply_text(r).expect("parts"), "ab");
        assert!(matches!(reply_text(br#"{"choices":[]}"#), Err(LlmError::BadReply(_))));
        assert!(matches!(reply_text(br#"{"choices":[{"message":{"content":"  "}}]}"#), Err(LlmError::NoAnswer(_))));
        let refusal = br#"{"choices":[{"message":{"content":null,"refusal":"I can't help with that"}}]}"#;
        assert!(matches!(reply_text(refusal), Err(LlmError::NoAnswer(r)) if r.contains("can't help")));
        assert!(matches!(reply_text(b"<html>"), Err(LlmError::BadReply(_))));
    }

    #[test]
    fn error_detail_prefers_the_message() {
        assert_eq!(
            error_detail(br#"{"error":{"message":"The model `x` does not exist"}}"#),
            "The model `x` does not exist"
        );
        assert_eq!(error_detail(&[b'a'; 500]).len(), 200);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            rate_limit_retries: 0,
        };
        assert_eq!(p.delay(1), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(200));
        assert_eq!(p.delay(3), Duration::from_millis(350));
    }

    #[test]
    fn transient_classes() {
        assert!(LlmError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(LlmError::RateLimited { status: 429, retry_after: None }.is_transient());
        assert!(LlmError::Server(503).is_transient());
        assert!(!LlmError::Config { status: 401, detail: String::new() }.is_transient());
        assert!(!LlmError::BadReply(String::new()).is_transient());
    }
}
