//! An in-process S3 server for tests: `s3s-fs` (buckets are directories under a tempdir)
//! served over hyper on `127.0.0.1:<ephemeral>`, with real SigV4 authentication against
//! a test key pair. Use [`S3Server::config`] to get an [`S3Config`] for a bucket, and
//! [`S3Server::create_bucket`] first. The server stops when the value is dropped.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use nexis::storage::{S3Config, S3Store};

/// Access key the server accepts (32 characters, so miners can commit it, protocol §4).
pub(crate) const ACCESS_KEY: &str = "NEXISTESTACCESSKEY01234567890123";
/// Secret key the server accepts (64 characters, as a committed R2 secret).
pub(crate) const SECRET_KEY: &str = "nexis-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz012345";
/// Both keys, as a miner commits them.
pub(crate) const KEYS: (&str, &str) = (ACCESS_KEY, SECRET_KEY);
/// Region the test configs sign for (s3s-fs accepts any).
pub(crate) const REGION: &str = "us-east-1";

/// A running in-process S3 server; dropping it aborts the server.
pub(crate) struct S3Server {
    root: tempfile::TempDir,
    addr: std::net::SocketAddr,
    task: JoinHandle<()>,
}

impl S3Server {
    /// Starts a server with an empty root (no buckets yet).
    pub(crate) async fn start() -> S3Server {
        let root = tempfile::tempdir().expect("s3 root tempdir");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs root");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind s3 server");
        let addr = listener.local_addr().expect("s3 server address");
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            // Connections live in this set, so aborting the task closes them too.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                let Ok((socket, _)) = listener.accept().await else { continue };
                let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                connections.spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        S3Server { root, addr, task }
    }

    /// `http://127.0.0.1:{port}`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The directory holding the buckets (one subdirectory each).
    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    /// Where the server keeps object `key` of `bucket` on disk (its mtime is the
    /// object's LastModified).
    pub(crate) fn object_path(&self, bucket: &str, key: &str) -> std::path::PathBuf {
        self.root.path().join(bucket).join(key)
    }

    /// A config for `bucket` on this server with the test keys and short timeouts.
    pub(crate) fn config(&self, bucket: &str) -> S3Config {
        S3Config {
            endpoint: self.endpoint(),
            region: REGION.into(),
            bucket: bucket.into(),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            max_attempts: 2,
        }
    }

    /// A store for `bucket` on this server (the bucket must exist to be used).
    pub(crate) fn store(&self, bucket: &str) -> S3Store {
        S3Store::new(self.config(bucket)).expect("s3 store")
    }

    /// Creates `name` (s3s-fs keeps a bucket as a directory under its root).
    pub(crate) async fn create_bucket(&self, name: &str) {
        tokio::fs::create_dir_all(self.root.path().join(name)).await.expect("create bucket");
    }

    /// Creates `bucket` and uploads every file under `dir` as `{prefix}{relative path}`.
    pub(crate) async fn upload_dir(&self, bucket: &str, dir: &Path, prefix: &str) -> S3Store {
        use nexis::storage::ObjectStore;
        self.create_bucket(bucket).await;
        let store = self.store(bucket);
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(dir).expect("relative").to_string_lossy().replace('\\', "/");
                    store.put_file(&format!("{prefix}{rel}"), &path).await.expect("upload");
                }
            }
        }
        store
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
