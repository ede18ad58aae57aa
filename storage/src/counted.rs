//! Counted indexes: for an index declared counted, the store keeps how many
//! entries lie under each of its prefixes (the index name followed by the
//! declared parts), updated by the committer in the same atomic batch as the
//! entries themselves. "How many OVERDUE requests does the water utility
//! hold" is then one read, whatever the store holds.
//!
//! Counts live under their own key tag and are not records: no version, no
//! precondition, so a thousand writers changing one status never conflict on
//! a hot record; the single committer sums each group's changes. A declared
//! index is kept in the store's meta data, so every process that opens the
//! store keeps its counts, and the consistency check recounts them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::StoreError;
use crate::keys::{self, INDEX};

/// One part of a counted prefix, as [`KeyBuilder`](crate::KeyBuilder) wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A 0x00-terminated string.
    Str,
    /// One byte.
    Byte,
    /// Eight bytes (`u64` or `i64`).
    Int,
}

/// An index counted per prefix: its name and the parts after it that the
/// prefix covers (e.g. `"os"` with `[Str, Byte]`: per organization and status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedIndex {
    /// The index's name (its first part).
    pub name: String,
    /// The parts the counted prefix takes after the name.
    pub parts: Vec<Part>,
}

impl CountedIndex {
    /// The length of `key`'s counted prefix, when `key` is an entry of this index.
    pub fn prefix_of(&self, key: &[u8]) -> Option<usize> {
        let name = self.name.as_bytes();
        if key.len() <= name.len() || &key[..name.len()] != name || key[name.len()] != 0 {
            return None;
        }
        let mut at = name.len() + 1;
        for part in &self.parts {
            at += match part {
                Part::Str => key.get(at..)?.iter().position(|b| *b == 0)? + 1,
                Part::Byte => 1,
                Part::Int => 8,
            };
            if at > key.len() {
                return None;
            }
        }
        Some(at)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Str => b'S',
                Part::Byte => b'B',
                Part::Int => b'I',
            })
            .collect()
    }

    pub(crate) fn decode(name: &str, parts: &[u8]) -> Option<Self> {
        let parts = parts
            .iter()
            .map(|b| match b {
                b'S' => Some(Part::Str),
                b'B' => Some(Part::Byte),
                b'I' => Some(Part::Int),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { name: name.to_string(), parts })
    }
}

/// The counted indexes a store keeps, shared by the store and its committer.
pub(crate) type Rules = Arc<RwLock<Vec<CountedIndex>>>;

const META_PREFIX: &str = "counted/";

/// The counted indexes declared in `db`.
pub(crate) fn load(db: &sled::Db) -> Result<Vec<CountedIndex>, StoreError> {
    let mut out = Vec::new();
    for item in db.scan_prefix(keys::meta(META_PREFIX)) {
        let (k, v) = item?;
        let name = String::from_utf8_lossy(&k[1 + META_PREFIX.len()..]).into_owned();
        out.push(
            CountedIndex::decode(&name, &v)
                .ok_or_else(|| StoreError::Corrupt(format!("counted index {name}: parts {v:?}")))?,
        );
    }
    Ok(out)
}

/// The index's name part: every entry and counted prefix starts with it.
fn name_part(index: &CountedIndex) -> Vec<u8> {
    let mut p = index.name.as_bytes().to_vec();
    p.push(0);
    p
}

/// Counts the entries of `index` per prefix as they stand.
fn recount(db: &sled::Db, index: &CountedIndex) -> Result<HashMap<Vec<u8>, u64>, StoreError> {
    let mut start = vec![INDEX];
    start.extend_from_slice(&name_part(index));
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    for item in db.scan_prefix(&start) {
        let (k, _) = item?;
        if let Some(n) = index.prefix_of(&k[1..]) {
            *counts.entry(k[1..1 + n].to_vec()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Declares `indexes` counted in `db` (run while no write is in flight):
/// those new to the store are counted as they stand and recorded, in one
/// batch; then every one is kept by the committer.
pub(crate) fn declare(db: &sled::Db, rules: &Rules, indexes: Vec<CountedIndex>) -> Result<(), StoreError> {
    let known = load(db)?;
    let mut batch = sled::Batch::default();
    let mut fresh = false;
    for index in &indexes {
        match known.iter().find(|k| k.name == index.name) {
            Some(k) if k == index => continue,
            Some(_) | None => {
                // New, or its parts changed: the old counts mean nothing now.
                for item in db.scan_prefix(count_key(&name_part(index))) {
                    batch.remove(item?.0);
                }
                for (prefix, n) in recount(db, index)? {
                    batch.insert(count_key(&prefix), n.to_be_bytes().to_vec());
                }
                batch.insert(keys::meta(&format!("{META_PREFIX}{}", index.name)), index.encode());
                fresh = true;
            }
        }
    }
    if fresh {
        db.apply_batch(batch)?;
        db.flush()?;
    }
    *rules.write().unwrap_or_else(|e| e.into_inner()) = load(db)?;
    Ok(())
}

/// The key of a prefix's count.
pub(crate) fn count_key(prefix: &[u8]) -> Vec<u8> {
    let mut k = vec![keys::COUNT];
    k.extend_from_slice(prefix);
    k
}

/// The counted prefix `key` falls under, if any.
pub(crate) fn counted_prefix<'a>(rules: &[CountedIndex], key: &'a [u8]) -> Option<&'a [u8]> {
    rules.iter().find_map(|r| r.prefix_of(key)).map(|n| &key[..n])
}

/// True when `prefix` is exactly a counted prefix of one of `rules`.
pub(crate) fn is_counted_prefix(rules: &[CountedIndex], prefix: &[u8]) -> bool {
    rules.iter().any(|r| r.prefix_of(prefix) == Some(prefix.len()))
}

/// Every stored count that differs from a recount of its index.
pub(crate) fn check(db: &sled::Db, problems: &mut Vec<String>) -> Result<(), StoreError> {
    for index in load(db)? {
        let actual = recount(db, &index)?;
        let mut stored: HashMap<Vec<u8>, u64> = HashMap::new();
        for item in db.scan_prefix(count_key(&name_part(&index))) {
            let (k, v) = item?;
            let n = <[u8; 8]>::try_from(v.as_ref()).map(u64::from_be_bytes).unwrap_or(u64::MAX);
            stored.insert(k[1..].to_vec(), n);
        }
        for (prefix, n) in &actual {
            let s = stored.get(prefix).copied().unwrap_or(0);
            if s != *n {
                problems.push(format!("count of index prefix {prefix:?}: {s} stored, {n} entries"));
            }
        }
        for (prefix, s) in &stored {
            if !actual.contains_key(prefix) && *s != 0 {
                problems.push(format!("count of index prefix {prefix:?}: {s} stored, no entries"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyBuilder;

    #[test]
    fn a_prefix_covers_the_declared_parts() {
        let os = CountedIndex { name: "os".into(), parts: vec![Part::Str, Part::Byte] };
        let key = KeyBuilder::index("os").str("water").u8(4).i64(17).bytes(&[9; 16]).build();
        let prefix = KeyBuilder::index("os").str("water").u8(4).build();
        assert_eq!(os.prefix_of(&key), Some(prefix.len()));
        assert_eq!(os.prefix_of(&KeyBuilder::index("or").str("water").build()), None);
        assert_eq!(os.prefix_of(&KeyBuilder::index("os").str("water").build()), None, "too short");
        assert!(is_counted_prefix(&[os], &prefix));
    }
}
