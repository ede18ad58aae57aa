//! GraphQL object types over the domain's types. Fields that reveal personal
//! data check the caller here, in the API, whatever the client shows.

mod callback;
mod incident;

pub use callback::*;
pub use incident::*;

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kontakt_workflow::model::{self, Role};
use kontakt_workflow::{Event, Request, lifecycle};

use super::scalars::IsoDuration;
use super::{app, principal};
use crate::graphql::errors::OrGql;

/// A request's status.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::model::RequestStatus")]
pub enum RequestStatus {
    /// Registered; with no organization it waits in the unrouted queue.
    Registered,
    /// Sent to its organization.
    Dispatched,
    /// Accepted by its organization.
    InProgress,
    /// Past its deadline while open.
    Overdue,
    /// Reported done.
    Resolved,
    /// Finished.
    Closed,
    /// Withdrawn.
    Cancelled,
}

/// The regulation's deadline classes.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::model::DeadlineClass")]
pub enum DeadlineClass {
    /// 6 hours.
    Emergency,
    /// 24 hours.
    Short,
    /// 72 hours.
    Medium,
    /// One week.
    Long,
}

/// Steps of the escalation ladder.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::model::EscalationStep")]
pub enum EscalationStep {
    /// 75 % of the window.
    Warning,
    /// The deadline passed.
    Overdue,
    /// Escalated to the city administration.
    Escalated,
}

/// How a request came in.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::model::Channel")]
pub enum Channel {
    /// By phone.
    Phone,
    /// The web form.
    Web,
    /// An Open311 client.
    Open311,
    /// E-mail.
    Email,
    /// In person.
    WalkIn,
}

/// What an organization does.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::model::OrganizationKind")]
pub enum OrganizationKind {
    /// Electric grid (РЭС).
    ElectricGrid,
    /// Housing maintenance (ЖЭК).
    Housing,
    /// District heating.
    Heating,
    /// Water and sewerage.
    Water,
    /// Roads.
    Roads,
    /// Anything else.
    Other,
}

/// City or regional subordination.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::model::Subordination")]
pub enum Subordination {
    /// Run by the city.
    City,
    /// Run by the region (oblast): appeals go there.
    Regional,
}

/// What a token's holder may do.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::model::Role")]
pub enum GqlRole {
    /// Call-center operator.
    Operator,
    /// An executing organization.
    Contractor,
    /// Dispatch supervisor, mayor's office.
    Supervisor,
    /// System administrator.
    Admin,
}

fn english(lang: &str) -> bool {
    lang.eq_ignore_ascii_case("en")
}

/// An executing organization.
#[derive(Clone, Debug)]
pub struct Organization(pub model::Organization);

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The name, in Russian (`ru`, default) or English (`en`).
    async fn name(&self, #[graphql(default = "ru")] lang: String) -> &str {
        if english(&lang) { &self.0.name_en } else { &self.0.name_ru }
    }
    async fn kind(&self) -> OrganizationKind {
        self.0.kind.into()
    }
    async fn subordination(&self) -> Subordination {
        self.0.subordination.into()
    }
    /// The district it serves, if it serves one.
    async fn district(&self) -> Option<&str> {
        self.0.district.as_deref()
    }
    /// Field crews.
    async fn crews(&self) -> u32 {
        self.0.crews
    }
    /// Dispatch phone.
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
}

/// A request category.
#[derive(Clone, Debug)]
pub struct Category(pub model::Category);

#[Object]
impl Category {
    async fn code(&self) -> ID {
        ID(self.0.code.to_string())
    }
    /// The name, in Russian (default) or English.
    async fn name(&self, #[graphql(default = "ru")] lang: String) -> &str {
        if english(&lang) { &self.0.name_en } else { &self.0.name_ru }
    }
    async fn group(&self) -> &str {
        &self.0.group
    }
    async fn deadline_class(&self) -> DeadlineClass {
        self.0.deadline_class.into()
    }
    /// The regulated window.
    async fn window(&self) -> IsoDuration {
        self.0.deadline_class.window().into()
    }
    /// The operator's script template (placeholders `{deadline}`, `{organization}`, `{address}`, `{category}`).
    async fn script(&self, #[graphql(default = "ru")] lang: String) -> &str {
        if english(&lang) { &self.0.script_en } else { &self.0.script_ru }
    }
    /// Citizens' own words for the category, Russian and English, lower-case.
    async fn keywords(&self) -> &[String] {
        &self.0.keywords
    }
}

