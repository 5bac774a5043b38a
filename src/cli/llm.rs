//! LLM provider settings shared by `mine` (captions), `validate` and `check` (caption and
//! category checks): the keys, an optional OpenAI-compatible base URL and the request
//! concurrency limit.

use clap::Args;

use nexis::llm::LlmProvider;

/// Provider flags; keys are read from the environment and never shown in `--help`.
#[derive(Debug, Args)]
pub struct LlmArgs {
    /// OpenAI API key (used first when set).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// Base URL of any OpenAI-compatible server (default https://api.openai.com/v1).
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
    /// Gemini API key (Gemini's OpenAI-compatible endpoint) when no OpenAI key is set.
    #[arg(long, env = "GEMINI_API_KEY", hide_env_values = true)]
    pub gemini_api_key: Option<String>,
    /// Model requests in flight at once.
    #[arg(long, env = "NEXIS_LLM_CONCURRENCY", default_value_t = 8)]
    pub llm_concurrency: usize,
}

impl LlmArgs {
    /// The configured provider, if any key is set.
    pub fn provider(&self) -> Option<LlmProvider> {
        LlmProvider::from_settings(
            self.openai_api_key.as_deref(),
            self.openai_base_url.as_deref(),
            self.gemini_api_key.as_deref(),
        )
    }
}
