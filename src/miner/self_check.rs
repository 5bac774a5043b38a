//! The self-check before upload: the validator's own package pipeline
//! ([`PackageValidator`], the code `nexis check` runs) on the package the miner just
//! built, with every row checked instead of a sample. Its failures are sorted per row so
//! the miner can drop (or re-caption) exactly the rows our validator would reject.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::package::PackageInfo;
use crate::model::{ClipRecord, Failure};
use crate::protocol::IntervalId;
use crate::storage::{LocalStore, PrefixStore};
use crate::validator::{
    EnvironmentError, IntervalTerms, PackageRequest, PackageValidator, forgive_unusable_replies, interval_seed,
};

/// The validator pipeline the miner runs on its own packages.
#[derive(Clone)]
pub struct SelfCheck {
    validator: PackageValidator,
}

impl SelfCheck {
    /// A self-check with `validator` (its spec registry, probe, limits and content
    /// checks), switched to check every row.
    pub fn new(validator: PackageValidator) -> Self {
        Self { validator: validator.checking_every_row() }
    }

    /// Validates the package built in `dir` (the contents of the bucket's `{interval}/`
    /// prefix) as a validator would, and sorts the failures by row.
    pub(crate) async fn check(
        &self,
        dir: &Path,
        info: &PackageInfo,
        records: &[ClipRecord],
    ) -> Result<Verdict, EnvironmentError> {
        let store = PrefixStore::new(LocalStore::new(dir), format!("{}/", info.interval_id));
        let terms = IntervalTerms {
            interval_id: IntervalId::new(info.interval_id),
            validator_hotkey: None,
            interval_seed: interval_seed(info.interval_id),
            expected_category: info.category.clone(),
            enabled_specs: vec![info.spec_id.clone()],
            upload_deadline: None,
            extra_sample_seed: None,
        };
        let request = PackageRequest::new(info.miner_hotkey.clone(), Arc::new(terms));
        let mut outcome = self.validator.validate(&store, &request).await?;
        forgive_unusable_replies(&mut [&mut outcome.decision], &outcome.llm);
        let mut verdict =
            Verdict { unavailable: outcome.decision.notes.unavailable_checks.clone(), ..Verdict::default() };
        for failure in outcome.decision.failures {
            let row = match &failure {
                Failure::InvalidAssetUri { uri } => {
                    records.iter().find(|r| &r.clip_uri == uri || &r.first_frame_uri == uri).map(|r| r.clip_id.clone())
                }
                other => other.clip_id().map(str::to_string),
            };
            match row {
                Some(clip_id) if records.iter().any(|r| r.clip_id == clip_id) => {
                    verdict.rows.entry(clip_id).or_default().push(failure);
                }
                _ => verdict.package.push(failure),
            }
        }
        if !outcome.decision.accepted && verdict.rows.is_empty() && verdict.package.is_empty() {
            verdict.package.push(Failure::ValidationException);
        }
        if !verdict.package.is_empty() {
            verdict.detail = outcome.decision.notes.error.clone();
        }
        Ok(verdict)
    }
}

/// What the self-check found in one package.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Verdict {
    /// Failures of single rows, by `clip_id`.
    pub rows: BTreeMap<String, Vec<Failure>>,
    /// Failures of the package as a whole (no row to drop fixes them).
    pub package: Vec<Failure>,
    /// The validator's explanation of a package-level failure, if any.
    pub detail: Option<String>,
    /// Checks that could not run (the model was unreachable); they fail no row.
    pub unavailable: Vec<String>,
}

impl Verdict {
    /// Whether the package would be accepted as it is.
    pub(crate) fn is_clean(&self) -> bool {
        self.rows.is_empty() && self.package.is_empty()
    }
}
