//! The source-authenticity stage on real media: moving synthetic sources made with
//! ffmpeg, clips cut by the miner's own clipper, honest re-encodes that must pass,
//! fabrications (another source, a 2 s shift, a mirror) that must fail, letterboxed
//! sources, and a fake `yt-dlp` speaking its command line (arguments, failure, hang,
//! size cap). Run with `--no-capture` to see the measured similarity numbers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nexis::dataset::SampledRow;
use nexis::media::compare::{Comparison, Geometry, InstantClass, SAMPLE_FPS, Verdict, compare, grey_frames};
use nexis::media::ffmpeg::run_ffmpeg;
use nexis::media::instants::{instant_seed, plan_instants};
use nexis::media::{Ffprobe, MediaProbe};
use nexis::miner::clipper::Clipper;
use nexis::miner::sources::Source;
use nexis::protocol::IntervalId;
use nexis::validator::{
    IntervalTerms, PackageRequest, RowCheck, RowCheckResult, SourceCheck, SourceFetchSettings, SourceStats,
};

const TIMEOUT: Duration = Duration::from_secs(120);
const ID_A: &str = "srcAAAAAAAA";
const START: f64 = 5.0;
/// The deadline block hash of the test interval (the randomness the instants are drawn
/// from) and the validator's hotkey.
const BLOCK_HASH: &str = "5eed000000000000000000000000000000000000000000000000000000000001";
const VALIDATOR: &str = "5ValidatorHotkey";

/// The request of `miner`'s package in `interval` under the test terms.
fn request(miner: &str, interval: u64) -> PackageRequest {
    let terms = IntervalTerms {
        interval_id: IntervalId::new(interval),
        validator_hotkey: Some(VALIDATOR.into()),
        interval_seed: format!("{interval:064x}"),
        expected_category: None,
        enabled_specs: vec!["video_v1".into()],
        upload_deadline: None,
        extra_sample_seed: Some(BLOCK_HASH.into()),
    };
    PackageRequest::new(miner, Arc::new(terms))
}

/// The instants the stage compares for `clip_id` under the test terms.
fn instants_of(clip_id: &str, samples: usize) -> Vec<usize> {
    plan_instants(&instant_seed(BLOCK_HASH, Some(VALIDATOR), clip_id), samples)
}

async fn ffmpeg(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run_ffmpeg(&args, TIMEOUT).await.expect("ffmpeg runs");
}

/// A 12-second moving source: a lavfi generator scrolling sideways (global motion, so
/// two seconds apart look different), H.264 with a normal GOP.
async fn moving_source(path: &Path, generator: &str, width: u32, height: u32) {
    scrolling_source(path, generator, width, height, "h=0.004:v=0.001").await;
}

/// A 12-second source of `generator` scrolling by `scroll` (the `scroll` filter's options).
async fn scrolling_source(path: &Path, generator: &str, width: u32, height: u32, scroll: &str) {
    let input = format!("{generator}=size={width}x{height}:rate=30");
    let (w, h) = (width.to_string(), height.to_string());
    let filter = format!("scroll={scroll},scale={w}:{h},setsar=1");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &input,
        "-t",
        "12",
        "-vf",
        &filter,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-g",
        "60",
        "-pix_fmt",
        "yuv420p",
        &path.display().to_string(),
    ])
    .await;
}

/// Re-encodes `input` to `output` with the video filter and encoder settings given.
async fn reencode(input: &Path, output: &Path, filter: &str, crf: &str, preset: &str) {
    ffmpeg(&[
        "-i",
        &input.display().to_string(),
        "-vf",
        filter,
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-crf",
        crf,
        "-pix_fmt",
        "yuv420p",
        "-an",
        &output.display().to_string(),
    ])
    .await;
}

/// Cuts `[start, start+5)` of `input` with the miner's clipper; returns the clip path.
async fn miner_cut(input: &Path, video_id: &str, start: f64, out: &Path) -> PathBuf {
    let probe: Arc<dyn MediaProbe> = Arc::new(Ffprobe::new(None, Duration::from_secs(60)));
    let clipper = Clipper { probe, timeout: TIMEOUT, threads: 1 };
    let source =
        Source { video_id: video_id.into(), url: format!("https://www.youtube.com/watch?v={video_id}"), line: 1 };
    clipper.cut(&source, input, start, false, out).await.expect("the miner cuts the clip").clip_path
}

fn row(clip_id: &str, video_id: &str, start: f64) -> SampledRow {
    SampledRow {
        index: 0,
        clip_id: clip_id.into(),
        clip_uri: format!("clips/{clip_id}.mp4"),
        clip_sha256: String::new(),
        first_frame_uri: String::new(),
        first_frame_sha256: String::new(),
        fps: 30.0,
        caption: String::new(),
        source_video_id: video_id.into(),
        source_video_url: format!("https://www.youtube.com/watch?v={video_id}"),
        clip_start_sec: start,
    }
}

