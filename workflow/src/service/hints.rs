//! What the operator sees while entering a card: the domain's rules for the
//! hints (which incidents cover the building, in which order; which requests
//! there are possible duplicates and which recurring problems; the deadline,
//! organization and script the card would get), so the hints, the script and
//! the registration always agree.

use chrono::{DateTime, Duration, Utc};

use super::{AddressPoint, Kontakt};
use crate::DomainError;
use crate::incidents::Incident;
use crate::lifecycle::Request;
use crate::model::{Address, DeadlineClass, Organization};
use crate::routing;

/// How far back recurring problems at a building are looked for.
pub const RECURRING_DAYS: i64 = 90;

/// The hints for a card.
#[derive(Debug, Clone, Default)]
pub struct CardHints {
    /// Active incidents covering the building, with how (`building`, `street`,
    /// `area`): the building's own first.
    pub incidents: Vec<(Incident, &'static str)>,
    /// Open requests at the building: possible duplicates.
    pub open_at_address: Vec<Request>,
    /// Requests at the building in the last [`RECURRING_DAYS`] days, no longer open.
    pub recurring_at_address: Vec<Request>,
    /// The class, deadline, organization and filled script, once a category is chosen.
    pub card: Option<CardOutcome>,
}

/// What a card of a category would get if registered now.
#[derive(Debug, Clone)]
pub struct CardOutcome {
    /// Its class (EMERGENCY when raised).
    pub class: DeadlineClass,
    /// Its deadline.
    pub deadline: DateTime<Utc>,
    /// Where it would be dispatched, once the address is known.
    pub organization: Option<Organization>,
    /// The operator's script, filled in.
    pub script: String,
}

fn coverage_rank(how: &str) -> u8 {
    match how {
        "building" => 0,
        "street" => 1,
        _ => 2,
    }
}

impl Kontakt {
    /// The hints for a card at `at` (when an address is chosen) of
    /// `category` (when one is), raised to an emergency when `raised`, in
    /// English when `en`.
    pub fn card_hints(
        &self,
        at: Option<&AddressPoint>,
        category: Option<&str>,
        raised: bool,
        en: bool,
    ) -> Result<CardHints, DomainError> {
        let now = self.now();
        let mut hints = CardHints::default();
        let address: Option<Address> = at.map(|at| self.resolve_address(at)).transpose()?;
        if let Some(address) = &address {
            let at_building =
                self.requests_at_address(address.id.as_str(), now - Duration::days(RECURRING_DAYS), 200)?;
            let (open, recurring): (Vec<Request>, Vec<Request>) =
                at_building.into_iter().partition(|r| r.status.is_open());
            let mut covering = self.incidents_at(address)?;
            covering.sort_by_key(|(_, how)| coverage_rank(how));
            hints.incidents = covering;
            hints.open_at_address = open;
            hints.recurring_at_address = recurring;
        }
        if let Some(code) = category {
            let category = self
                .category(code)?
                .ok_or_else(|| DomainError::Validation(format!("unknown category {code}")))?;
            let class = if raised { DeadlineClass::Emergency } else { category.deadline_class };
            let deadline = now + class.window();
            let org = match &address {
                Some(a) => routing::route(
                    &self.rules_for(category.code.as_str())?,
                    category.code.as_str(),
                    &a.district,
                ),
                None => None,
            };
            let org = match org {
                Some(o) => self.organization(o.as_str())?,
                None => None,
            };
            let local = deadline.with_timezone(&self.city_offset).format("%d.%m.%Y %H:%M").to_string();
            let org_name =
                org.as_ref().map_or(if en { "the dispatcher" } else { "диспетчер" }, |o| {
                    if en { o.name_en.as_str() } else { o.name_ru.as_str() }
                });
            let org_name = org_name.to_string();
            let template = if en { &category.script_en } else { &category.script_ru };
            let name = if en { &category.name_en } else { &category.name_ru };
            let label = address.as_ref().map_or_else(|| "—".to_string(), Address::label);
            hints.card = Some(CardOutcome {
                class,
                deadline,
                organization: org,
                script: routing::fill_script(template, &local, &org_name, &label, name),
            });
        }
        Ok(hints)
    }
}
