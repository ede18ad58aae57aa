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
    /// Marks a store that holds no request yet as of the current layout.
    pub(super) fn mark_fresh_layout(&self) -> Result<(), DomainError> {
        if self.marker(MARKER)?.is_none() && self.store.scan_collection(REQUESTS, None, 1)?.is_empty() {
            self.set_marker(MARKER, indexes::LAYOUT)?;
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kontakt_storage::{KeyBuilder, SledStore};

    use super::*;
    use crate::model::{Actor, Channel, Role};
    use crate::{Applicant, ManualClock, NewRequest, service::AddressPoint};

    /// A store written with index layout 2 (before the last-change index)
    /// gets the index when opened, and the changes since a moment are found again.
    #[test]
    fn a_layout_2_store_gets_the_last_change_index_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new("2026-11-20T05:30:00Z".parse().unwrap()));
        let k = Kontakt::new(Arc::new(SledStore::open(dir.path()).unwrap()), clock.clone());
        crate::demo::load(&k).unwrap();
        let op = Actor { subject: "op".into(), role: Some(Role::Operator), organization: None };
        let category = k.categories().unwrap().remove(0).code;
        let building = k.search_addresses("1", 1).unwrap().remove(0).id.to_string();
        for i in 0..5 {
            let new = NewRequest {
                category: category.clone(),
                address: AddressPoint::Id(building.clone()),
                description: format!("описание {i}"),
                channel: Channel::Phone,
                applicant: Applicant::default(),
                raise_reason: None,
                incident: None,
            };
            k.register(new, &op).unwrap();
        }
        // Layout 2: the same records without their last-change keys.
        let changed = KeyBuilder::index(indexes::BY_CHANGED).build();
        let page = k.store.scan_collection(REQUESTS, None, 100).unwrap();
        let puts = page
            .iter()
            .map(|(key, s)| {
                let r: Request = decode(&s.body).unwrap();
                Put {
                    key: key.clone(),
                    expect: Expect::Version(s.version),
                    body: Some(s.body.clone()),
                    index: indexes::request_keys(&r, &k.policy)
                        .into_iter()
                        .filter(|i| !i.starts_with(&changed))
                        .collect(),
                    events: vec![],
                }
            })
            .collect();
        k.store.commit(Transaction::of(puts)).unwrap();
        k.set_marker(MARKER, "2").unwrap();
        let since = "2026-11-20T00:00:00Z".parse().unwrap();
        assert!(k.events_since(since, &[], 100).unwrap().is_empty(), "layout 2 has no such index");
        assert_eq!(k.migrate(&mut |_| {}).unwrap(), 5);
        assert_eq!(k.events_since(since, &["REGISTERED".to_string()], 100).unwrap().len(), 5);
        assert_eq!(k.migrate(&mut |_| {}).unwrap(), 0, "once");
        assert!(k.store.check().unwrap().problems.is_empty());
    }
}
