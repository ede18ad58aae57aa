//! An appeal as the official letter the administration sends: a Word
//! document in Russian with the addressee, date and outgoing number, the
//! text, the figures it cites and, as an attachment, every request that ran
//! late. Served at `GET /reports/appeals/{id}.docx` to supervisors and admins.
//!
//! Building the document is a pure function of the appeal and the names it
//! needs; the handler reads them from the store off the async workers.

use std::collections::BTreeMap;
use std::io::Cursor;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, Utc};
use docx_rs::{
    AlignmentType, Docx, Paragraph, Run, RunFonts, SpecialIndentType, Table, TableCell, TableRow, WidthType,
};
use kontakt_workflow::appeals::{Appeal, AppealStatus, LateRequestLine};
use kontakt_workflow::model::{CategoryCode, RequestStatus, Role};

use crate::state::AppState;

/// Who the letters are addressed to: regional organizations answer to the region.
const ADDRESSEE: &str = "В областную администрацию";
/// Who signs them.
const SENDER: &str = "Контакт-центр города";
/// The document's media type.
pub const DOCX_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// Widths of the figures table's columns, in twentieths of a point.
const FIGURES_GRID: [usize; 2] = [6500, 2800];
/// Widths of the attachment's columns: №, category, deadline, resolved, status.
const LIST_GRID: [usize; 5] = [1500, 3000, 1700, 1700, 1400];

/// The status of a request in the words of a letter.
pub fn status_ru(s: RequestStatus) -> &'static str {
    match s {
        RequestStatus::Registered => "Зарегистрировано",
        RequestStatus::Dispatched => "Передано исполнителю",
        RequestStatus::InProgress => "В работе",
        RequestStatus::Overdue => "Просрочено",
        RequestStatus::Resolved => "Исполнено",
        RequestStatus::Closed => "Закрыто",
        RequestStatus::Cancelled => "Отменено",
    }
}

/// A share as the letter's text writes it (`42,9 %`, a Russian decimal comma), so the table and the text agree.
pub fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0).replace('.', ",")
}

