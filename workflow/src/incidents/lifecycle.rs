//! An incident as a pure state machine, like a request: `decide(state,
//! command, actor, now)` gives the events a command causes or refuses it;
//! `apply(state, event)` folds one in. The service writes the folded record
//! with its events in one atomic write.
//!
//! Expiry and withdrawal are not completion: only an explicit end (a feed's
//! ENDED or all-clear, or an authorised person) resolves the linked requests;
//! an EXPIRED or CANCELLED incident leaves them with their organizations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Area, Incident, IncidentReport, IncidentStatus};
use crate::DomainError;
use crate::model::{Actor, OrgId};

/// What may be done to an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentCommand {
    /// A feed's or an operator's statement of it: creates or revises, and
    /// may end or withdraw it ([`IncidentReport::ended`]).
    Report(Box<IncidentReport>),
    /// The work is done: resolves what its ender may resolve.
    End {
        /// What to tell the applicants.
        resolution: String,
    },
    /// Its expected end has passed with no word that the work is done.
    Expire,
}

/// The revisable part of an incident, as a report states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// Headline.
    pub title: String,
    /// Kind.
    pub kind: String,
    /// Handling organization.
    pub organization: Option<OrgId>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Expected end.
    pub expected_end_at: Option<DateTime<Utc>>,
    /// Coverage.
    pub area: Area,
    /// Area description.
    pub area_description: Option<String>,
}

/// What happened to an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentEventKind {
    /// First reported; an alert that has already expired is recorded EXPIRED.
    Reported {
        /// Its initial state.
        incident: Box<Incident>,
    },
    /// Revised by its source.
    Revised(Box<Revision>),
    /// Over, the work done.
    Ended {
        /// What to tell the applicants.
        resolution: String,
    },
    /// Withdrawn by its source (CAP `Cancel`).
    Cancelled {
        /// The source's words, if any.
        reason: String,
    },
    /// Its expected end passed.
    Expired,
}

/// One entry of an incident's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a feed's system actor, or a person.
    pub actor: Actor,
    /// What.
    pub kind: IncidentEventKind,
}

impl IncidentEvent {
    /// The event's wire name.
    pub fn name(&self) -> &'static str {
        match self.kind {
            IncidentEventKind::Reported { .. } => "REPORTED",
            IncidentEventKind::Revised(_) => "REVISED",
            IncidentEventKind::Ended { .. } => "ENDED",
            IncidentEventKind::Cancelled { .. } => "CANCELLED",
            IncidentEventKind::Expired => "EXPIRED",
        }
    }
}

fn revision_of(r: &IncidentReport) -> Revision {
    Revision {
        title: r.title.trim().to_string(),
        kind: r.kind.trim().to_string(),
        organization: r.organization.clone(),
        started_at: r.started_at,
        expected_end_at: r.expected_end_at,
        area: r.area.clone(),
        area_description: r.area_description.clone(),
    }
}

fn current(i: &Incident) -> Revision {
    Revision {
        title: i.title.clone(),
        kind: i.kind.clone(),
        organization: i.organization.clone(),
        started_at: i.started_at,
        expected_end_at: i.expected_end_at,
        area: i.area.clone(),
        area_description: i.area_description.clone(),
    }
}

fn not_active(i: &Incident) -> DomainError {
    DomainError::Validation(format!("incident {} is {} already", i.id, i.status.as_str()))
}

