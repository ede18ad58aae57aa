//! The domain's consistency check, on top of the store's: each request record
//! must equal the fold of its events, and must own exactly the index entries
//! its state implies.

use kontakt_storage::{CheckReport, prefix_end};

use crate::lifecycle::{self, Request};
use crate::model::RequestId;
use crate::service::{REQUESTS, decode};
use crate::{DomainError, Kontakt};

/// Runs the store's check, then verifies every request against its events
/// and indexes — with writes held back meanwhile, so a store a server keeps
/// writing to is checked as it stood at one moment.
pub fn check(kontakt: &Kontakt) -> Result<CheckReport, DomainError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let k = kontakt.clone();
    kontakt.store().quiesce(Box::new(move || {
        let _ = tx.send(check_now(&k));
    }))?;
    rx.recv().map_err(|_| DomainError::Validation("the check did not finish".into()))?
}

/// The check itself, as the store stands.
fn check_now(kontakt: &Kontakt) -> Result<CheckReport, DomainError> {
    let store = kontakt.store();
    let mut report = store.check()?;
    let policy = kontakt.policy();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = store.scan_collection(REQUESTS, after.as_deref(), 1000)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.id().to_vec());
        for (key, stored) in page {
            let Some(id) = RequestId::from_bytes(key.id()) else {
                report.problems.push(format!("record {key}: not a request id"));
                continue;
            };
            let record: Request = match decode(&stored.body) {
                Ok(r) => r,
                Err(e) => {
                    report.problems.push(format!("request {id}: {e}"));
                    continue;
                }
            };
            let history = kontakt.history(id)?;
            match lifecycle::fold(&history) {
                Some(folded) if folded == record => {}
                Some(_) => report
                    .problems
                    .push(format!("request {}: record differs from the fold of its events", record.number)),
                None => report.problems.push(format!("request {}: no registration event", record.number)),
            }
            for k in crate::indexes::request_keys(&record, &policy) {
                let found = store.scan_range(&k, &prefix_end(&k), 1)?;
                if found.first().is_none_or(|e| e.key != k || e.record != key) {
                    report.problems.push(format!("request {}: index entry {k:?} missing", record.number));
                }
            }
        }
    }
    Ok(report)
}