/// The appeal as a DOCX letter about `org_name`, with dates in the city's
/// time and each late request's category under its Russian name
/// (`categories`; the code where a name is missing).
pub fn to_docx(
    appeal: &Appeal,
    org_name: &str,
    city: FixedOffset,
    categories: &BTreeMap<CategoryCode, String>,
) -> Result<Vec<u8>, std::io::Error> {
    let day = |t: DateTime<Utc>| t.with_timezone(&city).format("%d.%m.%Y").to_string();
    let minute = |t: DateTime<Utc>| t.with_timezone(&city).format("%d.%m.%Y %H:%M").to_string();
    // A sent letter carries the date it went out; a draft the date it was written.
    let dated = appeal.sent_at.unwrap_or(appeal.created_at);
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut doc = Docx::new()
        .default_fonts(
            RunFonts::new()
                .ascii("Times New Roman")
                .hi_ansi("Times New Roman")
                .cs("Times New Roman")
                .east_asia("Times New Roman"),
        )
        .default_size(28)
        .created_at(&stamp(appeal.created_at))
        .updated_at(&stamp(dated));
    match appeal.status {
        AppealStatus::Draft => doc = doc.add_paragraph(right(Run::new().add_text("ПРОЕКТ").bold())),
        AppealStatus::Withdrawn => doc = doc.add_paragraph(right(Run::new().add_text("ОТОЗВАНО").bold())),
        AppealStatus::Sent => {}
    }
    doc = doc
        .add_paragraph(right(Run::new().add_text(ADDRESSEE)))
        .add_paragraph(right(Run::new().add_text(format!("Копия: {org_name}"))))
        .add_paragraph(Paragraph::new());
    let reference = match &appeal.outgoing_number {
        Some(n) => format!("Исх. № {n} от {}", day(dated)),
        None => format!("Дата: {}", day(dated)),
    };
    doc = doc
        .add_paragraph(Paragraph::new().add_run(Run::new().add_text(reference)))
        .add_paragraph(Paragraph::new())
        .add_paragraph(
            Paragraph::new()
                .align(AlignmentType::Center)
                .add_run(Run::new().add_text(&appeal.subject).bold()),
        )
        .add_paragraph(Paragraph::new());
    for line in appeal.body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        doc = doc.add_paragraph(
            Paragraph::new()
                .align(AlignmentType::Both)
                .indent(None, Some(SpecialIndentType::FirstLine(709)), None, None)
                .add_run(Run::new().add_text(line)),
        );
    }
    let period = format!(
        "Показатели за период с {} по {}",
        day(appeal.period_from),
        // The period ends before its last instant: the last day is the one before.
        day(appeal.period_to - chrono::Duration::seconds(1))
    );
    let f = &appeal.figures;
    let figures = [
        ("В срок", f.on_time.to_string()),
        ("С нарушением срока", f.late.to_string()),
        ("Не исполнено при истёкшем сроке", f.open_overdue.to_string()),
        ("Доля в срок", percent(f.compliance)),
        ("Норматив", format!("{:.0} %", f.target * 100.0)),
    ];
    doc = doc
        .add_paragraph(Paragraph::new())
        .add_paragraph(Paragraph::new().add_run(Run::new().add_text(period).bold()))
        .add_table(
            Table::new(figures.iter().map(|(k, v)| row(&[k, v], &FIGURES_GRID, false)).collect())
                .set_grid(FIGURES_GRID.to_vec()),
        )
        .add_paragraph(Paragraph::new())
        .add_paragraph(Paragraph::new().add_run(Run::new().add_text(SENDER)))
        .add_paragraph(
            Paragraph::new().add_run(Run::new().add_text(format!("Подготовил: {}", appeal.created_by))),
        )
        .add_paragraph(
            Paragraph::new()
                .page_break_before(true)
                .add_run(Run::new().add_text("Приложение: перечень обращений с нарушением срока").bold()),
        );
    let mut rows = vec![row(&["№", "Категория", "Срок", "Исполнено", "Статус"], &LIST_GRID, true)];
    rows.extend(appeal.late_requests.iter().map(|l| {
        let cells = list_cells(l, categories, minute);
        row(&cells.iter().map(String::as_str).collect::<Vec<_>>(), &LIST_GRID, false)
    }));
    if appeal.late_requests.is_empty() {
        doc = doc.add_paragraph(Paragraph::new().add_run(Run::new().add_text("Обращений нет.")));
    } else {
        doc = doc.add_table(Table::new(rows).set_grid(LIST_GRID.to_vec()));
    }
    let mut out = Cursor::new(Vec::new());
    doc.build().pack(&mut out).map_err(std::io::Error::other)?;
    Ok(out.into_inner())
}

fn list_cells(
    l: &LateRequestLine,
    categories: &BTreeMap<CategoryCode, String>,
    minute: impl Fn(DateTime<Utc>) -> String,
) -> [String; 5] {
    [
        l.number.to_string(),
        categories.get(&l.category).cloned().unwrap_or_else(|| l.category.to_string()),
        minute(l.deadline),
        l.resolved_at.map_or_else(|| "—".to_string(), &minute),
        status_ru(l.status).to_string(),
    ]
}

fn right(run: Run) -> Paragraph {
    Paragraph::new().align(AlignmentType::Right).add_run(run)
}

fn row(cells: &[&str], grid: &[usize], bold: bool) -> TableRow {
    TableRow::new(
        cells
            .iter()
            .zip(grid)
            .map(|(text, width)| {
                let run = Run::new().add_text(*text);
                let run = if bold { run.bold() } else { run };
                TableCell::new().width(*width, WidthType::Dxa).add_paragraph(Paragraph::new().add_run(run))
            })
            .collect(),
    )
}

