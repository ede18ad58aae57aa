//! Appeals to regional organizations: the letter the city administration
//! sends to an organization of regional subordination that fell below the
//! regulated target, citing its figures and every request it let run late.
//!
//! A pure machine like requests and tokens: `decide(state, command, actor,
//! now)` returns the events or refuses, `apply` folds one in; the service
//! writes the folded record with its events in one atomic write. The figures
//! and the list of late requests are frozen when the appeal is drafted: the
//! letter cites what was true then, whatever happens to the requests later.

use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::analytics::{Outcome, Performance};
use crate::lifecycle::Request;
use crate::model::{Actor, CategoryCode, OrgId, RequestNumber, RequestStatus, Role, Subordination};

/// Characters a subject may have.
pub const SUBJECT_CHARS: RangeInclusive<usize> = 3..=300;
/// Characters a body may have.
pub const BODY_CHARS: RangeInclusive<usize> = 20..=20_000;
/// Characters an outgoing letter number may have.
pub const OUTGOING_NUMBER_CHARS: RangeInclusive<usize> = 1..=50;
/// Characters a withdrawal reason may have.
pub const REASON_CHARS: RangeInclusive<usize> = 10..=2000;

/// Who may draft, edit, send and withdraw appeals.
const ACTORS: &[Role] = &[Role::Supervisor, Role::Admin];

/// Where an appeal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppealStatus {
    /// Being written; only a draft may be edited.
    Draft,
    /// Sent under an outgoing number.
    Sent,
    /// Withdrawn with a reason; nothing more happens to it.
    Withdrawn,
}

impl AppealStatus {
    /// The upper-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AppealStatus::Draft => "DRAFT",
            AppealStatus::Sent => "SENT",
            AppealStatus::Withdrawn => "WITHDRAWN",
        }
    }
}

/// The figures an appeal cites, as they stood when it was drafted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Resolved within the deadline.
    pub on_time: u32,
    /// Resolved after it.
    pub late: u32,
    /// Still open past it at the end of the period.
    pub open_overdue: u32,
    /// on time ÷ (resolved + open overdue).
    pub compliance: f64,
    /// The regulated share the organization fell below.
    pub target: f64,
}

/// One request of the attachment: resolved late, or still open past its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateRequestLine {
    /// Its number.
    pub number: RequestNumber,
    /// Its category.
    pub category: CategoryCode,
    /// Its deadline.
    pub deadline: DateTime<Utc>,
    /// When it was resolved; `None` while open.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Its status when the appeal was drafted.
    pub status: RequestStatus,
}

/// An appeal, as folded from its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Appeal {
    /// A ULID, so ids sort by drafting time.
    pub id: String,
    /// The organization appealed about.
    pub organization: OrgId,
    /// Start of the period judged.
    pub period_from: DateTime<Utc>,
    /// End of the period judged (exclusive).
    pub period_to: DateTime<Utc>,
    /// The figures cited.
    pub figures: Figures,
    /// The attachment: every request behind the late and open-overdue figures.
    pub late_requests: Vec<LateRequestLine>,
    /// The letter's subject.
    pub subject: String,
    /// The letter's text; paragraphs are separated by line breaks.
    pub body: String,
    /// Where it stands.
    pub status: AppealStatus,
    /// When it was drafted.
    pub created_at: DateTime<Utc>,
    /// Who drafted it.
    pub created_by: String,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Who recorded the sending.
    pub sent_by: Option<String>,
    /// The outgoing letter's number.
    pub outgoing_number: Option<String>,
    /// When it was withdrawn.
    #[serde(default)]
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Who withdrew it.
    #[serde(default)]
    pub withdrawn_by: Option<String>,
    /// Why it was withdrawn.
    #[serde(default)]
    pub withdrawal_reason: Option<String>,
    /// The stored record's version (filled in on load; not part of the fold).
    #[serde(skip)]
    pub version: u64,
}

/// What may be done to an appeal.
#[derive(Debug, Clone, PartialEq)]
pub enum AppealCommand {
    /// Draft an appeal from an organization's performance over a period.
    Draft(Box<Draft>),
    /// Rewrite a draft's subject and text.
    Edit {
        /// The new subject.
        subject: String,
        /// The new text.
        body: String,
    },
    /// Record that the letter went out under an outgoing number.
    MarkSent {
        /// The outgoing letter's number.
        outgoing_number: String,
    },
    /// Withdraw the appeal.
    Withdraw {
        /// Why.
        reason: String,
    },
}

