//! Packages from strangers: broken or lying files, huge values, path tricks. Each must end
//! in the right failure code, never a panic, never unbounded memory.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};
use parquet::file::properties::WriterProperties;

use crate::support::{INTERVAL, SAMPLED, TestPackage, check_dir, check_dir_with, failures, request, sha256_hex};
use nexis::dataset::{ReadLimits, to_batch};
use nexis::model::MAX_DECISION_FAILURES;
use nexis::validator::PackageLimits;

async fn decide(pkg: &TestPackage) -> Vec<String> {
    failures(&check_dir(pkg.dir()).await)
}

async fn decide_with(pkg: &TestPackage, limits: PackageLimits) -> Vec<String> {
    failures(&check_dir_with(pkg.dir(), &request(INTERVAL), limits).await)
}

/// Replaces dataset.parquet with `bytes` and makes the manifest agree with its hash.
fn replace_dataset(pkg: &TestPackage, bytes: &[u8]) {
    std::fs::write(pkg.dataset(), bytes).expect("write dataset");
    pkg.edit_manifest(|m| m["dataset_sha256"] = sha256_hex(bytes).into());
}

fn replace_manifest(pkg: &TestPackage, bytes: &[u8]) {
    std::fs::write(pkg.dir().join("manifest.json"), bytes).expect("write manifest");
}

#[tokio::test]
async fn truncated_parquet_is_schema_invalid() {
    let pkg = TestPackage::valid();
    let bytes = std::fs::read(pkg.dataset()).expect("dataset");
    for cut in [bytes.len() / 2, bytes.len() - 3, 8, 0] {
        replace_dataset(&pkg, &bytes[..cut]);
        assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"], "cut at {cut}");
    }
}

#[tokio::test]
async fn random_bytes_and_corrupted_pages_are_schema_invalid() {
    let pkg = TestPackage::valid();
    let noise: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    replace_dataset(&pkg, &noise);
    assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"]);

    // Valid magic and footer, garbage in the column pages.
    let mut bytes = std::fs::read(TestPackage::valid().dataset()).expect("dataset");
    for b in bytes.iter_mut().skip(4).take(600) {
        *b ^= 0x5a;
    }
    replace_dataset(&pkg, &bytes);
    assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"]);
}

/// Rewrites every `num_rows` i64 field of the thrift footer (field delta 1, type i64,
/// value 12) to `rows`, fixing the footer length, so the file lies about its size.
fn lie_about_rows(parquet: &[u8], rows: i64) -> Vec<u8> {
    let n = parquet.len();
    let footer_len = u32::from_le_bytes(parquet[n - 8..n - 4].try_into().expect("4 bytes")) as usize;
    let footer = &parquet[n - 8 - footer_len..n - 8];
    let mut varint = Vec::new();
    let mut z = ((rows << 1) ^ (rows >> 63)) as u64;
    loop {
        let byte = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            varint.push(byte);
            break;
        }
        varint.push(byte | 0x80);
    }
    let mut patched = Vec::with_capacity(footer.len() + 16);
    let mut i = 0;
    let mut hits = 0;
    while i < footer.len() {
        if footer[i..].starts_with(&[0x16, 24]) {
            patched.push(0x16);
            patched.extend_from_slice(&varint);
            i += 2;
            hits += 1;
        } else {
            patched.push(footer[i]);
            i += 1;
        }
    }
    assert!(hits >= 1, "num_rows field not found in the footer");
    let mut out = parquet[..n - 8 - footer_len].to_vec();
    out.extend_from_slice(&patched);
    out.extend_from_slice(&(patched.len() as u32).to_le_bytes());
    out.extend_from_slice(b"PAR1");
    out
}

#[tokio::test]
async fn footer_claiming_billions_of_rows_is_refused_before_decoding() {
    let pkg = TestPackage::valid();
    let bytes = std::fs::read(pkg.dataset()).expect("dataset");
    for rows in [3_000_000_000i64, 60, 5] {
        replace_dataset(&pkg, &lie_about_rows(&bytes, rows));
        pkg.edit_manifest(|m| m["record_count"] = rows.into());
        assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"], "footer claims {rows} rows");
    }
}

#[tokio::test]
async fn row_cap_rejects_datasets_larger_than_allowed() {
    let pkg = TestPackage::valid();
    let limits =
        PackageLimits { read: ReadLimits { max_rows: 11, ..ReadLimits::default() }, ..PackageLimits::default() };
    assert_eq!(decide_with(&pkg, limits).await, ["dataset_schema_invalid"]);
}