/// A building of the address registry.
#[derive(Clone, Debug)]
pub struct Address {
    /// The registry entry.
    pub inner: model::Address,
}

#[Object]
impl Address {
    async fn id(&self) -> ID {
        ID(self.inner.id.to_string())
    }
    async fn street(&self) -> &str {
        &self.inner.street
    }
    async fn house(&self) -> &str {
        &self.inner.house
    }
    async fn district(&self) -> &str {
        &self.inner.district
    }
    async fn lat(&self) -> f64 {
        self.inner.lat
    }
    async fn lon(&self) -> f64 {
        self.inner.lon
    }
    /// `ул. Пушкинская, 12`.
    async fn label(&self) -> String {
        self.inner.label()
    }
}

/// The caller of a request.
#[derive(Clone, Debug, SimpleObject)]
pub struct Applicant {
    /// Name as given.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Consent to an automatic call back.
    pub callback_consent: bool,
}

/// A request card.
#[derive(Clone, Debug)]
pub struct RequestNode(pub Arc<Request>);

impl RequestNode {
    /// Wraps a request.
    pub fn new(r: Request) -> Self {
        Self(Arc::new(r))
    }
}

/// True when the caller may see the applicant of `r`: operators, supervisors,
/// admins, and the organization the request is assigned to.
pub fn may_see_applicant(ctx: &Context<'_>, r: &Request) -> bool {
    principal(ctx).is_ok_and(|p| match p.role {
        Role::Operator | Role::Supervisor | Role::Admin => true,
        Role::Contractor => p.is_contractor_of(r.organization.as_ref()),
    })
}

