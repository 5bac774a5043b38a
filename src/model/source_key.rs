//! Source URLs: the YouTube host rule of the hard checks and the canonical source key of
//! protocol §10, shared by overlap detection, the global index and pruning.

use url::Url;

const WATCH_PREFIX: &str = "https://www.youtube.com/watch?v=";

/// The raw host of `url` as written (between `//`, any userinfo and any port), lowercased.
fn raw_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#', '\\']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    Some(host.to_ascii_lowercase())
}

/// The parsed URL and its host, only for `http`/`https` URLs whose host is written
/// exactly as the parser reads it: no IDNA mapping (full-width letters), no
/// percent-escapes, no trailing dot (the existing validator compares the raw host too).
fn host_of(url: &str) -> Option<(Url, String)> {
    let url = url.trim();
    let parsed = Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?.to_ascii_lowercase();
    (raw_host(url)? == host).then_some((parsed, host))
}

fn is_youtube_com(host: &str) -> bool {
    host == "youtube.com" || host.ends_with(".youtube.com")
}

/// Whether the URL is `http`/`https` and its host is `youtube.com`, `*.youtube.com` or
/// `youtu.be`, written plainly.
pub(crate) fn is_youtube_url(url: &str) -> bool {
    match host_of(url) {
        Some((_, host)) => is_youtube_com(&host) || host == "youtu.be",
        None => false,
    }
}

/// The leading run of id characters (`A-Z a-z 0-9 - _`) of `value`, if any: trailing junk
/// (`ID%20`, `ID&x`, `ID/`) does not make a different video.
fn id_prefix(value: &str) -> Option<String> {
    let end = value.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(value.len());
    (end > 0).then(|| value[..end].to_string())
}

/// The YouTube video id of `url`, if it is a YouTube video URL.
pub(crate) fn video_id(url: &str) -> Option<String> {
    let id = youtube_video_id(url)?;
    let valid =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then_some(id)
}

/// The YouTube video id a URL points to exactly as written (percent-decoded), if it is one
/// of the recognised forms (`youtu.be/{id}`, `v={id}`, `/shorts/`, `/embed/`, `/v/`,
/// `/live/`). Callers that need a clean id (the miner) check its characters.
pub(crate) fn youtube_video_id(url: &str) -> Option<String> {
    let (parsed, host) = host_of(url)?;
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    if host == "youtu.be" {
        return parsed.path_segments()?.next().and_then(non_empty);
    }
    if !is_youtube_com(&host) {
        return None;
    }
    if let Some(id) = parsed.query_pairs().find(|(k, _)| k == "v").and_then(|(_, v)| non_empty(&v)) {
        return Some(id);
    }
    let mut segments = parsed.path_segments()?;
    match segments.next() {
        Some("shorts" | "embed" | "v" | "live") => segments.next().and_then(non_empty),
        _ => None,
    }
}

/// The canonical key of a YouTube video id.
pub(crate) fn canonical_key_for_id(video_id: &str) -> String {
    format!("{WATCH_PREFIX}{video_id}")
}

/// Whether `id` only uses the characters of YouTube ids (no escaping, no separators).
fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The video id of the two URL forms miners write, recognised without a URL parser; `None`
/// means "use the full parser", never "not YouTube".
fn fast_video_id(url: &str) -> Option<&str> {
    let id = url.strip_prefix(WATCH_PREFIX).or_else(|| url.strip_prefix("https://youtu.be/"))?;
    is_plain_id(id).then_some(id)
}

/// The canonical key of a URL already in one of the two common forms (always YouTube),
/// without a URL parser; `None` means "ask [`classify_source_url`]".
pub(crate) fn fast_canonical_key(url: &str) -> Option<String> {
    fast_video_id(url.trim()).map(canonical_key_for_id)
}

/// Both facts the hard checks need about a source URL, parsing it at most once:
/// whether its host is YouTube, and its canonical source key.
pub(crate) fn classify_source_url(url: &str) -> (bool, String) {
    if let Some(id) = fast_video_id(url.trim()) {
        return (true, canonical_key_for_id(id));
    }
    (is_youtube_url(url), canonical_source_key(url))
}

/// Canonical source key of a URL (protocol §10): every YouTube form of one video maps to
/// `https://www.youtube.com/watch?v={id}` (the id's leading run of id characters, so
/// trailing junk such as `%20` names the same video); any other URL is its own (trimmed) key.
pub fn canonical_source_key(url: &str) -> String {
    match youtube_video_id(url).as_deref().and_then(id_prefix) {
        Some(id) => canonical_key_for_id(&id),
        None => url.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_agrees_with_the_parser() {
        for url in [
            "https://www.youtube.com/watch?v=abc-_09XYZ",
            "https://youtu.be/abc-_09XYZ",
            " https://youtu.be/abc ",
            "https://www.youtube.com/watch?v=a%20b",
            "https://www.youtube.com/watch?v=abc&t=5",
            "https://youtu.be/abc?t=1",
            "https://www.youtube.com/watch?v=",
            "https://youtu.be/",
            "https://vimeo.com/1",
        ] {
            let slow = (is_youtube_url(url), canonical_source_key(url));
            assert_eq!(classify_source_url(url), slow, "{url}");
        }
    }

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

    #[test]
    fn live_paths_and_trailing_junk_share_the_key() {
        let k = canonical_key_for_id("dQw4w9WgXcQ");
        for url in [
            "https://www.youtube.com/live/dQw4w9WgXcQ",
            "https://www.youtube.com/live/dQw4w9WgXcQ?feature=share",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ%20",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ%22junk",
            "https://youtu.be/dQw4w9WgXcQ%20",
            "https://www.youtube.com/shorts/dQw4w9WgXcQ%09",
            "https://www.youtube.com:443/watch?v=dQw4w9WgXcQ",
        ] {
            assert_eq!(canonical_source_key(url), k, "{url}");
            assert_eq!(classify_source_url(url), (true, k.clone()), "{url}");
        }
    }

    #[test]
    fn look_alike_hosts_and_other_schemes_are_not_youtube() {
        for url in [
            "https://\u{ff59}outube.com/watch?v=abc",
            "https://www.\u{ff59}outube.com/watch?v=abc",
            "https://youtube.com.:443/watch?v=abc",
            "https://www.youtube.com./watch?v=abc",
            "https://you%74ube.com/watch?v=abc",
            "javascript://www.youtube.com/%0Aalert(1)",
            "ftp://www.youtube.com/watch?v=abc",
            "file://youtube.com/watch?v=abc",
        ] {
            assert!(!is_youtube_url(url), "{url}");
            assert_eq!(canonical_source_key(url), url, "{url}");
            assert_eq!(classify_source_url(url), (false, url.to_string()), "{url}");
        }
    }
}
