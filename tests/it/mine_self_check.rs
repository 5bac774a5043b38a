//! The miner's self-check before upload: our validator's package pipeline runs on every
//! row of the built package, with the validators' model checks answered by a local
//! chat-completions server. A row our validator would reject is captioned once more
//! (caption failures) or dropped before anything is uploaded; the published package is
//! accepted by `nexis check`; `--no-self-check` uploads unchecked.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use nexis::llm::{ChatClient, LlmProvider};
use nexis::media::{Ffprobe, MediaProbe};
use nexis::miner::SelfCheck;
use nexis::miner::caption::{CaptionError, Captioner};
use nexis::spec::SpecRegistry;
use nexis::storage::{LocalStore, ObjectStore};
use nexis::validator::{ContentChecks, PackageLimits, PackageValidator};

use crate::chat_server::{Answer, CHAT_KEY, ChatServer, image_urls};
use crate::mine::{
    CATEGORY_JUDGE, SEMANTIC_JUDGE, Setup, fake_yt_dlp_copying, miner_env, miner_wallet, nature_reply, nexis,
};

/// The word the semantic judge calls a mismatch.
const BAD_WORD: &str = "zebra";

fn caption_text(n: usize, bad: bool) -> String {
    let subject = if bad { BAD_WORD } else { "small bright box" };
    format!(
        "scene {n}: a colourful test pattern slowly shifts its hues while a {subject} glides across the frame from \
         left to right above a plain dark background"
    )
}