#[Object]
impl RequestNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The number read out to the caller: `2026-000123`.
    async fn number(&self) -> String {
        self.0.number.to_string()
    }
    async fn status(&self) -> RequestStatus {
        self.0.status.into()
    }
    async fn category(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        let k = &app(ctx).kontakt;
        Ok(k.category(self.0.category.as_str()).gql()?.map(Category))
    }
    async fn deadline_class(&self) -> DeadlineClass {
        self.0.deadline_class.into()
    }
    async fn registered_at(&self) -> DateTime<Utc> {
        self.0.registered_at
    }
    async fn deadline(&self) -> DateTime<Utc> {
        self.0.deadline
    }
    /// Time left to the deadline; negative when overdue; null once finished.
    async fn time_left(&self, ctx: &Context<'_>) -> Option<IsoDuration> {
        self.0.status.is_open().then(|| (self.0.deadline - app(ctx).kontakt.now()).into())
    }
    /// What the caller may do to the request right now: the domain asks its
    /// own rules with each command, so nothing offered is refused for the
    /// request's state or the caller's role. RECORD_CALLBACK_OUTCOME when a
    /// call about the current result awaits its answer.
    async fn allowed_actions(&self, ctx: &Context<'_>) -> Result<Vec<RequestAction>> {
        let p = principal(ctx)?;
        let a = app(ctx);
        let mut out: Vec<RequestAction> = lifecycle::actions::allowed(&self.0, &p.actor(), a.kontakt.now())
            .into_iter()
            .map(Into::into)
            .collect();
        let city = matches!(p.role, Role::Operator | Role::Supervisor | Role::Admin);
        if city && a.kontakt.callback_awaiting_outcome(&self.0).gql()?.is_some() {
            out.push(RequestAction::RecordCallbackOutcome);
        }
        Ok(out)
    }
    /// The sentence the operator reads out to a caller asking about this
    /// request (`ru` or `en`): number, organization, deadline in city time,
    /// and where it stands.
    async fn status_script(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = "ru")] lang: String,
    ) -> Result<String> {
        let k = &app(ctx).kontakt;
        let english = lang == "en";
        let org = match &self.0.organization {
            Some(id) => {
                k.organization(id.as_str()).gql()?.map(|o| if english { o.name_en } else { o.name_ru })
            }
            None => None,
        };
        Ok(kontakt_workflow::status_script::status_answer(
            &self.0,
            org.as_deref(),
            k.now(),
            kontakt_workflow::service::moscow(),
            english,
        ))
    }
    /// The last escalation step taken.
    async fn escalation(&self) -> Option<EscalationStep> {
        self.0.escalation.map(Into::into)
    }
    /// The executing organization; null while unrouted.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        match &self.0.organization {
            Some(id) => Ok(app(ctx).kontakt.organization(id.as_str()).gql()?.map(Organization)),
            None => Ok(None),
        }
    }
    async fn address(&self) -> Address {
        Address { inner: self.0.address.clone() }
    }
    /// True while the address is the caller's words, not a registry building.
    async fn address_unconfirmed(&self) -> bool {
        self.0.address_unconfirmed
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn channel(&self) -> Channel {
        self.0.channel.into()
    }
    /// Name and phone: for operators, supervisors, admins and the assigned organization only.
    async fn applicant(&self, ctx: &Context<'_>) -> Option<Applicant> {
        may_see_applicant(ctx, &self.0).then(|| Applicant {
            name: self.0.applicant.name.clone(),
            phone: self.0.applicant.phone.as_ref().map(|p| p.as_str().to_string()),
            callback_consent: self.0.applicant.callback_consent,
        })
    }
    /// What the organizations and the administration were told about the
    /// request, and whether it reached them (a contractor sees its own).
    async fn notifications(&self, ctx: &Context<'_>) -> Result<Vec<Notification>> {
        let p = principal(ctx)?.clone();
        let (k, id) = (app(ctx).kontakt.clone(), self.0.id);
        let all = super::blocking(move || k.notices_of(id)).await?;
        Ok(all
            .into_iter()
            .filter(|n| {
                p.role != Role::Contractor
                    || (n.organization.is_some() && p.is_contractor_of(n.organization.as_ref()))
            })
            .map(Notification)
            .collect())
    }
    /// Other callers attached with the same problem, seen by whoever may see the applicant.
    async fn co_applicants(&self, ctx: &Context<'_>) -> Vec<Applicant> {
        if !may_see_applicant(ctx, &self.0) {
            return vec![];
        }
        self.0
            .co_applicants
            .iter()
            .map(|a| Applicant {
                name: a.name.clone(),
                phone: a.phone.as_ref().map(|p| p.as_str().to_string()),
                callback_consent: a.callback_consent,
            })
            .collect()
    }
    /// The incident the request is linked to.
    async fn incident(&self, ctx: &Context<'_>) -> Result<Option<Incident>> {
        match &self.0.incident {
            Some(id) => Ok(app(ctx).kontakt.incident(id).gql()?.map(Incident::new)),
            None => Ok(None),
        }
    }
    async fn resolution(&self) -> Option<&str> {
        self.0.resolution.as_deref()
    }
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }
    /// True when resolved after the deadline.
    async fn resolved_late(&self) -> Option<bool> {
        self.0.resolved_late
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
    /// How many times it was reopened.
    async fn reopened(&self) -> u32 {
        self.0.reopened
    }
    /// The stored version, for optimistic concurrency (`expectedVersion`).
    async fn version(&self) -> u64 {
        self.0.version
    }
    /// Calls back to the applicant with the result.
    async fn callbacks(&self, ctx: &Context<'_>) -> Result<Vec<Callback>> {
        super::visible(ctx, &self.0)?;
        Ok(app(ctx).kontakt.callbacks_of(self.0.id).gql()?.into_iter().map(Callback).collect())
    }
    /// Every event, oldest first (costed as ten, a typical history's length).
    #[graphql(complexity = "10 * child_complexity")]
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<RequestEvent>> {
        super::visible(ctx, &self.0)?;
        history(ctx, &self.0).await
    }
}

/// Folds a request's history into events, each with the state after it.
pub async fn history(ctx: &Context<'_>, r: &Request) -> Result<Vec<RequestEvent>> {
    let (k, id) = (app(ctx).kontakt.clone(), r.id);
    let events = super::blocking(move || k.history(id)).await?;
    let mut state = None;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        state = lifecycle::apply(state, &e);
        if let Some(s) = &state {
            out.push(RequestEvent { event: e, after: Arc::new(s.clone()) });
        }
    }
    Ok(out)
}

/// One entry of a request's history.
#[derive(Clone, Debug)]
pub struct RequestEvent {
    /// The event.
    pub event: Event,
    /// The request right after it.
    pub after: Arc<Request>,
}

