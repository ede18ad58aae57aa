//! Durability through the real server: every acknowledged registration is
//! there after a SIGKILL and a restart, and the store checks clean. A SIGTERM
//! stops the server gracefully. The CLI's store commands work on the result.

use std::process::Command;

use futures_util::future::join_all;
use kontakt_tests::app::{kontakt_bin, spawn_demo};
use serde_json::json;

const REGISTER: &str =
    "mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id number } }";

#[tokio::test]
async fn acknowledged_requests_survive_a_kill_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let cards = (0..40).map(|i| {
        let input = json!({ "input": { "categoryCode": "pothole", "addressId": format!("g004-{:03}", i + 1), "description": format!("яма №{i}") } });
        let (app, op) = (&app, &op);
        async move { app.gql(Some(op), REGISTER, input).await }
    });
    let acknowledged: Vec<(String, String)> = join_all(cards)
        .await
        .into_iter()
        .map(|(status, b)| {
            assert_eq!(status, 200, "{b}");
            let r = &b["data"]["registerRequest"];
            (r["id"].as_str().unwrap().to_string(), r["number"].as_str().unwrap().to_string())
        })
        .collect();
    app.kill();

    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    for (id, number) in &acknowledged {
        let (_, b) =
            app.gql(Some(&op), &format!(r#"{{ request(id: "{id}") {{ number }} }}"#), json!({})).await;
        assert_eq!(b["data"]["request"]["number"], number.as_str(), "{id} lost: {b}");
    }
    let mut numbers: Vec<u32> = acknowledged.iter().map(|(_, n)| n[5..].parse().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, (1..=40).collect::<Vec<_>>(), "numbers are gap-free");
    let (_, b) = app
        .gql(
            Some(&op),
            REGISTER,
            json!({ "input": { "categoryCode": "pothole", "addressId": "g005-001", "description": "ещё" } }),
        )
        .await;
    assert!(
        b["data"]["registerRequest"]["number"].as_str().unwrap().ends_with("000041"),
        "numbering resumes: {b}"
    );
    drop(app);

    let out = Command::new(kontakt_bin()).args(["check", "--data"]).arg(dir.path()).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "check found problems: {report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("0 problems"), "{report}");
}

#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_demo(dir.path());
    let (_, b) = app
        .gql(
            Some(&app.token("OPERATOR")),
            REGISTER,
            json!({ "input": { "categoryCode": "pothole", "addressId": "g004-001", "description": "яма" } }),
        )
        .await;
    assert!(b["data"]["registerRequest"]["id"].is_string());
    assert_eq!(app.terminate(), Some(0), "a clean exit on SIGTERM");
}

#[test]
fn the_cli_imports_checks_backs_up_issues_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("addresses.csv");
    std::fs::write(&csv, "id,street,house,district,lat,lon\nx1,ул. Новая,1,Центр,48.3,38.05\nx2,ул. Новая,2,Центр,48.3001,38.05\n").unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(kontakt_bin())
            .args(args)
            .env("KONTAKT_JWT_SECRET", kontakt_tests::app::TEST_SECRET)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let d = data.to_str().unwrap();
    let (ok, _, err) = run(&["import", "addresses", csv.to_str().unwrap(), "--data", d]);
    assert!(!ok && err.contains("holds no Kontakt store"), "the command line never creates a store: {err}");
    // The server creates it at its first start.
    drop(kontakt_tests::app::spawn(&data, &[], &[]));
    let (ok, out, err) = run(&["import", "addresses", csv.to_str().unwrap(), "--data", d]);
    assert!(ok, "{err}");
    assert!(out.contains("imported 2 rows"), "{out}");
    std::fs::write(&csv, "id,street,house,district,lat,lon\nx3,ул. Новая,3,Центр,not-a-number,38.05\n")
        .unwrap();
    let (ok, _, err) = run(&["import", "addresses", csv.to_str().unwrap(), "--data", d]);
    assert!(!ok && err.contains("line 2"), "a bad row is refused with its line: {err}");
    let (ok, token, err) = run(&["token", "issue", "--role", "SUPERVISOR", "--ttl", "2h", "--data", d]);
    assert!(ok, "{err}");
    assert_eq!(token.trim().split('.').count(), 3, "a JWT: {token}");
    let jti = err.split_whitespace().nth(1).unwrap().to_string();
    let (ok, out, _) = run(&["token", "revoke", &jti, "--data", d]);
    assert!(ok && out.contains("revoked"), "{out}");
    let (ok, _, err) = run(&["token", "issue", "--role", "CONTRACTOR", "--data", d]);
    assert!(!ok && err.contains("organization"), "{err}");
    let backup = dir.path().join("copy");
    let (ok, out, err) = run(&["backup", backup.to_str().unwrap(), "--data", d]);
    assert!(ok, "{err}");
    assert!(out.contains("copied"), "{out}");
    let (ok, out, err) = run(&["check", "--data", backup.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (ok, sdl, _) = run(&["schema"]);
    assert!(ok && sdl.contains("type Query"), "{sdl}");
}