/// What a draft is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The new appeal's id.
    pub id: String,
    /// The organization's performance over the period, from [`crate::analytics::performance`].
    pub performance: Performance,
    /// Start of the period.
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// The target it is judged against.
    pub target: f64,
    /// The requests behind the late figures, from [`late_requests`].
    pub late_requests: Vec<LateRequestLine>,
}

/// What happened to an appeal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppealEventKind {
    /// Drafted.
    Drafted {
        /// Its initial state.
        appeal: Box<Appeal>,
    },
    /// Its subject and text were rewritten.
    Edited {
        /// The new subject.
        subject: String,
        /// The new text.
        body: String,
    },
    /// Sent.
    Sent {
        /// The outgoing letter's number.
        outgoing_number: String,
    },
    /// Withdrawn.
    Withdrawn {
        /// Why.
        reason: String,
    },
}

/// One entry of an appeal's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppealEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// What.
    pub kind: AppealEventKind,
}

impl AppealEvent {
    /// `DRAFTED`, `EDITED`, `SENT` or `WITHDRAWN`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            AppealEventKind::Drafted { .. } => "DRAFTED",
            AppealEventKind::Edited { .. } => "EDITED",
            AppealEventKind::Sent { .. } => "SENT",
            AppealEventKind::Withdrawn { .. } => "WITHDRAWN",
        }
    }

    /// The outgoing number or the reason, where the event has one.
    pub fn note(&self) -> Option<String> {
        match &self.kind {
            AppealEventKind::Sent { outgoing_number } => Some(outgoing_number.clone()),
            AppealEventKind::Withdrawn { reason } => Some(reason.clone()),
            AppealEventKind::Drafted { .. } | AppealEventKind::Edited { .. } => None,
        }
    }
}

