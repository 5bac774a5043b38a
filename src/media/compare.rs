//! Frame similarity between a clip and the source it claims (the source-authenticity
//! check): both are decoded once at [`SAMPLE_FPS`] into tiny grey images — the source
//! first brought to the clip's geometry exactly as the miner cuts (scale to fit 1280x720,
//! pad) — and compared at [`INSTANTS`] with two measures robust to re-encoding: the mean
//! absolute difference of 32x32 grey images (as the Python reference does) and the SSIM
//! of 64x36 grey images (structure). A small common time offset (±[`MAX_OFFSET_FRAMES`]
//! samples) absorbs imprecise section cuts; a shift of 2 s or more lies outside it.
//!
//! Thresholds come from measurements (`tests/it/source_check.rs`, written down in
//! `docs/validator.md`, "Source authenticity"): honest clips and re-encodes (CRF 28–35,
//! other scalers, a 480p rendition of the source, letterboxed 4:3 and 9:16 sources) scored
//! MAD ≤ 0.73 and SSIM ≥ 0.987 at every instant; fabrications (another video, ±2 s,
//! mirrored) MAD ≥ 52 and SSIM ≤ 0.17. The thresholds sit far inside that gap, leaving
//! room for real footage (grain, slow pans, heavier compression).

use std::path::Path;
use std::time::Duration;

use super::MediaError;
use super::ffmpeg::run_ffmpeg;

/// Decoding rate of both videos, frames per second.
pub const SAMPLE_FPS: f64 = 10.0;
/// Side of the square grey image of the mean-absolute-difference measure.
pub(crate) const MAD_SIDE: usize = 32;
/// Size of the grey image of the structural (SSIM) measure, 16:9 like the clip.
pub(crate) const SSIM_SIZE: (usize, usize) = (64, 36);
/// Compared clip times, seconds: start, quarter, middle, three quarters, end.
pub(crate) const INSTANTS: [f64; 5] = [0.1, 1.2, 2.5, 3.7, 4.8];
/// Largest common time offset searched, in samples (0.5 s at [`SAMPLE_FPS`]).
pub(crate) const MAX_OFFSET_FRAMES: i64 = 5;
/// The miner's geometry filter (the one [`super::ffmpeg::clip_command`] cuts with).
pub(crate) const CLIP_GEOMETRY_FILTER: &str = super::ffmpeg::FIT_720P;

/// An instant matches when its MAD is at most this (grey levels 0–255)...
pub(crate) const MAD_MATCH_MAX: f64 = 10.0;
/// ...and its SSIM at least this.
pub(crate) const SSIM_MATCH_MIN: f64 = 0.75;
/// An instant is a confident mismatch when its MAD is above this (the reference's 18.0)...
pub(crate) const MAD_MISMATCH_MIN: f64 = 18.0;
/// ...or its SSIM below this.
pub(crate) const SSIM_MISMATCH_MAX: f64 = 0.5;
/// Frames whose grey standard deviation is below this carry no structure (fades, black
/// frames) and are not judged.
pub(crate) const MIN_INFORMATIVE_STDDEV: f64 = 3.0;
/// Most bytes read back from one decoding pass (far above the ~70 tiny frames expected).
const MAX_RAW_BYTES: u64 = 4 << 20;

/// How a video's frames are brought to the clip's 1280x720 geometry before shrinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geometry {
    /// Already 1280x720 (the clip).
    Clip,
    /// Scaled to fit and padded like the miner's cut (the source).
    FitToClip,
}

/// Tiny grey frames of one video at [`SAMPLE_FPS`], sample `i` at `i / SAMPLE_FPS` s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GreyFrames {
    /// `MAD_SIDE x MAD_SIDE` images.
    pub(crate) mad: Vec<Vec<u8>>,
    /// `SSIM_SIZE` images.
    pub(crate) ssim: Vec<Vec<u8>>,
}

impl GreyFrames {
    /// Number of samples.
    pub(crate) fn len(&self) -> usize {
        self.mad.len().min(self.ssim.len())
    }
}

