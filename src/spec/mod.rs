//! Dataset specs: the [`DatasetSpec`] trait, the registry of built-in specs and the
//! resolution of a manifest's spec against what this validator enables. The lower layer:
//! it describes columns, rules and checks and imports nothing of `dataset`, which uses it.

mod definition;
pub(crate) mod video_v1;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use definition::{Around, ColumnKind, ColumnRole, ColumnRules, ColumnSpec, SpecDefinition};
pub use video_v1::VideoV1;

use crate::model::{Failure, IntervalManifest};

/// A dataset spec: its data definition, which names the package-wide hard checks it
/// runs. This layer only describes; `dataset` decodes a file under a spec and runs its
/// checks (`dataset::checks`, reachable as `hard_checks` on a `dyn DatasetSpec`).
pub trait DatasetSpec: Send + Sync {
    /// The columns, versions, rules and hard checks of the spec.
    fn definition(&self) -> &SpecDefinition;
}

/// Errors loading a spec definition.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A definition does not parse.
    #[error("spec definition {name} is invalid: {source}")]
    Definition {
        /// The definition's name.
        name: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A definition lacks a column the checks need.
    #[error("spec {spec_id} lacks a column with role {role:?}")]
    MissingRole {
        /// The spec.
        spec_id: String,
        /// The missing role.
        role: ColumnRole,
    },
}

/// The specs this build knows.
#[derive(Clone)]
pub struct SpecRegistry {
    specs: BTreeMap<String, Arc<dyn DatasetSpec>>,
}

impl SpecRegistry {
    /// The built-in specs (definitions embedded from `specs/`).
    pub fn builtin() -> Result<Self, SpecError> {
        let mut specs: BTreeMap<String, Arc<dyn DatasetSpec>> = BTreeMap::new();
        let video = VideoV1::new()?;
        specs.insert(video.definition().spec_id.clone(), Arc::new(video));
        Ok(Self { specs })
    }

    /// Looks a spec up by id.
    pub fn get(&self, spec_id: &str) -> Option<Arc<dyn DatasetSpec>> {
        self.specs.get(spec_id).cloned()
    }

    /// Ids of all known specs.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.specs.keys().map(String::as_str)
    }

    /// Load steps 5 and 6 of protocol §8: known spec, supported versions, enabled here.
    pub fn resolve(&self, manifest: &IntervalManifest, enabled: &[String]) -> Result<Arc<dyn DatasetSpec>, Failure> {
        let spec_id = &manifest.spec_id;
        let spec = self.get(spec_id).ok_or_else(|| Failure::UnknownSpec { spec_id: spec_id.clone() })?;
        if !spec.definition().supports(&manifest.protocol_version, &manifest.schema_version) {
            return Err(Failure::IncompatibleSpecVersion {
                spec_id: spec_id.clone(),
                protocol: manifest.protocol_version.clone(),
                schema: manifest.schema_version.clone(),
            });
        }
        if !enabled.iter().any(|e| e == spec_id) {
            return Err(Failure::SpecNotEnabled { spec_id: spec_id.clone() });
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(spec: &str, p: &str, s: &str) -> IntervalManifest {
        let json = serde_json::json!({
            "spec_id": spec, "protocol_version": p, "schema_version": s, "netuid": 1,
            "miner_hotkey": "h", "interval_id": 0, "record_count": 0, "dataset_sha256": "0".repeat(64)
        });
        IntervalManifest::parse(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn resolution_order() {
        let reg = SpecRegistry::builtin().unwrap();
        let on = vec!["video_v1".to_string()];
        assert!(reg.resolve(&manifest("video_v1", "1.0.0", "1.0.0"), &on).is_ok());
        assert_eq!(
            reg.resolve(&manifest("image_v9", "1.0.0", "1.0.0"), &on).err().unwrap().to_string(),
            "unknown_spec:image_v9"
        );
        assert_eq!(
            reg.resolve(&manifest("video_v1", "1.0.0", "2.0.0"), &on).err().unwrap().to_string(),
            "incompatible_spec_version:video_v1:protocol=1.0.0:schema=2.0.0"
        );
        assert_eq!(
            reg.resolve(&manifest("video_v1", "1.0.0", "1.0.0"), &[]).err().unwrap().to_string(),
            "spec_not_enabled:video_v1"
        );
    }

    #[test]
    fn video_v1_definition_matches_protocol_table() {
        let reg = SpecRegistry::builtin().unwrap();
        let def = reg.get("video_v1").unwrap().definition().clone();
        let names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, video_v1::columns::ALL);
        assert!(!def.columns.last().unwrap().required);
    }
}
