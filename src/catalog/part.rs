//! The parquet encoding of a catalog part: rows sorted by (miner, clip id), zstd, row
//! groups of [`ROW_GROUP_ROWS`] so readers can stream a part, and a fixed `created_by`,
//! so the same rows always give the same bytes (a rerun rewrites a part byte for byte).

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::Path;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::CatalogError;
use super::row::{CatalogRow, part_schema, to_batch};

/// Rows per row group (about a few MiB of compressed columns).
pub(crate) const ROW_GROUP_ROWS: usize = 64 * 1024;
/// `created_by` of every part, fixed so the bytes do not depend on the build.
const CREATED_BY: &str = "nexis catalog v1";

/// What a written part holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartFile {
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
    /// Lowercase hex sha256 of the file.
    pub(crate) sha256: String,
}

/// Sorts rows into part order: miner hotkey, then clip id, then owner id.
pub(crate) fn sort_rows(rows: &mut [CatalogRow]) {
    rows.sort_by(|a, b| (&a.miner_hotkey, &a.clip_id, &a.id).cmp(&(&b.miner_hotkey, &b.clip_id, &b.id)));
}

/// Writes `rows` (in the given order) as a part file at `path`.
pub(crate) fn write_part(path: &Path, rows: &[CatalogRow]) -> Result<PartFile, CatalogError> {
    let file = File::create(path).map_err(|e| CatalogError::io(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| CatalogError::parquet(path, e))?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(CREATED_BY.to_string())
        .build();
    let mut writer = ArrowWriter::try_new(BufWriter::new(file), part_schema(), Some(props))
        .map_err(|e| CatalogError::parquet(path, e))?;
    for chunk in rows.chunks(ROW_GROUP_ROWS) {
        let batch = to_batch(chunk).map_err(|e| CatalogError::parquet(path, e))?;
        writer.write(&batch).map_err(|e| CatalogError::parquet(path, e))?;
    }
    writer.close().map_err(|e| CatalogError::parquet(path, e))?;
    let (bytes, sha256) = hash_file(path)?;
    Ok(PartFile { rows: rows.len() as u64, bytes, sha256 })
}

/// Size and sha256 of a file.
pub(crate) fn hash_file(path: &Path) -> Result<(u64, String), CatalogError> {
    let mut file = File::open(path).map_err(|e| CatalogError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| CatalogError::io(path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic row `i` of miner `hotkey` in `interval`.
    pub(crate) fn row(hotkey: &str, interval: u64, i: usize) -> CatalogRow {
        let id = crate::bundle::keys::owner_row_id(hotkey, interval, &format!("clip{i}"));
        CatalogRow {
            clip_key: format!("nature/{id}/clip.mp4"),
            image_key: format!("nature/{id}/first_image.jpg"),
            metadata_key: format!("nature/{id}/metadata.json"),
            id,
            clip_id: format!("clip{i}"),
            caption: format!("a heron wading in shallow water, take {i}"),
            source_video_id: format!("v{i}"),
            source_video_url: format!("https://www.youtube.com/watch?v=v{i}"),
            clip_start_sec: i as f64 * 5.0,
            duration_sec: Some(5.0),
            width: Some(1280),
            height: Some(720),
            fps: Some(30.0),
            num_frames: Some(150),
            has_audio: Some(i.is_multiple_of(2)),
            clip_sha256: format!("{i:064x}"),
            first_frame_sha256: format!("{:064x}", i + 1),
            clip_bytes: 1000 + i as u64,
            image_bytes: 100 + i as u64,
            interval,
            miner_hotkey: hotkey.to_string(),
            validator_hotkey: Some("5Validator".into()),
            copied_at_us: Some(1_700_000_000_000_000 + i as i64),
            content_fingerprint: (!i.is_multiple_of(3))
                .then(|| format!("{:016x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))),
        }
    }

    #[test]
    fn the_same_rows_give_the_same_bytes_and_row_groups_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows: Vec<CatalogRow> = (0..ROW_GROUP_ROWS + 10).map(|i| row("5Abc", 7, i)).collect();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        let pa = write_part(&a, &rows).expect("write a");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let pb = write_part(&b, &rows).expect("write b");
        assert_eq!(pa, pb);
        assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
        let reader = parquet::file::reader::SerializedFileReader::new(File::open(&a).expect("open")).expect("read");
        use parquet::file::reader::FileReader;
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 2, "row groups are capped for streaming");
        assert_eq!(meta.file_metadata().num_rows() as usize, rows.len());
        assert_eq!(meta.file_metadata().created_by(), Some(CREATED_BY));
        let codec = meta.row_group(0).column(0).compression();
        assert!(matches!(codec, Compression::ZSTD(_)), "{codec:?}");
    }
}