/// Decodes `seconds` of `path` from `seek` into [`GreyFrames`] with one ffmpeg run.
pub async fn grey_frames(
    path: &Path,
    seek: f64,
    seconds: f64,
    geometry: Geometry,
    timeout: Duration,
) -> Result<GreyFrames, MediaError> {
    let io = |e: std::io::Error| MediaError::Io { tool: "ffmpeg", message: e.to_string() };
    let dir = tempfile::tempdir().map_err(io)?;
    let (mad_out, ssim_out) = (dir.path().join("mad.gray"), dir.path().join("ssim.gray"));
    let pre = match geometry {
        Geometry::Clip => String::new(),
        Geometry::FitToClip => format!("{CLIP_GEOMETRY_FILTER},"),
    };
    let (w, h) = SSIM_SIZE;
    let graph = format!(
        "[0:v:0]{pre}fps={SAMPLE_FPS},split=2[a][b];\
         [a]scale={MAD_SIDE}:{MAD_SIDE}:flags=area,format=gray[m];[b]scale={w}:{h}:flags=area,format=gray[s]"
    );
    let args: Vec<String> = vec![
        "-ss".into(),
        format!("{:.3}", seek.max(0.0)),
        "-i".into(),
        path.display().to_string(),
        "-t".into(),
        format!("{seconds:.3}"),
        "-an".into(),
        "-sn".into(),
        "-filter_complex".into(),
        graph,
        "-map".into(),
        "[m]".into(),
        "-f".into(),
        "rawvideo".into(),
        mad_out.display().to_string(),
        "-map".into(),
        "[s]".into(),
        "-f".into(),
        "rawvideo".into(),
        ssim_out.display().to_string(),
    ];
    run_ffmpeg(&args, timeout).await?;
    let read = |p: &Path, frame: usize| -> Result<Vec<Vec<u8>>, MediaError> {
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        if size == 0 || size > MAX_RAW_BYTES {
            return Err(MediaError::NotVideo(format!("no usable frames decoded from {}", path.display())));
        }
        let bytes = std::fs::read(p).map_err(io)?;
        Ok(bytes.chunks_exact(frame).map(<[u8]>::to_vec).collect())
    };
    Ok(GreyFrames { mad: read(&mad_out, MAD_SIDE * MAD_SIDE)?, ssim: read(&ssim_out, w * h)? })
}

/// Mean absolute difference of two equally sized grey images (0–255).
pub(crate) fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 255.0;
    }
    let sum: u64 = a.iter().zip(b).map(|(&x, &y)| u64::from(x.abs_diff(y))).sum();
    sum as f64 / n as f64
}

