//! Parsing `POST requests`: the spec's `application/x-www-form-urlencoded`
//! body turned into a [`PostedRequest`] whose fields are already the domain's
//! types, so the handler never sees an unchecked value. A pure function of the
//! bytes: it reads no store and no clock.

use kontakt_workflow::model::{CategoryCode, Code, Phone};

use super::Open311Error;

/// Longest free-text field accepted (the domain has its own, smaller limits for some).
const MAX_FIELD: usize = 8192;
/// Longest name part.
const MAX_NAME: usize = 200;

/// Where the posted request is.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// `lat` and `long`: the nearest registered building is taken.
    Point {
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
    },
    /// `address_id`: a registry code.
    AddressId(String),
    /// `address_string`: matched through the registry's autocomplete.
    AddressString(String),
}

/// A posted service request, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedRequest {
    /// The caller's Kontakt token, when given in the body.
    pub api_key: Option<String>,
    /// The category.
    pub service_code: CategoryCode,
    /// Where.
    pub location: Location,
    /// What is wrong; never empty.
    pub description: String,
    /// The applicant's name: first and last name joined.
    pub name: Option<String>,
    /// The applicant's phone.
    pub phone: Option<Phone>,
    /// Accepted per the spec; Kontakt keeps no e-mail.
    pub email: Option<String>,
    /// Accepted per the spec; not kept.
    pub device_id: Option<String>,
    /// Echoed in the answer.
    pub account_id: Option<String>,
    /// Accepted per the spec; Kontakt keeps no media.
    pub media_url: Option<String>,
}

/// The fields the spec defines for a POST; anything else (`attribute[…]`,
/// `jurisdiction_id`, …) is accepted and ignored.
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

fn bad(message: impl Into<String>) -> Open311Error {
    Open311Error::BadRequest(message.into())
}

/// Parses a form body into a request, refusing what the spec requires and
/// is missing, and any value that is not what its field holds.
pub fn parse_post(body: &[u8]) -> Result<PostedRequest, Open311Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| bad(format!("the body is not application/x-www-form-urlencoded: {e}")))?;
    let mut fields: Vec<(&str, String)> = Vec::new();
    for (k, v) in pairs {
        let Some(name) = FIELDS.iter().find(|f| **f == k) else { continue };
        if fields.iter().any(|(n, _)| n == name) {
            return Err(bad(format!("{name} is given more than once")));
        }
        if v.chars().count() > MAX_FIELD {
            return Err(bad(format!("{name} is longer than {MAX_FIELD} characters")));
        }
        let v = v.trim().to_string();
        if !v.is_empty() {
            fields.push((name, v));
        }
    }
    let take = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());

    let service_code = take("service_code").ok_or_else(|| bad("service_code is required"))?;
    let service_code =
        Code::parse(&service_code).map_err(|_| bad(format!("{service_code:?} is not a service_code")))?;
    let coordinate =
        |name: &str, range: std::ops::RangeInclusive<f64>| -> Result<Option<f64>, Open311Error> {
            take(name)
                .map(|v| match v.parse::<f64>() {
                    Ok(x) if range.contains(&x) => Ok(x),
                    _ => Err(bad(format!("{name} {v:?} is not a coordinate in {range:?}"))),
                })
                .transpose()
        };
    let lat = coordinate("lat", -90.0..=90.0)?;
    let lon = coordinate("long", -180.0..=180.0)?;
    let location = match (lat, lon, take("address_id"), take("address_string")) {
        (Some(lat), Some(lon), _, _) => Location::Point { lat, lon },
        (Some(_), None, _, _) | (None, Some(_), _, _) => {
            return Err(bad("give both lat and long, or neither"));
        }
        (None, None, Some(id), _) => Location::AddressId(id),
        (None, None, None, Some(text)) => Location::AddressString(text),
        (None, None, None, None) => {
            return Err(bad("a location is required: lat and long, address_string or address_id"));
        }
    };
    let description = take("description").ok_or_else(|| bad("description is required and not empty"))?;
    let name = match (take("first_name"), take("last_name")) {
        (None, None) => None,
        (first, last) => Some([first, last].into_iter().flatten().collect::<Vec<_>>().join(" ")),
    };
    if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME) {
        return Err(bad(format!("the name is longer than {MAX_NAME} characters")));
    }
    let phone = take("phone")
        .map(|p| Phone::parse(&p).map_err(|_| bad(format!("{p:?} is not a phone number"))))
        .transpose()?;
    Ok(PostedRequest {
        api_key: take("api_key"),
        service_code,
        location,
        description,
        name,
        phone,
        email: take("email"),
        device_id: take("device_id"),
        account_id: take("account_id"),
        media_url: take("media_url"),
    })
}

