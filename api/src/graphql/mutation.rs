//! Mutations: one per command of the state machine, plus administration of
//! reference data and tokens. Each change is committed durably, then its
//! events are published to subscribers.

use async_graphql::{Context, ID, InputObject, Object, Result};
use kontakt_workflow::model::{self, Code, Phone, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Command, NewRequest};

use super::errors::{OrGql, validation};
use super::load_visible;
use super::scalars::IsoDuration;
use super::types::*;
use super::{RoleGuard, app, blocking, principal};

const CITY: &[Role] = &[Role::Operator, Role::Supervisor, Role::Admin];
const ANY: &[Role] = &[Role::Operator, Role::Contractor, Role::Supervisor, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];

/// The caller of a new card.
#[derive(Clone, Debug, Default, InputObject)]
pub struct ApplicantInput {
    /// Name as given.
    pub name: Option<String>,
    /// Phone as typed.
    pub phone: Option<String>,
    /// Consent to an automatic call back with the result.
    #[graphql(default = false)]
    pub callback_consent: bool,
}

/// A new card.
#[derive(Clone, Debug, InputObject)]
pub struct RegisterRequestInput {
    /// The category.
    pub category_code: ID,
    /// A registry building…
    pub address_id: Option<ID>,
    /// …or a point (the nearest building is taken).
    pub lat: Option<f64>,
    /// Longitude of the point.
    pub lon: Option<f64>,
    /// …or an address the registry does not have, in words, with its
    /// district (for routing): the card carries "address unconfirmed".
    pub free_address: Option<FreeAddressInput>,
    /// What the caller said.
    pub description: String,
    /// How it came in.
    #[graphql(default_with = "Channel::Phone")]
    pub channel: Channel,
    /// The caller.
    pub applicant: Option<ApplicantInput>,
    /// The operator's reason to raise the card to EMERGENCY.
    pub raise_to_emergency: Option<String>,
    /// An active incident to link the card to (it goes to the incident's organization).
    pub incident_id: Option<ID>,
    /// A key of the caller's choosing: the same registration sent again with
    /// it (a retry after a dropped line) returns the first result and
    /// registers nothing new; the same key with another card is refused
    /// (CONFLICT). Remembered for 24 hours per caller.
    pub idempotency_key: Option<String>,
}

/// How an organization (or the administration) is told.
#[derive(Clone, Debug, InputObject)]
pub struct DeliveryInput {
    /// A URL the notices are POSTed to (JSON, signed).
    pub webhook_url: Option<String>,
    /// The webhook's HMAC-SHA256 key, 32 bytes or more. Left out, the stored
    /// one is kept while a webhook stays; empty, it is removed.
    pub webhook_secret: Option<String>,
    /// Addresses the notices are mailed to.
    #[graphql(default)]
    pub emails: Vec<String>,
    /// `ru` (default) or `en`.
    #[graphql(default_with = "String::from(\"ru\")")]
    pub language: String,
    /// One digest every so many minutes instead of each notice (0: each at once).
    #[graphql(default)]
    pub digest_minutes: u32,
}

/// An address the registry does not have.
#[derive(Clone, Debug, InputObject)]
pub struct FreeAddressInput {
    /// The address as the caller says it (`Садовая 17, частный дом за школой`).
    pub text: String,
    /// The district, which routing needs.
    pub district: String,
    /// A point picked on the map, if any.
    pub lat: Option<f64>,
    /// Its longitude.
    pub lon: Option<f64>,
}

