//! Random feed documents shaped like CAP 1.2 alerts and JSON feeds: every
//! element or field is mostly a plausible value, sometimes an edge value
//! (NaN, off-Earth points, impossible dates), sometimes anything; elements
//! are dropped or left unescaped now and then, so the parser sees both
//! documents it accepts and ones it must refuse for each reason.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::any_json;

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Text a field might hold: plausible values, edge values, and anything at all.
fn value(plausible: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        4 => proptest::sample::select(plausible).prop_map(str::to_string),
        1 => "\\PC{0,24}",
        1 => proptest::sample::select(&["", " ", "NaN", "inf", "1e309", "-0", "\u{0}", "Ω"][..]).prop_map(str::to_string),
    ]
    .boxed()
}

const TIMES: &[&str] = &[
    "2026-11-30T09:00:00+03:00",
    "2026-11-30T06:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z",
    "soon",
];
const POINTS: &[&str] = &["48.3,38.05", "48.31,38.03", "-90,180", "91,0", "48.3;38.05", "48.3,", "NaN,inf"];

fn point_list() -> BoxedStrategy<String> {
    proptest::collection::vec(value(POINTS), 0..6).prop_map(|p| p.join(" ")).boxed()
}

/// An element with escaped text, sometimes dropped, sometimes left unescaped.
fn element(name: &'static str, text: BoxedStrategy<String>) -> BoxedStrategy<String> {
    (0..10u8, text)
        .prop_map(move |(roll, t)| match roll {
            0 => String::new(),
            1 => format!("<{name}>{t}</{name}>"),
            _ => format!("<{name}>{}</{name}>", xml_escape(&t)),
        })
        .boxed()
}

fn cap_area() -> BoxedStrategy<String> {
    (
        element("areaDesc", value(&["Квартал", "центр"])),
        proptest::collection::vec(element("polygon", point_list()), 0..3),
        proptest::collection::vec(
            (value(POINTS), value(&["1", "0.5", "0", "-1", "501", "x"]))
                .prop_map(|(c, r)| format!("{c} {r}")),
            0..2,
        ),
        proptest::collection::vec(
            (value(&["kontakt:address", "kontakt:street", "other"]), value(&["a1", "ул. Тестовая 1"])),
            0..3,
        ),
    )
        .prop_map(|(desc, polygons, circles, geocodes)| {
            let circles: String =
                circles.iter().map(|c| format!("<circle>{}</circle>", xml_escape(c))).collect();
            let geocodes: String = geocodes
                .iter()
                .map(|(n, v)| {
                    format!(
                        "<geocode><valueName>{}</valueName><value>{}</value></geocode>",
                        xml_escape(n),
                        xml_escape(v)
                    )
                })
                .collect();
            format!("<area>{desc}{}{circles}{geocodes}</area>", polygons.concat())
        })
        .boxed()
}

pub(crate) fn cap_document() -> impl Strategy<Value = String> {
    let head = (
        element("identifier", value(&["RES-1", "W-7", "a/b"])),
        element("sent", value(TIMES)),
        element("status", value(&["Actual", "Exercise", "Test"])),
        element("msgType", value(&["Alert", "Update", "Cancel", "Ack"])),
        element("references", value(&["res,RES-1,2026-11-30T09:00:00+03:00", "x", ",,", "a,b c,d"])),
    );
    let info = (
        element("event", value(&["power", "water", " "])),
        element("headline", value(&["Нет света", ""])),
        element("onset", value(TIMES)),
        element("expires", value(TIMES)),
        element("instruction", value(&["Питание восстановлено", ""])),
        proptest::collection::vec(value(&["res", "water", "Bad Code"]), 0..2),
        proptest::collection::vec(cap_area(), 0..3),
    );
    (head, proptest::option::weighted(0.9, info), any::<bool>()).prop_map(
        |((id, sent, status, msg, refs), info, namespaced)| {
            let info = info
                .map(|(event, headline, onset, expires, instruction, orgs, areas)| {
                    let params: String = orgs
                        .iter()
                        .map(|o| {
                            format!(
                                "<parameter><valueName>kontakt:organization</valueName><value>{}</value></parameter>",
                                xml_escape(o)
                            )
                        })
                        .collect();
                    format!("<info>{event}{headline}{onset}{expires}{instruction}{params}{}</info>", areas.concat())
                })
                .unwrap_or_default();
            let ns = if namespaced { " xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"" } else { "" };
            format!("<alert{ns}>{id}<sender>s</sender>{sent}{status}{msg}{refs}<scope>Public</scope>{info}</alert>")
        },
    )
}

/// A field of a JSON incident: mostly the right type, sometimes anything.
fn field(right: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![6 => right.prop_map(Some), 2 => Just(None), 1 => any_json().prop_map(Some)].boxed()
}

fn text(plausible: &'static [&'static str]) -> BoxedStrategy<Value> {
    value(plausible).prop_map(Value::String).boxed()
}

fn coordinate() -> BoxedStrategy<Value> {
    prop_oneof![
        (-100.0..100.0f64).prop_map(Value::from),
        (-200.0..200.0f64).prop_map(Value::from),
        Just(json!(48.3))
    ]
    .boxed()
}

fn json_incident() -> impl Strategy<Value = Value> {
    let strings = || {
        proptest::collection::vec(value(&["a1", "ул. Тестовая 1", ""]), 0..3).prop_map(|v| json!(v)).boxed()
    };
    let polygon =
        proptest::collection::vec((coordinate(), coordinate()).prop_map(|(a, b)| json!([a, b])), 0..6)
            .prop_map(Value::Array)
            .boxed();
    let circle = (coordinate(), coordinate(), coordinate())
        .prop_map(|(lat, lon, r)| json!({ "lat": lat, "lon": lon, "radiusKm": r }))
        .boxed();
    (
        (
            field(text(&["W-7", "RES-1", "x/y"])),
            field(text(&["Порыв водовода", ""])),
            field(text(&["water", "power"])),
        ),
        (field(text(&["water", "res", "Bad Code"])), field(strings()), field(strings())),
        (field(polygon), field(circle), field(text(&["квартал"]))),
        (field(text(TIMES)), field(text(TIMES)), field(text(TIMES)), field(text(&["устранено", ""]))),
        proptest::option::weighted(0.1, any_json()),
    )
        .prop_map(
            |(
                (id, title, kind),
                (org, addresses, streets),
                (polygon, circle, desc),
                (s, e, ended, res),
                extra,
            )| {
                let names = [
                    "id",
                    "title",
                    "kind",
                    "organization",
                    "addresses",
                    "streets",
                    "polygon",
                    "circle",
                    "areaDescription",
                    "started",
                    "expectedEnd",
                    "ended",
                    "resolution",
                ];
                let values =
                    [id, title, kind, org, addresses, streets, polygon, circle, desc, s, e, ended, res];
                let mut object: serde_json::Map<String, Value> =
                    names.iter().zip(values).filter_map(|(n, v)| v.map(|v| (n.to_string(), v))).collect();
                if let Some(extra) = extra {
                    object.insert("colour".into(), extra);
                }
                Value::Object(object)
            },
        )
}

pub(crate) fn json_document() -> impl Strategy<Value = String> {
    (proptest::collection::vec(json_incident(), 0..4), 0..4u8, any_json()).prop_map(
        |(items, shape, other)| match shape {
            0 => json!({ "incidents": items }).to_string(),
            1 => Value::Array(items).to_string(),
            2 => other.to_string(),
            _ => json!({ "incidents": items, "next": other }).to_string(),
        },
    )
}
