//! Frame similarity between a clip and the source it claims (the source-authenticity
//! check): both are decoded once at [`SAMPLE_FPS`] into tiny grey images — the source
//! first brought to the clip's geometry exactly as the miner cuts (scale to fit 1280x720,
//! pad) — and compared at instants drawn per clip ([`super::instants`]) with measures
//! robust to re-encoding: the mean absolute difference of 32x32 grey images (as the Python
//! reference does), the SSIM of 64x36 grey images (structure), and, against degraded
//! copies, the clip's contrast and detail relative to the source's (160x90 images). One
//! common time offset (±[`MAX_OFFSET_FRAMES`] samples) for the whole clip absorbs imprecise
//! section cuts, with ±1 sample of slack per instant for frame timing; a shift of 1 s or
//! more lies outside it.
//!
//! Every informative instant is classified ([`InstantClass`]): a confident mismatch or a
//! degraded frame at any one fails the clip, and a match needs all informative instants
//! but one to match. Thresholds come from measurements (`tests/it/source_check.rs`,
//! written down in `docs/validator.md`, "Source authenticity").

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
/// Size of the grey image of the detail measure, 16:9 like the clip.
pub(crate) const DETAIL_SIZE: (usize, usize) = (160, 90);
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
/// Source frames whose grey standard deviation is below this carry no structure (fades,
/// black frames) and are not judged; a clip frame below it where the source has structure
/// is a mismatch.
pub(crate) const MIN_INFORMATIVE_STDDEV: f64 = 3.0;
/// A clip frame correlated with the source frame at least this much shows the same
/// picture (then low contrast or detail means a degraded copy, not another video).
pub(crate) const SAME_PICTURE_CORRELATION: f64 = 0.5;
/// A clip frame with less than this share of the source frame's contrast (grey standard
/// deviation) is degraded (crushed contrast)...
pub(crate) const MIN_CONTRAST_RATIO: f64 = 0.5;
/// ...or with less than this share of its detail (mean gradient of the 160x90 image).
pub(crate) const MIN_DETAIL_RATIO: f64 = 0.75;
/// Detail is only judged where the source frame's mean gradient reaches this (smooth
/// skies and fog carry too little for a ratio to mean anything).
pub(crate) const MIN_SOURCE_DETAIL: f64 = 2.0;
/// Informative instants allowed to be neither a match nor a failure in a matching clip.
pub(crate) const MAX_UNDECIDED: usize = 1;
/// Fewest informative instants for any verdict but inconclusive (a source that is mostly
/// black or fading cannot vouch for anything).
pub(crate) const MIN_JUDGED: usize = 3;
/// Most bytes read back from one decoding pass (far above the ~70 tiny frames expected).
const MAX_RAW_BYTES: u64 = 16 << 20;

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
    /// `DETAIL_SIZE` images.
    pub(crate) detail: Vec<Vec<u8>>,
}

