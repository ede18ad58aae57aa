//! The emergency feed formats, parsed into [`IncidentReport`]s. Parsing is
//! pure; fetching lives with the server. A document that is not what it
//! claims is refused whole, so a broken feed never changes what is stored.
//!
//! - **CAP 1.2** (OASIS Common Alerting Protocol): `alert` with `identifier`,
//!   `sent`, `status` (only `Actual` is taken), `msgType` (`Alert`, `Update`:
//!   revise; `Cancel`: end), `references` (an Update or Cancel is about the
//!   first referenced alert), and `info` (`event`, `headline`, `onset`,
//!   `expires`, `parameter` `kontakt:organization`) with `area` (`areaDesc`,
//!   `polygon`, `circle`, `geocode` `kontakt:address` / `kontakt:street`).
//! - **JSON**: `{"incidents": [...]}` or a bare array of objects with `id`,
//!   `title`, `kind`, `organization`, `addresses`, `streets`, `polygon`
//!   (`[[lat, lon], …]`), `circle` (`{lat, lon, radiusKm}`), `started`,
//!   `expectedEnd`, `ended`, `resolution`. Unknown fields are refused.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::area::{self, Area, Circle};
use super::{Ended, IncidentReport};
use crate::model::Code;

/// The CAP 1.2 namespace.
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// Why a feed document was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeedError {
    /// Not well-formed XML or JSON.
    #[error("malformed: {0}")]
    Malformed(String),
    /// Well-formed, but not the format it should be.
    #[error("wrong schema: {0}")]
    WrongSchema(String),
}

fn time(s: &str, what: &str) -> Result<DateTime<Utc>, FeedError> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| FeedError::WrongSchema(format!("{what} {s:?} is not an RFC 3339 time: {e}")))
}

fn pair(s: &str) -> Result<(f64, f64), FeedError> {
    let (a, b) = s.split_once(',').ok_or_else(|| FeedError::WrongSchema(format!("{s:?} is not lat,lon")))?;
    let n = |x: &str| {
        x.trim().parse::<f64>().map_err(|_| FeedError::WrongSchema(format!("{s:?} is not lat,lon")))
    };
    Ok((n(a)?, n(b)?))
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name((CAP_NS, name)))
}

fn text(n: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name).and_then(|c| c.text()).map(str::trim).map(str::to_string)
}

fn required(n: roxmltree::Node<'_, '_>, name: &str) -> Result<String, FeedError> {
    text(n, name)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| FeedError::WrongSchema(format!("<{name}> is missing")))
}

/// The Atom namespace.
pub const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

/// One alert an index lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The entry's identity (Atom `id`, RSS `guid`, else the link).
    pub id: String,
    /// When the entry last changed, as written (a changed alert is fetched again).
    pub updated: String,
    /// Where the CAP alert is.
    pub link: String,
}

