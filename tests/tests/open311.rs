//! Open311 GeoReport v2 through the real server: services, requests and
//! tokens in XML and JSON, posting a request with a token, and every refusal
//! in the spec's error shape. A public reader never sees who called.

use kontakt_tests::app::{TestApp, WsClient, claims, mint, spawn};
use serde_json::{Value, json};

const V2: &str = "/open311/v2";

/// The demo server with a burst no test reaches: these tests are about
/// answers, not the rate limit (which has its own test).
fn spawn_unlimited(data: &std::path::Path) -> TestApp {
    spawn(data, &["--demo"], &[("KONTAKT__PUBLIC__BURST", "100000")])
}

fn parse_json(status: u16, body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {body}"))
}

/// The text of each child element of `node`, by name.
fn fields(node: roxmltree::Node) -> Vec<(String, String)> {
    node.children()
        .filter(|c| c.is_element())
        .map(|c| (c.tag_name().name().to_string(), c.text().unwrap_or_default().to_string()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Asserts the spec's error list in JSON.
fn assert_json_error(status: u16, body: &str, code: u16, words: &str) {
    assert_eq!(status, code, "{body}");
    let v = parse_json(status, body);
    assert_eq!(v[0]["code"], code, "{body}");
    let d = v[0]["description"].as_str().unwrap_or_default();
    assert!(d.contains(words), "{words:?} not in {body}");
}

/// Asserts the spec's error list in XML.
fn assert_xml_error(status: u16, body: &str, code: u16, words: &str) {
    assert_eq!(status, code, "{body}");
    let doc = roxmltree::Document::parse(body).unwrap_or_else(|e| panic!("not XML ({e}): {body}"));
    assert_eq!(doc.root_element().tag_name().name(), "errors", "{body}");
    let error = doc.root_element().children().find(|c| c.has_tag_name("error")).expect("an error element");
    let f = fields(error);
    assert_eq!(field(&f, "code"), Some(code.to_string().as_str()), "{body}");
    assert!(field(&f, "description").unwrap_or_default().contains(words), "{words:?} not in {body}");
}

async fn building(app: &TestApp, search: &str) -> Value {
    let (_, b) = app
        .gql(
            Some(&app.token("OPERATOR")),
            "query($s: String!) { addresses(search: $s, first: 1) { id label lat lon } }",
            json!({ "s": search }),
        )
        .await;
    b["data"]["addresses"][0].clone()
}

async fn by_number(app: &TestApp, number: &str) -> Value {
    let (_, b) = app
        .gql(
            Some(&app.token("ADMIN")),
            "query($n: String!) { request(number: $n) { id status channel deadline registeredAt description
               organization { id name } address { id label lat lon } applicant { name phone callbackConsent } } }",
            json!({ "n": number }),
        )
        .await;
    b["data"]["request"].clone()
}

fn instant(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?}: {e}")).to_utc()
}

async fn total(app: &TestApp) -> i64 {
    let (_, b) = app.gql(Some(&app.token("ADMIN")), "{ requests(first: 1) { totalCount } }", json!({})).await;
    b["data"]["requests"]["totalCount"].as_i64().expect("a count")
}