/// The `api_key` of a form body, read before anything else is parsed so that
/// an unauthorized caller learns nothing about its input.
pub fn api_key(body: &[u8]) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs
        .into_iter()
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> String {
        match parse_post(body.as_bytes()) {
            Err(Open311Error::BadRequest(m)) => m,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_full_form_parses_into_domain_values() {
        let p = parse_post(
            "api_key=t&service_code=water-leak&lat=48.3&long=38.05&description=%D0%A2%D0%B5%D1%87%D1%8C\
             &first_name=Ivan&last_name=Petrov&phone=8+(856)+412-34-56&account_id=a1&attribute[x]=y"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(p.service_code.as_str(), "water-leak");
        assert_eq!(p.location, Location::Point { lat: 48.3, lon: 38.05 });
        assert_eq!(p.description, "Течь");
        assert_eq!(p.name.as_deref(), Some("Ivan Petrov"));
        assert_eq!(p.phone.unwrap().as_str(), "+78564123456");
        assert_eq!(p.account_id.as_deref(), Some("a1"));
        assert_eq!(p.api_key.as_deref(), Some("t"));
    }

    #[test]
    fn coordinates_win_over_address_id_over_address_string() {
        let p = parse_post(b"service_code=x&address_id=g001-001&address_string=abc&description=d").unwrap();
        assert_eq!(p.location, Location::AddressId("g001-001".into()));
        let p = parse_post(b"service_code=x&address_string=%D1%83%D0%BB+1&description=d").unwrap();
        assert_eq!(p.location, Location::AddressString("ул 1".into()));
    }

    #[test]
    fn missing_and_malformed_fields_are_refused_by_name() {
        assert!(message("description=d&lat=1&long=2").contains("service_code is required"));
        assert!(message("service_code=Bad Code&description=d&lat=1&long=2").contains("service_code"));
        assert!(message("service_code=x&description=d").contains("location is required"));
        assert!(message("service_code=x&description=d&lat=1").contains("both lat and long"));
        assert!(message("service_code=x&description=d&lat=north&long=2").contains("lat"));
        assert!(message("service_code=x&description=d&lat=91&long=2").contains("lat"));
        assert!(message("service_code=x&description=+++&lat=1&long=2").contains("description"));
        assert!(message("service_code=x&lat=1&long=2").contains("description"));
        assert!(message("service_code=x&description=d&lat=1&long=2&phone=call+me").contains("phone"));
        assert!(
            message("service_code=x&service_code=y&description=d&lat=1&long=2").contains("more than once")
        );
    }

    #[test]
    fn garbage_is_a_bad_request_not_a_panic() {
        for body in [&b"\xff\xfe"[..], b"%", b"=&=&", b"service_code", &[0u8; 10][..]] {
            assert!(matches!(parse_post(body), Err(Open311Error::BadRequest(_))));
        }
    }

    #[test]
    fn the_key_is_read_alone() {
        assert_eq!(api_key(b"description=&api_key=+abc+").as_deref(), Some("abc"));
        assert_eq!(api_key(b"description=x"), None);
    }
}
