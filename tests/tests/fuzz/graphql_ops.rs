//! Random GraphQL operations built from the schema's own root fields and
//! argument types: each argument is passed as a declared variable or inline,
//! or left out, with a value that is mostly of its type (plausible values and
//! edge values) and sometimes null or any JSON at all. Input objects are
//! built field by field the same way. Plus token soup, for the parser.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::any_json;

/// A root field: the operation it belongs to, its arguments' types, and a selection.
struct Root {
    op: &'static str,
    field: &'static str,
    args: &'static [(&'static str, &'static str)],
    select: &'static str,
}

const REQUEST: &str = "{ id number status deadline description organization { id } history { seq kind } }";
const INCIDENT: &str = "{ id title status polygons streets coverage }";

const ROOTS: &[Root] = &[
    Root {
        op: "mutation",
        field: "registerRequest",
        args: &[("input", "RegisterRequestInput!")],
        select: REQUEST,
    },
    Root {
        op: "mutation",
        field: "registerRequest",
        args: &[("input", "RegisterRequestInput!")],
        select: "{ id }",
    },
    Root {
        op: "mutation",
        field: "cancelRequest",
        args: &[("id", "ID!"), ("reason", "String!"), ("expectedVersion", "Int")],
        select: REQUEST,
    },
    Root {
        op: "mutation",
        field: "raiseToEmergency",
        args: &[("id", "ID!"), ("reason", "String!"), ("expectedVersion", "Int")],
        select: REQUEST,
    },
    Root {
        op: "mutation",
        field: "reassignRequest",
        args: &[("id", "ID!"), ("organizationId", "ID!"), ("reason", "String!"), ("expectedVersion", "Int")],
        select: REQUEST,
    },
    Root {
        op: "mutation",
        field: "closeRequest",
        args: &[("id", "ID!"), ("note", "String")],
        select: "{ id }",
    },
    Root { op: "mutation", field: "acceptRequest", args: &[("id", "ID!")], select: "{ id }" },
    Root {
        op: "mutation",
        field: "linkToIncident",
        args: &[("id", "ID!"), ("incidentId", "ID!")],
        select: REQUEST,
    },
    Root { op: "mutation", field: "createIncident", args: &[("input", "IncidentInput!")], select: INCIDENT },
    Root {
        op: "mutation",
        field: "updateIncident",
        args: &[("id", "ID!"), ("input", "IncidentInput!")],
        select: INCIDENT,
    },
    Root {
        op: "mutation",
        field: "endIncident",
        args: &[("id", "ID!"), ("resolution", "String!")],
        select: INCIDENT,
    },
    Root {
        op: "mutation",
        field: "recordCallbackOutcome",
        args: &[("taskId", "ID!"), ("outcome", "CallbackOutcome!"), ("note", "String")],
        select: "{ id }",
    },
    Root {
        op: "mutation",
        field: "upsertCategory",
        args: &[("input", "CategoryInput!")],
        select: "{ code }",
    },
    Root { op: "mutation", field: "revokeToken", args: &[("jti", "ID!")], select: "" },
    Root {
        op: "query",
        field: "requests",
        args: &[("first", "Int!"), ("after", "String"), ("filter", "RequestFilter")],
        select: "{ totalCount edges { cursor node { id number status } } pageInfo { hasNextPage } }",
    },
    Root { op: "query", field: "request", args: &[("id", "ID"), ("number", "String")], select: REQUEST },
    Root {
        op: "query",
        field: "requestAt",
        args: &[("id", "ID!"), ("at", "DateTime!")],
        select: "{ id status }",
    },
    Root {
        op: "query",
        field: "requestHistory",
        args: &[("id", "ID!")],
        select: "{ seq kind note at actor }",
    },
    Root {
        op: "query",
        field: "addresses",
        args: &[("search", "String!"), ("first", "Int!")],
        select: "{ id label }",
    },
    Root {
        op: "query",
        field: "cardHints",
        args: &[
            ("addressId", "ID"),
            ("categoryCode", "ID"),
            ("lang", "String!"),
            ("lat", "Float"),
            ("lon", "Float"),
        ],
        select: "{ deadline deadlineClass script organization { id } activeIncidents { id } }",
    },
    Root { op: "query", field: "incident", args: &[("id", "ID!")], select: INCIDENT },
    Root {
        op: "query",
        field: "incidents",
        args: &[("status", "IncidentStatus!"), ("first", "Int!")],
        select: "{ edges { node { id } } pageInfo { hasNextPage } }",
    },
    Root { op: "query", field: "me", args: &[], select: "{ role subject }" },
    Root {
        op: "mutation",
        field: "issueToken",
        args: &[("role", "Role!"), ("ttl", "Duration"), ("organizationId", "ID")],
        select: "{ jti }",
    },
    Root {
        op: "query",
        field: "organizationPerformance",
        args: &[("from", "DateTime!"), ("to", "DateTime!")],
        select: "{ total { rate } }",
    },
    Root { op: "query", field: "slaBoard", args: &[], select: "{ unrouted rows { organization { id } } }" },
    Root {
        op: "query",
        field: "dailyReport",
        args: &[("date", "String!")],
        select: "{ date rows { organization { id } received resolved } openRequests { number } }",
    },
    Root {
        op: "query",
        field: "organizationPerformance",
        args: &[
            ("from", "DateTime!"),
            ("to", "DateTime!"),
            ("target", "Float!"),
            ("subordination", "Subordination"),
        ],
        select: "{ organization { id } total { compliance onTime } }",
    },
    Root {
        op: "query",
        field: "resourcePlan",
        args: &[("months", "Int!"), ("target", "Float!")],
        select: "{ target organizations { organizationId crewsNeeded gap } balance { fromId toId } }",
    },
];

