//! The yt-dlp downloader against a stand-in script: 720p mp4, no playlists, an explicit output
//! path, cached sources skipped, failures and hangs bounded.

use super::*;

#[tokio::test]
async fn yt_dlp_gets_720p_mp4_no_playlist_an_explicit_path_and_is_skipped_for_cached_sources() {
    use nexis::miner::sources::parse_sources;

    let tmp = tempfile::tempdir().expect("tempdir");
    let source = parse_sources("https://www.youtube.com/watch?v=dlTESTAAAAA").remove(0);
    let downloader = |binary: PathBuf, attempts: u32, timeout: Duration| Downloader {
        raw_dir: tmp.path().join("raw"),
        binary,
        timeout,
        attempts,
        extra_args: Vec::new(),
    };
    let ok = downloader(fake_yt_dlp(tmp.path(), "ok"), 1, Duration::from_secs(30));
    let path = ok.fetch(&source).await.expect("download");
    assert_eq!(path, tmp.path().join("raw/dlTESTAAAAA.mp4"));
    assert_eq!(std::fs::read(&path).expect("file"), b"video");
    let log = std::fs::read_to_string(tmp.path().join("yt-dlp-ok.log")).expect("log");
    let args: Vec<&str> = log.lines().collect();
    assert!(args.contains(&"--no-playlist"), "{args:?}");
    let format = args.iter().position(|a| *a == "-f").map(|i| args[i + 1]).expect("-f");
    assert!(format.starts_with("bv*[height<=720]") && !format.contains("height>"), "{format}");
    let merge = args.iter().position(|a| *a == "--merge-output-format").map(|i| args[i + 1]);
    assert_eq!(merge, Some("mp4"));
    let out = args.iter().position(|a| *a == "-o").map(|i| args[i + 1]).expect("-o");
    assert!(out.starts_with(&tmp.path().join("raw").display().to_string()), "explicit output path: {out}");
    assert_eq!(args.last(), Some(&"---"));
    assert_eq!(args[args.len() - 2], "https://www.youtube.com/watch?v=dlTESTAAAAA");
    // Cached: no second call.
    ok.fetch(&source).await.expect("cached");
    let calls = std::fs::read_to_string(tmp.path().join("yt-dlp-ok.log")).expect("log").matches("---").count();
    assert_eq!(calls, 1);

    // Failures are retried, then reported with yt-dlp's message; nothing is left behind.
    let other = parse_sources("https://youtu.be/dlFAILAAAAA").remove(0);
    let failing = downloader(fake_yt_dlp(tmp.path(), "fail"), 2, Duration::from_secs(30));
    let err = failing.fetch(&other).await.expect_err("fails");
    assert!(matches!(err, DownloadError::Failed { .. }) && err.to_string().contains("Video unavailable"), "{err}");
    let calls = std::fs::read_to_string(tmp.path().join("yt-dlp-fail.log")).expect("log").matches("---").count();
    assert_eq!(calls, 2);
    assert!(!tmp.path().join("raw/dlFAILAAAAA.mp4").exists());

    // A hanging download is cut off by the timeout.
    let hanging = downloader(fake_yt_dlp(tmp.path(), "hang"), 1, Duration::from_millis(300));
    assert!(matches!(hanging.fetch(&other).await, Err(DownloadError::Timeout(_))));
}
