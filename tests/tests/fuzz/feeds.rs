//! The emergency feed parsers, `parse_cap` and `parse_json`.
//!
//! Invariants of an accepted document: parsing is a pure function (twice the
//! same answer); every report names the feed it came from; a CAP report has
//! an event and a title; a JSON document holds exactly the incidents it
//! lists, under their own ids. A report is then either refused by the
//! domain's own check with a validation message, or it is storable: its area
//! is on Earth, survives the store's JSON encoding unchanged, and answers
//! coverage questions without panicking. A refused document says why.

use kontakt_workflow::DomainError;
use kontakt_workflow::incidents::IncidentReport;
use kontakt_workflow::incidents::area::Area;
use kontakt_workflow::incidents::feeds::{FeedError, parse_cap, parse_json};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use super::feed_docs::{cap_document, json_document};
use super::{cases, corpus, fuzz, mutate, mutation};

const SOURCE: &str = "fuzz-feed";

/// Tokens worth inserting into CAP documents: structure, entities, and values at the edges.
const CAP_TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x10FFFF;",
    "&undefined;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE alert>",
    "\"",
    "'",
    "=",
    " ",
    "\u{0}",
    "\u{feff}",
    "<info>",
    "</info>",
    "<area>",
    "</area>",
    "<polygon>",
    "</polygon>",
    "<circle>",
    "</circle>",
    "<geocode><valueName>kontakt:street</valueName><value>",
    "</value></geocode>",
    "<msgType>Cancel</msgType>",
    "<msgType>Update</msgType>",
    "<status>Actual</status>",
    "<references>a,b,c</references>",
    "<references>,,</references>",
    ",",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "-0",
    "90",
    "-90.0001",
    "180.5",
    "48.3,38.05 ",
    "48.3,38.05 48.4,38.05 48.4,38.1 48.3,38.05",
    "2026-11-30T09:00:00+03:00",
    "9999-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z",
    "xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"",
    "kontakt:organization",
    "kontakt:address",
    "Ω",
    "ж",
    "\u{202e}",
];

/// Tokens worth inserting into JSON documents.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "1e309",
    "-0",
    "NaN",
    "\"incidents\"",
    "\"id\"",
    "\"title\"",
    "\"kind\"",
    "\"organization\"",
    "\"addresses\"",
    "\"streets\"",
    "\"polygon\"",
    "\"circle\"",
    "\"radiusKm\"",
    "\"started\"",
    "\"expectedEnd\"",
    "\"ended\"",
    "\"resolution\"",
    "\"areaDescription\"",
    "\"colour\"",
    "[48.3,38.05]",
    "[91,0]",
    "{\"lat\":48.3}",
    "\"2026-11-30T09:00:00Z\"",
    "\"9999-12-31T23:59:59Z\"",
    "\"not a time\"",
    "\"Ω\"",
    " ",
];

