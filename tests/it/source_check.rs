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

/// Writes an executable fake yt-dlp that records its arguments (one per line) into
/// `args.txt` beside it and then runs `body` (`$OUT` is the `-o` path with `%(ext)s`
/// replaced by `mp4`).
fn fake_yt_dlp(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("mkdir");
    let script = dir.join("yt-dlp");
    let args = dir.join("args.txt");
    let text = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nOUT=''\nPREV=''\nfor a in \"$@\"; do\n  if [ \"$PREV\" = '-o' ]; then OUT=\"$a\"; fi\n  PREV=\"$a\"\ndone\nOUT=$(printf '%s' \"$OUT\" | sed 's/%(ext)s/mp4/')\n{body}\n",
        args.display()
    );
    std::fs::write(&script, text).expect("write script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

fn recorded_args(script: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(script.with_file_name("args.txt")).unwrap_or_default();
    text.lines().map(str::to_string).collect()
}

#[tokio::test]
async fn yt_dlp_fetches_only_the_section_with_the_operator_options_and_caches_it() {
    let fx = Fixture::new().await;
    // What YouTube would serve for `*4.000-11.000`: those seconds, at 854x480.
    let section = fx.path("section.mp4");
    ffmpeg(&[
        "-ss",
        "4",
        "-i",
        &fx.source_a.display().to_string(),
        "-t",
        "7",
        "-vf",
        "scale=854:480",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "26",
        "-pix_fmt",
        "yuv420p",
        &section.display().to_string(),
    ])
    .await;
    let script = fake_yt_dlp(&fx.path("bin"), &format!("cp '{}' \"$OUT\"", section.display()));
    let clip = miner_cut(&fx.source_a, ID_A, START, &fx.path("cut")).await;
    let mut fetch = settings(fx.tmp.path(), None, &script);
    fetch.cookies_file = Some(PathBuf::from("/etc/nexis/cookies.txt"));
    fetch.proxy = Some("socks5://127.0.0.1:1080".into());
    let check = check_with(fetch.clone(), false);
    let result = check.check(&request("miner", 1), &row("clip0", ID_A, START), 0, &clip).await;
    assert!(result.failures.is_empty() && result.unavailable.is_empty(), "{result:?}");
    assert_eq!(check.stats.take().matched, 1);
    let args = recorded_args(&script);
    let after = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    assert_eq!(after("--download-sections").as_deref(), Some("*4.000-11.000"));
    assert!(after("-f").is_some_and(|f| f.contains("height<=720")), "{args:?}");
    assert_eq!(after("--cookies").as_deref(), Some("/etc/nexis/cookies.txt"));
    assert_eq!(after("--proxy").as_deref(), Some("socks5://127.0.0.1:1080"));
    assert!(args.iter().any(|a| a == "--no-playlist"), "{args:?}");
    assert_eq!(args.last().map(String::as_str), Some("https://www.youtube.com/watch?v=srcAAAAAAAA"));
    assert!(fetch.cache_path(ID_A, START).is_file(), "the section is cached under (video id, start)");

    // A second check of the same (video, start) uses the cache, not yt-dlp.
    std::fs::remove_file(script.with_file_name("args.txt")).expect("rm");
    let again = check.check(&request("miner", 1), &row("clip0", ID_A, START), 0, &clip).await;
    assert!(again.failures.is_empty() && again.unavailable.is_empty(), "{again:?}");
    assert!(recorded_args(&script).is_empty(), "yt-dlp must not run again");

    // The same section served for a clip cut 2 s later is a mismatch.
    let later = miner_cut(&fx.source_a, ID_A, START + 2.0, &fx.path("later")).await;
    assert_eq!(
        codes(&check.check(&request("miner", 1), &row("clip0", ID_A, START), 0, &later).await),
        vec!["source_frame_mismatch:clip0"]
    );
}

#[tokio::test]
async fn a_source_that_cannot_be_fetched_never_fails_the_miner() {
    let fx = Fixture::new().await;
    let clip = miner_cut(&fx.source_a, ID_A, START, &fx.path("cut")).await;
    let bin = fx.path("bin");
    let cases = [
        ("bot check", "echo \"ERROR: [youtube] x: Sign in to confirm you're not a bot\" >&2\nexit 1", "yt-dlp failed"),
        (
            "geo-blocked",
            "echo 'ERROR: [youtube] x: Video unavailable. The uploader has not made this video available in your country' >&2\nexit 1",
            "yt-dlp failed",
        ),
        ("plain video unavailable", "echo 'ERROR: [youtube] x: Video unavailable' >&2\nexit 1", "yt-dlp failed"),
        ("hangs", "exec sleep 60", "timed out"),
        ("no file", "exit 0", "wrote no file"),
        ("too large", "head -c 3000000 /dev/zero > \"$OUT.part\"\nexec sleep 60", "size cap"),
    ];
    for (i, (name, body, why)) in cases.into_iter().enumerate() {
        let script = fake_yt_dlp(&bin.join(i.to_string()), body);
        let mut fetch = settings(&fx.path(&format!("w{i}")), None, &script);
        fetch.timeout = Duration::from_secs(2);
        fetch.max_section_bytes = 1 << 20;
        let check = check_with(fetch, true);
        let result = check.check(&request("miner", 1), &row("clip0", ID_A, START), 0, &clip).await;
        assert!(result.failures.is_empty(), "{name}: {:?}", codes(&result));
        assert_eq!(result.unavailable.len(), 1, "{name}: {result:?}");
        assert!(
            result.unavailable[0].starts_with("source:clip0: ") && result.unavailable[0].contains(why),
            "{name}: {:?}",
            result.unavailable
        );
        assert_eq!(check.stats.take().unavailable, 1, "{name}");
    }
    // No yt-dlp at all.
    let check = check_with(settings(&fx.path("none"), None, Path::new("/nonexistent/yt-dlp")), true);
    let result = check.check(&request("miner", 1), &row("clip0", ID_A, START), 0, &clip).await;
    assert!(result.failures.is_empty() && result.unavailable[0].contains("not found"), "{result:?}");
}

#[tokio::test]
async fn a_video_youtube_says_twice_is_missing_fails_unless_configured_soft() {
    let fx = Fixture::new().await;
    let clip = miner_cut(&fx.source_a, ID_A, START, &fx.path("cut")).await;
    let answers = [
        ("does not exist", "Incomplete YouTube ID srcAAAAAAAA. URL looks truncated."),
        ("private", "Private video. Sign in if you've been granted access to this video"),
        ("removed", "Video unavailable. This video has been removed by the uploader"),
    ];
    for (i, (name, answer)) in answers.into_iter().enumerate() {
        // Counts its runs in `runs` beside it.
        let body = format!(
            "echo run >> \"$(dirname \"$0\")/runs\"\necho \"ERROR: [youtube] srcAAAAAAAA: {answer}\" >&2\nexit 1"
        );
        let script = fake_yt_dlp(&fx.path(&format!("bin{i}")), &body);
        for hard in [false, true] {
            let check = check_with(settings(&fx.path(&format!("w{i}{hard}")), None, &script), hard);
            let result = check.check(&request("miner", 1), &row("clip0", ID_A, START), 0, &clip).await;
            let want: Vec<String> = if hard { vec!["source_unavailable:clip0".into()] } else { Vec::new() };
            assert_eq!(codes(&result), want, "{name}, hard = {hard}");
            assert!(result.remarks.iter().any(|r| r.starts_with("source_unavailable:clip0: ")), "{:?}", result.remarks);
            assert!(result.unavailable.is_empty(), "{name}");
            assert_eq!(check.stats.take().not_found, 1);
        }
        let runs = std::fs::read_to_string(script.with_file_name("runs")).unwrap_or_default();
        assert_eq!(runs.lines().count(), 4, "{name}: asked twice per check");
    }
    // Rows past the configured maximum are not checked at all.
    let script = fake_yt_dlp(&fx.path("skip_bin"), "exit 1");
    let check = check_with(settings(&fx.path("skip"), None, &script), true);
    assert_eq!(
        check.check(&request("miner", 1), &row("clip0", ID_A, START), 3, &clip).await,
        RowCheckResult::default()
    );
}

#[tokio::test]
async fn a_missing_answer_that_does_not_repeat_is_not_believed() {
    let fx = Fixture::new().await;
    let clip = miner_cut(&fx.source_a, ID_A, START, &fx.path("cut")).await;
    // The first run says "private", the second serves the section `*4-11`.
    let section = fx.path("section.mp4");
    let source = fx.source_a.display().to_string();
    let cut = ["-ss", "4", "-i", &source, "-t", "7", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"];
    ffmpeg(&[&cut[..], &[section.to_str().expect("utf-8 path")]].concat()).await;
    let body = format!(
        "if [ -f \"$(dirname \"$0\")/ran\" ]; then cp '{}' \"$OUT\"; exit 0; fi\ntouch \"$(dirname \"$0\")/ran\"\necho 'ERROR: [youtube] x: Private video' >&2\nexit 1",
        section.display()
    );
    let script = fake_yt_dlp(&fx.path("bin"), &body);
    let check = check_with(settings(&fx.path("w"), None, &script), true);
    let result = check.check(&request("miner", 1), &row("clip0", ID_A, START), 0, &clip).await;
    assert!(result.failures.is_empty() && result.unavailable.is_empty(), "{result:?}");
    let stats = check.stats.take();
    assert_eq!((stats.not_found, stats.matched), (0, 1), "{stats:?}");
}

#[tokio::test]
async fn repeatedly_inconclusive_miners_are_named_in_the_notes() {
    let fx = Fixture::new().await;
    // A source without structure (a flat grey field) cannot vouch for any clip.
    let id = "srcGREYAAAA";
    let source = fx.mirror.join(format!("{id}.mp4"));
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:size=1280x720:rate=30",
        "-t",
        "12",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        &source.display().to_string(),
    ])
    .await;
    let clip = miner_cut(&source, id, START, &fx.path("grey")).await;
    let check = check_with(settings(fx.tmp.path(), Some(&fx.mirror), Path::new("/nonexistent/yt-dlp")), true);
    let repeated =
        |r: &RowCheckResult| r.remarks.iter().filter(|m| m.starts_with("source_inconclusive_repeated:")).count();
    for interval in [1, 2] {
        let result = check.check(&request("miner", interval), &row("clip0", id, START), 0, &clip).await;
        assert!(result.failures.is_empty(), "{result:?}");
        assert!(result.remarks.iter().any(|m| m.contains("inconclusive")), "{result:?}");
        assert_eq!(repeated(&result), 0, "interval {interval}: not repeated yet");
    }
    // Another miner's inconclusive clip does not count for this one.
    let other = check.check(&request("other", 3), &row("clip0", id, START), 0, &clip).await;
    assert_eq!(repeated(&other), 0);
    let third = check.check(&request("miner", 3), &row("clip0", id, START), 0, &clip).await;
    assert_eq!(repeated(&third), 1, "{:?}", third.remarks);
    let stats = check.stats.take();
    assert_eq!((stats.inconclusive, stats.repeated_inconclusive), (4, 1), "{stats:?}");
}

