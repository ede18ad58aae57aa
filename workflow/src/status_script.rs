//! The sentence an operator reads out when a caller asks what happened to
//! their request: number, organization, deadline and where it stands, in
//! city time, in Russian or English. Pure: the request, the organization's
//! name and the time in, the sentence out.

use chrono::{DateTime, FixedOffset, Utc};

use crate::lifecycle::Request;
use crate::model::RequestStatus;

/// Hours and minutes, rounded down, as read out.
fn span(seconds: i64, english: bool) -> String {
    let (h, m) = (seconds / 3600, seconds % 3600 / 60);
    match (english, h) {
        (false, 0) => format!("{m} мин"),
        (false, _) => format!("{h} ч {m} мин"),
        (true, 0) => format!("{m} min"),
        (true, _) => format!("{h} h {m} min"),
    }
}

/// The status answer for `r`, handled by `organization`, at `now`, in city time `zone`.
pub fn status_answer(
    r: &Request,
    organization: Option<&str>,
    now: DateTime<Utc>,
    zone: FixedOffset,
    english: bool,
) -> String {
    let deadline = r.deadline.with_timezone(&zone).format("%d.%m.%Y %H:%M");
    let left = (r.deadline - now).num_seconds();
    let number = r.number.to_string();
    let org = organization.unwrap_or(if english {
        "the responsible organization"
    } else {
        "исполнителю"
    });
    if english {
        let handed = match r.organization {
            Some(_) => format!("Your request No. {number} was sent to {org}"),
            None => {
                format!("Your request No. {number} is registered and is being assigned to an organization")
            }
        };
        let now_words = match r.status {
            RequestStatus::Registered => "it waits for an organization to be assigned".to_string(),
            RequestStatus::Dispatched => "the organization has not started yet".to_string(),
            RequestStatus::InProgress => "the work is under way".to_string(),
            RequestStatus::Overdue => {
                "the deadline has passed; the request is under the administration's control".to_string()
            }
            RequestStatus::Resolved => {
                format!(
                    "the work is reported done: {}",
                    r.resolution.as_deref().unwrap_or("done").trim_end_matches('.')
                )
            }
            RequestStatus::Closed => "the request is closed".to_string(),
            RequestStatus::Cancelled => "the request was withdrawn".to_string(),
        };
        let time = if r.status.is_open() && left > 0 {
            format!(" ({} left)", span(left, true))
        } else {
            String::new()
        };
        format!("{handed}, deadline {deadline}{time}; now {now_words}.")
    } else {
        let handed = match r.organization {
            Some(_) => format!("Ваша заявка № {number} передана в {org}"),
            None => format!("Ваша заявка № {number} зарегистрирована и направляется исполнителю"),
        };
        let now_words = match r.status {
            RequestStatus::Registered => "ожидает назначения исполнителя".to_string(),
            RequestStatus::Dispatched => "исполнитель ещё не приступил".to_string(),
            RequestStatus::InProgress => "работы ведутся".to_string(),
            RequestStatus::Overdue => "срок истёк, заявка на контроле администрации".to_string(),
            RequestStatus::Resolved => {
                format!(
                    "работы выполнены: {}",
                    r.resolution.as_deref().unwrap_or("выполнено").trim_end_matches('.')
                )
            }
            RequestStatus::Closed => "заявка закрыта".to_string(),
            RequestStatus::Cancelled => "заявка отменена".to_string(),
        };
        let time = if r.status.is_open() && left > 0 {
            format!(" (осталось {})", span(left, false))
        } else {
            String::new()
        };
        format!("{handed}, срок исполнения до {deadline}{time}, сейчас {now_words}.")
    }
}
