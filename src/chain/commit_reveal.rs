//! Timelocked commit-reveal v4 (`shared/commit-reveal.md`): the SCALE `WeightsTlockPayload`,
//! its Boneh–Franklin IBE + AES-256-GCM encryption to a drand round (crate `timelock =0.0.1`,
//! the chain's own `tle` code), decryption with a round signature, the reveal round the SDK
//! picks, and a beacon key pair for the embedded chain's own drand stand-in.

use ark_ec::Group;
use ark_ff::PrimeField;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};
use subxt::ext::codec::{Decode, Encode};
use timelock::curves::drand::TinyBLS381;
use timelock::ibe::fullident::Identity;
use timelock::stream_ciphers::AESGCMStreamCipherProvider;
use timelock::tlock::{EngineBLS, TLECiphertext, tld, tle};

use super::Uid;
use super::schedule::{self, ScheduleError};

/// Largest commit the chain stores (`BoundedVec<u8, 5000>`); longer input is refused unread.
pub(crate) const MAX_COMMIT_BYTES: usize = 5000;
/// Bytes the ciphertext adds to the payload.
pub const CIPHERTEXT_OVERHEAD: usize = 244;
/// `CommitRevealWeightsVersion` when the chain does not say (the runtime's default).
pub const DEFAULT_COMMIT_REVEAL_VERSION: u16 = 4;

/// Commit-reveal failures.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommitRevealError {
    /// The beacon public key is not a compressed BLS12-381 G2 point.
    #[error("the beacon public key is not a compressed BLS12-381 G2 point (96 bytes)")]
    BadPublicKey,
    /// The round signature is not a compressed BLS12-381 G1 point.
    #[error("the round signature is not a compressed BLS12-381 G1 point (48 bytes)")]
    BadSignature,
    /// The commit exceeds the chain's size cap (its size in bytes).
    #[error("the commit is {0} bytes; the chain stores at most {MAX_COMMIT_BYTES}")]
    TooLarge(usize),
    /// The bytes are not a timelock ciphertext.
    #[error("the commit is not a timelock ciphertext")]
    NotACiphertext,
    /// The signature is not the one of the round the commit is locked to.
    #[error("the commit does not decrypt with this round's signature")]
    WrongRound,
    /// The plaintext is not a SCALE `WeightsTlockPayload`.
    #[error("the decrypted commit is not a WeightsTlockPayload: {0}")]
    BadPayload(String),
    /// Timelock encryption itself failed.
    #[error("timelock encryption failed")]
    Encrypt,
}

/// The plaintext of a timelocked weights commit (`WeightsTlockPayload`, SCALE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsPayload {
    /// The signer's 32-byte public key (the chain checks it equals the committer).
    pub hotkey: Vec<u8>,
    /// Neuron uids, parallel to `values`.
    pub uids: Vec<Uid>,
    /// u16-normalised weights, parallel to `uids`.
    pub values: Vec<u16>,
    /// Weights version key the commit was made with.
    pub version_key: u64,
}

impl WeightsPayload {
    /// SCALE bytes: `hotkey Vec<u8> | uids Vec<u16> | values Vec<u16> | version_key u64`.
    pub fn encode(&self) -> Vec<u8> {
        (&self.hotkey, &self.uids, &self.values, self.version_key).encode()
    }

    /// Decodes SCALE bytes; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, CommitRevealError> {
        let cursor = &mut &bytes[..];
        let (hotkey, uids, values, version_key) = <(Vec<u8>, Vec<Uid>, Vec<u16>, u64)>::decode(cursor)
            .map_err(|e| CommitRevealError::BadPayload(e.to_string()))?;
        if !cursor.is_empty() {
            return Err(CommitRevealError::BadPayload(format!("{} trailing bytes", cursor.len())));
        }
        Ok(Self { hotkey, uids, values, version_key })
    }
}

/// A drand beacon as the chain knows it (`Drand.BeaconConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beacon {
    /// Compressed G2 public key (96 bytes).
    pub public_key: Vec<u8>,
    /// Unix time of round 0, milliseconds.
    pub genesis_ms: u64,
    /// Milliseconds between rounds.
    pub period_ms: u64,
}

/// Drand quicknet's public key (what finney's Drand pallet follows).
pub(crate) const QUICKNET_PUBLIC_KEY_HEX: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
/// Drand quicknet's genesis, Unix seconds.
pub(crate) const QUICKNET_GENESIS: u64 = 1_692_803_367;
/// Drand quicknet's period, seconds.
pub(crate) const QUICKNET_PERIOD: u64 = 3;

impl Beacon {
    /// Drand quicknet, the fallback when the chain publishes no beacon configuration.
    pub fn quicknet() -> Self {
        Self {
            public_key: hex::decode(QUICKNET_PUBLIC_KEY_HEX).unwrap_or_default(),
            genesis_ms: QUICKNET_GENESIS * 1000,
            period_ms: QUICKNET_PERIOD * 1000,
        }
    }

