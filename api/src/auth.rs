//! Role-scoped tokens: HS256 JWTs with `sub`, `role`, `org`, `iss`, `aud`,
//! `exp`, `nbf`, `iat` and `jti`. The algorithm is pinned; `exp`, `nbf`, `iss`
//! and `aud` are validated; revoked `jti`s are kept in the store.

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kontakt_workflow::model::{Actor, Code, OrgId, Role};
use kontakt_workflow::{DomainError, Kontakt};
use serde::{Deserialize, Serialize};

use crate::config::AuthSettings;

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who holds it.
    pub sub: String,
    /// What they may do.
    pub role: Role,
    /// A contractor's organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Not valid before, seconds since the epoch.
    pub nbf: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// The token's id, for revocation.
    pub jti: String,
    /// An operator's telephone extension: incoming calls there open this
    /// operator's caller panel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
}

/// Who is calling, once the token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject.
    pub subject: String,
    /// The role.
    pub role: Role,
    /// A contractor's organization.
    pub organization: Option<OrgId>,
    /// The token's id.
    pub jti: String,
    /// When the token expires, seconds since the epoch.
    pub expires_at: i64,
    /// An operator's telephone extension.
    pub extension: Option<String>,
}

impl Principal {
    /// True while the token is unexpired and not revoked: long-lived
    /// subscriptions ask again as they go, not only when they start.
    pub fn still_valid(&self, kontakt: &Kontakt) -> bool {
        kontakt.now().timestamp() < self.expires_at && !kontakt.is_revoked(&self.jti).unwrap_or(true)
    }

    /// The actor the domain sees.
    pub fn actor(&self) -> Actor {
        Actor::person(&self.subject, self.role, self.organization.clone())
    }

    /// True for a contractor of `org`.
    pub fn is_contractor_of(&self, org: Option<&OrgId>) -> bool {
        self.role == Role::Contractor && self.organization.is_some() && self.organization.as_ref() == org
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token presented.
    #[error("authentication required: send a bearer token")]
    Missing,
    /// Anything else: expired, not yet valid, wrong key, algorithm, issuer or audience, revoked.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
}

/// Issues and verifies tokens.
#[derive(Clone)]
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    settings: AuthSettings,
    kontakt: Kontakt,
    /// Bumped after every revocation: open sockets check their token again.
    revocations: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("issuer", &self.settings.issuer).finish_non_exhaustive()
    }
}

