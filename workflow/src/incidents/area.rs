//! What an incident covers: registry buildings, whole streets, polygons and
//! circles. Geometry is `geo`'s; coordinates are WGS84 degrees.

use geo::{Contains, Coord, Distance, Haversine, LineString, Point, Polygon};
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::model::Address;

/// A circle: centre and radius.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Circle {
    /// Latitude of the centre.
    pub lat: f64,
    /// Longitude of the centre.
    pub lon: f64,
    /// Radius in kilometres.
    pub radius_km: f64,
}

/// Which side of a street a house span takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Every house in the span.
    #[default]
    Both,
    /// Odd numbers only.
    Odd,
    /// Even numbers only.
    Even,
}

/// Houses `from..=to` of a street (by the number's leading digits: `14А`
/// and `14/2` are house 14), on one side or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseSpan {
    /// First house number.
    pub from: u32,
    /// Last house number (inclusive).
    pub to: u32,
    /// Odd, even or both sides.
    #[serde(default)]
    pub side: Side,
}

/// A street, whole or some of its houses, as outage notices name them
/// («ул. Пушкинская, д. 1–15 (нечётные), 2–10»).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreetRange {
    /// The street's name as written; matched by [`street_key`].
    pub street: String,
    /// The houses covered; empty for the whole street.
    #[serde(default)]
    pub houses: Vec<HouseSpan>,
}

/// Street-type words outage notices and registries write in many forms.
const STREET_TYPES: &[&str] = &[
    "ул",
    "улица",
    "улицы",
    "пр",
    "пр-т",
    "просп",
    "проспект",
    "пер",
    "переулок",
    "б-р",
    "бул",
    "бульв",
    "бульвар",
    "пл",
    "площадь",
    "ш",
    "шоссе",
    "проезд",
    "пр-д",
    "туп",
    "тупик",
    "наб",
    "набережная",
    "кв-л",
    "квартал",
    "мкр",
    "мкр-н",
    "микрорайон",
];

/// Words that introduce house numbers.
const HOUSE_WORDS: &[&str] = &["д", "дом", "дома", "домов", "№"];

/// Words that name a district.
const DISTRICT_WORDS: &[&str] = &["район", "района", "р-н", "р-на"];

/// True for a street-type word (`ул.`, `улица`, `пр-т`, …), in any case.
pub fn is_street_type(word: &str) -> bool {
    let w = word.trim_matches(|c: char| c == '.' || c == ',').to_lowercase().replace('ё', "е");
    STREET_TYPES.contains(&w.as_str())
}

/// A street's name for matching: lower case, `ё` as `е`, without the
/// street-type word and punctuation, so «ул. Пушкинская», «Пушкинская ул.»
/// and «ПУШКИНСКАЯ» are one street.
pub fn street_key(name: &str) -> String {
    let lower = name.to_lowercase().replace('ё', "е");
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
        .filter(|w| !w.is_empty() && !STREET_TYPES.contains(w))
        .collect();
    words.join(" ")
}

