//! GraphQL documents and variables, sent as an operator to the real router,
//! schema and store (`server::app` over a small city, on a loopback port).
//!
//! Every answer is HTTP 200 (400 for a body that is not a GraphQL request)
//! with either data or errors, and every error carries `extensions.code`;
//! none is INTERNAL, which would mean a failed store or a panic in a resolver.
//! A refused operation changes nothing: when an error has no path (parse,
//! validation, variables, limits) or a single-field mutation fails at its own
//! field, the store has committed nothing, so no request (and no request
//! number) appeared. `check` is clean at the end.
//!
//! Corpus files are `{"query", "variables"}` bodies in which `{{request}}` and
//! `{{number}}` stand for a routed request's id and number, `{{unrouted}}` for
//! one in the unrouted queue, `{{spare}}` for one free to cancel, and
//! `{{incident}}` for an active incident's id.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use kontakt_api::auth::Auth;
use kontakt_api::config::Settings;
use kontakt_storage::{SledStore, Store};
use kontakt_tests::app::TEST_SECRET;
use kontakt_tests::{code, small_city};
use kontakt_workflow::incidents::{Area, IncidentReport};
use kontakt_workflow::model::{Actor, Channel, RequestNumber, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Kontakt, NewRequest, SystemClock, check};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::graphql_ops::{TOKENS, operation, soup};
use super::{cases, corpus, fuzz, mutate, mutation};

/// A running server over a fresh store, and what the corpus placeholders stand for.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    url: String,
    client: reqwest::Client,
    token: String,
    store: Arc<SledStore>,
    kontakt: Kontakt,
    counter: String,
    placeholders: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn start() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let kontakt = Kontakt::new(store.clone(), Arc::new(SystemClock));
        small_city(&kontakt, 6).unwrap();
        let op = Actor::person("fuzz", Role::Operator, None);
        let register = |category: &str, address: &str| {
            let card = NewRequest {
                category: code(category),
                address: AddressPoint::Id(address.into()),
                description: "Течёт кран в подвале".into(),
                channel: Channel::Phone,
                applicant: Applicant::default(),
                raise_reason: None,
                incident: None,
            };
            kontakt.register(card, &op).unwrap().request
        };
        // Routed, unrouted (cat-3 has no rule), and one the corpus may cancel.
        let (request, unrouted, spare) =
            (register("cat-1", "a1"), register("cat-3", "a2"), register("cat-2", "a3"));
        let incident = kontakt
            .report_incident(
                IncidentReport {
                    source: "manual".into(),
                    identifier: "fuzz-1".into(),
                    title: "Отключение воды".into(),
                    kind: "water".into(),
                    organization: Some(code("water")),
                    started_at: kontakt.now(),
                    expected_end_at: None,
                    area: Area { streets: vec!["ул. Тестовая 0".into()], ..Area::default() },
                    area_description: None,
                    ended: None,
                },
                &op,
            )
            .unwrap()
            .expect("the incident is new")
            .incident;
        let counter = RequestNumber::counter(request.number.year);
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let settings = Settings::load(None).unwrap();
        let auth = Auth::new(TEST_SECRET.as_bytes(), settings.auth.clone(), kontakt.clone());
        let (token, _) = auth
            .issue(
                "fuzz-operator",
                Role::Operator,
                None,
                chrono::Duration::hours(6),
                kontakt.now(),
                &kontakt_workflow::model::Actor::system(),
            )
            .unwrap();
        let url = runtime.block_on(async {
            let (_, shutdown) = tokio::sync::watch::channel(false);
            let (router, _, _) =
                kontakt_api::server::app(&settings, kontakt.clone(), store.clone(), auth, false, shutdown)
                    .unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                    .await
                    .unwrap()
            });
            format!("http://{addr}/graphql")
        });
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().unwrap();
        let placeholders = vec![
            ("{{request}}", request.id.to_string()),
            ("{{number}}", request.number.to_string()),
            ("{{unrouted}}", unrouted.id.to_string()),
            ("{{spare}}", spare.id.to_string()),
            ("{{incident}}", incident.id),
        ];
        Fixture { runtime, url, client, token, store, kontakt, counter, placeholders, _dir: dir }
    }

    fn fill(&self, text: &str) -> String {
        self.placeholders.iter().fold(text.to_string(), |t, (from, to)| t.replace(from, to))
    }

    /// What the store has committed: transactions, and request numbers given out.
    fn commits(&self) -> (u64, u64) {
        (self.store.stats().commits.load(Ordering::Acquire), self.store.counter(&self.counter).unwrap())
    }

    fn post(&self, body: Vec<u8>) -> Result<(u16, Value), String> {
        self.runtime.block_on(async {
            let resp = self
                .client
                .post(&self.url)
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| format!("no answer (did the server panic?): {e}"))?;
            let status = resp.status().as_u16();
            let text = resp.text().await.map_err(|e| e.to_string())?;
            let value =
                serde_json::from_str(&text).map_err(|_| format!("HTTP {status}, not JSON: {text}"))?;
            Ok((status, value))
        })
    }

    /// Sends a body, checks the answer and the store against the rules above, returns the answer.
    fn check(&self, body: &[u8]) -> Result<Value, TestCaseError> {
        let body = self.fill(&String::from_utf8_lossy(body));
        let query =
            serde_json::from_str::<Value>(&body).ok().and_then(|v| v["query"].as_str().map(str::to_string));
        let before = self.commits();
        let (status, answer) = self.post(body.into_bytes()).map_err(TestCaseError::fail)?;
        let after = self.commits();
        let errors = answer["errors"].as_array().cloned().unwrap_or_default();
        prop_assert!(status == 200 || (status == 400 && !errors.is_empty()), "HTTP {status}: {answer}");
        if errors.is_empty() {
            // async-graphql answers `"data": null` rather than `{}` when nothing ends up selected
            // (directives that skip every field, fragments on other types); such an answer must
            // not have changed anything.
            let data = &answer["data"];
            prop_assert!(
                data.is_object() || (data.is_null() && after == before),
                "neither data nor errors: {answer} (query {query:?})"
            );
            return Ok(answer);
        }
        for e in &errors {
            let code = e["extensions"]["code"].as_str();
            prop_assert!(code.is_some(), "an error without a code: {e}");
            prop_assert_ne!(code, Some("INTERNAL"), "{}", answer);
        }
        let unexecuted = errors.iter().any(|e| e["path"].as_array().is_none_or(Vec::is_empty));
        let refused_mutation = query.as_deref().and_then(single_mutation_field).is_some_and(|key| {
            errors.iter().any(|e| e["path"].as_array().is_some_and(|p| p.len() == 1 && p[0] == key.as_str()))
        });
        if unexecuted || refused_mutation {
            prop_assert_eq!(before, after, "a refused operation changed the store: {}", answer);
        }
        Ok(answer)
    }

    fn check_clean(&self) {
        let report = check::check(&self.kontakt).unwrap();
        assert!(report.is_clean(), "{report}");
    }
}

