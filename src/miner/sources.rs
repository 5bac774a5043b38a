//! The miner's source list (`NEXIS_SOURCES_FILE`): one YouTube URL per line; blank lines
//! and `#` comments are ignored, duplicates (same video) kept once, anything that is not a
//! YouTube video URL is skipped with a warning naming the line.

use std::path::Path;

use tracing::warn;

use crate::model::source_key::video_id;

/// One usable source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The YouTube video id.
    pub video_id: String,
    /// The URL as written in the file (trimmed).
    pub url: String,
    /// 1-based line number in the file.
    pub line: usize,
}

/// Why the source list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// The sources file could not be read.
    #[error("cannot read the sources file {path}: {source} (set NEXIS_SOURCES_FILE to a file of YouTube URLs)")]
    Read {
        /// The sources file.
        path: String,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
}

/// Parses the text of a sources file.
pub fn parse_sources(text: &str) -> Vec<Source> {
    let mut out: Vec<Source> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match video_id(line) {
            Some(id) if out.iter().any(|s| s.video_id == id) => {}
            Some(video_id) => out.push(Source { video_id, url: line.to_string(), line: i + 1 }),
            None => warn!(line = i + 1, text = %line, "not a YouTube video URL; skipping this source"),
        }
    }
    out
}

/// Reads and parses the sources file at `path`.
pub(crate) fn read_sources(path: &Path) -> Result<Vec<Source>, SourcesError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| SourcesError::Read { path: path.display().to_string(), source })?;
    Ok(parse_sources(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blanks_duplicates_and_foreign_lines() {
        let text = "# my sources\n\nhttps://www.youtube.com/watch?v=abcDEF12345\n  https://youtu.be/abcDEF12345  \n\
                    https://vimeo.com/123\nhttps://m.youtube.com/shorts/XYZ_-987654\nnot a url\n";
        let got = parse_sources(text);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].video_id.as_str(), got[0].line), ("abcDEF12345", 3));
        assert_eq!((got[1].video_id.as_str(), got[1].line), ("XYZ_-987654", 6));
    }

    #[test]
    fn ids_with_path_characters_are_refused() {
        // The URL parser resolves dot segments, so this can only ever name `etc`.
        assert_eq!(video_id("https://youtu.be/../../etc").as_deref(), Some("etc"));
        assert_eq!(video_id("https://youtu.be/..%2F..%2Fetc"), None);
        assert_eq!(video_id("https://www.youtube.com/watch?v=a%2Fb"), None);
    }
}
