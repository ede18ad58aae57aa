//! The administration's workspace in the API: reference data's history,
//! routing rules, delivery channels, the building registry (edit, CSV import
//! while the server runs), the feeds and the dialer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kontakt_workflow::model::{self, Actor, Role};
use kontakt_workflow::refdata::{self, RefChange, RefEvent, RefKind};
use kontakt_workflow::service::ADMINISTRATION;

use super::errors::validation;
use super::mutation::BuildingInput;
use super::types::Callback;
use super::types::{Address, Category, GqlRole, Organization, RequestNode};
use super::{RoleGuard, app, blocking, principal};

const ADMIN: &[Role] = &[Role::Admin];
const OVERSEERS: &[Role] = &[Role::Supervisor, Role::Admin];
/// Largest CSV an import takes in one mutation.
const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;

/// A kind of reference record.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ReferenceKind")]
pub enum GqlRefKind {
    /// An executing organization.
    Organization,
    /// A category of request.
    Category,
    /// A routing rule.
    RoutingRule,
    /// A building of the registry.
    Building,
    /// An organization's delivery channels.
    Delivery,
    /// Per-request norms of a category.
    CategoryNorm,
    /// An organization's working hours.
    WorkingHours,
    /// An access token.
    Token,
}

impl From<GqlRefKind> for RefKind {
    fn from(k: GqlRefKind) -> Self {
        match k {
            GqlRefKind::Organization => RefKind::Organization,
            GqlRefKind::Category => RefKind::Category,
            GqlRefKind::RoutingRule => RefKind::RoutingRule,
            GqlRefKind::Building => RefKind::Building,
            GqlRefKind::Delivery => RefKind::Delivery,
            GqlRefKind::CategoryNorm => RefKind::CategoryNorm,
            GqlRefKind::WorkingHours => RefKind::WorkingHours,
            GqlRefKind::Token => RefKind::Token,
        }
    }
}

impl From<RefKind> for GqlRefKind {
    fn from(k: RefKind) -> Self {
        match k {
            RefKind::Organization => GqlRefKind::Organization,
            RefKind::Category => GqlRefKind::Category,
            RefKind::RoutingRule => GqlRefKind::RoutingRule,
            RefKind::Building => GqlRefKind::Building,
            RefKind::Delivery => GqlRefKind::Delivery,
            RefKind::CategoryNorm => GqlRefKind::CategoryNorm,
            RefKind::WorkingHours => GqlRefKind::WorkingHours,
            RefKind::Token => GqlRefKind::Token,
        }
    }
}

/// What happened to a reference record.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ReferenceChangeKind")]
pub enum GqlRefChange {
    /// It came to be.
    Created,
    /// Some of its fields changed.
    Changed,
    /// It was removed.
    Deleted,
    /// A token was issued.
    Issued,
    /// A token was revoked.
    Revoked,
}

impl From<RefChange> for GqlRefChange {
    fn from(c: RefChange) -> Self {
        match c {
            RefChange::Created => GqlRefChange::Created,
            RefChange::Changed => GqlRefChange::Changed,
            RefChange::Deleted => GqlRefChange::Deleted,
            RefChange::Issued => GqlRefChange::Issued,
            RefChange::Revoked => GqlRefChange::Revoked,
        }
    }
}

/// One field's value before and after a change, as JSON text (secrets masked).
#[derive(Clone, Debug, SimpleObject)]
pub struct FieldChange {
    /// The field's name as stored.
    pub field: String,
    /// Before; null when it did not exist.
    pub before: Option<String>,
    /// After; null when it was removed.
    pub after: Option<String>,
}