#[Object]
impl RequestEvent {
    /// Position in the history, from 0.
    async fn seq(&self) -> u32 {
        self.event.seq
    }
    async fn at(&self) -> DateTime<Utc> {
        self.event.at
    }
    /// `REGISTERED`, `DISPATCHED`, `ACCEPTED`, `RESOLVED`, `WARNING`, `OVERDUE`, `ESCALATED`, …
    async fn kind(&self) -> &str {
        self.event.kind.name()
    }
    /// Who: a token subject, or `system`.
    async fn actor(&self) -> &str {
        &self.event.actor.subject
    }
    /// The actor's role; null for the system.
    async fn actor_role(&self) -> Option<GqlRole> {
        self.event.actor.role.map(Into::into)
    }
    /// Reason, resolution or note.
    async fn note(&self) -> Option<String> {
        self.event.kind.note()
    }
    /// The status after the event.
    async fn status(&self) -> RequestStatus {
        self.after.status.into()
    }
    /// The request as it stood after the event.
    async fn request(&self) -> RequestNode {
        RequestNode(self.after.clone())
    }
}

/// Paging information.
#[derive(Clone, Debug, SimpleObject)]
pub struct PageInfo {
    /// There may be more after `endCursor`.
    pub has_next_page: bool,
    /// Pass as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// One request in a list.
#[derive(Clone, Debug, SimpleObject)]
pub struct RequestEdge {
    /// The request.
    pub node: RequestNode,
    /// Its position.
    pub cursor: String,
}

/// A page of requests.
#[derive(Clone, Debug)]
pub struct RequestConnection {
    /// The requests, newest first.
    pub edges: Vec<RequestEdge>,
    /// Where to go on.
    pub page_info: PageInfo,
    /// The list's filters, for `totalCount`.
    pub query: kontakt_workflow::RequestQuery,
    /// The total, counted once for `totalCount` and `totalCountIsExact` together.
    pub total: std::sync::Arc<tokio::sync::OnceCell<kontakt_workflow::service::Count>>,
}

impl RequestConnection {
    async fn total(&self, ctx: &Context<'_>) -> Result<kontakt_workflow::service::Count> {
        let a = app(ctx);
        let (k, query, budget) = (a.kontakt.clone(), self.query.clone(), a.count_budget);
        self.total.get_or_try_init(|| super::blocking(move || k.count(&query, budget))).await.copied()
    }
}

#[Object]
impl RequestConnection {
    /// The requests, newest first.
    async fn edges(&self) -> &[RequestEdge] {
        &self.edges
    }
    /// Where to go on.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
    /// How many requests match in all. Counting reads at most
    /// `graphql.count_budget` entries; past that this is a lower bound and
    /// `totalCountIsExact` is false.
    #[graphql(complexity = 50)]
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u32> {
        Ok(u32::try_from(self.total(ctx).await?.found).unwrap_or(u32::MAX))
    }
    /// False when `totalCount` stopped at the count budget: there may be more.
    async fn total_count_is_exact(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.total(ctx).await?.exact)
    }
}

/// Filters of a request list; all given must hold.
#[derive(Clone, Debug, Default, InputObject)]
pub struct RequestFilter {
    /// Any of these statuses.
    pub status: Option<Vec<RequestStatus>>,
    /// The executing organization (contractors: only their own).
    pub organization_id: Option<ID>,
    /// The deadline class.
    pub deadline_class: Option<DeadlineClass>,
    /// Open and past the deadline (true), or not (false).
    pub overdue: Option<bool>,
    /// The address's district.
    pub district: Option<String>,
    /// Registered at or after.
    pub registered_from: Option<DateTime<Utc>>,
    /// Registered before.
    pub registered_to: Option<DateTime<Utc>>,
    /// A request number, or words of the address.
    pub text: Option<String>,
    /// Words of the description: each must start a word of it.
    pub words: Option<String>,
    /// Registered with an address the registry does not have (true) or not.
    pub address_unconfirmed: Option<bool>,
    /// The applicant's phone, in any form it is typed (`8 856 412-34-56`,
    /// `+7 856 4123456`, `(856) 412 34 56`, or a local number in the city's code).
    pub phone: Option<String>,
}

/// Who the caller is.
#[derive(Clone, Debug, SimpleObject)]
pub struct Me {
    /// The token's subject.
    pub subject: String,
    /// The role.
    pub role: GqlRole,
    /// A contractor's organization.
    pub organization: Option<Organization>,
    /// The telephone extension whose incoming calls open this console's caller panel.
    pub extension: Option<String>,
}

