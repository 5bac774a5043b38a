//! Admission: manifest parsing, identity, spec resolution and category (load steps 3-7).

use std::sync::Arc;

use super::LoadFailure;
use crate::model::{Failure, IntervalManifest};
use crate::spec::{DatasetSpec, SpecRegistry};
use crate::validator::package::PackageRequest;

/// Parses the manifest and checks it against the request, in protocol order.
pub(crate) fn admit(
    manifest_bytes: &[u8],
    req: &PackageRequest,
    registry: &SpecRegistry,
) -> Result<(IntervalManifest, Arc<dyn DatasetSpec>), LoadFailure> {
    let manifest = IntervalManifest::parse(manifest_bytes)
        .map_err(|e| LoadFailure::with_error(Failure::ManifestSchemaInvalid, e.to_string()))?;
    if manifest.miner_hotkey != req.miner_hotkey || manifest.interval_id != req.terms.interval_id.get() {
        return Err(LoadFailure::with_error(
            Failure::ManifestIdentityMismatch,
            format!(
                "manifest is for hotkey {} interval {}, expected hotkey {} interval {}",
                manifest.miner_hotkey, manifest.interval_id, req.miner_hotkey, req.terms.interval_id
            ),
        ));
    }
    let spec = registry.resolve(&manifest, &req.terms.enabled_specs).map_err(LoadFailure::bare)?;
    if let Some(expected) = req.terms.expected_category.as_deref() {
        match manifest.category.as_deref() {
            None => return Err(LoadFailure::bare(Failure::MissingCategoryMetadata)),
            Some(c) if c != expected => {
                return Err(LoadFailure::bare(Failure::UnsupportedCategory { category: c.to_string() }));
            }
            Some(_) => {}
        }
    }
    Ok((manifest, spec))
}
