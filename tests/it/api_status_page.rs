//! The status page of `nexis api` rendered by headless Chromium (Debian `chromium`): the
//! screenshot must show the page, including the chart's green and red bars; the HTML must
//! name the miners, failure codes, validators and the invalid window.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use flate2::read::ZlibDecoder;
use std::io::Read;

use nexis::chain::{Hotkey, Metagraph, Neuron};
use nexis::evidence::{DEFAULT_TIMEOUT, EvidenceClient};
use nexis::evidence_server::quorum::Allowlist;
use nexis::evidence_server::store::sqlite::SqliteStore;
use nexis::evidence_server::{EvidenceServer, ServerConfig, serve};
use nexis::model::{Decision, DecisionNotes, Failure};

/// Decoded 8-bit RGB(A) pixels of a PNG: (width, height, channels, pixels).
fn decode_png(bytes: &[u8]) -> (usize, usize, usize, Vec<u8>) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    let (mut pos, mut idat, mut header) = (8, Vec::new(), None);
    while pos + 12 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("len")) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => header = Some(data.to_vec()),
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        pos += 12 + len;
    }
    let h = header.expect("IHDR");
    let width = u32::from_be_bytes(h[0..4].try_into().expect("w")) as usize;
    let height = u32::from_be_bytes(h[4..8].try_into().expect("h")) as usize;
    assert_eq!((h[8], h[12]), (8, 0), "8-bit, not interlaced");
    let channels = match h[9] {
        2 => 3,
        6 => 4,
        other => panic!("unexpected PNG colour type {other}"),
    };
    let mut raw = Vec::new();
    ZlibDecoder::new(&idat[..]).read_to_end(&mut raw).expect("inflate");
    let stride = width * channels;
    let mut out = vec![0u8; stride * height];
    for y in 0..height {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels { out[y * stride + x - channels] } else { 0 };
            let b = if y > 0 { out[(y - 1) * stride + x] } else { 0 };
            let c = if y > 0 && x >= channels { out[(y - 1) * stride + x - channels] } else { 0 };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("bad PNG filter {f}"),
            };
            out[y * stride + x] = line[x].wrapping_add(pred);
        }
    }
    (width, height, channels, out)
}

