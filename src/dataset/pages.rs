//! The physical layout of a dataset, checked before values are decoded: column chunks lie
//! inside the file's data area and never share bytes (a row group pointing at another row
//! group's pages is refused, as pyarrow refuses it), every chunk's pages come in order (a
//! dictionary page only first, data pages holding exactly the chunk's values), and no page
//! decompresses to more than [`MAX_PAGE_BYTES`].
//!
//! The walk also measures how large one decoded value can get (the longest dictionary
//! entry, or a whole page for delta-encoded text), so the decoder can size its batches to
//! stay within a fixed byte budget however the file amplifies its values.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::serialized_reader::SerializedPageReader;

use super::DatasetError;

/// Most bytes one page may decompress to (stricter: pyarrow and polars write 1 MiB pages).
pub const MAX_PAGE_BYTES: usize = 64 << 20;

fn schema_error(message: String) -> DatasetError {
    DatasetError::Schema(message)
}

/// Where the column chunks may lie: after the leading magic, before the footer.
fn data_area(path: &Path) -> Result<(u64, u64), DatasetError> {
    let mut file = File::open(path).map_err(|e| DatasetError::Internal(format!("cannot open dataset: {e}")))?;
    let len = file.metadata().map_err(|e| DatasetError::Internal(format!("cannot stat dataset: {e}")))?.len();
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| schema_error(format!("dataset.parquet has no footer: {e}")))?;
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let end = len
        .checked_sub(8 + footer_len)
        .ok_or_else(|| schema_error("dataset.parquet declares a footer longer than the file".into()))?;
    Ok((4, end))
}

/// Checks that the chunks of the file's leaf columns `leaves` (every row group) lie inside
/// the data area and do not overlap.
pub(crate) fn check_chunk_ranges(path: &Path, meta: &ParquetMetaData, leaves: &[usize]) -> Result<(), DatasetError> {
    let (lo, hi) = data_area(path)?;
    let mut ranges = Vec::new();
    for (g, group) in meta.row_groups().iter().enumerate() {
        for &leaf in leaves {
            let Some(chunk) = group.columns().get(leaf) else { continue };
            let data = chunk.data_page_offset();
            let start = chunk.dictionary_page_offset().unwrap_or(data);
            let len = chunk.compressed_size();
            let end = start.checked_add(len).filter(|_| start >= 0 && len >= 0 && data >= start && data < start + len);
            let Some(end) = end else {
                return Err(schema_error(format!(
                    "row group {g}, column {}: chunk offsets {start}+{len} (data page at {data}) are invalid",
                    chunk.column_path()
                )));
            };
            if (start as u64) < lo || end as u64 > hi {
                return Err(schema_error(format!(
                    "row group {g}, column {}: chunk bytes {start}..{end} lie outside the file's data area",
                    chunk.column_path()
                )));
            }
            ranges.push((start, end, g));
        }
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(schema_error(format!(
                "row groups {} and {} share column chunk bytes at offset {}",
                pair[0].2, pair[1].2, pair[1].0
            )));
        }
    }
    Ok(())
}

/// Longest value of a PLAIN-encoded byte-array dictionary page.
fn longest_plain_value(buf: &[u8]) -> usize {
    let (mut at, mut longest) = (0usize, 0usize);
    while let Some(raw) = buf.get(at..at + 4) {
        let len = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
        longest = longest.max(len);
        at = at.saturating_add(4).saturating_add(len);
    }
    longest
}

/// Walks every page of leaf column `leaf` in every row group; returns an upper bound on
/// the size of one decoded value.
pub(crate) fn walk_column(path: &Path, meta: &ParquetMetaData, leaf: usize) -> Result<usize, DatasetError> {
    let file = Arc::new(File::open(path).map_err(|e| DatasetError::Internal(format!("cannot open dataset: {e}")))?);
    let mut longest = 8usize;
    for (g, group) in meta.row_groups().iter().enumerate() {
        let Some(chunk) = group.columns().get(leaf) else { continue };
        let name = chunk.column_path().string();
        let bad = |what: String| schema_error(format!("row group {g}, column `{name}`: {what}"));
        let rows = usize::try_from(group.num_rows()).map_err(|_| bad("negative row count".into()))?;
        let mut pages = SerializedPageReader::new(file.clone(), chunk, rows, None)
            .map_err(|e| bad(format!("pages cannot be read: {e}")))?;
        let byte_array = chunk.column_type() == PhysicalType::BYTE_ARRAY;
        let (mut values, mut index) = (0i64, 0usize);
        while let Some(page) = pages.get_next_page().map_err(|e| bad(format!("page {index} cannot be read: {e}")))? {
            if page.buffer().len() > MAX_PAGE_BYTES {
                return Err(bad(format!("page {index} decompresses to more than {MAX_PAGE_BYTES} bytes")));
            }
            match &page {
                Page::DictionaryPage { buf, .. } => {
                    if index != 0 {
                        return Err(bad(format!("dictionary page at position {index}, not first")));
                    }
                    if byte_array {
                        longest = longest.max(longest_plain_value(buf));
                    }
                }
                _ => {
                    values += i64::from(page.num_values());
                    let delta =
                        matches!(page.encoding(), Encoding::DELTA_BYTE_ARRAY | Encoding::DELTA_LENGTH_BYTE_ARRAY);
                    if byte_array && delta {
                        longest = longest.max(page.buffer().len());
                    }
                }
            }
            index += 1;
        }
        if values != chunk.num_values() {
            return Err(bad(format!("pages hold {values} values, the chunk declares {}", chunk.num_values())));
        }
    }
    Ok(longest)
}

#[cfg(test)]
mod tests {
    use super::longest_plain_value;

    #[test]
    fn longest_dictionary_value() {
        let mut buf = Vec::new();
        for v in ["ab", "", "hello"] {
            buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
            buf.extend_from_slice(v.as_bytes());
        }
        assert_eq!(longest_plain_value(&buf), 5);
        assert_eq!(longest_plain_value(&[9, 0]), 0);
        assert_eq!(longest_plain_value(&[255, 255, 255, 255]), u32::MAX as usize);
    }
}
