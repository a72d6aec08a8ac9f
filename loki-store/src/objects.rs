//! The object store: chosen by URL, with Loki's key layout for chunks and
//! our layout for index segments.
//!
//! ```text
//! <tenant>/<fp>/<from>:<through>:<checksum>          chunk (object stores)
//! <tenant>/<fp>/<base64(from:through:checksum)>      chunk (file://, as Loki's filesystem store)
//! index/<tenant>/<period start ms>/<sequence>.seg    index segment
//! index/<tenant>/<period start ms>/<owner>.<sequence>.seg
//!                                                    index segment of a named
//!                                                    writer (one of several)
//! deletes/<tenant>.json                              delete requests
//! ```
//!
//! A `file://` store's writes are durable before they are reported done.
//! `object_store`'s filesystem store leaves written files and renamed or
//! removed directory entries in the page cache, which a power loss
//! empties; here each put fsyncs the file and every directory from its
//! parent up to the store's root, and each delete the directories above
//! the removed file. So the WAL is never truncated ahead of the chunks and
//! segments a flush wrote, and a rewritten segment's predecessor, once
//! deleted, stays deleted.

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
    /// The writer's name in segment paths, if several share the store.
    owner: Option<String>,
    /// The directory behind a `file://` store, whose writes are synced.
    local: Option<Local>,
}

/// A `file://` store's files: where an object path lives on disk.
#[derive(Debug, Clone)]
struct Local {
    fs: Arc<object_store::local::LocalFileSystem>,
    /// The store's directory, canonical (as the store resolves paths).
    root: std::path::PathBuf,
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
                owner: None,
                local: None,
            });
        }
        let mut local = None;
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
                let fs = Arc::new(fs);
                let root = std::fs::canonicalize(&dir)
                    .map_err(|e| Error::io("opening the storage directory", &dir, e))?;
                local = Some(Local {
                    fs: fs.clone(),
                    root,
                });
                (fs, Path::default(), KeyLayout::Filesystem)
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
            owner: None,
            local,
        })
    }

    /// Names segments this engine writes after `owner` (see
    /// [`StoreConfig::segment_owner`](crate::StoreConfig::segment_owner)).
    ///
    /// # Errors
    /// [`Error::Config`] for an empty name or one with characters other
    /// than letters, digits, `-` and `_`.
    pub(crate) fn with_segment_owner(mut self, owner: Option<&str>) -> Result<Objects> {
        if let Some(owner) = owner {
            let valid = !owner.is_empty()
                && owner.len() <= 128
                && owner
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(Error::Config(format!(
                    "segment owner {owner:?}: expected 1 to 128 letters, digits, '-' or '_'"
                )));
            }
            self.owner = Some(owner.to_owned());
        }
        Ok(self)
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
        match &self.owner {
            None => self.path(&format!("index/{tenant}/{period_start_ms}/{sequence}.seg")),
            Some(owner) => self.path(&format!(
                "index/{tenant}/{period_start_ms}/{owner}.{sequence}.seg"
            )),
        }
    }

    /// Writes an object; once this returns `Ok` it survives a power loss.
    pub(crate) async fn put(&self, path: &Path, bytes: Bytes) -> Result<()> {
        self.store
            .put(path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|source| Error::Object {
                op: "put",
                path: path.to_string(),
                source,
            })?;
        self.sync(path, Synced::Written).await
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

    /// Deletes an object (a missing one is not an error); once this
    /// returns `Ok` the object does not come back after a power loss.
    pub(crate) async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => {
                return Err(Error::Object {
                    op: "delete",
                    path: path.to_string(),
                    source,
                })
            }
        }
        self.sync(path, Synced::Deleted).await
    }

    /// Makes a put or delete at `path` durable in a `file://` store: the
    /// file's bytes (after a put) and every directory from its parent up to
    /// the store's root (new directories, the entry renamed into place or
    /// removed, and the empty directories the store removes after a delete).
    /// Other stores are durable once they answer.
    async fn sync(&self, path: &Path, what: Synced) -> Result<()> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        let file = local
            .fs
            .path_to_filesystem(path)
            .map_err(|source| Error::Object {
                op: "sync",
                path: path.to_string(),
                source,
            })?;
        let root = local.root.clone();
        tokio::task::spawn_blocking(move || sync_local(&file, &root, what))
            .await
            .map_err(|e| Error::Config(format!("object sync task failed: {e}")))?
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

/// What [`Objects::sync`] makes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synced {
    /// A file just written.
    Written,
    /// A file just removed.
    Deleted,
}

/// Fsyncs a written `file` (not a deleted one) and the directories from its
/// parent up to `root`; directories the store already removed are skipped.
fn sync_local(file: &std::path::Path, root: &std::path::Path, what: Synced) -> Result<()> {
    if what == Synced::Written {
        std::fs::File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("syncing a stored object", file, e))?;
    }
    // Directories cannot be opened for syncing on every platform; where
    // they can (Unix), a new entry is durable only once its directory is.
    #[cfg(unix)]
    for dir in file.ancestors().skip(1) {
        if !dir.starts_with(root) {
            break;
        }
        match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("syncing a storage directory", dir, e)),
        }
    }
    #[cfg(not(unix))]
    let _ = root;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Objects {
        Objects::open(&url::Url::parse("memory://").unwrap(), &[], None).unwrap()
    }

    #[tokio::test]
    async fn owned_segment_paths_differ_per_writer_and_are_listed() {
        let shared = memory();
        let a = shared
            .clone()
            .with_segment_owner(Some("ingester-1"))
            .unwrap();
        let b = shared
            .clone()
            .with_segment_owner(Some("ingester-2"))
            .unwrap();
        let (pa, pb) = (a.segment_path("t", 0, "1-x"), b.segment_path("t", 0, "1-x"));
        assert_ne!(pa, pb, "the same sequence from two writers");
        assert_eq!(pa.as_ref(), "index/t/0/ingester-1.1-x.seg");
        assert_eq!(
            shared.segment_path("t", 0, "1-x").as_ref(),
            "index/t/0/1-x.seg"
        );
        a.put(&pa, Bytes::from_static(b"a")).await.unwrap();
        b.put(&pb, Bytes::from_static(b"b")).await.unwrap();
        let listed = shared.list_segments().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed
            .iter()
            .all(|(t, start, _, size)| t == "t" && *start == 0 && *size == 1));
    }

    #[test]
    fn bad_owner_names_are_refused() {
        for bad in ["", "a/b", "a.b", "ü"] {
            let err = memory().with_segment_owner(Some(bad)).unwrap_err();
            assert!(err.to_string().contains("segment owner"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn file_store_puts_and_deletes_are_synced_through_new_directories() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let objects = Objects::open(&url, &[], None).unwrap();
        let path = objects.plain_path("tenant/fp/deeper/object");
        objects.put(&path, Bytes::from_static(b"x")).await.unwrap();
        let on_disk = dir.path().join("tenant/fp/deeper/object");
        assert_eq!(std::fs::read(&on_disk).unwrap(), b"x");
        // The store removes the emptied directories; syncing skips them.
        objects.delete(&path).await.unwrap();
        assert!(!on_disk.exists());
        objects.delete(&path).await.unwrap();
    }

    #[test]
    fn a_written_file_that_cannot_be_synced_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        let err = sync_local(&missing, dir.path(), Synced::Written).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("syncing a stored object"), "{err}");
        // A deleted file's directories are synced without it.
        sync_local(&missing, dir.path(), Synced::Deleted).unwrap();
    }
}
