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
    /// Storage failed.
    #[error("storage: {0}")]
    Store(StoreError),
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => DomainError::Conflict,
            other => DomainError::Store(other),
        }
    }
}