/// One change of reference data: who, when, what, from what to what.
#[derive(Clone, Debug, SimpleObject)]
pub struct ReferenceChange {
    /// Its place in the reference log; null for changes recorded before the log.
    pub seq: Option<u64>,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (the token's subject, or `system`).
    pub actor: String,
    /// Their role; null for the system.
    pub actor_role: Option<GqlRole>,
    /// What happened.
    pub change: GqlRefChange,
    /// The kind of record.
    pub kind: Option<GqlRefKind>,
    /// The record's key within its kind.
    pub key: Option<ID>,
    /// The fields that changed, with their values.
    pub fields: Vec<FieldChange>,
}

fn shown(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl ReferenceChange {
    fn of(seq: Option<u64>, e: RefEvent) -> Self {
        let before = e.before.as_ref().map(refdata::redacted);
        let after = e.after.as_ref().map(refdata::redacted);
        let field = |v: &Option<serde_json::Value>, f: &str| {
            v.as_ref().and_then(|v| v.get(f)).filter(|v| !v.is_null()).map(shown)
        };
        let fields = e
            .fields
            .iter()
            .map(|f| FieldChange { field: f.clone(), before: field(&before, f), after: field(&after, f) })
            .collect();
        Self {
            seq,
            at: e.at,
            actor: e.actor.subject.clone(),
            actor_role: e.actor.role.map(Into::into),
            change: e.change.into(),
            kind: e.kind.map(Into::into),
            key: e.key.map(ID),
            fields,
        }
    }
}

/// A routing rule: a category in a district (or city-wide) goes to an organization.
pub struct RoutingRule(pub model::RoutingRule);

#[Object]
impl RoutingRule {
    /// The key of its history (`referenceHistory(kind: ROUTING_RULE, key: …)`).
    async fn key(&self) -> ID {
        ID(refdata::rule_key(self.0.category.as_str(), self.0.district.as_deref()))
    }
    /// The category's code.
    async fn category_code(&self) -> ID {
        ID(self.0.category.to_string())
    }
    /// The category.
    async fn category(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let k = app(ctx).kontakt.clone();
        let code = self.0.category.to_string();
        Ok(blocking(move || k.category(&code)).await?.map(Category))
    }
    /// The district; null: the whole city.
    async fn district(&self) -> Option<&str> {
        self.0.district.as_deref()
    }
    /// The organization's code.
    async fn organization_id(&self) -> ID {
        ID(self.0.organization.to_string())
    }
    /// The organization.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        let k = app(ctx).kontakt.clone();
        let id = self.0.organization.to_string();
        Ok(blocking(move || k.organization(&id)).await?.map(Organization))
    }
}

/// How an organization (or the administration) is told of its requests.
#[derive(Clone, Debug, SimpleObject)]
pub struct DeliveryInfo {
    /// The organization's code, or `administration`.
    pub recipient: ID,
    /// Where events are posted.
    pub webhook_url: Option<String>,
    /// True when the webhook's posts are signed (the secret itself is never shown).
    pub has_webhook_secret: bool,
    /// Where mail goes.
    pub emails: Vec<String>,
    /// `ru` or `en`.
    pub language: String,
    /// Minutes between digests; 0: every notice at once.
    pub digest_minutes: u32,
}

/// One configured feed of emergencies, since the server started.
#[derive(Clone, Debug, SimpleObject)]
pub struct FeedInfo {
    /// Its name: the incidents' source.
    pub name: String,
    /// Its URL or folder.
    pub location: String,
    /// `cap` or `json`.
    pub format: String,
    /// When it was last pulled.
    pub last_pull: Option<DateTime<Utc>>,
    /// When a pull last went without a refused document.
    pub last_success: Option<DateTime<Utc>>,
    /// When the last document was refused.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Why (`unreachable`, `malformed`, `wrong_schema`, `oversized`, `rejected`).
    pub last_error_reason: Option<String>,
    /// What was wrong.
    pub last_error: Option<String>,
    /// Documents refused.
    pub errors: u64,
    /// Incidents created.
    pub created: u64,
    /// Incidents revised.
    pub revised: u64,
    /// Incidents ended or withdrawn.
    pub ended: u64,
    /// Alerts about places outside the city, ignored.
    pub ignored: u64,
}

/// A callback in the dialer's hands, with its request.
pub struct DialerItem(kontakt_workflow::callbacks::CallbackTask);

#[Object]
impl DialerItem {
    /// The task.
    async fn callback(&self) -> Callback {
        Callback(self.0.clone())
    }
    /// The request's number.
    async fn number(&self) -> String {
        self.0.number.to_string()
    }
    /// The request.
    async fn request(&self, ctx: &Context<'_>) -> Result<Option<RequestNode>> {
        let k = app(ctx).kontakt.clone();
        let id = self.0.request;
        Ok(blocking(move || k.request(id)).await?.map(RequestNode::new))
    }
}

/// The dialer: what it has to call, and what it could not.
#[derive(SimpleObject)]
pub struct DialerQueue {
    /// True when a dialer places calls; otherwise operators call from the worklist.
    pub configured: bool,
    /// Waiting for an attempt, being dialled, or waiting for the outcome; soonest first.
    pub queued: Vec<DialerItem>,
    /// Every attempt failed: the operators' worklist has them.
    pub failed: Vec<DialerItem>,
}

/// Where an import stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ImportStatus {
    /// Writing.
    Running,
    /// Every row written.
    Done,
    /// Stopped by an error; the batches before it are written.
    Failed,
}