fn settings(dir: &Path, mirror: Option<&Path>, yt_dlp: &Path) -> SourceFetchSettings {
    SourceFetchSettings {
        yt_dlp: yt_dlp.to_path_buf(),
        timeout: Duration::from_secs(60),
        max_section_bytes: 64 << 20,
        cache_dir: dir.join("source-cache"),
        cache_max_bytes: 256 << 20,
        mirror_dir: mirror.map(Path::to_path_buf),
        cookies_file: None,
        proxy: None,
    }
}

fn check_with(fetch: SourceFetchSettings, hard: bool) -> SourceCheck {
    SourceCheck {
        fetch,
        max_rows: 3,
        not_found_is_hard: hard,
        ffmpeg_timeout: TIMEOUT,
        stats: Arc::new(SourceStats::default()),
    }
}

/// The raw comparison of `clip` with the mirror file of the source, as the stage does it
/// (the instants the stage draws for `clip0` under the test terms).
async fn measure(clip: &Path, source: &Path, start: f64) -> Comparison {
    let c = grey_frames(clip, 0.0, 5.0, Geometry::Clip, TIMEOUT).await.expect("clip frames");
    let seek = (start - 0.7).max(0.0);
    let s = grey_frames(source, seek, 6.4, Geometry::FitToClip, TIMEOUT).await.expect("source frames");
    compare(&c, &s, ((start - seek) * SAMPLE_FPS).round() as i64, &instants_of("clip0", c.len()))
}

/// One line of the margins table: verdict, offset, and the ranges of every measure over
/// the informative instants.
fn report(label: &str, c: &Comparison) {
    let judged: Vec<_> = c.instants.iter().filter(|s| s.informative()).collect();
    let range = |f: &dyn Fn(&nexis::media::compare::InstantScore) -> f64| {
        let lo = judged.iter().map(|s| f(s)).fold(f64::INFINITY, f64::min);
        let hi = judged.iter().map(|s| f(s)).fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.2}–{hi:.2}")
    };
    let classes: Vec<String> = c.instants.iter().map(|s| format!("{:?}", s.class)).collect();
    println!(
        "| {label} | {:?} | {}/{} | {} | {} | {} | {} | {} | offset {:+} [{}]",
        c.verdict,
        judged.len(),
        c.instants.len(),
        range(&|s| s.mad),
        range(&|s| s.ssim),
        range(&|s| s.correlation),
        range(&|s| s.contrast),
        range(&|s| s.detail),
        c.offset_frames,
        classes.join(" ")
    );
}

/// Re-encodes `input` through the video filter `vf` (CRF 23, ultrafast).
async fn filtered(input: &Path, output: &Path, vf: &str) -> PathBuf {
    reencode(input, output, vf, "23", "ultrafast").await;
    output.to_path_buf()
}

/// `base` with `top` shown over it while `when` (an ffmpeg expression of `t`) holds.
async fn overlay_when(base: &Path, top: &Path, when: &str, output: &Path) -> PathBuf {
    let graph = format!("[0:v][1:v]overlay=enable='{when}',format=yuv420p[v]");
    ffmpeg(&[
        "-i",
        &base.display().to_string(),
        "-i",
        &top.display().to_string(),
        "-filter_complex",
        &graph,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "23",
        "-an",
        &output.display().to_string(),
    ])
    .await;
    output.to_path_buf()
}

/// An ffmpeg condition true within `half` seconds of any of `times`.
fn near(times: &[f64], half: f64) -> String {
    times.iter().map(|t| format!("between(t,{:.2},{:.2})", t - half, t + half)).collect::<Vec<_>>().join("+")
}

struct Fixture {
    tmp: tempfile::TempDir,
    mirror: PathBuf,
    source_a: PathBuf,
}

impl Fixture {
    async fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mirror = tmp.path().join("mirror");
        std::fs::create_dir_all(&mirror).expect("mkdir");
        let source_a = mirror.join(format!("{ID_A}.mp4"));
        moving_source(&source_a, "testsrc2", 1280, 720).await;
        Self { tmp, mirror, source_a }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    async fn run(&self, clip: &Path, video_id: &str, start: f64) -> RowCheckResult {
        let check = check_with(settings(self.tmp.path(), Some(&self.mirror), Path::new("/nonexistent/yt-dlp")), false);
        check.check(&request("miner", 1), &row("clip0", video_id, start), 0, clip).await
    }
}