#[tokio::test]
async fn services_are_the_categories_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_unlimited(dir.path());
    let (_, b) = app
        .gql(
            Some(&app.token("OPERATOR")),
            r#"{ categories { code group deadlineClass ru: name en: name(lang: "en") } }"#,
            json!({}),
        )
        .await;
    let categories = b["data"]["categories"].as_array().unwrap().clone();
    assert!(categories.len() > 30);
    let flooding = categories.iter().find(|c| c["code"] == "basement-flooding").unwrap();

    let (status, body) = app.get(&format!("{V2}/services.json")).await;
    let services = parse_json(status, &body);
    assert_eq!(status, 200);
    assert_eq!(services.as_array().unwrap().len(), categories.len());
    let s = services.as_array().unwrap().iter().find(|s| s["service_code"] == "basement-flooding").unwrap();
    assert_eq!(s["service_name"], flooding["ru"]);
    assert_eq!(s["group"], flooding["group"]);
    assert_eq!(s["metadata"], false);
    assert_eq!(s["type"], "realtime");
    let description = s["description"].as_str().unwrap();
    assert!(description.starts_with("Жилищное хозяйство."), "{description}");
    assert!(description.contains("24 часа"), "{description}");
    assert!(s["keywords"].as_str().unwrap().contains("basement-flooding"), "{s}");

    let (_, body) = app.get(&format!("{V2}/services.json?lang=en")).await;
    let english = parse_json(200, &body);
    let s = english.as_array().unwrap().iter().find(|s| s["service_code"] == "basement-flooding").unwrap();
    assert_eq!(s["service_name"], flooding["en"]);
    assert!(s["description"].as_str().unwrap().contains("within 24 hours"), "{s}");

    // XML is the default, with or without the extension.
    for path in ["services.xml", "services"] {
        let (status, body) = app.get(&format!("{V2}/{path}")).await;
        assert_eq!(status, 200, "{body}");
        let doc = roxmltree::Document::parse(&body).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "services");
        let items: Vec<_> = doc.root_element().children().filter(|c| c.has_tag_name("service")).collect();
        assert_eq!(items.len(), categories.len());
        let f =
            items.iter().map(|n| fields(*n)).find(|f| field(f, "service_code") == Some("basement-flooding"));
        let f = f.unwrap();
        assert_eq!(field(&f, "service_name"), flooding["ru"].as_str());
        assert_eq!(field(&f, "metadata"), Some("false"));
        assert_eq!(field(&f, "type"), Some("realtime"));
        assert_eq!(field(&f, "group"), Some("Жилищное хозяйство"));
    }

    let (status, body) = app.get(&format!("{V2}/services/basement-flooding.json")).await;
    assert_eq!(parse_json(status, &body), json!({ "service_code": "basement-flooding", "attributes": [] }));
    let (status, body) = app.get(&format!("{V2}/services/basement-flooding.xml")).await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_definition");
    let f = fields(doc.root_element());
    assert_eq!(field(&f, "service_code"), Some("basement-flooding"));
    assert!(doc.root_element().children().any(|c| c.has_tag_name("attributes")));

    let (status, body) = app.get(&format!("{V2}/services/no-such-service.json")).await;
    assert_json_error(status, &body, 404, "no-such-service");
    let (status, body) = app.get(&format!("{V2}/services/no-such-service.xml")).await;
    assert_xml_error(status, &body, 404, "no-such-service");
    let (status, body) = app.get(&format!("{V2}/services.yaml")).await;
    assert_xml_error(status, &body, 400, "yaml");
    let (status, body) = app.get(&format!("{V2}/services.json?lang=fr")).await;
    assert_json_error(status, &body, 400, "lang");
    let (status, body) = app.get(&format!("{V2}/nothing.json")).await;
    assert_json_error(status, &body, 404, "nothing");
    let (status, body) =
        app.send(reqwest::Method::DELETE, &format!("{V2}/services.json"), "text/plain", vec![]).await;
    assert_json_error(status, &body, 405, "DELETE");
    let (status, body) = app.post_form(&format!("{V2}/services.xml"), &[("a", "b")]).await;
    assert_xml_error(status, &body, 405, "POST");

    let (status, body) = app.get(&format!("{V2}/discovery.json")).await;
    let d = parse_json(status, &body);
    assert_eq!(d["endpoints"][0]["url"], format!("{}{V2}", app.base));
    assert_eq!(d["endpoints"][0]["formats"], json!(["text/xml", "application/json"]));
}

