//! How each organization (and the administration) wants to be told.

use serde::{Deserialize, Serialize};

/// An organization's delivery channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// A URL notices are POSTed to, signed with `webhook_secret`.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The HMAC-SHA256 key of the webhook's `X-Kontakt-Signature`.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Addresses notices are mailed to.
    #[serde(default)]
    pub emails: Vec<String>,
    /// `ru` (default) or `en`: the language of the mails.
    #[serde(default = "default_language")]
    pub language: String,
    /// Send at most one digest every so many minutes instead of each notice (0: each at once).
    #[serde(default)]
    pub digest_minutes: u32,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            webhook_url: None,
            webhook_secret: None,
            emails: vec![],
            language: default_language(),
            digest_minutes: 0,
        }
    }
}

fn default_language() -> String {
    "ru".into()
}

impl Delivery {
    /// True when it names no channel.
    pub fn is_empty(&self) -> bool {
        self.webhook_url.is_none() && self.emails.is_empty()
    }

    /// Refuses what cannot be delivered to.
    pub fn validate(&self) -> Result<(), crate::DomainError> {
        let bad = |m: String| Err(crate::DomainError::Validation(m));
        if let Some(url) = &self.webhook_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return bad(format!("{url:?} is not an http(s) URL"));
            }
            if self.webhook_secret.as_ref().is_none_or(|s| s.len() < 32) {
                return bad("a webhook needs a secret of 32 bytes or more".into());
            }
        }
        for e in &self.emails {
            let ok =
                e.len() <= 254 && e.split_once('@').is_some_and(|(u, d)| !u.is_empty() && d.contains('.'));
            if !ok {
                return bad(format!("{e:?} is not an e-mail address"));
            }
        }
        if self.language != "ru" && self.language != "en" {
            return bad("the language is ru or en".into());
        }
        if self.digest_minutes > 24 * 60 {
            return bad("a digest comes at least once a day".into());
        }
        Ok(())
    }
}