impl Auth {
    /// Tokens signed with `key`, revocations kept in `kontakt`'s store.
    pub fn new(key: &[u8], settings: AuthSettings, kontakt: Kontakt) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        // Time is checked below against the service's clock, which tests may move.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = settings.leeway_seconds;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            settings,
            kontakt,
            revocations: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
        }
    }

    /// Wakes whenever a token is revoked.
    pub fn revocations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// Issues a token for `role` (contractors name an existing organization)
    /// and records it, with `issuer`, for the administrators' list.
    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        org: Option<&str>,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
        issuer: &Actor,
    ) -> Result<(String, Claims), DomainError> {
        self.issue_with(subject, role, org, None, ttl, now, issuer)
    }

    /// [`Auth::issue`] for a holder at a telephone `extension` (operators and supervisors).
    #[expect(clippy::too_many_arguments, reason = "the claims of a token, each named at the call")]
    pub fn issue_with(
        &self,
        subject: &str,
        role: Role,
        org: Option<&str>,
        extension: Option<&str>,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
        issuer: &Actor,
    ) -> Result<(String, Claims), DomainError> {
        let extension = extension.map(str::trim).filter(|e| !e.is_empty()).map(str::to_string);
        if let Some(e) = &extension {
            if !matches!(role, Role::Operator | Role::Supervisor) {
                return Err(DomainError::Validation(
                    "only operators and supervisors answer calls at an extension".into(),
                ));
            }
            if e.len() > 20 || !e.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(DomainError::Validation(format!("{e:?} is not a telephone extension")));
            }
        }
        if ttl <= chrono::Duration::zero() || ttl > chrono::Duration::days(366) {
            return Err(DomainError::Validation("a token lives between 1 second and 366 days".into()));
        }
        let org = match (role, org) {
            (Role::Contractor, Some(o)) => {
                let code = Code::parse(o)?;
                if self.kontakt.organization(code.as_str())?.is_none() {
                    return Err(DomainError::Validation(format!("unknown organization {code}")));
                }
                Some(code.to_string())
            }
            (Role::Contractor, None) => {
                return Err(DomainError::Validation("a contractor token names its organization".into()));
            }
            (_, Some(_)) => {
                return Err(DomainError::Validation("only contractor tokens name an organization".into()));
            }
            (_, None) => None,
        };
        let subject = subject.trim();
        if subject.is_empty() || subject.len() > 200 {
            return Err(DomainError::Validation("a token's subject is 1 to 200 characters".into()));
        }
        let claims = Claims {
            sub: subject.to_string(),
            role,
            org,
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            exp: (now + ttl).timestamp(),
            nbf: now.timestamp(),
            iat: now.timestamp(),
            jti: ulid::Ulid::generate().to_string(),
            ext: extension,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| DomainError::Validation(format!("cannot sign the token: {e}")))?;
        let record = kontakt_workflow::tokens::TokenCommand::Issue {
            jti: claims.jti.clone(),
            subject: claims.sub.clone(),
            role,
            organization: claims.org.as_deref().map(Code::parse).transpose()?,
            extension: claims.ext.clone(),
            expires_at: now + ttl,
        };
        self.kontakt.record_token(&record, issuer)?;
        Ok((token, claims))
    }

    /// Checks a presented token: signature, algorithm, time window, issuer,
    /// audience, role shape and revocation.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data =
            jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &self.validation).map_err(|e| {
                AuthError::Invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::ImmatureSignature => "not valid yet",
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "algorithm not allowed",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidAudience => "wrong audience",
                    ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                    _ => "malformed",
                })
            })?;
        let c = data.claims;
        let (now, leeway) = (self.kontakt.now().timestamp(), self.settings.leeway_seconds as i64);
        if c.exp + leeway <= now {
            return Err(AuthError::Invalid("expired"));
        }
        if c.nbf - leeway > now {
            return Err(AuthError::Invalid("not valid yet"));
        }
        if c.iat > now + leeway {
            return Err(AuthError::Invalid("issued in the future"));
        }
        let organization = match (c.role, &c.org) {
            (Role::Contractor, Some(o)) => {
                let code = Code::parse(o).map_err(|_| AuthError::Invalid("malformed"))?;
                // A forged or stale token must not act for an organization the city does not have.
                match self.kontakt.organization(code.as_str()) {
                    Ok(Some(_)) => Some(code),
                    Ok(None) => return Err(AuthError::Invalid("unknown organization")),
                    Err(_) => return Err(AuthError::Invalid("cannot check the organization")),
                }
            }
            (Role::Contractor, None) => {
                return Err(AuthError::Invalid("a contractor token without organization"));
            }
            (_, Some(_)) => return Err(AuthError::Invalid("only contractor tokens name an organization")),
            (_, None) => None,
        };
        if self.kontakt.is_revoked(&c.jti).map_err(|_| AuthError::Invalid("cannot check revocation"))? {
            return Err(AuthError::Invalid("revoked"));
        }
        Ok(Principal {
            subject: c.sub,
            role: c.role,
            organization,
            jti: c.jti,
            expires_at: c.exp,
            extension: c.ext,
        })
    }

    /// Verifies an `Authorization` header value; `None` when absent.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Option<Principal>, AuthError> {
        match header {
            None => Ok(None),
            Some(h) => match h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")) {
                Some(t) => self.verify(t).map(Some),
                None => Err(AuthError::Invalid("the Authorization header must be `Bearer <token>`")),
            },
        }
    }

    /// Another node revoked a token: open sockets check theirs again.
    pub fn revoked_elsewhere(&self) {
        self.revocations.send_modify(|n| *n += 1);
    }

    /// Revokes a token by its id on `actor`'s authority; true when it was not revoked before.
    pub fn revoke(&self, jti: &str, actor: &Actor) -> Result<bool, DomainError> {
        let revoked = self.kontakt.revoke(jti, actor)?;
        self.revocations.send_modify(|n| *n += 1);
        Ok(revoked)
    }

    /// The settings in force.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }
}
