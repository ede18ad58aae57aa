//! Issued tokens as an audited aggregate: who issued which token (id, role,
//! organization, subject, expiry) and who revoked it, so an administrator can
//! see what tokens exist. The token itself (the signed JWT) is never stored.
//!
//! A pure machine like requests: `decide(state, command, actor, now)` returns
//! the events, `apply` folds them; the service writes the record, its events
//! and (for a revocation) the deny-list entry in one atomic write.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::model::{Actor, OrgId, Role};

/// An issued token, as folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's id (`jti`).
    pub jti: String,
    /// Who holds it.
    pub subject: String,
    /// Its role.
    pub role: Role,
    /// A contractor's organization.
    pub organization: Option<OrgId>,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// An operator's telephone extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Who issued it (`system` for the demo and the command line).
    pub issued_by: String,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

/// What happened to a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenEventKind {
    /// Issued with these claims.
    Issued {
        /// The record as issued.
        token: Box<TokenRecord>,
    },
    /// Put on the deny-list.
    Revoked,
}

/// One entry of a token's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// What.
    pub kind: TokenEventKind,
}

/// A command on a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCommand {
    /// Record an issued token.
    Issue {
        /// Its id.
        jti: String,
        /// Its holder.
        subject: String,
        /// Its role.
        role: Role,
        /// A contractor's organization.
        organization: Option<OrgId>,
        /// An operator's telephone extension.
        extension: Option<String>,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
    /// Revoke it.
    Revoke,
}

/// Checks a command against the token's state.
pub fn decide(
    state: Option<&TokenRecord>,
    command: &TokenCommand,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<TokenEvent>, DomainError> {
    if !(actor.is_system() || actor.has_role(&[Role::Admin])) {
        return Err(DomainError::Forbidden("only an administrator issues and revokes tokens".into()));
    }
    let kind = match (state, command) {
        (Some(_), TokenCommand::Issue { jti, .. }) => {
            return Err(DomainError::Validation(format!("token {jti} is recorded already")));
        }
        (None, TokenCommand::Issue { jti, subject, role, organization, extension, expires_at }) => {
            if (*role == Role::Contractor) != organization.is_some() {
                return Err(DomainError::Validation(
                    "a contractor token, and only one, names its organization".into(),
                ));
            }
            if *expires_at <= now {
                return Err(DomainError::Validation("a token must expire after it is issued".into()));
            }
            TokenEventKind::Issued {
                token: Box::new(TokenRecord {
                    jti: jti.clone(),
                    subject: subject.clone(),
                    role: *role,
                    organization: organization.clone(),
                    issued_at: now,
                    expires_at: *expires_at,
                    extension: extension.clone(),
                    issued_by: actor.subject.clone(),
                    revoked_at: None,
                    revoked_by: None,
                }),
            }
        }
        (Some(t), TokenCommand::Revoke) if t.revoked_at.is_some() => {
            return Err(DomainError::Validation(format!("token {} is revoked already", t.jti)));
        }
        (_, TokenCommand::Revoke) => TokenEventKind::Revoked,
    };
    Ok(vec![TokenEvent { at: now, actor: actor.clone(), kind }])
}

/// Folds one event into the state. A revocation of a token issued before
/// tokens were recorded has no state to fold into and leaves none.
pub fn apply(state: Option<TokenRecord>, event: &TokenEvent) -> Option<TokenRecord> {
    match (&event.kind, state) {
        (TokenEventKind::Issued { token }, _) => Some((**token).clone()),
        (TokenEventKind::Revoked, Some(mut t)) => {
            t.revoked_at = Some(event.at);
            t.revoked_by = Some(event.actor.subject.clone());
            Some(t)
        }
        (TokenEventKind::Revoked, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    }

    fn issue(role: Role, org: Option<&str>) -> TokenCommand {
        TokenCommand::Issue {
            jti: "01JTOKEN".into(),
            subject: "op-1".into(),
            role,
            organization: org.map(|o| OrgId::parse(o).unwrap()),
            extension: None,
            expires_at: now() + chrono::Duration::hours(12),
        }
    }

    #[test]
    fn an_admin_issues_and_revokes_once_and_the_record_says_who() {
        let admin = Actor::person("admin-1", Role::Admin, None);
        let issued = decide(None, &issue(Role::Operator, None), &admin, now()).unwrap();
        let t = issued.iter().fold(None, apply).unwrap();
        assert_eq!((t.issued_by.as_str(), t.role, t.revoked_at), ("admin-1", Role::Operator, None));
        let revoked = decide(Some(&t), &TokenCommand::Revoke, &admin, now()).unwrap();
        let t = revoked.iter().try_fold(t, |s, e| apply(Some(s), e)).unwrap();
        assert_eq!(t.revoked_by.as_deref(), Some("admin-1"));
        assert!(decide(Some(&t), &TokenCommand::Revoke, &admin, now()).is_err(), "revoked once");
        assert!(decide(Some(&t), &issue(Role::Operator, None), &admin, now()).is_err(), "recorded once");
    }

    #[test]
    fn only_admins_and_the_system_touch_tokens_and_contractors_name_their_organization() {
        let op = Actor::person("op", Role::Operator, None);
        assert!(matches!(
            decide(None, &issue(Role::Operator, None), &op, now()),
            Err(DomainError::Forbidden(_))
        ));
        let sys = Actor::system();
        assert!(decide(None, &issue(Role::Contractor, None), &sys, now()).is_err());
        assert!(decide(None, &issue(Role::Operator, Some("res")), &sys, now()).is_err());
        assert!(decide(None, &issue(Role::Contractor, Some("res")), &sys, now()).is_ok());
    }
}
