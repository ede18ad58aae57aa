//! Shared fixtures for Kontakt's end-to-end tests and benchmarks.
//!
//! [`small_city`] builds a minimal but complete reference set (three
//! organizations, one category per deadline class, district-specific and
//! city-wide routing, an unrouted category, six buildings) that is fast to
//! load into a fresh store; the demo city is for the server.

// Library code handles its errors; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod app;
pub mod crash;
pub mod load;

use kontakt_workflow::Kontakt;
use kontakt_workflow::model::{
    Actor, Address, Category, Code, DeadlineClass, Organization, OrganizationKind, RoutingRule, Subordination,
};

/// The organizations of [`small_city`].
pub const ORGS: [&str; 3] = ["res", "zhek", "water"];
/// The districts of [`small_city`].
pub const DISTRICTS: [&str; 2] = ["Север", "Юг"];

/// The `i`-th of a run of cards for the demo city: one of three categories
/// at one of its first twenty buildings, from a caller who gave a name only.
pub fn demo_card(i: usize) -> kontakt_workflow::NewRequest {
    kontakt_workflow::NewRequest {
        category: code(["power-outage-building", "roof-leak", "pothole"][i % 3]),
        address: kontakt_workflow::service::AddressPoint::Id(format!("g{:03}-001", i % 20 + 1)),
        description: format!("Обращение {i}"),
        channel: kontakt_workflow::model::Channel::Phone,
        applicant: kontakt_workflow::Applicant {
            name: Some("Иванова Мария".into()),
            phone: None,
            callback_consent: false,
        },
        raise_reason: None,
        incident: None,
    }
}

/// Parses a code known to be valid.
pub fn code(s: &str) -> Code {
    Code::parse(s).expect("fixture codes are valid")
}

/// Loads the small city: `cat-0` (EMERGENCY → res), `cat-1` (SHORT → zhek in
/// Север, water in Юг), `cat-2` (MEDIUM → water), `cat-3` (LONG, unrouted),
/// and buildings `a0`..`a{buildings-1}` alternating between the districts.
pub fn small_city(k: &Kontakt, buildings: usize) -> Result<(), kontakt_workflow::DomainError> {
    let sys = Actor::system();
    for (i, id) in ORGS.iter().enumerate() {
        k.put_organization(
            &Organization {
                id: code(id),
                name_ru: id.to_string(),
                name_en: id.to_string(),
                kind: OrganizationKind::ALL[i],
                subordination: if i == 0 { Subordination::Regional } else { Subordination::City },
                district: None,
                crews: 3,
                phone: None,
            },
            &sys,
        )?;
    }
    for (i, class) in DeadlineClass::ALL.iter().enumerate() {
        let cat = format!("cat-{i}");
        k.put_category(
            &Category {
                code: code(&cat),
                group: "g".into(),
                name_ru: cat.clone(),
                name_en: cat.clone(),
                deadline_class: *class,
                script_ru: "до {deadline}".into(),
                script_en: "by {deadline}".into(),
                keywords: vec![],
            },
            &sys,
        )?;
        match i {
            0 => k.put_rule(
                &RoutingRule { category: code(&cat), district: None, organization: code("res") },
                &sys,
            )?,
            2 => k.put_rule(
                &RoutingRule { category: code(&cat), district: None, organization: code("water") },
                &sys,
            )?,
            1 => {
                for (d, org) in DISTRICTS.iter().zip(["zhek", "water"]) {
                    k.put_rule(
                        &RoutingRule {
                            category: code(&cat),
                            district: Some(d.to_string()),
                            organization: code(org),
                        },
                        &sys,
                    )?;
                }
            }
            _ => {}
        }
    }
    let addresses: Vec<Address> = (0..buildings)
        .map(|i| Address {
            id: code(&format!("a{i}")),
            street: format!("ул. Тестовая {}", i / 50),
            house: (i % 50 + 1).to_string(),
            district: DISTRICTS[i % 2].to_string(),
            lat: 48.3 + (i % 50) as f64 * 0.0003,
            lon: 38.05 + (i / 50) as f64 * 0.0005,
        })
        .collect();
    k.put_addresses(&addresses, &sys, &mut |_| {})?;
    Ok(())
}

/// The escalation steps in a request's history, oldest first: what the
/// exactly-once checks of the ladder compare.
pub fn steps_of(k: &Kontakt, id: kontakt_workflow::model::RequestId) -> Vec<&'static str> {
    k.history(id)
        .expect("the request's history reads")
        .iter()
        .filter(|e| matches!(e.kind, kontakt_workflow::EventKind::Escalation { .. }))
        .map(|e| e.kind.name())
        .collect()
}