/// A building added to the registry.
#[derive(Clone, Debug, InputObject)]
pub struct BuildingInput {
    /// Its code; made up when left out.
    pub id: Option<ID>,
    /// The street (`ул. Садовая`).
    pub street: String,
    /// The house (`17`, `14А`).
    pub house: String,
    /// The district.
    pub district: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// An organization, as an admin enters it.
#[derive(Clone, Debug, InputObject)]
pub struct OrganizationInput {
    /// Its code.
    pub id: ID,
    /// Russian name.
    pub name_ru: String,
    /// English name.
    pub name_en: String,
    /// What it does.
    pub kind: OrganizationKind,
    /// City or region.
    pub subordination: Subordination,
    /// The district it serves.
    pub district: Option<String>,
    /// Field crews.
    #[graphql(default = 1)]
    pub crews: u32,
    /// Dispatch phone.
    pub phone: Option<String>,
}

/// A category, as an admin enters it.
#[derive(Clone, Debug, InputObject)]
pub struct CategoryInput {
    /// Its code.
    pub code: ID,
    /// Group name.
    pub group: String,
    /// Russian name.
    pub name_ru: String,
    /// English name.
    pub name_en: String,
    /// The regulated class.
    pub deadline_class: DeadlineClass,
    /// The operator's script in Russian.
    pub script_ru: String,
    /// The operator's script in English.
    pub script_en: String,
    /// Citizens' own words for it (RU/EN), which the operator's search matches.
    #[graphql(default)]
    pub keywords: Vec<String>,
}

/// A freshly issued token.
#[derive(Clone, Debug, async_graphql::SimpleObject)]
pub struct IssuedToken {
    /// The bearer token.
    pub token: String,
    /// Its id, for revocation.
    pub jti: String,
    /// When it expires.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What a correction changes on a card; what is left out stays.
#[derive(InputObject)]
pub struct CorrectionInput {
    /// The right category.
    pub category_code: Option<ID>,
    /// The right building.
    pub address_id: Option<ID>,
    /// The right description.
    pub description: Option<String>,
}

fn parse_code(id: &str) -> Result<Code> {
    Code::parse(id).map_err(|e| validation(e.to_string()))
}

/// A caller as typed: the name trimmed, the phone read in the city's numbering plan.
fn applicant_of(ctx: &Context<'_>, input: ApplicantInput) -> Result<Applicant> {
    let phone = input
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Phone::parse_in(p, &app(ctx).numbering))
        .transpose()
        .gql()?;
    Ok(Applicant {
        name: input.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        phone,
        callback_consent: input.callback_consent,
    })
}

/// Runs a command on a request the caller may see, durably, then publishes.
async fn transition(
    ctx: &Context<'_>,
    id: ID,
    command: Command,
    expected_version: Option<u64>,
) -> Result<RequestNode> {
    let before = load_visible(ctx, &id).await?;
    let actor = principal(ctx)?.actor();
    let a = app(ctx);
    let kontakt = a.kontakt.clone();
    let id = before.id;
    let outcome = blocking(move || kontakt.execute_at(id, command, &actor, expected_version)).await;
    a.metrics.operation("mutation", outcome.is_ok());
    let outcome = outcome?;
    a.bus.publish(&outcome.events, outcome.before.as_ref(), &outcome.request);
    Ok(RequestNode::new(outcome.request))
}

/// The mutation root.
#[derive(Default)]
pub struct Mutation;

#[Object(name = "CoreMutation")]
impl Mutation {
    /// Registers a card: number, class, deadline and dispatch, durably.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn register_request(&self, ctx: &Context<'_>, input: RegisterRequestInput) -> Result<RequestNode> {
        let address = match (input.address_id, input.lat, input.lon, input.free_address) {
            (Some(id), None, None, None) => AddressPoint::Id(id.to_string()),
            (None, Some(lat), Some(lon), None) => AddressPoint::Point { lat, lon },
            (None, None, None, Some(f)) => AddressPoint::Unconfirmed {
                text: f.text,
                district: f.district,
                point: match (f.lat, f.lon) {
                    (Some(lat), Some(lon)) => Some((lat, lon)),
                    (None, None) => None,
                    _ => return Err(validation("a point needs both lat and lon")),
                },
            },
            _ => return Err(validation("give one of addressId, lat and lon, or freeAddress")),
        };
        let applicant = applicant_of(ctx, input.applicant.unwrap_or_default())?;
        let new = NewRequest {
            category: parse_code(&input.category_code)?,
            address,
            description: input.description,
            channel: input.channel.into(),
            applicant,
            raise_reason: input.raise_to_emergency.filter(|r| !r.trim().is_empty()),
            incident: input.incident_id.map(|i| i.to_string()),
        };
        let actor = principal(ctx)?.actor();
        let a = app(ctx);
        let kontakt = a.kontakt.clone();
        let key = input.idempotency_key.filter(|k| !k.trim().is_empty());
        let outcome = blocking(move || match key {
            Some(key) => kontakt.register_once(new, &actor, &key),
            None => kontakt.register(new, &actor),
        })
        .await;
        a.metrics.operation("mutation", outcome.is_ok());
        let outcome = outcome?;
        a.bus.publish(&outcome.events, None, &outcome.request);
        Ok(RequestNode::new(outcome.request))
    }

