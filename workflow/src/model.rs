//! The domain's vocabulary: enums, parsed identifiers and reference data.
//!
//! Identifiers are newtypes parsed once at the edge ("parse, don't validate"):
//! a value of these types is always well formed.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::DomainError;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($(#[$vm])* #[doc = concat!("`", $text, "`")] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The upper-case wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                match s.trim().to_ascii_uppercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    other => Err(DomainError::Validation(format!(
                        concat!("unknown ", stringify!($name), " {:?}"), other))),
                }
            }
        }
    };
}

string_enum! {
    /// The regulation's four deadline classes.
    DeadlineClass { Emergency = "EMERGENCY", Short = "SHORT", Medium = "MEDIUM", Long = "LONG" }
}

impl DeadlineClass {
    /// The regulated window, calendar time from registration.
    pub fn window(self) -> chrono::Duration {
        chrono::Duration::hours(self.hours())
    }

    /// The window in hours: 6, 24, 72, 168.
    pub fn hours(self) -> i64 {
        match self {
            DeadlineClass::Emergency => 6,
            DeadlineClass::Short => 24,
            DeadlineClass::Medium => 72,
            DeadlineClass::Long => 168,
        }
    }
}

string_enum! {
    /// Where a request stands in its lifecycle.
    RequestStatus {
        /// Registered, waiting for routing (the unrouted queue) or just registered.
        Registered = "REGISTERED",
        /// Sent to an organization, not yet accepted.
        Dispatched = "DISPATCHED",
        /// Accepted by the organization, work under way.
        InProgress = "IN_PROGRESS",
        /// The deadline passed while open.
        Overdue = "OVERDUE",
        /// The organization reported it fixed.
        Resolved = "RESOLVED",
        /// Confirmed and finished.
        Closed = "CLOSED",
        /// Withdrawn with a reason.
        Cancelled = "CANCELLED",
    }
}

impl RequestStatus {
    /// True while the request still waits for its organization's work.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Registered | Self::Dispatched | Self::InProgress | Self::Overdue)
    }

    /// A one-byte code, stable across releases, for index keys.
    pub fn code(self) -> u8 {
        match self {
            Self::Registered => 1,
            Self::Dispatched => 2,
            Self::InProgress => 3,
            Self::Overdue => 4,
            Self::Resolved => 5,
            Self::Closed => 6,
            Self::Cancelled => 7,
        }
    }
}

string_enum! {
    /// The steps of the escalation ladder, in order.
    EscalationStep { Warning = "WARNING", Overdue = "OVERDUE", Escalated = "ESCALATED" }
}

string_enum! {
    /// How the request reached the Contact Center.
    Channel { Phone = "PHONE", Web = "WEB", Open311 = "OPEN311", Email = "EMAIL", WalkIn = "WALK_IN" }
}

string_enum! {
    /// What an executing organization does.
    OrganizationKind {
        ElectricGrid = "ELECTRIC_GRID", Housing = "HOUSING", Heating = "HEATING",
        Water = "WATER", Roads = "ROADS", Other = "OTHER",
    }
}

string_enum! {
    /// Whom an organization answers to: appeals go to the region for REGIONAL ones.
    Subordination { City = "CITY", Regional = "REGIONAL" }
}

string_enum! {
    /// What a token's holder may do.
    Role { Operator = "OPERATOR", Contractor = "CONTRACTOR", Supervisor = "SUPERVISOR", Admin = "ADMIN" }
}

/// A reference-data code: lowercase ASCII letters, digits and `-`, 1 to 40 long.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Code(String);

impl Code {
    /// Parses a code, refusing anything else.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(DomainError::Validation(format!(
                "{s:?} is not a valid code (lowercase letters, digits, '-', '_'; at most 40)"
            )))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Code {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}

impl From<Code> for String {
    fn from(c: Code) -> String {
        c.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organization's code.
pub type OrgId = Code;
/// A category's code.
pub type CategoryCode = Code;
/// An address registry entry's code.
pub type AddressId = Code;

/// A request's internal identity: a ULID, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId(pub ulid::Ulid);

impl RequestId {
    /// A fresh id for a request registered at `now`.
    pub fn generate(now: DateTime<Utc>) -> Self {
        let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        Self(ulid::Ulid::from_parts(ms, rand_bits()))
    }

    /// Parses the 26-character text form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        ulid::Ulid::from_string(s.trim())
            .map(Self)
            .map_err(|_| DomainError::Validation(format!("{s:?} is not a request id")))
    }

    /// The 16 bytes used in keys.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    /// Rebuilds an id from key bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(b).ok().map(|a| Self(ulid::Ulid::from_bytes(a)))
    }
}

