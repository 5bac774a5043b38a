//! Getting weights onto the chain the way the chain wants them: every rule subtensor applies
//! at commit and at reveal time checked before sending ([`checks`], with the stake weight of
//! [`stake`]), the version-key policy, and the choice between plain `set_weights` and a
//! timelocked commit (commit-reveal v4). The validator and `nexis chain set-weights` both go
//! through [`check`], [`plan`] and [`submit`].

pub mod checks;
pub mod stake;

use chrono::{DateTime, Utc};

pub use checks::{
    EpochConsensus, Rule, RuleCheck, SubnetLimits, VersionKeyPolicy, WeightRuleError, evaluate, first_failure,
    mechanism_storage_index,
};

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
    /// The weights, with the version key the policy chose.
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

/// Checks every rule the chain would refuse `call` for, or silently drop it at reveal for,
/// before anything is sent. The first failure comes back as a typed error: the
/// registration, rate-limit and permit rules as their own [`ChainError`] variants (the
/// validator schedules its retry by them), every other rule as [`ChainError::Rule`].
pub fn check(
    rules: &WeightRules,
    hotkey: &str,
    call: &WeightsCall,
    policy: VersionKeyPolicy,
) -> Result<(), ChainError> {
    let checks = evaluate(rules, Some(call), policy);
    let Some(failed) = first_failure(&checks) else { return Ok(()) };
    let netuid = call.netuid;
    Err(match failed.rule {
        Rule::NotRegistered => ChainError::NotRegistered { hotkey: hotkey.to_string(), netuid },
        Rule::NeuronNoValidatorPermit => ChainError::NoValidatorPermit { hotkey: hotkey.to_string(), netuid },
        Rule::SettingWeightsTooFast => {
            let last_update = rules.last_update.unwrap_or(0);
            let next_block = rate_limit_allows(rules.last_update, rules.rate_limit, rules.block).err().unwrap_or(0);
            ChainError::WeightsTooFast { limit: rules.rate_limit, last_update, next_block }
        }
        _ => ChainError::Rule(failed),
    })
}

/// Overrides for [`plan`] (the CLI's flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Fix the reveal round instead of computing it.
    pub reveal_round: Option<u64>,
    /// Fixed encryption randomness (reproducible output).
    pub seed: Option<[u8; 32]>,
    /// Which version key to send.
    pub version_key: VersionKeyPolicy,
}

