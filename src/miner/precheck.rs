//! The category pre-check of discovered sources: before a search result is recorded (and
//! so long before anything of it is downloaded) its thumbnail is fetched, re-encoded as a
//! small JPEG by ffmpeg, and labelled by the configured model with the validators'
//! category prompt; a video whose thumbnail misses the validators' nature thresholds is
//! skipped. A thumbnail that cannot be fetched or judged keeps its video (the miner's
//! self-check still judges every clip), and a verdict is remembered for the process's
//! life, so a phrase searched every interval asks the model once per video.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::llm::ChatClient;
use crate::llm::category::{ImageVerdict, judge_image};
use crate::media::MediaError;
use crate::media::ffmpeg::{FfmpegRun, command};

use super::discover::Candidate;

/// Largest thumbnail fetched.
const MAX_THUMBNAIL_BYTES: usize = 8 << 20;
/// Largest JPEG the re-encoding may produce.
const MAX_JPEG_BYTES: usize = 4 << 20;
/// Widest image sent to the model (YouTube's largest thumbnails are 1280 wide).
const MAX_WIDTH: u32 = 640;
/// Image formats accepted from the thumbnail server (ffmpeg's demuxer names).
const IMAGE_DEMUXERS: &str = "jpeg_pipe,png_pipe,webp_pipe";

/// Why a thumbnail could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    /// yt-dlp reported none.
    #[error("yt-dlp reported no thumbnail")]
    Missing,
    /// Only http and https URLs are fetched.
    #[error("thumbnail URL is not http(s)")]
    Scheme,
    /// The request failed or the server answered with an error.
    #[error("fetching the thumbnail: {0}")]
    Http(String),
    /// The body is larger than allowed.
    #[error("the thumbnail is over {MAX_THUMBNAIL_BYTES} bytes")]
    TooLarge,
    /// ffmpeg could not read it as an image.
    #[error("re-encoding the thumbnail: {0}")]
    Media(#[from] MediaError),
}

/// What the pre-check made of one candidate.
#[derive(Debug, Clone, PartialEq)]
pub enum Precheck {
    /// On-category: keep it.
    Keep,
    /// Off-category: skip it, with the validators' reasons.
    Skip(String),
    /// Not judged (no thumbnail, no answer): kept, with why.
    Unchecked(String),
}

/// Candidates after the pre-check.
#[derive(Debug, Default)]
pub struct PrecheckReport {
    /// On-category or not judged.
    pub kept: Vec<Candidate>,
    /// Off-category, with the reasons.
    pub skipped: Vec<(Candidate, String)>,
    /// How many of `kept` could not be judged.
    pub unchecked: usize,
}

/// The pre-check: a model client, an HTTP client for thumbnails, and the verdicts so far.
#[derive(Debug)]
pub struct CategoryPrecheck {
    client: ChatClient,
    http: reqwest::Client,
    ffmpeg_timeout: Duration,
    verdicts: Mutex<HashMap<String, Precheck>>,
}