#[tokio::test]
async fn oversized_submission_files_count_as_missing() {
    let pkg = TestPackage::valid();
    let size = std::fs::metadata(pkg.dataset()).expect("dataset").len();
    let limits = PackageLimits { max_dataset_bytes: size - 1, ..PackageLimits::default() };
    assert_eq!(decide_with(&pkg, limits).await, ["missing_submission_files"]);
    let limits = PackageLimits { max_manifest_bytes: 64, ..PackageLimits::default() };
    assert_eq!(decide_with(&pkg, limits).await, ["missing_submission_files"]);
}

#[tokio::test]
async fn a_fifty_megabyte_caption_is_too_long_and_read_within_the_caps() {
    let mut pkg = TestPackage::valid();
    pkg.records[0].caption = "wave ".repeat(10 << 20);
    let id = pkg.records[0].clip_id.clone();
    pkg.write();
    assert_eq!(decide(&pkg).await, [format!("value_too_long:caption:{id}")]);
    // With a smaller dataset cap the same file is refused as an oversized download.
    let limits = PackageLimits { max_dataset_bytes: 1 << 20, ..PackageLimits::default() };
    assert_eq!(decide_with(&pkg, limits).await, ["missing_submission_files"]);
}

#[tokio::test]
async fn manifests_that_are_not_objects_are_schema_invalid() {
    let pkg = TestPackage::valid();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: [&[u8]; 6] = [b"[1, 2, 3]", b"\"manifest\"", b"{\"spec_id\": ", deep.as_bytes(), b"\xff\xfe{}", b"null"];
    for bytes in cases {
        replace_manifest(&pkg, bytes);
        assert_eq!(
            decide(&pkg).await,
            ["manifest_schema_invalid"],
            "{:?}",
            String::from_utf8_lossy(&bytes[..20.min(bytes.len())])
        );
    }
}

#[tokio::test]
async fn manifest_fields_of_the_wrong_type_are_schema_invalid() {
    for (field, value) in [
        ("record_count", serde_json::json!([12])),
        ("dataset_sha256", serde_json::json!(12)),
        ("miner_hotkey", serde_json::json!({"a": 1})),
        ("interval_id", serde_json::json!(-5)),
        ("created_at", serde_json::json!("yesterday")),
    ] {
        let pkg = TestPackage::valid();
        pkg.edit_manifest(|m| m[field] = value.clone());
        assert_eq!(decide(&pkg).await, ["manifest_schema_invalid"], "{field} = {value}");
    }
}

#[tokio::test]
async fn path_traversal_uris_are_invalid_and_nothing_outside_is_read() {
    let row = SAMPLED[0];
    for uri in ["../secret.mp4", "clips/../../secret.mp4", "clips/..", "clips\\..\\x.mp4", " "] {
        let mut pkg = TestPackage::valid();
        pkg.records[row].clip_uri = uri.into();
        if uri.trim().is_empty() {
            // A blank URI breaks the schema (non-empty) before assets are looked at.
            pkg.write();
            assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"]);
            continue;
        }
        pkg.write();
        assert_eq!(decide(&pkg).await, [format!("invalid_asset_uri:{uri}")], "{uri}");
    }
}

#[tokio::test]
async fn absolute_uris_are_normalised_inside_the_prefix() {
    let mut pkg = TestPackage::valid();
    let row = SAMPLED[0];
    pkg.records[row].clip_uri = format!("/{}", pkg.records[row].clip_uri.replace('/', "//./"));
    pkg.write();
    assert!(decide(&pkg).await.is_empty());

    let mut pkg = TestPackage::valid();
    let id = pkg.records[row].clip_id.clone();
    pkg.records[row].clip_uri = "https://evil.example/clip.mp4".into();
    pkg.write();
    assert_eq!(decide(&pkg).await, [format!("missing_clip_asset:{id}")]);
}

#[tokio::test]
async fn a_file_that_is_not_video_fails_closed() {
    let mut pkg = TestPackage::valid();
    let row = SAMPLED[1];
    let bytes = b"<html>not a video</html>".repeat(100);
    std::fs::write(pkg.clip_path(row), &bytes).expect("write");
    pkg.records[row].clip_sha256 = sha256_hex(&bytes);
    let id = pkg.records[row].clip_id.clone();
    pkg.write();
    assert_eq!(decide(&pkg).await, [format!("invalid_clip_media:{id}")]);
}

