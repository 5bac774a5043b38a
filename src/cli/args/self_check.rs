//! The miner's self-check flags: our validator's package pipeline run on each package
//! before upload (every row, with the validators' caption and category prompts when a
//! model key is set), and the miner's `/metrics` address.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Args};
use tokio::sync::Semaphore;
use tracing::info;

use super::{LlmArgs, ModelNamesArgs, registry_for};
use nexis::llm::ChatClient;
use nexis::media::MediaProbe;
use nexis::miner::SelfCheck;
use nexis::protocol::DEFAULT_CATEGORY as NATURE_CATEGORY;
use nexis::validator::{ContentChecks, PackageLimits, PackageValidator};

/// Self-check settings of `nexis mine`.
#[derive(Debug, Args)]
pub(crate) struct SelfCheckArgs {
    /// Upload packages without running our validator on them first.
    #[arg(long, env = "NEXIS_MINER_NO_SELF_CHECK")]
    pub(crate) no_self_check: bool,
    /// Run the validators' semantic caption and category checks in the self-check (needs
    /// the model key; the category check only for nature_landscape_scenery).
    #[arg(long, env = "NEXIS_MINER_SELF_CHECK_MODEL_CHECKS", default_value_t = true, action = ArgAction::Set)]
    pub(crate) self_check_model_checks: bool,
    /// The self-check's models: the validators' settings.
    #[command(flatten)]
    pub(crate) models: ModelNamesArgs,
    /// Timeout of one self-check model request, seconds.
    #[arg(long, env = "NEXIS_MINER_SELF_CHECK_TIMEOUT_SEC", default_value_t = 30)]
    pub(crate) self_check_timeout_sec: u64,
    /// Address of the miner's Prometheus `/metrics` endpoint; empty (the default) turns it off.
    #[arg(long, env = "NEXIS_MINER_METRICS_ADDR", default_value = "")]
    pub(crate) metrics_addr: String,
}

impl SelfCheckArgs {
    /// The self-check, or `None` when it is off. `category` is the package's category
    /// (the one validators require).
    pub(crate) fn self_check(
        &self,
        llm: &LlmArgs,
        spec: &str,
        category: Option<&str>,
        probe: Arc<dyn MediaProbe>,
        workdir: &Path,
    ) -> anyhow::Result<Option<SelfCheck>> {
        if self.no_self_check {
            info!("self-check off (--no-self-check): packages are uploaded unchecked");
            return Ok(None);
        }
        let registry = registry_for(&[spec.to_string()])?;
        let limits = PackageLimits::default();
        let mut validator = PackageValidator::new(registry, probe, limits, workdir.join("self-check"));
        if let Some(checks) = self.content_checks(llm, category)? {
            validator = validator.with_content_checks(checks);
        }
        info!(
            model_checks = self.self_check_model_checks,
            "self-check on: our validator checks every row before upload"
        );
        Ok(Some(SelfCheck::new(validator)))
    }

    /// The validators' semantic and category checks on every row, when a model is set.
    fn content_checks(&self, llm: &LlmArgs, category: Option<&str>) -> anyhow::Result<Option<ContentChecks>> {
        let Some(provider) = llm.provider().filter(|_| self.self_check_model_checks) else { return Ok(None) };
        let limit = Arc::new(Semaphore::new(llm.llm_concurrency.max(1)));
        let timeout = Duration::from_secs(self.self_check_timeout_sec.max(1));
        let client = |model: &str| -> anyhow::Result<ChatClient> {
            let model = provider.model(Some(model), model);
            Ok(ChatClient::new(provider.clone(), model, timeout, 1)
                .context("the self-check's model client")?
                .with_limit(limit.clone()))
        };
        let category = (category == Some(NATURE_CATEGORY)).then(|| client(&self.models.category_model)).transpose()?;
        Ok(Some(ContentChecks {
            semantic: Some(client(&self.models.semantic_model)?),
            category,
            semantic_max_samples: usize::MAX,
            category_max_samples: usize::MAX,
            ffmpeg_timeout: Duration::from_secs(60),
        }))
    }

    /// Serves the miner's `/metrics` with `render` unless the address is empty.
    pub(crate) async fn serve_metrics(
        &self,
        render: impl Fn() -> String + Clone + Send + Sync + 'static,
    ) -> anyhow::Result<()> {
        super::serve_metrics(&self.metrics_addr, "NEXIS_MINER_METRICS_ADDR", render).await
    }
}
