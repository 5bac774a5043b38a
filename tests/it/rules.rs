//! One focused test per rule of protocol §6–§8 that concerns a single package, with the
//! boundaries on both sides. Each test starts from the golden `valid_12` package (real
//! clips), changes one thing and asserts the exact decision.

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float32Array, Float64Array, Int32Array, Int64Array, LargeStringArray, RecordBatch,
    StringArray, StringViewArray,
};
use arrow_schema::{DataType, Field, Schema};
use chrono::{Duration as ChronoDuration, Utc};

use crate::support::{
    CATEGORY, INTERVAL, MINER, SAMPLED, TestPackage, check_dir, check_dir_with, failures, request, sha256_hex,
};
use nexis::media::synth::{SynthClip, synth_clip};
use nexis::validator::PackageLimits;

const WORD: &str = "river ";

fn caption(words: usize) -> String {
    WORD.repeat(words).trim_end().to_string()
}

async fn decide(pkg: &TestPackage) -> Vec<String> {
    failures(&check_dir(pkg.dir()).await)
}

async fn with_records(edit: impl FnOnce(&mut TestPackage)) -> Vec<String> {
    let mut pkg = TestPackage::valid();
    edit(&mut pkg);
    pkg.write();
    decide(&pkg).await
}

async fn with_manifest(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<String> {
    let pkg = TestPackage::valid();
    pkg.edit_manifest(edit);
    decide(&pkg).await
}

async fn with_column(name: &str, array: ArrayRef) -> Vec<String> {
    let pkg = TestPackage::valid();
    let batch = pkg.batch_with(name, array);
    pkg.write_batch(&batch);
    decide(&pkg).await
}

fn ids(pkg: &TestPackage) -> Vec<String> {
    pkg.records.iter().map(|r| r.clip_id.clone()).collect()
}

/// Puts rows 10 and 11 on a fresh source at the given starts.
fn fresh_source_pair(pkg: &mut TestPackage, a: f64, b: f64) {
    for (row, start) in [(10, a), (11, b)] {
        let r = &mut pkg.records[row];
        r.source_video_id = "ZZZZZZZZZZZ".into();
        r.source_video_url = "https://www.youtube.com/watch?v=ZZZZZZZZZZZ".into();
        r.clip_start_sec = start;
    }
}

#[tokio::test]
async fn rewritten_valid_package_is_accepted() {
    let pkg = TestPackage::valid();
    pkg.write();
    let d = check_dir(pkg.dir()).await;
    assert!(d.accepted, "{:?}", d.failures);
    assert_eq!(d.record_count, 12);
    assert_eq!(d.notes.sampled_row_indices.as_deref(), Some(&SAMPLED[..]));
}

// ---- §6 schema ----

#[tokio::test]
async fn duration_tolerance_is_inclusive_at_5_15() {
    assert!(with_records(|p| p.records[0].duration_sec = 5.15).await.is_empty());
    assert!(with_records(|p| p.records[0].duration_sec = 4.85).await.is_empty());
    assert_eq!(with_records(|p| p.records[0].duration_sec = 5.16).await, ["dataset_schema_invalid"]);
    assert_eq!(with_records(|p| p.records[0].duration_sec = 4.84).await, ["dataset_schema_invalid"]);
}

#[tokio::test]
async fn float32_values_are_widened_exactly() {
    let pkg = TestPackage::valid();
    let n = pkg.records.len();
    // 5.15 as float32 is 5.150000095..., just above the tolerance.
    let over = Float32Array::from(vec![5.15f32; n]);
    assert_eq!(with_column("duration_sec", Arc::new(over)).await, ["dataset_schema_invalid"]);
    let fine = Float32Array::from(vec![5.0f32; n]);
    assert!(with_column("duration_sec", Arc::new(fine)).await.is_empty());
}

#[tokio::test]
async fn integer_columns_accept_any_width_and_integral_floats() {
    let pkg = TestPackage::valid();
    let n = pkg.records.len();
    assert!(with_column("width", Arc::new(Int32Array::from(vec![1280; n]))).await.is_empty());
    assert!(with_column("width", Arc::new(Float64Array::from(vec![1280.0; n]))).await.is_empty());
    assert_eq!(with_column("width", Arc::new(Float64Array::from(vec![1280.5; n]))).await, ["dataset_schema_invalid"]);
    assert_eq!(with_column("width", Arc::new(Int64Array::from(vec![0; n]))).await, ["dataset_schema_invalid"]);
}

#[tokio::test]
async fn text_columns_accept_every_string_encoding() {
    let pkg = TestPackage::valid();
    let captions: Vec<String> = pkg.records.iter().map(|r| r.caption.clone()).collect();
    let large = LargeStringArray::from(captions.clone());
    assert!(with_column("caption", Arc::new(large)).await.is_empty());
    let view = StringViewArray::from(captions.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(with_column("caption", Arc::new(view)).await.is_empty());
    let dict: DictionaryArray<Int32Type> = captions.iter().map(String::as_str).collect();
    assert!(with_column("caption", Arc::new(dict)).await.is_empty());
}

#[tokio::test]
async fn numbers_in_text_columns_and_text_in_number_columns_are_rejected() {
    let pkg = TestPackage::valid();
    let n = pkg.records.len();
    let numbers = Int64Array::from(vec![42; n]);
    assert_eq!(with_column("source_video_id", Arc::new(numbers)).await, ["dataset_schema_invalid"]);
    let texts = StringArray::from(vec!["10.0"; n]);
    assert_eq!(with_column("clip_start_sec", Arc::new(texts)).await, ["dataset_schema_invalid"]);
}

#[tokio::test]
async fn a_null_or_blank_required_value_rejects_the_package() {
    let pkg = TestPackage::valid();
    let mut captions: Vec<Option<String>> = pkg.records.iter().map(|r| Some(r.caption.clone())).collect();
    captions[4] = None;
    assert_eq!(with_column("caption", Arc::new(StringArray::from(captions))).await, ["dataset_schema_invalid"]);
    assert_eq!(with_records(|p| p.records[4].source_video_id = "   ".into()).await, ["dataset_schema_invalid"]);
    let got = with_records(|p| {
        p.records[4].clip_sha256.pop();
    })
    .await;
    assert_eq!(got, ["dataset_schema_invalid"]);
    assert_eq!(with_records(|p| p.records[4].clip_start_sec = -0.5).await, ["dataset_schema_invalid"]);
}

#[tokio::test]
async fn missing_required_column_rejects_and_extra_or_absent_optional_columns_do_not() {
    let pkg = TestPackage::valid();
    pkg.write_batch(&pkg.batch_without("fps"));
    assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"]);

    let pkg = TestPackage::valid();
    pkg.write_batch(&pkg.batch_without("source_proof"));
    assert!(decide(&pkg).await.is_empty());

    let pkg = TestPackage::valid();
    let n = pkg.records.len();
    let captions: Vec<String> = pkg.records.iter().map(|r| r.caption.clone()).collect();
    let base = pkg.batch_with("caption", Arc::new(StringArray::from(captions)));
    let mut fields: Vec<Field> = base.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = base.columns().to_vec();
    fields.push(Field::new("miner_notes", DataType::Utf8, true));
    columns.push(Arc::new(StringArray::from(vec!["extra"; n])));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    pkg.write_batch(&batch);
    assert!(decide(&pkg).await.is_empty());
}

#[tokio::test]
async fn source_proof_must_be_a_struct() {
    let pkg = TestPackage::valid();
    let n = pkg.records.len();
    let json = StringArray::from(vec![r#"{"extractor":"youtube"}"#; n]);
    assert_eq!(with_column("source_proof", Arc::new(json)).await, ["dataset_schema_invalid"]);
}

#[tokio::test]
async fn schema_failure_notes_name_the_row_and_column() {
    let pkg = TestPackage::valid();
    let mut pkg = pkg;
    pkg.records[7].duration_sec = 9.0;
    pkg.write();
    let d = check_dir(pkg.dir()).await;
    let err = d.notes.error.clone().unwrap_or_default();
    assert!(err.contains("duration_sec") && err.contains('7'), "notes.error = {err:?}");
    assert_eq!((d.record_count, d.sampled_rows), (0, 0));
}

// ---- §7 manifest ----

#[tokio::test]
async fn manifest_integer_fields_accept_numeric_strings() {
    assert!(with_manifest(|m| m["record_count"] = "12".into()).await.is_empty());
    assert!(with_manifest(|m| m["interval_id"] = INTERVAL.to_string().into()).await.is_empty());
    assert_eq!(with_manifest(|m| m["netuid"] = (-1).into()).await, ["manifest_schema_invalid"]);
    assert_eq!(with_manifest(|m| m["record_count"] = "twelve".into()).await, ["manifest_schema_invalid"]);
}

#[tokio::test]
async fn spec_normalisation_prefers_spec_id_then_dataset_type_then_default() {
    assert!(
        with_manifest(|m| {
            m["spec_id"] = " ".into();
            m["dataset_type"] = "video_v1".into();
        })
        .await
        .is_empty()
    );
    assert!(
        with_manifest(|m| {
            m["spec_id"] = "video_v1".into();
            m["dataset_type"] = "audio_v9".into();
        })
        .await
        .is_empty()
    );
    assert!(
        with_manifest(|m| {
            m.as_object_mut().map(|o| {
                o.remove("spec_id");
                o.remove("dataset_type")
            });
        })
        .await
        .is_empty()
    );
    assert_eq!(with_manifest(|m| m["spec_id"] = "video_v2".into()).await, ["unknown_spec:video_v2"]);
}

#[tokio::test]
async fn unsupported_protocol_version_names_both_versions() {
    assert_eq!(
        with_manifest(|m| m["protocol_version"] = "2.0.0".into()).await,
        ["incompatible_spec_version:video_v1:protocol=2.0.0:schema=1.0.0"]
    );
}

#[tokio::test]
async fn spec_must_be_enabled_on_this_validator() {
    let pkg = TestPackage::valid();
    let mut req = request(INTERVAL);
    req.terms_mut().enabled_specs = vec!["image_v1".into()];
    let d = check_dir_with(pkg.dir(), &req, PackageLimits::default()).await;
    assert_eq!(failures(&d), ["spec_not_enabled:video_v1"]);
}

#[tokio::test]
async fn identity_must_match_the_miner_and_interval() {
    assert_eq!(with_manifest(|m| m["miner_hotkey"] = format!("{MINER}x").into()).await, ["manifest_identity_mismatch"]);
    assert_eq!(with_manifest(|m| m["interval_id"] = (INTERVAL + 50).into()).await, ["manifest_identity_mismatch"]);
}

#[tokio::test]
async fn category_is_required_matched_or_ignored() {
    assert_eq!(with_manifest(|m| m["category"] = "  ".into()).await, ["missing_category_metadata"]);
    assert_eq!(with_manifest(|m| m["category"] = serde_json::Value::Null).await, ["missing_category_metadata"]);
    assert_eq!(with_manifest(|m| m["category"] = "urban".into()).await, ["unsupported_category:urban"]);
    assert!(with_manifest(|m| m["category"] = format!("  {CATEGORY} ").into()).await.is_empty());

    let pkg = TestPackage::valid();
    pkg.edit_manifest(|m| m["category"] = "urban".into());
    let mut req = request(INTERVAL);
    req.terms_mut().expected_category = None;
    assert!(check_dir_with(pkg.dir(), &req, PackageLimits::default()).await.accepted);
}

#[tokio::test]
async fn record_count_and_dataset_hash_must_match() {
    let pkg = TestPackage::valid();
    pkg.edit_manifest(|m| m["record_count"] = 11.into());
    let d = check_dir(pkg.dir()).await;
    assert_eq!(failures(&d), ["manifest_record_count_mismatch"]);
    assert_eq!((d.notes.manifest_record_count, d.notes.dataset_record_count), (Some(11), Some(12)));

    let pkg = TestPackage::valid();
    pkg.edit_manifest(|m| m["dataset_sha256"] = "0".repeat(64).into());
    let d = check_dir(pkg.dir()).await;
    assert_eq!(failures(&d), ["dataset_sha256_mismatch"]);
    assert_eq!(d.notes.expected_dataset_sha256.as_deref(), Some("0".repeat(64).as_str()));
    assert_eq!(d.notes.actual_dataset_sha256, Some(sha256_hex(&std::fs::read(pkg.dataset()).expect("dataset"))));
}

#[tokio::test]
async fn missing_manifest_or_dataset_is_missing_submission_files() {
    let pkg = TestPackage::valid();
    std::fs::remove_file(pkg.dir().join("manifest.json")).expect("rm");
    assert_eq!(decide(&pkg).await, ["missing_submission_files"]);
    let pkg = TestPackage::valid();
    std::fs::remove_file(pkg.dataset()).expect("rm");
    assert_eq!(decide(&pkg).await, ["missing_submission_files"]);
}

#[tokio::test]
async fn manifest_written_after_the_deadline_is_late() {
    let pkg = TestPackage::valid();
    let mut req = request(INTERVAL);
    req.terms_mut().upload_deadline = Some(Utc::now() - ChronoDuration::hours(1));
    let d = check_dir_with(pkg.dir(), &req, PackageLimits::default()).await;
    assert_eq!(failures(&d), ["late_submission"]);
    assert!(d.notes.manifest_last_modified.is_some() && d.notes.upload_deadline.is_some(), "{:?}", d.notes);

    req.terms_mut().upload_deadline = Some(Utc::now() + ChronoDuration::hours(1));
    assert!(check_dir_with(pkg.dir(), &req, PackageLimits::default()).await.accepted);
}

// ---- §8 hard checks ----

#[tokio::test]
async fn only_youtube_hosts_are_accepted() {
    for url in ["https://youtu.be/abc", "https://m.youtube.com/watch?v=abc", "http://YOUTUBE.com/watch?v=abc"] {
        assert!(with_records(|p| p.records[3].source_video_url = url.into()).await.is_empty(), "{url}");
    }
    for url in ["https://youtube.com.evil.net/watch?v=abc", "https://notyoutube.com/watch?v=abc", "youtube.com/x"] {
        let mut id = String::new();
        let got = with_records(|p| {
            p.records[3].source_video_url = url.into();
            id = p.records[3].clip_id.clone();
        })
        .await;
        assert_eq!(got, [format!("non_youtube_source:{id}")], "{url}");
    }
}

#[tokio::test]
async fn starts_4_5_apart_are_fine_and_4_4_overlap() {
    assert!(with_records(|p| fresh_source_pair(p, 100.0, 104.5)).await.is_empty());
    let mut expect = String::new();
    let got = with_records(|p| {
        // Later row first in the file: the group is sorted by start.
        fresh_source_pair(p, 104.4, 100.0);
        expect = format!("overlap_lt_5s:ZZZZZZZZZZZ:{}:{}", p.records[11].clip_id, p.records[10].clip_id);
    })
    .await;
    assert_eq!(got, [expect]);
}

#[tokio::test]
async fn overlap_through_an_alias_url_is_found_by_canonical_key() {
    let mut expect = String::new();
    let got = with_records(|p| {
        fresh_source_pair(p, 100.0, 102.0);
        p.records[11].source_video_id = "alias".into();
        p.records[11].source_video_url = "https://www.youtube.com/shorts/ZZZZZZZZZZZ".into();
        expect = format!("overlap_lt_5s:ZZZZZZZZZZZ:{}:{}", p.records[10].clip_id, p.records[11].clip_id);
    })
    .await;
    assert_eq!(got, [expect]);
}

#[tokio::test]
async fn caption_needs_twenty_words_and_no_url() {
    assert!(with_records(|p| p.records[2].caption = caption(20)).await.is_empty());
    let mut id = String::new();
    let got = with_records(|p| {
        p.records[2].caption = caption(19);
        id = p.records[2].clip_id.clone();
    })
    .await;
    assert_eq!(got, [format!("short_caption:{id}")]);
    let got = with_records(|p| p.records[2].caption = format!("{} see HTTPS://example.com", caption(20))).await;
    assert_eq!(got, [format!("url_like_caption:{id}")]);
    // First matching rule only: a short caption with a URL is just short.
    let got = with_records(|p| p.records[2].caption = "http://x.y".into()).await;
    assert_eq!(got, [format!("short_caption:{id}")]);
}

#[tokio::test]
async fn start_may_be_5000_but_not_beyond() {
    let set = |start: f64| {
        move |p: &mut TestPackage| {
            p.records[6].clip_start_sec = start;
            p.records[6].source_video_id = "late".into();
            p.records[6].source_video_url = "https://youtu.be/late".into();
        }
    };
    assert!(with_records(set(5000.0)).await.is_empty());
    let pkg = TestPackage::valid();
    let id = pkg.records[6].clip_id.clone();
    assert_eq!(with_records(set(5000.1)).await, [format!("clip_start_gt_5000:{id}")]);
}

#[tokio::test]
async fn repeated_clip_fields_are_duplicates_once_per_row() {
    let pkg = TestPackage::valid();
    let ids = ids(&pkg);
    // Row 4 repeats row 1's clip hash and frame hash: reported once, for row 4.
    let got = with_records(|p| {
        p.records[4].clip_sha256 = p.records[1].clip_sha256.clone();
        p.records[4].first_frame_sha256 = p.records[1].first_frame_sha256.clone();
    })
    .await;
    assert_eq!(got, [format!("duplicate_clip:{}", ids[4])]);
    let got = with_records(|p| p.records[11].clip_uri = p.records[0].clip_uri.clone()).await;
    assert_eq!(got, [format!("duplicate_clip:{}", ids[11])]);
}

#[tokio::test]
async fn all_hard_check_failures_are_kept_in_rule_order() {
    let pkg = TestPackage::valid();
    let ids = ids(&pkg);
    let got = with_records(|p| {
        p.records[1].caption = caption(3);
        p.records[7].source_video_url = "https://vimeo.com/1".into();
        p.records[7].source_video_id = "vimeo".into();
        p.records[2].source_video_id = "far".into();
        p.records[2].source_video_url = "https://youtu.be/far".into();
        p.records[2].clip_start_sec = 6000.0;
    })
    .await;
    assert_eq!(
        got,
        [
            format!("non_youtube_source:{}", ids[7]),
            format!("short_caption:{}", ids[1]),
            format!("clip_start_gt_5000:{}", ids[2]),
        ]
    );
}

// ---- §8 sampled assets and §9 sampling ----

#[tokio::test]
async fn small_datasets_sample_every_row() {
    let d = {
        let mut pkg = TestPackage::valid();
        pkg.records.truncate(3);
        pkg.write();
        check_dir(pkg.dir()).await
    };
    assert!(d.accepted, "{:?}", d.failures);
    assert_eq!((d.record_count, d.sampled_rows), (3, 3));
    assert_eq!(d.notes.sampled_row_indices.as_deref(), Some(&[0, 1, 2][..]));
}

#[tokio::test]
async fn hashes_are_compared_as_lowercase_hex_on_sampled_rows_only() {
    let pkg = TestPackage::valid();
    let sampled = SAMPLED[0];
    let id = pkg.records[sampled].clip_id.clone();
    assert!(with_records(|p| p.records[0].clip_sha256 = p.records[0].clip_sha256.to_uppercase()).await.is_empty());
    let got = with_records(|p| p.records[sampled].clip_sha256 = p.records[sampled].clip_sha256.to_uppercase()).await;
    assert_eq!(got, [format!("clip_sha256_mismatch:{id}")]);
    let got = with_records(|p| p.records[sampled].first_frame_sha256 = "a".repeat(64)).await;
    assert_eq!(got, [format!("first_frame_sha256_mismatch:{id}")]);
}

/// Replaces the clip of the first sampled row by a synthetic one and fixes its hash.
async fn with_clip(clip: SynthClip, declared_fps: Option<f64>) -> (String, Vec<String>) {
    let mut pkg = TestPackage::valid();
    let row = SAMPLED[0];
    let path = pkg.clip_path(row);
    synth_clip(&path, &clip).await.expect("ffmpeg makes the test clip");
    pkg.records[row].clip_sha256 = sha256_hex(&std::fs::read(&path).expect("clip"));
    if let Some(fps) = declared_fps {
        pkg.records[row].fps = fps;
    }
    let id = pkg.records[row].clip_id.clone();
    pkg.write();
    (id, decide(&pkg).await)
}

#[tokio::test]
async fn real_resolution_must_be_1280x720() {
    let (id, got) = with_clip(SynthClip { width: 854, height: 480, fps: 30, ..SynthClip::default() }, Some(30.0)).await;
    assert_eq!(got, [format!("invalid_resolution:{id}:854x480")]);
    let (_, got) = with_clip(SynthClip { fps: 30, ..SynthClip::default() }, Some(30.0)).await;
    assert!(got.is_empty(), "{got:?}");
}

#[tokio::test]
async fn real_duration_must_be_within_a_quarter_second() {
    let base = SynthClip { fps: 30, audio: false, ..SynthClip::default() };
    let (_, got) = with_clip(SynthClip { seconds: 5.2, ..base.clone() }, Some(30.0)).await;
    assert!(got.is_empty(), "{got:?}");
    let (id, got) = with_clip(SynthClip { seconds: 4.5, ..base.clone() }, Some(30.0)).await;
    assert_eq!(got, [format!("clip_metadata_mismatch:{id}:duration")]);
}

#[tokio::test]
async fn real_frame_rate_must_be_within_one_percent_of_declared() {
    let base = SynthClip { fps: 30, audio: false, ..SynthClip::default() };
    // 30 vs 30.3 is exactly 1% away: allowed; 30 vs 30.5 is not.
    let (_, got) = with_clip(base.clone(), Some(30.3)).await;
    assert!(got.is_empty(), "{got:?}");
    let (id, got) = with_clip(base.clone(), Some(30.5)).await;
    assert_eq!(got, [format!("clip_metadata_mismatch:{id}:fps")]);
    // Duration is reported first when both are wrong.
    let (id, got) = with_clip(SynthClip { seconds: 4.0, fps: 25, ..base }, Some(30.0)).await;
    assert_eq!(got, [format!("clip_metadata_mismatch:{id}:duration"), format!("clip_metadata_mismatch:{id}:fps")]);
}