#[tokio::test]
async fn assets_over_their_caps_are_missing() {
    let pkg = TestPackage::valid();
    let ids: Vec<String> = SAMPLED.iter().map(|&r| pkg.records[r].clip_id.clone()).collect();
    let limits = PackageLimits { max_clip_bytes: 1000, ..PackageLimits::default() };
    let want: Vec<String> = ids.iter().map(|id| format!("missing_clip_asset:{id}")).collect();
    assert_eq!(decide_with(&pkg, limits).await, want);
    let limits = PackageLimits { max_frame_bytes: 100, ..PackageLimits::default() };
    let want: Vec<String> = ids.iter().map(|id| format!("missing_first_frame_asset:{id}")).collect();
    assert_eq!(decide_with(&pkg, limits).await, want);
}

#[tokio::test]
async fn a_symlink_out_of_the_package_is_not_followed() {
    let pkg = TestPackage::valid();
    let row = SAMPLED[0];
    let outside = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::copy(pkg.clip_path(row), outside.path()).expect("copy");
    let clip = pkg.clip_path(row);
    std::fs::remove_file(&clip).expect("rm");
    std::os::unix::fs::symlink(outside.path(), &clip).expect("symlink");
    let id = pkg.records[row].clip_id.clone();
    assert_eq!(decide(&pkg).await, [format!("missing_clip_asset:{id}")]);
}

// ---- Issue 14, part A -------------------------------------------------------------------

/// 20,000 rows, each with a 200-character clip id, a short caption and a repeated URI: the
/// failure-list bomb. The decision lists 256 failures and counts the rest.
#[tokio::test]
async fn a_failure_list_bomb_gives_a_bounded_decision_with_counts() {
    let mut pkg = TestPackage::valid();
    let template = pkg.records[0].clone();
    pkg.records = (0..20_000)
        .map(|i| {
            let mut r = template.clone();
            r.clip_id = format!("{i:0>200}");
            r.clip_start_sec = (i * 5) as f64;
            r.caption = "too short".into();
            r
        })
        .collect();
    pkg.write();
    let d = check_dir(pkg.dir()).await;
    assert!(!d.accepted);
    assert_eq!(d.failures.len(), MAX_DECISION_FAILURES);
    // value_too_long comes first, in row order, with the clip id cut to 64 characters.
    let first = d.failures[0].to_string();
    assert_eq!(first, format!("value_too_long:clip_id:{}", &format!("{:0>200}", 0)[..64]));
    assert!(d.failures.iter().all(|f| f.to_string().len() < 300), "every listed failure is short");
    let total = d.notes.failures_total.expect("failures_total");
    let by_code = d.notes.failures_by_code.clone().expect("failures_by_code");
    assert_eq!(by_code["value_too_long"], 20_000);
    assert_eq!(by_code["short_caption"], 20_000);
    assert!(by_code["duplicate_clip"] >= 19_999, "{by_code:?}");
    assert_eq!(by_code.values().sum::<u64>(), total);
    let json = d.to_json();
    assert!(json.len() < 64 << 10, "decision JSON is {} bytes", json.len());
}

#[tokio::test]
async fn text_values_over_their_caps_are_value_too_long() {
    let mut pkg = TestPackage::valid();
    let cases = [(0, "source_video_id", 65), (1, "source_video_url", 2049), (2, "first_frame_uri", 2049)];
    for (row, column, len) in cases {
        let r = &mut pkg.records[row];
        match column {
            "source_video_id" => r.source_video_id = "v".repeat(len),
            "source_video_url" => {
                r.source_video_url = format!("https://www.youtube.com/watch?v=x&pad={}", "p".repeat(len))
            }
            _ => r.first_frame_uri = format!("frames/{}", "f".repeat(len)),
        }
    }
    // Exactly at the caps: fine (64 characters of a multi-byte letter, 2,048 bytes).
    pkg.records[3].split = "s".repeat(4096);
    pkg.records[4].source_video_id = "é".repeat(64);
    let ids: Vec<String> = pkg.records.iter().map(|r| r.clip_id.clone()).collect();
    pkg.write();
    let got = decide(&pkg).await;
    let too_long: Vec<&String> = got.iter().filter(|f| f.starts_with("value_too_long")).collect();
    assert_eq!(
        too_long,
        [
            &format!("value_too_long:source_video_id:{}", ids[0]),
            &format!("value_too_long:source_video_url:{}", ids[1]),
            &format!("value_too_long:first_frame_uri:{}", ids[2]),
        ]
    );
}

