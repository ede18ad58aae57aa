//! Reference data in CSV: the formats `kontakt import` reads and the demo city
//! ships in (see `workflow/data/README.md`). Each row is parsed into the
//! domain's types; a bad row is refused with its line number, and nothing of a
//! file with a bad row is loaded.

use serde::Deserialize;

use crate::DomainError;
use crate::model::{
    Address, Category, Code, DeadlineClass, Organization, OrganizationKind, RoutingRule, Subordination,
};

/// Reads every row of `csv_text` as `R` and converts it with `convert`;
/// the first bad row refuses the whole file, naming its line.
fn parse_rows<R, T>(
    csv_text: &str,
    what: &str,
    convert: impl Fn(R) -> Result<T, DomainError>,
) -> Result<Vec<T>, DomainError>
where
    R: for<'de> Deserialize<'de>,
{
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(csv_text.as_bytes());
    let mut out = Vec::new();
    for row in reader.deserialize::<R>() {
        let line = out.len() as u64 + 2;
        let row = row.map_err(|e| {
            let line = e.position().map_or(line, |p| p.line());
            DomainError::Validation(format!("{what}, line {line}: {e}"))
        })?;
        out.push(convert(row).map_err(|e| DomainError::Validation(format!("{what}, line {line}: {e}")))?);
    }
    Ok(out)
}

fn non_empty(field: &str, v: String) -> Result<String, DomainError> {
    if v.trim().is_empty() { Err(DomainError::Validation(format!("{field} is empty"))) } else { Ok(v) }
}

