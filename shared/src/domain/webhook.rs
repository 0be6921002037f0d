//! Outbound webhooks, as the Standard Webhooks specification has them: an endpoint's draft,
//! its `whsec_` secrets, how a message is signed, when a failed delivery is tried again, and
//! which addresses a delivery may never reach (the SSRF guard).

use schemars::JsonSchema;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::Duration;

use super::events::event_types;
use super::resources::Draft;
use super::validation::FieldErrors;

/// The prefix of a signing secret; what follows is the key, base64-encoded.
pub const SECRET_PREFIX: &str = "whsec_";
/// The longest description.
pub const DESCRIPTION_MAX: usize = 500;
/// Subscribes an endpoint to every event type.
pub const ALL_EVENTS: &str = "*";
/// How long a delivery attempt may take before it counts as failed.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// The delays before each retry, as the specification suggests: 5 s, 5 min, 30 min, 2 h,
/// 5 h, 10 h, 10 h (then the delivery has failed).
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::seconds(5),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(10),
];
/// The longest delay a `Retry-After` may ask for.
pub const RETRY_AFTER_MAX: Duration = Duration::hours(24);
/// An endpoint that has failed every attempt for this long is disabled.
pub const FAILING_DISABLES_AFTER: Duration = Duration::days(5);
/// How long a rotated-out secret still signs.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// The client-writable fields of an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookDraft {
    /// Where deliveries are POSTed (`https`).
    pub url: String,
    /// The event types it receives (`*` for all).
    pub events: Vec<String>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether deliveries are made (an endpoint that keeps failing is disabled).
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

impl Draft for WebhookDraft {
    /// Trims and checks every field. The URL's shape is checked here with loopback allowed;
    /// whether this deployment allows loopback, and where the host resolves to, the use case
    /// checks.
    fn validate(self) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        if let Err(problem) = check_url(&self.url, true) {
            errors.add("url", problem);
        }
        let events = errors.list("events", &self.events, 50, 100);
        if events.is_empty() {
            errors.add("events", "name at least one event type, or \"*\" for all");
        }
        let known = event_types();
        for (i, kind) in events.iter().enumerate() {
            if kind != ALL_EVENTS && !known.contains(kind) {
                errors.add(
                    format!("events[{i}]"),
                    format!("unknown event type `{kind}`; one of {}", known.join(", ")),
                );
            }
        }
        let description =
            errors.optional_text("description", self.description.as_deref(), DESCRIPTION_MAX);
        errors.finish(WebhookDraft {
            url: self.url.trim().to_owned(),
            events,
            description,
            enabled: self.enabled,
        })
    }
}

impl WebhookDraft {
    /// Whether the endpoint wants events of this type.
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled && self.events.iter().any(|e| e == ALL_EVENTS || e == kind)
    }
}

/// A URL a delivery may be sent to: `https` (or, with `allow_loopback`, `http` to a loopback
/// address), no credentials in it, and a host that is not a refused address when it is one.
/// (A name is resolved, and its addresses checked, at registration and at every delivery.)
pub fn check_url(text: &str, allow_loopback: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let host = url.host().ok_or("needs a host")?;
    let literal = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    match (url.scheme(), literal) {
        ("https", Some(ip)) => check_address(ip, allow_loopback)?,
        ("https", None) => {}
        ("http", Some(ip)) if allow_loopback && ip.is_loopback() => {}
        ("http", _) => return Err("must be https".into()),
        (other, _) => return Err(format!("must be https, not {other}")),
    }
    Ok(url)
}

/// Refuses an address a webhook must never reach; `allow_loopback` lets loopback through.
pub fn check_address(ip: IpAddr, allow_loopback: bool) -> Result<(), String> {
    match refused(ip) {
        Some("loopback") if allow_loopback => Ok(()),
        Some(why) => Err(format!(
            "{ip} is a {why} address, which webhooks may not reach"
        )),
        None => Ok(()),
    }
}

/// Why an address is refused: loopback, private, link-local (cloud metadata included),
/// carrier-grade NAT, multicast and the other special-purpose ranges; IPv6 forms that carry an
/// IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private",
        (172, b, _) if (16..32).contains(&b) => "private",
        (169, 254, _) => "link-local",
        (100, b, _) if (64..128).contains(&b) => "carrier-grade NAT",
        (0, _, _) => "unspecified",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved",
        (198, 18 | 19, _) => "reserved",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 one carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(last),
        [0, 0, 0, 0, 0, 0, _, _] if ip != Ipv6Addr::LOCALHOST && ip != Ipv6Addr::UNSPECIFIED => {
            Some(last)
        }
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if first & 0xfe00 == 0xfc00 {
        "private (unique local)"
    } else if first & 0xffc0 == 0xfe80 {
        "link-local"
    } else if first & 0xff00 == 0xff00 {
        "multicast"
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        "reserved"
    } else {
        return None;
    })
}

/// The `webhook-signature` value of one secret for a message: `v1,` and the base64 HMAC-SHA256
/// of `{id}.{timestamp}.{body}` keyed by the secret's decoded bytes.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|k| STANDARD.decode(k).ok())
        .ok_or("a signing secret is whsec_ followed by base64")?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// A new signing secret: 32 random bytes.
pub fn new_secret() -> Result<String, String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The delay before the retry after failed attempt `attempt` (1-based), or `None` once the
/// schedule is spent. A `Retry-After` the receiver sent replaces it (at most 24 h); otherwise
/// `jitter` (0.0–1.0) spreads it by up to a tenth either way.
pub fn retry_delay(attempt: usize, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
    let scheduled = *RETRY_SCHEDULE.get(attempt.checked_sub(1)?)?;
    if let Some(asked) = retry_after {
        return Some(asked.clamp(Duration::ZERO, RETRY_AFTER_MAX));
    }
    let spread = scheduled.as_seconds_f64() * 0.1 * (2.0 * jitter.clamp(0.0, 1.0) - 1.0);
    Some(scheduled + Duration::seconds_f64(spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_specifications_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let signed = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn retries_follow_the_schedule_unless_the_receiver_asks_otherwise() {
        assert_eq!(retry_delay(1, None, 0.5), Some(Duration::seconds(5)));
        assert_eq!(retry_delay(7, None, 0.5), Some(Duration::hours(10)));
        assert_eq!(retry_delay(8, None, 0.5), None);
        let early = retry_delay(2, None, 0.0).unwrap();
        assert_eq!(early, Duration::seconds(270));
        assert_eq!(
            retry_delay(1, Some(Duration::hours(30)), 0.5),
            Some(Duration::hours(24))
        );
    }

    #[test]
    fn urls_must_be_https_without_credentials_and_not_at_refused_addresses() {
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        assert!(check_url("http://hooks.example.com/in", false).is_err());
        assert!(check_url("http://127.0.0.1:8080/in", false).is_err());
        assert!(check_url("http://127.0.0.1:8080/in", true).is_ok());
        assert!(check_url("http://10.0.0.1/in", true).is_err());
        assert!(check_url("https://user:pw@hooks.example.com/", false).is_err());
        assert!(check_url("ftp://hooks.example.com/", false).is_err());
        // Decimal, hex and short spellings of 127.0.0.1 are the same address.
        for spelled in [
            "https://2130706433/",
            "https://0x7f000001/",
            "https://127.1/",
            "https://0177.0.0.1/",
        ] {
            assert!(check_url(spelled, false).is_err(), "{spelled}");
        }
    }
}