/// A CSV import of buildings running while the server runs.
#[derive(Clone, Debug, SimpleObject)]
pub struct ImportJob {
    /// Its id, for `importJob`.
    pub id: ID,
    /// Rows in the file.
    pub total: u32,
    /// Rows written so far.
    pub done: u32,
    /// Where it stands.
    pub status: ImportStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// Who started it.
    pub started_by: String,
    /// When.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The imports this server ran, by id.
pub type Imports = Arc<Mutex<HashMap<String, ImportJob>>>;

fn update(imports: &Imports, id: &str, f: impl FnOnce(&mut ImportJob)) {
    if let Some(j) = imports.lock().unwrap_or_else(|e| e.into_inner()).get_mut(id) {
        f(j);
    }
}

/// The administration's queries.
#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// The latest changes of reference data (organizations, categories,
    /// routing, buildings, delivery, norms, hours, tokens), newest first.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn reference_changes(
        &self,
        ctx: &Context<'_>,
        kind: Option<GqlRefKind>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<ReferenceChange>> {
        let limit = usize::try_from(first.clamp(1, 500)).unwrap_or(50);
        let k = app(ctx).kontakt.clone();
        let changes = blocking(move || k.reference_changes(kind.map(Into::into), limit)).await?;
        Ok(changes.into_iter().map(|c| ReferenceChange::of(Some(c.seq), c.event)).collect())
    }

    /// One reference record's history, oldest first.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn reference_history(
        &self,
        ctx: &Context<'_>,
        kind: GqlRefKind,
        key: ID,
    ) -> Result<Vec<ReferenceChange>> {
        let k = app(ctx).kontakt.clone();
        let events = blocking(move || k.reference_history(kind.into(), &key)).await?;
        Ok(events.into_iter().map(|e| ReferenceChange::of(None, e)).collect())
    }

    /// Every routing rule.
    #[graphql(guard = "RoleGuard(OVERSEERS)")]
    async fn routing_rules(&self, ctx: &Context<'_>) -> Result<Vec<RoutingRule>> {
        let k = app(ctx).kontakt.clone();
        Ok(blocking(move || k.rules()).await?.into_iter().map(RoutingRule).collect())
    }

    /// Every organization's delivery channels, and the administration's.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn deliveries(&self, ctx: &Context<'_>) -> Result<Vec<DeliveryInfo>> {
        let k = app(ctx).kontakt.clone();
        blocking(move || {
            let mut recipients: Vec<String> = vec![ADMINISTRATION.to_string()];
            recipients.extend(k.organizations()?.into_iter().map(|o| o.id.to_string()));
            let mut out = Vec::new();
            for r in recipients {
                let d = k.delivery(&r)?.unwrap_or_default();
                out.push(DeliveryInfo {
                    recipient: ID(r),
                    webhook_url: d.webhook_url,
                    has_webhook_secret: d.webhook_secret.is_some(),
                    emails: d.emails,
                    language: d.language,
                    digest_minutes: d.digest_minutes,
                });
            }
            Ok(out)
        })
        .await
    }

    /// The feeds of emergencies: last pull, errors, incidents made.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn feeds(&self, ctx: &Context<'_>) -> Result<Vec<FeedInfo>> {
        let board = app(ctx).feeds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(board
            .into_iter()
            .map(|f| {
                let (last_error_at, last_error_reason, last_error) = match f.last_error {
                    Some((at, reason, detail)) => (Some(at), Some(reason), Some(detail)),
                    None => (None, None, None),
                };
                FeedInfo {
                    name: f.name,
                    location: f.location,
                    format: f.format.to_string(),
                    last_pull: f.last_pull,
                    last_success: f.last_success,
                    last_error_at,
                    last_error_reason,
                    last_error,
                    errors: f.errors,
                    created: f.created,
                    revised: f.revised,
                    ended: f.ended,
                    ignored: f.ignored,
                }
            })
            .collect())
    }

    /// The dialer's queue and its failures.
    #[graphql(guard = "RoleGuard(OVERSEERS)")]
    async fn dialer_queue(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: i32,
    ) -> Result<DialerQueue> {
        let limit = usize::try_from(first.clamp(1, 500)).unwrap_or(100);
        let a = app(ctx);
        let k = a.kontakt.clone();
        let (queued, failed) =
            blocking(move || Ok((k.callback_queue(limit)?, k.failed_callbacks(limit)?))).await?;
        Ok(DialerQueue {
            configured: a.dialer_configured,
            queued: queued.into_iter().map(DialerItem).collect(),
            failed: failed.into_iter().map(DialerItem).collect(),
        })
    }

    /// A building import's progress.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn import_job(&self, ctx: &Context<'_>, id: ID) -> Option<ImportJob> {
        app(ctx).imports.lock().unwrap_or_else(|e| e.into_inner()).get(id.as_str()).cloned()
    }
}