/// The requests behind an organization's late and open-overdue figures over
/// `[from, to)`, by deadline: judged by [`crate::analytics::judged`], the rule
/// the figures are counted by, so the attachment lists as many requests as
/// the figures count.
pub fn late_requests(
    organization: &OrgId,
    requests: &[Request],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<LateRequestLine> {
    let mut lines: Vec<LateRequestLine> = crate::analytics::judged(organization, requests, from, to)
        .into_iter()
        .filter(|(_, outcome)| matches!(outcome, Outcome::Late | Outcome::OpenOverdue))
        .map(|(r, _)| LateRequestLine {
            number: r.number,
            category: r.category.clone(),
            deadline: r.deadline,
            resolved_at: r.resolved_at,
            status: r.status,
        })
        .collect();
    lines.sort_by(|a, b| a.deadline.cmp(&b.deadline).then_with(|| a.number.cmp(&b.number)));
    lines
}

/// Checks `command` against the appeal's state and returns the events it causes.
pub fn decide(
    state: Option<&Appeal>,
    command: &AppealCommand,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<AppealEvent>, DomainError> {
    if !actor.has_role(ACTORS) {
        return Err(DomainError::Forbidden("only a supervisor or an administrator handles appeals".into()));
    }
    let kind = match (state, command) {
        (None, AppealCommand::Draft(d)) => draft(d, actor, now)?,
        (Some(a), AppealCommand::Draft(_)) => {
            return Err(DomainError::Validation(format!("appeal {} exists already", a.id)));
        }
        (None, _) => return Err(DomainError::NotFound("no such appeal".into())),
        (Some(a), AppealCommand::Edit { subject, body }) => edit(a, subject, body)?,
        (Some(a), AppealCommand::MarkSent { outgoing_number }) => mark_sent(a, outgoing_number)?,
        (Some(a), AppealCommand::Withdraw { reason }) => withdraw(a, reason)?,
    };
    Ok(vec![AppealEvent { at: now, actor: actor.clone(), kind }])
}

/// Folds one event into the state. A change to an appeal never drafted has
/// nothing to fold into and leaves none.
pub fn apply(state: Option<Appeal>, event: &AppealEvent) -> Option<Appeal> {
    let mut a = match (&event.kind, state) {
        (AppealEventKind::Drafted { appeal }, _) => return Some((**appeal).clone()),
        (_, None) => return None,
        (_, Some(a)) => a,
    };
    match &event.kind {
        AppealEventKind::Drafted { .. } => {}
        AppealEventKind::Edited { subject, body } => {
            a.subject.clone_from(subject);
            a.body.clone_from(body);
        }
        AppealEventKind::Sent { outgoing_number } => {
            a.status = AppealStatus::Sent;
            a.sent_at = Some(event.at);
            a.sent_by = Some(event.actor.subject.clone());
            a.outgoing_number = Some(outgoing_number.clone());
        }
        AppealEventKind::Withdrawn { reason } => {
            a.status = AppealStatus::Withdrawn;
            a.withdrawn_at = Some(event.at);
            a.withdrawn_by = Some(event.actor.subject.clone());
            a.withdrawal_reason = Some(reason.clone());
        }
    }
    Some(a)
}

/// Only a regional organization below target is appealed about, and only
/// with figures to cite.
fn draft(d: &Draft, actor: &Actor, now: DateTime<Utc>) -> Result<AppealEventKind, DomainError> {
    let p = &d.performance;
    let org = &p.organization;
    if !(d.target > 0.0 && d.target <= 1.0) {
        return Err(DomainError::Validation("the target is a share above 0 and at most 1".into()));
    }
    if d.to <= d.from {
        return Err(DomainError::Validation("the period ends before it starts".into()));
    }
    if org.subordination != Subordination::Regional {
        return Err(DomainError::Validation(format!(
            "{} is a city organization: appeals go to regional organizations only",
            org.id
        )));
    }
    let Some(compliance) = p.total.compliance() else {
        return Err(DomainError::Validation(format!(
            "no request of {} fell due in the period: there is nothing to appeal about",
            org.id
        )));
    };
    if compliance >= d.target {
        return Err(DomainError::Validation(format!(
            "{} met the target: {:.1} % on time against {:.0} %",
            org.id,
            compliance * 100.0,
            d.target * 100.0
        )));
    }
    let subject = format!("О соблюдении регламентных сроков: {}", org.name_ru);
    // The analysis's draft opens with its addressee and subject, which the
    // letter sets in its heading; the rest is the letter's text.
    let drafted = p.appeal.clone().unwrap_or_default();
    let body = match drafted.split_once('\n') {
        Some((_, rest)) if !rest.trim().is_empty() => rest.trim().to_string(),
        _ => drafted.trim().to_string(),
    };
    Ok(AppealEventKind::Drafted {
        appeal: Box::new(Appeal {
            id: d.id.clone(),
            organization: org.id.clone(),
            period_from: d.from,
            period_to: d.to,
            figures: Figures {
                on_time: p.total.on_time,
                late: p.total.late,
                open_overdue: p.total.open_overdue,
                compliance,
                target: d.target,
            },
            late_requests: d.late_requests.clone(),
            subject: text("the subject", &subject, SUBJECT_CHARS)?,
            body: text("the text", &body, BODY_CHARS)?,
            status: AppealStatus::Draft,
            created_at: now,
            created_by: actor.subject.clone(),
            sent_at: None,
            sent_by: None,
            outgoing_number: None,
            withdrawn_at: None,
            withdrawn_by: None,
            withdrawal_reason: None,
            version: 0,
        }),
    })
}

/// A draft's words may change until it is sent.
fn edit(a: &Appeal, subject: &str, body: &str) -> Result<AppealEventKind, DomainError> {
    require_status(a, &[AppealStatus::Draft], "edited")?;
    let subject = text("the subject", subject, SUBJECT_CHARS)?;
    if subject.contains(['\n', '\r']) {
        return Err(DomainError::Validation("the subject is one line".into()));
    }
    Ok(AppealEventKind::Edited { subject, body: text("the text", body, BODY_CHARS)? })
}

/// A draft is sent once, under the number the letter went out with.
fn mark_sent(a: &Appeal, outgoing_number: &str) -> Result<AppealEventKind, DomainError> {
    require_status(a, &[AppealStatus::Draft], "sent")?;
    let outgoing_number = text("the outgoing number", outgoing_number, OUTGOING_NUMBER_CHARS)?;
    if outgoing_number.chars().any(char::is_control) {
        return Err(DomainError::Validation("the outgoing number is one line".into()));
    }
    Ok(AppealEventKind::Sent { outgoing_number })
}

/// A draft or a sent letter may be withdrawn, with a reason on the record.
fn withdraw(a: &Appeal, reason: &str) -> Result<AppealEventKind, DomainError> {
    require_status(a, &[AppealStatus::Draft, AppealStatus::Sent], "withdrawn")?;
    Ok(AppealEventKind::Withdrawn { reason: text("the reason", reason, REASON_CHARS)? })
}

fn require_status(a: &Appeal, allowed: &[AppealStatus], what: &str) -> Result<(), DomainError> {
    if allowed.contains(&a.status) {
        Ok(())
    } else {
        Err(DomainError::Validation(format!(
            "appeal {} is {} and may not be {what}",
            a.id,
            a.status.as_str()
        )))
    }
}

/// The trimmed text, refused when its length in characters is outside `chars`.
fn text(field: &str, value: &str, chars: RangeInclusive<usize>) -> Result<String, DomainError> {
    let v = value.trim();
    let n = v.chars().count();
    if chars.contains(&n) {
        Ok(v.to_string())
    } else {
        Err(DomainError::Validation(format!(
            "{field} must be {} to {} characters long (it is {n})",
            chars.start(),
            chars.end()
        )))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::analytics::{self, Tally};
    use crate::lifecycle::{self, Applicant, Command, Registration};
    use crate::model::{
        Address, Category, Channel, Code, DeadlineClass, Organization, OrganizationKind, RequestId,
    };

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap()
    }

    fn supervisor() -> Actor {
        Actor::person("sup", Role::Supervisor, None)
    }

    fn organization(subordination: Subordination) -> Organization {
        Organization {
            id: Code::parse("res").unwrap(),
            name_ru: "Горловский РЭС".into(),
            name_en: "Gorlovka RES".into(),
            kind: OrganizationKind::ElectricGrid,
            subordination,
            district: None,
            crews: 3,
            phone: None,
        }
    }

    fn performance(subordination: Subordination, total: Tally) -> Performance {
        Performance {
            organization: organization(subordination),
            total,
            weeks: vec![],
            by_class: vec![],
            by_category: vec![],
            worst_categories: vec![],
            repeat_addresses: vec![],
            appeal: Some(
                "В областную администрацию. О соблюдении регламентных сроков: Горловский РЭС.\n\
                 За период с 02.11.2026 по 08.11.2026 в срок исполнено 1, с нарушением срока — 3."
                    .into(),
            ),
        }
    }

    fn draft_of(p: Performance) -> AppealCommand {
        AppealCommand::Draft(Box::new(Draft {
            id: "01APPEAL".into(),
            performance: p,
            from: t0(),
            to: t0() + Duration::days(7),
            target: 0.9,
            late_requests: vec![],
        }))
    }

    fn lagging() -> Tally {
        Tally { on_time: 1, late: 2, open_overdue: 1 }
    }

    /// Runs commands in order, a minute apart; panics on refusal.
    fn run(commands: &[AppealCommand]) -> Appeal {
        let mut state: Option<Appeal> = None;
        let mut events = Vec::new();
        for (i, c) in commands.iter().enumerate() {
            let at = t0() + Duration::days(8) + Duration::minutes(i as i64);
            let new = decide(state.as_ref(), c, &supervisor(), at).unwrap_or_else(|e| panic!("{c:?}: {e}"));
            state = new.iter().fold(state, apply);
            events.extend(new);
        }
        assert_eq!(events.iter().fold(None, apply), state, "state is the fold of the events");
        state.unwrap()
    }

    fn edit(subject: &str, body: &str) -> AppealCommand {
        AppealCommand::Edit { subject: subject.into(), body: body.into() }
    }

    fn sent(n: &str) -> AppealCommand {
        AppealCommand::MarkSent { outgoing_number: n.into() }
    }

    fn withdraw(reason: &str) -> AppealCommand {
        AppealCommand::Withdraw { reason: reason.into() }
    }

    const BODY: &str = "Просим принять меры к соблюдению регламентных сроков.";

    #[test]
    fn a_regional_organization_below_target_gets_a_draft_citing_its_figures() {
        let a = run(&[draft_of(performance(Subordination::Regional, lagging()))]);
        assert_eq!(a.status, AppealStatus::Draft);
        assert_eq!((a.figures.on_time, a.figures.late, a.figures.open_overdue), (1, 2, 1));
        assert_eq!((a.figures.compliance, a.figures.target), (0.25, 0.9));
        assert_eq!(a.subject, "О соблюдении регламентных сроков: Горловский РЭС");
        assert!(a.body.starts_with("За период с 02.11.2026"), "the heading line is not the text: {}", a.body);
        assert_eq!((a.created_by.as_str(), a.created_at), ("sup", t0() + Duration::days(8)));
    }

    #[test]
    fn a_city_organization_one_at_target_or_one_with_nothing_due_is_not_appealed_about() {
        let refused =
            |p: Performance| decide(None, &draft_of(p), &supervisor(), t0()).unwrap_err().to_string();
        assert!(refused(performance(Subordination::City, lagging())).contains("city organization"));
        let at_target = Tally { on_time: 9, late: 1, open_overdue: 0 };
        assert!(refused(performance(Subordination::Regional, at_target)).contains("met the target"));
        assert!(
            refused(performance(Subordination::Regional, Tally::default())).contains("nothing to appeal")
        );
    }

    #[test]
    fn a_draft_is_edited_while_it_is_a_draft_and_not_after_it_is_sent() {
        let a =
            run(&[draft_of(performance(Subordination::Regional, lagging())), edit("  Тема письма ", BODY)]);
        assert_eq!((a.subject.as_str(), a.body.as_str()), ("Тема письма", BODY));
        let a = run(&[draft_of(performance(Subordination::Regional, lagging())), sent("01-15/123")]);
        let e = decide(Some(&a), &edit("Тема письма", BODY), &supervisor(), t0()).unwrap_err();
        assert!(matches!(e, DomainError::Validation(_)) && e.to_string().contains("SENT"), "{e}");
    }

    #[test]
    fn texts_outside_their_limits_are_refused() {
        let a = run(&[draft_of(performance(Subordination::Regional, lagging()))]);
        let refused = |c: AppealCommand| {
            matches!(decide(Some(&a), &c, &supervisor(), t0()), Err(DomainError::Validation(_)))
        };
        assert!(refused(edit("Те", BODY)), "subject under 3");
        assert!(refused(edit(&"т".repeat(301), BODY)), "subject over 300");
        assert!(refused(edit("Тема\nписьма", BODY)), "subject on two lines");
        assert!(refused(edit("Тема", "Слишком коротко")), "body under 20");
        assert!(refused(edit("Тема", &"т".repeat(20_001))), "body over 20000");
        assert!(!refused(edit(&"т".repeat(300), &"т".repeat(20_000))), "the limits themselves pass");
        assert!(refused(sent("   ")), "outgoing number empty");
        assert!(refused(sent(&"1".repeat(51))), "outgoing number over 50");
        assert!(refused(withdraw("ошибка")), "reason under 10");
    }

    #[test]
    fn sending_records_the_number_who_and_when_and_happens_once() {
        let a = run(&[draft_of(performance(Subordination::Regional, lagging())), sent(" 01-15/123 ")]);
        assert_eq!(a.status, AppealStatus::Sent);
        assert_eq!(a.outgoing_number.as_deref(), Some("01-15/123"));
        assert_eq!(a.sent_by.as_deref(), Some("sup"));
        assert_eq!(a.sent_at, Some(t0() + Duration::days(8) + Duration::minutes(1)));
        assert!(decide(Some(&a), &sent("01-15/124"), &supervisor(), t0()).is_err(), "sent once");
    }

    #[test]
    fn a_draft_or_a_sent_appeal_is_withdrawn_with_a_reason_and_then_nothing_more_happens() {
        let reason = "данные пересчитаны после проверки";
        for before in [vec![], vec![sent("01-15/123")]] {
            let mut commands = vec![draft_of(performance(Subordination::Regional, lagging()))];
            commands.extend(before);
            commands.push(withdraw(reason));
            let a = run(&commands);
            assert_eq!(a.status, AppealStatus::Withdrawn);
            assert_eq!(
                (a.withdrawal_reason.as_deref(), a.withdrawn_by.as_deref()),
                (Some(reason), Some("sup"))
            );
            for c in [edit("Тема", BODY), sent("1"), withdraw(reason)] {
                assert!(decide(Some(&a), &c, &supervisor(), t0()).is_err(), "{c:?} after withdrawal");
            }
        }
    }

    #[test]
    fn only_supervisors_and_administrators_act_on_appeals() {
        let draft = draft_of(performance(Subordination::Regional, lagging()));
        let a = run(std::slice::from_ref(&draft));
        let outsiders = [
            Actor::person("op", Role::Operator, None),
            Actor::person("crew", Role::Contractor, Some(Code::parse("res").unwrap())),
            Actor::system(),
        ];
        for who in &outsiders {
            assert!(matches!(decide(None, &draft, who, t0()), Err(DomainError::Forbidden(_))));
            for c in [edit("Тема", BODY), sent("1"), withdraw("достаточная причина")] {
                assert!(matches!(decide(Some(&a), &c, who, t0()), Err(DomainError::Forbidden(_))), "{c:?}");
            }
        }
        let admin = Actor::person("admin", Role::Admin, None);
        assert!(decide(Some(&a), &sent("1"), &admin, t0()).is_ok());
    }

    #[test]
    fn an_appeal_is_drafted_once_and_changes_need_one() {
        let draft = draft_of(performance(Subordination::Regional, lagging()));
        let a = run(std::slice::from_ref(&draft));
        assert!(matches!(decide(Some(&a), &draft, &supervisor(), t0()), Err(DomainError::Validation(_))));
        assert!(matches!(decide(None, &sent("1"), &supervisor(), t0()), Err(DomainError::NotFound(_))));
    }

    fn request(seq: u32, registered: DateTime<Utc>, resolved_after: Option<Duration>) -> Request {
        let reg = Registration {
            id: RequestId::generate(registered),
            number: RequestNumber { year: 2026, seq },
            category: Category {
                code: Code::parse("power-outage").unwrap(),
                group: "Электроснабжение".into(),
                name_ru: "Нет света".into(),
                name_en: "No power".into(),
                deadline_class: DeadlineClass::Emergency,
                script_ru: String::new(),
                script_en: String::new(),
                keywords: vec![],
            },
            address: Address {
                id: Code::parse("a1").unwrap(),
                street: "ул. Пушкинская".into(),
                house: "12".into(),
                district: "Центрально-Городской".into(),
                lat: 48.3,
                lon: 38.05,
            },
            description: "Нет света в доме".into(),
            channel: Channel::Phone,
            applicant: Applicant::default(),
            route: Some(Code::parse("res").unwrap()),
            raise_reason: None,
            incident: None,
        };
        let op = Actor::person("op", Role::Operator, None);
        let events = lifecycle::decide(None, &Command::Register(Box::new(reg)), &op, registered).unwrap();
        let mut r = lifecycle::fold(&events).unwrap();
        if let Some(after) = resolved_after {
            let crew = Actor::person("crew", Role::Contractor, Some(Code::parse("res").unwrap()));
            let resolve = Command::Resolve { resolution: "готово".into(), note: None };
            let events = lifecycle::decide(Some(&r), &resolve, &crew, registered + after).unwrap();
            r = events.iter().fold(Some(r), lifecycle::apply).unwrap();
        }
        r
    }

    #[test]
    fn the_attachment_lists_exactly_the_requests_the_late_figures_count() {
        let (from, to) = (t0(), t0() + Duration::days(2));
        let h = Duration::hours;
        let requests = vec![
            request(1, t0(), Some(h(2))),          // on time
            request(2, t0() + h(1), Some(h(9))),   // late
            request(3, t0() + h(2), None),         // open past its deadline
            request(4, t0() + h(40), Some(h(12))), // resolved after the period: open at its end
            request(5, t0() - h(12), Some(h(20))), // deadline before the period
            request(6, t0() + h(47), None),        // deadline after the period
        ];
        let org = organization(Subordination::Regional);
        let p = analytics::performance(
            std::slice::from_ref(&org),
            &[],
            &requests,
            from,
            to,
            crate::service::moscow(),
            0.9,
        );
        let lines = late_requests(&org.id, &requests, from, to);
        let numbers: Vec<u32> = lines.iter().map(|l| l.number.seq).collect();
        assert_eq!(numbers, vec![2, 3, 4]);
        assert_eq!(lines.len() as u32, p[0].total.late + p[0].total.open_overdue);
        assert_eq!(lines[1].resolved_at, None);
        assert_eq!(lines[0].status, RequestStatus::Resolved);
    }
}
