//! Vision-language model access shared by the miner's captioner and the validator's caption
//! and category checks: one OpenAI-compatible chat-completions client (OpenAI, Gemini's
//! OpenAI-compatible endpoint, or any server behind a base URL) with timeouts, retries on
//! transient errors, a response size cap and a concurrency limit.

pub mod category;
mod client;
mod provider;
pub mod semantic;

pub use category::CATEGORY_FRAMES;
pub use client::{AskFailure, ChatClient, ChatRequest, LlmError, ReplySchema, RetryPolicy, scrub};
pub use provider::{GEMINI_BASE_URL, GEMINI_MODEL, LlmProvider, OPENAI_BASE_URL, ProviderKind};
