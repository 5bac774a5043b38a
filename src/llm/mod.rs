//! Vision-language model access shared by the miner's captioner and the validator's caption
//! and category checks: one OpenAI-compatible chat-completions client (OpenAI, Gemini's
//! OpenAI-compatible endpoint, or any server behind a base URL) with timeouts, retries on
//! transient errors, a response size cap and a concurrency limit.

pub mod category;
mod client;
mod provider;
pub mod semantic;

pub(crate) use category::CATEGORY_FRAMES;
pub use client::{ChatClient, ChatRequest, LlmError, ReplySchema, RetryPolicy};
pub use provider::{LlmProvider, OPENAI_BASE_URL, ProviderKind};
