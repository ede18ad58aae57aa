//! Reference data in the store: organizations, categories, routing rules and
//! the address registry, with the indexes that autocomplete and geography use.
//!
//! Address index layouts:
//! - `"aw" token:str id:str` — each word of the label, lowercased, for prefix search;
//! - `"ag" cell_lat:i64 cell_lon:i64 id:str` — a 0.01° grid cell, for "nearest
//!   building" and area queries;
//! - `"as" street:str house:str id:str` — normalized street and house, for
//!   matching a feed's street list.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kontakt_storage::{Expect, KeyBuilder, Put, RecordKey, Transaction};
use serde::de::DeserializeOwned;

use super::{Kontakt, decode, encode};
use crate::DomainError;
use crate::model::{Actor, Address, Category, Organization, RoutingRule, UNCONFIRMED_PREFIX};
use crate::refdata::{self, RefCommand, RefRecord};
use crate::tokens::{self, TokenCommand, TokenRecord};

pub(super) const ORGS: &str = "org";
pub(super) const CATEGORIES: &str = "cat";
pub(super) const RULES: &str = "rule";
pub(super) const ADDRESSES: &str = "addr";
const MARKERS: &str = "mark";
pub(super) const REVOKED: &str = "revoked";
const TOKENS: &str = "token";
/// Grid cells per degree for the address geo index.
const CELLS_PER_DEGREE: f64 = 100.0;

/// Reference data held in memory: small, read on every registration and every
/// token check, written rarely. This process is the store's only writer, so
/// clearing the cache on each write keeps it exact.
#[derive(Debug, Default)]
pub(crate) struct Reference {
    organizations: BTreeMap<String, Organization>,
    categories: BTreeMap<String, Category>,
    rules: Vec<RoutingRule>,
    revoked: HashSet<String>,
}

/// Where a card is: a registry entry, or a point on the map.
#[derive(Debug, Clone, PartialEq)]
pub enum AddressPoint {
    /// A registry entry by code.
    Id(String),
    /// Coordinates; the nearest registered building is taken.
    Point {
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
    },
    /// An address the registry does not have, as the caller said it: the
    /// card carries "address unconfirmed" until a building is attached.
    Unconfirmed {
        /// The address in words.
        text: String,
        /// The district, for routing.
        district: String,
        /// A point picked on the map, if any.
        point: Option<(f64, f64)>,
    },
}

/// Lowercases, folds `ё` to `е` and splits on anything but letters and digits.
pub fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('ё', "е")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The normalized form of a street or house for exact matching.
pub fn normalize(text: &str) -> String {
    tokens(text).join(" ")
}

fn cell(lat: f64, lon: f64) -> (i64, i64) {
    ((lat * CELLS_PER_DEGREE).floor() as i64, (lon * CELLS_PER_DEGREE).floor() as i64)
}

pub(super) fn address_keys(a: &Address) -> Vec<Vec<u8>> {
    let id = a.id.as_str();
    let mut keys: Vec<Vec<u8>> =
        tokens(&a.label()).into_iter().map(|t| KeyBuilder::index("aw").str(&t).str(id).build()).collect();
    let (clat, clon) = cell(a.lat, a.lon);
    keys.push(KeyBuilder::index("ag").i64(clat).i64(clon).str(id).build());
    keys.push(KeyBuilder::index("as").str(&normalize(&a.street)).str(&normalize(&a.house)).str(id).build());
    keys.sort();
    keys.dedup();
    keys
}

/// Distance in metres between two points (equirectangular; fine at city scale).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let x = (lon2 - lon1).to_radians() * ((lat1 + lat2) / 2.0).to_radians().cos();
    let y = (lat2 - lat1).to_radians();
    (x * x + y * y).sqrt() * 6_371_000.0
}

impl Kontakt {
    fn put_reference<T: serde::Serialize>(
        &self,
        collection: &str,
        id: &str,
        value: &T,
        index: Vec<Vec<u8>>,
    ) -> Result<(), DomainError> {
        self.store.commit(Transaction::single(Put {
            key: RecordKey::new(collection, id.as_bytes()),
            expect: Expect::Any,
            body: Some(encode(value)?),
            index,
            events: vec![],
        }))?;
        self.forget_reference();
        Ok(())
    }