/// The response key of a document's only field when it is a one-field mutation.
fn single_mutation_field(query: &str) -> Option<String> {
    let doc = async_graphql::parser::parse_query(query).ok()?;
    let op = match doc.operations {
        DocumentOperations::Single(op) => op,
        DocumentOperations::Multiple(ops) if ops.len() == 1 => ops.into_values().next()?,
        DocumentOperations::Multiple(_) => return None,
    };
    if op.node.ty != OperationType::Mutation {
        return None;
    }
    match op.node.selection_set.node.items.as_slice() {
        [only] => match &only.node {
            Selection::Field(f) => Some(f.node.response_key().node.to_string()),
            _ => None,
        },
        _ => None,
    }
}

#[test]
fn every_corpus_operation_is_answered_with_data_or_coded_errors() {
    let fx = Fixture::start();
    let mut answered = 0;
    for (name, bytes) in corpus("graphql") {
        serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| panic!("graphql/{name} is not JSON: {e}"));
        let answer = fx.check(&bytes).unwrap_or_else(|e| panic!("graphql/{name}: {e}"));
        answered += usize::from(answer["errors"].is_null());
    }
    assert!(answered >= 8, "most of the corpus is valid operations ({answered} answered with data)");
    fx.check_clean();
}

#[test]
fn random_operations_are_answered_with_data_or_coded_errors() {
    let fx = Fixture::start();
    fuzz(cases(500), prop_oneof![5 => operation(), 1 => soup()], |body| {
        fx.check(body.to_string().as_bytes()).map(drop)
    });
    fx.check_clean();
}

#[test]
fn mutated_corpus_operations_are_answered_with_data_or_coded_errors() {
    let fx = Fixture::start();
    let seeds = corpus("graphql");
    // The query text mutated inside a well-formed body, or the body's bytes themselves.
    let queries: Vec<(String, Vec<u8>)> = seeds
        .iter()
        .map(|(name, bytes)| {
            let v: Value = serde_json::from_slice(bytes).unwrap();
            (name.clone(), v["query"].as_str().unwrap_or_default().as_bytes().to_vec())
        })
        .collect();
    fuzz(cases(500), (any::<bool>(), mutation(1..4)), |(in_query, m)| {
        if in_query {
            let seed: Value = serde_json::from_slice(&seeds[m.0 % seeds.len()].1).unwrap();
            let query = String::from_utf8_lossy(&mutate(&queries, TOKENS, &m)).into_owned();
            fx.check(json!({ "query": query, "variables": seed["variables"] }).to_string().as_bytes())
                .map(drop)
        } else {
            fx.check(&mutate(&seeds, TOKENS, &m)).map(drop)
        }
    });
    fx.check_clean();
}
