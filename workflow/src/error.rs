//! The domain's one error type.

use kontakt_storage::StoreError;

use crate::model::RequestStatus;

/// Why a command was refused. A refused command changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input is malformed or incomplete.
    #[error("{0}")]
    Validation(String),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The command is not allowed in the request's current state.
    #[error("cannot {command} a request that is {from}")]
    InvalidTransition {
        /// The request's status.
        from: RequestStatus,
        /// The command refused.
        command: &'static str,
    },
    /// A time-driven step was already taken or is not due.
    #[error("{0}")]
    NotDue(String),
    /// Someone else changed the request first; reload and retry.
    #[error("the request was changed by someone else; reload and try again")]
    Conflict,
    /// Refused because of what was done before: an idempotency key given
    /// again with a different request, an answer to a call already answered
    /// or no longer current.
    #[error("{0}")]
    Superseded(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(StoreError),
}

impl DomainError {
    /// The stable code every adapter answers with (GraphQL `extensions.code`,
    /// Open311, webhooks): one mapping for the whole system.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Validation(_) => "VALIDATION",
            DomainError::Forbidden(_) => "FORBIDDEN",
            DomainError::NotFound(_) => "NOT_FOUND",
            DomainError::InvalidTransition { .. } | DomainError::NotDue(_) => "INVALID_TRANSITION",
            DomainError::Conflict | DomainError::Superseded(_) => "CONFLICT",
            DomainError::Store(StoreError::Unavailable(_)) => "UNAVAILABLE",
            DomainError::Store(_) => "INTERNAL",
        }
    }

    /// The HTTP status that goes with [`DomainError::code`].
    pub fn http_status(&self) -> u16 {
        match self {
            DomainError::Validation(_) => 400,
            DomainError::Forbidden(_) => 403,
            DomainError::NotFound(_) => 404,
            DomainError::InvalidTransition { .. } | DomainError::NotDue(_) => 409,
            DomainError::Conflict | DomainError::Superseded(_) => 409,
            DomainError::Store(StoreError::Unavailable(_)) => 503,
            DomainError::Store(_) => 500,
        }
    }
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => DomainError::Conflict,
            other => DomainError::Store(other),
        }
    }
}
