//! Native (in-process MP4) and ffprobe probing reach the same decision and failure codes:
//! on every golden clip and golden case, on clips made here with ffmpeg (sizes, rates,
//! audio or not, B-frames, cropping, 4:4:4), and on hostile files (patched `mvhd`, `tkhd`
//! and `mdhd` durations, a patched sample-entry size, Matroska renamed `.mp4`, a cut
//! `moov`, a cut `mdat`, huge sample tables, fragments, an edit list that drops frames).
//! Plain files must be read natively (not merely handed to ffprobe), unusual ones must be.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nexis::media::{DEFAULT_MAX_MOOV_BYTES, Ffprobe, MediaError, MediaProbe, NativeProbe, VideoInfo, inspect};
use nexis::storage::{LocalStore, PrefixStore};
use nexis::validator::{PackageLimits, PackageValidator, media_failures};

use crate::golden::golden_requests;
use crate::support::{golden_dir, nexis_command, repo};

fn ffprobe() -> Ffprobe {
    Ffprobe::new(None, Duration::from_secs(60))
}

fn native() -> NativeProbe {
    NativeProbe::new(ffprobe(), Duration::from_secs(60))
}

/// The failure codes the asset stage gives a probe result, for a row declaring `fps`.
fn verdict(result: &Result<VideoInfo, MediaError>, fps: f64) -> Vec<String> {
    match result {
        Ok(info) => media_failures("c", info, fps).iter().map(ToString::to_string).collect(),
        Err(MediaError::ToolMissing { .. }) => panic!("ffprobe is needed for this test"),
        Err(_) => vec!["invalid_clip_media:c".into()],
    }
}

/// Probes `path` both ways and asserts the same verdict for several declared rates.
async fn assert_parity(path: &Path) -> (Result<VideoInfo, MediaError>, Result<VideoInfo, MediaError>) {
    let by_ffprobe = ffprobe().probe(path).await;
    let by_native = native().probe(path).await;
    for fps in [24.0, 25.0, 29.97, 30.0, 60.0] {
        assert_eq!(
            verdict(&by_native, fps),
            verdict(&by_ffprobe, fps),
            "{} at {fps} fps: native {by_native:?}, ffprobe {by_ffprobe:?}",
            path.display()
        );
    }
    (by_native, by_ffprobe)
}

/// For a plain file: native read it itself, and its facts are ffprobe's.
fn assert_same_facts(path: &Path, native: &VideoInfo, ffprobe: &VideoInfo) {
    let direct = inspect(path, DEFAULT_MAX_MOOV_BYTES);
    assert!(direct.is_ok(), "{} should be read natively: {direct:?}", path.display());
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-3 * b.abs().max(1.0),
        _ => false,
    };
    assert_eq!(
        (native.width(), native.height(), native.frame_count(), native.has_audio(), native.codec()),
        (ffprobe.width(), ffprobe.height(), ffprobe.frame_count(), ffprobe.has_audio(), ffprobe.codec()),
        "{}",
        path.display()
    );
    assert!(close(native.fps(), ffprobe.fps()), "fps {native:?} vs {ffprobe:?}");
    assert!(close(native.duration_sec(), ffprobe.duration_sec()), "duration {native:?} vs {ffprobe:?}");
}

