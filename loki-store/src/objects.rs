//! The object store: chosen by URL, with Loki's key layout for chunks and
//! our layout for index segments.
//!
//! ```text
//! <tenant>/<fp>/<from>:<through>:<checksum>          chunk (object stores)
//! <tenant>/<fp>/<base64(from:through:checksum)>      chunk (file://, as Loki's filesystem store)
//! index/<tenant>/<period start ms>/<sequence>.seg    index segment
//! deletes/<tenant>.json                              delete requests
//! ```

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use loki_chunk::ChunkKey;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

use crate::{Error, Result};

/// How chunk keys become object paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyLayout {
    /// `tenant/fp/from:through:checksum`.
    Plain,
    /// The last part base64-encoded, as Loki's filesystem store writes it.
    Filesystem,
}

/// The object store with the paths this engine uses.
#[derive(Debug, Clone)]
pub(crate) struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    layout: KeyLayout,
}

impl Objects {
    /// Opens the store a URL names (or wraps `given`). `file://`
    /// directories are created.
    pub(crate) fn open(
        url: &url::Url,
        options: &[(String, String)],
        given: Option<&Arc<dyn ObjectStore>>,
    ) -> Result<Objects> {
        if let Some(store) = given {
            return Ok(Objects {
                store: store.clone(),
                prefix: Path::default(),
                layout: KeyLayout::Plain,
            });
        }
        let (store, prefix, layout): (Arc<dyn ObjectStore>, Path, KeyLayout) = match url.scheme() {
            "file" => {
                let dir = url
                    .to_file_path()
                    .map_err(|()| Error::Config(format!("{url} is not a usable directory")))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io("creating the storage directory", &dir, e))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|source| Error::Object {
                        op: "open",
                        path: dir.display().to_string(),
                        source,
                    })?
                    .with_automatic_cleanup(true);
                (Arc::new(fs), Path::default(), KeyLayout::Filesystem)
            }
            "memory" => (
                Arc::new(object_store::memory::InMemory::new()),
                Path::default(),
                KeyLayout::Plain,
            ),
            _ => {
                let (store, prefix) = object_store::parse_url_opts(
                    url,
                    options.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )
                .map_err(|source| Error::Object {
                    op: "open",
                    path: url.to_string(),
                    source,
                })?;
                (Arc::from(store), prefix, KeyLayout::Plain)
            }
        };
        Ok(Objects {
            store,
            prefix,
            layout,
        })
    }

    /// A path under the store's prefix.
    pub(crate) fn plain_path(&self, relative: &str) -> Path {
        self.path(relative)
    }

    fn path(&self, relative: &str) -> Path {
        let mut parts: Vec<object_store::path::PathPart<'_>> = self.prefix.parts().collect();
        parts.extend(relative.split('/').map(object_store::path::PathPart::from));
        Path::from_iter(parts)
    }

    pub(crate) fn chunk_path(&self, key: &ChunkKey) -> Path {
        match self.layout {
            KeyLayout::Plain => self.path(&key.to_string()),
            KeyLayout::Filesystem => self.path(&key.filesystem_path()),
        }
    }

    pub(crate) fn segment_path(&self, tenant: &str, period_start_ms: i64, sequence: &str) -> Path {
        self.path(&format!("index/{tenant}/{period_start_ms}/{sequence}.seg"))
    }

    pub(crate) async fn put(&self, path: &Path, bytes: Bytes) -> Result<()> {
        self.store
            .put(path, PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|source| Error::Object {
                op: "put",
                path: path.to_string(),
                source,
            })
    }

    /// The object's bytes, or `None` if it does not exist.
    pub(crate) async fn get(&self, path: &Path) -> Result<Option<Bytes>> {
        let fail = |source| Error::Object {
            op: "get",
            path: path.to_string(),
            source,
        };
        match self.store.get(path).await {
            Ok(result) => result.bytes().await.map(Some).map_err(fail),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(fail(source)),
        }
    }

    pub(crate) async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(Error::Object {
                op: "delete",
                path: path.to_string(),
                source,
            }),
        }
    }

    /// Every object path under `prefix`.
    pub(crate) async fn list(&self, prefix: &Path) -> Result<Vec<Path>> {
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|source| Error::Object {
                op: "list",
                path: prefix.to_string(),
                source,
            })?;
        Ok(metas.into_iter().map(|m| m.location).collect())
    }

    /// Every index segment of every tenant, as `(tenant, period start in
    /// ms, path, size)`, read from the listing alone. Objects under
    /// `index/` that do not follow the layout are skipped.
    pub(crate) async fn list_segments(&self) -> Result<Vec<(String, i64, Path, u64)>> {
        let prefix = self.path("index");
        let skip = prefix.parts().count();
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| Error::Object {
                op: "list",
                path: prefix.to_string(),
                source,
            })?;
        let mut out: Vec<(String, i64, Path, u64)> = metas
            .into_iter()
            .filter(|m| m.location.extension() == Some("seg"))
            .filter_map(|m| {
                let (tenant, start) = {
                    let mut parts = m.location.parts().skip(skip);
                    let tenant = parts.next()?.as_ref().to_owned();
                    (tenant, parts.next()?.as_ref().parse::<i64>().ok()?)
                };
                Some((tenant, start, m.location, m.size))
            })
            .collect();
        out.sort_by(|a, b| a.2.as_ref().cmp(b.2.as_ref()));
        Ok(out)
    }
}
