//! Source discovery with a stand-in yt-dlp on PATH that answers a search with canned
//! results: `nexis sources discover` keeps only the candidates the filters allow, records
//! them once with their query in the state file, passes the cookies and proxy settings,
//! and `nexis mine` with NEXIS_SOURCES_QUERIES mines what the search found.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

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
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let lines: Vec<String> = results().iter().map(Value::to_string).collect();
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
