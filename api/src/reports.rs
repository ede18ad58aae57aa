//! The daily report over HTTP (`/reports/daily/{date}.csv|.xlsx`, for
//! supervisors and admins) and as a spreadsheet.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kontakt_workflow::Kontakt;
use kontakt_workflow::model::{OrgId, Role};
use kontakt_workflow::reports::{Cell, DailyReport, Table};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::state::AppState;

/// The organization's Russian name, or its code when unknown.
pub fn org_name(k: &Kontakt) -> impl Fn(&OrgId) -> String + '_ {
    move |id| k.organization(id.as_str()).ok().flatten().map_or_else(|| id.to_string(), |o| o.name_ru)
}

/// The report's tables in `lang` (`en`, otherwise Russian), with the organizations' names in it.
pub fn tables(report: &DailyReport, k: &Kontakt, en: bool) -> Vec<Table> {
    let name = move |id: &OrgId| {
        k.organization(id.as_str())
            .ok()
            .flatten()
            .map_or_else(|| id.to_string(), |o| if en { o.name_en } else { o.name_ru })
    };
    report.tables(en, &name, k.city_offset())
}

/// Tables as an XLSX workbook: one sheet per table, headers in bold, numbers as numbers.
pub fn to_xlsx(tables: &[Table]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_text_wrap();
    let share = Format::new().set_num_format("0.0");
    for t in tables {
        let sheet = wb.add_worksheet();
        sheet.set_name(t.name.chars().take(31).collect::<String>())?;
        for (c, h) in t.headers.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, h, &bold)?;
            sheet.set_column_width(c as u16, if c == 0 { 36 } else { 16 })?;
        }
        for (i, r) in t.rows.iter().enumerate() {
            let row = i as u32 + 1;
            for (c, cell) in r.iter().enumerate() {
                let col = c as u16;
                match cell {
                    Cell::Text(text) => {
                        sheet.write_string(row, col, text)?;
                    }
                    Cell::Number(n, _) => {
                        sheet.write_number(row, col, *n)?;
                    }
                    Cell::Share(x) => {
                        sheet.write_number_with_format(row, col, x * 100.0, &share)?;
                    }
                    Cell::Empty => {}
                }
            }
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    wb.save_to_buffer()
}

/// The language a download asks for.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Lang {
    /// `ru` (default) or `en`.
    #[serde(default)]
    pub lang: Option<String>,
}

/// `GET /reports/daily/{date}.csv` (the figures), `{date}-open.csv` (the
/// requests open during the day) or `{date}.xlsx` (both, one sheet each);
/// `?lang=en` for English headers and words.
pub async fn daily(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(lang): Query<Lang>,
) -> Response {
    let en = lang.lang.as_deref() == Some("en");
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
    let (date, xlsx, table) = match (file.strip_suffix(".csv"), file.strip_suffix(".xlsx")) {
        (Some(d), _) => match d.strip_suffix("-open") {
            Some(d) => (d.to_string(), false, 1),
            None => (d.to_string(), false, 0),
        },
        (_, Some(d)) => (d.to_string(), true, 0),
        _ => {
            return (StatusCode::NOT_FOUND, "ask for {date}.csv, {date}-open.csv or {date}.xlsx")
                .into_response();
        }
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
        let tables = tables(&report, &k, en);
        if xlsx {
            Ok((
                to_xlsx(&tables).map_err(|e| e.to_string())?,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ))
        } else {
            let csv = tables.get(table).map(Table::to_csv).transpose().map_err(|e| e.to_string())?;
            // A byte-order mark: Excel opens UTF-8 CSV as such only with one.
            Ok((format!("\u{feff}{}", csv.unwrap_or_default()).into_bytes(), "text/csv; charset=utf-8"))
        }
    })
    .await;
    match built {
        Ok(Ok((body, kind))) => {
            let disposition = format!(
                "attachment; filename=\"kontakt-{date}{}.{}\"",
                if table == 1 { "-open" } else { "" },
                if xlsx { "xlsx" } else { "csv" }
            );
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
