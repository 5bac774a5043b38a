//! Packages from strangers: broken or lying files, huge values, path tricks. Each must end
//! in the right failure code, never a panic, never unbounded memory.

use crate::support::{INTERVAL, SAMPLED, TestPackage, check_dir, check_dir_with, failures, request, sha256_hex};
use nexis::dataset::ReadLimits;
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
async fn a_fifty_megabyte_caption_is_read_within_the_caps() {
    let mut pkg = TestPackage::valid();
    pkg.records[0].caption = "wave ".repeat(10 << 20);
    pkg.write();
    let d = check_dir(pkg.dir()).await;
    assert!(d.accepted, "a long caption breaks no rule: {:?}", d.failures);
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