fn mp4_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            mp4_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "mp4") {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_clip_gets_the_same_verdict_and_plain_ones_the_same_facts() {
    let mut files = Vec::new();
    mp4_files(&golden_dir(), &mut files);
    files.sort();
    // The cases share most clips: each distinct file once.
    let mut seen = std::collections::HashSet::new();
    let clips: Vec<PathBuf> = files.into_iter().filter(|p| seen.insert(std::fs::read(p).expect("clip"))).collect();
    assert!(clips.len() >= 12, "golden clips: {}", clips.len());
    let mut native_reads = 0;
    for clip in &clips {
        if let (Ok(n), Ok(f)) = assert_parity(clip).await {
            assert_same_facts(clip, &n, &f);
            native_reads += 1;
        }
    }
    assert!(native_reads >= clips.len() - 2, "only {native_reads} of {} read natively", clips.len());
}

async fn decide_all(probe: Arc<dyn MediaProbe>) -> Vec<(String, bool, Vec<String>)> {
    let mut out = Vec::new();
    for (name, request) in golden_requests() {
        let validator = PackageValidator::new(
            nexis::spec::SpecRegistry::builtin().expect("specs"),
            probe.clone(),
            PackageLimits::default(),
            std::env::temp_dir().join("nexis-tests"),
        );
        let dir = golden_dir().join(&name).join("package");
        let store = PrefixStore::new(LocalStore::new(&dir), format!("{}/", request.interval_id()));
        let d = validator.validate(&store, &request).await.expect("environment").decision;
        out.push((name, d.accepted, d.failures.iter().map(ToString::to_string).collect()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_case_is_decided_the_same_by_both_probes() {
    let probe = native();
    let counts = probe.counts();
    let by_native = decide_all(Arc::new(probe)).await;
    let by_ffprobe = decide_all(Arc::new(ffprobe())).await;
    assert!(by_native.len() >= 22);
    assert_eq!(by_native, by_ffprobe);
    assert!(counts.native() > counts.fallback(), "native {} fallback {}", counts.native(), counts.fallback());
}

fn ffmpeg(args: &[&str], out: &Path) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?}");
}

/// A test-pattern clip: `size`, `rate` (ffmpeg syntax), `seconds`, extra encoder args.
fn make(dir: &Path, name: &str, size: &str, rate: &str, seconds: u32, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let source = format!("testsrc2=size={size}:rate={rate}:duration={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &source];
    args.extend_from_slice(extra);
    if !extra.contains(&"-c:v") {
        args.extend_from_slice(&["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]);
    }
    ffmpeg(&args, &out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_clips_are_read_natively_with_ffprobes_facts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    let audio = ["-f", "lavfi", "-i", "sine=duration=5", "-c:a", "aac", "-shortest", "-movflags", "+faststart"];
    let clips = [
        make(d, "plain.mp4", "1280x720", "30", 5, &[]),
        make(d, "audio.mp4", "1280x720", "30", 5, &audio),
        make(d, "small.mp4", "854x480", "30", 5, &[]),
        make(d, "pal.mp4", "1280x720", "25", 5, &[]),
        make(d, "ntsc.mp4", "1280x720", "30000/1001", 5, &[]),
        make(d, "sixty.mp4", "1280x720", "60", 5, &[]),
        make(d, "long.mp4", "1280x720", "30", 7, &[]),
        make(d, "cropped.mp4", "1278x718", "30", 5, &[]),
        make(d, "bframes.mp4", "1280x720", "30", 5, &["-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p"]),
        make(d, "444.mp4", "1280x720", "30", 5, &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"]),
    ];
    for clip in &clips {
        let (n, f) = assert_parity(clip).await;
        assert_same_facts(clip, &n.expect("native"), &f.expect("ffprobe"));
    }
}

/// The offset of the first box of type `kind` (its type field).
fn find(bytes: &[u8], kind: &[u8; 4]) -> usize {
    bytes.windows(4).position(|w| w == kind).unwrap_or_else(|| panic!("{} box", String::from_utf8_lossy(kind)))
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

fn get_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Sets a version-0 `mvhd`/`mdhd` duration to `seconds` of its own timescale.
fn patch_header_duration(bytes: &mut [u8], kind: &[u8; 4], seconds: u32) {
    let at = find(bytes, kind);
    assert_eq!(bytes[at + 4], 0, "version 0");
    let timescale = get_u32(bytes, at + 16);
    put_u32(bytes, at + 20, timescale * seconds);
}

/// Sets the first `tkhd` (version 0) duration to `seconds` of the movie timescale.
fn patch_tkhd(bytes: &mut [u8], seconds: u32) {
    let movie_timescale = get_u32(bytes, find(bytes, b"mvhd") + 16);
    let at = find(bytes, b"tkhd");
    assert_eq!(bytes[at + 4], 0, "version 0");
    put_u32(bytes, at + 24, movie_timescale * seconds);
}

fn variant(dir: &Path, source: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(source).expect("read");
    edit(&mut bytes);
    let out = dir.join(name);
    std::fs::write(&out, bytes).expect("write");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patched_durations_are_read_natively_from_the_sample_tables() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    let long = make(d, "long.mp4", "1280x720", "30", 20, &[]);
    let short = make(d, "short.mp4", "1280x720", "30", 5, &[]);
    let cases = [
        variant(d, &long, "mvhd.mp4", |b| patch_header_duration(b, b"mvhd", 5)),
        variant(d, &long, "mdhd.mp4", |b| patch_header_duration(b, b"mdhd", 5)),
        variant(d, &long, "tkhd.mp4", |b| patch_tkhd(b, 5)),
        variant(d, &long, "all.mp4", |b| {
            patch_header_duration(b, b"mvhd", 5);
            patch_header_duration(b, b"mdhd", 5);
            patch_tkhd(b, 5);
        }),
        variant(d, &short, "longer.mp4", |b| {
            patch_header_duration(b, b"mvhd", 20);
            patch_header_duration(b, b"mdhd", 20);
            patch_tkhd(b, 20);
        }),
    ];
    for (i, clip) in cases.iter().enumerate() {
        let (n, f) = assert_parity(clip).await;
        let (n, f) = (n.expect("native"), f.expect("ffprobe"));
        assert_same_facts(clip, &n, &f);
        let real = if i < 4 { 20.0 } else { 5.0 };
        assert!((n.duration_sec().expect("duration") - real).abs() < 0.05, "{}: {n:?}", clip.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusual_files_are_left_to_ffprobe_and_decided_alike() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    let plain = make(d, "plain.mp4", "1280x720", "30", 5, &["-movflags", "+faststart"]);
    let small = make(d, "small.mp4", "854x480", "30", 5, &[]);
    let size = std::fs::metadata(&plain).expect("size").len() as usize;
    let unusual = [
        make(d, "matroska.mp4", "1280x720", "30", 5, &["-f", "matroska"]),
        make(d, "fragmented.mp4", "1280x720", "30", 5, &["-movflags", "frag_keyframe+empty_moov"]),
        variant(d, &plain, "cut-moov.mp4", |b| {
            let moov = find(b, b"moov");
            b.truncate(moov + 200);
        }),
        variant(d, &plain, "cut-mdat.mp4", |b| b.truncate(size * 6 / 10)),
        variant(d, &plain, "huge-stsz.mp4", |b| {
            let at = find(b, b"stsz");
            put_u32(b, at + 12, 0x7fff_ffff);
        }),
        variant(d, &plain, "huge-stts.mp4", |b| {
            let at = find(b, b"stts");
            put_u32(b, at + 12, 0x7fff_ffff);
        }),
        variant(d, &plain, "huge-stts-run.mp4", |b| {
            let at = find(b, b"stts");
            put_u32(b, at + 12, 1);
            put_u32(b, at + 16, 100_000_000);
        }),
        variant(d, &plain, "short-edit.mp4", |b| {
            let at = find(b, b"elst");
            let segment = get_u32(b, at + 12);
            put_u32(b, at + 12, segment / 2);
        }),
        variant(d, &small, "entry-says-720p.mp4", |b| {
            let stsd = find(b, b"stsd");
            let at = stsd + find(&b[stsd..], b"avc1");
            b[at + 28..at + 30].copy_from_slice(&1280u16.to_be_bytes());
            b[at + 30..at + 32].copy_from_slice(&720u16.to_be_bytes());
        }),
        variant(d, &plain, "random.mp4", |b| {
            let mut x = 0x2545_f491_u32;
            for byte in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *byte = x as u8;
            }
        }),
    ];
    for clip in &unusual {
        let direct = inspect(clip, DEFAULT_MAX_MOOV_BYTES);
        assert!(direct.is_err(), "{} must be left to ffprobe, read as {direct:?}", clip.display());
        let probe = native();
        let counts = probe.counts();
        let by_native = probe.probe(clip).await;
        assert_eq!((counts.native(), counts.fallback()), (0, 1), "{}", clip.display());
        let by_ffprobe = ffprobe().probe(clip).await;
        for fps in [25.0, 30.0] {
            assert_eq!(verdict(&by_native, fps), verdict(&by_ffprobe, fps), "{}", clip.display());
        }
    }
    // A moov over the cap is left to ffprobe too.
    assert!(inspect(&plain, 64).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_accepts_both_probe_settings() {
    let package = golden_dir().join("valid_12").join("package");
    for probe in ["native", "ffprobe"] {
        let out = nexis_command(&repo(), &[("NEXIS_PROBE", probe.to_string())])
            .arg("check")
            .arg(&package)
            .args(["--hotkey", "5E9hadicAvnFuoGDeCwddoaSz4kaG4zv56h5YnwFpsUC9fx9", "--interval", "7756800", "--json"])
            .output()
            .await
            .expect("nexis check");
        assert!(out.status.success(), "{probe}: {}", String::from_utf8_lossy(&out.stderr));
        let decision: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(decision["accepted"], true, "{probe}");
    }
    let out = nexis_command(&repo(), &[])
        .args(["check", "--probe", "sometimes"])
        .arg(&package)
        .args(["--hotkey", "x", "--interval", "1"])
        .output()
        .await
        .expect("nexis check");
    assert_eq!(out.status.code(), Some(2), "an unknown prober is a usage error");
}
