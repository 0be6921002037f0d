//! Field-level validation: every problem of a request body is collected with the field it
//! concerns, so a client can fix them all in one go.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One problem with one field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the field, e.g. `brand_voice.tone` or `categories[2]`.
    pub field: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

/// The problems found while validating one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Records a problem with `field`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// `Ok(value)` if nothing was recorded.
    pub fn finish<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// The recorded problems.
    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// Trims `value` and checks its length in characters; returns the trimmed text.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        let trimmed = value.trim();
        let length = trimmed.chars().count();
        if length < min {
            if min == 1 {
                self.add(field, "must not be empty");
            } else {
                self.add(field, format!("must be at least {min} characters"));
            }
        } else if length > max {
            self.add(
                field,
                format!("must be at most {max} characters (got {length})"),
            );
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            self.add(field, "must not contain control characters");
        }
        trimmed.to_owned()
    }

    /// Like [`FieldErrors::text`] for an optional field; an empty text counts as absent.
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let text = self.text(field, value?, 0, max);
        (!text.is_empty()).then_some(text)
    }

    /// Checks a list of short texts: at most `max_items`, each 1..=`max_len` characters,
    /// no duplicates (case-insensitive). Returns the trimmed list.
    pub fn list(
        &mut self,
        field: &str,
        values: &[String],
        max_items: usize,
        max_len: usize,
    ) -> Vec<String> {
        if values.len() > max_items {
            self.add(
                field,
                format!(
                    "must have at most {max_items} entries (got {})",
                    values.len()
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let path = format!("{field}[{i}]");
                let text = self.text(&path, v, 1, max_len);
                if !seen.insert(text.to_lowercase()) {
                    self.add(path, "is listed twice");
                }
                text
            })
            .collect()
    }

    /// Checks an optional http(s) URL of at most 2048 characters.
    pub fn url(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let url = self.optional_text(field, value, 2048)?;
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
        match host {
            Some(h) if !h.is_empty() && !h.contains(char::is_whitespace) && !h.contains('@') => {}
            _ => self.add(field, "must be an http:// or https:// URL with a host"),
        }
        Some(url)
    }
}

/// An email address, trimmed and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` of at most 254 characters.
    pub fn parse(text: &str) -> Result<Self, String> {
        let email = text.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && local.len() <= 64
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
                    && domain
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                    && !local.contains(|c: char| c.is_whitespace() || c == '@' || c.is_control())
            });
        if valid {
            Ok(Email(email))
        } else {
            Err("must be an email address like name@example.com".into())
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Email::parse(&text)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_its_length_checked_in_characters() {
        let mut errors = FieldErrors::default();
        assert_eq!(errors.text("name", "  Acme  ", 1, 4), "Acme");
        assert_eq!(errors.clone().finish(()), Ok(()));
        errors.text("name", "ééééé", 1, 4);
        errors.text("title", "   ", 1, 4);
        let found = errors.finish(()).unwrap_err().into_vec();
        assert_eq!(found[0].field, "name");
        assert!(found[0].message.contains("at most 4"));
        assert_eq!(found[1].message, "must not be empty");
    }

    #[test]
    fn lists_refuse_duplicates_and_too_many_entries() {
        let mut errors = FieldErrors::default();
        let values = vec![
            "Retail".to_owned(),
            "retail ".to_owned(),
            "Health".to_owned(),
        ];
        errors.list("industries", &values, 2, 50);
        let found = errors.finish(()).unwrap_err().into_vec();
        assert!(found
            .iter()
            .any(|e| e.field == "industries" && e.message.contains("at most 2")));
        assert!(found
            .iter()
            .any(|e| e.field == "industries[1]" && e.message == "is listed twice"));
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://",
            "https://a b.com",
        ] {
            let mut errors = FieldErrors::default();
            errors.url("website", Some(bad));
            assert!(errors.finish(()).is_err(), "{bad} should be refused");
        }
        let mut errors = FieldErrors::default();
        assert_eq!(
            errors
                .url("website", Some(" https://acme.example/about "))
                .as_deref(),
            Some("https://acme.example/about")
        );
        assert!(errors.finish(()).is_ok());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@exa..mple.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
