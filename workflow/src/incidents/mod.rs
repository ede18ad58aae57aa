//! City emergencies ("incidents"): outages and accidents that pull in many
//! calls. They come from feeds (CAP 1.2 XML or JSON, see [`feeds`]) or are
//! entered by hand; each is upserted by `(source, identifier)`. An incident
//! covers buildings, streets and areas ([`Area`]); the operator sees the ones
//! covering the card's address while typing, links requests to them, and when
//! an incident ends every linked open request its ender may resolve is resolved
//! with its resolution; an incident that merely expires resolves nothing.

pub mod area;
pub mod feeds;
pub mod lifecycle;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use area::Area;

use crate::DomainError;
use crate::model::OrgId;

/// Whether an incident is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentStatus {
    /// Going on.
    Active,
    /// Over: its organization, a supervisor or its source said the work is done.
    Ended,
    /// Its expected end passed with no word that the work is done: the linked
    /// requests stay with their organizations under their own deadlines.
    Expired,
    /// Withdrawn by its source: like EXPIRED, nobody is told the work is done.
    Cancelled,
}

impl IncidentStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Active => "ACTIVE",
            IncidentStatus::Ended => "ENDED",
            IncidentStatus::Expired => "EXPIRED",
            IncidentStatus::Cancelled => "CANCELLED",
        }
    }
}

/// A city emergency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `source/identifier`.
    pub id: String,
    /// Where it came from: a feed's name, or `manual`.
    pub source: String,
    /// The source's own identifier.
    pub identifier: String,
    /// Headline.
    pub title: String,
    /// What kind of emergency (`power`, `water`, `heating`, CAP's event…).
    pub kind: String,
    /// The organization handling it, if known.
    pub organization: Option<OrgId>,
    /// Active or ended.
    pub status: IncidentStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it is expected to end; past it, the incident expires.
    pub expected_end_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// What it covers.
    pub area: Area,
    /// A human description of the area.
    pub area_description: Option<String>,
    /// What was done, once ended.
    pub resolution: Option<String>,
    /// How many times the source revised it.
    pub revision: u32,
    /// Who ended it: the linked requests are resolved on their authority
    /// (absent in stores written before it was kept: the system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<crate::model::Actor>,
    /// The stored version.
    #[serde(skip)]
    pub version: u64,
}

/// An incident as a feed or an operator states it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentReport {
    /// The feed's name, or `manual`.
    pub source: String,
    /// The source's identifier.
    pub identifier: String,
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
    /// Set when the report says it is over (CAP Cancel, JSON `ended`).
    pub ended: Option<Ended>,
}

/// How a report ends an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// When.
    pub at: DateTime<Utc>,
    /// What to tell the applicants (or, withdrawn, the source's words).
    pub resolution: String,
    /// Withdrawn by the source (CAP `Cancel`) rather than done: the linked
    /// requests are not resolved.
    pub cancelled: bool,
}

/// Checks a name used in incident ids: printable, no `/`, 1 to 100 characters.
pub fn check_id_part(what: &str, s: &str) -> Result<String, DomainError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 100 || s.chars().any(|c| c.is_control() || c == '/') {
        return Err(DomainError::Validation(format!(
            "{what} {s:?} must be 1 to 100 printable characters without '/'"
        )));
    }
    Ok(s.to_string())
}

impl IncidentReport {
    /// The incident id this report is about.
    pub fn id(&self) -> String {
        format!("{}/{}", self.source, self.identifier)
    }

    /// Refuses a report that ends or withdraws an incident but names it badly
    /// or gives no words for the applicants.
    pub fn validate_end(&self) -> Result<(), DomainError> {
        check_id_part("source", &self.source)?;
        check_id_part("identifier", &self.identifier)?;
        if let Some(ended) = &self.ended
            && (ended.resolution.trim().is_empty() || ended.resolution.chars().count() > 2000)
        {
            return Err(DomainError::Validation(format!(
                "incident {}: the resolution must be 1 to 2000 characters",
                self.id()
            )));
        }
        Ok(())
    }

    /// Refuses a report that cannot be stored.
    pub fn validate(&self) -> Result<(), DomainError> {
        self.validate_end()?;
        if self.title.trim().is_empty() || self.title.chars().count() > 500 {
            return Err(DomainError::Validation("an incident's title is 1 to 500 characters".into()));
        }
        crate::model::in_calendar("started", self.started_at)?;
        if let Some(t) = self.expected_end_at {
            crate::model::in_calendar("expected end", t)?;
        }
        if self.area.is_empty() {
            return Err(DomainError::Validation(format!(
                "incident {} covers nothing: give addresses, streets or an area",
                self.id()
            )));
        }
        self.area.validate()
    }
}
