//! The cached `GET /v1/get_latest_result` reply: built once per refresh (every 30 blocks),
//! kept as the JSON body and its gzip, and served as-is. Pollers that send
//! `If-None-Match` with the last `ETag` get `304 Not Modified` until the next refresh, and
//! those that accept gzip download a tenth of the bytes; the view grows to 32 MiB of JSON
//! on a busy subnet, so both matter to every reader while validators post.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_128;

use super::LATEST_REFRESH_BLOCKS;
use super::store::{Listing, StoreError};

/// One built reply, in both encodings.
#[derive(Debug, Clone)]
pub(crate) struct LatestCache {
    /// The block it was built for.
    pub(crate) block: u64,
    json: Bytes,
    gzip: Bytes,
    /// The entity tags of the two bodies (the gzip one ends in `-gzip`).
    json_tag: HeaderValue,
    gzip_tag: HeaderValue,
}

#[derive(Serialize)]
struct LatestBody<'a> {
    current_block: u64,
    start_interval_id: u64,
    end_interval_id: u64,
    refreshed_every_blocks: u64,
    cached_at: String,
    truncated: bool,
    decisions: &'a [super::store::StoredDecision],
}

impl LatestCache {
    /// Serialises and compresses the view of intervals `start..=block` (CPU work: run it
    /// off the async workers).
    pub(crate) fn build(block: u64, start: u64, listing: &Listing) -> Result<Self, StoreError> {
        let body = LatestBody {
            current_block: block,
            start_interval_id: start,
            end_interval_id: block,
            refreshed_every_blocks: LATEST_REFRESH_BLOCKS,
            cached_at: chrono::Utc::now().to_rfc3339(),
            truncated: listing.truncated,
            decisions: &listing.rows,
        };
        let json = serde_json::to_vec(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 8), Compression::fast());
        gz.write_all(&json).and_then(|()| gz.flush()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let gzip = gz.finish().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let hash = xxh3_128(&json);
        let tag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{hash:032x}{suffix}\"")).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let (json_tag, gzip_tag) = (tag("")?, tag("-gzip")?);
        Ok(Self { block, json: Bytes::from(json), gzip: Bytes::from(gzip), json_tag, gzip_tag })
    }

    /// The reply to a request with `headers`: 304 when it names the current tag, else the
    /// body, gzipped when the client accepts gzip.
    pub(crate) fn respond(&self, headers: &HeaderMap) -> Response {
        let gzip = accepts_gzip(headers);
        let etag = if gzip { self.gzip_tag.clone() } else { self.json_tag.clone() };
        let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
        if names_tag(headers, &etag) {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), vary]).into_response();
        }
        let json = (header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if gzip {
            let encoding = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            ([json, (header::ETAG, etag), vary, encoding], Body::from(self.gzip.clone())).into_response()
        } else {
            ([json, (header::ETAG, etag), vary], Body::from(self.json.clone())).into_response()
        }
    }
}

/// Hands the heap pages freed by a refresh back to the kernel. A refresh allocates the
/// view about three times over (rows, JSON, gzip) on whichever blocking thread runs it, and
/// glibc keeps what each thread's arena freed: without this the server's memory climbs
/// refresh after refresh (measured: 240 to 340 MiB over five minutes at a full view).
pub(crate) fn return_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether `Accept-Encoding` lists `gzip` (or `*`) without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts
                .any(|p| p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        },
    )
}

/// Whether `If-None-Match` names `etag` (or is `*`), weak comparison.
fn names_tag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else { return false };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(name.clone(), HeaderValue::from_str(value).expect("header value"));
        }
        h
    }

    #[test]
    fn gzip_is_negotiated() {
        assert!(accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "gzip, deflate")])));
        assert!(accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "br;q=1.0, GZIP;q=0.5")])));
        assert!(accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "*")])));
        assert!(!accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, "identity")])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn tags_match_exactly_or_weakly() {
        let tag = HeaderValue::from_static("\"abc\"");
        assert!(names_tag(&headers(&[(header::IF_NONE_MATCH, "\"x\", W/\"abc\"")]), &tag));
        assert!(names_tag(&headers(&[(header::IF_NONE_MATCH, "*")]), &tag));
        assert!(!names_tag(&headers(&[(header::IF_NONE_MATCH, "\"abcd\"")]), &tag));
        assert!(!names_tag(&HeaderMap::new(), &tag));
    }
}