fn codes(r: &RowCheckResult) -> Vec<String> {
    r.failures.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn honest_clips_and_reencodes_pass() {
    let fx = Fixture::new().await;
    let clip = miner_cut(&fx.source_a, ID_A, START, &fx.path("cut")).await;
    let variants = [
        ("crf35_lanczos_bicubic", "scale=640:360:flags=lanczos,scale=1280:720:flags=bicubic", "35", "ultrafast"),
        ("crf28_bilinear_medium", "scale=960:540:flags=bilinear,scale=1280:720:flags=neighbor", "28", "medium"),
    ];
    let mut clips = vec![("miner_cut".to_string(), clip.clone())];
    for (name, filter, crf, preset) in variants {
        let out = fx.path(&format!("{name}.mp4"));
        reencode(&clip, &out, filter, crf, preset).await;
        clips.push((name.to_string(), out));
    }
    // The validator's copy of the source may be another rendition: 854x480 at CRF 30.
    let low = fx.path("low480.mp4");
    reencode(&fx.source_a, &low, "scale=854:480:flags=bicubic", "30", "veryfast").await;
    // The miner may have downloaded that 480p rendition and cut (upscaled) from it.
    clips.push(("cut_from_480p_copy".into(), miner_cut(&low, ID_A, START, &fx.path("from480")).await));
    for (name, clip) in &clips {
        report(&format!("honest {name}"), &measure(clip, &fx.source_a, START).await);
        report(&format!("honest {name} vs 480p source"), &measure(clip, &low, START).await);
        let result = fx.run(clip, ID_A, START).await;
        assert!(result.failures.is_empty(), "{name}: {:?} {:?}", codes(&result), result.remarks);
        assert!(result.unavailable.is_empty(), "{name}: {:?}", result.unavailable);
        assert!(result.remarks.is_empty(), "{name} must be a clear match: {:?}", result.remarks);
        assert_eq!(measure(clip, &low, START).await.verdict, Verdict::Match, "{name} vs the 480p rendition");
    }
}

#[tokio::test]
async fn honest_slow_pans_near_stills_and_scene_cuts_pass() {
    let fx = Fixture::new().await;
    let cases = [
        ("slow pan", "srcPANAAAAA", "testsrc2", "h=0.0005"),
        ("near-still shot", "srcSTILLAAA", "testsrc2", "h=0.00005"),
        ("scene cut inside the clip", "srcCUTAAAAA", "cut", "h=0.004:v=0.001"),
    ];
    for (name, id, generator, scroll) in cases {
        let source = fx.mirror.join(format!("{id}.mp4"));
        if generator == "cut" {
            // testsrc2 until 7.52 s, then another picture: a hard cut 2.52 s into the clip.
            let (a, b) = (fx.path("cut_a.mp4"), fx.path("cut_b.mp4"));
            scrolling_source(&a, "testsrc2", 1280, 720, scroll).await;
            scrolling_source(&b, "mandelbrot", 1280, 720, scroll).await;
            overlay_when(&a, &b, "gte(t,7.52)", &source).await;
        } else {
            scrolling_source(&source, generator, 1280, 720, scroll).await;
        }
        let clip = miner_cut(&source, id, START, &fx.path(id)).await;
        let crf35 = fx.path(&format!("{id}_crf35.mp4"));
        reencode(&clip, &crf35, "scale=640:360:flags=lanczos,scale=1280:720:flags=bicubic", "35", "ultrafast").await;
        for (variant, clip) in [("cut", &clip), ("CRF 35 re-encode", &crf35)] {
            report(&format!("honest {name}, {variant}"), &measure(clip, &source, START).await);
            let result = fx.run(clip, id, START).await;
            assert!(result.failures.is_empty() && result.remarks.is_empty(), "{name} {variant}: {:?}", result.remarks);
        }
    }
}

/// The old public instants (before the instants were drawn per clip).
const OLD_INSTANTS: [f64; 5] = [0.1, 1.2, 2.5, 3.7, 4.8];

#[tokio::test]
async fn fabricated_clips_fail_with_source_frame_mismatch() {
    let fx = Fixture::new().await;
    let other = fx.path("other.mp4");
    moving_source(&other, "mandelbrot", 1280, 720).await;
    let sibling = fx.path("sibling.mp4");
    moving_source(&sibling, "testsrc", 1280, 720).await;
    let honest = miner_cut(&fx.source_a, ID_A, START, &fx.path("cut")).await;
    let other_clip = miner_cut(&other, "srcBBBBBBBB", START, &fx.path("b")).await;
    // Real footage only around instants a miner might guess: the old public ones, or the
    // ones the validator would draw for a block hash other than the real one.
    let guessed: Vec<f64> = plan_instants(&instant_seed("guessed-hash", Some(VALIDATOR), "clip0"), 50)
        .into_iter()
        .map(|i| i as f64 / SAMPLE_FPS)
        .collect();
    let fabricated = [
        ("another video (mandelbrot)", other_clip.clone()),
        ("another video (testsrc)", miner_cut(&sibling, "srcCCCCCCCC", START, &fx.path("c")).await),
        ("shift +2 s", miner_cut(&fx.source_a, ID_A, START + 2.0, &fx.path("later2")).await),
        ("shift -2 s", miner_cut(&fx.source_a, ID_A, START - 2.0, &fx.path("earlier2")).await),
        ("shift +1 s", miner_cut(&fx.source_a, ID_A, START + 1.0, &fx.path("later1")).await),
        ("shift -1 s", miner_cut(&fx.source_a, ID_A, START - 1.0, &fx.path("earlier1")).await),
        ("mirrored", filtered(&honest, &fx.path("mirrored.mp4"), "hflip").await),
        (
            "real for 52 %, then another video",
            overlay_when(&other_clip, &honest, "lt(t,2.6)", &fx.path("splice.mp4")).await,
        ),
        (
            "another video in the last 0.2 s",
            overlay_when(&honest, &other_clip, "gte(t,4.8)", &fx.path("tail.mp4")).await,
        ),
        (
            "real only 0.3 s around 3 old instants",
            overlay_when(&other_clip, &honest, &near(&OLD_INSTANTS[1..4], 0.15), &fx.path("near3.mp4")).await,
        ),
        (
            "real only 0.2 s around all 5 old instants",
            overlay_when(&other_clip, &honest, &near(&OLD_INSTANTS, 0.1), &fx.path("near5.mp4")).await,
        ),
        (
            "real only 0.3 s around guessed instants",
            overlay_when(&other_clip, &honest, &near(&guessed, 0.15), &fx.path("guessed.mp4")).await,
        ),
        ("black", filtered(&honest, &fx.path("black.mp4"), "drawbox=c=black:t=fill").await),
        ("another video, contrast 0.04", filtered(&other_clip, &fx.path("flat.mp4"), "eq=contrast=0.04").await),
        ("40 % inset", filtered(&honest, &fx.path("inset40.mp4"), "scale=512:288,pad=1280:720:384:216").await),
        ("10 % inset", filtered(&honest, &fx.path("inset10.mp4"), "scale=128:72,pad=1280:720:576:324").await),
    ];
    for (name, clip) in &fabricated {
        report(&format!("fabricated {name}"), &measure(clip, &fx.source_a, START).await);
        let result = fx.run(clip, ID_A, START).await;
        assert_eq!(codes(&result), vec!["source_frame_mismatch:clip0"], "{name}: {:?}", result.remarks);
        assert!(result.unavailable.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn degraded_copies_fail_with_source_frame_degraded() {
    let fx = Fixture::new().await;
    let honest = miner_cut(&fx.source_a, ID_A, START, &fx.path("cut")).await;
    let degraded = [
        ("blur 20", "boxblur=20"),
        ("blur 40", "boxblur=40"),
        ("real footage, contrast 0.04", "eq=contrast=0.04"),
        ("real footage, contrast 0.3", "eq=contrast=0.3"),
    ];
    for (name, vf) in degraded {
        let clip = filtered(&honest, &fx.path(&format!("{}.mp4", name.replace([' ', ','], "_"))), vf).await;
        let measured = measure(&clip, &fx.source_a, START).await;
        report(&format!("degraded {name}"), &measured);
        assert!(measured.instants.iter().any(|s| s.class == InstantClass::Degraded), "{name}");
        let result = fx.run(&clip, ID_A, START).await;
        assert_eq!(codes(&result), vec!["source_frame_degraded:clip0"], "{name}: {:?}", result.remarks);
    }
}

#[tokio::test]
async fn letterboxed_honest_sources_pass() {
    let fx = Fixture::new().await;
    for (name, w, h, id) in [("4:3", 960, 720, "src43AAAAAA"), ("9:16", 720, 1280, "src916AAAAA")] {
        let source = fx.mirror.join(format!("{id}.mp4"));
        moving_source(&source, "testsrc2", w, h).await;
        let clip = miner_cut(&source, id, START, &fx.path(id)).await;
        report(&format!("honest letterboxed {name}"), &measure(&clip, &source, START).await);
        let result = fx.run(&clip, id, START).await;
        assert!(result.failures.is_empty() && result.remarks.is_empty(), "{name}: {:?}", result.remarks);
        // The same clip claimed from the 16:9 source is a fabrication.
        let wrong = fx.run(&clip, ID_A, START).await;
        assert_eq!(codes(&wrong), vec!["source_frame_mismatch:clip0"], "{name} claimed as 16:9");
    }
}

mod fetch;
mod service;