/// Standard deviation of a grey image.
pub(crate) fn stddev(a: &[u8]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let n = a.len() as f64;
    let mean = a.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    (a.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Mean SSIM of two `width`-wide grey images over 8x8 windows with stride 4.
pub fn ssim(a: &[u8], b: &[u8], width: usize) -> f64 {
    const WIN: usize = 8;
    const STEP: usize = 4;
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    if width < WIN || a.len() != b.len() || a.len() < width * WIN {
        return 0.0;
    }
    let height = a.len() / width;
    let (mut total, mut windows) = (0.0, 0u32);
    for y in (0..=height - WIN).step_by(STEP) {
        for x in (0..=width - WIN).step_by(STEP) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for row in y..y + WIN {
                for col in x..x + WIN {
                    let (p, q) = (f64::from(a[row * width + col]), f64::from(b[row * width + col]));
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let n = (WIN * WIN) as f64;
            let (ma, mb) = (sa / n, sb / n);
            let (va, vb, cov) = (saa / n - ma * ma, sbb / n - mb * mb, sab / n - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            windows += 1;
        }
    }
    total / f64::from(windows.max(1))
}

/// The two measures at one compared instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstantScore {
    /// Clip time, seconds.
    pub(crate) at: f64,
    /// Mean absolute difference of the 32x32 grey images.
    pub mad: f64,
    /// SSIM of the 64x36 grey images.
    pub ssim: f64,
    /// Whether both frames carry structure (otherwise the instant is not judged).
    pub(crate) informative: bool,
}

impl InstantScore {
    fn matches(&self) -> bool {
        self.mad <= MAD_MATCH_MAX && self.ssim >= SSIM_MATCH_MIN
    }

    fn mismatches(&self) -> bool {
        self.mad > MAD_MISMATCH_MIN || self.ssim < SSIM_MISMATCH_MAX
    }
}

/// What the comparison concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The clip shows the source at the claimed time.
    Match,
    /// A confident mismatch: most judged instants are clearly different.
    Mismatch,
    /// Neither (too few informative instants, or scores between the thresholds).
    Inconclusive,
}

/// The comparison of a clip with its source section.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Whether the clip matches the source section.
    pub verdict: Verdict,
    /// Source samples the best alignment is shifted by (positive: later in the source).
    pub offset_frames: i64,
    /// Per-instant scores at the best alignment, in clip order.
    pub instants: Vec<InstantScore>,
}

impl Comparison {
    /// Largest MAD and smallest SSIM over the informative instants, for notes and logs.
    pub fn summary(&self) -> String {
        let judged: Vec<&InstantScore> = self.instants.iter().filter(|s| s.informative).collect();
        let worst_mad = judged.iter().map(|s| s.mad).fold(0.0, f64::max);
        let worst_ssim = judged.iter().map(|s| s.ssim).fold(1.0, f64::min);
        format!(
            "{} of {} instants judged, offset {:+.1} s, max MAD {worst_mad:.1}, min SSIM {worst_ssim:.3}",
            judged.len(),
            self.instants.len(),
            self.offset_frames as f64 / SAMPLE_FPS
        )
    }
}

fn sample_index(t: f64) -> i64 {
    (t * SAMPLE_FPS).round() as i64
}

fn scores_at(clip: &GreyFrames, source: &GreyFrames, base: i64, offset: i64) -> Vec<InstantScore> {
    let (w, _) = SSIM_SIZE;
    INSTANTS
        .iter()
        .filter_map(|&at| {
            let c = usize::try_from(sample_index(at)).ok().filter(|&i| i < clip.len())?;
            let s = usize::try_from(base + sample_index(at) + offset).ok().filter(|&i| i < source.len())?;
            let informative =
                stddev(&clip.ssim[c]) >= MIN_INFORMATIVE_STDDEV && stddev(&source.ssim[s]) >= MIN_INFORMATIVE_STDDEV;
            Some(InstantScore {
                at,
                mad: mean_abs_diff(&clip.mad[c], &source.mad[s]),
                ssim: ssim(&clip.ssim[c], &source.ssim[s], w),
                informative,
            })
        })
        .collect()
}

/// Compares `clip` (sampled from its start) with `source`, whose sample `base` shows the
/// claimed start, searching the best common offset within ±[`MAX_OFFSET_FRAMES`].
pub fn compare(clip: &GreyFrames, source: &GreyFrames, base: i64) -> Comparison {
    let mut best: Option<(f64, i64, Vec<InstantScore>)> = None;
    for offset in -MAX_OFFSET_FRAMES..=MAX_OFFSET_FRAMES {
        let scores = scores_at(clip, source, base, offset);
        if scores.len() < INSTANTS.len() {
            continue;
        }
        let fit = scores.iter().map(|s| s.ssim - s.mad / 255.0).sum::<f64>();
        // Prefer the smallest shift among equal fits.
        if best.as_ref().is_none_or(|(f, o, _)| fit > *f + 1e-9 || (fit > *f - 1e-9 && offset.abs() < o.abs())) {
            best = Some((fit, offset, scores));
        }
    }
    let Some((_, offset_frames, instants)) = best else {
        return Comparison { verdict: Verdict::Inconclusive, offset_frames: 0, instants: Vec::new() };
    };
    Comparison { verdict: verdict(&instants), offset_frames, instants }
}

/// Match when most judged instants match; mismatch when most are clearly different;
/// inconclusive with fewer than three informative instants or anything in between.
pub fn verdict(instants: &[InstantScore]) -> Verdict {
    let judged: Vec<&InstantScore> = instants.iter().filter(|s| s.informative).collect();
    if judged.len() < 3 {
        return Verdict::Inconclusive;
    }
    let majority = judged.len() / 2 + 1;
    if judged.iter().filter(|s| s.mismatches()).count() >= majority {
        Verdict::Mismatch
    } else if judged.iter().filter(|s| s.matches()).count() >= majority {
        Verdict::Match
    } else {
        Verdict::Inconclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize, shift: usize) -> Vec<u8> {
        (0..w * h).map(|i| (((i % w + shift) * 255) / (w + shift)) as u8 ^ ((i / w) as u8 * 3)).collect()
    }

    #[test]
    fn identical_images_are_perfect_and_inverted_ones_are_not() {
        let a = ramp(64, 36, 0);
        assert_eq!(mean_abs_diff(&a, &a), 0.0);
        assert!((ssim(&a, &a, 64) - 1.0).abs() < 1e-9);
        let inv: Vec<u8> = a.iter().map(|&x| 255 - x).collect();
        assert!(ssim(&a, &inv, 64) < 0.0);
        assert!(mean_abs_diff(&a, &inv) > 50.0);
        assert_eq!(stddev(&[7; 100]), 0.0);
    }

    fn score(mad: f64, ssim: f64, informative: bool) -> InstantScore {
        InstantScore { at: 0.0, mad, ssim, informative }
    }

    #[test]
    fn verdict_needs_a_majority_of_informative_instants() {
        let good = score(2.0, 0.95, true);
        let bad = score(30.0, 0.2, true);
        let flat = score(0.0, 1.0, false);
        assert_eq!(verdict(&[good, good, good, bad, bad]), Verdict::Match);
        assert_eq!(verdict(&[bad, bad, bad, good, good]), Verdict::Mismatch);
        assert_eq!(verdict(&[bad, bad, flat, flat, flat]), Verdict::Inconclusive);
        let between = score(14.0, 0.6, true);
        assert_eq!(verdict(&[between, between, between, good, bad]), Verdict::Inconclusive);
        // The reference's MAD threshold alone or SSIM alone makes a confident mismatch.
        assert_eq!(verdict(&[score(19.0, 0.9, true); 3]), Verdict::Mismatch);
        assert_eq!(verdict(&[score(5.0, 0.4, true); 3]), Verdict::Mismatch);
    }

    #[test]
    fn geometry_filter_is_the_miners() {
        let cmd = super::super::ffmpeg::clip_command(Path::new("in.mp4"), 0.0, 5.0, false, Path::new("o.mp4"), 1);
        assert!(cmd.get_args().any(|a| a == CLIP_GEOMETRY_FILTER));
    }
}
