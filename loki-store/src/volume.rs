//! Log volume: bytes per group of streams, over memory and the index
//! (Loki's `/index/volume`).

use loki_index::{Selector, Volume, VolumeRequest, VolumeTally};

use crate::query::with_queriers;
use crate::store::ms_range;
use crate::{Result, Store};

impl Store {
    /// Uncompressed bytes per group of the tenant's streams matching
    /// `selector` with data in `[from, through)`: in memory and stored,
    /// largest first, at most `request.limit` groups (0: 100). Groups are
    /// the streams' values of the target labels (default: the names in
    /// the selector), or with
    /// [`AggregateBy::Labels`](loki_index::AggregateBy::Labels) one group
    /// per target label name. Chunks are counted whole, as in Loki.
    ///
    /// ```
    /// use loki_store::{PushEntry, PushStream, Selector, Store, StoreConfig};
    /// use loki_index::{Labels, MatchOp, Matcher, VolumeRequest};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = Store::open(StoreConfig::in_memory()).await?;
    /// let now = 1_700_000_000_000_000_000;
    /// for (app, line) in [("shop", "GET /cart 200"), ("db", "slow query")] {
    ///     let labels = Labels::new([("app", app)])?;
    ///     store.push_at("t", vec![PushStream { labels, entries: vec![PushEntry::new(now, line)] }], now).await?;
    /// }
    /// let selector = Selector::new(vec![Matcher::new("app", MatchOp::Regex, ".+")?])?;
    /// let volumes = store.volume("t", &selector, now, now + 1, &VolumeRequest::default()).await?;
    /// assert_eq!(volumes[0].labels, vec![("app".to_owned(), "shop".to_owned())]);
    /// assert_eq!(volumes[0].bytes, 13);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Corrupt index segments or in-memory chunks.
    pub async fn volume(
        &self,
        tenant: &str,
        selector: &Selector,
        from: i64,
        through: i64,
        request: &VolumeRequest,
    ) -> Result<Vec<Volume>> {
        let Some(state) = self.inner.tenants.read().get(tenant).cloned() else {
            return Ok(Vec::new());
        };
        let mut tally = VolumeTally::new(selector, request);
        let index = self.index_view(&state, ms_range(from, through)).await?;
        let unlimited = VolumeRequest {
            target_labels: tally.targets().to_vec(),
            aggregate_by: request.aggregate_by,
            limit: usize::MAX,
        };
        for part in with_queriers(&index, |q| {
            q.volume(selector, ms_range(from, through), &unlimited)
        })? {
            tally.add_volume(part);
        }
        for (labels, stream) in state.streams_matching(Some(selector)) {
            let chunks = stream.lock().chunks(from, through)?;
            let bytes: u64 = chunks.iter().map(|c| c.stats().uncompressed_bytes).sum();
            if !chunks.is_empty() {
                tally.add(&labels, bytes);
            }
        }
        Ok(tally.finish())
    }
}

#[cfg(test)]
mod tests {
    use loki_index::{AggregateBy, Labels, MatchOp, Matcher, Selector, VolumeRequest};

    use crate::{PushEntry, PushStream, Store, StoreConfig};

    const NOW: i64 = 1_700_000_000_000_000_000;

    async fn store() -> Store {
        let store = Store::open(StoreConfig::in_memory()).await.unwrap();
        for (app, env, line) in [
            ("shop", "prod", "aaaaaaaaaa"),
            ("shop", "dev", "bbbbb"),
            ("db", "prod", "cc"),
        ] {
            let labels = Labels::new([("app", app), ("env", env)]).unwrap();
            let entries = vec![PushEntry::new(NOW, line)];
            store
                .push_at("t", vec![PushStream { labels, entries }], NOW)
                .await
                .unwrap();
        }
        store
    }

    fn any_app() -> Selector {
        Selector::new(vec![Matcher::new("app", MatchOp::Regex, ".+").unwrap()]).unwrap()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[tokio::test]
    async fn memory_and_flushed_data_count_the_same() {
        let store = store().await;
        let request = VolumeRequest::default();
        let before = store
            .volume("t", &any_app(), NOW, NOW + 1, &request)
            .await
            .unwrap();
        assert_eq!(before.len(), 2);
        assert_eq!(before[0].labels, pairs(&[("app", "shop")]));
        assert_eq!(before[0].bytes, 15);
        assert_eq!(before[1].bytes, 2);
        store.flush(true).await.unwrap();
        let after = store
            .volume("t", &any_app(), NOW, NOW + 1, &request)
            .await
            .unwrap();
        assert_eq!(before, after);
        let second = 1_000_000_000;
        let outside = store
            .volume("t", &any_app(), NOW + second, NOW + 2 * second, &request)
            .await
            .unwrap();
        assert!(outside.is_empty());
        assert!(store
            .volume("other", &any_app(), NOW, NOW + 1, &request)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn target_labels_aggregation_and_limit() {
        let store = store().await;
        let by_env = VolumeRequest {
            target_labels: vec!["env".to_owned()],
            limit: 1,
            ..VolumeRequest::default()
        };
        let v = store
            .volume("t", &any_app(), NOW, NOW + 1, &by_env)
            .await
            .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].labels, pairs(&[("env", "prod")]));
        assert_eq!(v[0].bytes, 12);
        let by_label = VolumeRequest {
            target_labels: vec!["env".to_owned(), "app".to_owned()],
            aggregate_by: AggregateBy::Labels,
            limit: 0,
        };
        let v = store
            .volume("t", &any_app(), NOW, NOW + 1, &by_label)
            .await
            .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].labels, pairs(&[("app", "")]));
        assert_eq!(v[0].bytes, 17);
        assert_eq!(v[1].labels, pairs(&[("env", "")]));
    }
}
