//! Object keys of the owner's buckets (protocol §13) and the deterministic owner row id.
//!
//! Record-info bucket: `{I}/{hotkey}/manifest.json`, `{I}/{hotkey}/dataset.parquet` and
//! `{I}/{hotkey}/copied_to_owner.marker`. Owner dataset bucket: `nature/{id}/clip.mp4`,
//! `nature/{id}/first_image.jpg`, `nature/{id}/metadata.json`.

use sha2::{Digest, Sha256};

use crate::protocol::{HotkeyAddr, IntervalId, PackageKey};

/// File name of a bundle's manifest copy.
pub(crate) const BUNDLE_MANIFEST: &str = "manifest.json";
/// File name of a bundle's post-prune dataset.
pub(crate) const BUNDLE_DATASET: &str = "dataset.parquet";
/// File name of the marker written once every row of a bundle is copied or given up.
pub(crate) const COPIED_MARKER: &str = "copied_to_owner.marker";
/// Content of the marker.
pub(crate) const MARKER_BODY: &[u8] = b"ok\n";
/// Top-level folder of the owner dataset.
pub(crate) const OWNER_PREFIX: &str = "nature";

/// `{I}/{hotkey}/`.
pub(crate) fn bundle_prefix(key: &PackageKey) -> String {
    format!("{}/{}/", key.interval, key.miner)
}

/// `{I}/{hotkey}/manifest.json`.
pub(crate) fn bundle_manifest_key(key: &PackageKey) -> String {
    format!("{}{BUNDLE_MANIFEST}", bundle_prefix(key))
}

/// `{I}/{hotkey}/dataset.parquet`.
pub(crate) fn bundle_dataset_key(key: &PackageKey) -> String {
    format!("{}{BUNDLE_DATASET}", bundle_prefix(key))
}

/// `{I}/{hotkey}/copied_to_owner.marker`.
pub(crate) fn marker_key(key: &PackageKey) -> String {
    format!("{}{COPIED_MARKER}", bundle_prefix(key))
}

/// Temporary key the snapshot is written to before its real key.
pub(crate) fn snapshot_temp_key(key: &str) -> String {
    format!("{key}.tmp")
}

/// `nature/{id}/clip.mp4`.
pub(crate) fn owner_clip_key(id: &str) -> String {
    format!("{OWNER_PREFIX}/{id}/clip.mp4")
}

/// `nature/{id}/first_image.jpg`.
pub(crate) fn owner_image_key(id: &str) -> String {
    format!("{OWNER_PREFIX}/{id}/first_image.jpg")
}

/// `nature/{id}/metadata.json`.
pub(crate) fn owner_metadata_key(id: &str) -> String {
    format!("{OWNER_PREFIX}/{id}/metadata.json")
}

/// What a record-info key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BundleObject {
    /// `{I}/{hotkey}/manifest.json` of the package.
    Manifest(PackageKey),
    /// `{I}/{hotkey}/copied_to_owner.marker` of the package.
    Marker(PackageKey),
}

/// Parses `{I}/{hotkey}/manifest.json` or `{I}/{hotkey}/copied_to_owner.marker`; any
/// other key (the snapshot, datasets, stray objects) is `None`.
pub(crate) fn parse_bundle_key(key: &str) -> Option<BundleObject> {
    let mut parts = key.split('/');
    let (interval, hotkey, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || hotkey.trim().is_empty() || hotkey != hotkey.trim() {
        return None;
    }
    if interval.is_empty() || !interval.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let interval_id: u64 = interval.parse().ok()?;
    let key = PackageKey { interval: IntervalId::new(interval_id), miner: HotkeyAddr::new(hotkey) };
    match name {
        BUNDLE_MANIFEST => Some(BundleObject::Manifest(key)),
        COPIED_MARKER => Some(BundleObject::Marker(key)),
        _ => None,
    }
}

/// The owner row id of `(miner hotkey, interval, clip_id)` in UUID text form: the first 16
/// bytes of `sha256("nexis-owner-row:{hotkey}:{interval}:{clip_id}")` with the RFC 9562
/// version 8 (custom) and variant bits set. Deterministic, so a retry after a crash
/// overwrites the same objects instead of adding duplicates.
pub fn owner_row_id(hotkey: &str, interval_id: u64, clip_id: &str) -> String {
    let digest = Sha256::digest(format!("nexis-owner-row:{hotkey}:{interval_id}:{clip_id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let hk = "5E9hadicAvnFuoGDeCwddoaSz4kaG4zv56h5YnwFpsUC9fx9";
        let key = PackageKey::new(IntervalId::new(50), hk);
        assert_eq!(bundle_manifest_key(&key), format!("50/{hk}/manifest.json"));
        assert_eq!(bundle_dataset_key(&key), format!("50/{hk}/dataset.parquet"));
        assert_eq!(marker_key(&key), format!("50/{hk}/copied_to_owner.marker"));
        assert_eq!(owner_clip_key("x"), "nature/x/clip.mp4");
        assert_eq!(owner_image_key("x"), "nature/x/first_image.jpg");
        assert_eq!(owner_metadata_key("x"), "nature/x/metadata.json");
        assert_eq!(snapshot_temp_key("record_info.json"), "record_info.json.tmp");
    }

    #[test]
    fn bundle_keys_parse() {
        assert_eq!(
            parse_bundle_key("100/hk/manifest.json"),
            Some(BundleObject::Manifest(PackageKey::new(IntervalId::new(100), "hk")))
        );
        assert_eq!(
            parse_bundle_key("100/hk/copied_to_owner.marker"),
            Some(BundleObject::Marker(PackageKey::new(IntervalId::new(100), "hk")))
        );
        for other in [
            "record_info.json",
            "record_info.json.tmp",
            "100/hk/dataset.parquet",
            "x/hk/manifest.json",
            "-1/hk/manifest.json",
            "100//manifest.json",
            "100/hk/sub/manifest.json",
            "100/manifest.json",
        ] {
            assert_eq!(parse_bundle_key(other), None, "{other}");
        }
    }

    #[test]
    fn row_ids_are_deterministic_uuids() {
        let a = owner_row_id("hk", 50, "abc");
        assert_eq!(a, owner_row_id("hk", 50, "abc"));
        assert_ne!(a, owner_row_id("hk", 100, "abc"));
        assert_ne!(a, owner_row_id("hk2", 50, "abc"));
        assert_ne!(a, owner_row_id("hk", 50, "abd"));
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(&parts[2][..1], "8", "version 8");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "RFC 9562 variant");
        // A fixed vector, so the id never changes between releases (that would duplicate
        // every object in the owner bucket).
        // (Computed independently with Python's hashlib and checked with uuid.UUID: version 8.)
        assert_eq!(a, "52130660-74b5-8e34-b611-8f1551c5f227");
    }
}
