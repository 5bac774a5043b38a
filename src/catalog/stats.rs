//! `nexis dataset stats`: rows, hours of video, clips per interval and per miner, the
//! caption length distribution of the catalog, and its near-duplicate clusters (rows whose
//! first images' perceptual hashes are within [`MAX_DISTANCE`] bits, linked
//! transitively), as text and as a PNG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use polars::prelude::*;

use super::CatalogError;
use super::frame::FINGERPRINT_COLUMN;
use crate::media::fingerprint::{Fingerprint, MAX_DISTANCE};
use crate::spec::video_v1::columns;

/// Most fingerprinted rows compared pairwise for clusters (beyond, the first ones only).
pub(crate) const MAX_CLUSTERED_ROWS: usize = 50_000;
/// Clusters listed in the report (the largest first).
const LISTED_CLUSTERS: usize = 10;

/// Caption length buckets of the distribution, in characters (the last is open).
pub(crate) const CAPTION_BUCKET_CHARS: u32 = 25;
const CAPTION_BUCKETS: usize = 12;

/// The numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetStats {
    pub(crate) rows: u64,
    /// Sum of the clips' durations, hours (rows without a duration count nothing).
    pub(crate) hours: f64,
    pub(crate) per_interval: BTreeMap<i64, u64>,
    pub(crate) per_miner: BTreeMap<String, u64>,
    /// Caption lengths in characters: min, 10th, 50th, 90th percentile, max.
    pub(crate) caption_quantiles: [u32; 5],
    pub(crate) caption_mean: f64,
    /// Rows per caption length bucket of [`CAPTION_BUCKET_CHARS`]; the last holds the rest.
    pub(crate) caption_histogram: Vec<u64>,
    /// Rows with a content fingerprint (compared for clusters).
    pub(crate) fingerprinted: u64,
    /// Near-duplicate clusters of two or more rows, largest first: the owner row ids.
    pub(crate) clusters: Vec<Vec<String>>,
}