/// `GET /reports/appeals/{id}.docx`.
pub async fn download(State(app): State<AppState>, headers: HeaderMap, Path(file): Path<String>) -> Response {
    let header = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
    match app.auth.verify_header(header) {
        Ok(Some(p)) if matches!(p.role, Role::Supervisor | Role::Admin) => {}
        Ok(Some(_)) => {
            return (StatusCode::FORBIDDEN, "appeals are for supervisors and admins").into_response();
        }
        Ok(None) | Err(_) => {
            return (StatusCode::UNAUTHORIZED, "send a supervisor's bearer token").into_response();
        }
    }
    let Some(id) = file.strip_suffix(".docx").map(str::to_string) else {
        return (StatusCode::NOT_FOUND, "ask for {id}.docx").into_response();
    };
    let k = app.kontakt.clone();
    let lookup = id.clone();
    let built = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>, String> {
        let Some(appeal) = k.appeal(&lookup).map_err(|e| e.to_string())? else { return Ok(None) };
        let org_name = crate::reports::org_name(&k)(&appeal.organization);
        let categories =
            k.categories().map_err(|e| e.to_string())?.into_iter().map(|c| (c.code, c.name_ru)).collect();
        let city = kontakt_workflow::service::moscow();
        to_docx(&appeal, &org_name, city, &categories).map(Some).map_err(|e| e.to_string())
    })
    .await;
    match built {
        Ok(Ok(Some(body))) => {
            // Ids are ULIDs (letters and digits), so the name needs no quoting beyond the quotes.
            let name: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
            let disposition = format!("attachment; filename=\"kontakt-appeal-{name}.docx\"");
            (
                [(header::CONTENT_TYPE, DOCX_TYPE.to_string()), (header::CONTENT_DISPOSITION, disposition)],
                body,
            )
                .into_response()
        }
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no such appeal").into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "building an appeal document");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "appeal document task failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use kontakt_workflow::appeals::Figures;
    use kontakt_workflow::model::{Code, RequestNumber};

    use super::*;

    fn appeal() -> Appeal {
        let t = |d, h| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        Appeal {
            id: "01JAPPEAL".into(),
            organization: Code::parse("gas-gorlovka").unwrap(),
            period_from: t(1, 21),
            period_to: t(8, 21),
            figures: Figures { on_time: 1, late: 1, open_overdue: 1, compliance: 1.0 / 3.0, target: 0.9 },
            late_requests: vec![LateRequestLine {
                number: RequestNumber { year: 2026, seq: 42 },
                category: Code::parse("gas-smell").unwrap(),
                deadline: t(3, 9),
                resolved_at: None,
                status: RequestStatus::Overdue,
            }],
            subject: "О соблюдении сроков".into(),
            body: "Первый абзац письма.\nВторой абзац & <письма>.".into(),
            status: AppealStatus::Sent,
            created_at: t(9, 7),
            created_by: "sup".into(),
            sent_at: Some(t(9, 22)),
            sent_by: Some("sup".into()),
            outgoing_number: Some("01-15/7".into()),
            withdrawn_at: None,
            withdrawn_by: None,
            withdrawal_reason: None,
            version: 3,
        }
    }

    fn document_xml(bytes: &[u8]) -> String {
        // The document part is stored deflated: read it back with docx-rs's own reader.
        let docx = docx_rs::read_docx(bytes).expect("a readable DOCX");
        serde_json::to_string(&docx.document).expect("as JSON")
    }

    #[test]
    fn the_letter_carries_the_number_city_dates_figures_and_every_late_request() {
        let names = BTreeMap::from([(Code::parse("gas-smell").unwrap(), "Запах газа".to_string())]);
        let bytes = to_docx(&appeal(), "Горгаз", kontakt_workflow::service::moscow(), &names).unwrap();
        assert_eq!(&bytes[..2], b"PK", "a DOCX is a zip");
        let text = document_xml(&bytes);
        for want in [
            "В областную администрацию",
            "Копия: Горгаз",
            // Sent at 22:00 UTC on the 9th: the 10th in the city.
            "Исх. № 01-15/7 от 10.11.2026",
            "Показатели за период с 02.11.2026 по 08.11.2026",
            "33,3 %",
            "90 %",
            "2026-000042",
            "Запах газа",
            "03.11.2026 12:00",
            "Просрочено",
            "Второй абзац & <письма>.",
        ] {
            assert!(text.contains(want), "{want:?} is missing");
        }
    }

    #[test]
    fn a_draft_is_marked_and_dated_when_written() {
        let mut a = appeal();
        a.status = AppealStatus::Draft;
        a.sent_at = None;
        a.outgoing_number = None;
        let bytes = to_docx(&a, "Горгаз", kontakt_workflow::service::moscow(), &BTreeMap::new()).unwrap();
        let text = document_xml(&bytes);
        assert!(text.contains("ПРОЕКТ") && text.contains("Дата: 09.11.2026"));
        assert!(text.contains("gas-smell"), "an unknown category is named by its code");
    }
}
