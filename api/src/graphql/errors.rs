//! Every layer's errors become GraphQL errors here, in one place, each with a
//! stable `extensions.code`. Internal errors are logged and answered without
//! their text.

use async_graphql::{Error, ErrorExtensions};
use kontakt_workflow::DomainError;

use crate::auth::AuthError;

/// A GraphQL error with a code.
pub fn coded(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", code))
}

/// The caller presented no (valid) token.
pub fn unauthenticated() -> Error {
    coded("UNAUTHENTICATED", "authentication required: send a bearer token")
}

/// The caller may not see or do this.
pub fn forbidden(what: impl Into<String>) -> Error {
    coded("FORBIDDEN", what)
}

/// The thing named does not exist (or is not the caller's to see).
pub fn not_found(what: impl Into<String>) -> Error {
    coded("NOT_FOUND", what)
}

/// The answer for a request that does not exist or that the caller may not see: the same words for both.
pub fn no_such_request() -> Error {
    not_found("no such request")
}

/// Bad input.
pub fn validation(what: impl Into<String>) -> Error {
    coded("VALIDATION", what)
}

/// Maps a domain error to its code (the domain names it: [`DomainError::code`]).
pub fn domain(e: DomainError) -> Error {
    match e {
        DomainError::Store(e @ kontakt_storage::StoreError::Unavailable(_)) => {
            tracing::warn!(error = %e, "the store is unavailable");
            coded(
                "UNAVAILABLE",
                "the store cannot be reached for the moment: a change asked for may or may not have been saved; \
                 check before retrying",
            )
        }
        DomainError::Store(e) => {
            tracing::error!(error = %e, "storage failure");
            coded(
                "INTERNAL",
                "internal error in the store: a change asked for may not have been saved; check before retrying",
            )
        }
        DomainError::InvalidTransition { from, command } => {
            // The parameters let a page say it in the reader's language.
            let message = e.to_string();
            Error::new(message).extend_with(|_, x| {
                x.set("code", "INVALID_TRANSITION");
                x.set("status", from.as_str());
                x.set("command", command);
            })
        }
        e => coded(e.code(), e.to_string()),
    }
}

/// Maps a token refusal.
pub fn auth(e: AuthError) -> Error {
    match e {
        AuthError::Missing => unauthenticated(),
        AuthError::Invalid(why) => coded("UNAUTHENTICATED", format!("invalid token: {why}")),
    }
}

/// `?`-friendly conversion for domain results.
pub trait OrGql<T> {
    /// Maps the error with [`domain`].
    fn gql(self) -> Result<T, Error>;
}

impl<T> OrGql<T> for Result<T, DomainError> {
    fn gql(self) -> Result<T, Error> {
        self.map_err(domain)
    }
}
