//! Unit tests of the schedule replay: the chain's firing rules one by one, the cases where
//! the modulo formula drifts, and hostile values.

use super::*;

fn steady() -> EpochSchedule {
    EpochSchedule {
        tempo: 100,
        reveal_period_epochs: 1,
        last_epoch_block: 1000,
        pending_epoch_at: 0,
        subnet_epoch_index: 10,
        blocks_since_last_step: 20,
        current_block: 1020,
    }
}

fn quicknet_ms(seconds: u64) -> u64 {
    seconds * 1000
}

#[test]
fn an_epoch_fires_on_tempo_pending_or_the_safety_net() {
    let s = steady();
    assert!(!should_run_epoch(&s, 1099));
    assert!(should_run_epoch(&s, 1100));
    assert!(should_run_epoch(&EpochSchedule { pending_epoch_at: 1050, ..s }, 1050));
    assert!(!should_run_epoch(&EpochSchedule { pending_epoch_at: 1050, ..s }, 1049));
    assert!(should_run_epoch(&EpochSchedule { blocks_since_last_step: 101, ..s }, 1021));
    assert!(!should_run_epoch(&EpochSchedule { blocks_since_last_step: 100, ..s }, 1021));
    assert!(!should_run_epoch(&EpochSchedule { tempo: 0, ..s }, 5000));
}

#[test]
fn steady_reveal_is_the_start_of_the_epoch_after_the_commits() {
    // Commit epoch 10 (fires next at 1100 -> epoch 11); one reveal period: epoch 11 starts at 1100.
    assert_eq!(reveal_block(&steady()), Ok(1100));
    // Two periods: epoch 12 at 1200.
    assert_eq!(reveal_block(&EpochSchedule { reveal_period_epochs: 2, ..steady() }), Ok(1200));
    // A commit included in the fire block itself belongs to the new epoch.
    let at_fire = EpochSchedule { current_block: 1099, blocks_since_last_step: 99, ..steady() };
    assert_eq!(reveal_block(&at_fire), Ok(1200));
}

#[test]
fn an_owner_triggered_epoch_moves_every_later_epoch() {
    let s = EpochSchedule { pending_epoch_at: 1030, reveal_period_epochs: 2, ..steady() };
    // Epoch 11 fires at 1030 (pending), epoch 12 a tempo later at 1130.
    assert_eq!(reveal_block(&s), Ok(1130));
    // The modulo formula knows nothing of it.
    let modulo = modulo_first_reveal_block(1, 100, 2, 1020).expect("modulo");
    assert_ne!(modulo, 1130);
}

#[test]
fn a_missed_slot_fires_at_once_after_a_tempo_change() {
    // Tempo lowered to 50 at block 1010 (LastEpochBlock reset to 1010) while the counter says
    // 60 blocks since the last step: the chain's safety net fires at the next block (1021),
    // which is the block the commit lands in, so it belongs to epoch 11 and is revealed when
    // epoch 12 fires a tempo later. (bittensor-core 0.1.5's net of 50 400 blocks would wait for
    // 1060 and target epoch 11 there, a reveal epoch the chain has already left.)
    let s = EpochSchedule {
        tempo: 50,
        last_epoch_block: 1010,
        blocks_since_last_step: 60,
        current_block: 1020,
        ..steady()
    };
    assert_eq!(epoch_at(&s, 1021), Ok(11));
    assert_eq!(reveal_block(&s), Ok(1071));
    assert_eq!(reveal_block(&EpochSchedule { reveal_period_epochs: 2, ..s }), Ok(1121));
}

