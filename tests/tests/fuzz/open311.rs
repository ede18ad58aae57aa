//! The Open311 `POST requests` form parser, `parse_post`.
//!
//! An accepted form is checked against the form itself, decoded on its own:
//! each field the spec defines was given once (ignoring blank values), and
//! the parsed request carries exactly its trimmed value; the service code is
//! a valid code; a point is finite and on Earth; the description and name are
//! within their limits; a phone is in its normalized form, and one written
//! with a country code keeps it. Anything else is a `BadRequest` that says why.

use kontakt_api::open311::Open311Error;
use kontakt_api::open311::form::{Location, PostedRequest, parse_post};
use kontakt_workflow::model::{Code, Phone};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{cases, corpus, fuzz, mutate, mutation};

const FIELDS: &[&str] = &[
    "api_key",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "description",
    "first_name",
    "last_name",
    "phone",
    "email",
    "device_id",
    "account_id",
    "media_url",
];

const TOKENS: &[&str] = &[
    "&",
    "=",
    "+",
    "%",
    "%2",
    "%zz",
    "%00",
    "%FF",
    "%D0%B6",
    "%26",
    "%3D",
    "service_code=",
    "description=",
    "lat=",
    "long=",
    "lat=NaN",
    "long=inf",
    "lat=-90",
    "long=180.0001",
    "phone=",
    "phone=%2B81+3+1234+5678",
    "phone=8+(856)+412-34-56",
    "address_id=",
    "address_string=",
    "first_name=",
    "last_name=",
    "attribute[x]=",
    "jurisdiction_id=",
    "api_key=",
    "&&",
    "==",
    "\u{0}",
    "\u{ff}",
];

/// The trimmed, non-blank values given for `name`.
fn given(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

fn agrees(pairs: &[(String, String)], name: &str, parsed: Option<&str>) -> Result<(), TestCaseError> {
    let values = given(pairs, name);
    prop_assert!(values.len() <= 1, "{} given {} times, yet accepted", name, values.len());
    prop_assert_eq!(values.first().map(String::as_str), parsed, "{}", name);
    Ok(())
}

fn check_accepted(body: &[u8], p: &PostedRequest) -> Result<(), TestCaseError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).expect("an accepted body is a form");
    prop_assert_eq!(Code::parse(p.service_code.as_str()).ok(), Some(p.service_code.clone()));
    agrees(&pairs, "service_code", Some(p.service_code.as_str()))?;
    agrees(&pairs, "description", Some(p.description.as_str()))?;
    prop_assert!(p.description.chars().count() <= 8192);
    for (name, value) in [
        ("api_key", &p.api_key),
        ("email", &p.email),
        ("device_id", &p.device_id),
        ("account_id", &p.account_id),
        ("media_url", &p.media_url),
    ] {
        agrees(&pairs, name, value.as_deref())?;
    }
    match &p.location {
        Location::Point { lat, lon } => {
            prop_assert!((-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lon), "{lat},{lon}");
        }
        Location::AddressId(id) => {
            prop_assert!(given(&pairs, "lat").is_empty() && given(&pairs, "long").is_empty());
            agrees(&pairs, "address_id", Some(id))?;
        }
        Location::AddressString(s) => {
            prop_assert!(given(&pairs, "address_id").is_empty());
            agrees(&pairs, "address_string", Some(s))?;
        }
    }
    if let Some(name) = &p.name {
        prop_assert!(!name.is_empty() && name.chars().count() <= 200);
    }
    if let Some(phone) = &p.phone {
        prop_assert_eq!(Phone::parse(phone.as_str()).ok(), Some(phone.clone()), "normalized");
        let typed = &given(&pairs, "phone")[0];
        if typed.starts_with('+') {
            let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
            prop_assert_eq!(phone.as_str(), format!("+{digits}"), "a country code is kept");
        }
    }
    Ok(())
}

fn check_form(body: &[u8]) -> Result<(), TestCaseError> {
    match parse_post(body) {
        Ok(p) => check_accepted(body, &p),
        Err(Open311Error::BadRequest(m)) => {
            prop_assert!(!m.trim().is_empty());
            Ok(())
        }
        Err(e) => {
            prop_assert!(false, "not a bad request: {e:?}");
            Ok(())
        }
    }
}

#[test]
fn every_corpus_form_parses_or_is_refused_cleanly() {
    let mut accepted = 0;
    for (name, bytes) in corpus("open311") {
        check_form(&bytes).unwrap_or_else(|e| panic!("open311/{name}: {e}"));
        accepted += usize::from(parse_post(&bytes).is_ok());
    }
    assert!(accepted >= 3, "the corpus starts from real forms");
}

/// A form field: a spec field or not, with a plausible, an edge, or any value.
fn pair() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        6 => proptest::sample::select(FIELDS).prop_map(str::to_string),
        1 => Just("attribute[x]".to_string()),
        1 => "\\PC{0,8}",
    ];
    let value = prop_oneof![
        3 => proptest::sample::select(
            &["water-leak", "g001-001", "48.3", "38.05", "-90", "180", "Течёт кран", "8 (856) 412-34-56",
              "+81 3 1234 5678", "a@b.c", "  ", "NaN", "inf", "1e999", "0x10"][..]
        )
        .prop_map(str::to_string),
        2 => "\\PC{0,24}",
        // Around the length limit, counted in characters, not bytes.
        1 => (8190..8195usize).prop_map(|n| "я".repeat(n)),
    ];
    (name, value)
}

/// Phones as people type them, domestic and international, and not phones.
const PHONES: &[&str] = &[
    "8 (856) 412-34-56",
    "+7 856 4123456",
    "+81 3 1234 5678",
    "+86 10 6552 9988",
    "+44 20 7946 0958",
    "+1 (212) 555-0100",
    "8-800-555-35-35",
    "12345",
    "call me",
];

/// A form that holds what the spec requires, most of the time, plus anything.
fn form() -> impl Strategy<Value = Vec<u8>> {
    let required = proptest::option::weighted(
        0.7,
        (
            proptest::sample::select(&["water-leak", "pothole", "x", " street-light "][..]),
            prop_oneof![
                (-90.0..=90.0f64, -180.0..=180.0f64)
                    .prop_map(|(a, b)| vec![("lat", a.to_string()), ("long", b.to_string())]),
                Just(vec![("address_id", "g001-001".to_string())]),
                Just(vec![("address_string", "ул. Пушкинская 3".to_string())]),
            ],
            proptest::sample::select(&["Течёт кран", " d ", "Pothole"][..]),
            proptest::option::of(proptest::sample::select(PHONES)),
        ),
    );
    (required, proptest::collection::vec(pair(), 0..8)).prop_map(|(required, extra)| {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some((code, location, description, phone)) = required {
            pairs.push(("service_code".into(), code.into()));
            pairs.extend(location.into_iter().map(|(k, v)| (k.to_string(), v)));
            pairs.push(("description".into(), description.into()));
            pairs.extend(phone.map(|p| ("phone".to_string(), p.to_string())));
        }
        pairs.extend(extra);
        serde_urlencoded::to_string(pairs).expect("pairs encode").into_bytes()
    })
}

#[test]
fn random_forms_parse_or_are_refused_cleanly() {
    let raw = proptest::collection::vec(any::<u8>(), 0..200);
    fuzz(cases(3000), prop_oneof![4 => form(), 1 => raw], |body| check_form(&body));
}

#[test]
fn mutated_forms_parse_or_are_refused_cleanly() {
    let seeds = corpus("open311");
    fuzz(cases(3000), mutation(1..8), |m| check_form(&mutate(&seeds, TOKENS, &m)));
}
