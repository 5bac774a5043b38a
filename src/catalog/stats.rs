//! `nexis dataset stats`: rows, hours of video, clips per interval and per miner, and the
//! caption length distribution of the catalog, as text and as a PNG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use polars::prelude::*;

use super::CatalogError;

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
}

/// Computes the statistics of a catalog frame.
pub fn compute(catalog: LazyFrame) -> Result<DatasetStats, CatalogError> {
    let df = catalog
        .select([
            col("interval").cast(DataType::Int64),
            col("miner_hotkey"),
            col("duration_sec").cast(DataType::Float64),
            col("caption").str().len_chars().cast(DataType::UInt32).alias("caption_len"),
        ])
        .collect()?;
    let mut s =
        DatasetStats { rows: df.height() as u64, caption_histogram: vec![0; CAPTION_BUCKETS], ..Default::default() };
    let intervals = df.column("interval")?.i64()?;
    let miners = df.column("miner_hotkey")?.str()?;
    let durations = df.column("duration_sec")?.f64()?;
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
}