/// Groups of two or more `(id, fingerprint)` rows linked by matching fingerprints
/// (transitively), each sorted, largest first.
pub(crate) fn near_duplicate_clusters(rows: &[(String, Fingerprint)]) -> Vec<Vec<String>> {
    let rows = &rows[..rows.len().min(MAX_CLUSTERED_ROWS)];
    let mut parent: Vec<usize> = (0..rows.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..rows.len() {
        for j in i + 1..rows.len() {
            if rows[i].1.distance(rows[j].1) <= MAX_DISTANCE {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (i, (id, _)) in rows.iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(id.clone());
    }
    let mut out: Vec<Vec<String>> = groups.into_values().filter(|g| g.len() > 1).collect();
    out.iter_mut().for_each(|g| g.sort());
    out.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    out
}

/// Computes the statistics of a catalog frame.
pub fn compute(catalog: LazyFrame) -> Result<DatasetStats, CatalogError> {
    let df = catalog
        .select([
            col("interval").cast(DataType::Int64),
            col("miner_hotkey"),
            col(columns::DURATION_SEC).cast(DataType::Float64),
            col(columns::CAPTION).str().len_chars().cast(DataType::UInt32).alias("caption_len"),
            col("id"),
            col(FINGERPRINT_COLUMN).cast(DataType::String),
        ])
        .collect()?;
    let mut s =
        DatasetStats { rows: df.height() as u64, caption_histogram: vec![0; CAPTION_BUCKETS], ..Default::default() };
    let intervals = df.column("interval")?.i64()?;
    let miners = df.column("miner_hotkey")?.str()?;
    let durations = df.column(columns::DURATION_SEC)?.f64()?;
    let lens = df.column("caption_len")?.u32()?;
    for v in intervals.iter().flatten() {
        *s.per_interval.entry(v).or_default() += 1;
    }
    for v in miners.iter().flatten() {
        *s.per_miner.entry(v.to_string()).or_default() += 1;
    }
    s.hours = durations.iter().flatten().filter(|d| d.is_finite()).sum::<f64>() / 3600.0;
    let mut lengths: Vec<u32> = lens.iter().flatten().collect();
    lengths.sort_unstable();
    if let Some(&max) = lengths.last() {
        let at = |q: f64| lengths[((lengths.len() - 1) as f64 * q).round() as usize];
        s.caption_quantiles = [lengths[0], at(0.1), at(0.5), at(0.9), max];
        s.caption_mean = lengths.iter().map(|&l| f64::from(l)).sum::<f64>() / lengths.len() as f64;
    }
    for l in lengths {
        s.caption_histogram[((l / CAPTION_BUCKET_CHARS) as usize).min(CAPTION_BUCKETS - 1)] += 1;
    }
    let ids = df.column("id")?.str()?;
    let prints = df.column(FINGERPRINT_COLUMN)?.str()?;
    let fingerprinted: Vec<(String, Fingerprint)> =
        ids.iter().zip(prints.iter()).filter_map(|(id, f)| Some((id?.to_string(), Fingerprint::parse(f?)?))).collect();
    s.fingerprinted = fingerprinted.len() as u64;
    s.clusters = near_duplicate_clusters(&fingerprinted);
    Ok(s)
}

impl DatasetStats {
    /// The text report (miners sorted by clips, the first `top_miners` shown).
    pub fn render(&self, top_miners: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "rows            {}", self.rows);
        let _ = writeln!(out, "hours of video  {:.2}", self.hours);
        let _ = writeln!(out, "intervals       {}", self.per_interval.len());
        let _ = writeln!(out, "miners          {}", self.per_miner.len());
        let [min, p10, p50, p90, max] = self.caption_quantiles;
        let _ = writeln!(
            out,
            "caption chars   min {min}  p10 {p10}  median {p50}  p90 {p90}  max {max}  mean {:.1}",
            self.caption_mean
        );
        let _ = writeln!(out, "\nclips per interval\n  {:>12}  {:>8}", "interval", "clips");
        for (interval, n) in &self.per_interval {
            let _ = writeln!(out, "  {interval:>12}  {n:>8}");
        }
        let mut miners: Vec<(&String, &u64)> = self.per_miner.iter().collect();
        miners.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let _ = writeln!(out, "\nclips per miner\n  {:<48}  {:>8}", "miner hotkey", "clips");
        for (miner, n) in miners.iter().take(top_miners) {
            let _ = writeln!(out, "  {miner:<48}  {n:>8}");
        }
        if miners.len() > top_miners {
            let _ = writeln!(out, "  ... {} more miners", miners.len() - top_miners);
        }
        self.render_clusters(&mut out);
        let _ = writeln!(out, "\ncaption length (chars)\n  {:>9}  {:>8}", "chars", "clips");
        for (i, n) in self.caption_histogram.iter().enumerate() {
            let lo = i as u32 * CAPTION_BUCKET_CHARS;
            let label = if i + 1 == self.caption_histogram.len() {
                format!("{lo}+")
            } else {
                format!("{lo}-{}", lo + CAPTION_BUCKET_CHARS - 1)
            };
            let _ = writeln!(out, "  {label:>9}  {n:>8}");
        }
        out
    }

    fn render_clusters(&self, out: &mut String) {
        let rows: usize = self.clusters.iter().map(Vec::len).sum();
        let _ = writeln!(
            out,
            "\nnear-duplicate clusters  {} ({rows} rows; {} rows fingerprinted, within {MAX_DISTANCE} bits)",
            self.clusters.len(),
            self.fingerprinted
        );
        for cluster in self.clusters.iter().take(LISTED_CLUSTERS) {
            let shown: Vec<&str> = cluster.iter().take(4).map(String::as_str).collect();
            let more = if cluster.len() > 4 { format!(" +{} more", cluster.len() - 4) } else { String::new() };
            let _ = writeln!(out, "  {:>4} rows  {}{more}", cluster.len(), shown.join(" "));
        }
        if self.clusters.len() > LISTED_CLUSTERS {
            let _ = writeln!(out, "  ... {} more clusters", self.clusters.len() - LISTED_CLUSTERS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_link_matching_fingerprints_transitively() {
        let row = |id: &str, f: u64| (id.to_string(), Fingerprint(f));
        let rows = [
            row("a", 0),
            row("b", 0b11_1111),             // 6 bits from a
            row("c", 0b1111_1111_1111_1111), // 10 bits from b, 16 from a: linked through b
            row("d", u64::MAX),
            row("e", u64::MAX ^ 1),
            row("f", 0x00FF_00FF_00FF_00FF),
        ];
        let clusters = near_duplicate_clusters(&rows);
        assert_eq!(clusters, vec![vec!["a", "b", "c"], vec!["d", "e"]]);
        let stats = DatasetStats { clusters, fingerprinted: 6, ..Default::default() };
        let text = stats.render(5);
        assert!(text.contains("near-duplicate clusters  2 (5 rows; 6 rows fingerprinted"), "{text}");
        assert!(text.contains("3 rows  a b c"), "{text}");
    }
}
