//! The daily report over HTTP (`/reports/daily/{date}.csv|.xlsx`, for
//! supervisors and admins) and as a spreadsheet.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontakt_workflow::Kontakt;
use kontakt_workflow::model::{OrgId, Role};
use kontakt_workflow::reports::DailyReport;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::http::AppState;

/// The organization's Russian name, or its code when unknown.
pub fn org_name(k: &Kontakt) -> impl Fn(&OrgId) -> String + '_ {
    move |id| k.organization(id.as_str()).ok().flatten().map_or_else(|| id.to_string(), |o| o.name_ru)
}

/// The report as an XLSX workbook: one sheet of figures, one of open requests.
pub fn to_xlsx(report: &DailyReport, k: &Kontakt) -> Result<Vec<u8>, XlsxError> {
    let name = org_name(k);
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = wb.add_worksheet();
    sheet.set_name("Исполнители")?;
    let heads = [
        "Организация",
        "Класс срока",
        "Поступило",
        "Исполнено",
        "В срок",
        "Просрочено сейчас",
        "Повторно открыто",
        "Медиана, ч",
        "P90, ч",
        "Соблюдение",
    ];
    for (c, h) in heads.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, r) in report.rows.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(
            row,
            0,
            r.organization.as_ref().map_or_else(|| "— без исполнителя".to_string(), &name),
        )?;
        sheet.write_string(row, 1, r.class.as_str())?;
        for (c, v) in
            [r.received, r.resolved, r.resolved_on_time, r.overdue_now, r.reopened].iter().enumerate()
        {
            sheet.write_number(row, c as u16 + 2, f64::from(*v))?;
        }
        if let Some(s) = r.median_secs {
            sheet.write_number(row, 7, s as f64 / 3600.0)?;
        }
        if let Some(s) = r.p90_secs {
            sheet.write_number(row, 8, s as f64 / 3600.0)?;
        }
        if let Some(c) = r.compliance {
            sheet.write_number(row, 9, c)?;
        }
    }
    let open = wb.add_worksheet();
    open.set_name("Открытые за день")?;
    for (c, h) in ["Номер", "Организация", "Класс срока", "Статус", "Срок", "Осталось, ч"].iter().enumerate()
    {
        open.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, l) in report.open.iter().enumerate() {
        let row = i as u32 + 1;
        open.write_string(row, 0, l.number.to_string())?;
        open.write_string(row, 1, l.organization.as_ref().map_or_else(|| "—".to_string(), &name))?;
        open.write_string(row, 2, l.class.as_str())?;
        open.write_string(row, 3, l.status.as_str())?;
        open.write_string(row, 4, l.deadline.to_rfc3339())?;
        open.write_number(row, 5, l.seconds_left as f64 / 3600.0)?;
    }
    wb.save_to_buffer()
}

/// `GET /reports/daily/{date}.csv|.xlsx`.
pub async fn daily(State(app): State<AppState>, headers: HeaderMap, Path(file): Path<String>) -> Response {
    let header = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
    match app.auth.verify_header(header) {
        Ok(Some(p)) if matches!(p.role, Role::Supervisor | Role::Admin) => {}
        Ok(Some(_)) => {
            return (StatusCode::FORBIDDEN, "reports are for supervisors and admins").into_response();
        }
        Ok(None) | Err(_) => {
            return (StatusCode::UNAUTHORIZED, "send a supervisor's bearer token").into_response();
        }
    }
    let (date, xlsx) = match (file.strip_suffix(".csv"), file.strip_suffix(".xlsx")) {
        (Some(d), _) => (d.to_string(), false),
        (_, Some(d)) => (d.to_string(), true),
        _ => return (StatusCode::NOT_FOUND, "ask for {date}.csv or {date}.xlsx").into_response(),
    };
    let Ok(date) = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d") else {
        return (StatusCode::BAD_REQUEST, "the date is YYYY-MM-DD").into_response();
    };
    let k = app.kontakt.clone();
    if date > app.kontakt.city_today() {
        return (StatusCode::BAD_REQUEST, "no report for a day to come").into_response();
    }
    let built = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, &'static str), String> {
        let report = k.daily_report(date).map_err(|e| e.to_string())?;
        if xlsx {
            Ok((
                to_xlsx(&report, &k).map_err(|e| e.to_string())?,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ))
        } else {
            Ok((
                report.to_csv(&org_name(&k)).map_err(|e| e.to_string())?.into_bytes(),
                "text/csv; charset=utf-8",
            ))
        }
    })
    .await;
    match built {
        Ok(Ok((body, kind))) => {
            let disposition =
                format!("attachment; filename=\"kontakt-{date}.{}\"", if xlsx { "xlsx" } else { "csv" });
            ([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
                .into_response()
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "building a report");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "report task failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
