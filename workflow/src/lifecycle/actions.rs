//! What the caller may do to a request right now, for the pages to offer:
//! computed by asking [`decide`](super::decide) itself with each command, so
//! the list can never disagree with what the server would accept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Command, Request, decide};
use crate::model::{Actor, Code};

/// A command on a request, by the name of its mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
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
}

impl Action {
    /// Every action, in the order the pages show them.
    pub const ALL: [Action; 13] = [
        Action::Accept,
        Action::Resolve,
        Action::Reject,
        Action::Reassign,
        Action::RaiseToEmergency,
        Action::LinkToIncident,
        Action::UnlinkFromIncident,
        Action::AddNote,
        Action::Correct,
        Action::AddApplicant,
        Action::Cancel,
        Action::Reopen,
        Action::Close,
    ];

    /// The command this action sends, with stand-in text that every rule
    /// accepts, so only state and role decide.
    pub fn probe(self, r: &Request) -> Command {
        let text = || "·".to_string();
        match self {
            Action::Accept => Command::Accept,
            Action::Resolve => Command::Resolve { resolution: text(), note: None },
            Action::Reject => Command::Reject { reason: text() },
            Action::Reassign => {
                // Any organization other than the current one.
                let other = ["probe-a", "probe-b"]
                    .into_iter()
                    .filter_map(|c| Code::parse(c).ok())
                    .find(|c| r.organization.as_ref() != Some(c));
                Command::Reassign {
                    organization: other.unwrap_or_else(|| r.category.clone()),
                    reason: text(),
                }
            }
            Action::RaiseToEmergency => Command::RaiseToEmergency { reason: text() },
            Action::Cancel => Command::Cancel { reason: text() },
            Action::Reopen => Command::Reopen { reason: text() },
            Action::Close => Command::Close { note: None },
            Action::LinkToIncident => {
                Command::LinkIncident { incident: "probe/incident".into(), organization: None }
            }
            Action::UnlinkFromIncident => Command::UnlinkIncident { reason: text() },
            Action::AddNote => Command::AddNote { note: text() },
            Action::Correct => Command::Correct(Box::new(super::correction::Correction {
                category: None,
                address: None,
                description: Some(format!("{}·", r.description)),
                route: None,
                reason: text(),
            })),
            Action::AddApplicant => Command::AddApplicant {
                applicant: super::Applicant { name: Some(text()), phone: None, callback_consent: false },
            },
        }
    }
}

/// The actions `actor` may take on `r` at `now`.
pub fn allowed(r: &Request, actor: &Actor, now: DateTime<Utc>) -> Vec<Action> {
    Action::ALL.into_iter().filter(|a| decide(Some(r), &a.probe(r), actor, now).is_ok()).collect()
}
