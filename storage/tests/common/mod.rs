//! What the storage test files share: a put of a test record, and a read of its index.

use kontakt_storage::{Expect, KeyBuilder, Put, RecordKey, Store, prefix_end};

/// A put of `key` with `body`, index entries `t/<value>/<id>` and `events`.
pub fn put(key: &RecordKey, expect: Expect, body: &str, index: &[&str], events: &[&str]) -> Put {
    Put {
        key: key.clone(),
        expect,
        body: Some(body.as_bytes().to_vec()),
        index: index.iter().map(|i| KeyBuilder::index("t").str(i).bytes(key.id()).build()).collect(),
        events: events.iter().map(|e| e.as_bytes().to_vec()).collect(),
    }
}

/// The records under index value `value`.
pub fn index_of(store: &dyn Store, value: &str) -> Vec<RecordKey> {
    let prefix = KeyBuilder::index("t").str(value).build();
    store.scan_range(&prefix, &prefix_end(&prefix), 1000).unwrap().into_iter().map(|e| e.record).collect()
}