#[tokio::test]
async fn a_posted_request_is_registered_and_reads_back_without_its_applicant() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_unlimited(dir.path());
    let operator = app.token("OPERATOR");
    let home = building(&app, "Пушкинская 12").await;
    let (lat, lon) = (home["lat"].as_f64().unwrap(), home["lon"].as_f64().unwrap());

    let mut ws =
        WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": operator })).await.unwrap();
    ws.subscribe("1", "subscription { requestEvents { kind request { number channel } } }", json!({})).await;
    // graphql-transport-ws does not acknowledge a subscribe: give the server a moment to start the stream.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let description = "Свет пропал в подъезде, перезвоните Секретовой";
    let (lat_s, lon_s) = ((lat + 0.0001).to_string(), (lon + 0.0001).to_string());
    let (status, body) = app
        .post_form(
            &format!("{V2}/requests.json"),
            &[
                ("api_key", operator.as_str()),
                ("service_code", "power-outage-building"),
                ("lat", lat_s.as_str()),
                ("long", lon_s.as_str()),
                ("description", description),
                ("first_name", "Анна"),
                ("last_name", "Секретова"),
                ("phone", "8 (856) 412-34-56"),
                ("email", "anna@example.org"),
                ("account_id", "acc-17"),
                ("device_id", "dev-1"),
                ("media_url", "https://example.org/p.jpg"),
            ],
        )
        .await;
    let posted = parse_json(status, &body);
    assert_eq!(status, 200, "{body}");
    let posted = posted.as_array().unwrap();
    assert_eq!(posted.len(), 1);
    let number = posted[0]["service_request_id"].as_str().unwrap().to_string();
    assert_eq!(posted[0]["account_id"], "acc-17");
    assert_eq!(posted[0]["service_notice"], "аварийная заявка: срок исполнения 6 часов");
    let token = posted[0]["token"].as_str().unwrap().to_string();

    let r = by_number(&app, &number).await;
    assert_eq!(r["id"], token.as_str());
    assert_eq!(r["channel"], "OPEN_311");
    assert_eq!(r["status"], "DISPATCHED");
    assert_eq!(r["organization"]["id"], "res-gorlovka");
    assert_eq!(r["description"], description);
    assert_eq!(r["address"]["id"], home["id"]);
    assert_eq!(
        r["applicant"],
        json!({ "name": "Анна Секретова", "phone": "+78564123456", "callbackConsent": false })
    );

    let p = ws.next_payload(10).await.expect("the registration is streamed");
    assert_eq!(p["data"]["requestEvents"]["kind"], "REGISTERED", "{p}");
    assert_eq!(p["data"]["requestEvents"]["request"]["number"], number.as_str());
    assert_eq!(p["data"]["requestEvents"]["request"]["channel"], "OPEN_311");

    let secrets = ["Секретов", "Анна", "4123456", "anna@", description, "acc-17", "dev-1"];
    let (status, body) = app.get(&format!("{V2}/requests/{number}.json")).await;
    let list = parse_json(status, &body);
    assert_eq!(status, 200);
    for s in secrets {
        assert!(!body.contains(s), "{s:?} leaked: {body}");
    }
    let one = list.as_array().unwrap();
    assert_eq!(one.len(), 1);
    let j = &one[0];
    assert_eq!(j["service_request_id"], number.as_str());
    assert_eq!(j["status"], "open");
    assert_eq!(j["service_code"], "power-outage-building");
    assert_eq!(j["service_name"], "Нет электроэнергии в доме");
    assert_eq!(j["agency_responsible"], r["organization"]["name"]);
    assert_eq!(j["address"], home["label"]);
    assert_eq!(j["address_id"], home["id"]);
    assert_eq!(
        (j["lat"].as_f64(), j["long"].as_f64()),
        (Some(lat), Some(lon)),
        "the building, not the caller"
    );
    assert_eq!(instant(j["expected_datetime"].as_str().unwrap()), instant(r["deadline"].as_str().unwrap()));
    assert_eq!(
        instant(j["requested_datetime"].as_str().unwrap()),
        instant(r["registeredAt"].as_str().unwrap())
    );
    assert!(j.get("description").is_none() && j.get("media_url").is_none(), "{j}");

    let (status, body) = app.get(&format!("{V2}/requests/{number}.xml")).await;
    assert_eq!(status, 200, "{body}");
    for s in secrets {
        assert!(!body.contains(s), "{s:?} leaked: {body}");
    }
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    let requests: Vec<_> = doc.root_element().children().filter(|c| c.has_tag_name("request")).collect();
    assert_eq!(requests.len(), 1);
    let x = fields(requests[0]);
    assert_eq!(field(&x, "service_request_id"), Some(number.as_str()));
    assert_eq!(field(&x, "status"), Some("open"));
    assert_eq!(field(&x, "agency_responsible"), r["organization"]["name"].as_str());
    assert_eq!(field(&x, "address"), home["label"].as_str());
    assert_eq!(field(&x, "lat").map(|v| v.parse::<f64>().unwrap()), Some(lat));
    assert_eq!(field(&x, "long").map(|v| v.parse::<f64>().unwrap()), Some(lon));
    assert_eq!(instant(field(&x, "expected_datetime").unwrap()), instant(r["deadline"].as_str().unwrap()));
    assert_eq!(field(&x, "description"), None);

    // The description is for those who may see the request's applicant.
    let (_, body) = app.get(&format!("{V2}/requests/{number}.json?api_key={operator}")).await;
    assert_eq!(parse_json(200, &body)[0]["description"], description);
    let (_, body) =
        app.get(&format!("{V2}/requests/{number}.xml?api_key={}", app.token("res-gorlovka"))).await;
    assert!(body.contains(&format!("<description>{description}</description>")), "{body}");
    let (_, body) =
        app.get(&format!("{V2}/requests/{number}.json?api_key={}", app.token("gas-gorlovka"))).await;
    assert!(parse_json(200, &body)[0].get("description").is_none(), "{body}");
    for s in ["Секретов", "4123456"] {
        assert!(!body.contains(s), "{s:?} leaked to a contractor: {body}");
    }

    let (status, body) = app.get(&format!("{V2}/tokens/{token}.json")).await;
    assert_eq!(parse_json(status, &body), json!([{ "service_request_id": number, "token": token }]));
    let (status, body) = app.get(&format!("{V2}/tokens/{token}.xml")).await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&body).unwrap();
    let t = fields(doc.root_element().children().find(|c| c.has_tag_name("request")).unwrap());
    assert_eq!(field(&t, "service_request_id"), Some(number.as_str()));
    assert_eq!(field(&t, "token"), Some(token.as_str()));

    // The other ways to say where: a registry code, and words of the address.
    let (status, body) = app
        .post_form(
            &format!("{V2}/requests.xml"),
            &[
                ("api_key", operator.as_str()),
                ("service_code", "pothole"),
                ("address_id", home["id"].as_str().unwrap()),
                ("description", "Яма"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    let x = fields(doc.root_element().children().find(|c| c.has_tag_name("request")).unwrap());
    let second = field(&x, "service_request_id").unwrap().to_string();
    assert_eq!(by_number(&app, &second).await["address"]["id"], home["id"]);
    assert_eq!(field(&x, "account_id"), None);
    let (status, body) = app
        .post_form(
            &format!("{V2}/requests.json"),
            &[
                ("api_key", app.token("SUPERVISOR").as_str()),
                ("service_code", "pothole"),
                ("address_string", "Пушкинская 12"),
                ("description", "Яма у подъезда"),
            ],
        )
        .await;
    let third = parse_json(status, &body)[0]["service_request_id"].as_str().unwrap().to_string();
    assert_eq!(by_number(&app, &third).await["address"]["label"], home["label"]);

    let (status, body) = app.get(&format!("{V2}/requests/2026-999999.json")).await;
    assert_json_error(status, &body, 404, "2026-999999");
    let (status, body) = app.get(&format!("{V2}/requests/2026-999999.xml")).await;
    assert_xml_error(status, &body, 404, "2026-999999");
    let (status, body) = app.get(&format!("{V2}/requests/not-a-number.json")).await;
    assert_json_error(status, &body, 400, "not-a-number");
    let (status, body) = app.get(&format!("{V2}/tokens/01ARZ3NDEKTSV4RRFFQ69G5FAV.json")).await;
    assert_json_error(status, &body, 404, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let (status, body) = app.get(&format!("{V2}/tokens/nonsense.xml")).await;
    assert_xml_error(status, &body, 404, "nonsense");
}

/// Registers a request by GraphQL; returns its number and id.
async fn register(app: &TestApp, category: &str, address: &str) -> (String, String) {
    let (_, b) = app
        .gql(
            Some(&app.token("OPERATOR")),
            "mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id number } }",
            json!({ "input": { "categoryCode": category, "addressId": address, "description": "Описание" } }),
        )
        .await;
    let r = &b["data"]["registerRequest"];
    (r["number"].as_str().unwrap_or_else(|| panic!("{b}")).to_string(), r["id"].as_str().unwrap().to_string())
}

fn numbers(status: u16, body: &str) -> Vec<String> {
    assert_eq!(status, 200, "{body}");
    parse_json(status, body)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_request_list_filters_as_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_unlimited(dir.path());
    let (a, _) = register(&app, "power-outage-building", "g001-001").await;
    let (b, b_id) = register(&app, "pothole", "g001-002").await;
    let (c, _) = register(&app, "power-outage-building", "g001-003").await;
    let crew = app.token("roads-gorlovka");
    let (_, r) = app
        .gql(Some(&crew), &format!(r#"mutation {{ acceptRequest(id: "{b_id}") {{ status }} }}"#), json!({}))
        .await;
    assert_eq!(r["data"]["acceptRequest"]["status"], "IN_PROGRESS", "{r}");
    let (_, r) = app
        .gql(
            Some(&crew),
            &format!(
                r#"mutation {{ resolveRequest(id: "{b_id}", resolution: "Яму заделали") {{ status }} }}"#
            ),
            json!({}),
        )
        .await;
    assert_eq!(r["data"]["resolveRequest"]["status"], "RESOLVED", "{r}");

    let list = |q: &str| format!("{V2}/requests.json{q}");
    let (s, body) = app.get(&list("")).await;
    assert_eq!(numbers(s, &body), [c.as_str(), b.as_str(), a.as_str()], "the last 90 days, newest first");
    let all = parse_json(s, &body);
    let resolved = all.as_array().unwrap().iter().find(|r| r["service_request_id"] == b.as_str()).unwrap();
    assert_eq!(resolved["status"], "closed");
    assert_eq!(resolved["status_notes"], "Яму заделали");
    assert_eq!(all[0]["status"], "open");
    assert!(all[0].get("status_notes").is_none(), "{}", all[0]);

    let (s, body) = app.get(&list("?status=open")).await;
    assert_eq!(numbers(s, &body), [c.as_str(), a.as_str()]);
    let (s, body) = app.get(&list("?status=closed")).await;
    assert_eq!(numbers(s, &body), [b.as_str()]);
    let (s, body) = app.get(&list("?status=open,closed")).await;
    assert_eq!(numbers(s, &body), [c.as_str(), b.as_str(), a.as_str()]);
    let (s, body) = app.get(&list("?service_code=power-outage-building")).await;
    assert_eq!(numbers(s, &body), [c.as_str(), a.as_str()]);
    let (s, body) = app.get(&list("?service_code=power-outage-building&status=closed")).await;
    assert_eq!(numbers(s, &body), Vec::<String>::new());
    // Numbers ignore every other filter.
    let (s, body) =
        app.get(&list(&format!("?service_request_id={a},{b}&status=closed&service_code=other"))).await;
    assert_eq!(numbers(s, &body), [a.as_str(), b.as_str()]);

    let now = chrono::Utc::now();
    let w3c = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (s, body) = app.get(&list(&format!("?start_date={}", w3c(now + chrono::Duration::hours(1))))).await;
    assert_eq!(numbers(s, &body), Vec::<String>::new());
    let (s, body) = app.get(&list(&format!("?end_date={}", w3c(now - chrono::Duration::hours(1))))).await;
    assert_eq!(numbers(s, &body), Vec::<String>::new());
    let window = format!(
        "?start_date={}&end_date={}",
        w3c(now - chrono::Duration::hours(1)),
        w3c(now + chrono::Duration::hours(1))
    );
    let (s, body) = app.get(&list(&window)).await;
    assert_eq!(numbers(s, &body), [c.as_str(), b.as_str(), a.as_str()]);
    // An offset written with `+`, encoded as the spec's examples are.
    let city =
        now.with_timezone(&chrono::FixedOffset::east_opt(3 * 3600).unwrap()) - chrono::Duration::hours(1);
    let (s, body) = app.get(&list(&format!("?start_date={}", city.to_rfc3339().replace('+', "%2B")))).await;
    assert_eq!(numbers(s, &body), [c.as_str(), b.as_str(), a.as_str()]);

    let (s, body) = app.get(&format!("{V2}/requests.xml?status=open")).await;
    assert_eq!(s, 200);
    let doc = roxmltree::Document::parse(&body).unwrap();
    let xml: Vec<String> = doc
        .root_element()
        .children()
        .filter(|c| c.has_tag_name("request"))
        .map(|r| field(&fields(r), "service_request_id").unwrap().to_string())
        .collect();
    assert_eq!(xml, [c.as_str(), a.as_str()]);

    for (query, words) in [
        ("?start_date=yesterday", "start_date"),
        ("?end_date=2026-13-40", "end_date"),
        ("?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "90 days"),
        ("?start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z", "before"),
        ("?status=pending", "status"),
        ("?service_code=no-such-service", "no-such-service"),
        ("?service_request_id=12345", "12345"),
        ("?status=open&status=closed", "more than once"),
    ] {
        let (s, body) = app.get(&list(query)).await;
        assert_json_error(s, &body, 400, words);
    }
    let (s, body) = app.get(&format!("{V2}/requests.xml?start_date=yesterday")).await;
    assert_xml_error(s, &body, 400, "start_date");
}

#[tokio::test]
async fn bad_posts_are_refused_in_the_spec_shape_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_unlimited(dir.path());
    let operator = app.token("OPERATOR");
    let post = |fields: Vec<(&'static str, String)>, format: &'static str| {
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(&format!("{V2}/requests.{format}"), &fields).await
        }
    };
    let good = |key: &str| {
        vec![
            ("api_key", key.to_string()),
            ("service_code", "pothole".to_string()),
            ("address_id", "g001-001".to_string()),
            ("description", "Яма".to_string()),
        ]
    };
    let without = |name: &str| good(&operator).into_iter().filter(|(k, _)| *k != name).collect::<Vec<_>>();
    let with = |name: &'static str, value: &str| {
        let mut f = without(name);
        f.push((name, value.to_string()));
        f
    };

    for format in ["json", "xml"] {
        let check = if format == "json" { assert_json_error } else { assert_xml_error };
        let (s, body) = post(without("service_code"), format).await;
        check(s, &body, 400, "service_code is required");
        let (s, body) = post(with("service_code", "no-such-service"), format).await;
        check(s, &body, 400, "no-such-service");
        let (s, body) = post(without("address_id"), format).await;
        check(s, &body, 400, "location is required");
        let (s, body) = post(with("description", "   "), format).await;
        check(s, &body, 400, "description");
        let (s, body) = post(without("description"), format).await;
        check(s, &body, 400, "description");
        let (s, body) = post(without("api_key"), format).await;
        check(s, &body, 403, "api_key is required");
    }
    let (s, body) = post(
        [without("address_id"), vec![("address_string", "Несуществующая улица 999".into())]].concat(),
        "json",
    )
    .await;
    assert_json_error(s, &body, 400, "Несуществующая");
    let (s, body) =
        post([without("address_id"), vec![("lat", "10".into()), ("long", "10".into())]].concat(), "json")
            .await;
    assert_json_error(s, &body, 400, "no registered building");
    let (s, body) = post(with("address_id", "nowhere-1"), "json").await;
    assert_json_error(s, &body, 400, "nowhere-1");
    let (s, body) = post(with("phone", "call me"), "json").await;
    assert_json_error(s, &body, 400, "phone");
    let (s, body) = post(with("lat", "north"), "json").await;
    assert_json_error(s, &body, 400, "lat");

    let (s, body) = app
        .post_body(
            &format!("{V2}/requests.json"),
            "application/json",
            br#"{"service_code":"pothole"}"#.to_vec(),
        )
        .await;
    assert_json_error(s, &body, 400, "x-www-form-urlencoded");
    let huge = format!(
        "api_key={operator}&service_code=pothole&address_id=g001-001&description={}",
        "я".repeat(40_000)
    );
    let (s, body) = app
        .post_body(&format!("{V2}/requests.json"), "application/x-www-form-urlencoded", huge.into_bytes())
        .await;
    assert_json_error(s, &body, 413, "65536");
    let (s, body) = post(good(&operator), "yaml").await;
    assert_xml_error(s, &body, 400, "yaml");

    // Keys: forged, expired, revoked, and a role that may not register.
    let forged = mint(&claims("OPERATOR", None), "another-key-of-at-least-thirty-two-bytes!!");
    let mut old = claims("OPERATOR", None);
    old["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    old["nbf"] = json!(chrono::Utc::now().timestamp() - 7200);
    let expired = mint(&old, kontakt_tests::app::TEST_SECRET);
    let (_, issued) = app
        .gql(
            Some(&app.token("ADMIN")),
            "mutation { issueToken(role: OPERATOR, subject: \"kiosk\") { token jti } }",
            json!({}),
        )
        .await;
    let revoked = issued["data"]["issueToken"]["token"].as_str().unwrap().to_string();
    let jti = issued["data"]["issueToken"]["jti"].as_str().unwrap();
    let (_, r) = app
        .gql(Some(&app.token("ADMIN")), &format!(r#"mutation {{ revokeToken(jti: "{jti}") }}"#), json!({}))
        .await;
    assert_eq!(r["data"]["revokeToken"], true, "{r}");
    for (key, words) in [
        ("not-a-token".to_string(), "malformed"),
        (forged, "bad signature"),
        (expired, "expired"),
        (revoked, "revoked"),
        (app.token("roads-gorlovka"), "CONTRACTOR may not register"),
    ] {
        let (s, body) = post(good(&key), "json").await;
        assert_json_error(s, &body, 403, words);
        let (s, body) = post(good(&key), "xml").await;
        assert_xml_error(s, &body, 403, words);
    }
    // A bad key on a read is refused too, rather than silently read as public.
    let (s, body) = app.get(&format!("{V2}/requests.json?api_key=not-a-token")).await;
    assert_json_error(s, &body, 403, "api_key");

    assert_eq!(total(&app).await, 0, "no refused post registered anything");
    let (s, body) = post(good(&operator), "json").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(total(&app).await, 1);
}
