//! The consistency checker: every index entry and event against the records.

use std::collections::HashMap;

use crate::envelope::Envelope;
use crate::keys::{self, EVENT, INDEX, RECORD};
use crate::{RecordKey, SledStore, StoreError};

/// What [`Store::check`](crate::Store::check) found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Records read.
    pub records: u64,
    /// Index entries read.
    pub index_entries: u64,
    /// Events read.
    pub events: u64,
    /// Every mismatch, described.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} records, {} index entries, {} events, {} problems",
            self.records,
            self.index_entries,
            self.events,
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

pub(crate) fn check(store: &SledStore) -> Result<CheckReport, StoreError> {
    let db = store.db();
    let mut report = CheckReport::default();
    let problem = |r: &mut CheckReport, p: String| {
        if r.problems.len() < 10_000 {
            r.problems.push(p);
        }
    };

    // Records: each owned index key must point back; each event count must match.
    let mut event_counts: HashMap<Vec<u8>, u32> = HashMap::new();
    for item in db.scan_prefix([RECORD]) {
        let (k, v) = item?;
        report.records += 1;
        let key = RecordKey::from_bytes(k[1..].to_vec());
        let env = match Envelope::decode(&v) {
            Ok(e) => e,
            Err(e) => {
                problem(&mut report, format!("record {key}: {e}"));
                continue;
            }
        };
        for ik in &env.index {
            match db.get(keys::index(ik))? {
                Some(target) if target.as_ref() == key.as_bytes() => {}
                Some(target) => problem(
                    &mut report,
                    format!(
                        "record {key}: index entry {ik:?} points at {}",
                        RecordKey::from_bytes(target.to_vec())
                    ),
                ),
                None => problem(&mut report, format!("record {key}: index entry {ik:?} is missing")),
            }
        }
        event_counts.insert(key.as_bytes().to_vec(), env.events);
    }

    // Index entries: each must point at a record that owns it.
    for item in db.scan_prefix([INDEX]) {
        let (k, v) = item?;
        report.index_entries += 1;
        let target = RecordKey::from_bytes(v.to_vec());
        match db.get(keys::record(&target))? {
            None => {
                problem(&mut report, format!("index entry {:?} points at missing record {target}", &k[1..]))
            }
            Some(rv) => match Envelope::decode(&rv) {
                Ok(env) if env.index.iter().any(|ik| ik.as_slice() == &k[1..]) => {}
                Ok(_) => {
                    problem(&mut report, format!("index entry {:?} is not owned by record {target}", &k[1..]))
                }
                Err(_) => {} // reported with the record
            },
        }
    }

    // Events: packs contiguous from 0, as many events as the envelope says.
    let mut seen: HashMap<Vec<u8>, u32> = HashMap::new();
    for item in db.scan_prefix([EVENT]) {
        let (k, v) = item?;
        let Some(pack) = keys::unpack_events(&v) else {
            problem(&mut report, format!("malformed event pack {k:?}"));
            continue;
        };
        report.events += pack.len() as u64;
        let Some(len) = k.get(1..3).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize) else {
            problem(&mut report, format!("malformed event key {k:?}"));
            continue;
        };
        let Some(rk) = k.get(3..3 + len) else {
            problem(&mut report, format!("malformed event key {k:?}"));
            continue;
        };
        let seq = k.get(3 + len..).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
        let next = seen.entry(rk.to_vec()).or_insert(0);
        if seq != Some(*next) {
            problem(
                &mut report,
                format!("record {}: event {seq:?} out of sequence", RecordKey::from_bytes(rk.to_vec())),
            );
        }
        *next += pack.len() as u32;
    }
    for (rk, n) in &seen {
        match event_counts.get(rk) {
            None => problem(
                &mut report,
                format!("events of missing record {}", RecordKey::from_bytes(rk.clone())),
            ),
            Some(expected) if expected != n => problem(
                &mut report,
                format!(
                    "record {}: {n} events stored, envelope says {expected}",
                    RecordKey::from_bytes(rk.clone())
                ),
            ),
            Some(_) => {}
        }
    }
    for (rk, expected) in &event_counts {
        if *expected > 0 && !seen.contains_key(rk) {
            problem(
                &mut report,
                format!("record {}: {expected} events missing", RecordKey::from_bytes(rk.clone())),
            );
        }
    }
    crate::counted::check(db, &mut report.problems)?;
    Ok(report)
}
