//! Which weights a validator sets: the version key policy and the mechanism.

use clap::Args;
use nexis::chain::weight_rules::VersionKeyPolicy;

/// The weights version key policy.
#[derive(Debug, Clone, Args)]
pub(crate) struct VersionKeyArg {
    /// Weights version key: unset sends this release's own key and stops committing when the
    /// subnet requires a newer one; a number sends that key; `chain` follows the subnet's
    /// `WeightsVersionKey` (at the risk of weighting by an outdated protocol).
    #[arg(
        long = "weights-version-key",
        visible_alias = "version-key",
        env = "NEXIS_WEIGHTS_VERSION_KEY",
        default_value = ""
    )]
    pub(crate) version_key: VersionKeyPolicy,
}

/// The mechanism weights are set for.
#[derive(Debug, Clone, Args)]
pub(crate) struct MechIdArg {
    /// The mechanism weights are set for (0: the subnet's main mechanism); must be below the
    /// subnet's `MechanismCountCurrent`.
    #[arg(long = "mechid", env = "NEXIS_WEIGHTS_MECHID", default_value_t = 0)]
    pub(crate) mechid: u8,
}
