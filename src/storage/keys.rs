//! Object key layout (protocol §5) and row-URI normalisation. Every storage key nexis
//! builds comes from a function here.

use std::borrow::Cow;

/// Key of an interval's manifest.
pub fn manifest_key(interval_id: u64) -> String {
    format!("{interval_id}/manifest.json")
}

/// Key of an interval's dataset.
pub fn dataset_key(interval_id: u64) -> String {
    format!("{interval_id}/dataset.parquet")
}

/// Relative URI of a clip inside an interval prefix.
pub fn clip_uri(clip_id: &str) -> String {
    format!("clips/{clip_id}.mp4")
}

/// Relative URI of a clip's first frame inside an interval prefix.
pub(crate) fn frame_uri(clip_id: &str) -> String {
    format!("frames/{clip_id}.jpg")
}

/// Key of a row asset given its already-normalised relative URI.
pub(crate) fn asset_key(interval_id: u64, normalised_uri: &str) -> String {
    format!("{interval_id}/{normalised_uri}")
}

/// [`normalize_uri`] without allocating when the URI is already normal (the usual case).
pub(crate) fn normalize_uri_cow(uri: &str) -> Option<Cow<'_, str>> {
    let trimmed = uri.trim();
    let plain = !trimmed.is_empty()
        && trimmed.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
        && !trimmed.chars().any(|c| c.is_control() || c == '\\');
    if plain { Some(Cow::Borrowed(trimmed)) } else { normalize_uri(trimmed).map(Cow::Owned) }
}

/// Normalises a row URI relative to `{I}/`: trims whitespace, drops leading `/`, collapses
/// empty and `.` segments. Returns `None` for a `..` segment, an empty result, a
/// backslash or a control character (the asset is then `invalid_asset_uri`).
pub(crate) fn normalize_uri(uri: &str) -> Option<String> {
    let trimmed = uri.trim();
    if trimmed.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    let mut parts = Vec::new();
    for segment in trimmed.split('/') {
        match segment {
            "" | "." => continue,
            ".." => return None,
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_uri(" clips/a.mp4 ").as_deref(), Some("clips/a.mp4"));
        assert_eq!(normalize_uri("/clips//./a.mp4").as_deref(), Some("clips/a.mp4"));
        assert_eq!(normalize_uri("///clips/a.mp4").as_deref(), Some("clips/a.mp4"));
        assert_eq!(normalize_uri("clips/../../etc/passwd"), None);
        assert_eq!(normalize_uri(".."), None);
        assert_eq!(normalize_uri("  "), None);
        assert_eq!(normalize_uri("./"), None);
        assert_eq!(normalize_uri("clips\\..\\x"), None);
        assert_eq!(normalize_uri("clips/a\0.mp4"), None);
        for uri in [" clips/a.mp4 ", "/clips//./a.mp4", "clips/../x", "a/./b", "clips\\x", "", "x/"] {
            assert_eq!(normalize_uri_cow(uri).map(Cow::into_owned), normalize_uri(uri), "{uri:?}");
        }
        assert!(matches!(normalize_uri_cow("clips/a.mp4"), Some(Cow::Borrowed(_))));
    }

    #[test]
    fn layout() {
        assert_eq!(manifest_key(7756800), "7756800/manifest.json");
        assert_eq!(dataset_key(7756800), "7756800/dataset.parquet");
        assert_eq!(asset_key(5, &clip_uri("x")), "5/clips/x.mp4");
        assert_eq!(frame_uri("x"), "frames/x.jpg");
    }
}
