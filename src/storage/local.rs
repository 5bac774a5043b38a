//! A local directory as an object store: keys are relative paths under the root. Used by
//! `nexis check`, `mine --out` and tests. Keys never escape the root, symlinks included.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::fs;

use sha2::{Digest, Sha256};

use super::{Downloaded, ObjectMeta, ObjectStore, StorageError, copy_capped, normalize_uri};

/// Object store over a directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_for(&self, key: &str) -> Result<PathBuf, StorageError> {
        let invalid = || StorageError::InvalidKey { key: key.to_string() };
        let normal = normalize_uri(key).ok_or_else(invalid)?;
        if normal != key {
            return Err(invalid());
        }
        Ok(self.root.join(normal))
    }

    /// Resolves an existing object, refusing anything whose real path leaves the root.
    async fn existing(&self, key: &str) -> Result<Option<(PathBuf, std::fs::Metadata)>, StorageError> {
        let path = self.path_for(key)?;
        let io = |source| StorageError::Io { key: key.to_string(), source };
        let real = match fs::canonicalize(&path).await {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let root = fs::canonicalize(&self.root).await.map_err(io)?;
        if !real.starts_with(&root) {
            return Err(StorageError::InvalidKey { key: key.to_string() });
        }
        let meta = fs::metadata(&real).await.map_err(io)?;
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some((real, meta)))
    }

    fn meta(key: &str, meta: &std::fs::Metadata) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: meta.len(),
            last_modified: meta.modified().ok().map(DateTime::<Utc>::from),
        }
    }
}