/// Checks `command` against `state` and returns the events it causes. A
/// report about an incident that is over, a repeated identical report, and
/// an end of an incident never seen cause nothing.
pub fn decide(
    state: Option<&Incident>,
    command: &IncidentCommand,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<IncidentEvent>, DomainError> {
    let event = |kind| IncidentEvent { at: now, actor: actor.clone(), kind };
    match (state, command) {
        (None, IncidentCommand::Report(r)) => {
            r.validate()?;
            if r.ended.is_some() {
                return Ok(vec![]);
            }
            let revision = revision_of(r);
            // An alert that ran out before it arrived is kept for the record, never active.
            let expired = revision.expected_end_at.is_some_and(|t| t <= now);
            let incident = Incident {
                id: r.id(),
                source: r.source.clone(),
                identifier: r.identifier.clone(),
                title: revision.title,
                kind: revision.kind,
                organization: revision.organization,
                status: if expired { IncidentStatus::Expired } else { IncidentStatus::Active },
                started_at: revision.started_at,
                expected_end_at: revision.expected_end_at,
                ended_at: expired.then_some(now),
                area: revision.area,
                area_description: revision.area_description,
                resolution: None,
                revision: 0,
                ended_by: None,
                version: 0,
            };
            Ok(vec![event(IncidentEventKind::Reported { incident: Box::new(incident) })])
        }
        (None, _) => Err(DomainError::NotFound("no such incident".into())),
        (Some(i), _) if i.status != IncidentStatus::Active => match command {
            IncidentCommand::Report(_) => Ok(vec![]),
            _ => Err(not_active(i)),
        },
        // A report that ends or withdraws it says nothing new about its area.
        (Some(_), IncidentCommand::Report(r)) if r.ended.is_some() => {
            r.validate_end()?;
            Ok(match &r.ended {
                Some(e) if e.cancelled => {
                    vec![event(IncidentEventKind::Cancelled { reason: e.resolution.clone() })]
                }
                Some(e) => vec![event(IncidentEventKind::Ended { resolution: e.resolution.clone() })],
                None => vec![],
            })
        }
        (Some(i), IncidentCommand::Report(r)) => {
            r.validate()?;
            let revision = revision_of(r);
            Ok(if revision != current(i) {
                vec![event(IncidentEventKind::Revised(Box::new(revision)))]
            } else {
                vec![]
            })
        }
        (Some(_), IncidentCommand::End { resolution }) => {
            let resolution = resolution.trim();
            if resolution.is_empty() || resolution.chars().count() > 2000 {
                return Err(DomainError::Validation("the resolution must be 1 to 2000 characters".into()));
            }
            Ok(vec![event(IncidentEventKind::Ended { resolution: resolution.to_string() })])
        }
        (Some(i), IncidentCommand::Expire) => match i.expected_end_at {
            Some(t) if t <= now => Ok(vec![event(IncidentEventKind::Expired)]),
            _ => Err(DomainError::NotDue(format!("incident {} has not reached its expected end", i.id))),
        },
    }
}

/// Folds one event into the state.
pub fn apply(state: Option<Incident>, e: &IncidentEvent) -> Option<Incident> {
    let mut i = match (&e.kind, state) {
        (IncidentEventKind::Reported { incident }, _) => return Some((**incident).clone()),
        (_, None) => return None,
        (_, Some(i)) => i,
    };
    match &e.kind {
        IncidentEventKind::Reported { .. } => {}
        IncidentEventKind::Revised(r) => {
            let r = (**r).clone();
            i.title = r.title;
            i.kind = r.kind;
            i.organization = r.organization;
            i.started_at = r.started_at;
            i.expected_end_at = r.expected_end_at;
            i.area = r.area;
            i.area_description = r.area_description;
            i.revision += 1;
        }
        IncidentEventKind::Ended { resolution } => {
            i.status = IncidentStatus::Ended;
            i.ended_at = Some(e.at);
            i.resolution = Some(resolution.clone());
            i.ended_by = Some(e.actor.clone());
        }
        IncidentEventKind::Cancelled { reason } => {
            i.status = IncidentStatus::Cancelled;
            i.ended_at = Some(e.at);
            i.resolution = Some(reason.clone());
            i.ended_by = Some(e.actor.clone());
        }
        IncidentEventKind::Expired => {
            i.status = IncidentStatus::Expired;
            i.ended_at = Some(e.at);
        }
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::incidents::Ended;
    use crate::model::Role;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    }

    fn report(expected_end: Option<DateTime<Utc>>) -> IncidentReport {
        IncidentReport {
            source: "res".into(),
            identifier: "A-1".into(),
            title: "Нет света".into(),
            kind: "power".into(),
            organization: None,
            started_at: t0(),
            expected_end_at: expected_end,
            area: Area { streets: vec!["ул. Садовая".into()], ..Default::default() },
            area_description: None,
            ended: None,
        }
    }

    fn fold(events: &[IncidentEvent], from: Option<Incident>) -> Option<Incident> {
        events.iter().fold(from, apply)
    }

    #[test]
    fn a_report_creates_then_revises_and_a_repeat_changes_nothing() {
        let feed = Actor::system();
        let cmd = IncidentCommand::Report(Box::new(report(Some(t0() + Duration::hours(4)))));
        let created = decide(None, &cmd, &feed, t0()).unwrap();
        let i = fold(&created, None).unwrap();
        assert_eq!(i.status, IncidentStatus::Active);
        assert!(decide(Some(&i), &cmd, &feed, t0()).unwrap().is_empty(), "the same report again");
        let mut revised = report(Some(t0() + Duration::hours(6)));
        revised.title = "Нет света: ТП-114".into();
        let events = decide(Some(&i), &IncidentCommand::Report(Box::new(revised)), &feed, t0()).unwrap();
        let i = fold(&events, Some(i)).unwrap();
        assert_eq!((i.title.as_str(), i.revision), ("Нет света: ТП-114", 1));
    }

    #[test]
    fn an_alert_expired_on_arrival_is_recorded_but_never_active() {
        let cmd = IncidentCommand::Report(Box::new(report(Some(t0() - Duration::minutes(1)))));
        let i = fold(&decide(None, &cmd, &Actor::system(), t0()).unwrap(), None).unwrap();
        assert_eq!(i.status, IncidentStatus::Expired);
    }

    #[test]
    fn withdrawal_and_expiry_are_not_completion() {
        let feed = Actor::system();
        let i = fold(
            &decide(
                None,
                &IncidentCommand::Report(Box::new(report(Some(t0() + Duration::hours(1))))),
                &feed,
                t0(),
            )
            .unwrap(),
            None,
        )
        .unwrap();
        let mut cancel = report(Some(t0() + Duration::hours(1)));
        cancel.ended = Some(Ended { at: t0(), resolution: "отменено".into(), cancelled: true });
        let c = fold(
            &decide(Some(&i), &IncidentCommand::Report(Box::new(cancel)), &feed, t0()).unwrap(),
            Some(i.clone()),
        )
        .unwrap();
        assert_eq!(c.status, IncidentStatus::Cancelled);
        assert!(decide(Some(&i), &IncidentCommand::Expire, &feed, t0()).is_err(), "not due yet");
        let later = t0() + Duration::hours(2);
        let e = fold(&decide(Some(&i), &IncidentCommand::Expire, &feed, later).unwrap(), Some(i.clone()))
            .unwrap();
        assert_eq!(e.status, IncidentStatus::Expired);
        assert_eq!(e.resolution, None, "nobody is told the work is done");
        // Over is over: nothing ends or revives it.
        assert!(
            decide(Some(&e), &IncidentCommand::End { resolution: "сделано".into() }, &feed, later).is_err()
        );
        assert!(
            decide(Some(&e), &IncidentCommand::Report(Box::new(report(None))), &feed, later)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_end_records_who_ended_it() {
        let sup = Actor::person("sup", Role::Supervisor, None);
        let i =
            fold(&decide(None, &IncidentCommand::Report(Box::new(report(None))), &sup, t0()).unwrap(), None)
                .unwrap();
        assert!(decide(Some(&i), &IncidentCommand::End { resolution: " ".into() }, &sup, t0()).is_err());
        let e = fold(
            &decide(Some(&i), &IncidentCommand::End { resolution: "Свет дали".into() }, &sup, t0()).unwrap(),
            Some(i),
        )
        .unwrap();
        assert_eq!(
            (e.status, e.ended_by.map(|a| a.subject)),
            (IncidentStatus::Ended, Some("sup".to_string()))
        );
        // An end reported for an incident never seen changes nothing.
        let mut ended = report(None);
        ended.ended = Some(Ended { at: t0(), resolution: "x".into(), cancelled: false });
        assert!(decide(None, &IncidentCommand::Report(Box::new(ended)), &sup, t0()).unwrap().is_empty());
    }
}