fn optional(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

#[derive(Deserialize)]
struct OrgRow {
    id: String,
    name_ru: String,
    name_en: String,
    kind: String,
    subordination: String,
    district: Option<String>,
    crews: u32,
    phone: Option<String>,
}

/// Parses `organizations.csv`: `id,name_ru,name_en,kind,subordination,district,crews,phone`.
pub fn parse_organizations(text: &str) -> Result<Vec<Organization>, DomainError> {
    let what = "organizations";
    parse_rows(text, what, |r: OrgRow| {
        Ok(Organization {
            id: Code::parse(&r.id)?,
            name_ru: non_empty("name_ru", r.name_ru)?,
            name_en: non_empty("name_en", r.name_en)?,
            kind: r.kind.parse::<OrganizationKind>()?,
            subordination: r.subordination.parse::<Subordination>()?,
            district: optional(r.district),
            crews: r.crews,
            phone: optional(r.phone),
        })
    })
}

#[derive(Deserialize)]
struct CategoryRow {
    code: String,
    group: String,
    name_ru: String,
    name_en: String,
    deadline_class: String,
    script_ru: String,
    script_en: String,
    #[serde(default)]
    keywords: Option<String>,
}

/// Parses `categories.csv`: `code,group,name_ru,name_en,deadline_class,script_ru,script_en`
/// and an optional `keywords` column (words separated by `;`).
pub fn parse_categories(text: &str) -> Result<Vec<Category>, DomainError> {
    let what = "categories";
    parse_rows(text, what, |r: CategoryRow| {
        Ok(Category {
            code: Code::parse(&r.code)?,
            group: non_empty("group", r.group)?,
            name_ru: non_empty("name_ru", r.name_ru)?,
            name_en: non_empty("name_en", r.name_en)?,
            deadline_class: r.deadline_class.parse::<DeadlineClass>()?,
            script_ru: non_empty("script_ru", r.script_ru)?,
            script_en: non_empty("script_en", r.script_en)?,
            keywords: keywords(r.keywords.as_deref().unwrap_or("").split(';')),
        })
    })
}

#[derive(Deserialize)]
struct RuleRow {
    category: String,
    district: Option<String>,
    organization: String,
}

/// Parses `routing.csv`: `category,district,organization` (empty district: whole city).
pub fn parse_rules(text: &str) -> Result<Vec<RoutingRule>, DomainError> {
    let what = "routing";
    parse_rows(text, what, |r: RuleRow| {
        Ok(RoutingRule {
            category: Code::parse(&r.category)?,
            district: optional(r.district),
            organization: Code::parse(&r.organization)?,
        })
    })
}

#[derive(Deserialize)]
struct AddressRow {
    id: String,
    street: String,
    house: String,
    district: String,
    lat: f64,
    lon: f64,
}

/// Parses an address registry: `id,street,house,district,lat,lon`.
pub fn parse_addresses(text: &str) -> Result<Vec<Address>, DomainError> {
    let what = "addresses";
    parse_rows(text, what, |r: AddressRow| {
        if !(-90.0..=90.0).contains(&r.lat) || !(-180.0..=180.0).contains(&r.lon) {
            return Err(DomainError::Validation(format!("({}, {}) is not a point on Earth", r.lat, r.lon)));
        }
        Ok(Address {
            id: Code::parse(&r.id)?,
            street: non_empty("street", r.street)?,
            house: non_empty("house", r.house)?,
            district: non_empty("district", r.district)?,
            lat: r.lat,
            lon: r.lon,
        })
    })
}

#[derive(Deserialize)]
struct NormRow {
    category: String,
    crew_hours: f64,
    vehicle_hours: f64,
    #[serde(default)]
    materials: Option<String>,
}

/// Parses `norms.csv`: `category,crew_hours,vehicle_hours,materials`, where
/// materials are `name:unit:quantity` separated by `;`.
pub fn parse_norms(text: &str) -> Result<Vec<crate::capacity::CategoryNorm>, DomainError> {
    parse_rows(text, "norms", |r: NormRow| {
        let mut materials = Vec::new();
        for m in r.materials.as_deref().unwrap_or("").split(';').filter(|m| !m.trim().is_empty()) {
            let parts: Vec<&str> = m.split(':').map(str::trim).collect();
            let [name, unit, qty] = parts.as_slice() else {
                return Err(DomainError::Validation(format!("material {m:?} is not name:unit:quantity")));
            };
            let per_request = qty
                .parse::<f64>()
                .map_err(|_| DomainError::Validation(format!("quantity {qty:?} is not a number")))?;
            materials.push(crate::capacity::MaterialNorm {
                name: name.to_string(),
                unit: unit.to_string(),
                per_request,
            });
        }
        let norm = crate::capacity::CategoryNorm {
            category: Code::parse(&r.category)?,
            crew_hours: r.crew_hours,
            vehicle_hours: r.vehicle_hours,
            materials,
        };
        norm.validate()?;
        Ok(norm)
    })
}

/// A street of the demo city's generator.
#[derive(Debug, Clone, Deserialize)]
pub struct StreetRow {
    /// District.
    pub district: String,
    /// Street name with its type.
    pub street: String,
    /// Where house 1 stands.
    pub start_lat: f64,
    /// Where house 1 stands.
    pub start_lon: f64,
    /// The direction of growing house numbers, degrees from north.
    pub bearing_deg: f64,
    /// How many buildings.
    pub houses: u32,
}

/// Parses `streets.csv`.
pub fn parse_streets(text: &str) -> Result<Vec<StreetRow>, DomainError> {
    parse_rows(text, "streets", |r: StreetRow| Ok(r))
}

/// Keywords as stored: trimmed, lower-case, without blanks or repeats.
pub fn keywords<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words {
        let w = w.trim().to_lowercase();
        if !w.is_empty() && w.chars().count() <= 60 && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_row_is_refused_with_its_line() {
        let text = "id,name_ru,name_en,kind,subordination,district,crews,phone\n\
                    ok,Имя,Name,WATER,CITY,,3,\n\
                    bad,Имя,Name,SPACESHIP,CITY,,3,\n";
        let err = parse_organizations(text).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("SPACESHIP"), "{err}");
    }

    #[test]
    fn norms_read_their_materials_and_refuse_bad_ones() {
        let text = "category,crew_hours,vehicle_hours,materials\n\
                    pothole,3,3,асфальтобетон:т:0.8;эмульсия:кг:5\n\
                    gas-smell,2,1.5,\n";
        let norms = parse_norms(text).unwrap();
        assert_eq!(norms[0].materials.len(), 2);
        assert_eq!(norms[0].materials[0].per_request, 0.8);
        assert!(norms[1].materials.is_empty());
        let bad = "category,crew_hours,vehicle_hours,materials\npothole,3,3,асфальт:т\n";
        assert!(parse_norms(bad).unwrap_err().to_string().contains("line 2"));
        let negative = "category,crew_hours,vehicle_hours,materials\npothole,-1,3,\n";
        assert!(parse_norms(negative).is_err());
        assert_eq!(parse_norms(crate::demo::NORMS_CSV).unwrap().len(), 37, "the demo's norms read");
    }

    #[test]
    fn addresses_off_the_planet_are_refused() {
        let text = "id,street,house,district,lat,lon\na1,ул. Мира,1,Центр,91.0,38.0\n";
        assert!(parse_addresses(text).is_err());
    }
}