fn pick(values: &'static [&'static str]) -> BoxedStrategy<Value> {
    proptest::sample::select(values).prop_map(|s| json!(s)).boxed()
}

fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let (names, values): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
    proptest::collection::vec(any::<u8>(), names.len())
        .prop_flat_map(move |rolls| {
            // Each field is left out one time in ten.
            let kept: Vec<_> =
                names.iter().zip(&rolls).filter(|(_, r)| **r % 10 != 0).map(|(n, _)| *n).collect();
            let strategies: Vec<_> = names
                .iter()
                .zip(&values)
                .zip(&rolls)
                .filter(|(_, r)| **r % 10 != 0)
                .map(|((_, v), _)| v.clone())
                .collect();
            strategies.prop_map(move |vs| {
                Value::Object(kept.iter().map(|n| n.to_string()).zip(vs).collect::<serde_json::Map<_, _>>())
            })
        })
        .boxed()
}

const TEXTS: &[&str] = &[
    "Течёт кран",
    "Нет света в подъезде",
    "",
    "   ",
    "угроза жизни",
    "\u{0}",
    "<script>",
    "2026-11-29",
    "2026-02-30",
    "ru",
    "en",
];
const IDS: &[&str] =
    &["{{request}}", "{{incident}}", "{{number}}", "a1", "cat-1", "res", "", "01ARZ3NDEKTSV4RRFFQ69G5FAV"];
const TIMES: &[&str] = &[
    "2026-11-30T09:00:00Z",
    "2026-11-30T09:00:00+03:00",
    "9999-12-31T23:59:59Z",
    "+262142-12-31T23:59:59Z",
    "-262143-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "now",
];