/// The leading number of a house (`14А` → 14, `3/1` → 3).
pub fn house_number(house: &str) -> Option<u32> {
    let digits: String = house.trim().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl HouseSpan {
    /// True when the span takes house number `n`.
    pub fn holds(&self, n: u32) -> bool {
        (self.from..=self.to).contains(&n)
            && match self.side {
                Side::Both => true,
                Side::Odd => !n.is_multiple_of(2),
                Side::Even => n.is_multiple_of(2),
            }
    }

    /// Reads `1-15 нечётные, 2-10 чётные, 21, 30–34` (also `нечет`, `odd`, `even`).
    pub fn parse_list(text: &str) -> Result<Vec<HouseSpan>, DomainError> {
        let mut out = Vec::new();
        for part in text.split([',', ';']).map(str::trim).filter(|p| !p.is_empty()) {
            let lower = part.to_lowercase().replace('ё', "е");
            let side = if lower.contains("нечет") || lower.contains("odd") {
                Side::Odd
            } else if lower.contains("чет") || lower.contains("even") {
                Side::Even
            } else {
                Side::Both
            };
            let numbers: Vec<u32> = lower
                .split(|c: char| !c.is_ascii_digit())
                .filter(|d| !d.is_empty())
                .map(|d| d.parse::<u32>())
                .collect::<Result<_, _>>()
                .map_err(|_| DomainError::Validation(format!("{part:?} is not a house number or range")))?;
            let bad =
                || DomainError::Validation(format!("{part:?} is not a house number or range like 1-15"));
            let (from, to) = match numbers.as_slice() {
                [n] => (*n, *n),
                [a, b] if a <= b => (*a, *b),
                _ => return Err(bad()),
            };
            if to > 100_000 {
                return Err(bad());
            }
            out.push(HouseSpan { from, to, side });
        }
        Ok(out)
    }

    /// The span as the pages write it, in Russian: `1–15 нечётные`.
    pub fn label(&self) -> String {
        let range =
            if self.from == self.to { self.from.to_string() } else { format!("{}–{}", self.from, self.to) };
        match self.side {
            Side::Both => range,
            Side::Odd => format!("{range} нечётные"),
            Side::Even => format!("{range} чётные"),
        }
    }
}

impl StreetRange {
    /// How it covers a building: `street` for the whole street, `houses` for
    /// a house in one of its spans.
    pub fn covers(&self, a: &Address) -> Option<&'static str> {
        if street_key(&self.street) != street_key(&a.street) {
            return None;
        }
        if self.houses.is_empty() {
            return Some("street");
        }
        let n = house_number(&a.house)?;
        self.houses.iter().any(|h| h.holds(n)).then_some("houses")
    }
}

/// What a free-text area names: streets (whole or some houses) and districts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedArea {
    /// Streets, with their houses.
    pub streets: Vec<StreetRange>,
    /// Districts, as written without the word «район».
    pub districts: Vec<String>,
}

/// Reads the streets, house ranges and districts a Russian outage notice
/// names in words («ул. Пушкинская, д. 1–15 (нечётные), 2–10; улица Горького
/// дома 1-30; пр-т Победы; Центрально-Городской район»). A street is taken
/// when it has its type word or house numbers; other words are left out.
pub fn parse_area_text(text: &str) -> NamedArea {
    #[derive(Default)]
    struct Entry {
        name: Vec<String>,
        houses: String,
        typed: bool,
        district: bool,
    }
    let mut out = NamedArea::default();
    let flush = |e: Entry, out: &mut NamedArea| {
        let name = e.name.join(" ");
        if name.is_empty() {
            return;
        }
        if e.district {
            out.districts.push(name);
            return;
        }
        let houses = HouseSpan::parse_list(&e.houses).unwrap_or_default();
        if e.typed || !houses.is_empty() {
            out.streets.push(StreetRange { street: name, houses });
        }
    };
    for segment in text.split([';', '\n']) {
        let mut current: Option<Entry> = None;
        let mut last_was_name = false;
        for raw in segment.split_whitespace() {
            let word = raw.trim_matches(|c: char| c == ',' || c == '.' || c == ':' || c == '(' || c == ')');
            let lower = word.to_lowercase().replace('ё', "е");
            let numeric = word.chars().next().is_some_and(|c| c.is_ascii_digit());
            let side = lower.contains("чет") || lower == "сторона" || lower == "стороны";
            if word.is_empty() {
                continue;
            }
            if DISTRICT_WORDS.contains(&lower.as_str()) {
                if let Some(e) = current.as_mut().filter(|e| e.houses.is_empty() && !e.name.is_empty()) {
                    e.district = true;
                }
                last_was_name = false;
            } else if STREET_TYPES.contains(&lower.as_str()) {
                match current.as_mut() {
                    // «Пушкинская ул.»: the type after the name.
                    Some(e) if last_was_name && e.houses.is_empty() && !e.typed => e.typed = true,
                    _ => {
                        if let Some(e) = current.take() {
                            flush(e, &mut out);
                        }
                        current = Some(Entry { typed: true, ..Default::default() });
                    }
                }
                last_was_name = false;
            } else if HOUSE_WORDS.contains(&lower.as_str()) {
                last_was_name = false;
            } else if numeric || side || lower == "и" {
                if let Some(e) = current.as_mut() {
                    // Keep the commas and brackets: they separate the house spans.
                    e.houses.push_str(raw);
                    e.houses.push(' ');
                    if raw.ends_with(',') || lower == "и" {
                        e.houses.push(',');
                    }
                }
                last_was_name = false;
            } else {
                let starts_new = current
                    .as_ref()
                    .is_none_or(|e| !e.houses.is_empty() || (!last_was_name && !e.name.is_empty()));
                if starts_new {
                    if let Some(e) = current.take() {
                        flush(e, &mut out);
                    }
                    current = Some(Entry::default());
                }
                if let Some(e) = current.as_mut() {
                    e.name.push(word.to_string());
                }
                last_was_name = !raw.ends_with(',');
            }
        }
        if let Some(e) = current.take() {
            flush(e, &mut out);
        }
    }
    out
}

