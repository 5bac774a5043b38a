//! Weights that land: the rules checked before committing (and the count and alert when one
//! holds weights back), the embedded chain dropping a commit at reveal when a rule broke in
//! between, the reveal watchdog that must not take the previous epoch's weights for a dropped
//! commit's (two epochs with identical weights, the second dropped), the restart
//! reconciliation that must not mistake the previous epoch's reveal for the new intent, and
//! the stake the metagraph reports.

use std::collections::HashMap;
use std::time::Duration;

use nexis::chain::Chain;
use nexis::chain::embedded::WeightParams;
use nexis::chain::weight_rules::{PlanOptions, plan};
use nexis::evidence_server::quorum::Allowlist;
use nexis::protocol::{Epoch, IntervalClock, WEIGHTS_VERSION_KEY};
use nexis::validator::WeightSubmission;

use crate::validate_service::{NETUID, World, hotkey, until_revealed};

fn metric_line(text: &str, prefix: &str) -> Option<String> {
    text.lines().find(|l| l.starts_with(prefix)).map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_release_commits_nothing_and_counts_the_version_key_rule() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register");
    let params = w.chain.weight_params(NETUID).expect("params");
    w.chain.set_weight_params(NETUID, WeightParams { version_key: WEIGHTS_VERSION_KEY + 1, ..params }).expect("params");
    let clock = IntervalClock { weight_epoch_blocks: 100, ..IntervalClock::default() };
    let service = w.service(&validator, clock, Duration::from_secs(3600));
    w.chain.advance(52).expect("advance");
    assert!(service.tick().await.expect("tick").weights.is_none(), "nothing is committed");
    assert!(w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending").is_empty());
    assert_eq!(service.metrics.weights_committed.get(), 0);
    let text = service.metrics.render();
    assert_eq!(
        metric_line(&text, "nexis_weights_rule_failures_total{").as_deref(),
        Some("nexis_weights_rule_failures_total{rule=\"IncorrectWeightVersionKey\"} 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_broken_between_commit_and_reveal_drops_the_weights_and_the_watchdog_says_so() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register");
    w.chain.set_stake(NETUID, &validator.ss58(), 5_000).expect("stake");
    let clock = IntervalClock { weight_epoch_blocks: 100, ..IntervalClock::default() };
    let service = w.service(&validator, clock, Duration::from_secs(3600));
    w.chain.advance(52).expect("advance");
    assert!(service.tick().await.expect("tick").weights.is_some(), "committed");
    // The subnet raises StakeThreshold above the validator's stake before the reveal: the
    // chain drops the commit silently at reveal time.
    let params = w.chain.weight_params(NETUID).expect("params");
    w.chain.set_weight_params(NETUID, WeightParams { stake_threshold: 5_001, ..params }).expect("params");
    until_revealed(&w, &service, &validator).await;
    assert!(w.chain.weights_of(NETUID, &validator.ss58()).await.expect("weights").is_empty(), "dropped");
    assert_eq!(service.metrics.weights_reveal_missing.get(), 1);
    // Before the next commit the same rule is caught and counted, nothing is sent.
    let now = w.chain.current_block().await.expect("block");
    w.chain.advance(102 - now).expect("advance");
    assert!(service.tick().await.expect("tick").weights.is_none());
    let text = service.metrics.render();
    assert!(text.contains("nexis_weights_rule_failures_total{rule=\"NotEnoughStakeToSetWeights\"} 1"), "{text}");
    assert!(w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_take_the_previous_epochs_reveal_for_the_new_intent() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register");
    // Weight epochs of 20 blocks on a tempo-10 subnet: epoch 0's commit (block 12) reveals at
    // block 23, after epoch 1 (block 20 on) has begun.
    let clock = IntervalClock { weight_epoch_blocks: 20, ..IntervalClock::default() };
    w.chain.advance(12).expect("advance");
    {
        let service = w.service(&validator, clock, Duration::from_secs(3600));
        let sub = service.tick().await.expect("tick").weights.expect("epoch 0 committed");
        assert_eq!((sub.epoch, sub.block), (Epoch::new(0), 12));
        // Epoch 1: the intent is recorded, then the process stops before sending it.
        w.chain.advance(9).expect("advance");
        let rules = w.chain.weight_rules(NETUID, &validator.ss58()).await.expect("rules");
        let call = nexis::chain::WeightsCall {
            netuid: NETUID,
            uids: sub.uids.clone(),
            weights: sub.weights.clone(),
            version_key: WEIGHTS_VERSION_KEY,
        };
        let plan = plan(&rules, validator.public(), &call, PlanOptions::default()).expect("plan");
        let intent = WeightSubmission {
            epoch: Epoch::new(1),
            block: rules.block,
            uids: plan.call.uids.clone(),
            weights: plan.call.weights.clone(),
            burned: sub.burned,
            submitted_at: chrono::Utc::now(),
            mode: Some(plan.mode.as_str().into()),
            reveal_round: plan.commit.as_ref().map(|c| c.reveal_round),
            reveal_block: plan.reveal_block,
        };
        assert_eq!(intent.block, 21);
        service.state.record_weights_intent(&intent).expect("intent");
    }
    // Epoch 0's reveal lands after the intent was recorded: `LastUpdate` moves past the
    // intent's block and the chain holds the same (burn) weights.
    w.chain.advance(4).expect("advance");
    assert!(w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending").is_empty(), "revealed");
    let rules = w.chain.weight_rules(NETUID, &validator.ss58()).await.expect("rules");
    assert!(rules.last_update.expect("last update") >= 21, "the reveal counts as activity");
    assert!(!w.chain.weights_of(NETUID, &validator.ss58()).await.expect("weights").is_empty());

    let service = w.service(&validator, clock, Duration::from_secs(3600));
    let sub = service.tick().await.expect("tick").weights.expect("epoch 1 sent now");
    assert_eq!(sub.epoch, Epoch::new(1));
    assert_eq!(service.metrics.weights_committed.get(), 1, "the new intent was sent, not taken as landed");
    let pending = w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending");
    assert_eq!(pending.iter().map(|c| c.commit_block).collect::<Vec<_>>(), [25]);
    until_revealed(&w, &service, &validator).await;
    // The watchdog follows both: epoch 0's commit (seeded at start) and epoch 1's.
    assert_eq!(service.metrics.weights_revealed.get(), 2);
    assert_eq!(service.metrics.weights_reveal_missing.get(), 0);
}

/// The log lines written while the test runs a future under [`captured`].
#[derive(Clone, Default)]
struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogSink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

/// Runs `fut` with its logs (info and above, plain text) written to `sink`.
async fn captured<T>(sink: &LogSink, fut: impl std::future::Future<Output = T>) -> T {
    use tracing::instrument::WithSubscriber;
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    fut.with_subscriber(subscriber).await
}

/// How the second of two identical commits is lost.
#[derive(Debug, Clone, Copy)]
enum Loss {
    /// The subnet raises `StakeThreshold` above the validator's stake before the reveal.
    RuleBrokenAtReveal,
    /// The owner triggers an epoch at each of the next blocks, so the commit's reveal epoch
    /// passes before its drand round is out.
    RevealEpochPassed,
}

/// Steps the chain a block at a time, polling the validator, until its watchdog follows no
/// commit (at most 60 blocks).
async fn until_judged(w: &World, service: &nexis::validator::ValidatorService) {
    for _ in 0..60 {
        if service.watched_commits().is_empty() {
            return;
        }
        w.chain.advance(1).expect("advance");
        service.tick().await.expect("tick");
    }
    panic!("the watchdog never judged {:?}", service.watched_commits());
}

/// Two consecutive epochs commit identical (burn) weights; the first is revealed, the second
/// is lost as `loss`. The chain still holds the first epoch's weights — equal to the second
/// commit's — so only the chain's record of the reveal can tell the drop. Returns the metrics
/// text and the logs.
async fn identical_weights_then_a_silent_drop(loss: Loss) -> (String, String) {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register");
    w.chain.set_stake(NETUID, &validator.ss58(), 5_000).expect("stake");
    let clock = IntervalClock { weight_epoch_blocks: 100, ..IntervalClock::default() };
    let service = w.service(&validator, clock, Duration::from_secs(3600));
    let logs = LogSink::default();
    w.chain.advance(52).expect("advance");
    let first = captured(&logs, service.tick()).await.expect("tick").weights.expect("epoch 0 committed");
    captured(&logs, until_judged(&w, &service)).await;
    assert_eq!(service.metrics.weights_revealed.get(), 1, "epoch 0 revealed");
    let on_chain = w.chain.weights_of(NETUID, &validator.ss58()).await.expect("weights");
    assert!(!on_chain.is_empty());

    let now = w.chain.current_block().await.expect("block");
    w.chain.advance(102 - now).expect("advance");
    let second = captured(&logs, service.tick()).await.expect("tick").weights.expect("epoch 1 committed");
    assert_eq!(second.epoch, Epoch::new(1));
    assert_eq!((&second.uids, &second.weights), (&first.uids, &first.weights), "identical weights");
    match loss {
        Loss::RuleBrokenAtReveal => {
            let params = w.chain.weight_params(NETUID).expect("params");
            w.chain.set_weight_params(NETUID, WeightParams { stake_threshold: 5_001, ..params }).expect("params");
        }
        Loss::RevealEpochPassed => {
            for _ in 0..3 {
                w.chain.trigger_epoch(NETUID).expect("trigger");
                w.chain.advance(1).expect("advance");
            }
        }
    }
    captured(&logs, until_judged(&w, &service)).await;
    assert!(w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending").is_empty(), "dropped");
    assert_eq!(
        w.chain.weights_of(NETUID, &validator.ss58()).await.expect("weights"),
        on_chain,
        "the chain still holds epoch 0's weights, equal to the dropped ones"
    );
    (service.metrics.render(), logs.text())
}

/// Checks that the watchdog reported the second epoch's commit as missing, not revealed.
fn assert_reported_as_dropped(metrics: &str, logs: &str) {
    assert_eq!(metric_line(metrics, "nexis_weights_revealed_total").as_deref(), Some("nexis_weights_revealed_total 1"));
    assert_eq!(
        metric_line(metrics, "nexis_weights_reveal_missing_total").as_deref(),
        Some("nexis_weights_reveal_missing_total 1"),
        "{metrics}\n{logs}"
    );
    let dropped: Vec<&str> = logs.lines().filter(|l| l.contains("committed weights did not reveal")).collect();
    assert_eq!(dropped.len(), 1, "{logs}");
    assert!(dropped[0].contains("ERROR") && dropped[0].contains("epoch=1"), "{}", dropped[0]);
    assert!(dropped[0].contains("recorded no reveal"), "{}", dropped[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_commit_with_the_previous_epochs_weights_is_reported_missing() {
    let (metrics, logs) = identical_weights_then_a_silent_drop(Loss::RuleBrokenAtReveal).await;
    assert_reported_as_dropped(&metrics, &logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_reveal_epoch_passes_with_the_previous_epochs_weights_is_reported_missing() {
    let (metrics, logs) = identical_weights_then_a_silent_drop(Loss::RevealEpochPassed).await;
    assert_reported_as_dropped(&metrics, &logs);
}

#[tokio::test]
async fn the_metagraph_reports_stake_and_the_api_allowlist_uses_it() {
    let w = World::new().await;
    let (rich, poor) = (hotkey(1), hotkey(2));
    for k in [&rich, &poor] {
        w.chain.register(NETUID, &k.ss58()).expect("register");
    }
    let unstaked = w.chain.metagraph(NETUID).await.expect("metagraph");
    assert!(unstaked.neurons.iter().all(|n| n.stake.is_none()), "no stake modelled yet");
    w.chain.set_stake(NETUID, &rich.ss58(), 2_000_000_000).expect("stake");
    let metagraph = w.chain.metagraph(NETUID).await.expect("metagraph");
    let stakes: Vec<Option<u64>> = metagraph.neurons.iter().map(|n| n.stake).collect();
    assert_eq!(stakes, [Some(2_000_000_000), Some(0)]);
    let allow = Allowlist::from_metagraph(&metagraph, 1_000_000_000, &HashMap::new());
    assert!(allow.allows(&rich.ss58()) && !allow.allows(&poor.ss58()));
}

/// A validator with 30-block weight epochs on a tempo-10 subnet for five epochs: the owner
/// sets tempo 6 at block 46 and triggers an epoch at block 80. Returns, per epoch, whether
/// its commit was revealed (the reveal moves `LastUpdate` past the commit block).
async fn across_a_tempo_change(hide_schedule: bool) -> Vec<bool> {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register");
    let params = w.chain.weight_params(NETUID).expect("params");
    w.chain.set_weight_params(NETUID, WeightParams { hide_schedule, ..params }).expect("params");
    let clock = IntervalClock { weight_epoch_blocks: 30, ..IntervalClock::default() };
    let service = w.service(&validator, clock, Duration::from_secs(3600));
    let mut revealed = Vec::new();
    for epoch in 0..5u64 {
        let start = epoch * 30;
        let now = w.chain.current_block().await.expect("block");
        w.chain.advance(start + 2 - now).expect("advance");
        let sub = service.tick().await.expect("tick").weights.expect("committed");
        for block in start + 3..start + 30 {
            w.chain.advance(1).expect("advance");
            if block == 46 {
                w.chain.set_tempo(NETUID, 6).expect("tempo");
            }
            if block == 80 {
                w.chain.trigger_epoch(NETUID).expect("trigger");
            }
            service.tick().await.expect("tick");
        }
        let rules = w.chain.weight_rules(NETUID, &validator.ss58()).await.expect("rules");
        assert!(w.chain.pending_commits(NETUID, &validator.ss58()).await.expect("pending").is_empty());
        revealed.push(rules.last_update.is_some_and(|last| last > sub.block));
    }
    revealed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_epoch_is_revealed_across_a_tempo_change_and_an_owner_triggered_epoch() {
    assert_eq!(across_a_tempo_change(false).await, [true; 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_modulo_formula_loses_an_epoch_after_the_schedule_moves() {
    let revealed = across_a_tempo_change(true).await;
    assert!(revealed.iter().any(|r| !r), "the modulo formula should miss a reveal epoch: {revealed:?}");
}

#[test]
fn the_start_up_metadata_check_names_what_a_runtime_lacks() {
    let load = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chain").join(name);
        nexis::chain::subtensor::load_metadata(&path).expect("metadata")
    };
    for spec in ["finney-spec365.scale", "finney-spec393.scale"] {
        assert_eq!(nexis::chain::subtensor::missing_required(&load(spec)), Vec::<String>::new(), "{spec}");
    }
    // Spec 393 predates the Null consensus mode: named, and its default (Yuma) is used.
    assert_eq!(
        nexis::chain::subtensor::missing_optional(&load("finney-spec393.scale")),
        ["SubtensorModule.SubnetEpochConsensus"]
    );
}