/// A value for an argument or input field of GraphQL type `ty`: mostly of that
/// type, sometimes null, sometimes anything.
fn value_of(ty: &'static str) -> BoxedStrategy<Value> {
    let text = || {
        prop_oneof![3 => pick(TEXTS), 1 => "\\PC{0,40}".prop_map(Value::String), 1 => "[а-я ]{3990,4010}".prop_map(Value::String)].boxed()
    };
    let float = || {
        prop_oneof![
            (-200.0..200.0f64).prop_map(Value::from),
            Just(json!(48.3)),
            Just(json!(38.05)),
            Just(json!(1e300))
        ]
        .boxed()
    };
    let right = match ty.trim_end_matches('!') {
        "ID" => prop_oneof![4 => pick(IDS), 1 => "\\PC{0,12}".prop_map(Value::String)].boxed(),
        "String" => text(),
        "Int" => prop_oneof![(-5..120i64).prop_map(Value::from), any::<i64>().prop_map(Value::from)].boxed(),
        "Float" => float(),
        "DateTime" => pick(TIMES),
        "Duration" => pick(&["PT6H", "P7D", "-PT15M", "PT9999999999999999S", "P99999999999W", "PT", "6h"]),
        "Role" => pick(&["OPERATOR", "CONTRACTOR", "ADMIN", "operator"]),
        "IncidentStatus" => pick(&["ACTIVE", "ENDED", "active"]),
        "Subordination" => pick(&["CITY", "REGIONAL"]),
        "CallbackOutcome" => pick(&["CONFIRMED", "NOT_FIXED", "NO_ANSWER"]),
        "RegisterRequestInput" => (
            object(vec![
                ("categoryCode", pick(&["cat-0", "cat-1", "cat-2", "cat-3", "pothole", "CAT"])),
                ("description", text()),
                ("channel", pick(&["PHONE", "WEB", "EMAIL", "WALK_IN", "OPEN311", "FAX"])),
                ("raiseToEmergency", text()),
                ("incidentId", pick(&["{{incident}}", "manual/none", "x"])),
                (
                    "applicant",
                    object(vec![
                        ("name", text()),
                        ("phone", pick(&["8 (856) 412-34-56", "+81 3 1234 5678", "12", "call me"])),
                        ("callbackConsent", any::<bool>().prop_map(Value::Bool).boxed()),
                    ]),
                ),
            ]),
            // Where: a building, a point, or (refused) both or neither.
            prop_oneof![
                6 => pick(&["a0", "a3", "a5", "g001-001", ""]).prop_map(|a| json!({ "addressId": a })),
                3 => (float(), float()).prop_map(|(lat, lon)| json!({ "lat": lat, "lon": lon })),
                1 => Just(json!({ "addressId": "a1", "lat": 48.3, "lon": 38.05 })),
                1 => Just(json!({})),
            ],
        )
            .prop_map(|(mut input, location)| {
                if let (Some(fields), Some(at)) = (input.as_object_mut(), location.as_object()) {
                    fields.extend(at.clone());
                }
                input
            })
            .boxed(),
        "IncidentInput" => object(vec![
            ("title", text()),
            ("kind", pick(&["power", "water", ""])),
            ("organizationId", pick(&["res", "water", "nobody", "Bad"])),
            (
                "addressIds",
                proptest::collection::vec(pick(&["a0", "a1", "zz"]), 0..3).prop_map(Value::Array).boxed(),
            ),
            ("streets", proptest::collection::vec(text(), 0..3).prop_map(Value::Array).boxed()),
            (
                "polygon",
                proptest::collection::vec(
                    proptest::collection::vec(float(), 0..3).prop_map(Value::Array),
                    0..6,
                )
                .prop_map(Value::Array)
                .boxed(),
            ),
            ("circle", object(vec![("lat", float()), ("lon", float()), ("radiusKm", float())])),
            ("expectedEndAt", pick(TIMES)),
            ("areaDescription", text()),
        ]),
        "RequestFilter" => object(vec![
            (
                "status",
                proptest::collection::vec(pick(&["REGISTERED", "DISPATCHED", "X"]), 0..3)
                    .prop_map(Value::Array)
                    .boxed(),
            ),
            ("organizationId", pick(&["res", "zhek", "nobody"])),
            ("district", pick(&["Север", "Юг", ""])),
            ("overdue", any::<bool>().prop_map(Value::Bool).boxed()),
            ("text", text()),
            ("registeredFrom", pick(TIMES)),
            ("registeredTo", pick(TIMES)),
            ("deadlineClass", pick(&["EMERGENCY", "SHORT", "NONE"])),
        ]),
        "CategoryInput" => object(vec![
            ("code", pick(&["cat-9", "Bad"])),
            ("deadlineClass", pick(&["EMERGENCY", "LONG"])),
            ("group", text()),
            ("nameRu", text()),
            ("nameEn", text()),
            ("scriptRu", text()),
            ("scriptEn", text()),
        ]),
        other => panic!("no values for {other}"),
    };
    prop_oneof![20 => right, 1 => Just(Value::Null), 1 => any_json()].boxed()
}