/// The coverage of an incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Area {
    /// Registry building codes.
    pub addresses: Vec<String>,
    /// Street names (matched by [`street_key`]: case, `ё`, punctuation, street type).
    pub streets: Vec<String>,
    /// Streets with house ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub street_ranges: Vec<StreetRange>,
    /// Whole districts (matched by their name's start, case and `ё` folded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub districts: Vec<String>,
    /// Polygons as rings of `(lat, lon)`.
    pub polygons: Vec<Vec<(f64, f64)>>,
    /// Circles.
    pub circles: Vec<Circle>,
}

/// Most points in one polygon, and most shapes in one area.
const MAX_POINTS: usize = 10_000;
const MAX_SHAPES: usize = 1_000;

impl Area {
    /// True when it covers nothing.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
            && self.streets.is_empty()
            && self.street_ranges.is_empty()
            && self.districts.is_empty()
            && self.polygons.is_empty()
            && self.circles.is_empty()
    }

    /// Refuses coordinates off the planet, degenerate polygons and oversized areas.
    pub fn validate(&self) -> Result<(), DomainError> {
        let shapes = self.addresses.len()
            + self.streets.len()
            + self.street_ranges.iter().map(|r| r.houses.len().max(1)).sum::<usize>()
            + self.districts.len()
            + self.polygons.len()
            + self.circles.len();
        if shapes > MAX_SHAPES {
            return Err(DomainError::Validation(format!("an area of {shapes} shapes is too large")));
        }
        for r in &self.street_ranges {
            if street_key(&r.street).is_empty() || r.street.chars().count() > 200 {
                return Err(DomainError::Validation(format!("{:?} is not a street name", r.street)));
            }
            if r.houses.iter().any(|h| h.from > h.to) {
                return Err(DomainError::Validation(format!("a house range of {} runs backwards", r.street)));
            }
        }
        let point_ok = |lat: f64, lon: f64| (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        for ring in &self.polygons {
            if ring.len() < 3 || ring.len() > MAX_POINTS {
                return Err(DomainError::Validation(format!("a polygon needs 3 to {MAX_POINTS} points")));
            }
            if !ring.iter().all(|(lat, lon)| point_ok(*lat, *lon)) {
                return Err(DomainError::Validation("a polygon point is not on Earth".into()));
            }
        }
        for c in &self.circles {
            if !point_ok(c.lat, c.lon) || !(0.0..=500.0).contains(&c.radius_km) {
                return Err(DomainError::Validation(
                    "a circle is not on Earth or is larger than 500 km".into(),
                ));
            }
        }
        Ok(())
    }

    /// How the area covers a building, if it does: `building`, `houses` (a
    /// house range of its street), `street` or `area`.
    pub fn covers(&self, a: &Address) -> Option<&'static str> {
        if self.addresses.iter().any(|id| id == a.id.as_str()) {
            return Some("building");
        }
        if self.street_ranges.iter().any(|r| r.covers(a) == Some("houses")) {
            return Some("houses");
        }
        let street = street_key(&a.street);
        if self.streets.iter().any(|s| street_key(s) == street)
            || self.street_ranges.iter().any(|r| r.covers(a) == Some("street"))
        {
            return Some("street");
        }
        let district = a.district.to_lowercase().replace('ё', "е");
        let named = |d: &String| {
            let d = d.to_lowercase().replace('ё', "е");
            !d.is_empty() && district.starts_with(d.trim())
        };
        if self.covers_point(a.lat, a.lon) || self.districts.iter().any(named) {
            return Some("area");
        }
        None
    }

    /// True when the area is drawn only as shapes, all of them outside
    /// `bounds` (`[south, west, north, east]`): an alert about another place.
    /// Named streets, buildings or districts are never outside: the registry
    /// decides what they cover.
    pub fn lies_outside(&self, bounds: [f64; 4]) -> bool {
        let [south, west, north, east] = bounds;
        if !self.addresses.is_empty()
            || !self.streets.is_empty()
            || !self.street_ranges.is_empty()
            || !self.districts.is_empty()
        {
            return false;
        }
        if self.polygons.is_empty() && self.circles.is_empty() {
            return false;
        }
        let apart = |(s, w, n, e): (f64, f64, f64, f64)| n < south || s > north || e < west || w > east;
        let polygons_apart = self.polygons.iter().all(|ring| {
            let lats = ring.iter().map(|p| p.0);
            let lons = ring.iter().map(|p| p.1);
            apart((
                lats.clone().fold(f64::MAX, f64::min),
                lons.clone().fold(f64::MAX, f64::min),
                lats.fold(f64::MIN, f64::max),
                lons.fold(f64::MIN, f64::max),
            ))
        });
        let circles_apart = self.circles.iter().all(|c| {
            let d = c.radius_km / 111.0;
            apart((c.lat - d, c.lon - d * 2.0, c.lat + d, c.lon + d * 2.0))
        });
        polygons_apart && circles_apart
    }

    /// True when a polygon or circle holds the point.
    pub fn covers_point(&self, lat: f64, lon: f64) -> bool {
        let p = Point::new(lon, lat);
        self.polygons.iter().any(|ring| {
            let coords: Vec<Coord> = ring.iter().map(|(la, lo)| Coord { x: *lo, y: *la }).collect();
            Polygon::new(LineString::from(coords), vec![]).contains(&p)
        }) || self
            .circles
            .iter()
            .any(|c| Haversine.distance(Point::new(c.lon, c.lat), p) <= c.radius_km * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Code;

    fn building(lat: f64, lon: f64) -> Address {
        Address {
            id: Code::parse("b1").unwrap(),
            street: "ул. Пушкинская".into(),
            house: "3".into(),
            district: "Центр".into(),
            lat,
            lon,
        }
    }

    #[test]
    fn a_polygon_covers_the_buildings_inside_it_only() {
        let area = Area {
            polygons: vec![vec![
                (48.29, 38.03),
                (48.29, 38.05),
                (48.31, 38.05),
                (48.31, 38.03),
                (48.29, 38.03),
            ]],
            ..Default::default()
        };
        assert_eq!(area.covers(&building(48.30, 38.04)), Some("area"));
        assert_eq!(area.covers(&building(48.32, 38.04)), None);
    }

    #[test]
    fn a_circle_covers_by_distance() {
        let area =
            Area { circles: vec![Circle { lat: 48.30, lon: 38.04, radius_km: 1.0 }], ..Default::default() };
        assert!(area.covers_point(48.305, 38.04)); // ~560 m north
        assert!(!area.covers_point(48.32, 38.04)); // ~2.2 km north
    }

    #[test]
    fn streets_match_regardless_of_case_and_yo() {
        let area = Area { streets: vec!["УЛ. ПУШКИНСКАЯ".into()], ..Default::default() };
        assert_eq!(area.covers(&building(0.0, 0.0)), Some("street"));
        let area = Area { streets: vec!["пер. Шахтёрский".into()], ..Default::default() };
        let mut b = building(0.0, 0.0);
        b.street = "пер. Шахтерский".into();
        assert_eq!(area.covers(&b), Some("street"));
    }

    #[test]
    fn house_ranges_take_their_side_of_the_street_whatever_the_street_is_called() {
        let spans = HouseSpan::parse_list("1-15 нечётные, 2–10, 21").unwrap();
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0], HouseSpan { from: 1, to: 15, side: Side::Odd });
        let area = Area {
            street_ranges: vec![StreetRange { street: "Пушкинская ул.".into(), houses: spans }],
            ..Default::default()
        };
        let at = |house: &str| {
            let mut b = building(0.0, 0.0);
            b.house = house.into();
            area.covers(&b)
        };
        assert_eq!(at("3"), Some("houses"));
        assert_eq!(at("14А"), None, "even, beyond 10");
        assert_eq!(at("13/2"), Some("houses"));
        assert_eq!(at("4"), Some("houses"));
        assert_eq!(at("21"), Some("houses"));
        assert_eq!(at("17"), None);
        let whole = Area {
            street_ranges: vec![StreetRange { street: "ПУШКИНСКАЯ".into(), houses: vec![] }],
            ..Default::default()
        };
        assert_eq!(whole.covers(&building(0.0, 0.0)), Some("street"));
        assert!(HouseSpan::parse_list("15-1").is_err());
        assert!(HouseSpan::parse_list("один").is_err());
    }

    #[test]
    fn an_outage_notice_in_words_names_its_streets_houses_and_districts() {
        let named = parse_area_text(
            "ул. Пушкинская, д. 1–15 (нечётные), 2–10; улица Горького дома 1-30; пр-т Победы; \
             Садовая ул., 3, 5 и 7; Центрально-Городской район",
        );
        let streets: Vec<(String, Vec<HouseSpan>)> =
            named.streets.iter().map(|r| (r.street.clone(), r.houses.clone())).collect();
        assert_eq!(
            streets,
            vec![
                (
                    "Пушкинская".to_string(),
                    vec![
                        HouseSpan { from: 1, to: 15, side: Side::Odd },
                        HouseSpan { from: 2, to: 10, side: Side::Both }
                    ]
                ),
                ("Горького".to_string(), vec![HouseSpan { from: 1, to: 30, side: Side::Both }]),
                ("Победы".to_string(), vec![]),
                (
                    "Садовая".to_string(),
                    vec![
                        HouseSpan { from: 3, to: 3, side: Side::Both },
                        HouseSpan { from: 5, to: 5, side: Side::Both },
                        HouseSpan { from: 7, to: 7, side: Side::Both }
                    ]
                ),
            ]
        );
        assert_eq!(named.districts, vec!["Центрально-Городской".to_string()]);
        // Words that name no street are left out.
        assert!(parse_area_text("частный сектор за рекой").streets.is_empty());
        assert_eq!(
            parse_area_text("ул. Горького, д. 2–14 чётные").streets[0].houses,
            vec![HouseSpan { from: 2, to: 14, side: Side::Even }]
        );
    }

    #[test]
    fn shapes_wholly_outside_the_city_lie_outside_it() {
        let city = [48.2, 37.9, 48.4, 38.2];
        let far = Area {
            polygons: vec![vec![(38.47, -120.14), (38.34, -119.95), (38.52, -119.74)]],
            ..Default::default()
        };
        assert!(far.lies_outside(city));
        let near =
            Area { circles: vec![Circle { lat: 48.3, lon: 38.0, radius_km: 1.0 }], ..Default::default() };
        assert!(!near.lies_outside(city));
        let named = Area { streets: vec!["Садовая".into()], ..far };
        assert!(!named.lies_outside(city), "named streets are for the registry to match");
    }

    #[test]
    fn street_keys_ignore_the_street_type() {
        assert_eq!(street_key("ул. Пушкинская"), street_key("Пушкинская улица"));
        assert_eq!(street_key("пр-т Победы"), "победы");
        assert_eq!(street_key("пер. Шахтёрский"), street_key("ШАХТЕРСКИЙ ПЕР."));
    }

    #[test]
    fn degenerate_shapes_are_refused() {
        assert!(
            Area { polygons: vec![vec![(1.0, 1.0), (2.0, 2.0)]], ..Default::default() }.validate().is_err()
        );
        assert!(
            Area { circles: vec![Circle { lat: 95.0, lon: 0.0, radius_km: 1.0 }], ..Default::default() }
                .validate()
                .is_err()
        );
    }
}