/// A caption column whose dictionary holds one 4,000-byte caption used by every row: the
/// footer declares a few kilobytes, decoding produces far more. The cap counts what is
/// decoded.
#[tokio::test]
async fn the_decode_cap_counts_decoded_bytes_not_declared_sizes() {
    let mut pkg = TestPackage::valid();
    let caption = "wave ".repeat(800);
    for r in &mut pkg.records {
        r.caption = caption.clone();
    }
    pkg.write();
    assert!(decide(&pkg).await.is_empty(), "long identical captions break no rule");
    let limits = PackageLimits {
        read: ReadLimits { max_decoded_bytes: 40_000, ..ReadLimits::default() },
        ..PackageLimits::default()
    };
    assert_eq!(decide_with(&pkg, limits).await, ["dataset_schema_invalid"]);
}

fn with_extra_column(pkg: &TestPackage, name: &str, array: ArrayRef) -> RecordBatch {
    let batch = to_batch(&pkg.records).expect("batch");
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    fields.push(Field::new(name, array.data_type().clone(), true));
    columns.push(array);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

#[tokio::test]
async fn duplicate_column_names_are_schema_invalid() {
    let pkg = TestPackage::valid();
    let n = pkg.records.len();
    let vimeo: ArrayRef = Arc::new(StringArray::from(vec!["https://vimeo.com/1"; n]));
    pkg.write_batch(&with_extra_column(&pkg, "source_video_url", vimeo));
    assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"]);
    let url_caption: ArrayRef = Arc::new(StringArray::from(vec!["see https://evil.example now"; n]));
    pkg.write_batch(&with_extra_column(&pkg, "caption", url_caption));
    assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"]);
    // An extra column with a new name is still ignored.
    let extra: ArrayRef = Arc::new(StringArray::from(vec!["x"; n]));
    pkg.write_batch(&with_extra_column(&pkg, "notes", extra));
    assert!(decide(&pkg).await.is_empty());
}

/// Writes the dataset in two row groups of six rows, then rewrites the footer so row group
/// 1's column chunks point at row group 0's pages (pyarrow refuses such a file).
#[tokio::test]
async fn a_row_group_pointing_at_another_row_groups_pages_is_schema_invalid() {
    let pkg = TestPackage::valid();
    let batch = to_batch(&pkg.records).expect("batch");
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(6)).build();
    let mut bytes = Vec::new();
    let mut w = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props)).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    std::fs::write(pkg.dataset(), &bytes).expect("write");
    pkg.fix_manifest(12);
    assert!(decide(&pkg).await.is_empty(), "the honest two-row-group file is valid");

    let footer_len = u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().expect("4")) as usize;
    let body = bytes.len() - 8 - footer_len;
    let file = std::fs::File::open(pkg.dataset()).expect("open");
    let meta = ParquetMetaDataReader::new().parse_and_finish(&file).expect("footer");
    assert_eq!(meta.num_row_groups(), 2);
    let first = meta.row_group(0).clone();
    let second = meta.row_group(1).clone().into_builder().set_column_metadata(first.columns().to_vec());
    let patched = meta.clone().into_builder().set_row_groups(vec![first, second.build().expect("row group")]).build();
    let mut out = bytes[..body].to_vec();
    ParquetMetaDataWriter::new(&mut out, &patched).finish().expect("footer");
    std::fs::write(pkg.dataset(), &out).expect("write");
    pkg.fix_manifest(12);
    assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"]);
}

#[tokio::test]
async fn non_finite_numbers_are_schema_invalid() {
    for (column, value) in [("fps", f64::INFINITY), ("clip_start_sec", f64::INFINITY), ("duration_sec", f64::NAN)] {
        let pkg = TestPackage::valid();
        let batch = to_batch(&pkg.records).expect("batch");
        let current = batch.column_by_name(column).expect(column);
        let mut values: Vec<f64> =
            current.as_any().downcast_ref::<Float64Array>().expect("f64").values().iter().copied().collect();
        values[0] = value;
        pkg.write_batch(&pkg.batch_with(column, Arc::new(Float64Array::from(values))));
        assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"], "{column} = {value}");
    }
}

