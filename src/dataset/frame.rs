//! The compact frame the package-wide checks run on: one polars row per dataset row with
//! clip id, source groups, start and duplicate fingerprints, plus per-row facts.

use polars::prelude::*;
use rayon::prelude::*;

use super::DatasetError;
use super::arena::StrArena;
use super::columns::KeyedRows;

/// Which grouping an overlap query uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceGrouping {
    /// The declared (trimmed) `source_video_id`.
    Declared,
    /// The canonical source key of `source_video_url` (protocol §10).
    Canonical,
}

impl SourceGrouping {
    fn column(self) -> &'static str {
        match self {
            Self::Declared => "source_id",
            Self::Canonical => "source_key",
        }
    }
}

/// Fingerprints compared for duplicates, in protocol order (kept beside the table).
pub const DUPLICATE_COLUMNS: [&str; 4] = ["fp_clip_id", "fp_clip_uri", "fp_clip_sha256", "fp_frame_sha256"];

/// A decoded, rule-checked dataset.
#[derive(Debug, Clone)]
pub struct DatasetFrame {
    /// The compact polars table.
    pub table: DataFrame,
    /// Declared source id of each row. A source group's id is the row where it first
    /// appears, so `source_ids.get(group)` is that group's key.
    pub source_ids: StrArena,
    /// Canonical source key of each row (same group-id convention).
    pub source_keys: StrArena,
    /// Whether each row's URL host is YouTube.
    pub youtube: Vec<bool>,
    /// Per row, the fingerprints of [`DUPLICATE_COLUMNS`] in that order.
    pub fingerprints: [Vec<u128>; 4],
    /// Caption word counts, capped at the minimum.
    pub caption_words: Vec<u8>,
    /// Whether each caption holds a URL.
    pub caption_has_url: Vec<bool>,
    /// The first rows (in row order, then column order) whose value was longer than its
    /// column's cap, with that column's name; at most 256.
    pub too_long: Vec<(u32, String)>,
    /// How many values were longer than their cap in all.
    pub too_long_total: u64,
}

fn internal(e: PolarsError) -> DatasetError {
    DatasetError::Internal(format!("dataset frame: {e}"))
}

/// Everything decoded from the columns, before it becomes a frame.
#[derive(Debug, Default)]
pub struct FrameParts {
    pub clip_ids: StrArena,
    pub clip_id_fps: Vec<u128>,
    pub clip_uri_fps: Vec<u128>,
    pub clip_sha_fps: Vec<u128>,
    pub frame_sha_fps: Vec<u128>,
    pub declared: KeyedRows,
    pub canonical: KeyedRows,
    pub starts: Vec<f64>,
    pub youtube: Vec<bool>,
    pub caption_words: Vec<u8>,
    pub caption_has_url: Vec<bool>,
    pub too_long: Vec<(u32, String)>,
    pub too_long_total: u64,
}

/// For every row, the first row with the same fingerprint: a group id that sorts groups
/// in order of first appearance. Found by a parallel sort instead of a hash map, so a
/// million distinct values cost one sort and no rehashing.
pub fn first_rows(fingerprints: &[u128]) -> Vec<u32> {
    // Sorting row numbers (4 bytes each) by (fingerprint, row) keeps the extra memory small.
    let mut order: Vec<u32> = (0..fingerprints.len() as u32).collect();
    order.par_sort_unstable_by_key(|&row| (fingerprints[row as usize], row));
    let mut first = vec![0u32; fingerprints.len()];
    for run in order.chunk_by(|&a, &b| fingerprints[a as usize] == fingerprints[b as usize]) {
        let head = run[0];
        for &row in run {
            first[row as usize] = head;
        }
    }
    first
}