/// Everything checked of a report that came out of a parser.
fn storable_or_refused(r: &IncidentReport) -> Result<(), TestCaseError> {
    prop_assert_eq!(&r.source, SOURCE);
    match r.validate() {
        Ok(()) => {
            let on_earth =
                |lat: f64, lon: f64| (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
            for ring in &r.area.polygons {
                prop_assert!(ring.len() >= 3 && ring.iter().all(|(lat, lon)| on_earth(*lat, *lon)));
            }
            for c in &r.area.circles {
                prop_assert!(on_earth(c.lat, c.lon) && (0.0..=500.0).contains(&c.radius_km));
            }
            let stored: Area = serde_json::from_str(&serde_json::to_string(&r.area).unwrap()).unwrap();
            prop_assert_eq!(&stored, &r.area, "the area survives the store's encoding");
            r.area.covers_point(48.3, 38.05);
            r.area.covers_point(-90.0, 180.0);
            prop_assert!(!r.id().is_empty());
        }
        Err(DomainError::Validation(m)) => prop_assert!(!m.is_empty()),
        Err(e) => prop_assert!(false, "validation answered {e:?}"),
    }
    Ok(())
}

fn clean_refusal(e: &FeedError) -> Result<(), TestCaseError> {
    let (FeedError::Malformed(m) | FeedError::WrongSchema(m)) = e;
    prop_assert!(!m.trim().is_empty(), "a refusal says why: {e:?}");
    Ok(())
}

fn check_cap(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    let parsed = parse_cap(SOURCE, &text);
    // Compared as text: a NaN that slipped through would not equal itself.
    prop_assert_eq!(format!("{parsed:?}"), format!("{:?}", parse_cap(SOURCE, &text)), "parsing is pure");
    match parsed {
        Ok(Some(r)) => {
            prop_assert!(!r.kind.is_empty() && r.kind == r.kind.trim(), "an event: {:?}", r.kind);
            prop_assert!(!r.title.is_empty() && r.title == r.title.trim(), "a title: {:?}", r.title);
            if let Some(ended) = &r.ended {
                prop_assert!(!ended.resolution.trim().is_empty(), "a cancel says what to tell callers");
            }
            storable_or_refused(&r)
        }
        Ok(None) => Ok(()),
        Err(e) => clean_refusal(&e),
    }
}

fn check_json(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    let parsed = parse_json(SOURCE, &text);
    prop_assert_eq!(format!("{parsed:?}"), format!("{:?}", parse_json(SOURCE, &text)), "parsing is pure");
    match parsed {
        Ok(reports) => {
            let doc: Value = serde_json::from_str(&text).expect("an accepted document is JSON");
            let listed = doc.as_array().or_else(|| doc["incidents"].as_array()).expect("a list of incidents");
            prop_assert_eq!(listed.len(), reports.len());
            for (item, r) in listed.iter().zip(&reports) {
                prop_assert_eq!(item["id"].as_str(), Some(r.identifier.as_str()));
                storable_or_refused(r)?;
            }
            Ok(())
        }
        Err(e) => clean_refusal(&e),
    }
}

#[test]
fn every_corpus_document_parses_or_is_refused_cleanly() {
    let mut accepted = 0;
    for (name, bytes) in corpus("cap") {
        check_cap(&bytes).unwrap_or_else(|e| panic!("cap/{name}: {e}"));
        accepted += usize::from(matches!(parse_cap(SOURCE, &String::from_utf8_lossy(&bytes)), Ok(Some(_))));
    }
    assert!(accepted >= 4, "the CAP corpus starts from real alerts");
    accepted = 0;
    for (name, bytes) in corpus("json") {
        check_json(&bytes).unwrap_or_else(|e| panic!("json/{name}: {e}"));
        accepted +=
            usize::from(parse_json(SOURCE, &String::from_utf8_lossy(&bytes)).is_ok_and(|r| !r.is_empty()));
    }
    assert!(accepted >= 2, "the JSON corpus starts from real feeds");
}

#[test]
fn random_cap_documents_parse_or_are_refused_cleanly() {
    fuzz(cases(3000), prop_oneof![4 => cap_document(), 1 => "\\PC{0,200}"], |doc| check_cap(doc.as_bytes()));
}

#[test]
fn random_json_documents_parse_or_are_refused_cleanly() {
    fuzz(cases(3000), prop_oneof![4 => json_document(), 1 => "\\PC{0,200}"], |doc| {
        check_json(doc.as_bytes())
    });
}

#[test]
fn mutated_cap_documents_parse_or_are_refused_cleanly() {
    let seeds = corpus("cap");
    fuzz(cases(3000), mutation(1..8), |m| check_cap(&mutate(&seeds, CAP_TOKENS, &m)));
}

#[test]
fn mutated_json_documents_parse_or_are_refused_cleanly() {
    let seeds = corpus("json");
    fuzz(cases(3000), mutation(1..8), |m| check_json(&mutate(&seeds, JSON_TOKENS, &m)));
}
