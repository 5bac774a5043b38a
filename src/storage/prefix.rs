//! A store seen under a key prefix: `{prefix}{key}` outside maps to `{key}` inside. Lets a
//! package directory (the content of `{I}/`) be read as the bucket it came from.

use std::path::Path;

use async_trait::async_trait;

use super::{Downloaded, ObjectMeta, ObjectStore, StorageError};

/// Exposes `inner` under `prefix`.
#[derive(Debug, Clone)]
pub struct PrefixStore<S> {
    inner: S,
    prefix: String,
}

impl<S: ObjectStore> PrefixStore<S> {
    /// Wraps `inner` so that its keys appear under `prefix` (e.g. `"7756800/"`).
    pub fn new(inner: S, prefix: impl Into<String>) -> Self {
        Self { inner, prefix: prefix.into() }
    }

    fn inner_key<'a>(&self, key: &'a str) -> Result<&'a str, StorageError> {
        key.strip_prefix(&self.prefix).ok_or_else(|| StorageError::NotFound { key: key.to_string() })
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for PrefixStore<S> {
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let Ok(inner) = self.inner_key(key) else { return Ok(None) };
        Ok(self.inner.head(inner).await?.map(|m| ObjectMeta { key: key.to_string(), ..m }))
    }

    async fn get_to_file(&self, key: &str, dest: &Path, max_bytes: u64) -> Result<Downloaded, StorageError> {
        self.inner.get_to_file(self.inner_key(key)?, dest, max_bytes).await
    }

    async fn get_bytes(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.get_bytes(self.inner_key(key)?, max_bytes).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let inner_prefix = match prefix.strip_prefix(&self.prefix) {
            Some(p) => p,
            None if self.prefix.starts_with(prefix) => "",
            None => return Ok(Vec::new()),
        };
        let listed = self.inner.list(inner_prefix).await?;
        Ok(listed.into_iter().map(|m| ObjectMeta { key: format!("{}{}", self.prefix, m.key), ..m }).collect())
    }

    async fn put_file(&self, key: &str, src: &Path) -> Result<(), StorageError> {
        self.inner.put_file(self.inner_key(key)?, src).await
    }

    async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.put_bytes(self.inner_key(key)?, bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::LocalStore;

    #[tokio::test]
    async fn maps_keys_under_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = PrefixStore::new(LocalStore::new(dir.path()), "9/");
        store.put_bytes("9/manifest.json", b"{}").await.unwrap();
        assert!(dir.path().join("manifest.json").exists());
        assert_eq!(store.head("9/manifest.json").await.unwrap().unwrap().key, "9/manifest.json");
        assert!(store.head("8/manifest.json").await.unwrap().is_none());
        assert!(matches!(store.get_bytes("8/manifest.json", 10).await, Err(StorageError::NotFound { .. })));
        assert_eq!(store.list("9/").await.unwrap()[0].key, "9/manifest.json");
        assert!(store.list("1/").await.unwrap().is_empty());
    }
}
