//! Key encodings.
//!
//! All data lives in one sled tree under one-byte prefixes:
//!
//! | prefix | key                                              | value            |
//! |--------|--------------------------------------------------|------------------|
//! | `M`    | `M` name                                         | meta (format)    |
//! | `C`    | `C` counter-name                                 | u64 BE           |
//! | `R`    | `R` record-key                                   | envelope         |
//! | `E`    | `E` len(record-key) u16 BE, record-key, seq u32 BE | event pack     |
//! | `I`    | `I` index-key                                    | record-key       |
//!
//! The events one transaction appends to a record are stored as one *pack*
//! under the sequence number of its first event (one key per commit, not per
//! event: sled's cost grows with keys written). See [`pack_events`].
//!
//! A record key is `collection 0x00 id`. Index keys are built by the domain with
//! [`KeyBuilder`], whose encodings sort bytewise in the order of the values:
//! big-endian unsigned integers, sign-flipped big-endian signed integers, and
//! 0x00-terminated strings (strings may not contain NUL).

/// Prefix of the meta entries.
pub(crate) const META: u8 = b'M';
/// Prefix of counters.
pub(crate) const COUNTER: u8 = b'C';
/// Prefix of records.
pub(crate) const RECORD: u8 = b'R';
/// Prefix of events.
pub(crate) const EVENT: u8 = b'E';
/// Prefix of index entries.
pub(crate) const INDEX: u8 = b'I';
/// Prefix of the counts of counted index prefixes (see `counted`).
pub(crate) const COUNT: u8 = b'N';

/// An index key as the domain built it (without the store's prefix).
pub type IndexKey = Vec<u8>;

/// The identity of a record: its collection and its id within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(Vec<u8>);

impl RecordKey {
    /// The key of record `id` in `collection` (a short name without NUL).
    pub fn new(collection: &str, id: &[u8]) -> Self {
        debug_assert!(!collection.as_bytes().contains(&0), "collection names have no NUL");
        let mut k = Vec::with_capacity(collection.len() + 1 + id.len());
        k.extend_from_slice(collection.as_bytes());
        k.push(0);
        k.extend_from_slice(id);
        Self(k)
    }

    /// Rebuilds a key from its encoded bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The collection part.
    pub fn collection(&self) -> &str {
        let end = self.0.iter().position(|b| *b == 0).unwrap_or(self.0.len());
        std::str::from_utf8(&self.0[..end]).unwrap_or("")
    }

    /// The id part.
    pub fn id(&self) -> &[u8] {
        match self.0.iter().position(|b| *b == 0) {
            Some(p) => &self.0[p + 1..],
            None => &[],
        }
    }
}

impl std::fmt::Display for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/", self.collection())?;
        match std::str::from_utf8(self.id()) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => write!(f, "{s}"),
            _ => {
                for b in self.id() {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

pub(crate) fn record(key: &RecordKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.0.len());
    k.push(RECORD);
    k.extend_from_slice(&key.0);
    k
}

pub(crate) fn event_prefix(key: &RecordKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + key.0.len() + 4);
    k.push(EVENT);
    // Record keys are bounded by the store (see MAX_KEY), so u16 suffices.
    k.extend_from_slice(&(key.0.len() as u16).to_be_bytes());
    k.extend_from_slice(&key.0);
    k
}

pub(crate) fn event(key: &RecordKey, seq: u32) -> Vec<u8> {
    let mut k = event_prefix(key);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn index(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(INDEX);
    k.extend_from_slice(key);
    k
}

pub(crate) fn counter(name: &str) -> Vec<u8> {
    let mut k = vec![COUNTER];
    k.extend_from_slice(name.as_bytes());
    k
}

pub(crate) fn meta(name: &str) -> Vec<u8> {
    let mut k = vec![META];
    k.extend_from_slice(name.as_bytes());
    k
}

/// Longest record or index key the store accepts.
pub(crate) const MAX_KEY: usize = 1024;

/// Builds ordered index keys: each appended part sorts like its value.
#[derive(Debug, Default, Clone)]
pub struct KeyBuilder(Vec<u8>);

impl KeyBuilder {
    /// Starts a key with the index's name (a terminated string part).
    pub fn index(name: &str) -> Self {
        Self::default().str(name)
    }

    /// Appends a string terminated by 0x00, so shorter strings sort first.
    /// NUL characters inside `s` are dropped.
    pub fn str(mut self, s: &str) -> Self {
        self.0.extend(s.bytes().filter(|b| *b != 0));
        self.0.push(0);
        self
    }

    /// Appends an unsigned integer, big-endian.
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends one byte (small enums).
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    /// Appends a signed integer so that negative values sort before positive ones.
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
        self
    }

    /// Appends raw bytes (fixed-width ids).
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }

    /// The finished key.
    pub fn build(self) -> IndexKey {
        self.0
    }
}

/// Encodes events as one value: `count u32 BE`, then `len u32 BE, bytes` each.
pub(crate) fn pack_events(events: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + events.iter().map(|e| 4 + e.len()).sum::<usize>());
    out.extend_from_slice(&(events.len() as u32).to_be_bytes());
    for e in events {
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// Decodes [`pack_events`]'s output; `None` when it is malformed.
pub(crate) fn unpack_events(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let n = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let mut at = 4;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let len = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        out.push(bytes.get(at + 4..at + 4 + len)?.to_vec());
        at += 4 + len;
    }
    (at == bytes.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_integers_sort_in_numeric_order() {
        let values = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        let keys: Vec<_> = values.iter().map(|v| KeyBuilder::default().i64(*v).build()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn shorter_strings_sort_before_their_extensions() {
        let a = KeyBuilder::index("x").str("ab").u64(9).build();
        let b = KeyBuilder::index("x").str("abc").u64(0).build();
        assert!(a < b);
    }

    #[test]
    fn event_packs_round_trip_and_refuse_garbage() {
        let events = vec![b"one".to_vec(), vec![], b"three".to_vec()];
        assert_eq!(unpack_events(&pack_events(&events)), Some(events));
        assert_eq!(unpack_events(&[0, 0, 0, 2, 0, 0, 0, 9, 1]), None);
        assert_eq!(unpack_events(&[]), None);
    }

    #[test]
    fn record_key_round_trips_collection_and_id() {
        let k = RecordKey::new("req", &[1, 2, 0, 3]);
        assert_eq!(k.collection(), "req");
        assert_eq!(k.id(), &[1, 2, 0, 3]);
        assert_eq!(RecordKey::from_bytes(k.as_bytes().to_vec()), k);
    }
}