// ------------------------------------------------------------ pipeline, CLI and sidecar

/// A golden-clip package whose every row claims its own source (`{tag}` padded to 11
/// characters) from second 0, so the clip itself is an honest source.
fn package_from_start(miner: &str, interval: u64, tag: &str) -> crate::support::TestPackage {
    let mut p = crate::validate_service::package(miner, interval, tag);
    for r in p.records.iter_mut() {
        r.clip_start_sec = 0.0;
    }
    p.write();
    p
}

/// Fills `mirror` with a source for every row of `p`: the clip itself (honest), or a
/// video that has nothing to do with it (`fake`).
fn mirror_sources(p: &crate::support::TestPackage, mirror: &Path, fake: Option<&Path>) {
    std::fs::create_dir_all(mirror).expect("mkdir");
    for (i, r) in p.records.iter().enumerate() {
        let from = fake.map_or_else(|| p.clip_path(i), Path::to_path_buf);
        std::fs::copy(from, mirror.join(format!("{}.mp4", r.source_video_id))).expect("copy source");
    }
}

/// `nexis check --json` of `dir` with the source mirror; the exit code and the decision.
async fn run_check(dir: &Path, tmp: &Path, mirror: &Path, source_check: bool) -> (Option<i32>, serde_json::Value) {
    let interval = crate::support::INTERVAL.to_string();
    let dir = dir.display().to_string();
    let mut args = vec!["check", &dir, "--hotkey", crate::support::MINER, "--interval", &interval, "--json"];
    if source_check {
        args.push("--source-check");
    }
    let envs = [
        ("NEXIS_SOURCE_CACHE_DIR", mirror.display().to_string()),
        ("NEXIS_WORKDIR", tmp.join("work").display().to_string()),
        ("NEXIS_YT_DLP", "/nonexistent/yt-dlp".to_string()),
    ];
    let out = crate::support::nexis_command(tmp, &envs).args(&args).output().await.expect("run nexis");
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no decision JSON: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

#[tokio::test]
async fn nexis_check_with_source_check_accepts_honest_and_rejects_fabricated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = tmp.path().join("fake.mp4");
    moving_source(&fake, "mandelbrot", 1280, 720).await;
    let interval = crate::support::INTERVAL;
    let honest = package_from_start(crate::support::MINER, interval, "hon");
    let fabricated = package_from_start(crate::support::MINER, interval, "fab");
    let mirror = tmp.path().join("mirror");
    mirror_sources(&honest, &mirror, None);
    mirror_sources(&fabricated, &mirror, Some(&fake));
    let (code, d) = run_check(honest.dir(), tmp.path(), &mirror, true).await;
    assert_eq!(code, Some(0), "{d}");
    assert!(d["notes"].get("unavailable_checks").is_none(), "{d}");
    let (code, d) = run_check(fabricated.dir(), tmp.path(), &mirror, true).await;
    assert_eq!(code, Some(1), "{d}");
    let failures: Vec<String> = d["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(failures.len(), 3, "every sampled row fails: {d}");
    assert!(failures.iter().all(|f| f.starts_with("source_frame_mismatch:")), "{d}");
    // Without the flag (the default) the fabricated package passes: nothing else catches it.
    let (code, d) = run_check(fabricated.dir(), tmp.path(), &mirror, false).await;
    assert_eq!(code, Some(0), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_source_auth_posts_exactly_the_mismatching_hotkeys() {
    use nexis::chain::Chain;
    use nexis::protocol::IntervalClock;
    use nexis::validator::{IntervalEvaluator, IntervalSettings, Seat, SourceAuthSidecar};

    use crate::api_client::{Mode, TestServer};
    use crate::validate_service::{NETUID, World, hotkey, publish};

    let w = World::new().await;
    let fake = w.tmp.path().join("fake.mp4");
    moving_source(&fake, "mandelbrot", 1280, 720).await;
    let mirror = w.tmp.path().join("mirror");
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register validator");
    let [honest, fabricator, unreachable, other_fabricator] = [21, 22, 23, 24].map(hotkey);
    for (key, tag, source) in [
        (&honest, "hon", Some(None)),
        (&fabricator, "fab", Some(Some(fake.as_path()))),
        (&unreachable, "unr", None),
        (&other_fabricator, "fa2", Some(Some(fake.as_path()))),
    ] {
        let store = w.miner(key, true).await;
        let p = package_from_start(&key.ss58(), 0, tag);
        if let Some(fake) = source {
            mirror_sources(&p, &mirror, fake);
        }
        publish(store.as_ref(), 0, p.dir()).await;
    }
    // The unreachable miner's sources need a download, and yt-dlp fails (a bot check).
    let script =
        fake_yt_dlp(&w.tmp.path().join("bin"), "echo 'ERROR: Sign in to confirm you are not a bot' >&2\nexit 1");
    let server = TestServer::start(Mode::Normal).await;
    let mut fetch = settings(w.tmp.path(), Some(&mirror), &script);
    fetch.timeout = Duration::from_secs(30);
    let check = check_with(fetch, false);
    let chain: Arc<dyn Chain> = Arc::new(w.chain.clone());
    let seat = Seat { netuid: NETUID, clock: IntervalClock::default(), hotkey: Arc::new(validator.clone()) };
    let settings = IntervalSettings {
        expected_category: Some(crate::support::CATEGORY.into()),
        miner_concurrency: 2,
        miner_budget: Duration::from_secs(600),
        upload_grace: Duration::from_secs(1 << 32),
        ..IntervalSettings::default()
    };
    let packages = crate::support::validator_with(Default::default()).with_row_check(Arc::new(check));
    let sidecar = SourceAuthSidecar {
        evaluator: IntervalEvaluator::new(seat, chain, w.stores(), packages, settings),
        api: Some(server.api(Duration::from_secs(10))),
        state_path: w.tmp.path().join("source-auth/last_interval"),
    };
    assert!(sidecar.tick().await.expect("nothing closed yet").is_empty());
    w.chain.advance(52).expect("advance");
    let reports = sidecar.tick().await.expect("tick");
    let mut want = vec![fabricator.ss58(), other_fabricator.ss58()];
    want.sort();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].interval_id, reports[0].evaluated), (0, 4));
    assert_eq!(reports[0].reported, want);
    let got = server.received();
    assert_eq!(got.len(), 1, "one signed post per interval");
    assert_eq!((got[0].method.as_str(), got[0].path.as_str()), ("POST", "/v1/invalid-hotkeys"));
    assert_eq!(got[0].verdict, Ok(()), "the server verifies the signature");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).expect("json body");
    assert_eq!(body, serde_json::json!({"interval_id": 0, "invalid_hotkeys": want}));
    // The interval is done: the next poll posts nothing more.
    assert!(sidecar.tick().await.expect("tick").is_empty());
    assert_eq!(server.received().len(), 1);
}
