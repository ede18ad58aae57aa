//! One execution per distinct subscription, shared by every socket that
//! asked for it.
//!
//! A thousand consoles subscribed to the same `requestEvents` document with
//! the same variables and the same scope would otherwise each execute the
//! selection for every event. Here the first subscriber of a (document,
//! variables, operation, role, organization) starts one execution; each of
//! its results is serialized once and handed, as shared text, to every
//! subscriber, whose socket only wraps it in a frame with its own id.
//!
//! The scope is what the resolvers authorize by: the role and, for a
//! contractor, the organization. The shared execution runs as that scope,
//! not as any one subscriber's token: each socket keeps checking its own token
//! (on every revocation and at expiry) and closes on its own, and one
//! subscriber's revoked token ends nobody else's stream. Subscriptions that
//! depend on more than the scope (a caller's extension, per-card variables)
//! are not shared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_graphql::parser::types::OperationType;
use futures_util::StreamExt;
use kontakt_workflow::model::{OrgId, Role};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::auth::Principal;
use crate::graphql::AppSchema;

/// Root fields whose streams depend only on the document, the variables and
/// the scope, and whether a late joiner first gets the last item (a board is
/// a state; an event is not).
const SHAREABLE: &[(&str, bool)] = &[("requestEvents", false), ("slaBoard", true)];

/// Items a subscriber may fall behind by, as on the bus.
const CAPACITY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    document: String,
    variables: String,
    operation: Option<String>,
    role: Role,
    organization: Option<OrgId>,
}

/// One running execution and its listeners.
pub struct Shared {
    tx: broadcast::Sender<Arc<str>>,
    last: Arc<Mutex<Option<Arc<str>>>>,
    replay: bool,
    task: AbortHandle,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last subscriber left: nobody listens to the execution any more.
        self.task.abort();
    }
}

/// A subscriber's end: the payloads (serialized `ExecutionResult` JSON), and
/// the last one first when the stream is a state.
pub struct Listener {
    /// Counts this listener among the bus's subscribers while it lives.
    _counted: Counted,
    /// Keeps the execution running while this subscriber listens.
    pub shared: Arc<Shared>,
    /// The payloads as they come.
    pub rx: broadcast::Receiver<Arc<str>>,
    /// The current state, for a late joiner of a state stream.
    pub first: Option<Arc<str>>,
}

/// One listener on the subscriber gauge.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(gauge: &Arc<AtomicUsize>) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(gauge.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The running shared executions, by key.
#[derive(Default)]
pub struct Hub {
    running: Mutex<HashMap<Key, Weak<Shared>>>,
    /// Listeners, counted among the subscribers `/metrics` reports.
    listeners: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// Whether `request` may be shared, and whether a joiner gets the last item.
fn shareable(request: &async_graphql::Request) -> Option<bool> {
    let doc = async_graphql::parser::parse_query(&request.query).ok()?;
    let mut ops = doc.operations.iter();
    let (name, op) = ops.next()?;
    if ops.next().is_some() && request.operation_name.as_deref() != name.map(|n| n.as_str()) {
        // Several operations: share only the simple, common case of one.
        return None;
    }
    if op.node.ty != OperationType::Subscription || !doc.fragments.is_empty() {
        return None;
    }
    let mut replay = None;
    for item in &op.node.selection_set.node.items {
        let async_graphql::parser::types::Selection::Field(field) = &item.node else { return None };
        let (_, r) = SHAREABLE.iter().find(|(n, _)| *n == field.node.name.node.as_str())?;
        replay = Some(replay.unwrap_or(false) || *r);
    }
    replay
}

impl Hub {
    /// A hub counting its listeners on `gauge` (the bus's, so `/metrics` counts every subscriber).
    pub fn new(gauge: Arc<AtomicUsize>) -> Self {
        Self { running: Mutex::default(), listeners: gauge }
    }

    /// Joins (or starts) the shared execution of `request` in `principal`'s
    /// scope; `None` when the request is not one that is shared.
    pub fn join(
        &self,
        schema: &AppSchema,
        request: &async_graphql::Request,
        principal: &Principal,
    ) -> Option<Listener> {
        let replay = shareable(request)?;
        let key = Key {
            document: request.query.clone(),
            variables: serde_json::to_string(&request.variables).ok()?,
            operation: request.operation_name.clone(),
            role: principal.role,
            organization: if principal.role == Role::Contractor {
                principal.organization.clone()
            } else {
                None
            },
        };
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|_, w| w.strong_count() > 0);
        if let Some(shared) = running.get(&key).and_then(Weak::upgrade) {
            let rx = shared.tx.subscribe();
            let first = if shared.replay {
                shared.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
            } else {
                None
            };
            return Some(Listener { _counted: Counted::new(&self.listeners), shared, rx, first });
        }
        let scope = Principal {
            subject: format!("shared-{}", principal.role.as_str().to_lowercase()),
            role: principal.role,
            organization: key.organization.clone(),
            jti: format!("shared-{}", ulid::Ulid::generate()),
            expires_at: i64::MAX,
            extension: None,
        };
        let (tx, rx) = broadcast::channel(CAPACITY);
        let last: Arc<Mutex<Option<Arc<str>>>> = Arc::default();
        let mut own = async_graphql::Request::new(request.query.clone()).variables(request.variables.clone());
        if let Some(name) = &request.operation_name {
            own = own.operation_name(name.clone());
        }
        let own = own.data(scope);
        let mut responses = schema.execute_stream(own);
        let (out, keep) = (tx.clone(), last.clone());
        let task = tokio::spawn(async move {
            while let Some(mut r) = responses.next().await {
                crate::ws::code_errors(&mut r);
                let Ok(text) = serde_json::to_string(&r) else { continue };
                let text: Arc<str> = text.into();
                if replay {
                    *keep.lock().unwrap_or_else(|e| e.into_inner()) = Some(text.clone());
                }
                // No listener now is fine: one may join before the next item.
                let _ = out.send(text);
            }
        });
        let shared = Arc::new(Shared { tx, last, replay, task: task.abort_handle() });
        running.insert(key, Arc::downgrade(&shared));
        Some(Listener { _counted: Counted::new(&self.listeners), shared, rx, first: None })
    }

    /// How many distinct executions run now.
    pub fn executions(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}