/// The administration's mutations.
#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Changes a building of the registry (ADMIN; recorded with who did it).
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn edit_building(&self, ctx: &Context<'_>, input: BuildingInput) -> Result<Address> {
        let Some(id) = input.id else { return Err(validation("a building to change is named by its id")) };
        let address = model::Address {
            id: model::Code::parse(&id).map_err(super::errors::domain)?,
            street: input.street.trim().to_string(),
            house: input.house.trim().to_string(),
            district: input.district.trim().to_string(),
            lat: input.lat,
            lon: input.lon,
        };
        let (k, actor) = (app(ctx).kontakt.clone(), principal(ctx)?.actor());
        let saved = address.clone();
        blocking(move || k.edit_building(&saved, &actor)).await?;
        Ok(Address { inner: address })
    }

    /// Imports buildings from CSV (`id,street,house,district,lat,lon`) while
    /// the server runs (ADMIN). The whole file is checked first: a bad row is
    /// refused with its line and nothing is written. Then it is written in
    /// batches, each recorded with who imported it; `importJob` tells the progress.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn import_buildings(&self, ctx: &Context<'_>, csv: String) -> Result<ImportJob> {
        if csv.len() > MAX_IMPORT_BYTES {
            return Err(validation(format!(
                "the file is larger than {} MiB",
                MAX_IMPORT_BYTES / 1024 / 1024
            )));
        }
        let rows = blocking(move || kontakt_workflow::reference::parse_addresses(&csv)).await?;
        if rows.is_empty() {
            return Err(validation("the file has no rows"));
        }
        let a = app(ctx);
        let actor: Actor = principal(ctx)?.actor();
        let id = ulid::Ulid::generate().to_string().to_lowercase();
        let job = ImportJob {
            id: ID(id.clone()),
            total: u32::try_from(rows.len()).unwrap_or(u32::MAX),
            done: 0,
            status: ImportStatus::Running,
            error: None,
            started_by: actor.subject.clone(),
            started_at: a.kontakt.now(),
            finished_at: None,
        };
        a.imports.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), job.clone());
        let (k, imports) = (a.kontakt.clone(), a.imports.clone());
        tokio::task::spawn_blocking(move || {
            let result = k.put_addresses(&rows, &actor, &mut |done| {
                update(&imports, &id, |j| j.done = u32::try_from(done).unwrap_or(u32::MAX));
            });
            let now = k.now();
            update(&imports, &id, |j| {
                j.finished_at = Some(now);
                match result {
                    Ok(_) => j.status = ImportStatus::Done,
                    Err(e) => {
                        tracing::warn!(error = %e, "building import failed");
                        j.status = ImportStatus::Failed;
                        j.error = Some(e.to_string());
                    }
                }
            });
        });
        Ok(job)
    }
}