fn screenshot(url: &str, dir: &Path) -> Vec<u8> {
    let shot = dir.join("shot.png");
    let profile = dir.join("profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1000,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url)
        .output()
        .expect("run chromium (Debian package `chromium`; scripts/test installs it)");
    assert!(shot.exists(), "chromium wrote no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(&shot).expect("read screenshot")
}

fn key(n: u8) -> Hotkey {
    Hotkey::from_seed([n; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_renders_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("e.sqlite3")).expect("sqlite"));
    let server = EvidenceServer::new(store, ServerConfig::default());
    let neurons = (1..=2)
        .map(|n| Neuron { uid: u16::from(n), hotkey: key(n).ss58(), stake: Some(100), validator_permit: Some(true) })
        .collect();
    server.set_allowlist(Allowlist::from_metagraph(
        &Metagraph { netuid: 1, block: 5, neurons },
        0,
        &Default::default(),
    ));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let (addr, task) = serve(&server, "127.0.0.1:0".parse().expect("addr"), rx).await.expect("serve");
    for n in [1, 2] {
        let api = EvidenceClient::new(&format!("http://{addr}"), DEFAULT_TIMEOUT, key(n)).expect("client");
        for interval in [100u64, 150, 200] {
            let bad =
                Decision::load_failure("5BadMiner", interval, Failure::DatasetSha256Mismatch, DecisionNotes::default());
            let good = Decision::evaluated("5GoodMiner", interval, vec![], 12, 3, DecisionNotes::default());
            api.post_results(interval, &[bad, good]).await.expect("post");
        }
    }
    let html = reqwest::get(format!("http://{addr}/")).await.expect("get").text().await.expect("text");
    for needle in
        ["5BadMiner", "5GoodMiner", "dataset_sha256_mismatch", &key(1).ss58(), "Invalid window [0, 200]", "<svg"]
    {
        assert!(html.contains(needle), "status page lacks {needle:?}");
    }
    assert!(!html.contains("<script"), "no scripts");

    let png = screenshot(&format!("http://{addr}/"), dir.path());
    let (w, h, ch, px) = decode_png(&png);
    assert!(w >= 500 && h >= 400, "{w}x{h}");
    let pixel = |i: usize| &px[i * ch..i * ch + 3];
    let background = pixel(0).to_vec();
    let differing = (0..w * h).filter(|i| pixel(*i) != &background[..]).count();
    assert!(differing * 100 > w * h, "screenshot is (nearly) blank: {differing} of {} pixels differ", w * h);
    let has = |rgb: [u8; 3]| (0..w * h).any(|i| pixel(i) == rgb);
    assert!(has([0x2e, 0x7d, 0x32]), "the chart's green (accepted) bars are visible");
    assert!(has([0xc6, 0x28, 0x28]), "the chart's red (rejected) bars are visible");
    let _ = stop.send(true);
    let _ = task.await;
}

/// The page as Chromium's DOM after rendering (`--dump-dom`).
fn rendered_dom(url: &str, dir: &Path) -> String {
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--dump-dom"])
        .arg(format!("--user-data-dir={}", dir.join("profile-dom").display()))
        .arg(url)
        .output()
        .expect("run chromium (Debian package `chromium`; scripts/test installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Findings 6 and 10: one allowed validator below the quorum posting far-future and
/// past-but-lonely intervals does not take the page over; an honest miner one validator
/// rejected is "disputed", not "rejected"; bidi and invisible characters are shown escaped;
/// the store's path is not on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_follows_the_quorum_and_escapes_hidden_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("secret-store-dir");
    std::fs::create_dir_all(&store_dir).expect("dir");
    let store = Arc::new(SqliteStore::open(&store_dir.join("e.sqlite3")).expect("sqlite"));
    let server = EvidenceServer::new(store, ServerConfig::default());
    // A, B, C hold 100 each, the attacker E 50: E alone is 50/350, below 1/3.
    let neurons = [(1u8, 100u64), (2, 100), (3, 100), (5, 50)]
        .iter()
        .map(|(n, s)| Neuron {
            uid: u16::from(*n),
            hotkey: key(*n).ss58(),
            stake: Some(*s),
            validator_permit: Some(true),
        })
        .collect();
    server.set_allowlist(Allowlist::from_metagraph(
        &Metagraph { netuid: 1, block: 5, neurons },
        0,
        &Default::default(),
    ));
    server.set_current_block(1_000);
    let (stop, rx) = tokio::sync::watch::channel(false);
    let (addr, task) = serve(&server, "127.0.0.1:0".parse().expect("addr"), rx).await.expect("serve");
    let api = |n: u8| EvidenceClient::new(&format!("http://{addr}"), DEFAULT_TIMEOUT, key(n)).expect("client");
    let spoof = "5Spoof\u{202E}gpj.exe\u{200B}";
    let reject =
        |m: &str, i: u64| Decision::load_failure(m, i, Failure::DatasetSha256Mismatch, DecisionNotes::default());
    let accept = |m: &str, i: u64| Decision::evaluated(m, i, vec![], 12, 0, DecisionNotes::default());
    for interval in [100u64, 150] {
        api(1).post_results(interval, &[reject("5Honest", interval), accept(spoof, interval)]).await.expect("A");
        api(2).post_results(interval, &[accept("5Honest", interval), accept(spoof, interval)]).await.expect("B");
    }
    for interval in [900u64, 950, 5_000, 9_000_000] {
        api(5).post_results(interval, &[reject("5Honest", interval), reject("5Victim", interval)]).await.expect("E");
    }
    let html = reqwest::get(format!("http://{addr}/")).await.expect("get").text().await.expect("text");
    for shown in ["<th>100</th>", "<th>150</th>"] {
        assert!(html.contains(shown), "quorum intervals are shown: {shown}");
    }
    for hidden in ["900", "950", "5000", "9000000", "5Victim"] {
        assert!(!html.contains(hidden), "the lone validator's interval or miner {hidden} is shown");
    }
    assert!(
        html.contains("disputed") && !html.contains(">rejected<"),
        "one rejection of 200 reporting stake is not the quorum's"
    );
    assert!(!html.contains('\u{202E}') && !html.contains('\u{200B}'), "hidden characters reach the page");
    assert!(html.contains("\\u{202E}") && html.contains("\\u{200B}"), "hidden characters are shown escaped");
    assert!(!html.contains("secret-store-dir") && !html.contains("sqlite"), "the store's path is on the page");
    let dom = rendered_dom(&format!("http://{addr}/"), dir.path());
    assert!(dom.contains("5Spoof") && !dom.contains('\u{202E}'), "the rendered page carries no bidi override");
    let _ = stop.send(true);
    let _ = task.await;
}
