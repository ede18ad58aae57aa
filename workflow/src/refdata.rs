//! Reference data as an aggregate: organizations, categories, routing rules,
//! buildings, delivery channels, category norms and working hours change only
//! through [`decide`], which checks who acts and what the new value is, and
//! answers the events that say what changed; [`apply`] folds them.
//!
//! Every kind shares one event type: a change is created / changed / deleted,
//! with the values before and after and the names of the fields that differ,
//! so the administration's history reads the same for an organization as
//! for a routing rule. A write that changes nothing records nothing.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::delivery::Delivery;
use crate::model::{Actor, Address, Category, Organization, Role, RoutingRule, UNCONFIRMED_PREFIX};

/// What kind of reference record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefKind {
    /// An executing organization.
    Organization,
    /// A category of request.
    Category,
    /// A routing rule (category × district → organization).
    RoutingRule,
    /// A building of the address registry.
    Building,
    /// How an organization is told of its requests.
    Delivery,
    /// Crew-hours, vehicle-hours and materials per request of a category.
    CategoryNorm,
    /// An organization's working hours.
    WorkingHours,
    /// An access token.
    Token,
}

impl RefKind {
    /// The stable name, as stored and as the API says it.
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Organization => "ORGANIZATION",
            RefKind::Category => "CATEGORY",
            RefKind::RoutingRule => "ROUTING_RULE",
            RefKind::Building => "BUILDING",
            RefKind::Delivery => "DELIVERY",
            RefKind::CategoryNorm => "CATEGORY_NORM",
            RefKind::WorkingHours => "WORKING_HOURS",
            RefKind::Token => "TOKEN",
        }
    }
}

/// What happened to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefChange {
    /// It came to be.
    #[serde(alias = "BUILDING_ADDED")]
    Created,
    /// Some of its fields changed.
    #[serde(alias = "DELIVERY_SET")]
    Changed,
    /// It was removed.
    Deleted,
    /// A token was issued.
    Issued,
    /// A token was revoked.
    Revoked,
}

/// One change of a reference record: who, when, what, from what to what.
///
/// The stored form also reads the events written before reference data had
/// this type (`{at, actor, change}` only): the new fields default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// What happened.
    pub change: RefChange,
    /// Of what kind the record is.
    #[serde(default)]
    pub kind: Option<RefKind>,
    /// The record's key within its kind.
    #[serde(default)]
    pub key: Option<String>,
    /// The fields that differ (every field when created or deleted).
    #[serde(default)]
    pub fields: Vec<String>,
    /// The value before.
    #[serde(default)]
    pub before: Option<serde_json::Value>,
    /// The value after.
    #[serde(default)]
    pub after: Option<serde_json::Value>,
}

/// A kind of reference record: its key, and what makes a value acceptable.
pub trait RefRecord: Serialize + DeserializeOwned + Clone + PartialEq {
    /// Its kind.
    const KIND: RefKind;
    /// Its key within the kind.
    fn key(&self) -> String;
    /// Refuses a value the system cannot work with.
    fn validate(&self) -> Result<(), DomainError>;
}

/// What an administrator asks of a reference record.
#[derive(Debug, Clone, PartialEq)]
pub enum RefCommand<T> {
    /// Create it, or replace what is there.
    Put(T),
    /// Create it; refused when the key is taken.
    Create(T),
    /// Replace it; refused when there is none.
    Update(T),
    /// Remove it.
    Delete,
}

fn may_change(actor: &Actor) -> Result<(), DomainError> {
    // The system (imports, the demo city, migrations) and administrators change reference data.
    match actor.role {
        None | Some(Role::Admin) => Ok(()),
        Some(r) => Err(DomainError::Forbidden(format!("{} may not change reference data", r.as_str()))),
    }
}

fn value<T: Serialize>(v: &T) -> Result<serde_json::Value, DomainError> {
    serde_json::to_value(v).map_err(|e| DomainError::Validation(e.to_string()))
}

