//! Schema and record count (load steps 9-10): decode and check the dataset off the async
//! runtime, then compare its row count with the manifest. Waiting for the memory budget
//! shared with other miners' loads is the validator's wait, not the miner's time.

use std::path::PathBuf;
use std::sync::Arc;

use super::LoadFailure;
use crate::dataset::memory::{self, MemoryBudget, MemoryReservation};
use crate::dataset::{self, LoadedDataset, ReadLimits};
use crate::model::{DecisionNotes, Failure, IntervalManifest};
use crate::spec::DatasetSpec;
use crate::validator::package::budget::dependency_wait;

/// Loads the dataset at `path` under `spec`, its memory reserved from `budget`, then
/// checks `record_count`.
pub(crate) async fn load_and_count(
    path: PathBuf,
    spec: Arc<dyn DatasetSpec>,
    limits: ReadLimits,
    budget: Arc<MemoryBudget>,
    manifest: &IntervalManifest,
) -> Result<LoadedDataset, LoadFailure> {
    let task_failed = |e: tokio::task::JoinError| {
        LoadFailure::with_error(Failure::ValidationException, format!("dataset task failed: {e}"))
    };
    let (inspect_path, inspect_spec) = (path.clone(), spec.clone());
    let footer =
        tokio::task::spawn_blocking(move || dataset::inspect(&inspect_path, inspect_spec.definition(), &limits))
            .await
            .map_err(task_failed)?
            .map_err(|e| LoadFailure::with_error(e.failure(), e.to_string()))?;
    let reservation = match footer.num_rows {
        0 => None,
        rows => Some(reserve_memory(budget, memory::cost_of(rows)).await.map_err(task_failed)?),
    };
    let loaded = tokio::task::spawn_blocking(move || {
        dataset::load_inspected(&path, spec.definition(), &limits, footer, reservation)
    })
    .await
    .map_err(task_failed)?
    .map_err(|e| LoadFailure::with_error(e.failure(), e.to_string()))?;
    let rows = loaded.num_rows() as u64;
    if rows != manifest.record_count {
        return Err(LoadFailure {
            failure: Failure::ManifestRecordCountMismatch,
            notes: Box::new(DecisionNotes {
                manifest_record_count: Some(manifest.record_count),
                dataset_record_count: Some(rows),
                ..Default::default()
            }),
        });
    }
    Ok(loaded)
}

/// Reserves `bytes` of `budget`, waiting off the runtime while other loads hold it; the
/// wait is not charged to the miner (protocol §8 rev. 2: the validator's own waits).
async fn reserve_memory(budget: Arc<MemoryBudget>, bytes: u64) -> Result<MemoryReservation, tokio::task::JoinError> {
    let _not_the_miners_time = dependency_wait();
    tokio::task::spawn_blocking(move || budget.reserve(bytes)).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::validator::package::budget::run_within;

    #[tokio::test]
    async fn waiting_for_memory_held_by_other_loads_is_not_the_miners_time() {
        let budget = MemoryBudget::new(100);
        let other_load = budget.reserve(100);
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            drop(other_load);
        });
        // A 100 ms budget, a 400 ms wait for memory: the wait is excluded, so the miner's
        // load goes ahead once the other load is done.
        let reserved = run_within(Duration::from_millis(100), reserve_memory(budget.clone(), 60)).await;
        let reservation = reserved.expect("the wait is not charged").expect("reserve task");
        assert_eq!(budget.in_use(), 60);
        drop(reservation);
        assert_eq!(budget.in_use(), 0);
        release.await.expect("release");
    }
}