fn rand_bits() -> u128 {
    // Ulid::generate draws from the OS-seeded generator; reuse its random part.
    ulid::Ulid::generate().random()
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The human request number read out to the caller: `2026-000123`, sequential per year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestNumber {
    /// The registration year, in city time.
    pub year: i32,
    /// The sequence within the year, from 1.
    pub seq: u32,
}

impl RequestNumber {
    /// Parses `YYYY-NNNNNN`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::Validation(format!("{s:?} is not a request number like 2026-000123"));
        let (y, n) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || n.len() < 6 || !y.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(Self { year: y.parse().map_err(|_| bad())?, seq: n.parse().map_err(|_| bad())? })
    }

    /// The counter that numbers requests registered in `year`.
    pub fn counter(year: i32) -> String {
        format!("request-number/{year}")
    }

    /// The year a request registered at `at` is numbered in, in the city's time zone.
    pub fn year_of(at: DateTime<Utc>, city: FixedOffset) -> i32 {
        at.with_timezone(&city).year()
    }
}

impl TryFrom<String> for RequestNumber {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}

impl From<RequestNumber> for String {
    fn from(n: RequestNumber) -> String {
        n.to_string()
    }
}

impl fmt::Display for RequestNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:06}", self.year, self.seq)
    }
}

/// A phone number normalized to `+` and 10–15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// How a number typed without its country code is read: the city's country
/// and, for a local number without the city code, the city's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberingPlan {
    /// The country code (`7`).
    pub country: String,
    /// The city's code (`856`), for local numbers.
    pub city: Option<String>,
}

impl Default for NumberingPlan {
    fn default() -> Self {
        Self { country: "7".into(), city: None }
    }
}

/// Digits of a number inside its country, the country code excluded.
const NATIONAL_DIGITS: usize = 10;

impl Phone {
    /// Parses a phone as people type it (`8 (856) 412-34-56`, `+7 856 4123456`,
    /// `(856) 412 34 56`) in the default plan: country 7, no city code.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::parse_in(s, &NumberingPlan::default())
    }

    /// Parses a phone in `plan`: after a `+` the digits are international as
    /// they stand; otherwise a trunk prefix (`8` before eleven digits, a
    /// leading `0`) is dropped, a ten-digit national number gets the country
    /// code, and a local number the city's code too. Every form of one line
    /// gives the same phone.
    pub fn parse_in(s: &str, plan: &NumberingPlan) -> Result<Self, DomainError> {
        let refuse = || DomainError::Validation(format!("{s:?} is not a phone number"));
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        if !s.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) || digits.len() > 15 {
            return Err(refuse());
        }
        if s.trim_start().starts_with('+') {
            return if digits.len() >= 10 { Ok(Self(format!("+{digits}"))) } else { Err(refuse()) };
        }
        let trunk_zero = digits.starts_with('0');
        let national =
            if digits.len() == NATIONAL_DIGITS + 1 && digits.starts_with('8') && plan.country == "7" {
                &digits[1..]
            } else {
                digits.strip_prefix('0').unwrap_or(&digits)
            };
        let city = plan.city.as_deref().unwrap_or("");
        let full = match national.len() {
            NATIONAL_DIGITS => format!("{}{national}", plan.country),
            // After a trunk 0 the area code is written out (`(0624) 55-12-34`).
            n if trunk_zero && n == NATIONAL_DIGITS - 1 => format!("{}{national}", plan.country),
            n if n < NATIONAL_DIGITS && !city.is_empty() && n + city.len() == NATIONAL_DIGITS => {
                format!("{}{city}{national}", plan.country)
            }
            n if (NATIONAL_DIGITS + 1..=15).contains(&n) => national.to_string(),
            _ => return Err(refuse()),
        };
        Ok(Self(format!("+{full}")))
    }

    /// The normalized form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form logs may carry: every digit but the last two hidden.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// Hides every digit of a phone but the last two (`+7*********56`): logs
/// never carry a whole number, at any level.
pub fn mask_phone(phone: &str) -> String {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    phone
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen + 2 > digits { c } else { '*' }
        })
        .collect()
}

impl TryFrom<String> for Phone {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

/// An executing organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// Its code.
    pub id: OrgId,
    /// Russian name (the official one).
    pub name_ru: String,
    /// English name.
    pub name_en: String,
    /// What it does.
    pub kind: OrganizationKind,
    /// City or regional subordination.
    pub subordination: Subordination,
    /// The district it serves, when it serves one.
    pub district: Option<String>,
    /// Field crews available, for capacity planning.
    pub crews: u32,
    /// Dispatch phone.
    pub phone: Option<String>,
}

/// A request category with its regulated deadline class and operator script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Its code.
    pub code: CategoryCode,
    /// A group name for menus (Russian).
    pub group: String,
    /// Russian name.
    pub name_ru: String,
    /// English name.
    pub name_en: String,
    /// The regulated class.
    pub deadline_class: DeadlineClass,
    /// The operator's script in Russian, with `{deadline}` and other placeholders.
    pub script_ru: String,
    /// The same script in English.
    pub script_en: String,
    /// Citizens' own words for it, Russian and English («крыша», «течёт»,
    /// "leak"): the operator's search finds the category by them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

/// Routes a category (in a district, or anywhere) to an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// The category routed.
    pub category: CategoryCode,
    /// The district it applies in; `None` for the whole city.
    pub district: Option<String>,
    /// Where matching requests go.
    pub organization: OrgId,
}