#[test]
fn the_counter_is_capped_like_the_chain_caps_it() {
    let s = EpochSchedule { tempo: 5, blocks_since_last_step: 900, pending_epoch_at: 0, ..steady() };
    let next = step(&EpochSchedule { last_epoch_block: 0, ..s }, 1021).expect("step");
    // Fired (safety net): counter advanced, anchor moved, counter reset.
    assert_eq!((next.subnet_epoch_index, next.last_epoch_block, next.blocks_since_last_step), (11, 1021, 0));
    // With tempo 0 nothing fires and the counter stops at tempo + 1.
    let idle = step(&EpochSchedule { tempo: 0, ..s }, 1021).expect("step");
    assert_eq!((idle.subnet_epoch_index, idle.blocks_since_last_step), (10, 1));
}

#[test]
fn the_round_is_the_pulse_three_blocks_after_the_reveal() {
    let beacon = Beacon::quicknet();
    let now = quicknet_ms(1_692_803_367 + 3000);
    let target = reveal_target(&steady(), 12_000, now, &beacon).expect("target");
    assert_eq!(target.reveal_block, 1100);
    // (1100 + 3 - 1020) blocks * 12 s = 996 s after now; 3000 + 996 = 3996 s after genesis.
    assert_eq!(target.reveal_round, 3996 / 3);
    // Fast blocks: 83 * 0.25 s = 20.75 s -> round floor(3020.75 / 3).
    assert_eq!(reveal_target(&steady(), FAST_BLOCK_TIME_MS, now, &beacon).expect("fast").reveal_round, 1006);
    // Before genesis the round is clamped to 1.
    assert_eq!(reveal_target(&steady(), 12_000, 0, &beacon).expect("early").reveal_round, 1);
}

#[test]
fn hostile_values_are_typed_errors_not_panics() {
    let beacon = Beacon::quicknet();
    let s = steady();
    assert_eq!(reveal_block(&EpochSchedule { tempo: 0, ..s }), Err(ScheduleError::TempoIsZero));
    for period in [0, MAX_REVEAL_PERIOD_EPOCHS + 1, u64::MAX] {
        assert_eq!(
            reveal_block(&EpochSchedule { reveal_period_epochs: period, ..s }),
            Err(ScheduleError::RevealPeriodOutOfRange(period))
        );
    }
    assert!(matches!(reveal_block(&EpochSchedule { current_block: u64::MAX, ..s }), Err(ScheduleError::Overflow(_))));
    assert!(matches!(
        reveal_block(&EpochSchedule { current_block: u64::MAX - 5, last_epoch_block: 0, ..s }),
        Err(ScheduleError::Overflow(_))
    ));
    assert!(matches!(
        reveal_block(&EpochSchedule { subnet_epoch_index: u64::MAX, ..s }),
        Err(ScheduleError::Overflow(_))
    ));
    assert!(matches!(
        reveal_block(&EpochSchedule { subnet_epoch_index: u64::MAX - 1, reveal_period_epochs: 2, ..s }),
        Err(ScheduleError::Overflow(_))
    ));
    assert_eq!(reveal_target(&s, 0, 0, &beacon), Err(ScheduleError::ZeroDuration("the block time")));
    let no_period = Beacon { period_ms: 0, ..Beacon::quicknet() };
    assert_eq!(reveal_target(&s, 12_000, 0, &no_period), Err(ScheduleError::ZeroDuration("the drand period")));
    assert!(matches!(reveal_target(&s, u64::MAX, 0, &beacon), Err(ScheduleError::Overflow(_))));
    assert!(matches!(reveal_target(&s, 12_000, u64::MAX, &beacon), Err(ScheduleError::Overflow(_))));
    // The modulo formula with a huge reveal period or block overflows cleanly too.
    for (period, block) in [(u64::MAX, 1000), (1, u64::MAX), (u64::MAX / 2, 1000)] {
        assert!(matches!(modulo_first_reveal_block(1, 360, period, block), Err(ScheduleError::Overflow(_))));
    }
}

