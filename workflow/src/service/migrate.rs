//! Keeping older stores opening: what the domain stores changes between
//! versions (a new index, a new field), and a store written by an older
//! version is brought up to date when it is opened.
//!
//! New fields and event kinds need nothing: every new field has a serde
//! default. A new index does: each request record is written again with the
//! index keys the current layout gives it (same body, no new event, one
//! atomic write per batch), and the marker `request-index-layout` records the
//! layout, so this runs once.

use kontakt_storage::{Expect, Put, Transaction};

use super::{Kontakt, REQUESTS, decode, request_key};
use crate::DomainError;
use crate::indexes;
use crate::lifecycle::Request;

const MARKER: &str = "request-index-layout";

impl Kontakt {
    /// Brings the store's request indexes to the current layout; returns how
    /// many requests were written again (0 when already current).
    pub fn migrate(&self, progress: &mut dyn FnMut(usize)) -> Result<usize, DomainError> {
        if self.marker(MARKER)?.as_deref() == Some(indexes::LAYOUT) {
            return Ok(0);
        }
        let mut done = 0;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.store.scan_collection(REQUESTS, after.as_deref(), 500)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.id().to_vec());
            let mut puts = Vec::with_capacity(page.len());
            for (_, stored) in &page {
                let r: Request = decode(&stored.body)?;
                puts.push(Put {
                    key: request_key(r.id),
                    expect: Expect::Version(stored.version),
                    body: Some(stored.body.clone()),
                    index: indexes::request_keys(&r, &self.policy),
                    events: vec![],
                });
            }
            done += puts.len();
            self.store.commit(Transaction::of(puts))?;
            progress(done);
        }
        self.set_marker(MARKER, indexes::LAYOUT)?;
        Ok(done)
    }
}
