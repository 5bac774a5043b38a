//! Getting weights onto the chain the way the chain wants them: the checks subtensor applies
//! (rate limit, version key floor, validator permit) done before sending, and the choice
//! between plain `set_weights` and a timelocked commit (commit-reveal v4). The validator and
//! `nexis chain set-weights` both go through [`plan`] and [`submit`].

use chrono::{DateTime, Utc};

use super::commit_reveal::{self, WeightsPayload};
use super::schedule::{self, ScheduleModel};
use super::{Chain, ChainError, Hotkey, TimelockedCommit, WeightRules, WeightsCall};

/// How weights go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsMode {
    /// `SubtensorModule.set_weights`.
    Plain,
    /// `SubtensorModule.commit_timelocked_mechanism_weights`, revealed by the chain later.
    CommitReveal,
}

impl WeightsMode {
    /// `plain` or `commit-reveal`.
    pub fn as_str(self) -> &'static str {
        match self {
            WeightsMode::Plain => "plain",
            WeightsMode::CommitReveal => "commit-reveal",
        }
    }
}

/// Weights ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightsPlan {
    /// Plain `set_weights` or a timelocked commit.
    pub mode: WeightsMode,
    /// The weights, with the version key raised to the chain's floor.
    pub call: WeightsCall,
    /// The timelocked commit (commit-reveal mode).
    pub commit: Option<TimelockedCommit>,
    /// The block at which the chain is expected to reveal (commit-reveal mode).
    pub reveal_block: Option<u64>,
    /// When the reveal round's beacon pulse is due (commit-reveal mode).
    pub reveal_at: Option<DateTime<Utc>>,
}

/// Whether the rate limit allows weights at `block`: `Ok` when `block - last >= limit`
/// (the chain's rule), else `Err(first allowed block)`. Never set, or a zero limit, is allowed.
pub(crate) fn rate_limit_allows(last_update: Option<u64>, limit: u64, block: u64) -> Result<(), u64> {
    match last_update {
        Some(last) if last > 0 && limit > 0 && block.saturating_sub(last) < limit => Err(last + limit),
        _ => Ok(()),
    }
}

/// The version key to send: ours, raised to the chain's `WeightsVersionKey` when lower.
pub(crate) fn version_key_floor(chain_floor: u64, ours: u64) -> u64 {
    ours.max(chain_floor)
}

/// Checks what the chain would refuse (or silently drop) before anything is sent.
pub fn check(rules: &WeightRules, hotkey: &str, netuid: u16) -> Result<(), ChainError> {
    if rules.uid.is_none() {
        return Err(ChainError::NotRegistered { hotkey: hotkey.to_string(), netuid });
    }
    if rules.validator_permit == Some(false) {
        return Err(ChainError::NoValidatorPermit { hotkey: hotkey.to_string(), netuid });
    }
    rate_limit_allows(rules.last_update, rules.rate_limit, rules.block).map_err(|next_block| {
        ChainError::WeightsTooFast { limit: rules.rate_limit, last_update: rules.last_update.unwrap_or(0), next_block }
    })
}

/// Overrides for [`plan`] (the CLI's flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Fix the reveal round instead of computing it.
    pub reveal_round: Option<u64>,
    /// Fixed encryption randomness (reproducible output).
    pub seed: Option<[u8; 32]>,
}

/// Chooses the mode the chain wants and builds what to send: the version key raised to the
/// chain's floor, and in commit-reveal mode the encrypted payload for the reveal round.
pub fn plan(
    rules: &WeightRules,
    signer_public: [u8; 32],
    call: &WeightsCall,
    options: PlanOptions,
) -> Result<WeightsPlan, ChainError> {
    let mut call = call.clone();
    call.version_key = version_key_floor(rules.version_key, call.version_key);
    if !rules.commit_reveal {
        return Ok(WeightsPlan { mode: WeightsMode::Plain, call, commit: None, reveal_block: None, reveal_at: None });
    }
    if call.uids.len() != call.weights.len() {
        return Err(ChainError::Invalid(format!("{} uids but {} weights", call.uids.len(), call.weights.len())));
    }
    let model = schedule_model(rules, call.netuid);
    let target = model
        .reveal_target(rules.block_time_ms, rules.now_ms, &rules.beacon)
        .map_err(|e| ChainError::Invalid(format!("cannot place the reveal ({} epoch schedule): {e}", model.name())))?;
    tracing::info!(
        model = model.name(),
        block = rules.block,
        reveal_block = target.reveal_block,
        reveal_round = target.reveal_round,
        block_time_ms = rules.block_time_ms,
        "reveal placed by the chain's epoch schedule"
    );
    let reveal_round = options.reveal_round.unwrap_or(target.reveal_round);
    let payload = WeightsPayload {
        hotkey: signer_public.to_vec(),
        uids: call.uids.clone(),
        values: call.weights.clone(),
        version_key: call.version_key,
    };
    let seed = options.seed.unwrap_or_else(rand::random);
    let bytes = commit_reveal::encrypt_seeded(&rules.beacon.public_key, reveal_round, &payload.encode(), seed)
        .map_err(|e| ChainError::Invalid(format!("cannot encrypt the weights: {e}")))?;
    let reveal_at =
        i64::try_from(rules.beacon.round_time_ms(reveal_round)).ok().and_then(DateTime::<Utc>::from_timestamp_millis);
    Ok(WeightsPlan {
        mode: WeightsMode::CommitReveal,
        commit: Some(TimelockedCommit {
            netuid: call.netuid,
            commit: bytes,
            reveal_round,
            version: rules.commit_reveal_version,
        }),
        call,
        // The chain starts trying at the reveal block; the pulse lands `SECURITY_BLOCKS` later.
        reveal_block: Some(target.reveal_block.saturating_add(schedule::SECURITY_BLOCKS)),
        reveal_at,
    })
}

