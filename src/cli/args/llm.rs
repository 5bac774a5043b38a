//! LLM provider settings shared by `mine` (captions), `validate` and `check` (caption and
//! category checks): the keys, an optional OpenAI-compatible base URL and the request
//! concurrency and rate limits.

use std::sync::Arc;
use std::time::Duration;

use super::ModelNamesArgs;
use crate::cli::secret::Secret;
use clap::{ArgAction, Args};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use nexis::llm::{ChatClient, LlmProvider, RateLimiter};
use nexis::protocol::DEFAULT_CATEGORY as NATURE_CATEGORY;
use nexis::validator::ContentChecks;

/// Provider flags; keys are read from the environment and never shown in `--help`.
#[derive(Debug, Args)]
pub(crate) struct LlmArgs {
    /// OpenAI API key (used first when set).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<Secret>,
    /// Base URL of any OpenAI-compatible server (default https://api.openai.com/v1).
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,
    /// Gemini API key (Gemini's OpenAI-compatible endpoint) when no OpenAI key is set.
    #[arg(long, env = "GEMINI_API_KEY", hide_env_values = true)]
    pub gemini_api_key: Option<Secret>,
    /// Model requests in flight at once.
    #[arg(long, env = "NEXIS_LLM_CONCURRENCY", default_value_t = 8)]
    pub llm_concurrency: usize,
    /// Requests per minute the provider allows this key (its tier's limit): requests are
    /// spaced to stay under it. 0 paces nothing; a 429's Retry-After still pauses them all.
    #[arg(long, env = "NEXIS_LLM_RPM", default_value_t = 0)]
    pub llm_rpm: u32,
}

impl LlmArgs {
    /// One limiter for every client of the provider (`--llm-rpm`).
    pub(crate) fn rate_limiter(&self) -> Arc<RateLimiter> {
        Arc::new(RateLimiter::new(Some(self.llm_rpm)))
    }

    /// The configured provider, if any key is set.
    pub(crate) fn provider(&self) -> Option<LlmProvider> {
        LlmProvider::from_settings(
            self.openai_api_key.as_deref(),
            self.openai_base_url.as_deref(),
            self.gemini_api_key.as_deref(),
        )
    }
}

/// The validator's semantic caption check and nature category check (protocol §8).
#[derive(Debug, Args)]
pub(crate) struct ContentCheckArgs {
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Run the semantic caption check when a model key is set.
    #[arg(long, env = "NEXIS_VALIDATOR_SEMANTIC_CHECK_ENABLED", default_value_t = true, action = ArgAction::Set)]
    pub semantic_check: bool,
    #[command(flatten)]
    pub models: ModelNamesArgs,
    /// Timeout of one semantic request, seconds.
    #[arg(long, env = "NEXIS_VALIDATOR_SEMANTIC_TIMEOUT_SEC", default_value_t = 30)]
    pub semantic_timeout_sec: u64,
    /// Sampled rows per package the semantic check looks at.
    #[arg(long, env = "NEXIS_VALIDATOR_SEMANTIC_MAX_SAMPLES", default_value_t = 8)]
    pub semantic_max_samples: usize,
    /// Run the nature category check when a model key is set and the category is nature_landscape_scenery.
    #[arg(long, env = "NEXIS_VALIDATOR_CATEGORY_CHECK_ENABLED", default_value_t = true, action = ArgAction::Set)]
    pub category_check: bool,
    /// Timeout of one category request, seconds.
    #[arg(long, env = "NEXIS_VALIDATOR_CATEGORY_TIMEOUT_SEC", default_value_t = 30)]
    pub category_timeout_sec: u64,
    /// Sampled rows per package the category check looks at.
    #[arg(long, env = "NEXIS_VALIDATOR_CATEGORY_MAX_SAMPLES", default_value_t = 8)]
    pub category_max_samples: usize,
}

impl ContentCheckArgs {
    /// The configured checks, or `None` (with a warning) when none can run.
    pub(crate) fn content_checks(&self, expected_category: Option<&str>) -> anyhow::Result<Option<ContentChecks>> {
        let wanted_category = self.category_check && expected_category == Some(NATURE_CATEGORY);
        if !self.semantic_check && !wanted_category {
            info!("semantic and category checks are off");
            return Ok(None);
        }
        let Some(provider) = self.llm.provider() else {
            warn!(
                "no OPENAI_API_KEY or GEMINI_API_KEY: the semantic caption and category checks are OFF; \
                 set a key to run them"
            );
            return Ok(None);
        };
        let limit = Arc::new(Semaphore::new(self.llm.llm_concurrency.max(1)));
        let rate = self.llm.rate_limiter();
        let client = |model: &str, timeout: u64| -> anyhow::Result<ChatClient> {
            let model = provider.model(Some(model), model);
            let timeout = Duration::from_secs(timeout.max(1));
            Ok(ChatClient::new(provider.clone(), model, timeout, 1)?
                .with_limit(limit.clone())
                .with_rate_limiter(rate.clone()))
        };
        let semantic =
            self.semantic_check.then(|| client(&self.models.semantic_model, self.semantic_timeout_sec)).transpose()?;
        let category =
            wanted_category.then(|| client(&self.models.category_model, self.category_timeout_sec)).transpose()?;
        info!(
            provider = %provider.kind,
            semantic_model = semantic.as_ref().map(|c| c.model()),
            category_model = category.as_ref().map(|c| c.model()),
            "content checks on"
        );
        Ok(Some(ContentChecks {
            semantic,
            category,
            semantic_max_samples: self.semantic_max_samples,
            category_max_samples: self.category_max_samples,
            ffmpeg_timeout: Duration::from_secs(60),
        }))
    }
}