impl GreyFrames {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.mad.len().min(self.ssim.len()).min(self.detail.len())
    }

    /// Whether no sample was decoded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    let out = |name: &str| dir.path().join(name);
    let (mad_out, ssim_out, detail_out) = (out("mad.gray"), out("ssim.gray"), out("detail.gray"));
    let pre = match geometry {
        Geometry::Clip => String::new(),
        Geometry::FitToClip => format!("{CLIP_GEOMETRY_FILTER},"),
    };
    let ((w, h), (dw, dh)) = (SSIM_SIZE, DETAIL_SIZE);
    let graph = format!(
        "[0:v:0]{pre}fps={SAMPLE_FPS},split=3[a][b][c];\
         [a]scale={MAD_SIDE}:{MAD_SIDE}:flags=area,format=gray[m];[b]scale={w}:{h}:flags=area,format=gray[s];\
         [c]scale={dw}:{dh}:flags=area,format=gray[d]"
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
        "-map".into(),
        "[d]".into(),
        "-f".into(),
        "rawvideo".into(),
        detail_out.display().to_string(),
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
    Ok(GreyFrames {
        mad: read(&mad_out, MAD_SIDE * MAD_SIDE)?,
        ssim: read(&ssim_out, w * h)?,
        detail: read(&detail_out, dw * dh)?,
    })
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

/// Mean of a grey image.
fn mean(a: &[u8]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.iter().map(|&x| f64::from(x)).sum::<f64>() / a.len() as f64
}

/// Pearson correlation of two equally sized grey images (0 when either is flat).
pub(crate) fn correlation(a: &[u8], b: &[u8]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    if va < 1e-9 || vb < 1e-9 { 0.0 } else { cov / (va * vb).sqrt() }
}

/// Mean absolute horizontal plus vertical gradient of a `width`-wide grey image.
pub(crate) fn detail(a: &[u8], width: usize) -> f64 {
    if width < 2 || a.len() < 2 * width {
        return 0.0;
    }
    let height = a.len() / width;
    let (mut sum, mut n) = (0u64, 0u64);
    for y in 0..height - 1 {
        for x in 0..width - 1 {
            let p = a[y * width + x];
            sum += u64::from(p.abs_diff(a[y * width + x + 1])) + u64::from(p.abs_diff(a[(y + 1) * width + x]));
            n += 1;
        }
    }
    sum as f64 / n.max(1) as f64
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

/// What one compared instant says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstantClass {
    /// The source frame has no structure and the clip frame does not clearly differ: not
    /// judged.
    Flat,
    /// The clip frame shows the source frame.
    Match,
    /// Between the thresholds.
    Undecided,
    /// The clip frame confidently differs (or has no structure where the source has).
    Mismatch,
    /// The clip frame shows the source frame with its contrast or detail destroyed.
    Degraded,
}

/// The measures at one compared instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstantScore {
    /// Clip time, seconds.
    pub at: f64,
    /// Mean absolute difference of the 32x32 grey images.
    pub mad: f64,
    /// SSIM of the 64x36 grey images.
    pub ssim: f64,
    /// Correlation of the 64x36 grey images.
    pub correlation: f64,
    /// The clip frame's grey standard deviation over the source frame's (64x36).
    pub contrast: f64,
    /// The clip frame's mean gradient over the source frame's (160x90); 1 where the
    /// source has too little detail to judge.
    pub detail: f64,
    /// The source frame's grey standard deviation (64x36).
    pub source_stddev: f64,
    /// The verdict of this instant.
    pub class: InstantClass,
}

impl InstantScore {
    /// Whether the instant is judged at all.
    pub fn informative(&self) -> bool {
        self.class != InstantClass::Flat
    }

    fn fit(&self) -> f64 {
        self.ssim - self.mad / 255.0
    }
}

/// Scores clip sample `c` against source sample `s`.
fn score(clip: &GreyFrames, source: &GreyFrames, c: usize, s: usize) -> InstantScore {
    let (w, _) = SSIM_SIZE;
    let (cs, ss) = (&clip.ssim[c], &source.ssim[s]);
    let (clip_std, source_std) = (stddev(cs), stddev(ss));
    let source_detail = detail(&source.detail[s], DETAIL_SIZE.0);
    let detail_ratio =
        if source_detail >= MIN_SOURCE_DETAIL { detail(&clip.detail[c], DETAIL_SIZE.0) / source_detail } else { 1.0 };
    let mut out = InstantScore {
        at: c as f64 / SAMPLE_FPS,
        mad: mean_abs_diff(&clip.mad[c], &source.mad[s]),
        ssim: ssim(cs, ss, w),
        correlation: correlation(cs, ss),
        contrast: if source_std > 0.0 { clip_std / source_std } else { 1.0 },
        detail: detail_ratio,
        source_stddev: source_std,
        class: InstantClass::Flat,
    };
    out.class = classify(&out, clip_std);
    out
}

/// The class of an instant from its measures (`clip_std`: the clip frame's deviation).
fn classify(m: &InstantScore, clip_std: f64) -> InstantClass {
    let confident_mismatch = m.mad > MAD_MISMATCH_MIN || m.ssim < SSIM_MISMATCH_MAX;
    if m.source_stddev < MIN_INFORMATIVE_STDDEV {
        // A flat source frame vouches for nothing, unless the clip shows something else.
        return if clip_std >= MIN_INFORMATIVE_STDDEV && m.mad > MAD_MISMATCH_MIN {
            InstantClass::Mismatch
        } else {
            InstantClass::Flat
        };
    }
    let degraded = m.contrast < MIN_CONTRAST_RATIO || m.detail < MIN_DETAIL_RATIO;
    if m.correlation >= SAME_PICTURE_CORRELATION && degraded {
        InstantClass::Degraded
    } else if clip_std < MIN_INFORMATIVE_STDDEV || confident_mismatch {
        InstantClass::Mismatch
    } else if m.mad <= MAD_MATCH_MAX && m.ssim >= SSIM_MATCH_MIN && !degraded {
        InstantClass::Match
    } else {
        InstantClass::Undecided
    }
}

