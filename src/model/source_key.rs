//! Source URLs: the YouTube host rule of the hard checks and the canonical source key of
//! protocol §10, shared by overlap detection, the global index and pruning.

use url::Url;

const WATCH_PREFIX: &str = "https://www.youtube.com/watch?v=";

fn host_of(url: &str) -> Option<(Url, String)> {
    let parsed = Url::parse(url.trim()).ok()?;
    let host = parsed.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    Some((parsed, host))
}

fn is_youtube_com(host: &str) -> bool {
    host == "youtube.com" || host.ends_with(".youtube.com")
}

/// Whether the URL's host is `youtube.com`, `*.youtube.com` or `youtu.be`.
pub fn is_youtube_url(url: &str) -> bool {
    match host_of(url) {
        Some((_, host)) => is_youtube_com(&host) || host == "youtu.be",
        None => false,
    }
}

/// The YouTube video id a URL points to, if it is one of the recognised forms.
pub fn youtube_video_id(url: &str) -> Option<String> {
    let (parsed, host) = host_of(url)?;
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    if host == "youtu.be" {
        return parsed.path_segments()?.next().and_then(non_empty);
    }
    if !is_youtube_com(&host) {
        return None;
    }
    if let Some(id) = parsed.query_pairs().find(|(k, _)| k == "v").map(|(_, v)| v.into_owned())
        && !id.is_empty()
    {
        return Some(id);
    }
    let mut segments = parsed.path_segments()?;
    match segments.next() {
        Some("shorts" | "embed" | "v") => segments.next().and_then(non_empty),
        _ => None,
    }
}

/// The canonical key of a YouTube video id.
pub fn canonical_key_for_id(video_id: &str) -> String {
    format!("{WATCH_PREFIX}{video_id}")
}

/// Canonical source key of a URL (protocol §10): every YouTube form of one video maps to
/// `https://www.youtube.com/watch?v={id}`; any other URL is its own (trimmed) key.
pub fn canonical_source_key(url: &str) -> String {
    match youtube_video_id(url) {
        Some(id) => canonical_key_for_id(&id),
        None => url.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn youtube_hosts() {
        assert!(is_youtube_url("https://www.youtube.com/watch?v=a"));
        assert!(is_youtube_url("https://YouTube.com/watch?v=a"));
        assert!(is_youtube_url("https://m.youtube.com/shorts/a"));
        assert!(is_youtube_url("https://youtu.be/a"));
        assert!(!is_youtube_url("https://vimeo.com/1"));
        assert!(!is_youtube_url("https://youtube.com.evil.org/watch?v=a"));
        assert!(!is_youtube_url("https://notyoutube.com/watch?v=a"));
        assert!(!is_youtube_url("https://evil.org/?u=youtube.com"));
        assert!(!is_youtube_url("youtube.com/watch?v=a"));
        assert!(!is_youtube_url(""));
    }

    #[test]
    fn canonical_forms() {
        let k = canonical_key_for_id("abc");
        assert_eq!(canonical_source_key("https://www.youtube.com/embed/abc?x=1"), k);
        assert_eq!(canonical_source_key("https://www.youtube.com/v/abc"), k);
        assert_eq!(canonical_source_key("  https://youtu.be/abc?t=4 "), k);
        assert_eq!(canonical_source_key("https://www.youtube.com/watch?v="), "https://www.youtube.com/watch?v=");
        assert_eq!(canonical_source_key(" https://example.com/v "), "https://example.com/v");
    }
}
