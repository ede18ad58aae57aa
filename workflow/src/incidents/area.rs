//! What an incident covers: registry buildings, whole streets, polygons and
//! circles. Geometry is `geo`'s; coordinates are WGS84 degrees.

use geo::{Contains, Coord, Distance, Haversine, LineString, Point, Polygon};
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::model::Address;
use crate::service::normalize;

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

/// The coverage of an incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Area {
    /// Registry building codes.
    pub addresses: Vec<String>,
    /// Street names (matched normalized: case, `ё`, punctuation).
    pub streets: Vec<String>,
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
            && self.polygons.is_empty()
            && self.circles.is_empty()
    }

    /// Refuses coordinates off the planet, degenerate polygons and oversized areas.
    pub fn validate(&self) -> Result<(), DomainError> {
        let shapes = self.addresses.len() + self.streets.len() + self.polygons.len() + self.circles.len();
        if shapes > MAX_SHAPES {
            return Err(DomainError::Validation(format!("an area of {shapes} shapes is too large")));
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

    /// How the area covers a building, if it does: `building`, `street` or `area`.
    pub fn covers(&self, a: &Address) -> Option<&'static str> {
        if self.addresses.iter().any(|id| id == a.id.as_str()) {
            return Some("building");
        }
        let street = normalize(&a.street);
        if self.streets.iter().any(|s| normalize(s) == street) {
            return Some("street");
        }
        self.covers_point(a.lat, a.lon).then_some("area")
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
