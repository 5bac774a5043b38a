//! Shared helpers: paths, a validator wired like `nexis check`, and a package builder
//! that starts from the golden `valid_12` package (real clips) and rewrites its dataset.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

use nexis::dataset::{to_batch, write_dataset};
use nexis::media::{Ffprobe, NativeProbe};
use nexis::model::{ClipRecord, Decision, IntervalManifest, SourceProof};
use nexis::protocol::IntervalId;
use nexis::spec::SpecRegistry;
use nexis::storage::{LocalStore, PrefixStore};
use nexis::validator::{IntervalTerms, PackageLimits, PackageRequest, PackageValidator, interval_seed};

pub(crate) const MINER: &str = "5E9hadicAvnFuoGDeCwddoaSz4kaG4zv56h5YnwFpsUC9fx9";
pub(crate) const VALIDATOR: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
pub(crate) const INTERVAL: u64 = 7_756_800;
pub(crate) const CATEGORY: &str = "nature_landscape_scenery";
/// Rows of valid_12 sampled with the hotkeys above.
pub(crate) const SAMPLED: [usize; 3] = [5, 8, 9];

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn golden_dir() -> PathBuf {
    repo().join("tests/golden")
}

/// The runtime metadata files the chain tests read (copies of `../shared/chain/`).
pub(crate) fn chain_data_dir() -> PathBuf {
    repo().join("tests/chain")
}

/// One of the runtime metadata files in `tests/chain/` (e.g. `finney-spec393.scale`).
pub(crate) fn chain_metadata(name: &str) -> PathBuf {
    chain_data_dir().join(name)
}

/// `../shared` beside the checkout, when present.
pub(crate) fn shared_dir() -> Option<PathBuf> {
    let p = repo().join("../shared");
    p.is_dir().then_some(p)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn request(interval: u64) -> PackageRequest {
    let terms = IntervalTerms {
        interval_id: IntervalId::new(interval),
        validator_hotkey: Some(VALIDATOR.into()),
        interval_seed: interval_seed(interval),
        expected_category: Some(CATEGORY.into()),
        enabled_specs: vec!["video_v1".into()],
        upload_deadline: None,
        extra_sample_seed: None,
    };
    PackageRequest::new(MINER, std::sync::Arc::new(terms))
}

pub(crate) fn validator_with(limits: PackageLimits) -> PackageValidator {
    let scratch = std::env::temp_dir().join("nexis-tests");
    PackageValidator::new(
        SpecRegistry::builtin().expect("builtin specs"),
        Arc::new(NativeProbe::new(Ffprobe::new(None, Duration::from_secs(60)), Duration::from_secs(60))),
        limits,
        scratch,
    )
}

/// Validates a package directory (the content of `{interval}/`).
pub(crate) async fn check_dir_with(dir: &Path, req: &PackageRequest, limits: PackageLimits) -> Decision {
    let store = PrefixStore::new(LocalStore::new(dir), format!("{}/", req.interval_id()));
    validator_with(limits).validate(&store, req).await.expect("validation environment").decision
}

pub(crate) async fn check_dir(dir: &Path) -> Decision {
    check_dir_with(dir, &request(INTERVAL), PackageLimits::default()).await
}

pub(crate) fn failures(d: &Decision) -> Vec<String> {
    d.failures.iter().map(ToString::to_string).collect()
}

fn text(batch: &RecordBatch, name: &str, i: usize) -> String {
    let col = batch.column_by_name(name).expect(name);
    col.as_any().downcast_ref::<StringArray>().expect(name).value(i).to_string()
}

fn float(batch: &RecordBatch, name: &str, i: usize) -> f64 {
    batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<Float64Array>().map(|a| a.value(i))).expect(name)
}

fn int(batch: &RecordBatch, name: &str, i: usize) -> i64 {
    batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<Int64Array>().map(|a| a.value(i))).expect(name)
}

