//! Near-duplicate footage across miners: the perceptual hash of first frames measured on
//! real ffmpeg media (honest clips of different sources and of one source 5 s apart must
//! not match; re-encoded, rescaled and slightly cropped copies must), and the interval
//! pruning a miner that republishes another miner's footage under other video ids
//! (`duplicate_content`), within an interval and against the recorded index. Run with
//! `--no-capture` to see the measured distances.

use std::path::Path;
use std::time::{Duration, SystemTime};

use nexis::media::ffmpeg::{first_frame, run_ffmpeg};
use nexis::media::fingerprint::{Fingerprint, MAX_DISTANCE, fingerprint_jpeg};
use nexis::protocol::{Block, IntervalClock, IntervalId};

use crate::support::sha256_hex;
use crate::validate_service::{NETUID, World, evaluate, hotkey, package, publish, set_mtime};

const TIMEOUT: Duration = Duration::from_secs(120);

async fn ffmpeg(args: &[String]) {
    run_ffmpeg(args, TIMEOUT).await.expect("ffmpeg runs");
}

/// A 10.5-second source of `generator`, scrolling sideways (global motion).
async fn source(path: &Path, generator: &str) {
    let args = [
        "-f",
        "lavfi",
        "-i",
        &format!("{generator}{}size=1280x720:rate=30", if generator.contains('=') { ":" } else { "=" }),
        "-t",
        "10.5",
        "-vf",
        "scroll=h=0.004:v=0.001,setsar=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-pix_fmt",
        "yuv420p",
    ];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push(path.display().to_string());
    ffmpeg(&args).await;
}

/// The first-frame JPEG (as the miner writes it) of a half-second clip of `source` from
/// `start`, encoded through `vf` at `crf`.
async fn first_frame_of(source: &Path, start: f64, vf: &str, crf: u32, out: &Path) -> Fingerprint {
    let clip = out.with_extension("mp4");
    let args = [
        "-ss".to_string(),
        format!("{start:.3}"),
        "-i".into(),
        source.display().to_string(),
        "-t".into(),
        "0.5".into(),
        "-vf".into(),
        vf.into(),
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        "ultrafast".into(),
        "-crf".into(),
        crf.to_string(),
        "-pix_fmt".into(),
        "yuv420p".into(),
        clip.display().to_string(),
    ];
    ffmpeg(&args).await;
    first_frame(&clip, out, TIMEOUT).await.expect("first frame");
    fingerprint_jpeg(&std::fs::read(out).expect("jpeg")).expect("a fingerprint")
}

/// Moving synthetic sources with texture, deterministic (a fixed seed where the
/// generator draws one). Not `rgbtestsrc`, `colorspectrum` or `gradients`: flat bars and
/// smooth gradients leave too few strong frequencies for a stable hash (measured: a CRF 35
/// copy of rgbtestsrc moved 16 bits, of a gradients frame 20); real footage has texture.
const GENERATORS: [&str; 5] = ["testsrc2", "testsrc", "mandelbrot", "smptehdbars", "sierpinski=seed=7"];
const HONEST: &str = "scale=1280:720";
const COPIES: [(&str, &str, u32); 5] = [
    ("re-encoded CRF 35, lanczos down, bicubic up", "scale=640:360:flags=lanczos,scale=1280:720:flags=bicubic", 35),
    ("480p copy upscaled", "scale=854:480:flags=bilinear,scale=1280:720:flags=bicubic", 28),
    ("cropped 3 % and rescaled", "crop=iw*0.97:ih*0.97,scale=1280:720", 23),
    ("cropped 5 % and rescaled", "crop=iw*0.95:ih*0.95,scale=1280:720", 23),
    ("brightness +0.05, CRF 30", "eq=brightness=0.05,scale=1280:720", 30),
];

#[tokio::test]
async fn fingerprints_tell_copies_from_other_footage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut honest: Vec<(String, Fingerprint)> = Vec::new();
    let mut worst_copy = 0;
    for generator in GENERATORS {
        let src = tmp.path().join(format!("{}.mp4", generator.replace('=', "_")));
        source(&src, generator).await;
        for start in [0.0, 5.0] {
            let name = format!("{}@{start}", generator.split('=').next().unwrap_or(generator));
            let original = first_frame_of(&src, start, HONEST, 18, &tmp.path().join(format!("{name}.jpg"))).await;
            for (i, (label, vf, crf)) in COPIES.iter().enumerate() {
                let out = tmp.path().join(format!("{name}-copy{i}.jpg"));
                let copy = first_frame_of(&src, start, vf, *crf, &out).await;
                let d = original.distance(copy);
                println!("copy {name:<16} {label:<46} distance {d}");
                assert!(d <= MAX_DISTANCE, "{name} {label}: distance {d} > {MAX_DISTANCE}");
                worst_copy = worst_copy.max(d);
            }
            honest.push((name, original));
        }
    }
    let mut closest = (u32::MAX, String::new());
    for (i, (a, fa)) in honest.iter().enumerate() {
        for (b, fb) in &honest[i + 1..] {
            let d = fa.distance(*fb);
            assert!(d > MAX_DISTANCE, "honest {a} and {b} match: distance {d}");
            if d < closest.0 {
                closest = (d, format!("{a} / {b}"));
            }
        }
    }
    let pairs = honest.len() * (honest.len() - 1) / 2;
    println!(
        "{} copies: largest distance {worst_copy}; {pairs} honest pairs: smallest distance {} ({}); threshold {MAX_DISTANCE}",
        GENERATORS.len() * 2 * COPIES.len(),
        closest.0,
        closest.1
    );
}