impl CategoryPrecheck {
    /// A pre-check asking `client`'s model; each thumbnail fetch and re-encoding gets
    /// `timeout`.
    pub fn new(client: ChatClient, timeout: Duration) -> Result<Self, ThumbnailError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| ThumbnailError::Http(e.to_string()))?;
        Ok(Self { client, http, ffmpeg_timeout: timeout, verdicts: Mutex::new(HashMap::new()) })
    }

    /// The thumbnail at `url` as a JPEG at most [`MAX_WIDTH`] wide.
    pub async fn thumbnail_jpeg(&self, url: &str) -> Result<Vec<u8>, ThumbnailError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| ThumbnailError::Scheme)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ThumbnailError::Scheme);
        }
        let http = |e: reqwest::Error| ThumbnailError::Http(e.without_url().to_string());
        let mut response = self.http.get(parsed).send().await.map_err(http)?.error_for_status().map_err(http)?;
        if response.content_length().is_some_and(|n| n > MAX_THUMBNAIL_BYTES as u64) {
            return Err(ThumbnailError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > MAX_THUMBNAIL_BYTES {
                return Err(ThumbnailError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        reencode(body, self.ffmpeg_timeout).await
    }

    /// The verdict on one candidate (remembered by video id).
    pub async fn judge(&self, candidate: &Candidate) -> Precheck {
        if let Some(known) = self.known(&candidate.video_id) {
            return known;
        }
        let verdict = self.judge_uncached(candidate).await;
        if !matches!(verdict, Precheck::Unchecked(_))
            && let Ok(mut verdicts) = self.verdicts.lock()
        {
            verdicts.insert(candidate.video_id.clone(), verdict.clone());
        }
        verdict
    }

    fn known(&self, video_id: &str) -> Option<Precheck> {
        self.verdicts.lock().ok().and_then(|v| v.get(video_id).cloned())
    }

    async fn judge_uncached(&self, candidate: &Candidate) -> Precheck {
        let Some(url) = candidate.thumbnail.as_deref() else {
            return Precheck::Unchecked(ThumbnailError::Missing.to_string());
        };
        let jpeg = match self.thumbnail_jpeg(url).await {
            Ok(jpeg) => jpeg,
            Err(e) => return Precheck::Unchecked(e.to_string()),
        };
        match judge_image(&self.client, &jpeg).await {
            ImageVerdict::Scored(score) => {
                let reasons = score.single_image_reject_reasons();
                if reasons.is_empty() {
                    Precheck::Keep
                } else {
                    Precheck::Skip(format!(
                        "thumbnail off-category ({}; nature {:.2}, margin {:.2})",
                        reasons.join(", "),
                        score.avg_nature,
                        score.margin
                    ))
                }
            }
            ImageVerdict::Failed(reason) => Precheck::Unchecked(reason),
        }
    }

    /// Judges `candidates` one after the other (the model's rate limit applies) and sorts
    /// them; skipped and unjudged ones are logged.
    pub async fn sort(&self, candidates: Vec<Candidate>) -> PrecheckReport {
        let mut report = PrecheckReport::default();
        for c in candidates {
            match self.judge(&c).await {
                Precheck::Keep => report.kept.push(c),
                Precheck::Skip(reason) => {
                    tracing::info!(video_id = %c.video_id, reason = %reason, "category pre-check: skipped");
                    report.skipped.push((c, reason));
                }
                Precheck::Unchecked(reason) => {
                    tracing::warn!(video_id = %c.video_id, reason = %reason, "category pre-check: not judged, kept");
                    report.unchecked += 1;
                    report.kept.push(c);
                }
            }
        }
        report
    }
}

/// `image` (JPEG, PNG or WebP) decoded by ffmpeg from stdin and written back as one JPEG
/// at most [`MAX_WIDTH`] wide: the model sees a bounded, well-formed picture whatever
/// the server sent.
async fn reencode(image: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, ThumbnailError> {
    let mut cmd = command();
    cmd.args(["-protocol_whitelist", "pipe", "-format_whitelist", IMAGE_DEMUXERS]).input("pipe:0").frames(1);
    cmd.args(["-vf", &format!("scale=w=min(iw\\,{MAX_WIDTH}):h=-2")]).args(["-q:v", "4"]);
    cmd.format("image2pipe").codec_video("mjpeg").pipe_stdout();
    let out = FfmpegRun::new(cmd, timeout).stdin(image).stdout_cap(MAX_JPEG_BYTES).run().await?;
    if !out.stdout.starts_with(&[0xFF, 0xD8]) {
        return Err(MediaError::NotVideo("ffmpeg wrote no JPEG for the thumbnail".into()).into());
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn thumbnails_of_any_usual_format_become_small_jpegs_and_garbage_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, size) in [("a.png", "1280x720"), ("b.webp", "320x180"), ("c.jpg", "480x360")] {
            let path = dir.path().join(name);
            let args = ["-f", "lavfi", "-i", &format!("color=c=green:s={size}"), "-frames:v", "1"];
            let mut cmd = command();
            cmd.args(args).output(path.to_str().expect("utf8"));
            FfmpegRun::new(cmd, Duration::from_secs(60)).run().await.expect("make image");
            let jpeg = reencode(std::fs::read(&path).expect("read"), Duration::from_secs(60)).await.expect(name);
            let mut decoder = jpeg_decoder::Decoder::new(jpeg.as_slice());
            decoder.read_info().expect("jpeg header");
            let info = decoder.info().expect("info");
            assert!(info.width <= 640 && info.width > 0, "{name}: {}", info.width);
        }
        assert!(reencode(b"not an image at all".to_vec(), Duration::from_secs(60)).await.is_err());
    }
}