/// The caption model: the first clip it sees keeps getting captions the judge rejects
/// (its row must be dropped); the second gets one bad caption, then a good one (its row
/// must be re-captioned and kept); every other clip gets good captions. Clips are told
/// apart by their frames.
fn captions_with_trouble() -> impl Fn(&Value, usize) -> Answer + Send + Sync + 'static {
    let clips: Mutex<Vec<Vec<String>>> = Mutex::new(Vec::new());
    move |body, n| {
        let text = match body["model"].as_str() {
            Some(SEMANTIC_JUDGE) => {
                let shown = body["messages"][1]["content"][0]["text"].as_str().unwrap_or_default();
                format!("{{\"match\": {}}}", !shown.contains(BAD_WORD))
            }
            Some(CATEGORY_JUDGE) => nature_reply(),
            _ => {
                let frames = image_urls(body);
                let mut clips = clips.lock().expect("lock");
                let seen = clips.iter().position(|f| *f == frames);
                let clip = seen.unwrap_or_else(|| {
                    clips.push(frames);
                    clips.len() - 1
                });
                caption_text(n, clip == 0 || (clip == 1 && seen.is_none()))
            }
        };
        Answer::Text(text)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mine_once_drops_a_row_our_validator_rejects_and_publishes_what_check_accepts() {
    // One 16 s source, fetched by a stand-in yt-dlp: three segments, three clips.
    let setup = Setup::new(&[], &["https://www.youtube.com/watch?v=selfchkAAAA"]).await;
    let dir = setup.tmp.path();
    let pool = dir.join("pool");
    std::fs::create_dir_all(&pool).expect("pool");
    let clip = nexis::media::synth::SynthClip { width: 854, height: 480, seconds: 16.0, ..Default::default() };
    nexis::media::synth::synth_clip(&pool.join("selfchkAAAA.mp4"), &clip).await.expect("source");
    let yt_dlp = fake_yt_dlp_copying(dir, &pool);
    let hotkey = miner_wallet(dir);
    let server = ChatServer::start(captions_with_trouble()).await;
    let mut envs = miner_env(dir, &server);
    envs.push(("NEXIS_YT_DLP", yt_dlp.display().to_string()));
    let interval = "7756800";
    let mined = nexis(dir, &["mine", "--once", "--interval", interval, "--out", "bucket"], &envs).await;
    let stderr = String::from_utf8_lossy(&mined.stderr);
    assert!(mined.status.success(), "mine failed: {stderr}");
    let summary: Value = serde_json::from_slice(&mined.stdout).expect("summary JSON");
    assert_eq!(summary["records"], 2, "{summary}\n{stderr}");
    assert_eq!(summary["self_check_dropped"], serde_json::json!({"caption_semantic_mismatch": 1}), "{summary}");
    assert_eq!(summary["recaptioned"], 2, "both rows with a rejected caption were captioned again: {summary}");
    assert!(stderr.contains("our validator would reject this row; dropping it"), "{stderr}");
    assert!(stderr.contains("self-check passed"), "the summary is logged: {stderr}");

    // Nothing of the dropped row was uploaded; no published caption has the bad word.
    let package = dir.join("bucket").join(interval);
    let count = |sub: &str| std::fs::read_dir(package.join(sub)).map(|d| d.count()).unwrap_or(0);
    assert_eq!((count("clips"), count("frames")), (2, 2));
    let judged: Vec<String> = server
        .requests()
        .iter()
        .filter(|b| b["model"] == SEMANTIC_JUDGE)
        .filter_map(|b| b["messages"][1]["content"][0]["text"].as_str().map(str::to_string))
        .collect();
    assert!(judged.iter().filter(|t| t.contains(BAD_WORD)).count() >= 3, "bad captions reached the judge");

    // Our validator, run as an operator runs it, accepts every row it samples; with the
    // sample cap at the row count, that is all of them.
    let before = server.requests().len();
    let pkg = package.display().to_string();
    let check_args = ["check", &pkg, "--hotkey", &hotkey, "--interval", interval, "--json"];
    let checked = nexis(dir, &check_args, &envs).await;
    let decision: Value = serde_json::from_slice(&checked.stdout).expect("decision JSON");
    assert_eq!(decision["accepted"], true, "{decision}\n{}", String::from_utf8_lossy(&checked.stderr));
    assert_eq!(decision["record_count"], 2);
    let published: Vec<Value> = server.requests()[before..].to_vec();
    assert!(published.iter().all(|b| !b.to_string().contains(BAD_WORD)), "no published caption has the bad word");

    // --no-self-check: the same sources, no judge asked, the bad row published.
    let again = Setup::new(&[], &["https://www.youtube.com/watch?v=selfchkAAAA"]).await;
    let dir = again.tmp.path();
    miner_wallet(dir);
    let server = ChatServer::start(captions_with_trouble()).await;
    let mut envs = miner_env(dir, &server);
    envs.push(("NEXIS_YT_DLP", yt_dlp.display().to_string()));
    let args = ["mine", "--once", "--interval", interval, "--out", "bucket", "--no-self-check"];
    let mined = nexis(dir, &args, &envs).await;
    assert!(mined.status.success(), "{}", String::from_utf8_lossy(&mined.stderr));
    let summary: Value = serde_json::from_slice(&mined.stdout).expect("summary JSON");
    assert_eq!(summary["records"], 3, "{summary}");
    assert!(server.requests().iter().all(|b| b["model"] != SEMANTIC_JUDGE), "no self-check without it");
}

/// Captions from the local server's caption model, as the miner's captioner does.
struct ServerCaptions(ChatClient);

#[async_trait::async_trait]
impl Captioner for ServerCaptions {
    async fn caption(&self, frames: &[Vec<u8>]) -> Result<String, CaptionError> {
        let request = nexis::llm::ChatRequest {
            system: "caption",
            text: "Write the caption for this clip.",
            images: frames,
            max_tokens: 200,
            temperature: 0.2,
            schema: None,
        };
        self.0.complete(&request).await.map_err(|e| CaptionError(e.to_string()))
    }
}

fn client(server: &ChatServer, model: &str) -> ChatClient {
    let provider = LlmProvider::from_settings(Some(CHAT_KEY), Some(&server.base_url()), None).expect("provider");
    ChatClient::new(provider, model.into(), Duration::from_secs(30), 4).expect("client")
}

/// The library miner with a self-check: the dropped row is counted by code in the
/// metrics, the re-captioned one too, and the ledger holds only published segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_rows_are_counted_by_code_and_their_segments_stay_free() {
    let setup = Setup::new(&[("libchkAAAAA", 16.0)], &[]).await;
    let server = ChatServer::start(captions_with_trouble()).await;
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(setup.out()));
    let captioner = Arc::new(ServerCaptions(client(&server, "captions")));
    let mut miner = setup.miner(captioner, store, 10);
    let probe: Arc<dyn MediaProbe> = Arc::new(Ffprobe::new(None, Duration::from_secs(60)));
    let checks = ContentChecks {
        semantic: Some(client(&server, SEMANTIC_JUDGE)),
        category: Some(client(&server, CATEGORY_JUDGE)),
        semantic_max_samples: usize::MAX,
        category_max_samples: usize::MAX,
        ffmpeg_timeout: Duration::from_secs(60),
    };
    let registry = SpecRegistry::builtin().expect("specs");
    let scratch = setup.tmp.path().join("scratch");
    let validator =
        PackageValidator::new(registry, probe, PackageLimits::default(), scratch).with_content_checks(checks);
    miner.self_check = Some(SelfCheck::new(validator));
    let report = miner.mine_interval(400).await.expect("mine");
    assert_eq!(report.records, 2, "{report:?}");
    assert_eq!(report.self_check_dropped.get("caption_semantic_mismatch"), Some(&1), "{report:?}");
    assert_eq!(report.recaptioned, 2);
    let metrics = miner.metrics.render();
    assert!(
        metrics.contains("nexis_miner_self_check_dropped_rows_total{code=\"caption_semantic_mismatch\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("nexis_miner_self_check_recaptioned_rows_total 2"), "{metrics}");
    assert!(metrics.contains("nexis_miner_published_rows_total 2"), "{metrics}");
    // Every row of the package (not a sample) went to both judges in the first round.
    let judged: HashSet<String> =
        server.requests().iter().filter(|b| b["model"] == CATEGORY_JUDGE).map(|b| image_urls(b).concat()).collect();
    assert_eq!(judged.len(), 3, "all three rows were category-checked");
    // The dropped segment was not recorded as published: the next interval cuts it again.
    let next = miner.mine_interval(450).await.expect("next interval");
    assert_eq!(next.records + next.self_check_dropped.values().sum::<usize>(), 1, "only the free segment: {next:?}");
    assert_published_rows_are_distinct(&setup.out());
}

/// No segment is published twice across the set-up's packages.
fn assert_published_rows_are_distinct(bucket: &Path) {
    let mut seen = HashSet::new();
    for entry in std::fs::read_dir(bucket).expect("bucket").flatten() {
        for clip in std::fs::read_dir(entry.path().join("clips")).into_iter().flatten().flatten() {
            assert!(seen.insert(clip.file_name()), "clip {:?} published twice", clip.file_name());
        }
    }
}
