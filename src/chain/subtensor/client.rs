//! The online client: [`SubtensorChain`], a [`Chain`] over a subtensor node's reconnecting
//! websocket (reads at the latest finalized block, retried when the connection drops;
//! transactions signed, submitted and watched to finalization).

use crate::protocol::Block;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use subxt::config::SubstrateConfig;
use subxt::dynamic::Value;
use subxt::error::{DispatchError, TransactionEventsError, TransactionFinalizedSuccessError};
use subxt::rpcs::client::RpcClient;
use subxt::rpcs::client::reconnecting_rpc_client::{ExponentialBackoff, RpcClient as ReconnectingClient};
use subxt::utils::AccountId32;
use subxt::{ArcMetadata, Metadata, OnlineClient};

use crate::chain::commit_reveal::{Beacon, DEFAULT_COMMIT_REVEAL_VERSION};
use crate::chain::network::Network;
use crate::chain::schedule;
use crate::chain::{
    Chain, ChainError, Hotkey, Metagraph, MinerCommitment, NetUid, Neuron, PendingCommit, TimelockedCommit, Uid,
    WeightRules, WeightsCall,
};

use super::calls::{commit_timelocked_weights_call_data, set_commitment_call_data, set_weights_call_data};
use super::decode::{
    classify_module_error, credentials_of, decode_beacon_config, decode_registration_fields, records_reveal,
    storage_index,
};
use super::extensions;
use super::required::{missing_optional, missing_required};

type Client = OnlineClient<SubstrateConfig>;
pub(super) type AtBlock = subxt::client::OnlineClientAtBlock<SubstrateConfig>;

/// A subtensor node over a reconnecting websocket.
pub struct SubtensorChain {
    client: Client,
    name: String,
    endpoint: String,
    timeout: Duration,
}

/// Seconds for error messages (never 0 for sub-second test timeouts).
fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

fn unreachable(endpoint: &str, reason: impl std::fmt::Display) -> ChainError {
    ChainError::Unreachable { endpoint: endpoint.to_string(), reason: reason.to_string() }
}

pub(super) fn account_of(hotkey: &str) -> Result<AccountId32, ChainError> {
    AccountId32::from_str(hotkey).map_err(|e| ChainError::Invalid(format!("{hotkey:?} is not an SS58 address: {e}")))
}

impl SubtensorChain {
    /// Connects to `endpoint` (`ws://` or `wss://`). Fails with [`ChainError::Unreachable`]
    /// when no connection is up within `timeout`; `timeout` also bounds every later call.
    pub async fn connect(endpoint: &str, timeout: Duration) -> Result<SubtensorChain, ChainError> {
        Self::connect_named(endpoint, endpoint, timeout).await
    }

    /// Connects to a resolved `BT_NETWORK` (not the embedded chain).
    pub async fn connect_network(network: &Network, timeout: Duration) -> Result<SubtensorChain, ChainError> {
        let endpoint = network.endpoint().ok_or_else(|| {
            ChainError::Invalid("BT_NETWORK=embedded is the local chain simulation, not a subtensor node".into())
        })?;
        Self::connect_named(&network.to_string(), endpoint, timeout).await
    }

