//! Fetching sources with a fake `yt-dlp` speaking its command line: the section and the
//! operator's options, failures, hangs, the size cap, and what YouTube says is missing.

use super::*;

/// Writes an executable fake yt-dlp that records its arguments (one per line) into
/// `args.txt` beside it and then runs `body` (`$OUT` is the `-o` path with `%(ext)s`
/// replaced by `mp4`).
pub(super) fn fake_yt_dlp(dir: &Path, body: &str) -> PathBuf {
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