/// The top-level fields whose values differ, in the value's order.
fn differing(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    match (before, after) {
        (serde_json::Value::Object(b), serde_json::Value::Object(a)) => {
            let mut out: Vec<String> =
                a.iter().filter(|(k, v)| b.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
            out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
            out
        }
        _ => vec!["value".into()],
    }
}

fn all_fields(v: &serde_json::Value) -> Vec<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

/// Decides a command against the current value: the events to record, none
/// when the value would not change.
pub fn decide<T: RefRecord>(
    current: Option<&T>,
    command: &RefCommand<T>,
    actor: &Actor,
    at: DateTime<Utc>,
) -> Result<Vec<RefEvent>, DomainError> {
    may_change(actor)?;
    let event = |change, fields, before, after| RefEvent {
        at,
        actor: actor.clone(),
        change,
        kind: Some(T::KIND),
        key: None,
        fields,
        before,
        after,
    };
    let mut events = match (command, current) {
        (RefCommand::Create(_), Some(c)) => {
            return Err(DomainError::Validation(format!(
                "{} {} exists already",
                T::KIND.as_str().to_lowercase(),
                c.key()
            )));
        }
        (RefCommand::Update(v), None) => {
            return Err(DomainError::NotFound(format!("no {} {}", T::KIND.as_str().to_lowercase(), v.key())));
        }
        (RefCommand::Delete, None) => {
            return Err(DomainError::NotFound(format!("no such {}", T::KIND.as_str().to_lowercase())));
        }
        (RefCommand::Put(v) | RefCommand::Create(v), None) => {
            v.validate()?;
            let after = value(v)?;
            vec![event(RefChange::Created, all_fields(&after), None, Some(after))]
        }
        (RefCommand::Put(v) | RefCommand::Update(v), Some(c)) => {
            v.validate()?;
            if v.key() != c.key() {
                return Err(DomainError::Validation("a record's key does not change".into()));
            }
            if v == c {
                return Ok(vec![]);
            }
            let (before, after) = (value(c)?, value(v)?);
            vec![event(RefChange::Changed, differing(&before, &after), Some(before), Some(after))]
        }
        (RefCommand::Delete, Some(c)) => {
            let before = value(c)?;
            vec![event(RefChange::Deleted, all_fields(&before), Some(before), None)]
        }
    };
    let key = match (command, current) {
        (RefCommand::Put(v) | RefCommand::Create(v) | RefCommand::Update(v), _) => v.key(),
        (RefCommand::Delete, Some(c)) => c.key(),
        (RefCommand::Delete, None) => String::new(),
    };
    for e in &mut events {
        e.key = Some(key.clone());
    }
    Ok(events)
}

/// Folds one event into the value.
pub fn apply<T: RefRecord>(state: Option<T>, event: &RefEvent) -> Option<T> {
    match event.change {
        RefChange::Deleted => None,
        _ => match &event.after {
            Some(after) => serde_json::from_value(after.clone()).ok().or(state),
            None => state,
        },
    }
}

/// A value with its secrets masked, for showing a history.
pub fn redacted(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => serde_json::Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = if k.contains("secret") && !v.is_null() {
                        serde_json::Value::String("••••".into())
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn text(field: &str, v: &str, max: usize) -> Result<(), DomainError> {
    let n = v.trim().chars().count();
    if n == 0 {
        return Err(DomainError::Validation(format!("{field} must not be empty")));
    }
    if n > max {
        return Err(DomainError::Validation(format!("{field} is longer than {max} characters")));
    }
    Ok(())
}

impl RefRecord for Organization {
    const KIND: RefKind = RefKind::Organization;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn validate(&self) -> Result<(), DomainError> {
        text("nameRu", &self.name_ru, 300)?;
        text("nameEn", &self.name_en, 300)?;
        if self.crews > 10_000 {
            return Err(DomainError::Validation("crews must be at most 10000".into()));
        }
        Ok(())
    }
}

impl RefRecord for Category {
    const KIND: RefKind = RefKind::Category;
    fn key(&self) -> String {
        self.code.to_string()
    }
    fn validate(&self) -> Result<(), DomainError> {
        text("group", &self.group, 200)?;
        text("nameRu", &self.name_ru, 300)?;
        text("nameEn", &self.name_en, 300)?;
        text("scriptRu", &self.script_ru, 4000)?;
        text("scriptEn", &self.script_en, 4000)?;
        if self.keywords.len() > 100 {
            return Err(DomainError::Validation("at most 100 keywords".into()));
        }
        Ok(())
    }
}

impl RefRecord for RoutingRule {
    const KIND: RefKind = RefKind::RoutingRule;
    fn key(&self) -> String {
        rule_key(self.category.as_str(), self.district.as_deref())
    }
    fn validate(&self) -> Result<(), DomainError> {
        if let Some(d) = &self.district {
            text("district", d, 200)?;
        }
        Ok(())
    }
}

/// The key of the rule for a category in a district (none: the whole city).
pub fn rule_key(category: &str, district: Option<&str>) -> String {
    format!("{category}\u{1f}{}", district.unwrap_or(""))
}

impl RefRecord for Address {
    const KIND: RefKind = RefKind::Building;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn validate(&self) -> Result<(), DomainError> {
        if self.id.as_str().starts_with(UNCONFIRMED_PREFIX) {
            return Err(DomainError::Validation(format!("codes starting {UNCONFIRMED_PREFIX} are reserved")));
        }
        if self.street.trim().is_empty() || self.house.trim().is_empty() || self.district.trim().is_empty() {
            return Err(DomainError::Validation("a building needs a street, a house and a district".into()));
        }
        text("street", &self.street, 200)?;
        text("house", &self.house, 30)?;
        text("district", &self.district, 200)?;
        if !(-90.0..=90.0).contains(&self.lat) || !(-180.0..=180.0).contains(&self.lon) {
            return Err(DomainError::Validation(format!(
                "({}, {}) is not a point on Earth",
                self.lat, self.lon
            )));
        }
        Ok(())
    }
}

/// An organization's (or the administration's) delivery channels, keyed by recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryOf {
    /// The organization's code, or `administration`.
    pub recipient: String,
    /// The channels.
    #[serde(flatten)]
    pub delivery: Delivery,
}

impl RefRecord for DeliveryOf {
    const KIND: RefKind = RefKind::Delivery;
    fn key(&self) -> String {
        self.recipient.clone()
    }
    fn validate(&self) -> Result<(), DomainError> {
        self.delivery.validate()
    }
}

impl RefRecord for crate::capacity::CategoryNorm {
    const KIND: RefKind = RefKind::CategoryNorm;
    fn key(&self) -> String {
        self.category.to_string()
    }
    fn validate(&self) -> Result<(), DomainError> {
        crate::capacity::CategoryNorm::validate(self)
    }
}

/// An organization's working hours, keyed by the organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkingHoursOf {
    /// The organization's code.
    pub organization: crate::model::OrgId,
    /// Its hours.
    #[serde(flatten)]
    pub hours: crate::capacity::WorkingHours,
}

impl RefRecord for WorkingHoursOf {
    const KIND: RefKind = RefKind::WorkingHours;
    fn key(&self) -> String {
        self.organization.to_string()
    }
    fn validate(&self) -> Result<(), DomainError> {
        self.hours.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Code, OrganizationKind, Subordination};

    fn org(crews: u32) -> Organization {
        Organization {
            id: Code::parse("vodokanal").unwrap(),
            name_ru: "Водоканал".into(),
            name_en: "Water utility".into(),
            kind: OrganizationKind::Water,
            subordination: Subordination::City,
            district: None,
            crews,
            phone: None,
        }
    }

    fn admin() -> Actor {
        Actor { subject: "admin-1".into(), role: Some(Role::Admin), organization: None }
    }

    fn at() -> DateTime<Utc> {
        "2026-11-30T09:00:00Z".parse().unwrap()
    }

    #[test]
    fn creating_records_every_field_and_folds_into_the_value() {
        let events = decide(None, &RefCommand::Put(org(4)), &admin(), at()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].change, RefChange::Created);
        assert_eq!(events[0].key.as_deref(), Some("vodokanal"));
        assert!(events[0].fields.contains(&"crews".to_string()));
        assert_eq!(events.iter().fold(None, apply::<Organization>), Some(org(4)));
    }

    #[test]
    fn a_change_names_only_the_fields_that_differ_with_both_values() {
        let events = decide(Some(&org(4)), &RefCommand::Put(org(6)), &admin(), at()).unwrap();
        assert_eq!(events[0].change, RefChange::Changed);
        assert_eq!(events[0].fields, vec!["crews".to_string()]);
        assert_eq!(events[0].before.as_ref().unwrap()["crews"], 4);
        assert_eq!(events[0].after.as_ref().unwrap()["crews"], 6);
        assert_eq!(events.iter().fold(Some(org(4)), apply::<Organization>), Some(org(6)));
    }

    #[test]
    fn writing_the_same_value_records_nothing() {
        assert!(decide(Some(&org(4)), &RefCommand::Put(org(4)), &admin(), at()).unwrap().is_empty());
    }

    #[test]
    fn only_administrators_and_the_system_change_reference_data() {
        for role in [Role::Operator, Role::Supervisor, Role::Contractor] {
            let actor = Actor { subject: "x".into(), role: Some(role), organization: None };
            assert!(matches!(
                decide(None, &RefCommand::Put(org(4)), &actor, at()),
                Err(DomainError::Forbidden(_))
            ));
        }
        assert!(decide(None, &RefCommand::Put(org(4)), &Actor::system(), at()).is_ok());
    }

    #[test]
    fn create_update_and_delete_refuse_what_does_not_fit() {
        assert!(decide(Some(&org(4)), &RefCommand::Create(org(5)), &admin(), at()).is_err());
        assert!(matches!(
            decide(None, &RefCommand::Update(org(5)), &admin(), at()),
            Err(DomainError::NotFound(_))
        ));
        assert!(matches!(
            decide::<Organization>(None, &RefCommand::Delete, &admin(), at()),
            Err(DomainError::NotFound(_))
        ));
        let gone = decide(Some(&org(4)), &RefCommand::Delete, &admin(), at()).unwrap();
        assert_eq!(gone[0].change, RefChange::Deleted);
        assert_eq!(gone.iter().fold(Some(org(4)), apply::<Organization>), None);
    }

    #[test]
    fn bad_values_are_refused() {
        let mut o = org(4);
        o.name_ru = "  ".into();
        assert!(matches!(decide(None, &RefCommand::Put(o), &admin(), at()), Err(DomainError::Validation(_))));
        let building = Address {
            id: Code::parse("u-1").unwrap(),
            street: "ул. Мира".into(),
            house: "1".into(),
            district: "Центр".into(),
            lat: 56.0,
            lon: 38.0,
        };
        assert!(decide(None, &RefCommand::Create(building), &admin(), at()).is_err());
    }

    #[test]
    fn events_written_before_this_type_still_read() {
        let old = r#"{"at":"2026-11-01T10:00:00Z","actor":{"subject":"a","role":"ADMIN","organization":null},"change":"BUILDING_ADDED"}"#;
        let e: RefEvent = serde_json::from_str(old).unwrap();
        assert_eq!(e.change, RefChange::Created);
        assert!(e.kind.is_none() && e.fields.is_empty());
    }

    #[test]
    fn secrets_are_masked_in_a_shown_history() {
        let v = serde_json::json!({"webhook_secret": "s3cr3t", "emails": ["a@b.c"]});
        let shown = redacted(&v);
        assert_eq!(shown["webhook_secret"], "••••");
        assert_eq!(shown["emails"][0], "a@b.c");
    }
}