impl DatasetFrame {
    /// Builds the frame from decoded columns.
    pub fn from_parts(parts: FrameParts) -> Result<Self, DatasetError> {
        let height = parts.clip_ids.len();
        let (declared_groups, canonical_groups) =
            rayon::join(|| first_rows(&parts.declared.fingerprints), || first_rows(&parts.canonical.fingerprints));
        let table = DataFrame::new(
            height,
            vec![
                Column::new("row".into(), (0..height as u32).collect::<Vec<u32>>()),
                Column::new("clip_id".into(), parts.clip_ids.iter().collect::<Vec<&str>>()),
                Column::new("source_id".into(), declared_groups),
                Column::new("source_key".into(), canonical_groups),
                Column::new("start".into(), parts.starts),
            ],
        )
        .map_err(internal)?;
        Ok(Self {
            table,
            source_ids: parts.declared.keys,
            source_keys: parts.canonical.keys,
            youtube: parts.youtube,
            fingerprints: [parts.clip_id_fps, parts.clip_uri_fps, parts.clip_sha_fps, parts.frame_sha_fps],
            caption_words: parts.caption_words,
            caption_has_url: parts.caption_has_url,
            too_long: parts.too_long,
            too_long_total: parts.too_long_total,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.table.height()
    }

    /// Whether the dataset has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Trimmed clip id of `row`.
    pub fn clip_id(&self, row: usize) -> Result<&str, DatasetError> {
        self.table
            .column("clip_id")
            .and_then(|c| c.str())
            .map_err(internal)?
            .get(row)
            .ok_or_else(|| DatasetError::Internal(format!("row {row} out of range")))
    }

    /// Declared source id of `row`.
    pub fn declared_source(&self, row: usize) -> Result<&str, DatasetError> {
        self.source_ids.get(row).ok_or_else(|| DatasetError::Internal(format!("row {row} out of range")))
    }

    /// Canonical source key of `row`.
    pub fn source_key(&self, row: usize) -> Result<&str, DatasetError> {
        self.source_keys.get(row).ok_or_else(|| DatasetError::Internal(format!("row {row} out of range")))
    }

    /// Clip starts, in row order.
    pub fn starts(&self) -> Result<Vec<f64>, DatasetError> {
        let ca = self.table.column("start").and_then(|c| c.f64()).map_err(internal)?;
        Ok(ca.into_no_null_iter().collect())
    }

    /// Adjacent close pairs `(earlier_row, later_row, group_id)`: rows grouped by
    /// `grouping`, groups in first-appearance order, each sorted stably by start, every
    /// adjacent pair less than `min_distance` apart.
    pub fn close_pairs(
        &self,
        grouping: SourceGrouping,
        min_distance: f64,
    ) -> Result<Vec<(u32, u32, u32)>, DatasetError> {
        let group = grouping.column();
        let pairs = self
            .table
            .clone()
            .lazy()
            .select([col("row"), col(group).alias("group"), col("start")])
            .sort_by_exprs([col("group"), col("start")], SortMultipleOptions::default().with_maintain_order(true))
            .with_columns([
                col("row").shift(lit(1)).alias("prev_row"),
                col("group").shift(lit(1)).alias("prev_group"),
                col("start").shift(lit(1)).alias("prev_start"),
            ])
            .filter(col("group").eq(col("prev_group")).and((col("start") - col("prev_start")).lt(lit(min_distance))))
            .select([col("prev_row"), col("row"), col("group")])
            .collect()
            .map_err(internal)?;
        let prev = pairs.column("prev_row").and_then(|c| c.u32()).map_err(internal)?;
        let row = pairs.column("row").and_then(|c| c.u32()).map_err(internal)?;
        let grp = pairs.column("group").and_then(|c| c.u32()).map_err(internal)?;
        // The filter drops the first row of each sort (its shifted values are null).
        Ok(prev
            .into_no_null_iter()
            .zip(row.into_no_null_iter())
            .zip(grp.into_no_null_iter())
            .map(|((a, b), g)| (a, b, g))
            .collect())
    }

    /// Rows (ascending) whose clip id, clip URI, clip hash or frame hash repeats an
    /// earlier row's. One column at a time, by sorting row numbers (no hash sets), so the
    /// scratch memory is two `u32` per row.
    pub fn duplicate_rows(&self) -> Result<Vec<u32>, DatasetError> {
        let mut repeated = vec![false; self.len()];
        for fps in &self.fingerprints {
            if fps.is_empty() {
                continue;
            }
            if fps.len() != repeated.len() {
                return Err(DatasetError::Internal("fingerprint column of the wrong length".into()));
            }
            for (row, first) in first_rows(fps).into_iter().enumerate() {
                if first as usize != row {
                    repeated[row] = true;
                }
            }
        }
        Ok(repeated.iter().enumerate().filter(|(_, r)| **r).map(|(row, _)| row as u32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::first_rows;

    #[test]
    fn group_ids_are_first_rows_in_appearance_order() {
        assert_eq!(first_rows(&[7, 3, 7, 9, 3, 7]), [0, 1, 0, 3, 1, 0]);
        assert_eq!(first_rows(&[]), Vec::<u32>::new());
        assert_eq!(first_rows(&[u128::MAX, 0]), [0, 1]);
    }
}