/// Rewrites the `mvhd` duration of an MP4 to `seconds` (version 0 box).
fn patch_mvhd(bytes: &mut [u8], seconds: u32) {
    let at = bytes.windows(4).position(|w| w == b"mvhd").expect("mvhd box");
    assert_eq!(bytes[at + 4], 0, "version 0 mvhd");
    let timescale = u32::from_be_bytes(bytes[at + 16..at + 20].try_into().expect("4"));
    bytes[at + 20..at + 24].copy_from_slice(&(timescale * seconds).to_be_bytes());
}

#[tokio::test]
async fn a_twenty_second_clip_with_a_patched_container_duration_fails_the_duration_check() {
    let mut pkg = TestPackage::valid();
    let row = SAMPLED[0];
    let fps = pkg.records[row].fps;
    let clip = pkg.clip_path(row);
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=1280x720:rate={fps}"))
        .args(["-t", "20", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mp4"])
        .arg(&clip)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let mut bytes = std::fs::read(&clip).expect("clip");
    patch_mvhd(&mut bytes, 5);
    std::fs::write(&clip, &bytes).expect("write");
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(&clip)
        .output()
        .expect("ffprobe");
    let container: f64 = String::from_utf8_lossy(&probe.stdout).trim().parse().expect("duration");
    assert!((container - 5.0).abs() < 0.01, "the container claims {container} s");
    pkg.records[row].clip_sha256 = sha256_hex(&bytes);
    let id = pkg.records[row].clip_id.clone();
    pkg.write();
    assert_eq!(decide(&pkg).await, [format!("clip_metadata_mismatch:{id}:duration")]);
}

// Item 17: lenient types. Each case either reads like the Python validator or is refused
// on purpose (docs/dataset-schema.md, "Deliberately stricter").

#[tokio::test]
async fn a_decimal_duration_is_read_like_the_python_validator() {
    let pkg = TestPackage::valid();
    let millis: Vec<i128> = pkg.records.iter().map(|r| (r.duration_sec * 1000.0).round() as i128).collect();
    let decimals = arrow_array::Decimal128Array::from(millis).with_precision_and_scale(6, 3).expect("decimal");
    pkg.write_batch(&pkg.batch_with("duration_sec", Arc::new(decimals)));
    assert!(decide(&pkg).await.is_empty());
}

#[tokio::test]
async fn information_separators_split_caption_words_like_python() {
    let mut pkg = TestPackage::valid();
    let row = 0;
    assert!(!SAMPLED.contains(&row));
    pkg.records[row].caption = format!("\u{1f}{}\u{1f}", vec!["word"; 20].join("\u{1f}"));
    pkg.write();
    assert!(decide(&pkg).await.is_empty(), "Python's split() sees 20 words");
    pkg.records[row].caption = vec!["word"; 19].join("\u{1e}");
    let id = pkg.records[row].clip_id.clone();
    pkg.write();
    assert_eq!(decide(&pkg).await, [format!("short_caption:{id}")]);
}

#[tokio::test]
async fn has_audio_as_text_is_refused_deliberately() {
    let pkg = TestPackage::valid();
    let text: ArrayRef = Arc::new(StringArray::from(vec!["true"; pkg.records.len()]));
    pkg.write_batch(&pkg.batch_with("has_audio", text));
    assert_eq!(decide(&pkg).await, ["dataset_schema_invalid"]);
}

#[tokio::test]
async fn lenient_manifest_values_are_refused_deliberately() {
    let pkg = TestPackage::valid();
    pkg.edit_manifest(|m| m["netuid"] = true.into());
    assert_eq!(decide(&pkg).await, ["manifest_schema_invalid"], "netuid: true");

    let pkg = TestPackage::valid();
    pkg.edit_manifest(|m| m["record_count"] = "12.0".into());
    assert_eq!(decide(&pkg).await, ["manifest_schema_invalid"], "record_count: \"12.0\"");

    let pkg = TestPackage::valid();
    pkg.edit_manifest(|m| m["miner_hotkey"] = format!(" {} ", crate::support::MINER).into());
    assert_eq!(decide(&pkg).await, ["manifest_identity_mismatch"], "padded miner_hotkey");

    // Integer fields given as integral numeric strings (trimmed) are accepted.
    let pkg = TestPackage::valid();
    pkg.edit_manifest(|m| m["record_count"] = " 12 ".into());
    assert!(decide(&pkg).await.is_empty());
}