#[test]
fn the_modulo_model_keeps_the_spec_393_vector() {
    // tempo 360, netuid 1, block 1000, 1 period, 12 s blocks, now 1692806367.5 -> round 1336.
    let model = ScheduleModel::Modulo { netuid: 1, tempo: 360, reveal_period_epochs: 1, current_block: 1000 };
    let target = model.reveal_target(12_000, 1_692_806_367_500, &Beacon::quicknet()).expect("target");
    assert_eq!((target.reveal_block, target.reveal_round, model.name()), (1081, 1336, "modulo"));
    assert_eq!(ScheduleModel::Stateful(steady()).name(), "stateful");
}

#[test]
fn seconds_become_milliseconds_or_a_typed_error() {
    assert_eq!(seconds_to_ms(0.25, "block_time"), Ok(250));
    assert_eq!(seconds_to_ms(1_862_675_493.125, "now_unix"), Ok(1_862_675_493_125));
    for bad in [f64::NAN, f64::INFINITY, -1.0, 1e30] {
        assert_eq!(seconds_to_ms(bad, "now_unix"), Err(ScheduleError::BadSeconds("now_unix")));
    }
}

fn rules_with(schedule: Option<EpochSchedule>, reveal_period_epochs: u64) -> crate::chain::WeightRules {
    crate::chain::WeightRules {
        block: 1020,
        now_ms: quicknet_ms(1_692_803_367 + 3000),
        block_time_ms: 12_000,
        commit_reveal: true,
        commit_reveal_version: 4,
        rate_limit: 0,
        version_key: 0,
        tempo: 100,
        reveal_period_epochs,
        uid: Some(1),
        last_update: None,
        validator_permit: Some(true),
        beacon: Beacon::quicknet(),
        epoch_schedule: schedule,
        min_allowed_weights: 0,
        max_weight_limit: u16::MAX,
        subnet_n: 4,
        limits: Default::default(),
    }
}

#[test]
fn the_weights_plan_encrypts_for_the_stateful_round() {
    use crate::chain::WeightsCall;
    use crate::chain::weight_rules::{PlanOptions, plan, schedule_model};
    let call = WeightsCall { netuid: 1, uids: vec![0, 1], weights: vec![65535, 1], version_key: 0 };
    let stateful = rules_with(Some(steady()), 1);
    assert_eq!(schedule_model(&stateful, 1).name(), "stateful");
    let p = plan(&stateful, [1; 32], &call, PlanOptions::default()).expect("plan");
    let want = reveal_target(&steady(), 12_000, stateful.now_ms, &Beacon::quicknet()).expect("target");
    assert_eq!(p.commit.expect("commit").reveal_round, want.reveal_round);
    // The watchdog expects the reveal once the pulse is in: the reveal block plus the margin.
    assert_eq!(p.reveal_block, Some(want.reveal_block + SECURITY_BLOCKS));
    // Without the stateful items: the modulo formula, as before.
    let modulo = rules_with(None, 1);
    assert_eq!(schedule_model(&modulo, 1).name(), "modulo");
    let p = plan(&modulo, [1; 32], &call, PlanOptions::default()).expect("plan");
    assert_eq!(p.reveal_block, Some(modulo_first_reveal_block(1, 100, 1, 1020).expect("modulo") + SECURITY_BLOCKS));
}

#[test]
fn a_huge_reveal_period_fails_the_plan_instead_of_panicking() {
    use crate::chain::weight_rules::{PlanOptions, plan};
    use crate::chain::{ChainError, WeightsCall};
    let call = WeightsCall { netuid: 1, uids: vec![0], weights: vec![65535], version_key: 0 };
    for rules in [
        rules_with(None, u64::MAX),
        rules_with(None, u64::MAX / 50),
        rules_with(Some(EpochSchedule { reveal_period_epochs: u64::MAX, ..steady() }), u64::MAX),
    ] {
        let err = plan(&rules, [1; 32], &call, PlanOptions::default()).expect_err("refused");
        assert!(matches!(&err, ChainError::Invalid(m) if m.contains("epoch schedule")), "{err}");
    }
}
