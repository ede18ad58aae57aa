//! The daily report: every figure checked against an independent count kept
//! by the test while it generates a day of requests; the stored report does
//! not change when later events happen; CSV and XLSX downloads for
//! supervisors only.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use kontakt_storage::SledStore;
use kontakt_tests::app::spawn_demo;
use kontakt_tests::{code, small_city};
use kontakt_workflow::model::{Actor, Channel, DeadlineClass, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Command, Kontakt, ManualClock, NewRequest};
use serde_json::json;

/// received, resolved, on time, overdue now, reopened, median, p90, compliance.
type Figures = (u32, u32, u32, u32, u32, Option<i64>, Option<i64>, Option<f64>);

/// What the test itself knows about each (organization, class).
#[derive(Default, Debug, PartialEq)]
struct Expected {
    received: u32,
    resolved: u32,
    on_time: u32,
    overdue_now: u32,
    reopened: u32,
    durations: Vec<i64>,
    due: u32,
    due_on_time: u32,
}

fn nearest_rank(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        None
    } else {
        Some(sorted[((p * sorted.len() as f64).ceil() as usize).max(1) - 1])
    }
}

#[test]
fn every_figure_matches_an_independent_count_and_the_snapshot_never_changes() {
    let dir = tempfile::tempdir().unwrap();
    // The reported day is 2026-12-03 in city time (UTC+3): 2026-12-02T21:00Z .. 2026-12-03T21:00Z.
    let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let (start, end): (DateTime<Utc>, DateTime<Utc>) = (
        Utc.with_ymd_and_hms(2026, 12, 2, 21, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 12, 3, 21, 0, 0).unwrap(),
    );
    let clock = Arc::new(ManualClock::new(start - Duration::hours(30)));
    let k = Kontakt::new(Arc::new(SledStore::open(dir.path()).unwrap()), clock.clone());
    small_city(&k, 10).unwrap();
    let op = Actor::person("op", Role::Operator, None);
    let classes = [DeadlineClass::Emergency, DeadlineClass::Short, DeadlineClass::Medium];
    let org_of = |cat: usize, address: usize| match cat {
        0 => "res",
        1 if address.is_multiple_of(2) => "zhek",
        _ => "water",
    };
    // A deterministic generator: registrations every 47 minutes from 30 h before the day to its end.
    let mut seed: u64 = 42;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut expected: BTreeMap<(String, DeadlineClass), Expected> = BTreeMap::new();
    let mut pending = Vec::new();
    while clock_now(&clock) < end {
        let (cat, address) = (next() % 3, next() % 10);
        let new = NewRequest {
            category: code(&format!("cat-{cat}")),
            address: AddressPoint::Id(format!("a{address}")),
            description: "x".into(),
            channel: Channel::Phone,
            applicant: Applicant::default(),
            raise_reason: None,
            incident: None,
        };
        let r = k.register(new, &op).unwrap().request;
        let key = (org_of(cat, address).to_string(), classes[cat]);
        if (start..end).contains(&r.registered_at) {
            expected.entry(key.clone()).or_default().received += 1;
        }
        // Two thirds get resolved after a random delay (some late); one in five of those reopened.
        if next() % 3 != 0 {
            let after = Duration::minutes((next() % (2 * classes[cat].hours() as usize * 60)) as i64);
            pending.push((r.registered_at + after, r.id, r.registered_at, r.deadline, key, next() % 5 == 0));
        }
        clock.advance(Duration::minutes(47));
        // Apply every resolution now due, in time order.
        pending.sort_by_key(|p| p.0);
        while pending.first().is_some_and(|p| p.0 <= clock_now(&clock)) {
            let (at, id, registered, deadline, key, reopen) = pending.remove(0);
            let now = clock_now(&clock);
            clock.set(at);
            let crew = Actor::person("crew", Role::Contractor, Some(code(&key.0)));
            k.execute(id, Command::Resolve { resolution: "готово".into(), note: None }, &crew).unwrap();
            if (start..end).contains(&at) {
                let e = expected.entry(key.clone()).or_default();
                e.resolved += 1;
                e.on_time += u32::from(at <= deadline);
                e.durations.push((at - registered).num_seconds());
            }
            if reopen {
                clock.set(at + Duration::minutes(5));
                k.execute(id, Command::Reopen { reason: "не исправлено".into() }, &op).unwrap();
                if (start..end).contains(&(at + Duration::minutes(5))) {
                    expected.entry(key.clone()).or_default().reopened += 1;
                }
            }
            clock.set(now);
        }
    }
    // The report is made the next morning at 08:00 city time.
    clock.set(end + Duration::hours(8));
    let now = clock_now(&clock);
    let mut after = None;
    loop {
        let page = k.list(&Default::default(), after, 500).unwrap();
        for r in &page.items {
            let org = r.organization.as_ref().map(|o| o.to_string()).unwrap();
            if r.status.is_open() && r.deadline <= now {
                expected.entry((org.clone(), r.deadline_class)).or_default().overdue_now += 1;
            }
            // Due in the day, judged as it stands at the cut-off (nothing changes after it here).
            if (start..end).contains(&r.deadline) {
                let e = expected.entry((org, r.deadline_class)).or_default();
                e.due += 1;
                e.due_on_time += u32::from(r.resolved_late == Some(false));
            }
        }
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let report = k.daily_report(day).unwrap();
    assert!(!report.rows.is_empty());
    let mut got: BTreeMap<(String, DeadlineClass), Figures> = BTreeMap::new();
    for r in &report.rows {
        got.insert(
            (r.organization.as_ref().unwrap().to_string(), r.class),
            (
                r.received,
                r.resolved,
                r.resolved_on_time,
                r.overdue_now,
                r.reopened,
                r.median_secs,
                r.p90_secs,
                r.compliance,
            ),
        );
    }
    let want: BTreeMap<_, _> = expected
        .into_iter()
        .filter(|(_, e)| e.received + e.resolved + e.overdue_now + e.reopened + e.due > 0)
        .map(|(key, mut e)| {
            e.durations.sort_unstable();
            // Formula 2: of the requests due in the day, the share resolved on time by the cut-off.
            let compliance = (e.due > 0).then(|| f64::from(e.due_on_time) / f64::from(e.due));
            let median = nearest_rank(&e.durations, 0.5);
            let p90 = nearest_rank(&e.durations, 0.9);
            (key, (e.received, e.resolved, e.on_time, e.overdue_now, e.reopened, median, p90, compliance))
        })
        .collect();
    assert_eq!(got, want);
    // The generated day exercises every figure.
    let total = |f: fn(&Figures) -> u32| got.values().map(f).sum::<u32>();
    assert!(total(|v| v.0) > 10 && total(|v| v.1) > 10, "received and resolved");
    assert!(total(|v| v.2) < total(|v| v.1), "some resolved late");
    assert!(total(|v| v.3) > 0 && total(|v| v.4) > 0, "overdue now and reopened");
    assert!(report.open.iter().all(|l| l.deadline > start - Duration::days(8)));

    // Later changes do not rewrite the stored day.
    clock.advance(Duration::hours(1));
    for r in k.list(&Default::default(), None, 50).unwrap().items {
        if r.status.is_open()
            && let Some(org) = r.organization.clone()
        {
            let _ = k.execute(
                r.id,
                Command::Resolve { resolution: "позже".into(), note: None },
                &Actor::person("crew", Role::Contractor, Some(org)),
            );
        }
    }
    assert_eq!(k.daily_report(day).unwrap(), report, "the snapshot stands");
}

fn clock_now(c: &ManualClock) -> DateTime<Utc> {
    kontakt_workflow::Clock::now(c)
}

#[tokio::test]
async fn supervisors_download_the_report_as_csv_and_xlsx() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let registered = app
        .gql(
            Some(&op),
            r#"mutation { registerRequest(input: {categoryCode: "pothole", addressId: "g001-001", description: "яма"}) { number } }"#,
            json!({}),
        )
        .await;
    let number = registered.1["data"]["registerRequest"]["number"].as_str().unwrap().to_string();
    let today = (Utc::now() + Duration::hours(3)).date_naive();
    let client = reqwest::Client::new();
    let get = |path: String, token: Option<String>| {
        let mut req = client.get(format!("{}{path}", app.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let csv = get(format!("/reports/daily/{today}.csv"), Some(app.token("SUPERVISOR"))).await.unwrap();
    assert_eq!(csv.status().as_u16(), 200);
    let text = csv.text().await.unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark for Excel");
    assert!(text.starts_with("Организация,Класс срока,Поступило,Срок истёк за день"), "{text}");
    assert!(text.contains("долгосрочная (неделя),1,0,0,0,0"), "the pothole is counted as received: {text}");
    assert!(!text.contains(&number), "one table per file: the open requests are a file of their own");
    let en = get(format!("/reports/daily/{today}.csv?lang=en"), Some(app.token("SUPERVISOR"))).await.unwrap();
    let en = en.text().await.unwrap();
    assert!(en.trim_start_matches('\u{feff}').starts_with("Organization,Deadline class,Received"), "{en}");
    assert!(en.contains("long (one week),1,0,0,0,0"), "{en}");
    let open = get(format!("/reports/daily/{today}-open.csv"), Some(app.token("SUPERVISOR"))).await.unwrap();
    assert_eq!(open.status().as_u16(), 200);
    let open = open.text().await.unwrap();
    assert!(
        open.trim_start_matches('\u{feff}').starts_with("Номер,Организация,Класс срока,Статус"),
        "{open}"
    );
    let line = open.lines().find(|l| l.starts_with(&number)).unwrap_or_else(|| panic!("{number} in {open}"));
    assert!(
        line.contains(",долгосрочная (неделя),направлена исполнителю,"),
        "class and status in words: {line}"
    );
    let deadline = line.split(',').nth(4).unwrap();
    let city_minute = |d: &str| {
        d.len() == 16
            && d.chars().enumerate().all(|(i, c)| match i {
                2 | 5 => c == '.',
                10 => c == ' ',
                13 => c == ':',
                _ => c.is_ascii_digit(),
            })
    };
    assert!(city_minute(deadline), "city time to the minute, no seconds or offset: {deadline:?}");
    let xlsx = get(format!("/reports/daily/{today}.xlsx"), Some(app.token("ADMIN"))).await.unwrap();
    assert_eq!(xlsx.status().as_u16(), 200);
    let bytes = xlsx.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK", "an XLSX is a zip");
    assert!(
        bytes.windows(b"xl/worksheets/sheet2.xml".len()).any(|w| w == b"xl/worksheets/sheet2.xml"),
        "two sheets"
    );
    assert_eq!(
        get(format!("/reports/daily/{today}.csv"), Some(op.clone())).await.unwrap().status().as_u16(),
        403
    );
    assert_eq!(get(format!("/reports/daily/{today}.csv"), None).await.unwrap().status().as_u16(), 401);
    assert_eq!(
        get("/reports/daily/yesterday.csv".into(), Some(app.token("SUPERVISOR")))
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    let (_, b) = app.gql(Some(&app.token("SUPERVISOR")), &format!(r#"{{ dailyReport(date: "{today}") {{ date csvUrl rows {{ organization {{ id }} received }} }} }}"#), json!({})).await;
    assert_eq!(b["data"]["dailyReport"]["rows"][0]["organization"]["id"], "roads-gorlovka", "{b}");
    let (_, b) =
        app.gql(Some(&op), &format!(r#"{{ dailyReport(date: "{today}") {{ date }} }}"#), json!({})).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "FORBIDDEN");
}