/// The schedule model of `rules`: the stateful schedule when the runtime has it, else the
/// modulo formula from `Tempo` and `RevealPeriodEpochs`.
pub fn schedule_model(rules: &WeightRules, netuid: u16) -> ScheduleModel {
    match rules.epoch_schedule {
        Some(s) => ScheduleModel::Stateful(s),
        None => ScheduleModel::Modulo {
            netuid,
            tempo: rules.tempo,
            reveal_period_epochs: rules.reveal_period_epochs,
            current_block: rules.block,
        },
    }
}

/// Sends a plan: plain weights or the timelocked commit.
pub async fn submit(chain: &dyn Chain, signer: &Hotkey, plan: &WeightsPlan) -> Result<(), ChainError> {
    match &plan.commit {
        Some(commit) => chain.commit_weights(signer, commit).await,
        None => chain.set_weights(signer, &plan.call).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Beacon;
    use crate::chain::commit_reveal::{BeaconSecret, decrypt_payload};

    fn rules(commit_reveal: bool) -> WeightRules {
        WeightRules {
            block: 1000,
            now_ms: 1_692_806_367_500,
            block_time_ms: 12_000,
            commit_reveal,
            commit_reveal_version: 4,
            rate_limit: 100,
            version_key: 7,
            tempo: 360,
            reveal_period_epochs: 1,
            uid: Some(3),
            last_update: Some(900),
            validator_permit: Some(true),
            beacon: Beacon::quicknet(),
            epoch_schedule: None,
            min_allowed_weights: 0,
            max_weight_limit: u16::MAX,
            subnet_n: 16,
        }
    }

    #[test]
    fn rate_limit_boundary_is_inclusive_as_on_chain() {
        assert_eq!(rate_limit_allows(Some(900), 100, 999), Err(1000));
        assert_eq!(rate_limit_allows(Some(900), 100, 1000), Ok(()));
        assert_eq!(rate_limit_allows(None, 100, 5), Ok(()));
        assert_eq!(rate_limit_allows(Some(900), 0, 900), Ok(()));
        let mut r = rules(true);
        r.block = 999;
        assert!(matches!(check(&r, "hk", 1), Err(ChainError::WeightsTooFast { next_block: 1000, .. })));
        r.block = 1000;
        assert!(check(&r, "hk", 1).is_ok());
    }

    #[test]
    fn version_key_is_raised_to_the_chains_floor_never_lowered() {
        assert_eq!(version_key_floor(7, 3), 7);
        assert_eq!(version_key_floor(7, 9), 9);
        let call = WeightsCall { netuid: 1, uids: vec![1], weights: vec![65535], version_key: 3 };
        let p = plan(&rules(false), [0; 32], &call, PlanOptions::default()).expect("plan");
        assert_eq!((p.mode, p.call.version_key), (WeightsMode::Plain, 7));
    }

    #[test]
    fn permit_and_registration_are_checked_by_name() {
        let mut r = rules(true);
        r.validator_permit = Some(false);
        let err = check(&r, "hk", 1).expect_err("no permit");
        assert!(err.to_string().contains("NeuronNoValidatorPermit"), "{err}");
        r.uid = None;
        assert!(matches!(check(&r, "hk", 1), Err(ChainError::NotRegistered { .. })));
    }

    #[test]
    fn commit_reveal_plan_encrypts_the_payload_for_the_reveal_round() {
        let secret = BeaconSecret::from_bytes(&[3; 32]);
        let mut r = rules(true);
        r.beacon = Beacon { public_key: secret.public_key(), ..Beacon::quicknet() };
        let call = WeightsCall { netuid: 1, uids: vec![0, 5], weights: vec![65535, 100], version_key: 9 };
        let p = plan(&r, [5; 32], &call, PlanOptions::default()).expect("plan");
        let commit = p.commit.expect("commit");
        assert_eq!(
            (p.mode, commit.reveal_round, commit.version, p.reveal_block),
            (WeightsMode::CommitReveal, 1336, 4, Some(1084))
        );
        let payload = decrypt_payload(&commit.commit, &secret.sign_round(1336)).expect("decrypts");
        assert_eq!(
            (payload.hotkey, payload.uids, payload.values, payload.version_key),
            (vec![5; 32], vec![0, 5], vec![65535, 100], 9)
        );
        let fixed = plan(&r, [5; 32], &call, PlanOptions { reveal_round: Some(77), seed: None }).expect("plan");
        assert_eq!(fixed.commit.expect("commit").reveal_round, 77);
    }
}
