//! Vision-language model access shared by the miner's captioner and the validator's caption
//! and category checks: one OpenAI-compatible chat-completions client (OpenAI, Gemini's
//! OpenAI-compatible endpoint, or any server behind a base URL) with timeouts, retries on
//! transient errors, a response size cap, a concurrency limit and the provider's rate limit
//! (requests per minute, `Retry-After` on 429).

pub mod category;
mod client;
mod provider;
mod rate;
pub mod semantic;

pub(crate) use category::CATEGORY_FRAMES;
pub use client::{ChatClient, ChatRequest, LlmError, ReplySchema, RetryPolicy};
pub use provider::{LlmProvider, OPENAI_BASE_URL, ProviderKind};
pub use rate::{MAX_RETRY_AFTER, RateLimiter};
