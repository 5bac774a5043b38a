//! The transaction extensions a runtime asks signers for, checked before signing: an
//! extension subxt's defaults do not know and whose explicit or implicit data is not
//! zero-sized would need data nexis cannot supply, so signing stops with
//! [`ChainError::UnsupportedExtension`] naming it instead of producing a transaction the node
//! rejects (or a signature over a payload that lacks the extension's data).

use scale_info::{PortableRegistry, TypeDef};
use subxt::Metadata;

use crate::chain::ChainError;

/// Extensions subxt's `DefaultTransactionExtensions` fill in (matched by identifier).
const KNOWN: &[&str] = &[
    "VerifyMultiSignature",
    "CheckMetadataHash",
    "CheckSpecVersion",
    "CheckNonce",
    "CheckTxVersion",
    "CheckGenesis",
    "CheckMortality",
    "ChargeAssetTxPayment",
    "ChargeTransactionPayment",
];

/// How deep a type is followed before it counts as carrying data (hostile metadata).
const MAX_DEPTH: usize = 32;

/// Whether a value of type `id` always encodes to zero bytes.
fn zero_sized(types: &PortableRegistry, id: u32, depth: usize) -> bool {
    let Some(ty) = types.resolve(id) else { return false };
    if depth > MAX_DEPTH {
        return false;
    }
    match &ty.type_def {
        TypeDef::Composite(c) => c.fields.iter().all(|f| zero_sized(types, f.ty.id, depth + 1)),
        TypeDef::Tuple(t) => t.fields.iter().all(|f| zero_sized(types, f.id, depth + 1)),
        TypeDef::Array(a) => a.len == 0 || zero_sized(types, a.type_param.id, depth + 1),
        _ => false,
    }
}

/// The first extension of extrinsic version 0 that nexis cannot fill in, if any.
pub(crate) fn check_extensions(metadata: &Metadata) -> Result<(), ChainError> {
    let types = metadata.types();
    let Some(extensions) = metadata.extrinsic().transaction_extensions_by_version(0) else { return Ok(()) };
    for extension in extensions {
        let identifier = extension.identifier();
        let carries_data =
            !zero_sized(types, extension.extra_ty(), 0) || !zero_sized(types, extension.additional_ty(), 0);
        if carries_data && !KNOWN.contains(&identifier) {
            return Err(ChainError::UnsupportedExtension { identifier: identifier.to_string() });
        }
    }
    Ok(())
}