    async fn connect_named(name: &str, endpoint: &str, timeout: Duration) -> Result<SubtensorChain, ChainError> {
        let connecting = async {
            let rpc = ReconnectingClient::builder()
                .retry_policy(ExponentialBackoff::from_millis(2).factor(250).max_delay(Duration::from_secs(30)))
                .connection_timeout(timeout)
                .request_timeout(timeout)
                .build(endpoint)
                .await
                .map_err(|e| unreachable(endpoint, e))?;
            Client::from_rpc_client(RpcClient::new(rpc)).await.map_err(|e| unreachable(endpoint, e))
        };
        let client = match tokio::time::timeout(timeout, connecting).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(unreachable(endpoint, format!("no working connection within {} s", secs(timeout))));
            }
        };
        let chain = SubtensorChain { client, name: name.to_string(), endpoint: endpoint.to_string(), timeout };
        chain.check_metadata().await;
        Ok(chain)
    }

    /// Names, once at start, the calls and storage items nexis uses that the node's runtime
    /// lacks (an error for required ones: the first use will fail; a note for optional ones).
    async fn check_metadata(&self) {
        let Ok(metadata) = self.metadata().await else { return };
        let missing = missing_required(&metadata);
        if !missing.is_empty() {
            tracing::error!(
                endpoint = %self.endpoint,
                missing = ?missing,
                "the node's runtime lacks calls or storage items nexis uses; those operations will fail"
            );
        }
        let optional = missing_optional(&metadata);
        if !optional.is_empty() {
            tracing::info!(missing = ?optional, "older runtime: these storage items are absent and their defaults are used");
        }
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long a submitted transaction may take to be finalized: at least 90 s (a few
    /// 12-second blocks plus finality lag), or three call timeouts.
    pub(crate) fn tx_timeout(&self) -> Duration {
        (self.timeout * 3).max(Duration::from_secs(90))
    }

    /// The runtime metadata the node currently uses (for `--dry-run` encoding).
    pub async fn metadata(&self) -> Result<ArcMetadata, ChainError> {
        self.read("metadata", || async { Ok(self.at_latest().await?.metadata()) }).await
    }

    /// The timestamp (`Timestamp.Now`) of block `block`.
    async fn timestamp_at(&self, block: u64) -> Result<Option<DateTime<Utc>>, ChainError> {
        self.read("Timestamp.Now", || async {
            let at = self.client.at_block(block).await.map_err(|e| self.fail(e))?;
            let addr = subxt::dynamic::storage::<(), u64>("Timestamp", "Now");
            let millis = at
                .storage()
                .try_fetch(addr, ())
                .await
                .map_err(|e| self.fail(e))?
                .map(|v| v.decode())
                .transpose()
                .map_err(|e| ChainError::Decode(format!("Timestamp.Now: {e}")))?;
            Ok(millis.and_then(|ms| i64::try_from(ms).ok()).and_then(DateTime::<Utc>::from_timestamp_millis))
        })
        .await
    }

    /// Maps a subxt error from a read to [`ChainError`].
    pub(super) fn fail(&self, error: impl Into<subxt::Error>) -> ChainError {
        let error: subxt::Error = error.into();
        let text = error.to_string();
        if error.is_disconnected_will_reconnect() || text.contains("RPC error") || text.contains("Backend error") {
            unreachable(&self.endpoint, text)
        } else {
            ChainError::Decode(text)
        }
    }

    async fn at_latest(&self) -> Result<AtBlock, ChainError> {
        self.client.at_current_block().await.map_err(|e| self.fail(e))
    }

    /// Runs a read under the timeout, retrying while the connection is being re-established.
    async fn read<R, F, Fut>(&self, what: &str, mut op: F) -> Result<R, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R, ChainError>>,
    {
        let attempts = async {
            let mut delay = Duration::from_millis(250);
            loop {
                match op().await {
                    Err(ChainError::Unreachable { reason, .. }) if delay <= Duration::from_secs(4) => {
                        tracing::debug!(what, %reason, "chain read failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                    other => return other,
                }
            }
        };
        tokio::time::timeout(self.timeout, attempts)
            .await
            .map_err(|_| ChainError::Timeout { what: what.to_string(), secs: secs(self.timeout) })?
    }

    /// Signs `call_data` with `signer`, submits it and waits for finalization.
    async fn submit(
        &self,
        what: &str,
        signer: &Hotkey,
        netuid: NetUid,
        encode: impl FnOnce(&Metadata) -> Result<Vec<u8>, ChainError>,
    ) -> Result<(), ChainError> {
        let hotkey = signer.ss58();
        let submitting = async {
            let at = self.at_latest().await?;
            let call_data = encode(at.metadata_ref())?;
            extensions::check_extensions(at.metadata_ref())?;
            let mut txs = at.tx();
            let payload = txs
                .from_call_data_bytes(&call_data)
                .map_err(|e| ChainError::Invalid(format!("{what}: call data does not decode: {e}")))?;
            let progress = txs
                .sign_and_submit_then_watch_default(&payload, signer.keypair())
                .await
                .map_err(|e| self.tx_fail(e.into(), &hotkey, netuid))?;
            progress.wait_for_finalized_success().await.map_err(|e| self.finalize_fail(e, &hotkey, netuid))?;
            tracing::info!(what, hotkey = %hotkey, netuid, "transaction finalized");
            Ok(())
        };
        tokio::time::timeout(self.tx_timeout(), submitting)
            .await
            .map_err(|_| ChainError::Timeout { what: what.to_string(), secs: secs(self.tx_timeout()) })?
    }

    fn finalize_fail(&self, error: TransactionFinalizedSuccessError, hotkey: &str, netuid: NetUid) -> ChainError {
        match error {
            TransactionFinalizedSuccessError::SuccessError(TransactionEventsError::ExtrinsicFailed(dispatch)) => {
                dispatch_error(&dispatch, hotkey, netuid)
            }
            other => self.tx_fail(other.into(), hotkey, netuid),
        }
    }

    /// Maps an error from submitting or watching a transaction. Pool-level rejections (the
    /// transaction extensions' validity checks) come back as text only.
    fn tx_fail(&self, error: subxt::Error, hotkey: &str, netuid: NetUid) -> ChainError {
        let text = error.to_string();
        if error.is_disconnected_will_reconnect() {
            return unreachable(&self.endpoint, text);
        }
        let lower = text.to_ascii_lowercase();
        if lower.contains("invalid") || lower.contains("dropped") || lower.contains("usurped") {
            if lower.contains("ratelimit") || lower.contains("rate limit") {
                ChainError::RateLimited(text)
            } else if lower.contains("notregistered") || lower.contains("not registered") {
                ChainError::NotRegistered { hotkey: hotkey.to_string(), netuid }
            } else {
                ChainError::Rejected { module_error: text }
            }
        } else if text.contains("RPC error") || text.contains("Backend error") {
            unreachable(&self.endpoint, text)
        } else {
            ChainError::Rejected { module_error: text }
        }
    }
}

/// `SubtensorModule.CommitRevealWeightsVersion` at `at` (unset or unreadable: the default).
async fn commit_reveal_version(at: &AtBlock) -> u16 {
    match at
        .storage()
        .try_fetch(subxt::dynamic::storage::<(), u16>("SubtensorModule", "CommitRevealWeightsVersion"), ())
        .await
    {
        Ok(Some(v)) => v.decode().unwrap_or(DEFAULT_COMMIT_REVEAL_VERSION),
        _ => DEFAULT_COMMIT_REVEAL_VERSION,
    }
}

/// The drand beacon `Drand.BeaconConfig` names at `at` (unset or unreadable: quicknet).
async fn beacon_config(at: &AtBlock) -> Beacon {
    match at.storage().try_fetch(subxt::dynamic::storage::<(), Value>("Drand", "BeaconConfig"), ()).await {
        Ok(Some(v)) => decode_beacon_config(&at.metadata(), v.bytes()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "Drand.BeaconConfig is unreadable; using drand quicknet");
            Beacon::quicknet()
        }),
        _ => Beacon::quicknet(),
    }
}

fn dispatch_error(error: &DispatchError, hotkey: &str, netuid: NetUid) -> ChainError {
    match error {
        DispatchError::Module(module) => match module.details() {
            Ok(details) => classify_module_error(details.pallet.name(), &details.variant.name, hotkey, netuid),
            Err(_) => ChainError::Rejected { module_error: module.details_string() },
        },
        other => ChainError::Rejected { module_error: other.to_string() },
    }
}

#[async_trait]
impl Chain for SubtensorChain {
    fn describe(&self) -> String {
        if self.name == self.endpoint { self.endpoint.clone() } else { format!("{} ({})", self.name, self.endpoint) }
    }

    async fn current_block(&self) -> Result<u64, ChainError> {
        self.read("current block", || async { Ok(self.at_latest().await?.block_number()) }).await
    }

    async fn block_timestamp(&self, block: u64) -> Result<Option<DateTime<Utc>>, ChainError> {
        self.timestamp_at(block).await
    }

    async fn block_hash(&self, block: u64) -> Result<Option<String>, ChainError> {
        // `at_block` with a number asks the node's `chain_getBlockHash`.
        self.read("chain_getBlockHash", || async {
            match self.client.at_block(block).await {
                Ok(at) => Ok(Some(hex::encode(at.block_hash().as_ref()))),
                Err(subxt::error::OnlineClientAtBlockError::BlockNotFound { .. }) => Ok(None),
                Err(e) => Err(self.fail(e)),
            }
        })
        .await
    }

    async fn metagraph(&self, netuid: NetUid) -> Result<Metagraph, ChainError> {
        self.read("metagraph", || async {
            let at = self.at_latest().await?;
            let storage = at.storage();
            let added = storage
                .try_fetch(subxt::dynamic::storage::<(NetUid,), bool>("SubtensorModule", "NetworksAdded"), (netuid,))
                .await
                .map_err(|e| self.fail(e))?
                .map(|v| v.decode())
                .transpose()
                .map_err(|e| ChainError::Decode(format!("SubtensorModule.NetworksAdded: {e}")))?;
            if added != Some(true) {
                return Err(ChainError::NoSuchSubnet(netuid));
            }
            let permits: Vec<bool> = storage
                .try_fetch(
                    subxt::dynamic::storage::<(NetUid,), Vec<bool>>("SubtensorModule", "ValidatorPermit"),
                    (netuid,),
                )
                .await
                .map_err(|e| self.fail(e))?
                .and_then(|v| v.decode().ok())
                .unwrap_or_default();
            let keys = subxt::dynamic::storage::<(NetUid, Uid), [u8; 32]>("SubtensorModule", "Keys");
            let mut entries = storage.iter(keys, (netuid,)).await.map_err(|e| self.fail(e))?;
            let mut neurons: Vec<Neuron> = Vec::new();
            while let Some(entry) = entries.next().await {
                let entry = entry.map_err(|e| self.fail(e))?;
                let uid = entry
                    .key()
                    .ok()
                    .and_then(|k| k.part(1))
                    .and_then(|p| p.decode_as::<Uid>().ok().flatten())
                    .ok_or_else(|| ChainError::Decode("SubtensorModule.Keys key without a uid".into()))?;
                let account = entry
                    .value()
                    .decode()
                    .map_err(|e| ChainError::Decode(format!("SubtensorModule.Keys value: {e}")))?;
                neurons.push(Neuron {
                    uid,
                    hotkey: AccountId32::from(account).to_string(),
                    stake: None,
                    validator_permit: permits.get(usize::from(uid)).copied(),
                });
            }
            neurons.sort_by_key(|n| n.uid);
            let accounts: Vec<AccountId32> = neurons.iter().map(|n| account_of(&n.hotkey)).collect::<Result<_, _>>()?;
            let stakes = self.stakes(&at, netuid, accounts).await?;
            for (neuron, stake) in neurons.iter_mut().zip(stakes) {
                neuron.stake = Some(stake);
            }
            Ok(Metagraph { netuid, block: at.block_number(), neurons })
        })
        .await
    }

    async fn commitments(&self, netuid: NetUid) -> Result<Vec<MinerCommitment>, ChainError> {
        self.read("commitments", || async {
            let at = self.at_latest().await?;
            let metadata = at.metadata();
            let addr = subxt::dynamic::storage::<(NetUid, [u8; 32]), Value>("Commitments", "CommitmentOf");
            let mut entries = at.storage().iter(addr, (netuid,)).await.map_err(|e| self.fail(e))?;
            let mut out = Vec::new();
            while let Some(entry) = entries.next().await {
                let entry = entry.map_err(|e| self.fail(e))?;
                let Some(account) =
                    entry.key().ok().and_then(|k| k.part(1)).and_then(|p| p.decode_as::<[u8; 32]>().ok().flatten())
                else {
                    tracing::debug!(netuid, "commitment with an undecodable account key skipped");
                    continue;
                };
                let hotkey = AccountId32::from(account).to_string();
                match decode_registration_fields(&metadata, entry.value().bytes()) {
                    Ok(fields) => match credentials_of(&fields) {
                        Some(credentials) => out.push(MinerCommitment { hotkey, block: fields.block, credentials }),
                        None => tracing::debug!(%hotkey, netuid, "commitment holds no read credentials; skipped"),
                    },
                    Err(e) => tracing::debug!(%hotkey, netuid, error = %e, "undecodable commitment skipped"),
                }
            }
            out.sort_by(|a, b| a.hotkey.cmp(&b.hotkey));
            Ok(out)
        })
        .await
    }

    async fn commit(&self, signer: &Hotkey, netuid: NetUid, payload: &str) -> Result<(), ChainError> {
        self.submit("Commitments.set_commitment", signer, netuid, |m| set_commitment_call_data(m, netuid, payload))
            .await
    }

    async fn commit_reveal_enabled(&self, netuid: NetUid) -> Result<bool, ChainError> {
        self.read("SubtensorModule.CommitRevealWeightsEnabled", || async {
            let at = self.at_latest().await?;
            let addr = subxt::dynamic::storage::<(NetUid,), bool>("SubtensorModule", "CommitRevealWeightsEnabled");
            let value = at.storage().try_fetch(addr, (netuid,)).await.map_err(|e| self.fail(e))?;
            match value {
                Some(v) => v.decode().map_err(|e| ChainError::Decode(format!("CommitRevealWeightsEnabled: {e}"))),
                None => Ok(false),
            }
        })
        .await
    }

    async fn set_weights(&self, signer: &Hotkey, call: &WeightsCall) -> Result<(), ChainError> {
        if self.commit_reveal_enabled(call.netuid).await? {
            return Err(ChainError::CommitRevealEnabled { netuid: call.netuid });
        }
        self.submit("SubtensorModule.set_weights", signer, call.netuid, |m| set_weights_call_data(m, call)).await
    }

    async fn mechanism_weight_rules(&self, netuid: NetUid, mecid: u8, hotkey: &str) -> Result<WeightRules, ChainError> {
        let account = account_of(hotkey)?;
        let index = storage_index(netuid, mecid)?;
        self.read("weight rules", || async {
            let at = self.at_latest().await?;
            let block = at.block_number();
            let metadata = at.metadata();
            let storage = at.storage();
            macro_rules! value {
                ($entry:literal, $keys:ty, $value:ty, $key:expr) => {
                    storage
                        .fetch(subxt::dynamic::storage::<$keys, $value>("SubtensorModule", $entry), $key)
                        .await
                        .map_err(|e| self.fail(e))?
                        .decode()
                        .map_err(|e| ChainError::Decode(format!("SubtensorModule.{}: {e}", $entry)))?
                };
            }
            let commit_reveal: bool = value!("CommitRevealWeightsEnabled", (NetUid,), bool, (netuid,));
            let rate_limit: u64 = value!("WeightsSetRateLimit", (NetUid,), u64, (netuid,));
            let version_key: u64 = value!("WeightsVersionKey", (NetUid,), u64, (netuid,));
            let tempo: u16 = value!("Tempo", (NetUid,), u16, (netuid,));
            let reveal_period_epochs: u64 = value!("RevealPeriodEpochs", (NetUid,), u64, (netuid,));
            // Keyed by the mechanism's storage index `mecid * 4096 + netuid`.
            let last_updates: Vec<u64> = value!("LastUpdate", (u16,), Vec<u64>, (index,));
            let permits: Vec<bool> = value!("ValidatorPermit", (NetUid,), Vec<bool>, (netuid,));
            let min_allowed_weights: u16 = value!("MinAllowedWeights", (NetUid,), u16, (netuid,));
            let max_weight_limit: u16 = value!("MaxWeightsLimit", (NetUid,), u16, (netuid,));
            let subnet_n: u16 = value!("SubnetworkN", (NetUid,), u16, (netuid,));
            let epoch_schedule =
                schedule::read::read_schedule(&at, netuid, tempo, reveal_period_epochs, |e| self.fail(e)).await?;
            let block_time_ms =
                schedule::read::block_time_ms(&metadata).unwrap_or(schedule::read::DEFAULT_BLOCK_TIME_MS);
            let commit_reveal_version = commit_reveal_version(&at).await;
            let uid = storage
                .try_fetch(
                    subxt::dynamic::storage::<(NetUid, [u8; 32]), Uid>("SubtensorModule", "Uids"),
                    (netuid, account.0),
                )
                .await
                .map_err(|e| self.fail(e))?
                .map(|v| v.decode())
                .transpose()
                .map_err(|e| ChainError::Decode(format!("SubtensorModule.Uids: {e}")))?;
            let beacon = beacon_config(&at).await;
            let slot = |u: Uid| usize::from(u);
            let limits = self.read_limits(&at, netuid, mecid, account.0, &permits).await?;
            Ok(WeightRules {
                block,
                now_ms: Utc::now().timestamp_millis().max(0) as u64,
                block_time_ms,
                commit_reveal,
                commit_reveal_version,
                rate_limit,
                version_key,
                tempo,
                reveal_period_epochs,
                uid,
                last_update: uid.and_then(|u| last_updates.get(slot(u)).copied()),
                validator_permit: uid.and_then(|u| permits.get(slot(u)).copied()),
                beacon,
                epoch_schedule,
                min_allowed_weights,
                max_weight_limit,
                subnet_n,
                limits,
            })
        })
        .await
    }

    async fn commit_weights(&self, signer: &Hotkey, commit: &TimelockedCommit) -> Result<(), ChainError> {
        self.submit("SubtensorModule.commit_timelocked_mechanism_weights", signer, commit.netuid, |m| {
            commit_timelocked_weights_call_data(m, commit)
        })
        .await
    }

    async fn pending_commits(&self, netuid: NetUid, hotkey: &str) -> Result<Vec<PendingCommit>, ChainError> {
        let account = account_of(hotkey)?;
        self.read("SubtensorModule.TimelockedWeightCommits", || async {
            let at = self.at_latest().await?;
            type Entry = Vec<([u8; 32], u64, Vec<u8>, u64)>;
            let addr = subxt::dynamic::storage::<(NetUid, u64), Entry>("SubtensorModule", "TimelockedWeightCommits");
            let mut entries = at.storage().iter(addr, (netuid,)).await.map_err(|e| self.fail(e))?;
            let mut out = Vec::new();
            while let Some(entry) = entries.next().await {
                let entry = entry.map_err(|e| self.fail(e))?;
                let commits: Entry = entry
                    .value()
                    .decode()
                    .map_err(|e| ChainError::Decode(format!("SubtensorModule.TimelockedWeightCommits: {e}")))?;
                out.extend(commits.into_iter().filter(|c| c.0 == account.0).map(
                    |(_, commit_block, bytes, reveal_round)| PendingCommit {
                        commit_block,
                        reveal_round,
                        commit_len: bytes.len(),
                    },
                ));
            }
            out.sort_by_key(|c| c.commit_block);
            Ok(out)
        })
        .await
    }

    async fn weight_reveals(
        &self,
        netuid: NetUid,
        mecid: u8,
        hotkey: &str,
        blocks: RangeInclusive<Block>,
    ) -> Result<Vec<u64>, ChainError> {
        let (from, to) = (blocks.start().get(), blocks.end().get());
        let account = account_of(hotkey)?;
        let index = storage_index(netuid, mecid)?;
        let mut found_at = Vec::new();
        // One `System.Events` read per block, each under the chain timeout.
        for block in from..=to {
            let found = self
                .read("System.Events", || async {
                    let at = self.client.at_block(block).await.map_err(|e| self.fail(e))?;
                    let events = at.events().fetch().await.map_err(|e| self.fail(e))?;
                    records_reveal(&events, index, &account.0)
                })
                .await?;
            if found {
                found_at.push(block);
            }
        }
        Ok(found_at)
    }

    async fn weights_of(&self, netuid: NetUid, hotkey: &str) -> Result<Vec<(Uid, u16)>, ChainError> {
        let account = account_of(hotkey)?;
        self.read("SubtensorModule.Weights", || async {
            let at = self.at_latest().await?;
            let storage = at.storage();
            let uids = subxt::dynamic::storage::<(NetUid, [u8; 32]), Uid>("SubtensorModule", "Uids");
            let uid = storage
                .try_fetch(uids, (netuid, account.0))
                .await
                .map_err(|e| self.fail(e))?
                .map(|v| v.decode())
                .transpose()
                .map_err(|e| ChainError::Decode(format!("SubtensorModule.Uids: {e}")))?
                .ok_or_else(|| ChainError::NotRegistered { hotkey: hotkey.to_string(), netuid })?;
            let weights = subxt::dynamic::storage::<(NetUid, Uid), Vec<(Uid, u16)>>("SubtensorModule", "Weights");
            match storage.try_fetch(weights, (netuid, uid)).await.map_err(|e| self.fail(e))? {
                Some(v) => v.decode().map_err(|e| ChainError::Decode(format!("SubtensorModule.Weights: {e}"))),
                None => Ok(Vec::new()),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs_never_reports_zero() {
        assert_eq!(secs(Duration::from_millis(200)), 1);
        assert_eq!(secs(Duration::from_secs(30)), 30);
    }
}