/// Copies `src` to `dest` under the size cap and hashes it: a chunk is written on a second
/// thread while this one hashes it, so a 240 MB dataset costs about its hashing time, not
/// hashing plus copying (and no async file hop per chunk).
fn copy_hashed(key: &str, src: &Path, dest: &Path, max_bytes: u64) -> Result<Downloaded, StorageError> {
    use std::io::{Read, Write};
    const CHUNK: usize = 1 << 20;
    let io = |source| StorageError::Io { key: key.to_string(), source };
    let mut input = std::fs::File::open(src).map_err(io)?;
    let mut output = std::fs::File::create(dest).map_err(io)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::sync::Arc<Vec<u8>>>(4);
    std::thread::scope(|scope| {
        let writer =
            scope.spawn(move || rx.iter().try_for_each(|chunk| output.write_all(&chunk)).and_then(|()| output.flush()));
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let read = loop {
            let mut chunk = vec![0u8; CHUNK];
            let n = match input.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(io(e)),
            };
            size += n as u64;
            if size > max_bytes {
                break Err(StorageError::TooLarge { key: key.to_string(), limit: max_bytes });
            }
            chunk.truncate(n);
            let chunk = std::sync::Arc::new(chunk);
            if tx.send(chunk.clone()).is_err() {
                break Ok(()); // the writer failed: its error is reported below
            }
            hasher.update(&chunk[..]);
        };
        drop(tx);
        let written = writer.join().unwrap_or_else(|_| Err(std::io::Error::other("the writer thread panicked")));
        read?;
        written.map_err(io)?;
        Ok(Downloaded { size, sha256: hex::encode(hasher.finalize()) })
    })
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        Ok(self.existing(key).await?.map(|(_, m)| Self::meta(key, &m)))
    }

    async fn get_to_file(&self, key: &str, dest: &Path, max_bytes: u64) -> Result<Downloaded, StorageError> {
        let (path, meta) = self.existing(key).await?.ok_or_else(|| StorageError::NotFound { key: key.to_string() })?;
        if meta.len() > max_bytes {
            return Err(StorageError::TooLarge { key: key.to_string(), limit: max_bytes });
        }
        let (owned, dest) = (key.to_string(), dest.to_path_buf());
        tokio::task::spawn_blocking(move || copy_hashed(&owned, &path, &dest, max_bytes))
            .await
            .map_err(|e| StorageError::Io { key: key.to_string(), source: std::io::Error::other(e) })?
    }

    async fn get_bytes(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError> {
        let (path, meta) = self.existing(key).await?.ok_or_else(|| StorageError::NotFound { key: key.to_string() })?;
        if meta.len() > max_bytes {
            return Err(StorageError::TooLarge { key: key.to_string(), limit: max_bytes });
        }
        let io = |source| StorageError::Io { key: key.to_string(), source };
        let src = fs::File::open(&path).await.map_err(io)?;
        let mut out = Vec::with_capacity(meta.len() as usize);
        copy_capped(key, src, &mut out, max_bytes).await?;
        Ok(out)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        let walk = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for entry in entries.flatten() {
                    let path = entry.path();
                    let Ok(ft) = entry.file_type() else { continue };
                    if ft.is_dir() {
                        stack.push(path);
                    } else if ft.is_file() {
                        let Ok(rel) = path.strip_prefix(&root) else { continue };
                        let key = rel.to_string_lossy().replace('\\', "/");
                        if key.starts_with(&prefix)
                            && let Ok(m) = entry.metadata()
                        {
                            out.push(LocalStore::meta(&key, &m));
                        }
                    }
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            out
        });
        walk.await.map_err(|e| StorageError::Backend { key: self.root.display().to_string(), message: e.to_string() })
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StorageError> {
        let bytes = fs::read(src).await.map_err(|source| StorageError::Io { key: key.to_string(), source })?;
        self.put_bytes(key, &bytes).await
    }

    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let path = self.path_for(key)?;
        let io = |source| StorageError::Io { key: key.to_string(), source };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).await.map_err(io)?;
        }
        // Write to a temporary sibling and rename, so readers never see a partial object.
        let tmp = path.with_extension(format!("partial-{}", std::process::id()));
        fs::write(&tmp, bytes).await.map_err(io)?;
        fs::rename(&tmp, &path).await.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_caps_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("bucket"));
        store.put_bytes("5/clips/a.mp4", b"hello").await.unwrap();
        let meta = store.head("5/clips/a.mp4").await.unwrap().unwrap();
        assert_eq!(meta.size, 5);
        assert!(meta.last_modified.is_some());
        assert!(store.head("5/clips/missing.mp4").await.unwrap().is_none());
        assert_eq!(store.get_bytes("5/clips/a.mp4", 5).await.unwrap(), b"hello");
        assert!(matches!(store.get_bytes("5/clips/a.mp4", 4).await, Err(StorageError::TooLarge { .. })));
        let dest = dir.path().join("out");
        let got = store.get_to_file("5/clips/a.mp4", &dest, 10).await.unwrap();
        assert_eq!(got.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert!(matches!(store.head("../x").await, Err(StorageError::InvalidKey { .. })));
        assert!(matches!(store.head("/etc/passwd").await, Err(StorageError::InvalidKey { .. })));
        let listed = store.list("5/").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, "5/clips/a.mp4");
    }

    /// A copy over several chunks is byte-identical and hashed whole; the cap holds even
    /// when the file is larger than its size said (it grew after the check).
    #[test]
    fn chunked_copies_are_exact_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(3 << 20) + 12_345).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let (src, dest) = (dir.path().join("src"), dir.path().join("dest"));
        std::fs::write(&src, &data).unwrap();
        let got = copy_hashed("k", &src, &dest, data.len() as u64).unwrap();
        assert_eq!(got.size, data.len() as u64);
        assert_eq!(got.sha256, hex::encode(Sha256::digest(&data)));
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        let over = copy_hashed("k", &src, &dest, (2 << 20) + 1);
        assert!(matches!(over, Err(StorageError::TooLarge { limit, .. }) if limit == (2 << 20) + 1));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_out_of_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("bucket");
        std::fs::create_dir_all(root.join("5/clips")).unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("5/clips/x.mp4")).unwrap();
        let store = LocalStore::new(&root);
        assert!(matches!(store.head("5/clips/x.mp4").await, Err(StorageError::InvalidKey { .. })));
    }
}
