//! Stopping long-running services: one [`Shutdown`] handle that turns on at Ctrl+C or
//! SIGTERM (or when a test says so), and [`run_every`], the poll loop the validator, the
//! owner sync and the miner all run. A stop lets the current step finish or cuts it
//! where it can be retried after a restart; it never leaves state half-written.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tracing::info;

/// A stop request every part of a service can wait on or poll; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// Requests the stop of the [`Shutdown`] it was made with.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl ShutdownTrigger {
    /// Asks every holder of the paired [`Shutdown`] to stop.
    pub fn stop(&self) {
        self.tx.send_replace(true);
    }
}

impl Shutdown {
    /// A stop requested by calling [`ShutdownTrigger::stop`].
    pub fn manual() -> (ShutdownTrigger, Self) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Self { rx })
    }

    /// A stop requested by Ctrl+C or SIGTERM; `what` says in the log what happens next.
    pub fn on_signal(what: &'static str) -> Self {
        let (trigger, shutdown) = Self::manual();
        tokio::spawn(async move {
            signal().await;
            info!("shutdown requested; {what}");
            trigger.stop();
        });
        shutdown
    }

    /// Whether the stop was requested.
    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once the stop is requested (at once if it already was). A dropped
    /// trigger never stops anything.
    pub async fn requested(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Runs `work` unless the stop comes first; `None` when it did.
    pub async fn unless_stopped<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            out = work => Some(out),
            () = self.requested() => None,
        }
    }
}

/// Runs `tick` every `poll` until `shutdown` (a tick in progress is cut at its next await
/// point, which every service makes a safe place to stop) or until a tick fails.
pub async fn run_every<E, F, Fut>(poll: Duration, shutdown: &Shutdown, mut tick: F) -> Result<(), E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    while !shutdown.is_requested() {
        match shutdown.unless_stopped(tick()).await {
            Some(result) => result?,
            None => break,
        }
        if shutdown.unless_stopped(tokio::time::sleep(poll)).await.is_none() {
            break;
        }
    }
    Ok(())
}

/// Resolves on Ctrl+C or SIGTERM.
async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn run_every_ticks_until_stopped_and_never_ticks_after() {
        let (trigger, shutdown) = Shutdown::manual();
        let ticks = Arc::new(AtomicU32::new(0));
        let counted = ticks.clone();
        let result: Result<(), ()> = run_every(Duration::from_millis(5), &shutdown, || {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 3 {
                trigger.stop();
            }
            async { Ok(()) }
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(ticks.load(Ordering::SeqCst), 3, "the stop during tick 3 ends the loop before tick 4");
        let never = run_every(Duration::from_millis(5), &shutdown, || async { Err::<(), _>("must not run") }).await;
        assert!(never.is_ok(), "a stopped service does not tick again");
    }

    #[tokio::test]
    async fn a_stop_cuts_a_long_tick_short() {
        let (trigger, shutdown) = Shutdown::manual();
        let stopper = tokio::spawn(async move { trigger.stop() });
        let result = run_every(Duration::from_millis(5), &shutdown, || async {
            std::future::pending::<()>().await;
            Err::<(), _>("unreachable")
        })
        .await;
        assert!(result.is_ok() && shutdown.is_requested());
        stopper.await.expect("stopper");
    }

    #[tokio::test]
    async fn a_failing_tick_ends_the_loop_with_its_error() {
        let (_trigger, shutdown) = Shutdown::manual();
        let result = run_every(Duration::from_secs(1), &shutdown, || async { Err::<(), _>("state broken") }).await;
        assert_eq!(result, Err("state broken"));
    }
}