/// A value written inline as a GraphQL literal (strings quoted, so enums are refused).
fn literal(v: &Value) -> String {
    match v {
        Value::Array(items) => format!("[{}]", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Value::Object(fields) => {
            format!(
                "{{{}}}",
                fields.iter().map(|(k, v)| format!("{k}: {}", literal(v))).collect::<Vec<_>>().join(", ")
            )
        }
        other => other.to_string(),
    }
}

/// One root field with its arguments, as variables (declared) or literals.
fn root_call(
    alias: &'static str,
) -> impl Strategy<Value = (String, Vec<String>, serde_json::Map<String, Value>)> {
    (0..ROOTS.len()).prop_flat_map(move |i| {
        let root = &ROOTS[i];
        let args: Vec<_> = root
            .args
            .iter()
            .map(|(name, ty)| (0..10u8, value_of(ty)).prop_map(move |(roll, v)| (*name, *ty, roll, v)))
            .collect();
        args.prop_map(move |args| {
            let (mut decls, mut vars, mut passed) = (Vec::new(), serde_json::Map::new(), Vec::new());
            for (name, ty, roll, v) in args {
                match roll {
                    0 => {} // left out
                    1 | 2 => passed.push(format!("{name}: {}", literal(&v))),
                    _ => {
                        let var = format!("{alias}{name}");
                        decls.push(format!("${var}: {ty}"));
                        passed.push(format!("{name}: ${var}"));
                        vars.insert(var, v);
                    }
                }
            }
            let args = if passed.is_empty() { String::new() } else { format!("({})", passed.join(", ")) };
            (format!("{} {alias}: {}{args} {}", root.op, root.field, root.select), decls, vars)
        })
    })
}

/// A document of one or two root fields of one operation type, with its variables.
pub(crate) fn operation() -> impl Strategy<Value = Value> {
    (root_call("a"), proptest::option::weighted(0.2, root_call("b"))).prop_map(|(a, b)| {
        let (op, first) = a.0.split_once(' ').map(|(o, f)| (o.to_string(), f.to_string())).unwrap();
        let (mut fields, mut decls, mut vars) = (vec![first], a.1, a.2);
        // A second field joins only an operation of its own type.
        if let Some((text, d, v)) = b
            && let Some((o, f)) = text.split_once(' ')
            && o == op
        {
            fields.push(f.to_string());
            decls.extend(d);
            vars.extend(v);
        }
        let decls = if decls.is_empty() { String::new() } else { format!("({})", decls.join(", ")) };
        json!({ "query": format!("{op}{decls} {{ {} }}", fields.join(" ")), "variables": vars })
    })
}

pub(crate) const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "$",
    "!",
    "=",
    "@",
    "...",
    "\"",
    "\"\"\"",
    "#",
    ",",
    "query",
    "mutation",
    "subscription",
    "fragment",
    "on",
    "__typename",
    "__schema",
    "@include(if: false)",
    "@skip(if: true)",
    "@deprecated",
    "registerRequest",
    "requests",
    "request",
    "me",
    "id",
    "number",
    "history",
    "input",
    "first: 100",
    "first: -1",
    "first: 2147483648",
    "null",
    "true",
    "1e400",
    "-0",
    "\\u0000",
    "\\ud800",
    "a: me { role } ",
    "...on Query { me { role } }",
    "$input",
    "String!",
    "ID!",
    "Int",
    "[ID!]!",
];

pub(crate) fn soup() -> impl Strategy<Value = Value> {
    proptest::collection::vec(proptest::sample::select(TOKENS), 0..40)
        .prop_map(|tokens| json!({ "query": tokens.join(" "), "variables": {} }))
}