    /// Drops the cached reference data; the next read loads it afresh.
    pub(super) fn forget_reference(&self) {
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub(super) fn all<T: DeserializeOwned>(&self, collection: &str) -> Result<Vec<T>, DomainError> {
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.store.scan_collection(collection, after.as_deref(), 1000)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.id().to_vec());
            for (_, stored) in &page {
                out.push(decode(&stored.body)?);
            }
        }
        Ok(out)
    }

    fn one<T: DeserializeOwned>(&self, collection: &str, id: &str) -> Result<Option<T>, DomainError> {
        match self.store.get(&RecordKey::new(collection, id.as_bytes()))? {
            Some(s) => Ok(Some(decode(&s.body)?)),
            None => Ok(None),
        }
    }

    /// A named marker's value (settings and one-time steps such as the demo load).
    pub fn marker(&self, name: &str) -> Result<Option<String>, DomainError> {
        self.one(MARKERS, name)
    }

    /// Sets a named marker.
    pub fn set_marker(&self, name: &str, value: &str) -> Result<(), DomainError> {
        self.put_reference(MARKERS, name, &value, vec![])
    }

    /// Records a token just issued, with who issued it.
    pub fn record_token(&self, command: &TokenCommand, actor: &Actor) -> Result<TokenRecord, DomainError> {
        let TokenCommand::Issue { jti, .. } = command else {
            return Err(DomainError::Validation("only an issued token is recorded".into()));
        };
        check_jti(jti)?;
        let events = tokens::decide(None, command, actor, self.now())?;
        let record = events
            .iter()
            .fold(None, tokens::apply)
            .ok_or_else(|| DomainError::Validation("the token was not recorded".into()))?;
        let logged = token_change(refdata::RefChange::Issued, &record, actor, self.now())?;
        self.commit_logged(
            vec![Put {
                key: RecordKey::new(TOKENS, jti.as_bytes()),
                expect: Expect::Absent,
                body: Some(encode(&record)?),
                index: vec![],
                events: events.iter().map(encode).collect::<Result<_, _>>()?,
            }],
            vec![(refdata::RefKind::Token, jti.clone(), vec![logged])],
        )?;
        Ok(record)
    }

    /// Puts a token id on the deny-list, and its record (if it has one) says
    /// who revoked it, in one atomic write; true when it was not revoked before.
    pub fn revoke(&self, jti: &str, actor: &Actor) -> Result<bool, DomainError> {
        let jti = jti.trim();
        check_jti(jti)?;
        if self.is_revoked(jti)? {
            return Ok(false);
        }
        let at = self.now();
        let record_key = RecordKey::new(TOKENS, jti.as_bytes());
        let stored = self.store.get(&record_key)?;
        let record: Option<TokenRecord> = stored.as_ref().map(|s| decode(&s.body)).transpose()?;
        let events = tokens::decide(record.as_ref(), &TokenCommand::Revoke, actor, at)?;
        let encoded: Vec<Vec<u8>> = events.iter().map(encode).collect::<Result<_, _>>()?;
        let mut puts = vec![Put {
            key: RecordKey::new(REVOKED, jti.as_bytes()),
            expect: Expect::Any,
            body: Some(encode(&at)?),
            index: vec![],
            // A token issued before tokens were recorded keeps its audit here.
            events: if record.is_none() { encoded.clone() } else { vec![] },
        }];
        let mut log = Vec::new();
        if let (Some(s), Some(r)) = (&stored, record) {
            let after = events.iter().fold(Some(r), tokens::apply);
            if let Some(a) = &after {
                log.push(token_change(refdata::RefChange::Revoked, a, actor, at)?);
            }
            puts.push(Put {
                key: record_key,
                expect: Expect::Version(s.version),
                body: after.as_ref().map(encode).transpose()?,
                index: vec![],
                events: encoded,
            });
        }
        self.commit_logged(puts, vec![(refdata::RefKind::Token, jti.to_string(), log)])?;
        self.forget_reference();
        Ok(true)
    }

    /// Recorded tokens, newest first (ids are ULIDs), at most `limit`.
    pub fn tokens(&self, limit: usize) -> Result<Vec<TokenRecord>, DomainError> {
        let mut out = Vec::new();
        for key in self.store.scan_ids_rev(TOKENS, &[], &[0xff; 40], limit)? {
            if let Some(s) = self.store.get(&key)? {
                out.push(decode(&s.body)?);
            }
        }
        Ok(out)
    }

    /// True when the token id is on the deny-list.
    pub fn is_revoked(&self, jti: &str) -> Result<bool, DomainError> {
        Ok(self.reference()?.revoked.contains(jti))
    }

    /// The cached reference data, loaded from the store when a write cleared it.
    fn reference(&self) -> Result<Arc<Reference>, DomainError> {
        if let Some(r) = self.cache.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(r.clone());
        }
        let loaded = Arc::new(Reference {
            organizations: self
                .all::<Organization>(ORGS)?
                .into_iter()
                .map(|o| (o.id.to_string(), o))
                .collect(),
            categories: self
                .all::<Category>(CATEGORIES)?
                .into_iter()
                .map(|c| (c.code.to_string(), c))
                .collect(),
            rules: self.all(RULES)?,
            revoked: self
                .store
                .scan_collection(REVOKED, None, usize::MAX)?
                .into_iter()
                .map(|(k, _)| String::from_utf8_lossy(k.id()).into_owned())
                .collect(),
        });
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = Some(loaded.clone());
        Ok(loaded)
    }

    /// Adds or replaces an organization, recorded with who did it.
    pub fn put_organization(&self, org: &Organization, actor: &Actor) -> Result<(), DomainError> {
        self.change_reference(org.id.as_str(), RefCommand::Put(org.clone()), actor)?;
        Ok(())
    }

    /// Every organization, by code.
    pub fn organizations(&self) -> Result<Vec<Organization>, DomainError> {
        Ok(self.reference()?.organizations.values().cloned().collect())
    }

    /// One organization.
    pub fn organization(&self, id: &str) -> Result<Option<Organization>, DomainError> {
        Ok(self.reference()?.organizations.get(id).cloned())
    }

    /// Adds or replaces a category, recorded with who did it.
    pub fn put_category(&self, category: &Category, actor: &Actor) -> Result<(), DomainError> {
        self.change_reference(category.code.as_str(), RefCommand::Put(category.clone()), actor)?;
        Ok(())
    }

    /// Every category, by code.
    pub fn categories(&self) -> Result<Vec<Category>, DomainError> {
        Ok(self.reference()?.categories.values().cloned().collect())
    }

    /// One category.
    pub fn category(&self, code: &str) -> Result<Option<Category>, DomainError> {
        Ok(self.reference()?.categories.get(code).cloned())
    }

    /// Adds or replaces the rule for its category and district; refuses a rule
    /// naming an unknown category or organization. Recorded with who did it.
    pub fn put_rule(&self, rule: &RoutingRule, actor: &Actor) -> Result<(), DomainError> {
        if self.category(rule.category.as_str())?.is_none() {
            return Err(DomainError::Validation(format!("unknown category {}", rule.category)));
        }
        if self.organization(rule.organization.as_str())?.is_none() {
            return Err(DomainError::Validation(format!("unknown organization {}", rule.organization)));
        }
        self.change_reference(&rule.key(), RefCommand::Put(rule.clone()), actor)?;
        Ok(())
    }

    /// Removes the rule for a category and district; true when one existed.
    pub fn delete_rule(
        &self,
        category: &str,
        district: Option<&str>,
        actor: &Actor,
    ) -> Result<bool, DomainError> {
        let key = refdata::rule_key(category, district);
        match self.change_reference::<RoutingRule>(&key, RefCommand::Delete, actor) {
            Ok(_) => Ok(true),
            Err(DomainError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every routing rule.
    pub fn rules(&self) -> Result<Vec<RoutingRule>, DomainError> {
        Ok(self.reference()?.rules.clone())
    }

    /// The rules of one category.
    pub fn rules_for(&self, category: &str) -> Result<Vec<RoutingRule>, DomainError> {
        Ok(self.reference()?.rules.iter().filter(|r| r.category.as_str() == category).cloned().collect())
    }

    /// Adds or replaces registry entries, many per durable write, each
    /// recorded with who did it; `progress` hears how many are done.
    pub fn put_addresses(
        &self,
        addresses: &[Address],
        actor: &Actor,
        progress: &mut dyn FnMut(usize),
    ) -> Result<usize, DomainError> {
        self.put_references(addresses, actor, progress)?;
        Ok(addresses.len())
    }

    /// One registry entry.
    pub fn address(&self, id: &str) -> Result<Option<Address>, DomainError> {
        self.one(ADDRESSES, id)
    }

    /// Autocomplete: entries whose label has a word starting with each word of
    /// `query`; exact house matches first.
    pub fn search_addresses(&self, query: &str, limit: usize) -> Result<Vec<Address>, DomainError> {
        // «улица Горького 5» is «Горького 5»: the street's type word, written
        // any common way, is the same normaliser's the feeds match with.
        let typed = tokens(query);
        let named: Vec<String> = typed
            .iter()
            .filter(|w| !crate::incidents::area::is_street_type(w) && *w != "д" && *w != "дом")
            .cloned()
            .collect();
        // «пр» alone is the start of «Пролетарская», not a type word yet.
        let words = if named.is_empty() { typed } else { named };
        // Drive the scan by the longest word: it matches the fewest entries.
        let Some(lead) = words.iter().max_by_key(|w| w.chars().count()) else { return Ok(vec![]) };
        let prefix = KeyBuilder::index("aw").bytes(lead.as_bytes()).build();
        let entries = self.store.scan_range(&prefix, &kontakt_storage::prefix_end(&prefix), 2000)?;
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        for e in entries {
            if !seen.insert(e.record.clone()) {
                continue;
            }
            let Some(s) = self.store.get(&e.record)? else { continue };
            let a: Address = decode(&s.body)?;
            let label = tokens(&a.label());
            if words.iter().all(|w| label.iter().any(|t| t.starts_with(w.as_str()))) {
                found.push(a);
            }
        }
        let house_words: Vec<String> =
            words.iter().filter(|w| w.chars().any(|c| c.is_ascii_digit())).cloned().collect();
        found.sort_by(|a, b| {
            let exact = |x: &Address| !house_words.is_empty() && house_words.contains(&normalize(&x.house));
            exact(b)
                .cmp(&exact(a))
                .then_with(|| a.street.cmp(&b.street))
                .then_with(|| natural_house(&a.house).cmp(&natural_house(&b.house)))
        });
        found.truncate(limit);
        Ok(found)
    }

    /// Registry entries within `radius_m` of a point, nearest first.
    pub fn addresses_near(
        &self,
        lat: f64,
        lon: f64,
        radius_m: f64,
        limit: usize,
    ) -> Result<Vec<(Address, f64)>, DomainError> {
        let (clat, clon) = cell(lat, lon);
        // One cell is about 1.1 km north-south and 0.7 km east-west here.
        let reach = (radius_m / 700.0).ceil() as i64 + 1;
        let mut found = Vec::new();
        for dlat in -reach..=reach {
            let from = KeyBuilder::index("ag").i64(clat + dlat).i64(clon - reach).build();
            let to = KeyBuilder::index("ag").i64(clat + dlat).i64(clon + reach + 1).build();
            for e in self.store.scan_range(&from, &to, 100_000)? {
                if let Some(s) = self.store.get(&e.record)? {
                    let a: Address = decode(&s.body)?;
                    let d = distance_m(lat, lon, a.lat, a.lon);
                    if d <= radius_m {
                        found.push((a, d));
                    }
                }
            }
        }
        found.sort_by(|a, b| a.1.total_cmp(&b.1));
        found.truncate(limit);
        Ok(found)
    }

    /// Registry entries on a street (normalized match), any house.
    pub fn addresses_on_street(&self, street: &str, limit: usize) -> Result<Vec<Address>, DomainError> {
        let prefix = KeyBuilder::index("as").str(&normalize(street)).build();
        let mut out = Vec::new();
        for e in self.store.scan_range(&prefix, &kontakt_storage::prefix_end(&prefix), limit)? {
            if let Some(s) = self.store.get(&e.record)? {
                out.push(decode(&s.body)?);
            }
        }
        Ok(out)
    }

    /// The registry entry a card points at: by code, or the nearest building to a point.
    pub fn resolve_address(&self, at: &AddressPoint) -> Result<Address, DomainError> {
        match at {
            AddressPoint::Id(id) => {
                self.address(id)?.ok_or_else(|| DomainError::Validation(format!("unknown address {id}")))
            }
            AddressPoint::Point { lat, lon } => {
                if !(-90.0..=90.0).contains(lat) || !(-180.0..=180.0).contains(lon) {
                    return Err(DomainError::Validation(format!("({lat}, {lon}) is not a point on Earth")));
                }
                self.addresses_near(*lat, *lon, 300.0, 1)?.into_iter().next().map(|(a, _)| a).ok_or_else(
                    || {
                        DomainError::Validation(format!(
                            "no registered building within 300 m of ({lat}, {lon})"
                        ))
                    },
                )
            }
            AddressPoint::Unconfirmed { text, district, point } => {
                let words = text.trim();
                if words.chars().count() < 3 || words.chars().count() > 300 {
                    return Err(DomainError::Validation("an address in words is 3 to 300 characters".into()));
                }
                let (centre, known) = self.district_centre(district)?;
                if !known {
                    return Err(DomainError::Validation(format!("unknown district {district:?}")));
                }
                let (lat, lon) = match point {
                    Some((lat, lon)) if (-90.0..=90.0).contains(lat) && (-180.0..=180.0).contains(lon) => {
                        (*lat, *lon)
                    }
                    Some((lat, lon)) => {
                        return Err(DomainError::Validation(format!(
                            "({lat}, {lon}) is not a point on Earth"
                        )));
                    }
                    None => centre,
                };
                let id = format!("{UNCONFIRMED_PREFIX}{}", ulid::Ulid::generate().to_string().to_lowercase());
                Ok(Address {
                    id: crate::model::Code::parse(&id)?,
                    street: words.to_string(),
                    house: String::new(),
                    district: district.trim().to_string(),
                    lat,
                    lon,
                })
            }
        }
    }

    /// The districts of the address registry, sorted.
    pub fn districts(&self) -> Result<Vec<String>, DomainError> {
        let mut out: Vec<String> = self
            .store
            .scan_collection(ADDRESSES, None, MAX_REGISTRY_SCAN)?
            .iter()
            .filter_map(|(_, s)| decode::<Address>(&s.body).ok())
            .map(|a| a.district)
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The mean position of a district's buildings, and whether it has any.
    fn district_centre(&self, district: &str) -> Result<((f64, f64), bool), DomainError> {
        let (mut lat, mut lon, mut n) = (0.0, 0.0, 0u32);
        for (_, s) in self.store.scan_collection(ADDRESSES, None, MAX_REGISTRY_SCAN)? {
            if let Ok(a) = decode::<Address>(&s.body)
                && a.district == district.trim()
            {
                lat += a.lat;
                lon += a.lon;
                n += 1;
            }
        }
        Ok(if n == 0 { ((0.0, 0.0), false) } else { ((lat / f64::from(n), lon / f64::from(n)), true) })
    }

    /// Adds one building to the registry while the server runs, recorded
    /// with who added it: a new code, or refused.
    pub fn add_building(&self, a: &Address, actor: &Actor) -> Result<(), DomainError> {
        self.change_reference(a.id.as_str(), RefCommand::Create(a.clone()), actor)?;
        Ok(())
    }

    /// Changes a building of the registry (street, house, district, position).
    pub fn edit_building(&self, a: &Address, actor: &Actor) -> Result<(), DomainError> {
        self.change_reference(a.id.as_str(), RefCommand::Update(a.clone()), actor)?;
        Ok(())
    }
}

/// Most registry entries a district look-up reads.
const MAX_REGISTRY_SCAN: usize = 200_000;

/// A token's issue or revocation as a reference log entry.
fn token_change(
    change: refdata::RefChange,
    record: &TokenRecord,
    actor: &Actor,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<refdata::RefEvent, DomainError> {
    let after = serde_json::to_value(record).map_err(|e| DomainError::Validation(e.to_string()))?;
    let fields = match change {
        refdata::RefChange::Revoked => vec!["revoked_at".to_string(), "revoked_by".to_string()],
        _ => after.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default(),
    };
    Ok(refdata::RefEvent {
        at,
        actor: actor.clone(),
        change,
        kind: Some(refdata::RefKind::Token),
        key: Some(record.jti.clone()),
        fields,
        before: None,
        after: Some(after),
    })
}

/// Sorts `9` before `10` and `12` before `12А`.
fn natural_house(house: &str) -> (u32, String) {
    let digits: String = house.chars().take_while(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(u32::MAX), house.to_string())
}

fn check_jti(jti: &str) -> Result<(), DomainError> {
    if jti.is_empty() || jti.len() > 100 || !jti.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(DomainError::Validation(format!("{jti:?} is not a token id")));
    }
    Ok(())
}
