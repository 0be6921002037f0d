//! Prefixed identifiers: `team_01J…`, `cmp_01J…`. The prefix says what an id names, so an id
//! pasted into the wrong route is refused before any read; the body is a ULID, so ids sort by
//! creation time.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use ulid::Ulid;

/// A ULID greater than every one this process made before, so ids made in the same
/// millisecond still sort in creation order (lists are ordered by id).
fn next_ulid() -> Ulid {
    static GENERATOR: std::sync::Mutex<ulid::Generator> =
        std::sync::Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    generator.generate().unwrap_or_else(|_| Ulid::new())
}

/// What every prefixed id offers, so use cases can be written once for all resource kinds.
pub trait PrefixedId: Sized + Clone + PartialEq + fmt::Display + Serialize + Send + Sync {
    /// A new, unique id.
    fn generate() -> Self;
    /// Accepts only ids of this kind.
    fn parse(text: &str) -> Result<Self, String>;
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new, unique id.
            pub fn generate() -> Self {
                $name(format!("{}_{}", $prefix, next_ulid()))
            }

            /// Accepts only ids of this kind: the prefix, `_`, and a 26-character ULID.
            pub fn parse(text: &str) -> Result<Self, String> {
                text.strip_prefix(concat!($prefix, "_"))
                    .filter(|body| Ulid::from_string(body).is_ok() && body.len() == 26)
                    .filter(|body| body.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
                    .map(|_| $name(text.to_owned()))
                    .ok_or_else(|| {
                        format!(
                            "must be an id like {}_ followed by 26 characters (0-9, A-Z)",
                            $prefix
                        )
                    })
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl PrefixedId for $name {
            fn generate() -> Self {
                $name::generate()
            }
            fn parse(text: &str) -> Result<Self, String> {
                $name::parse(text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": concat!("^", $prefix, "_[0-9A-Z]{26}$"),
                })
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A team: the tenant every other record belongs to.
    TeamId, "team"
);
prefixed_id!(
    /// A person. Derived from the email address, so an invitation and the person's later
    /// sign-in (a JWT carrying that email) name the same user in every team.
    UserId, "usr"
);
prefixed_id!(
    /// A company (brand) of a team.
    CompanyId, "cmp"
);
prefixed_id!(
    /// A product (Marketplace listing) of a team.
    ProductId, "prd"
);
prefixed_id!(
    /// A co-sell partner of a team.
    PartnerId, "ptn"
);
prefixed_id!(
    /// An AgentCore agent of a team.
    AgentId, "agt"
);
prefixed_id!(
    /// One run of an agent; also the Step Functions execution name.
    ExecutionId, "exe"
);
prefixed_id!(
    /// A conversation with the AI.
    ConversationId, "cnv"
);
prefixed_id!(
    /// A message of a conversation.
    MessageId, "msg"
);
prefixed_id!(
    /// A webhook endpoint.
    WebhookId, "whk"
);
prefixed_id!(
    /// A domain event.
    EventId, "evt"
);
prefixed_id!(
    /// An entry of a team's credit ledger.
    LedgerEntryId, "led"
);
prefixed_id!(
    /// An API key (its public id, never its secret).
    ApiKeyId, "key"
);

impl EventId {
    /// A new id of an event that happened `at`: events sort by the time they happened (the
    /// app's clock, which tests move), ids of the same millisecond apart by their randomness.
    pub fn at(at: time::OffsetDateTime) -> Self {
        /// The randomness part counts up from a random start, so ids made in this process
        /// keep the order they were made in whenever their times are equal (the events of
        /// one transaction; everything under a clock that does not move).
        static COUNTER: std::sync::Mutex<Option<u128>> = std::sync::Mutex::new(None);
        let ms = (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let mut counter = COUNTER.lock().unwrap_or_else(|p| p.into_inner());
        let next = match *counter {
            Some(last) => last + 1,
            None => {
                let mut bytes = [0u8; 16];
                let _ = getrandom::fill(&mut bytes);
                // Half the 80 bits of randomness, leaving room to count up.
                u128::from_be_bytes(bytes) >> 49
            }
        };
        *counter = Some(next);
        let random = next & ((1u128 << 80) - 1);
        EventId(format!("evt_{}", Ulid::from_parts(ms, random)))
    }
}

impl UserId {
    /// The user id of an email address: the same address always gives the same id.
    pub fn for_email(email: &super::validation::Email) -> Self {
        let digest = Sha256::digest(email.as_str().as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        UserId(format!("usr_{}", Ulid::from_bytes(first)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validation::Email;

    #[test]
    fn generated_ids_parse_back() {
        let id = CompanyId::generate();
        assert_eq!(CompanyId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn ids_of_another_kind_or_shape_are_refused() {
        let product = ProductId::generate();
        assert!(CompanyId::parse(product.as_str()).is_err());
        assert!(CompanyId::parse("cmp_123").is_err());
        assert!(CompanyId::parse("cmp_01j0000000000000000000000a").is_err());
        assert!(CompanyId::parse("").is_err());
    }

    #[test]
    fn a_user_id_depends_only_on_the_normalised_email() {
        let a = Email::parse("Ada@Example.com").unwrap();
        let b = Email::parse("ada@example.com").unwrap();
        assert_eq!(UserId::for_email(&a), UserId::for_email(&b));
        assert!(UserId::parse(UserId::for_email(&a).as_str()).is_ok());
    }
}