    /// Unix time (ms) at which `round` is published.
    pub fn round_time_ms(&self, round: u64) -> u64 {
        self.genesis_ms.saturating_add(round.saturating_mul(self.period_ms))
    }
}

/// The identity a round's signature unlocks: sha256 of the round as u64 big-endian.
fn round_identity(round: u64) -> Identity {
    Identity::new(b"", vec![Sha256::digest(round.to_be_bytes()).to_vec()])
}

type PublicKey = <TinyBLS381 as EngineBLS>::PublicKeyGroup;
type Signature = <TinyBLS381 as EngineBLS>::SignatureGroup;

fn public_key(bytes: &[u8]) -> Result<PublicKey, CommitRevealError> {
    PublicKey::deserialize_compressed(bytes).map_err(|_| CommitRevealError::BadPublicKey)
}

/// Encrypts `plaintext` so that the signature of `round` by `beacon_public_key` decrypts it.
/// Returns the commit bytes the chain stores (`TLECiphertext` compressed, length = plaintext + 244).
pub fn encrypt(beacon_public_key: &[u8], round: u64, plaintext: &[u8]) -> Result<Vec<u8>, CommitRevealError> {
    encrypt_seeded(beacon_public_key, round, plaintext, rand::random())
}

/// [`encrypt`] with the randomness fixed by `seed` (tests and reproducible vectors).
pub(crate) fn encrypt_seeded(
    beacon_public_key: &[u8],
    round: u64,
    plaintext: &[u8],
    seed: [u8; 32],
) -> Result<Vec<u8>, CommitRevealError> {
    let pk = public_key(beacon_public_key)?;
    let mut rng = ChaCha20Rng::from_seed(seed);
    let mut key = [0u8; 32];
    rand_chacha::rand_core::RngCore::fill_bytes(&mut rng, &mut key);
    let ct = tle::<TinyBLS381, AESGCMStreamCipherProvider, ChaCha20Rng>(pk, key, plaintext, round_identity(round), rng)
        .map_err(|_| CommitRevealError::Encrypt)?;
    let mut out = Vec::with_capacity(plaintext.len() + CIPHERTEXT_OVERHEAD);
    ct.serialize_compressed(&mut out).map_err(|_| CommitRevealError::Encrypt)?;
    Ok(out)
}

/// Decrypts commit bytes with a round signature (compressed G1, 48 bytes).
pub fn decrypt(commit: &[u8], signature: &[u8]) -> Result<Vec<u8>, CommitRevealError> {
    if commit.len() > MAX_COMMIT_BYTES {
        return Err(CommitRevealError::TooLarge(commit.len()));
    }
    let sig = Signature::deserialize_compressed(signature).map_err(|_| CommitRevealError::BadSignature)?;
    let cursor = &mut &commit[..];
    let ct = TLECiphertext::<TinyBLS381>::deserialize_compressed(&mut *cursor)
        .map_err(|_| CommitRevealError::NotACiphertext)?;
    if !cursor.is_empty() {
        return Err(CommitRevealError::NotACiphertext);
    }
    tld::<TinyBLS381, AESGCMStreamCipherProvider>(ct, sig).map_err(|_| CommitRevealError::WrongRound)
}

/// Decrypts and decodes a weights commit.
pub fn decrypt_payload(commit: &[u8], signature: &[u8]) -> Result<WeightsPayload, CommitRevealError> {
    WeightsPayload::decode(&decrypt(commit, signature)?)
}

/// What the reveal round depends on (bittensor-drand `generate_commit`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RevealInputs {
    /// `Tempo[netuid]`, blocks per epoch.
    pub tempo: u16,
    /// The subnet id.
    pub netuid: u16,
    /// The chain's current block.
    pub current_block: u64,
    /// `RevealPeriodEpochs[netuid]`: epochs between commit and reveal.
    pub reveal_period_epochs: u64,
    /// Milliseconds per block.
    pub block_time_ms: u64,
    /// The wall clock now, Unix milliseconds.
    pub now_ms: u64,
}

/// The first block of the epoch in which a commit made at `inputs.current_block` is revealed
/// under the modulo formula (runtimes without the stateful schedule), plus the SDK's three-block
/// margin; chain values that would overflow are an error (see [`super::schedule`]).
pub fn reveal_block(inputs: &RevealInputs) -> Result<u64, ScheduleError> {
    let first = schedule::modulo_first_reveal_block(
        inputs.netuid,
        inputs.tempo,
        inputs.reveal_period_epochs,
        inputs.current_block,
    )?;
    first.checked_add(schedule::SECURITY_BLOCKS).ok_or(ScheduleError::Overflow("the reveal block"))
}