/// Chooses the mode the chain wants and builds what to send: the version key the policy
/// chooses, and in commit-reveal mode the encrypted payload for the reveal round.
pub fn plan(
    rules: &WeightRules,
    signer_public: [u8; 32],
    call: &WeightsCall,
    options: PlanOptions,
) -> Result<WeightsPlan, ChainError> {
    let mut call = call.clone();
    call.version_key = options.version_key.key(rules.version_key);
    if !rules.commit_reveal && rules.limits.mecid != 0 {
        return Err(ChainError::Invalid(format!(
            "plain weights for mechanism {} need set_mechanism_weights, which nexis does not send; use mechanism 0 \
             or a commit-reveal subnet",
            rules.limits.mecid
        )));
    }
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
            mecid: rules.limits.mecid,
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
    use crate::protocol::WEIGHTS_VERSION_KEY;

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
            subnet_n: 8,
            limits: SubnetLimits { permit_holders: 2, ..SubnetLimits::default() },
        }
    }

    fn call(uids: &[u16], weights: &[u16]) -> WeightsCall {
        WeightsCall { netuid: 1, uids: uids.to_vec(), weights: weights.to_vec(), version_key: WEIGHTS_VERSION_KEY }
    }

    fn own() -> VersionKeyPolicy {
        VersionKeyPolicy::default()
    }

    /// The rule `check` reports first for `r` and `c`.
    fn broken(r: &WeightRules, c: &WeightsCall, policy: VersionKeyPolicy) -> Option<Rule> {
        first_failure(&evaluate(r, Some(c), policy)).map(|e| e.rule)
    }

    #[test]
    fn rate_limit_boundary_is_inclusive_as_on_chain() {
        assert_eq!(rate_limit_allows(Some(900), 100, 999), Err(1000));
        assert_eq!(rate_limit_allows(Some(900), 100, 1000), Ok(()));
        assert_eq!(rate_limit_allows(None, 100, 5), Ok(()));
        assert_eq!(rate_limit_allows(Some(900), 0, 900), Ok(()));
        let mut r = rules(true);
        r.block = 999;
        let c = call(&[1, 2], &[65535, 100]);
        assert!(matches!(check(&r, "hk", &c, own()), Err(ChainError::WeightsTooFast { next_block: 1000, .. })));
        r.block = 1000;
        assert!(check(&r, "hk", &c, own()).is_ok());
    }

    #[test]
    fn the_version_key_policy_sends_our_key_and_refuses_an_outdated_release() {
        let mut r = rules(false);
        assert_eq!(own().key(7), WEIGHTS_VERSION_KEY);
        assert_eq!(VersionKeyPolicy::Chain.key(WEIGHTS_VERSION_KEY + 5), WEIGHTS_VERSION_KEY + 5);
        assert_eq!(VersionKeyPolicy::Chain.key(1), WEIGHTS_VERSION_KEY);
        assert_eq!("chain".parse(), Ok(VersionKeyPolicy::Chain));
        assert_eq!("".parse(), Ok(own()));
        assert_eq!("42".parse(), Ok(VersionKeyPolicy::Own(42)));
        assert!("newest".parse::<VersionKeyPolicy>().is_err());
        let c = call(&[1], &[65535]);
        let p = plan(&r, [0; 32], &c, PlanOptions::default()).expect("plan");
        assert_eq!((p.mode, p.call.version_key), (WeightsMode::Plain, WEIGHTS_VERSION_KEY));
        // The subnet moves to a newer protocol: our release stops, by name, with an ALERT fix.
        r.version_key = WEIGHTS_VERSION_KEY + 1;
        let err = check(&r, "hk", &c, own()).expect_err("outdated");
        assert!(matches!(&err, ChainError::Rule(e) if e.rule == Rule::IncorrectWeightVersionKey), "{err}");
        assert!(err.to_string().contains("ALERT") && err.to_string().contains("IncorrectWeightVersionKey"), "{err}");
        // Following the chain is the explicit opt-in.
        assert!(check(&r, "hk", &c, VersionKeyPolicy::Chain).is_ok());
        let options = PlanOptions { version_key: VersionKeyPolicy::Chain, ..PlanOptions::default() };
        assert_eq!(plan(&r, [0; 32], &c, options).expect("plan").call.version_key, WEIGHTS_VERSION_KEY + 1);
        r.version_key = 0;
        assert!(check(&r, "hk", &call(&[1], &[1]), VersionKeyPolicy::Own(0)).is_ok(), "0 means no floor");
    }

    #[test]
    fn permit_and_registration_are_checked_by_name() {
        let mut r = rules(true);
        r.validator_permit = Some(false);
        let c = call(&[1, 2], &[65535, 100]);
        let err = check(&r, "hk", &c, own()).expect_err("no permit");
        assert!(err.to_string().contains("NeuronNoValidatorPermit"), "{err}");
        // A single self-weight, or the subnet owner's hotkey, needs no permit.
        assert_eq!(broken(&r, &call(&[3], &[65535]), own()), None);
        r.limits.owner_uid = Some(3);
        assert_eq!(broken(&r, &c, own()), None);
        r.uid = None;
        assert!(matches!(check(&r, "hk", &c, own()), Err(ChainError::NotRegistered { .. })));
    }

    #[test]
    fn stake_threshold_counts_the_stake_weight_and_exempts_the_owner() {
        let mut r = rules(true);
        r.limits.stake_threshold = 1_000;
        r.limits.stake = Some(999);
        let c = call(&[1, 2], &[65535, 100]);
        let err = check(&r, "hk", &c, own()).expect_err("too little stake");
        assert!(matches!(&err, ChainError::Rule(e) if e.rule == Rule::NotEnoughStakeToSetWeights), "{err}");
        assert!(err.to_string().contains("999") && err.to_string().contains("1000"), "{err}");
        r.limits.stake = Some(1_000);
        assert_eq!(broken(&r, &c, own()), None);
        r.limits.stake = Some(0);
        r.limits.owner_uid = Some(3);
        assert_eq!(broken(&r, &c, own()), None);
    }

    #[test]
    fn null_consensus_counts_only_the_sole_permit_holder() {
        let mut r = rules(true);
        r.limits.consensus = EpochConsensus::Null;
        let c = call(&[1, 2], &[65535, 100]);
        assert_eq!(broken(&r, &c, own()), Some(Rule::SubnetEpochConsensus));
        r.limits.permit_holders = 1;
        assert_eq!(broken(&r, &c, own()), None);
    }

    #[test]
    fn the_mechanism_must_exist_and_keys_last_update() {
        let mut r = rules(true);
        r.limits.mecid = 1;
        let c = call(&[1, 2], &[65535, 100]);
        assert_eq!(broken(&r, &c, own()), Some(Rule::MechanismCountCurrent));
        r.limits.mechanism_count = 2;
        assert_eq!(broken(&r, &c, own()), None);
        assert_eq!(mechanism_storage_index(7, 0), Some(7));
        assert_eq!(mechanism_storage_index(7, 2), Some(2 * 4096 + 7));
        assert_eq!(mechanism_storage_index(u16::MAX, 1), None);
    }

    #[test]
    fn uid_vector_rules_are_the_chains() {
        let r = rules(true);
        assert_eq!(broken(&r, &call(&[1, 1], &[1, 2]), own()), Some(Rule::DuplicateUids));
        assert_eq!(broken(&r, &call(&[1, 8], &[1, 2]), own()), Some(Rule::UidVecContainInvalidOne));
        let nine: Vec<u16> = (0..9).collect();
        assert_eq!(broken(&r, &call(&nine, &[1; 9]), own()), Some(Rule::UidsLengthExceedUidsInSubNet));
        let mut r = rules(true);
        r.min_allowed_weights = 3;
        assert_eq!(broken(&r, &call(&[1, 2], &[1, 2]), own()), Some(Rule::WeightVecLengthIsLow));
        assert_eq!(broken(&r, &call(&[1, 2, 4], &[1, 2, 0]), own()), None, "zeros count, as on chain");
        assert_eq!(broken(&r, &call(&[3], &[9]), own()), None, "a single self-weight is exempt");
        r.min_allowed_weights = 20;
        assert_eq!(broken(&r, &call(&(0..8).collect::<Vec<_>>(), &[1; 8]), own()), None, "capped at SubnetworkN");
    }

    #[test]
    fn max_weight_limit_compares_the_largest_share() {
        let mut r = rules(true);
        r.max_weight_limit = 32768; // about one half
        assert_eq!(broken(&r, &call(&[1, 2], &[65535, 65535]), own()), None, "exactly half each");
        assert_eq!(broken(&r, &call(&[1, 2], &[65535, 65533]), own()), Some(Rule::MaxWeightExceeded));
        assert_eq!(broken(&r, &call(&[3], &[65535]), own()), None, "self-weight exempt");
        assert_eq!(broken(&r, &call(&[1, 2], &[0, 0]), own()), None);
    }

    #[test]
    fn commit_reveal_plan_encrypts_the_payload_for_the_reveal_round() {
        let secret = BeaconSecret::from_bytes(&[3; 32]);
        let mut r = rules(true);
        r.beacon = Beacon { public_key: secret.public_key(), ..Beacon::quicknet() };
        let call = WeightsCall { netuid: 1, uids: vec![0, 5], weights: vec![65535, 100], version_key: 9 };
        let options = PlanOptions { version_key: VersionKeyPolicy::Own(9), ..PlanOptions::default() };
        let p = plan(&r, [5; 32], &call, options).expect("plan");
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
        let fixed = plan(&r, [5; 32], &call, PlanOptions { reveal_round: Some(77), ..options }).expect("plan");
        assert_eq!(fixed.commit.expect("commit").reveal_round, 77);
    }
}
