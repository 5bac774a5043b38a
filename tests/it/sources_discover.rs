//! Source discovery with a stand-in yt-dlp on PATH that answers a search with canned
//! results: `nexis sources discover` keeps only the candidates the filters allow, records
//! them once with their query in the state file, passes the cookies and proxy settings,
//! and `nexis mine` with NEXIS_SOURCES_QUERIES mines what the search found. The category
//! pre-check fetches each new result's thumbnail from a local server and skips the one a
//! chat-completions stub labels off-category.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::chat_server::{Answer, CHAT_KEY, ChatServer};
use crate::support::nexis_command;

/// Canned search results: one good, one too short, one 480p only, one live, one good
/// under Creative Commons, one with a broken id.
fn results() -> Vec<Value> {
    let v = |id: &str, duration: f64, height: u32, live: &str, license: Option<&str>| {
        json!({"id": id, "title": format!("video {id}"), "duration": duration, "height": height,
               "live_status": live, "license": license,
               "webpage_url": format!("https://www.youtube.com/watch?v={id}")})
    };
    vec![
        v("goodAAAAAAA", 600.0, 1080, "not_live", None),
        v("shortAAAAAA", 12.0, 1080, "not_live", None),
        v("lowresAAAAA", 600.0, 480, "not_live", None),
        v("liveAAAAAAA", 600.0, 1080, "is_live", None),
        v("ccAAAAAAAAA", 300.0, 720, "not_live", Some("Creative Commons Attribution license (reuse allowed)")),
        json!({"id": "../etc", "duration": 600.0, "height": 1080}),
    ]
}

/// Puts a fake `yt-dlp` in `dir/bin`: it logs its arguments; a search (`ytsearchN:`)
/// prints the canned results, a download copies `pool/{id}.mp4` to the `-o` path.
fn fake_yt_dlp(dir: &Path) -> PathBuf {
    fake_yt_dlp_with(dir, &results())
}

/// [`fake_yt_dlp`] answering searches with `results`.
fn fake_yt_dlp_with(dir: &Path, results: &[Value]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let lines: Vec<String> = results.iter().map(Value::to_string).collect();
    std::fs::write(dir.join("results.jsonl"), lines.join("\n") + "\n").expect("results");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{dir}/yt-dlp.log'\necho --- >> '{dir}/yt-dlp.log'\n\
         for last; do :; done\ncase \"$last\" in\n  ytsearch*) cat '{dir}/results.jsonl' ;;\n  *) out=''\n\
         while [ $# -gt 1 ]; do if [ \"$1\" = -o ]; then out=\"$2\"; fi; shift; done\n\
         exec cp '{dir}/pool/'\"${{1##*v=}}\".mp4 \"$out\" ;;\nesac\n",
        dir = dir.display()
    );
    let path = bin.join("yt-dlp");
    std::fs::write(&path, script).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