/// Re-encodes every first frame of `p` (smaller, lower quality: a re-encoded copy's frame)
/// and fixes the hashes.
async fn reencode_frames(p: &mut crate::support::TestPackage) {
    for r in p.records.iter_mut() {
        let path = p.tmp.path().join(&r.first_frame_uri);
        let tmp = path.with_extension("tmp.jpg");
        let args = ["-i", &path.display().to_string(), "-vf", "scale=854:480,scale=1280:720", "-q:v", "9"]
            .iter()
            .map(|a| a.to_string())
            .chain([tmp.display().to_string()])
            .collect::<Vec<_>>();
        ffmpeg(&args).await;
        std::fs::rename(&tmp, &path).expect("replace frame");
        r.first_frame_sha256 = sha256_hex(&std::fs::read(&path).expect("frame"));
    }
    p.write();
}

fn duplicate_notes(d: &nexis::model::Decision) -> Vec<String> {
    d.notes.duplicate_content.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_republishing_footage_under_other_ids_is_pruned_as_duplicate_content() {
    let w = World::new().await;
    let validator = hotkey(1);
    w.chain.register(NETUID, &validator.ss58()).expect("register validator");
    let (first, copier) = (hotkey(31), hotkey(32));
    let (store_first, store_copier) = (w.miner(&first, true).await, w.miner(&copier, true).await);
    let now = SystemTime::now();
    let original = package(&first.ss58(), 0, "orig");
    publish(store_first.as_ref(), 0, original.dir()).await;
    set_mtime(&w.object_path(&first.ss58(), "0/manifest.json"), now - Duration::from_secs(600));
    // The same footage, frames re-encoded, claimed from other video ids: no overlap key.
    let mut copy = package(&copier.ss58(), 0, "copy");
    reencode_frames(&mut copy).await;
    publish(store_copier.as_ref(), 0, copy.dir()).await;
    set_mtime(&w.object_path(&copier.ss58(), "0/manifest.json"), now - Duration::from_secs(300));

    let mut config = w.config(&validator, IntervalClock::default(), Duration::from_secs(1 << 32));
    config.packages = config.packages.with_fingerprints(true);
    let service = config.build().expect("validator");
    let block = w.chain.advance(52).expect("advance");
    let report = evaluate(&service, IntervalId::new(0), Block::new(block)).await.expect("evaluate");
    let by: std::collections::BTreeMap<_, _> =
        report.record.decisions.iter().map(|d| (d.miner_hotkey.clone(), d)).collect();
    let (a, c) = (by[&first.ss58()], by[&copier.ss58()]);
    assert!(a.accepted && c.accepted, "pruning never rejects: {a:?} {c:?}");
    assert_eq!((a.record_count, a.notes.duplicate_content_pruned_count), (12, None), "the earlier uploader keeps it");
    assert_eq!(c.record_count, 0, "{:?}", c.notes);
    assert_eq!(c.notes.duplicate_content_pruned_count, Some(12));
    let first_ids: std::collections::BTreeSet<&str> = original.records.iter().map(|r| r.clip_id.as_str()).collect();
    let notes = duplicate_notes(c);
    assert_eq!(notes.len(), 12);
    for note in &notes {
        let parts: Vec<&str> = note.split(':').collect();
        assert_eq!(parts[0], "duplicate_content", "{note}");
        assert!(copy.records.iter().any(|r| r.clip_id == parts[1]), "{note}");
        assert!(first_ids.contains(parts[2]), "matched clip is the first miner's: {note}");
    }
    assert_eq!(report.record.fingerprint_entries.len(), 12, "only kept rows enter the index");

    // Recorded, the fingerprints stay: the copy published again later is still caught,
    // now against the index (the first miner's rows are published overlaps by then).
    assert!(service.state.record_interval(&report.record).expect("record"));
    let again = evaluate(&service, IntervalId::new(0), Block::new(block)).await.expect("evaluate");
    let c = again.record.decisions.iter().find(|d| d.miner_hotkey == copier.ss58()).expect("copier");
    assert_eq!((c.record_count, c.notes.duplicate_content_pruned_count), (0, Some(12)), "{:?}", c.notes);
    assert_eq!(c.notes.global_overlap_pruned_count, Some(0), "not an overlap: other claimed sources");
}