/// What the comparison concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The clip shows the source at the claimed time.
    Match,
    /// A confident mismatch at some informative instant.
    Mismatch,
    /// The clip shows the source, but degraded (blurred, contrast crushed, shrunk).
    Degraded,
    /// Neither (too few informative instants in the source, or too many undecided).
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
    /// The informative instants' counts and worst measures, for notes and logs.
    pub fn summary(&self) -> String {
        let judged: Vec<&InstantScore> = self.instants.iter().filter(|s| s.informative()).collect();
        let count = |c: InstantClass| judged.iter().filter(|s| s.class == c).count();
        let worst_mad = judged.iter().map(|s| s.mad).fold(0.0, f64::max);
        let worst_ssim = judged.iter().map(|s| s.ssim).fold(1.0, f64::min);
        let worst_quality = judged.iter().map(|s| s.contrast.min(s.detail)).fold(f64::INFINITY, f64::min);
        format!(
            "{} of {} instants judged ({} match, {} mismatch, {} degraded), offset {:+.1} s, max MAD {worst_mad:.1}, \
             min SSIM {worst_ssim:.3}, min contrast/detail ratio {:.2}",
            judged.len(),
            self.instants.len(),
            count(InstantClass::Match),
            count(InstantClass::Mismatch),
            count(InstantClass::Degraded),
            self.offset_frames as f64 / SAMPLE_FPS,
            if worst_quality.is_finite() { worst_quality } else { 1.0 },
        )
    }
}

/// The scores of the `instants` (clip sample indices) at common `offset`, each taking the
/// best of ±1 sample around it; `None` when some instant falls outside either video.
fn scores_at(
    clip: &GreyFrames,
    source: &GreyFrames,
    base: i64,
    offset: i64,
    instants: &[usize],
) -> Option<Vec<InstantScore>> {
    instants
        .iter()
        .map(|&c| {
            if c >= clip.len() {
                return None;
            }
            let centre = base + c as i64 + offset;
            (centre - 1..=centre + 1)
                .filter_map(|s| usize::try_from(s).ok().filter(|&s| s < source.len()))
                .map(|s| score(clip, source, c, s))
                .max_by(|a, b| a.fit().total_cmp(&b.fit()))
        })
        .collect()
}

/// Compares `clip` (sampled from its start) with `source`, whose sample `base` shows the
/// claimed start, at the clip samples `instants`, searching the best common offset within
/// ±[`MAX_OFFSET_FRAMES`]. Instants past the clip's end are dropped.
pub fn compare(clip: &GreyFrames, source: &GreyFrames, base: i64, instants: &[usize]) -> Comparison {
    let instants: Vec<usize> = instants.iter().copied().filter(|&c| c < clip.len()).collect();
    let mut best: Option<(f64, i64, Vec<InstantScore>)> = None;
    for offset in -MAX_OFFSET_FRAMES..=MAX_OFFSET_FRAMES {
        let Some(scores) = scores_at(clip, source, base, offset, &instants) else { continue };
        let fit = scores.iter().map(InstantScore::fit).sum::<f64>();
        // Prefer the smallest shift among equal fits.
        if best.as_ref().is_none_or(|(f, o, _)| fit > *f + 1e-9 || (fit > *f - 1e-9 && offset.abs() < o.abs())) {
            best = Some((fit, offset, scores));
        }
    }
    match best {
        Some((_, offset_frames, instants)) if !instants.is_empty() => {
            Comparison { verdict: verdict(&instants), offset_frames, instants }
        }
        _ => Comparison { verdict: Verdict::Inconclusive, offset_frames: 0, instants: Vec::new() },
    }
}