fn path_with(bin: &Path) -> String {
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

fn state(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("work/discovered-sources.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("state line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_keeps_what_the_filters_allow_and_records_provenance_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let bin = fake_yt_dlp(dir);
    std::fs::write(dir.join("cookies.txt"), "# Netscape HTTP Cookie File\n").expect("cookies");
    let envs = vec![
        ("PATH", path_with(&bin)),
        ("NEXIS_WORKDIR", dir.join("work").display().to_string()),
        ("NEXIS_YTDLP_COOKIES_FILE", dir.join("cookies.txt").display().to_string()),
        ("NEXIS_YTDLP_PROXY", "socks5://127.0.0.1:1080".to_string()),
    ];
    let args = ["sources", "discover", "--query", "misty mountain lake", "--limit", "6", "--json"];
    let out = nexis_command(dir, &envs).args(args).output().await.expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let kept: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let ids: Vec<&str> = kept.iter().filter_map(|c| c["video_id"].as_str()).collect();
    assert_eq!(ids, ["goodAAAAAAA", "ccAAAAAAAAA"], "{stderr}");
    let log = std::fs::read_to_string(dir.join("yt-dlp.log")).expect("log");
    let logged: Vec<&str> = log.lines().collect();
    assert!(logged.contains(&"ytsearch6:misty mountain lake"), "{log}");
    let after = |flag: &str| logged.iter().position(|a| *a == flag).map(|i| logged[i + 1]);
    assert_eq!(after("--cookies"), Some(dir.join("cookies.txt").to_str().expect("utf8")));
    assert_eq!(after("--proxy"), Some("socks5://127.0.0.1:1080"));

    let recorded = state(dir);
    assert_eq!(recorded.len(), 2);
    assert!(recorded.iter().all(|r| r["query"] == "misty mountain lake" && r["discovered_at"].is_string()));

    // Creative Commons only; a second run records nothing twice.
    let out = nexis_command(dir, &envs).args(args).args(["--license", "cc"]).output().await.expect("run");
    assert!(out.status.success());
    let kept: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["video_id"], "ccAAAAAAAAA");
    assert_eq!(state(dir).len(), 2, "no source recorded twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_miner_mines_what_its_search_phrases_find() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let bin = fake_yt_dlp(dir);
    std::fs::create_dir_all(dir.join("pool")).expect("pool");
    for (seed, id) in ["goodAAAAAAA", "ccAAAAAAAAA"].into_iter().enumerate() {
        let clip = nexis::media::synth::SynthClip {
            width: 854,
            height: 480,
            seconds: 6.0,
            seed: seed as u32,
            ..Default::default()
        };
        nexis::media::synth::synth_clip(&dir.join(format!("pool/{id}.mp4")), &clip).await.expect("source");
    }
    std::fs::write(dir.join("queries.txt"), "# phrases\nmisty mountain lake\n").expect("queries");
    crate::mine::miner_wallet(dir);
    let chat = crate::mine::caption_server().await;
    let mut envs = crate::mine::miner_env(dir, &chat);
    envs.retain(|(k, _)| *k != "NEXIS_SOURCES_FILE");
    envs.push(("NEXIS_SOURCES_FILE", dir.join("none.txt").display().to_string()));
    envs.push(("NEXIS_SOURCES_QUERIES", dir.join("queries.txt").display().to_string()));
    envs.push(("PATH", path_with(&bin)));
    let out = crate::mine::nexis(dir, &["mine", "--once", "--interval", "7756800", "--out", "bucket"], &envs).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["records"], 2, "one clip from each discovered source: {summary}\n{stderr}");
    assert_eq!(state(dir).len(), 2);
}

/// Writes a flat-colour picture of `size` in the format `path`'s extension names.
async fn picture(path: &Path, colour: &str, size: &str) {
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={colour}:s={size}"))
        .args(["-frames:v", "1"])
        .arg(path)
        .status()
        .await
        .expect("ffmpeg");
    assert!(status.success(), "making {}", path.display());
}

/// Serves the files of `dir` at `/{name}`; stops when the returned task is dropped.
async fn thumbnail_server(dir: PathBuf) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use axum::extract::Path as UrlPath;
    let app = axum::Router::new().route(
        "/{name}",
        axum::routing::get(move |UrlPath(name): UrlPath<String>| {
            let dir = dir.clone();
            async move { std::fs::read(dir.join(name)).map_err(|_| axum::http::StatusCode::NOT_FOUND) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (addr, tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") }))
}

/// The stub's category judge: decodes the image of the request (a JPEG, as nexis sends
/// it) and labels a mostly green picture nature, anything else urban.
fn label_by_colour(body: &Value) -> Answer {
    let parts = body["messages"][1]["content"].as_array().cloned().unwrap_or_default();
    let urls: Vec<&str> = parts.iter().filter_map(|p| p["image_url"]["url"].as_str()).collect();
    let [url] = urls.as_slice() else { return Answer::Text(format!("expected one image, got {}", urls.len())) };
    let b64 = url.strip_prefix("data:image/jpeg;base64,").expect("a JPEG data URL");
    let jpeg = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64");
    let pixels = jpeg_decoder::Decoder::new(jpeg.as_slice()).decode().expect("a JPEG");
    let mean = |c: usize| pixels.iter().skip(c).step_by(3).map(|&v| f64::from(v)).sum::<f64>();
    let green = mean(1) > mean(0) * 1.5 && mean(1) > mean(2) * 1.5;
    let frame = if green {
        json!({"winner": "nature", "nature_score": 0.92, "people_score": 0, "animal_score": 0,
               "vehicle_score": 0, "urban_score": 0.05, "indoor_score": 0})
    } else {
        json!({"winner": "urban", "nature_score": 0.1, "people_score": 0.3, "animal_score": 0,
               "vehicle_score": 0.4, "urban_score": 0.9, "indoor_score": 0})
    };
    Answer::Text(json!({"frames": [frame]}).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_category_precheck_skips_an_off_category_thumbnail_before_recording_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let pictures = dir.join("thumbs");
    std::fs::create_dir_all(&pictures).expect("thumbs");
    picture(&pictures.join("meadow.png"), "0x2e8b3a", "1280x720").await;
    picture(&pictures.join("street.webp"), "0x808080", "480x360").await;
    let (thumbs, _server) = thumbnail_server(pictures).await;
    let result = |id: &str, thumb: &str| {
        json!({"id": id, "title": format!("video {id}"), "duration": 600.0, "height": 1080,
               "live_status": "not_live", "thumbnail": format!("http://{thumbs}/{thumb}")})
    };
    let bin = fake_yt_dlp_with(dir, &[result("meadowAAAAA", "meadow.png"), result("streetAAAAA", "street.webp")]);
    let chat = ChatServer::start(|body, _| label_by_colour(body)).await;
    let mut envs = vec![
        ("PATH", path_with(&bin)),
        ("NEXIS_WORKDIR", dir.join("work").display().to_string()),
        ("OPENAI_API_KEY", CHAT_KEY.to_string()),
        ("OPENAI_BASE_URL", chat.base_url()),
        ("NEXIS_VALIDATOR_CATEGORY_MODEL", "judge-category".to_string()),
    ];
    let args = ["sources", "discover", "--query", "alpine meadow", "--limit", "2", "--json"];

    // Off by default: the model is never asked.
    let out = nexis_command(dir, &envs).args(args).args(["--workdir", "unchecked"]).output().await.expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    assert!(chat.requests().is_empty());

    envs.push(("NEXIS_SOURCES_CATEGORY_PRECHECK", "true".to_string()));
    let out = nexis_command(dir, &envs).args(args).output().await.expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let kept: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let ids: Vec<&str> = kept.iter().filter_map(|c| c["video_id"].as_str()).collect();
    assert_eq!(ids, ["meadowAAAAA"], "{stderr}");
    assert!(stderr.contains("1 off-category (category pre-check)"), "{stderr}");
    assert!(stderr.contains("streetAAAAA") && stderr.contains("category pre-check: skipped"), "{stderr}");
    assert!(!stderr.contains(CHAT_KEY), "the key is never logged");
    let recorded: Vec<String> = state(dir).iter().filter_map(|r| r["video_id"].as_str().map(str::to_string)).collect();
    assert_eq!(recorded, ["meadowAAAAA"]);

    // One request per thumbnail, with the validators' category prompt and model.
    let requests = chat.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r["model"], "judge-category");
        assert!(r["messages"][0]["content"].as_str().is_some_and(|p| p.starts_with("You classify video frames")));
    }

    // Again: the recorded video is not judged twice; the skipped one is judged (and skipped) again.
    let out = nexis_command(dir, &envs).args(args).output().await.expect("run");
    assert!(out.status.success());
    assert_eq!(chat.requests().len(), 3);
    assert_eq!(state(dir).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_miner_with_the_precheck_never_downloads_an_off_category_result() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let pictures = dir.join("thumbs");
    std::fs::create_dir_all(&pictures).expect("thumbs");
    picture(&pictures.join("meadow.jpg"), "0x2e8b3a", "640x360").await;
    picture(&pictures.join("street.jpg"), "0x808080", "640x360").await;
    let (thumbs, _server) = thumbnail_server(pictures).await;
    let result = |id: &str, thumb: &str| {
        json!({"id": id, "title": format!("video {id}"), "duration": 600.0, "height": 1080,
               "live_status": "not_live", "thumbnail": format!("http://{thumbs}/{thumb}")})
    };
    let bin = fake_yt_dlp_with(dir, &[result("meadowAAAAA", "meadow.jpg"), result("streetAAAAA", "street.jpg")]);
    std::fs::create_dir_all(dir.join("pool")).expect("pool");
    for (seed, id) in ["meadowAAAAA", "streetAAAAA"].into_iter().enumerate() {
        let clip = nexis::media::synth::SynthClip {
            width: 854,
            height: 480,
            seconds: 6.0,
            seed: seed as u32,
            ..Default::default()
        };
        nexis::media::synth::synth_clip(&dir.join(format!("pool/{id}.mp4")), &clip).await.expect("source");
    }
    std::fs::write(dir.join("queries.txt"), "alpine meadow\n").expect("queries");
    crate::mine::miner_wallet(dir);
    // Captions and the self-check's judges as in the miner tests; a one-image category
    // request is the pre-check's.
    let chat = ChatServer::start(|body, n| {
        let parts = body["messages"][1]["content"].as_array().cloned().unwrap_or_default();
        let images = parts.iter().filter(|p| p["image_url"].is_object()).count();
        match body["model"].as_str() {
            Some(crate::mine::CATEGORY_JUDGE) if images == 1 => label_by_colour(body),
            Some(crate::mine::CATEGORY_JUDGE) => Answer::Text(crate::mine::nature_reply()),
            Some(crate::mine::SEMANTIC_JUDGE) => Answer::Text("{\"match\": true}".into()),
            _ => Answer::Text(format!(
                "scene {n}: a colourful test pattern slowly shifts its hues while a small bright box glides across \
                 the frame from left to right above a plain dark background"
            )),
        }
    })
    .await;
    let mut envs = crate::mine::miner_env(dir, &chat);
    envs.retain(|(k, _)| *k != "NEXIS_SOURCES_FILE");
    envs.push(("NEXIS_SOURCES_FILE", dir.join("none.txt").display().to_string()));
    envs.push(("NEXIS_SOURCES_QUERIES", dir.join("queries.txt").display().to_string()));
    envs.push(("NEXIS_SOURCES_CATEGORY_PRECHECK", "true".to_string()));
    envs.push(("PATH", path_with(&bin)));
    let out = crate::mine::nexis(dir, &["mine", "--once", "--interval", "7756800", "--out", "bucket"], &envs).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary["records"], 1, "only the on-category source is mined: {summary}\n{stderr}");
    assert!(stderr.contains("category pre-check: skipped"), "{stderr}");
    let recorded: Vec<String> = state(dir).iter().filter_map(|r| r["video_id"].as_str().map(str::to_string)).collect();
    assert_eq!(recorded, ["meadowAAAAA"]);
    let log = std::fs::read_to_string(dir.join("yt-dlp.log")).expect("log");
    assert!(!log.contains("streetAAAAA"), "the off-category video is never downloaded: {log}");
}
