//! The memory budget for decoded datasets (bytes of RAM, not to be confused with the
//! validator's per-miner *time* budget in `validator::budget`), so that evaluating many
//! miners at once stays within a fixed amount of memory by design: every load reserves an
//! estimate of what its rows cost (decoding and the checked frame) before decoding,
//! waiting while other loads hold the budget, and gives it back when its package's
//! evaluation ends. The budget is a handle: whoever builds the package limits creates one
//! and every load under those limits shares it (no process-wide state).
//!
//! A load never waits while holding a reservation, and a reservation is released when
//! its [`LoadedDataset`](super::LoadedDataset) is told so or dropped, so loads cannot
//! deadlock. A single load larger than the whole budget takes the whole budget.

use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// Estimated peak cost of one row while decoding and checking it, in bytes: the frame
/// (clip id up to 64 characters twice, source id up to 64, source key up to 256 bytes,
/// four 16-byte fingerprints, start, group ids, flags) plus the sorting scratch of the
/// package-wide checks.
pub const ROW_COST_BYTES: u64 = 640;
/// Default budget shared by all loads of one validator (`--memory-budget-mib`): 1 GiB, so eight concurrent
/// evaluations of hostile 2,000,000-row packages take turns instead of needing 8 × 1.3 GB.
pub const DEFAULT_BUDGET_BYTES: u64 = 1 << 30;

/// A budget of RAM bytes shared by concurrent dataset loads.
#[derive(Debug)]
pub struct MemoryBudget {
    total: u64,
    in_use: Mutex<u64>,
    freed: Condvar,
}

/// Bytes held from a [`MemoryBudget`]; released on drop.
#[derive(Debug)]
pub struct MemoryReservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl MemoryBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> Arc<Self> {
        Arc::new(Self { total: total.max(1), in_use: Mutex::new(0), freed: Condvar::new() })
    }

    /// Reserves `bytes` (at most the whole budget), blocking while others hold too much.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> MemoryReservation {
        let bytes = bytes.min(self.total);
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        while *in_use + bytes > self.total {
            in_use = self.freed.wait(in_use).unwrap_or_else(PoisonError::into_inner);
        }
        *in_use += bytes;
        MemoryReservation { budget: self.clone(), bytes }
    }

    /// Bytes currently reserved.
    pub fn in_use(&self) -> u64 {
        *self.in_use.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        let mut in_use = self.budget.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        *in_use = in_use.saturating_sub(self.bytes);
        self.budget.freed.notify_all();
    }
}

/// The estimated memory of decoding and checking `rows` rows.
pub fn cost_of(rows: u64) -> u64 {
    rows.saturating_mul(ROW_COST_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn loads_wait_for_the_budget_and_never_exceed_it() {
        let budget = MemoryBudget::new(100);
        let first = budget.reserve(70);
        let (tx, rx) = mpsc::channel();
        let b = budget.clone();
        let waiter = std::thread::spawn(move || {
            let r = b.reserve(50);
            tx.send(b.in_use()).unwrap();
            drop(r);
        });
        // The second load cannot start while the first holds 70 of 100 bytes.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        assert_eq!(budget.in_use(), 70);
        drop(first);
        assert_eq!(rx.recv().unwrap(), 50);
        waiter.join().unwrap();
        assert_eq!(budget.in_use(), 0);
        // A load larger than the whole budget takes all of it instead of waiting forever.
        let huge = budget.reserve(10_000);
        assert_eq!(budget.in_use(), 100);
        drop(huge);
    }
}