/// Reads an Atom or RSS index of CAP alerts, as warning services publish
/// them; `None` when the document is not an index (a CAP alert itself).
/// An Atom entry's link is the one typed `application/cap+xml`, else its
/// `alternate`, else its first.
pub fn parse_index(xml: &str) -> Result<Option<Vec<IndexEntry>>, FeedError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| FeedError::Malformed(e.to_string()))?;
    let root = doc.root_element();
    let plain = |n: roxmltree::Node<'_, '_>, name: &str| {
        n.children()
            .find(|c| c.tag_name().name() == name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    if root.has_tag_name((ATOM_NS, "feed")) {
        let mut out = Vec::new();
        for e in root.children().filter(|c| c.has_tag_name((ATOM_NS, "entry"))) {
            let links: Vec<roxmltree::Node<'_, '_>> =
                e.children().filter(|c| c.has_tag_name((ATOM_NS, "link"))).collect();
            let link = links
                .iter()
                .find(|l| l.attribute("type") == Some("application/cap+xml"))
                .or_else(|| links.iter().find(|l| l.attribute("rel").is_none_or(|r| r == "alternate")))
                .or_else(|| links.first())
                .and_then(|l| l.attribute("href"))
                .map(str::to_string)
                .ok_or_else(|| FeedError::WrongSchema("an Atom entry has no link".into()))?;
            let id = plain(e, "id").unwrap_or_else(|| link.clone());
            let updated = plain(e, "updated").or_else(|| plain(e, "published")).unwrap_or_default();
            out.push(IndexEntry { id, updated, link });
        }
        return Ok(Some(out));
    }
    if root.tag_name().name() == "rss" {
        let channel = root
            .children()
            .find(|c| c.tag_name().name() == "channel")
            .ok_or_else(|| FeedError::WrongSchema("an RSS document has no <channel>".into()))?;
        let mut out = Vec::new();
        for item in channel.children().filter(|c| c.tag_name().name() == "item") {
            let link = plain(item, "link")
                .ok_or_else(|| FeedError::WrongSchema("an RSS item has no <link>".into()))?;
            let id = plain(item, "guid").unwrap_or_else(|| link.clone());
            let updated = plain(item, "pubDate").unwrap_or_default();
            out.push(IndexEntry { id, updated, link });
        }
        return Ok(Some(out));
    }
    Ok(None)
}

/// Parses one CAP 1.2 alert, its words from the `<info>` in Russian when it has one.
pub fn parse_cap(source: &str, xml: &str) -> Result<Option<IncidentReport>, FeedError> {
    parse_cap_in(source, xml, "ru")
}

/// Parses one CAP 1.2 alert: every `<info>` block's areas, the words of the
/// one whose `language` starts with `city_language` (else the first).
pub fn parse_cap_in(
    source: &str,
    xml: &str,
    city_language: &str,
) -> Result<Option<IncidentReport>, FeedError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| FeedError::Malformed(e.to_string()))?;
    let alert = doc.root_element();
    if alert.tag_name().name() != "alert" || alert.tag_name().namespace() != Some(CAP_NS) {
        return Err(FeedError::WrongSchema(format!(
            "the root is not a CAP 1.2 <alert> (namespace {CAP_NS})"
        )));
    }
    let identifier = required(alert, "identifier")?;
    let sent = time(&required(alert, "sent")?, "sent")?;
    let status = required(alert, "status")?;
    let msg_type = required(alert, "msgType")?;
    if status != "Actual" {
        return Ok(None);
    }
    // An Update or Cancel names the alert it revises: the incident keeps that identity.
    let referenced = text(alert, "references")
        .and_then(|r| r.split_whitespace().next().and_then(|t| t.split(',').nth(1)).map(str::to_string));
    let identity = match msg_type.as_str() {
        "Alert" => identifier,
        "Update" | "Cancel" => referenced.unwrap_or(identifier),
        other => {
            return Err(FeedError::WrongSchema(format!("msgType {other:?} is not Alert, Update or Cancel")));
        }
    };
    let infos: Vec<roxmltree::Node<'_, '_>> =
        alert.children().filter(|c| c.has_tag_name((CAP_NS, "info"))).collect();
    // CAP's default language is en-US; the city's own is preferred for the words.
    let language =
        |n: &roxmltree::Node<'_, '_>| text(*n, "language").unwrap_or_else(|| "en-US".into()).to_lowercase();
    let info = *infos
        .iter()
        .find(|n| language(n).starts_with(city_language))
        .or_else(|| infos.first())
        .ok_or_else(|| FeedError::WrongSchema("<info> is missing".into()))?;
    let event = required(info, "event")?;
    let title = text(info, "headline").filter(|h| !h.is_empty()).unwrap_or_else(|| event.clone());
    let started_at = match text(info, "onset").or_else(|| text(info, "effective")) {
        Some(t) => time(&t, "onset")?,
        None => sent,
    };
    let expected_end_at = text(info, "expires").map(|t| time(&t, "expires")).transpose()?;
    let all_clear = infos
        .iter()
        .flat_map(|n| n.children().filter(|c| c.has_tag_name((CAP_NS, "responseType"))))
        .any(|r| r.text().map(str::trim) == Some("AllClear"));
    let mut organization = None;
    for p in infos.iter().flat_map(|n| n.children()).filter(|c| c.has_tag_name((CAP_NS, "parameter"))) {
        if text(p, "valueName").as_deref() == Some("kontakt:organization") {
            organization = text(p, "value").and_then(|v| Code::parse(&v).ok());
        }
    }
    let mut area = Area::default();
    let mut descriptions: Vec<String> = Vec::new();
    for a in infos.iter().flat_map(|n| n.children()).filter(|c| c.has_tag_name((CAP_NS, "area"))) {
        if let Some(d) = text(a, "areaDesc").filter(|d| !d.is_empty()) {
            // The streets, houses and districts a notice names only in words.
            let named = area::parse_area_text(&d);
            for r in named.streets {
                if !area.street_ranges.contains(&r) {
                    area.street_ranges.push(r);
                }
            }
            for d in named.districts {
                if !area.districts.contains(&d) {
                    area.districts.push(d);
                }
            }
            if !descriptions.contains(&d) {
                descriptions.push(d);
            }
        }
        for p in a.children().filter(|c| c.has_tag_name((CAP_NS, "polygon"))) {
            let body = p.text().unwrap_or_default();
            if body.trim().is_empty() {
                continue;
            }
            let ring = body.split_whitespace().map(pair).collect::<Result<Vec<_>, _>>()?;
            if !area.polygons.contains(&ring) {
                area.polygons.push(ring);
            }
        }
        for c in a.children().filter(|c| c.has_tag_name((CAP_NS, "circle"))) {
            let t = c.text().unwrap_or_default();
            let (centre, radius) = t
                .trim()
                .split_once(' ')
                .ok_or_else(|| FeedError::WrongSchema(format!("circle {t:?} is not 'lat,lon radius'")))?;
            let (lat, lon) = pair(centre)?;
            let radius_km = radius
                .trim()
                .parse()
                .map_err(|_| FeedError::WrongSchema(format!("circle radius {radius:?}")))?;
            let circle = Circle { lat, lon, radius_km };
            if !area.circles.contains(&circle) {
                area.circles.push(circle);
            }
        }
        for g in a.children().filter(|c| c.has_tag_name((CAP_NS, "geocode"))) {
            match (text(g, "valueName").as_deref(), text(g, "value")) {
                (Some("kontakt:address"), Some(v)) => area.addresses.push(v),
                (Some("kontakt:street"), Some(v)) => area.streets.push(v),
                _ => {}
            }
        }
    }
    let instruction = text(info, "instruction").filter(|i| !i.is_empty());
    // A Cancel withdraws the alert; an Update whose response is AllClear says the work is done.
    let ended = if msg_type == "Cancel" {
        Some(Ended {
            at: sent,
            resolution: instruction.unwrap_or_else(|| format!("{title}: отменено источником")),
            cancelled: true,
        })
    } else if all_clear {
        Some(Ended {
            at: sent,
            resolution: instruction.unwrap_or_else(|| format!("{title}: работы завершены")),
            cancelled: false,
        })
    } else {
        None
    };
    Ok(Some(IncidentReport {
        source: source.to_string(),
        identifier: identity,
        title,
        kind: event,
        organization,
        started_at,
        expected_end_at,
        area,
        area_description: (!descriptions.is_empty()).then(|| descriptions.join("; ")),
        ended,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JsonIncident {
    id: String,
    title: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    streets: Vec<String>,
    #[serde(default)]
    polygon: Option<Vec<(f64, f64)>>,
    #[serde(default)]
    circle: Option<JsonCircle>,
    #[serde(default)]
    area_description: Option<String>,
    started: String,
    #[serde(default)]
    expected_end: Option<String>,
    #[serde(default)]
    ended: Option<String>,
    #[serde(default)]
    resolution: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JsonCircle {
    lat: f64,
    lon: f64,
    radius_km: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonDocument {
    Wrapped { incidents: Vec<serde_json::Value> },
    Bare(Vec<serde_json::Value>),
}

/// Parses a JSON feed document.
pub fn parse_json(source: &str, text: &str) -> Result<Vec<IncidentReport>, FeedError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| FeedError::Malformed(e.to_string()))?;
    let items = match serde_json::from_value::<JsonDocument>(value) {
        Ok(JsonDocument::Wrapped { incidents }) | Ok(JsonDocument::Bare(incidents)) => incidents,
        Err(_) => return Err(FeedError::WrongSchema("expected {\"incidents\": [...]} or an array".into())),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let j: JsonIncident = serde_json::from_value(item)
                .map_err(|e| FeedError::WrongSchema(format!("incident #{i}: {e}")))?;
            let started_at = time(&j.started, "started")?;
            let ended = match j.ended {
                Some(t) => Some(Ended {
                    at: time(&t, "ended")?,
                    resolution: j.resolution.clone().unwrap_or_else(|| format!("{}: устранено", j.title)),
                    cancelled: false,
                }),
                None => None,
            };
            let organization = match j.organization {
                Some(o) => {
                    Some(Code::parse(&o).map_err(|e| FeedError::WrongSchema(format!("incident #{i}: {e}")))?)
                }
                None => None,
            };
            Ok(IncidentReport {
                source: source.to_string(),
                identifier: j.id,
                kind: j.kind.unwrap_or_else(|| "other".into()),
                title: j.title,
                organization,
                started_at,
                expected_end_at: j.expected_end.map(|t| time(&t, "expectedEnd")).transpose()?,
                area: Area {
                    addresses: j.addresses,
                    streets: j.streets,
                    street_ranges: vec![],
                    districts: vec![],
                    polygons: j.polygon.into_iter().collect(),
                    circles: j
                        .circle
                        .map(|c| Circle { lat: c.lat, lon: c.lon, radius_km: c.radius_km })
                        .into_iter()
                        .collect(),
                },
                area_description: j.area_description,
                ended,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>RES-2026-0042</identifier><sender>res@gorlovka</sender><sent>2026-11-29T08:00:00+03:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><category>Infra</category><event>power</event><urgency>Immediate</urgency><severity>Moderate</severity><certainty>Observed</certainty>
    <headline>Отключение электроэнергии в центре</headline><expires>2026-11-29T14:00:00+03:00</expires>
    <parameter><valueName>kontakt:organization</valueName><value>res-gorlovka</value></parameter>
    <area><areaDesc>Квартал у просп. Победы</areaDesc><polygon>48.29,38.03 48.29,38.05 48.31,38.05 48.31,38.03 48.29,38.03</polygon>
      <geocode><valueName>kontakt:street</valueName><value>ул. Пушкинская</value></geocode></area>
  </info>
</alert>"#;

    #[test]
    fn a_cap_alert_becomes_an_incident_report() {
        let r = parse_cap("res", ALERT).unwrap().unwrap();
        assert_eq!((r.identifier.as_str(), r.kind.as_str()), ("RES-2026-0042", "power"));
        assert_eq!(r.title, "Отключение электроэнергии в центре");
        assert_eq!(r.organization.unwrap().as_str(), "res-gorlovka");
        assert_eq!(r.area.polygons[0].len(), 5);
        assert_eq!(r.area.streets, vec!["ул. Пушкинская".to_string()]);
        assert_eq!(r.expected_end_at.unwrap().to_rfc3339(), "2026-11-29T11:00:00+00:00");
        assert!(r.ended.is_none());
    }

    #[test]
    fn a_cancel_ends_the_referenced_alert() {
        let cancel = ALERT
            .replace("<identifier>RES-2026-0042</identifier>", "<identifier>RES-2026-0043</identifier>")
            .replace("<msgType>Alert</msgType>", "<msgType>Cancel</msgType><references>res@gorlovka,RES-2026-0042,2026-11-29T08:00:00+03:00</references>");
        let r = parse_cap("res", &cancel).unwrap().unwrap();
        assert_eq!(r.identifier, "RES-2026-0042");
        assert!(r.ended.is_some());
    }

    #[test]
    fn exercises_are_skipped_and_broken_documents_refused() {
        assert_eq!(
            parse_cap("res", &ALERT.replace("<status>Actual</status>", "<status>Exercise</status>")).unwrap(),
            None
        );
        assert!(matches!(parse_cap("res", "<alert>"), Err(FeedError::Malformed(_))));
        assert!(matches!(parse_cap("res", "<rss version=\"2.0\"/>"), Err(FeedError::WrongSchema(_))));
        assert!(matches!(
            parse_cap("res", &ALERT.replace("48.29,38.03 ", "48.29;38.03 ")),
            Err(FeedError::WrongSchema(_))
        ));
    }

    #[test]
    fn json_feeds_parse_and_refuse_unknown_fields() {
        let doc = r#"{"incidents":[{"id":"w-1","title":"Порыв водовода","kind":"water","organization":"vodokanal-gorlovka",
            "streets":["ул. Горького"],"circle":{"lat":48.3,"lon":38.05,"radiusKm":0.5},"started":"2026-11-29T06:00:00Z"}]}"#;
        let r = parse_json("water", doc).unwrap();
        assert_eq!(r[0].area.circles[0].radius_km, 0.5);
        assert!(matches!(
            parse_json(
                "water",
                r#"[{"id":"x","title":"t","started":"2026-11-29T06:00:00Z","colour":"red"}]"#
            ),
            Err(FeedError::WrongSchema(_))
        ));
        assert!(matches!(parse_json("water", "{"), Err(FeedError::Malformed(_))));
        assert!(matches!(parse_json("water", r#"{"alerts":[]}"#), Err(FeedError::WrongSchema(_))));
    }

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/cap").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn the_cap_specifications_own_examples_parse() {
        let storm = parse_cap("nws", &fixture("oasis-thunderstorm.xml")).unwrap().unwrap();
        assert_eq!(
            (storm.identifier.as_str(), storm.kind.as_str()),
            ("KSTO1055887203", "SEVERE THUNDERSTORM")
        );
        assert_eq!(storm.area.polygons[0].len(), 5);
        assert!(storm.area.street_ranges.is_empty(), "county names are not streets");
        // An Update is about the alert it references.
        let quake = parse_cap("trinet", &fixture("oasis-earthquake.xml")).unwrap().unwrap();
        assert_eq!(quake.identifier, "TRI13970876.1");
        assert_eq!(quake.area.circles, vec![Circle { lat: 32.9525, lon: -115.5527, radius_km: 0.0 }]);
        // Every <info>: the words of the one in the city's language, else the first.
        let amber = fixture("oasis-amber.xml");
        assert_eq!(
            parse_cap_in("ca", &amber, "es").unwrap().unwrap().title,
            "Alerta Amber en el condado de Los Ángeles"
        );
        assert_eq!(parse_cap("ca", &amber).unwrap().unwrap().title, "Amber Alert in Los Angeles County");
        // All of them are about another place than the demo city.
        let city = [48.20, 37.85, 48.42, 38.25];
        assert!(storm.area.lies_outside(city) && quake.area.lies_outside(city));
    }

    #[test]
    fn a_russian_notice_that_names_its_streets_only_in_words_is_taken() {
        let r = parse_cap("res", &fixture("gorlovka-outage-ru.xml")).unwrap().unwrap();
        r.validate().unwrap();
        let streets: Vec<&str> = r.area.street_ranges.iter().map(|s| s.street.as_str()).collect();
        assert_eq!(streets, vec!["Садовая", "Победы"]);
        assert_eq!(r.area.street_ranges[0].houses.len(), 2);
        assert!(r.ended.is_none());
    }

    #[test]
    fn an_all_clear_ends_and_a_cancel_withdraws() {
        let base = fixture("gorlovka-outage-ru.xml");
        let update = base
            .replace("<msgType>Alert</msgType>", "<msgType>Update</msgType><references>dispatch@res-gorlovka.example,RES-2026-1130-17,2026-11-30T09:05:00+03:00</references>")
            .replace("<identifier>RES-2026-1130-17</identifier>", "<identifier>RES-2026-1130-18</identifier>")
            .replace("<urgency>", "<responseType>AllClear</responseType><urgency>");
        let r = parse_cap("res", &update).unwrap().unwrap();
        assert_eq!(r.identifier, "RES-2026-1130-17");
        assert!(r.ended.as_ref().is_some_and(|e| !e.cancelled));
        let cancel = base.replace("<msgType>Alert</msgType>", "<msgType>Cancel</msgType>");
        assert!(parse_cap("res", &cancel).unwrap().unwrap().ended.is_some_and(|e| e.cancelled));
    }

    #[test]
    fn atom_and_rss_indexes_list_their_alerts() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>t</title><updated>2026-11-30T09:00:00Z</updated>
          <entry><id>urn:a1</id><updated>2026-11-30T09:00:00Z</updated><title>a</title>
            <link rel="alternate" type="text/html" href="https://e.example/a1.html"/>
            <link rel="alternate" type="application/cap+xml" href="/cap/a1.xml"/></entry>
          <entry><id>urn:a2</id><updated>2026-11-30T09:01:00Z</updated><title>b</title><link href="b.xml"/></entry></feed>"#;
        let entries = parse_index(atom).unwrap().unwrap();
        assert_eq!(entries.iter().map(|e| e.link.as_str()).collect::<Vec<_>>(), vec!["/cap/a1.xml", "b.xml"]);
        assert_eq!(entries[0].id, "urn:a1");
        let rss = r#"<rss version="2.0"><channel><title>t</title><item><title>a</title><link>https://e.example/a.xml</link><guid>g1</guid><pubDate>Mon, 30 Nov 2026 09:00:00 GMT</pubDate></item></channel></rss>"#;
        assert_eq!(parse_index(rss).unwrap().unwrap()[0].id, "g1");
        assert_eq!(parse_index(&fixture("oasis-amber.xml")).unwrap(), None, "an alert is not an index");
    }
}