/// One organization's row on the supervisor board.
#[derive(Clone, Debug, SimpleObject)]
pub struct OrgBoardRow {
    /// The organization.
    pub organization: Organization,
    /// Dispatched, not accepted.
    pub dispatched: u32,
    /// Accepted, under way.
    pub in_progress: u32,
    /// Past the deadline.
    pub overdue: u32,
    /// Resolved since midnight, city time.
    pub resolved_today: u32,
}

/// The live SLA board.
#[derive(Clone, Debug, SimpleObject)]
pub struct SlaBoard {
    /// When it was computed.
    pub at: DateTime<Utc>,
    /// Requests waiting in the unrouted queue.
    pub unrouted: u32,
    /// One row per organization the caller may see.
    pub rows: Vec<OrgBoardRow>,
}

/// What the operator sees while entering a card.
#[derive(Clone, Debug, SimpleObject)]
pub struct CardHints {
    /// Active incidents covering the building, its street or its area (building first).
    pub active_incidents: Vec<Incident>,
    /// Open requests at the same building: possible duplicates.
    pub open_requests_at_address: Vec<RequestNode>,
    /// Requests at the same building in the last 90 days: recurring problems.
    pub recurring_at_address: Vec<RequestNode>,
    /// The class the card would get.
    pub deadline_class: Option<DeadlineClass>,
    /// The deadline it would get if registered now.
    pub deadline: Option<DateTime<Utc>>,
    /// Where it would be dispatched.
    pub organization: Option<Organization>,
    /// The operator's script, filled in.
    pub script: Option<String>,
}

/// One notice to an organization or the administration.
#[derive(Clone, Debug)]
pub struct Notification(pub kontakt_workflow::notify::Notice);

#[Object]
impl Notification {
    /// `DISPATCHED`, `REASSIGNED`, `REOPENED`, `RAISED_TO_EMERGENCY`, `WARNING`, `OVERDUE`, `ESCALATED`.
    async fn kind(&self) -> &str {
        self.0.kind.as_str()
    }
    /// The organization told; null for the administration.
    async fn organization_id(&self) -> Option<ID> {
        self.0.organization.as_ref().map(|o| ID(o.to_string()))
    }
    /// `PENDING`, `FAILING`, `DELIVERED`, `SKIPPED` (no channel).
    async fn status(&self) -> &str {
        match self.0.status {
            kontakt_workflow::notify::NoticeStatus::Pending => "PENDING",
            kontakt_workflow::notify::NoticeStatus::Failing => "FAILING",
            kontakt_workflow::notify::NoticeStatus::Delivered => "DELIVERED",
            kontakt_workflow::notify::NoticeStatus::Skipped => "SKIPPED",
        }
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn attempts(&self) -> u32 {
        self.0.attempts
    }
    /// Since when delivery keeps failing.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }
    /// The last failure.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// The channels it went by (`webhook`, `email`).
    async fn channels(&self) -> &[String] {
        &self.0.channels
    }
}

/// A command on a request, named like its mutation.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RequestAction {
    /// `acceptRequest`.
    Accept,
    /// `resolveRequest`.
    Resolve,
    /// `rejectRequest`.
    Reject,
    /// `reassignRequest`.
    Reassign,
    /// `raiseToEmergency`.
    RaiseToEmergency,
    /// `cancelRequest`.
    Cancel,
    /// `reopenRequest`.
    Reopen,
    /// `closeRequest`.
    Close,
    /// `linkToIncident`.
    LinkToIncident,
    /// `unlinkFromIncident`.
    UnlinkFromIncident,
    /// `addNote`.
    AddNote,
    /// `correctRequest`.
    Correct,
    /// `addApplicant`.
    AddApplicant,
    /// `recordCallbackOutcome`.
    RecordCallbackOutcome,
}

impl From<lifecycle::actions::Action> for RequestAction {
    fn from(a: lifecycle::actions::Action) -> Self {
        use lifecycle::actions::Action as A;
        match a {
            A::Accept => Self::Accept,
            A::Resolve => Self::Resolve,
            A::Reject => Self::Reject,
            A::Reassign => Self::Reassign,
            A::RaiseToEmergency => Self::RaiseToEmergency,
            A::Cancel => Self::Cancel,
            A::Reopen => Self::Reopen,
            A::Close => Self::Close,
            A::LinkToIncident => Self::LinkToIncident,
            A::UnlinkFromIncident => Self::UnlinkFromIncident,
            A::AddNote => Self::AddNote,
            A::Correct => Self::Correct,
            A::AddApplicant => Self::AddApplicant,
        }
    }
}
