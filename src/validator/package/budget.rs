//! The per-miner time budget (protocol §8 rev. 2): time spent waiting on the validator's
//! own dependencies (LLM calls, source fetches) is not the miner's and is not charged.
//!
//! [`run_within`] runs one miner's validation with a [`BudgetClock`] in a task-local;
//! code that waits on a dependency holds a [`dependency_wait`] guard meanwhile. While any
//! guard is held the clock stands still (concurrent waits count once), so the budget only
//! ends while the miner's own input is being worked on.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Pauses {
    in_flight: usize,
    since: Option<Instant>,
    total: Duration,
}

/// Wall-clock time since the start minus the time dependency waits were in flight.
#[derive(Debug, Clone)]
pub(super) struct BudgetClock {
    started: Instant,
    pauses: Arc<Mutex<Pauses>>,
}

impl Default for BudgetClock {
    fn default() -> Self {
        Self::new()
    }
}

impl BudgetClock {
    /// A clock starting now.
    pub(super) fn new() -> Self {
        Self {
            started: Instant::now(),
            pauses: Arc::new(Mutex::new(Pauses { in_flight: 0, since: None, total: Duration::ZERO })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pauses> {
        self.pauses.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Time charged to the miner so far.
    pub(super) fn charged(&self) -> Duration {
        let p = self.lock();
        let paused = p.total + p.since.map(|s| s.elapsed()).unwrap_or_default();
        self.started.elapsed().saturating_sub(paused)
    }

    /// Time spent waiting on dependencies so far.
    pub(super) fn excluded(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.charged())
    }

    /// Stops the clock until the guard is dropped.
    pub(super) fn pause(&self) -> WaitGuard {
        let mut p = self.lock();
        if p.in_flight == 0 {
            p.since = Some(Instant::now());
        }
        p.in_flight += 1;
        WaitGuard { clock: Some(self.clone()) }
    }

    fn resume(&self) {
        let mut p = self.lock();
        p.in_flight = p.in_flight.saturating_sub(1);
        if p.in_flight == 0
            && let Some(since) = p.since.take()
        {
            p.total += since.elapsed();
        }
    }
}

/// Holds the budget clock still while a dependency is awaited.
#[derive(Debug)]
pub(super) struct WaitGuard {
    clock: Option<BudgetClock>,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if let Some(clock) = self.clock.take() {
            clock.resume();
        }
    }
}

tokio::task_local! {
    static CLOCK: BudgetClock;
}

/// A guard that keeps the current miner's budget clock still while it lives; a no-op
/// outside [`run_within`] (e.g. `nexis check`, which has no budget).
pub(super) fn dependency_wait() -> WaitGuard {
    CLOCK.try_with(BudgetClock::pause).unwrap_or(WaitGuard { clock: None })
}

/// The budget ran out on the miner's own work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetExceeded {
    /// Time spent waiting on dependencies, not charged.
    pub excluded: Duration,
}

/// Runs `work` until it ends or `budget` of charged time is spent.
pub async fn run_within<T>(budget: Duration, work: impl Future<Output = T>) -> Result<T, BudgetExceeded> {
    let clock = BudgetClock::new();
    let work = CLOCK.scope(clock.clone(), work);
    tokio::pin!(work);
    loop {
        let left = budget.saturating_sub(clock.charged());
        if left.is_zero() {
            return Err(BudgetExceeded { excluded: clock.excluded() });
        }
        tokio::select! {
            out = &mut work => return Ok(out),
            _ = tokio::time::sleep(left) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dependency_waits_are_not_charged() {
        let work = async {
            {
                let _wait = dependency_wait();
                // Two overlapping waits count once.
                let _also = dependency_wait();
                tokio::time::sleep(Duration::from_millis(2500)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            7
        };
        assert_eq!(run_within(Duration::from_secs(1), work).await, Ok(7));
    }

    #[tokio::test]
    async fn own_work_beyond_the_budget_is_cut() {
        let work = async {
            {
                let _wait = dependency_wait();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_secs(600)).await;
        };
        let err = run_within(Duration::from_millis(300), work).await.expect_err("over budget");
        assert!(err.excluded >= Duration::from_millis(50));
    }

    #[test]
    fn a_wait_outside_a_budget_is_a_no_op() {
        drop(dependency_wait());
    }
}