/// The drand round the SDK encrypts for under the modulo formula: the beacon round published
/// when the reveal block is expected, `max(1, floor((now + (target - block) * block_time -
/// genesis) / period))`.
pub fn reveal_round(inputs: &RevealInputs, beacon: &Beacon) -> Result<u64, ScheduleError> {
    schedule::modulo_reveal_target(
        inputs.netuid,
        inputs.tempo,
        inputs.reveal_period_epochs,
        inputs.current_block,
        inputs.block_time_ms,
        inputs.now_ms,
        beacon,
    )
    .map(|t| t.reveal_round)
}

/// A beacon secret key: the embedded chain's stand-in for drand, signing rounds the same way.
#[derive(Clone)]
pub(crate) struct BeaconSecret {
    scalar: <TinyBLS381 as EngineBLS>::Scalar,
}

impl std::fmt::Debug for BeaconSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeaconSecret(<redacted>)")
    }
}

impl BeaconSecret {
    /// A fresh random key.
    pub(crate) fn generate() -> Self {
        Self::from_bytes(&rand::random::<[u8; 32]>())
    }

    /// The key from 32 stored bytes (reduced modulo the group order).
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self { scalar: <TinyBLS381 as EngineBLS>::Scalar::from_le_bytes_mod_order(bytes) }
    }

    /// The 32 bytes to store.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        // A field element always serializes.
        let _ = self.scalar.serialize_compressed(&mut out);
        out
    }

    /// The compressed G2 public key (96 bytes).
    pub(crate) fn public_key(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        let _ = (PublicKey::generator() * self.scalar).serialize_compressed(&mut out);
        out
    }

    /// The compressed G1 signature of `round` (48 bytes), as drand publishes it.
    pub(crate) fn sign_round(&self, round: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        let _ = round_identity(round).extract::<TinyBLS381>(self.scalar).0.serialize_compressed(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reveal_round_vector_from_the_spec() {
        // tempo 360, netuid 1, block 1000, 1 period, 12 s blocks, now 1692806367.5 -> 1336.
        let inputs = RevealInputs {
            tempo: 360,
            netuid: 1,
            current_block: 1000,
            reveal_period_epochs: 1,
            block_time_ms: 12_000,
            now_ms: 1_692_806_367_500,
        };
        assert_eq!(reveal_block(&inputs), Ok(1084));
        assert_eq!(reveal_round(&inputs, &Beacon::quicknet()), Ok(1336));
        // Before genesis the round is clamped to 1.
        assert_eq!(reveal_round(&RevealInputs { now_ms: 0, ..inputs }, &Beacon::quicknet()), Ok(1));
        // A huge reveal period (a reviewer's panic at `reveal_epoch * (tempo + 1)`) is an error.
        let huge = RevealInputs { reveal_period_epochs: u64::MAX / 2, ..inputs };
        assert!(matches!(reveal_block(&huge), Err(ScheduleError::Overflow(_))));
        assert!(matches!(reveal_round(&huge, &Beacon::quicknet()), Err(ScheduleError::Overflow(_))));
    }

    #[test]
    fn an_own_beacon_key_encrypts_and_decrypts_by_round() {
        let secret = BeaconSecret::from_bytes(&[7; 32]);
        let payload = WeightsPayload { hotkey: vec![1; 32], uids: vec![1, 2], values: vec![65535, 1], version_key: 3 };
        let commit = encrypt(&secret.public_key(), 42, &payload.encode()).expect("encrypt");
        assert_eq!(commit.len(), payload.encode().len() + CIPHERTEXT_OVERHEAD);
        assert_eq!(decrypt_payload(&commit, &secret.sign_round(42)), Ok(payload));
        assert_eq!(decrypt(&commit, &secret.sign_round(43)), Err(CommitRevealError::WrongRound));
        let restored = BeaconSecret::from_bytes(&secret.to_bytes().try_into().expect("32 bytes"));
        assert_eq!(restored.public_key(), secret.public_key());
        assert!(!format!("{secret:?}").contains('7'));
    }

    #[test]
    fn hostile_commits_fail_cleanly() {
        let secret = BeaconSecret::from_bytes(&[9; 32]);
        let sig = secret.sign_round(1);
        assert_eq!(decrypt(&[0u8; 5001], &sig), Err(CommitRevealError::TooLarge(5001)));
        assert_eq!(decrypt(&[0xff; 300], &sig), Err(CommitRevealError::NotACiphertext));
        assert_eq!(decrypt(&[], &sig), Err(CommitRevealError::NotACiphertext));
        assert_eq!(decrypt(&[], &[1, 2, 3]), Err(CommitRevealError::BadSignature));
        assert!(matches!(WeightsPayload::decode(&[0x80]), Err(CommitRevealError::BadPayload(_))));
    }
}