/// Mismatch when any informative instant is a confident mismatch; degraded when any is
/// degraded; inconclusive with fewer than [`MIN_JUDGED`] informative instants; match when
/// all informative instants but [`MAX_UNDECIDED`] match; inconclusive otherwise.
pub fn verdict(instants: &[InstantScore]) -> Verdict {
    let count = |c: InstantClass| instants.iter().filter(|s| s.class == c).count();
    let judged = instants.iter().filter(|s| s.informative()).count();
    if count(InstantClass::Mismatch) > 0 {
        Verdict::Mismatch
    } else if count(InstantClass::Degraded) > 0 {
        Verdict::Degraded
    } else if judged < MIN_JUDGED {
        Verdict::Inconclusive
    } else if count(InstantClass::Match) + MAX_UNDECIDED >= judged {
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
        assert!((correlation(&a, &a) - 1.0).abs() < 1e-9);
        let inv: Vec<u8> = a.iter().map(|&x| 255 - x).collect();
        assert!(ssim(&a, &inv, 64) < 0.0);
        assert!(correlation(&a, &inv) < -0.99);
        assert!(mean_abs_diff(&a, &inv) > 50.0);
        assert_eq!(stddev(&[7; 100]), 0.0);
        assert_eq!(correlation(&[7; 100], &a[..100]), 0.0, "a flat image correlates with nothing");
        assert_eq!(detail(&[7; 400], 20), 0.0);
        assert!(detail(&a, 64) > 1.0);
    }

    fn score(class: InstantClass) -> InstantScore {
        InstantScore {
            at: 0.0,
            mad: 0.0,
            ssim: 1.0,
            correlation: 1.0,
            contrast: 1.0,
            detail: 1.0,
            source_stddev: 40.0,
            class,
        }
    }

    #[test]
    fn one_failing_instant_fails_and_a_match_needs_nearly_all() {
        use InstantClass::*;
        let v = |classes: &[InstantClass]| verdict(&classes.iter().map(|&c| score(c)).collect::<Vec<_>>());
        assert_eq!(v(&[Match; 14]), Verdict::Match);
        let mut one_bad = [Match; 14];
        one_bad[7] = Mismatch;
        assert_eq!(v(&one_bad), Verdict::Mismatch, "one confident mismatch is enough");
        one_bad[7] = Degraded;
        assert_eq!(v(&one_bad), Verdict::Degraded);
        one_bad[7] = Undecided;
        assert_eq!(v(&one_bad), Verdict::Match, "one undecided instant is tolerated");
        one_bad[8] = Undecided;
        assert_eq!(v(&one_bad), Verdict::Inconclusive, "two are not");
        assert_eq!(v(&[Flat, Flat, Flat, Match, Match]), Verdict::Inconclusive, "too few judged");
        assert_eq!(v(&[Flat, Flat, Flat, Match, Match, Match]), Verdict::Match);
        assert_eq!(v(&[Flat, Flat, Flat, Mismatch]), Verdict::Mismatch);
    }

    fn measures(mad: f64, ssim: f64, correlation: f64, contrast: f64, detail: f64, source_stddev: f64) -> InstantScore {
        InstantScore { at: 0.0, mad, ssim, correlation, contrast, detail, source_stddev, class: InstantClass::Flat }
    }

    #[test]
    fn low_information_is_no_hiding_place() {
        // The source has structure, the clip none (black, or another video crushed flat).
        assert_eq!(classify(&measures(5.0, 0.8, 0.0, 0.02, 0.1, 40.0), 0.8), InstantClass::Mismatch);
        // The same picture with its contrast crushed or blurred away is degraded.
        assert_eq!(classify(&measures(30.0, 0.3, 0.9, 0.04, 0.9, 40.0), 1.6), InstantClass::Degraded);
        assert_eq!(classify(&measures(6.0, 0.7, 0.95, 0.9, 0.3, 40.0), 36.0), InstantClass::Degraded);
        // The reference's MAD threshold alone or SSIM alone makes a confident mismatch.
        assert_eq!(classify(&measures(19.0, 0.9, 0.2, 1.0, 1.0, 40.0), 40.0), InstantClass::Mismatch);
        assert_eq!(classify(&measures(5.0, 0.4, 0.2, 1.0, 1.0, 40.0), 40.0), InstantClass::Mismatch);
        assert_eq!(classify(&measures(14.0, 0.6, 0.7, 1.0, 1.0, 40.0), 40.0), InstantClass::Undecided);
        assert_eq!(classify(&measures(1.0, 0.99, 0.99, 1.0, 1.0, 40.0), 40.0), InstantClass::Match);
        // A flat source frame is not judged, unless the clip clearly shows something else.
        assert_eq!(classify(&measures(2.0, 0.2, 0.0, 1.0, 1.0, 1.0), 1.0), InstantClass::Flat);
        assert_eq!(classify(&measures(60.0, 0.0, 0.0, 30.0, 1.0, 1.0), 30.0), InstantClass::Mismatch);
    }

    #[test]
    fn geometry_filter_is_the_miners() {
        let cmd = super::super::ffmpeg::clip_command(Path::new("in.mp4"), 0.0, 5.0, false, Path::new("o.mp4"), 1);
        assert!(cmd.get_args().any(|a| a == CLIP_GEOMETRY_FILTER));
    }
}
