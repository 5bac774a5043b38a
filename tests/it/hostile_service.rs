//! Hostile miners against the validator service, part 2 (issue 14 B): unpredictable extra
//! samples, refusals that must not pass the content checks, a slow model that must not
//! reject honest miners, owner bundles that survive a shutdown, canonical source keys,
//! secrets scrubbed from error texts, and the operator-facing refusals and defaults.

use crate::support::{TestPackage, check_dir, failures};

#[tokio::test]
async fn source_keys_catch_live_paths_junk_ids_look_alike_hosts_and_other_schemes() {
    let mut pkg = TestPackage::valid();
    let id = pkg.records[0].source_video_id.clone();
    let start = pkg.records[0].clip_start_sec;
    // Same video as row 0 in other spellings, 1 s later: overlaps.
    pkg.records[1].source_video_url = format!("https://www.youtube.com/live/{id}");
    pkg.records[1].source_video_id = "live-form".into();
    pkg.records[1].clip_start_sec = start + 1.0;
    pkg.records[2].source_video_url = format!("https://www.youtube.com/watch?v={id}%20");
    pkg.records[2].source_video_id = "junk-form".into();
    pkg.records[2].clip_start_sec = start + 2.0;
    // Hosts that only look like YouTube, and a script URL naming it.
    pkg.records[3].source_video_url = "https://\u{ff59}outube.com/watch?v=abcdefghijk".into();
    pkg.records[4].source_video_url = "https://youtube.com.:443/watch?v=abcdefghijk".into();
    pkg.records[6].source_video_url = "javascript://www.youtube.com/%0Aalert(1)".into();
    pkg.write();
    let got = failures(&check_dir(pkg.dir()).await);
    let id_of = |i: usize| pkg.records[i].clip_id.clone();
    for i in [3, 4, 6] {
        assert!(got.contains(&format!("non_youtube_source:{}", id_of(i))), "row {i}: {got:?}");
    }
    let overlaps: Vec<&String> = got.iter().filter(|f| f.starts_with("overlap_lt_5s:")).collect();
    assert!(overlaps.iter().any(|f| f.ends_with(&format!("{}:{}", id_of(0), id_of(1)))), "{got:?}");
    assert!(overlaps.iter().any(|f| f.ends_with(&format!("{}:{}", id_of(1), id_of(2)))), "{got:?}");
}