    /// The organization takes the request.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn accept_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        transition(ctx, id, Command::Accept, expected_version).await
    }

    /// The organization reports the work done. `resolution` is public: it is
    /// read to the applicant and shown on Open311 without a key, so it names no
    /// one; `note` is internal, for staff only.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn resolve_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        resolution: String,
        note: Option<String>,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        transition(ctx, id, Command::Resolve { resolution, note }, expected_version).await
    }

    /// The organization returns a misrouted request to the unrouted queue.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn reject_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        transition(ctx, id, Command::Reject { reason }, expected_version).await
    }

    /// Sends the request to another organization (operators: only from the unrouted queue).
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn reassign_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        organization_id: ID,
        reason: String,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        let organization = parse_code(&organization_id)?;
        if app(ctx).kontakt.organization(organization.as_str()).gql()?.is_none() {
            return Err(validation(format!("unknown organization {organization}")));
        }
        transition(ctx, id, Command::Reassign { organization, reason }, expected_version).await
    }

    /// Raises the request to EMERGENCY (6 h from registration).
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn raise_to_emergency(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        transition(ctx, id, Command::RaiseToEmergency { reason }, expected_version).await
    }

    /// Withdraws an open request.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn cancel_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        transition(ctx, id, Command::Cancel { reason }, expected_version).await
    }

    /// Sends a resolved or closed request back to its organization.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn reopen_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        transition(ctx, id, Command::Reopen { reason }, expected_version).await
    }

    /// Closes a resolved request.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn close_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: Option<String>,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        transition(ctx, id, Command::Close { note }, expected_version).await
    }

    /// Adds a note to a request ("the caller called again, it is worse"), in
    /// any status: the Contact Center, and the organization that holds it.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn add_note(
        &self,
        ctx: &Context<'_>,
        id: ID,
        note: String,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        transition(ctx, id, Command::AddNote { note }, expected_version).await
    }

    /// Attaches another caller with the same problem to an open request (no
    /// duplicate card): they are listed with the request, found by their
    /// phone, and called back with the result like the first applicant.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn add_applicant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        applicant: ApplicantInput,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        let applicant = applicant_of(ctx, applicant)?;
        transition(ctx, id, Command::AddApplicant { applicant }, expected_version).await
    }

    /// Corrects a card's category, building or description, with a reason
    /// (recorded as an event; the original values stay in the history). A
    /// category of a tighter class moves the deadline closer at once; a looser
    /// one needs a supervisor. The card is routed again only while no
    /// organization has accepted it.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn correct_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CorrectionInput,
        reason: String,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        let before = load_visible(ctx, &id).await?;
        let fix = kontakt_workflow::service::CorrectionInput {
            category: input.category_code.map(|c| parse_code(&c)).transpose()?,
            address: input.address_id.map(|a| AddressPoint::Id(a.to_string())),
            description: input.description,
            reason,
        };
        let (a, actor) = (app(ctx), principal(ctx)?.actor());
        let kontakt = a.kontakt.clone();
        let outcome = blocking(move || kontakt.correct(before.id, fix, &actor, expected_version)).await;
        a.metrics.operation("mutation", outcome.is_ok());
        let outcome = outcome?;
        a.bus.publish(&outcome.events, outcome.before.as_ref(), &outcome.request);
        Ok(RequestNode::new(outcome.request))
    }

    /// Unlinks an open request from its incident; it stays with its organization.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn unlink_from_incident(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        expected_version: Option<u64>,
    ) -> Result<RequestNode> {
        transition(ctx, id, Command::UnlinkIncident { reason }, expected_version).await
    }

    /// Issues a token (ADMIN). The default lifetime comes from the settings.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn issue_token(
        &self,
        ctx: &Context<'_>,
        role: GqlRole,
        organization_id: Option<ID>,
        ttl: Option<IsoDuration>,
        subject: Option<String>,
        #[graphql(
            desc = "An operator's telephone extension: incoming calls there open this operator's caller panel"
        )]
        extension: Option<String>,
    ) -> Result<IssuedToken> {
        let a = app(ctx);
        let ttl =
            ttl.map_or(chrono::Duration::hours(a.auth.settings().default_ttl_hours), IsoDuration::to_chrono);
        let role: Role = role.into();
        let subject =
            subject.unwrap_or_else(|| format!("{}-{}", role.as_str().to_lowercase(), ulid::Ulid::generate()));
        let (auth, now, issuer) = (a.auth.clone(), a.kontakt.now(), principal(ctx)?.actor());
        let (token, claims) = blocking(move || {
            let org = organization_id.as_ref().map(|o| o.as_str());
            auth.issue_with(&subject, role, org, extension.as_deref(), ttl, now, &issuer)
        })
        .await?;
        let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
        Ok(IssuedToken { token, jti: claims.jti, expires_at })
    }

    /// Revokes a token by its id (ADMIN); true when it was not revoked before.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn revoke_token(&self, ctx: &Context<'_>, jti: ID) -> Result<bool> {
        let (auth, actor) = (app(ctx).auth.clone(), principal(ctx)?.actor());
        blocking(move || auth.revoke(&jti, &actor)).await
    }

    /// Erases one applicant's name and phone from every request that holds
    /// `phone` (their records, histories and callbacks), as personal-data law
    /// lets a person ask (ADMIN). The requests, their histories and every figure
    /// stay; each gets an APPLICANT_ERASED event with `reason`. Answers how many
    /// requests were erased.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn erase_applicant(&self, ctx: &Context<'_>, phone: String, reason: String) -> Result<u32> {
        let a = app(ctx);
        let phone = Phone::parse_in(&phone, &a.numbering).gql()?;
        let (k, actor) = (a.kontakt.clone(), principal(ctx)?.actor());
        let erased = blocking(move || k.erase_applicant_by_phone(&phone, &reason, &actor)).await?;
        for o in &erased {
            a.bus.publish(&o.events, o.before.as_ref(), &o.request);
        }
        Ok(u32::try_from(erased.len()).unwrap_or(u32::MAX))
    }

    /// Adds or replaces an organization (ADMIN).
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn upsert_organization(&self, ctx: &Context<'_>, input: OrganizationInput) -> Result<Organization> {
        let org = model::Organization {
            id: parse_code(&input.id)?,
            name_ru: non_empty("nameRu", input.name_ru)?,
            name_en: non_empty("nameEn", input.name_en)?,
            kind: input.kind.into(),
            subordination: input.subordination.into(),
            district: input.district.filter(|d| !d.trim().is_empty()),
            crews: input.crews,
            phone: input.phone.filter(|p| !p.trim().is_empty()),
        };
        let (kontakt, actor) = (app(ctx).kontakt.clone(), principal(ctx)?.actor());
        let saved = org.clone();
        blocking(move || kontakt.put_organization(&saved, &actor)).await?;
        Ok(Organization(org))
    }

    /// Sets how an organization (by its code) or `administration` is told of
    /// its requests' dispatch, reassignment, reopening, raising, warning and
    /// overdue (ADMIN; recorded with who set it).
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn set_delivery(&self, ctx: &Context<'_>, recipient: ID, input: DeliveryInput) -> Result<bool> {
        let kept = input.webhook_secret.is_none();
        let mut d = kontakt_workflow::delivery::Delivery {
            webhook_url: input.webhook_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()),
            webhook_secret: input.webhook_secret.filter(|s| !s.is_empty()),
            emails: input
                .emails
                .into_iter()
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect(),
            language: input.language,
            digest_minutes: input.digest_minutes,
        };
        let (kontakt, actor) = (app(ctx).kontakt.clone(), principal(ctx)?.actor());
        blocking(move || {
            // Left out, the secret stays as stored while the webhook does: the
            // page never sees it, so it cannot send it back.
            if kept && d.webhook_url.is_some() {
                d.webhook_secret = kontakt.delivery(&recipient)?.and_then(|old| old.webhook_secret);
            }
            kontakt.set_delivery(&recipient, &d, &actor)
        })
        .await?;
        Ok(true)
    }

    /// Adds a building to the address registry while the server runs
    /// (ADMIN); recorded with who added it. A code already taken is refused.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn add_building(&self, ctx: &Context<'_>, input: BuildingInput) -> Result<super::types::Address> {
        let id = match input.id {
            Some(id) => parse_code(&id)?,
            None => parse_code(&format!("b-{}", ulid::Ulid::generate().to_string().to_lowercase()))?,
        };
        let address = model::Address {
            id,
            street: input.street.trim().to_string(),
            house: input.house.trim().to_string(),
            district: input.district.trim().to_string(),
            lat: input.lat,
            lon: input.lon,
        };
        let (kontakt, actor) = (app(ctx).kontakt.clone(), principal(ctx)?.actor());
        let saved = address.clone();
        blocking(move || kontakt.add_building(&saved, &actor)).await?;
        Ok(super::types::Address { inner: address })
    }

    /// Adds or replaces a category (ADMIN).
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn upsert_category(&self, ctx: &Context<'_>, input: CategoryInput) -> Result<Category> {
        let category = model::Category {
            code: parse_code(&input.code)?,
            group: non_empty("group", input.group)?,
            name_ru: non_empty("nameRu", input.name_ru)?,
            name_en: non_empty("nameEn", input.name_en)?,
            deadline_class: input.deadline_class.into(),
            script_ru: non_empty("scriptRu", input.script_ru)?,
            script_en: non_empty("scriptEn", input.script_en)?,
            keywords: kontakt_workflow::reference::keywords(input.keywords.iter().map(String::as_str)),
        };
        let (kontakt, actor) = (app(ctx).kontakt.clone(), principal(ctx)?.actor());
        let saved = category.clone();
        blocking(move || kontakt.put_category(&saved, &actor)).await?;
        Ok(Category(category))
    }

    /// Routes a category (in a district, or city-wide) to an organization (ADMIN).
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn set_routing_rule(
        &self,
        ctx: &Context<'_>,
        category_code: ID,
        district: Option<String>,
        organization_id: ID,
    ) -> Result<bool> {
        let rule = model::RoutingRule {
            category: parse_code(&category_code)?,
            district: district.filter(|d| !d.trim().is_empty()),
            organization: parse_code(&organization_id)?,
        };
        let (kontakt, actor) = (app(ctx).kontakt.clone(), principal(ctx)?.actor());
        blocking(move || kontakt.put_rule(&rule, &actor)).await?;
        Ok(true)
    }

    /// Removes a routing rule (ADMIN); true when one existed.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn delete_routing_rule(
        &self,
        ctx: &Context<'_>,
        category_code: ID,
        district: Option<String>,
    ) -> Result<bool> {
        let (kontakt, actor) = (app(ctx).kontakt.clone(), principal(ctx)?.actor());
        blocking(move || kontakt.delete_rule(&category_code, district.as_deref(), &actor)).await
    }
}

fn non_empty(field: &str, v: String) -> Result<String> {
    let v = v.trim().to_string();
    if v.is_empty() { Err(validation(format!("{field} must not be empty"))) } else { Ok(v) }
}
