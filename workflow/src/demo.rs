//! The demo city: Gorlovka's organizations, categories, routing and an address
//! registry, loadable into an empty store.
//!
//! Organizations, categories and routing ship as CSV in `workflow/data/` (the
//! same formats `kontakt import` reads). Buildings are generated
//! deterministically from `streets.csv`: house *n* of a street stands 60 m
//! further along the street's bearing, odd numbers on one side, even on the other.

use crate::capacity::WorkingHours;
use crate::model::{Actor, Address, Code, OrganizationKind};
use crate::reference::{self, StreetRow};
use crate::{DomainError, Kontakt};

/// The demo organizations.
pub const ORGANIZATIONS_CSV: &str = include_str!("../data/organizations.csv");
/// The demo categories with scripts.
pub const CATEGORIES_CSV: &str = include_str!("../data/categories.csv");
/// The demo routing rules.
pub const ROUTING_CSV: &str = include_str!("../data/routing.csv");
/// Crew-hours, vehicle-hours and materials per request of the demo's categories.
pub const NORMS_CSV: &str = include_str!("../data/norms.csv");
/// The streets the demo registry is generated from.
pub const STREETS_CSV: &str = include_str!("../data/streets.csv");

/// What [`load`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Organizations.
    pub organizations: usize,
    /// Categories.
    pub categories: usize,
    /// Routing rules.
    pub rules: usize,
    /// Buildings.
    pub addresses: usize,
}

/// Generates the demo address registry.
pub fn addresses() -> Result<Vec<Address>, DomainError> {
    let streets = reference::parse_streets(STREETS_CSV)?;
    let mut out = Vec::new();
    for (s, street) in streets.iter().enumerate() {
        out.extend(street_addresses(s, street)?);
    }
    Ok(out)
}

fn street_addresses(index: usize, street: &StreetRow) -> Result<Vec<Address>, DomainError> {
    const STEP_M: f64 = 30.0; // two houses (odd and even) per 60 m
    const SIDE_M: f64 = 20.0;
    let bearing = street.bearing_deg.to_radians();
    let m_per_deg_lat = 111_320.0;
    let m_per_deg_lon = 111_320.0 * street.start_lat.to_radians().cos();
    (1..=street.houses)
        .map(|n| {
            let along = STEP_M * f64::from(n);
            let side = if n % 2 == 1 { SIDE_M } else { -SIDE_M };
            let north = along * bearing.cos() - side * bearing.sin();
            let east = along * bearing.sin() + side * bearing.cos();
            // Every seventh building has a letter: real registries do.
            let house = if n % 7 == 0 { format!("{n}А") } else { n.to_string() };
            Ok(Address {
                id: Code::parse(&format!("g{:03}-{:03}", index + 1, n))?,
                street: street.street.clone(),
                house,
                district: street.district.clone(),
                lat: round6(street.start_lat + north / m_per_deg_lat),
                lon: round6(street.start_lon + east / m_per_deg_lon),
            })
        })
        .collect()
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Loads the demo city unless it was loaded before; returns what it wrote
/// (`None` when the city was already there). Every write is idempotent and the
/// completion mark is written last, so a crash halfway loads again next time.
pub fn load(kontakt: &Kontakt) -> Result<Option<Loaded>, DomainError> {
    if kontakt.marker(DEMO_MARK)?.is_some() {
        return Ok(None);
    }
    let organizations = reference::parse_organizations(ORGANIZATIONS_CSV)?;
    let categories = reference::parse_categories(CATEGORIES_CSV)?;
    let rules = reference::parse_rules(ROUTING_CSV)?;
    let addresses = addresses()?;
    kontakt.put_addresses(&addresses, &Actor::system(), &mut |_| {})?;
    for c in &categories {
        kontakt.put_category(c, &Actor::system())?;
    }
    for o in &organizations {
        kontakt.put_organization(o, &Actor::system())?;
    }
    for r in &rules {
        kontakt.put_rule(r, &Actor::system())?;
    }
    for o in &organizations {
        // Utilities keep crews on duty around the clock; the others work
        // 08–20 every day, so a one-day deadline set on Friday night can be met.
        let hours = match o.kind {
            OrganizationKind::ElectricGrid | OrganizationKind::Water | OrganizationKind::Heating => {
                WorkingHours::around_the_clock()
            }
            _ => WorkingHours {
                start_hour: 8,
                end_hour: 20,
                days: 0b111_1111,
                around_the_clock_for_emergencies: true,
            },
        };
        kontakt.set_working_hours(o.id.as_str(), hours, &Actor::system())?;
    }
    for n in reference::parse_norms(NORMS_CSV)? {
        kontakt.set_category_norm(&n, &Actor::system())?;
    }
    kontakt.set_marker(DEMO_MARK, "gorlovka")?;
    Ok(Some(Loaded {
        organizations: organizations.len(),
        categories: categories.len(),
        rules: rules.len(),
        addresses: addresses.len(),
    }))
}

/// The marker recording that the demo city is loaded.
pub const DEMO_MARK: &str = "demo-city";
