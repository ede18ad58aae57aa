//! The in-process event bus: every committed event is published after its
//! write is durable; subscriptions filter by the subscriber's scope. A slow
//! subscriber falls behind on its own receiver and is told how much it
//! missed; it never slows a writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kontakt_workflow::model::OrgId;
use kontakt_workflow::{Event, Request};
use tokio::sync::broadcast;

/// One published event with the request's state after it.
#[derive(Debug, Clone)]
pub struct Published {
    /// The event.
    pub event: Event,
    /// The request after the event.
    pub request: Request,
    /// The organization the request was with before the change.
    pub previous_organization: Option<OrgId>,
}

/// The bus.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<Arc<Published>>,
    generation: Arc<AtomicU64>,
    /// Subscribers listening to shared executions (see `fanout`).
    shared: Arc<std::sync::atomic::AtomicUsize>,
    /// Fed from the store's change feed (several nodes): writers do not
    /// publish; the feed's tailer does, for every node's writes alike.
    fed: bool,
}

/// How many events a subscriber may fall behind before it is told it lagged.
pub const CAPACITY: usize = 4096;

impl Default for Bus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
            generation: Arc::default(),
            shared: Arc::default(),
            fed: false,
        }
    }
}

impl Bus {
    /// Publishes the events of one committed change, each with the request's
    /// state right after it (`before` is the state the change started from).
    pub fn publish(&self, events: &[Event], before: Option<&Request>, after: &Request) {
        if !self.fed {
            self.publish_fed(events, before, after);
        }
    }

    /// A bus that only the store's change feed publishes to.
    pub fn fed() -> Self {
        Self { fed: true, ..Self::default() }
    }

    /// Publishes a change read from the change feed (or, on a bus of its
    /// own, a change this process committed).
    pub fn publish_fed(&self, events: &[Event], before: Option<&Request>, after: &Request) {
        let previous_organization = before.and_then(|r| r.organization.clone());
        let mut state = before.cloned();
        for (i, event) in events.iter().enumerate() {
            state = kontakt_workflow::lifecycle::apply(state, event);
            let request = if i + 1 == events.len() {
                after.clone()
            } else {
                state.clone().unwrap_or_else(|| after.clone())
            };
            // No subscriber is not an error: the event is in the store regardless.
            let _ = self.tx.send(Arc::new(Published {
                event: event.clone(),
                request,
                previous_organization: previous_organization.clone(),
            }));
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Marks a change that is not a request event (an incident changed), so
    /// boards and card hints recompute.
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// A new receiver of everything published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.tx.subscribe()
    }

    /// Grows with every publication: boards recompute only when it moved.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The gauge of subscribers listening to shared executions, which the
    /// fan-out hub keeps.
    pub fn shared_listeners(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        self.shared.clone()
    }

    /// How many receivers are subscribed.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count() + self.shared.load(Ordering::Relaxed)
    }
}