/// The prefix of the codes given to addresses the registry does not have.
pub const UNCONFIRMED_PREFIX: &str = "u-";

/// A building in the address registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    /// Its registry code.
    pub id: AddressId,
    /// Street, with its type (`ул. Пушкинская`).
    pub street: String,
    /// House number, with letter or block (`12`, `12А`, `12 корп. 2`).
    pub house: String,
    /// The city district.
    pub district: String,
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
}

impl Address {
    /// `ул. Пушкинская, 12`.
    pub fn label(&self) -> String {
        // An address in the caller's words has no separate house.
        if self.house.is_empty() { self.street.clone() } else { format!("{}, {}", self.street, self.house) }
    }
}

/// Who performs a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The token's subject, or `system` for time-driven steps.
    pub subject: String,
    /// The role, or `None` for the system itself.
    pub role: Option<Role>,
    /// A contractor's organization.
    pub organization: Option<OrgId>,
}

impl Actor {
    /// The system: the scheduler and feeds.
    pub fn system() -> Self {
        Self { subject: "system".into(), role: None, organization: None }
    }

    /// A person holding a role (contractors name their organization).
    pub fn person(subject: &str, role: Role, organization: Option<OrgId>) -> Self {
        Self { subject: subject.into(), role: Some(role), organization }
    }

    /// True for the scheduler and feeds.
    pub fn is_system(&self) -> bool {
        self.role.is_none()
    }

    /// True when the actor holds one of `roles`.
    pub fn has_role(&self, roles: &[Role]) -> bool {
        self.role.is_some_and(|r| roles.contains(&r))
    }
}

/// The years a moment given from outside may fall in: arithmetic on dates
/// beyond them (a week before, a day after) would leave chrono's range.
pub const CALENDAR_YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Refuses a moment outside [`CALENDAR_YEARS`].
pub fn in_calendar(
    what: &str,
    t: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, DomainError> {
    use chrono::Datelike;
    if CALENDAR_YEARS.contains(&t.year()) {
        Ok(t)
    } else {
        Err(DomainError::Validation(format!("{what} must fall between the years 1970 and 9999")))
    }
}

/// `text` with every run of six or more digits masked as [`mask_phone`]
/// does: for messages from outside (a PBX's refusal) that may quote a number.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 6 {
            out.push_str(&mask_phone(run))
        } else {
            out.push_str(run)
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_form_of_one_line_is_one_phone() {
        let plan = super::NumberingPlan { country: "7".into(), city: Some("856".into()) };
        for typed in
            ["8 856 412-34-56", "+7 856 4123456", "(856) 412 34 56", "412-34-56", "8 (856) 412 34 56"]
        {
            assert_eq!(super::Phone::parse_in(typed, &plan).unwrap().as_str(), "+78564123456", "{typed}");
        }
        assert_eq!(super::Phone::parse_in("(0624) 55-12-34", &plan).unwrap().as_str(), "+7624551234");
        assert_eq!(super::Phone::parse("+81 3 1234 5678").unwrap().as_str(), "+81312345678");
        assert!(super::Phone::parse("412-34-56").is_err(), "a local number needs the city's code");
        assert!(super::Phone::parse("call me").is_err());
    }

    #[test]
    fn a_masked_phone_keeps_only_its_last_two_digits() {
        assert_eq!(super::mask_phone("+78564123456"), "+*********56");
        assert_eq!(super::Phone::parse("8 (856) 412-34-56").unwrap().masked(), "+*********56");
        assert_eq!(super::mask_phone("7"), "7");
        assert_eq!(
            super::mask_numbers("PJSIP/78564123456@trunk busy, cause 17"),
            "PJSIP/*********56@trunk busy, cause 17"
        );
    }

    use super::*;

    #[test]
    fn request_numbers_print_and_parse() {
        let n = RequestNumber { year: 2026, seq: 123 };
        assert_eq!(n.to_string(), "2026-000123");
        assert_eq!(RequestNumber::parse("2026-000123").unwrap(), n);
        assert_eq!(RequestNumber::parse("2026-1234567").unwrap().seq, 1_234_567);
        for bad in ["2026-12", "26-000123", "2026000123", "2026-00012a", ""] {
            assert!(RequestNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_are_normalized() {
        assert_eq!(Phone::parse("8 (856) 412-34-56").unwrap().as_str(), "+78564123456");
        assert_eq!(Phone::parse("+7 856 4123456").unwrap().as_str(), "+78564123456");
        assert_eq!(Phone::parse("+81 3 1234 5678").unwrap().as_str(), "+81312345678");
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("12345").is_err());
    }

    #[test]
    fn codes_refuse_anything_but_lowercase_words() {
        assert!(Code::parse("res-gorlovka").is_ok());
        for bad in ["", "Upper", "with space", "ü", &"x".repeat(41)] {
            assert!(Code::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_match_the_regulation() {
        let hours: Vec<i64> = DeadlineClass::ALL.iter().map(|c| c.hours()).collect();
        assert_eq!(hours, vec![6, 24, 72, 168]);
    }
}