/// Reads a dataset written with the protocol's types back into records.
pub(crate) fn read_records(path: &Path) -> Vec<ClipRecord> {
    let file = std::fs::File::open(path).expect("open dataset");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet").build().expect("reader");
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.expect("batch");
        let audio = b
            .column_by_name("has_audio")
            .and_then(|c| c.as_any().downcast_ref::<BooleanArray>().cloned())
            .expect("audio");
        let proof = b.column_by_name("source_proof").and_then(|c| c.as_any().downcast_ref::<StructArray>().cloned());
        for i in 0..b.num_rows() {
            let proof_text = |n: &str| {
                proof
                    .as_ref()
                    .and_then(|p| p.column_by_name(n))
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>().map(|a| a.value(i).to_string()))
                    .unwrap_or_default()
            };
            out.push(ClipRecord {
                clip_id: text(&b, "clip_id", i),
                clip_uri: text(&b, "clip_uri", i),
                clip_sha256: text(&b, "clip_sha256", i),
                first_frame_uri: text(&b, "first_frame_uri", i),
                first_frame_sha256: text(&b, "first_frame_sha256", i),
                source_video_id: text(&b, "source_video_id", i),
                split_group_id: text(&b, "split_group_id", i),
                split: text(&b, "split", i),
                clip_start_sec: float(&b, "clip_start_sec", i),
                duration_sec: float(&b, "duration_sec", i),
                width: int(&b, "width", i),
                height: int(&b, "height", i),
                fps: float(&b, "fps", i),
                num_frames: int(&b, "num_frames", i),
                has_audio: audio.value(i),
                caption: text(&b, "caption", i),
                source_video_url: text(&b, "source_video_url", i),
                source_proof: SourceProof {
                    extractor: proof_text("extractor"),
                    source_video_id: proof_text("source_video_id"),
                },
            });
        }
    }
    out
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("read_dir") {
        let entry = entry.expect("entry");
        let to = dst.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).expect("copy");
            let mut perm = std::fs::metadata(&to).expect("meta").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&to, perm).expect("chmod");
        }
    }
}

/// A writable copy of the golden `valid_12` package.
pub(crate) struct TestPackage {
    pub tmp: tempfile::TempDir,
    pub records: Vec<ClipRecord>,
}

impl TestPackage {
    pub(crate) fn valid() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        copy_tree(&golden_dir().join("valid_12/package"), tmp.path());
        let records = read_records(&tmp.path().join("dataset.parquet"));
        Self { tmp, records }
    }

    pub(crate) fn dir(&self) -> &Path {
        self.tmp.path()
    }

    pub(crate) fn dataset(&self) -> PathBuf {
        self.dir().join("dataset.parquet")
    }

    /// Rewrites the dataset from `records` and fixes the manifest's hash and count.
    pub(crate) fn write(&self) {
        write_dataset(&self.dataset(), &self.records).expect("write dataset");
        self.fix_manifest(self.records.len() as u64);
    }

    /// Writes a custom batch (any schema) as the dataset and fixes the manifest.
    pub(crate) fn write_batch(&self, batch: &RecordBatch) {
        let file = std::fs::File::create(self.dataset()).expect("create");
        let mut w = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        w.write(batch).expect("write");
        w.close().expect("close");
        self.fix_manifest(batch.num_rows() as u64);
    }

    /// The valid batch with column `name` replaced by `array` (any type).
    pub(crate) fn batch_with(&self, name: &str, array: ArrayRef) -> RecordBatch {
        let batch = to_batch(&self.records).expect("batch");
        let schema = batch.schema();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut columns = batch.columns().to_vec();
        let i = schema.index_of(name).expect(name);
        fields[i] = Field::new(name, array.data_type().clone(), true);
        columns[i] = array;
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
    }

    /// The valid batch without column `name`.
    pub(crate) fn batch_without(&self, name: &str) -> RecordBatch {
        let batch = to_batch(&self.records).expect("batch");
        let i = batch.schema().index_of(name).expect(name);
        let mut b = batch.clone();
        b.remove_column(i);
        b
    }

    pub(crate) fn fix_manifest(&self, record_count: u64) {
        let bytes = std::fs::read(self.dataset()).expect("dataset");
        self.edit_manifest(|m| {
            m["record_count"] = record_count.into();
            m["dataset_sha256"] = sha256_hex(&bytes).into();
        });
    }

    pub(crate) fn edit_manifest(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let path = self.dir().join("manifest.json");
        let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("manifest")).expect("json");
        f(&mut m);
        std::fs::write(&path, serde_json::to_vec_pretty(&m).expect("json")).expect("write manifest");
    }

    pub(crate) fn manifest(&self) -> IntervalManifest {
        IntervalManifest::parse(&std::fs::read(self.dir().join("manifest.json")).expect("manifest")).expect("parse")
    }

    pub(crate) fn clip_path(&self, row: usize) -> PathBuf {
        self.dir().join(&self.records[row].clip_uri)
    }
}

/// The `nexis` binary with none of the caller's nexis, wallet, R2 or model settings, so a
/// test sees only the settings it passes.
pub(crate) fn nexis_command(dir: &Path, envs: &[(&str, String)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_nexis"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if ["NEXIS_", "BT_", "R2_", "OPENAI_", "GEMINI_"].iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
    cmd.envs(envs.iter().map(|(k, v)| (*k, v.as_str())));
    cmd
}
