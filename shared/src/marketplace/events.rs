//! Reading the subscription events Marketplace sends: SNS notifications delivered through SQS
//! (`subscribe-success`, `subscribe-fail`, `unsubscribe-pending`, `unsubscribe-success`,
//! `entitlement-updated`) and EventBridge agreement and license events
//! (`aws.agreement-marketplace`).

use serde_json::Value;
use time::OffsetDateTime;

use crate::domain::marketplace::SubscriptionChange;
use crate::ports::parse_rfc3339;

/// The EventBridge source of Marketplace agreement and license events.
pub const AGREEMENT_SOURCE: &str = "aws.agreement-marketplace";

/// One subscription event, whichever way it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionEvent {
    /// What happened.
    pub change: SubscriptionChange,
    /// When it happened: older events than a customer's state are ignored.
    pub at: OffsetDateTime,
    /// The product, where the event names it (agreement events do not).
    pub product_code: Option<String>,
    /// The legacy customer identifier (SNS notifications).
    pub customer_identifier: Option<String>,
    /// The buyer's AWS account (EventBridge events).
    pub aws_account_id: Option<String>,
    /// The buyer's license (license events).
    pub license_arn: Option<String>,
    /// The agreement (EventBridge events).
    pub agreement_id: Option<String>,
    /// The event's id (SNS `MessageId`, EventBridge `id`), for logs.
    pub event_id: String,
}

/// Why a message is not a subscription event; such messages belong in the DLQ.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a Marketplace subscription event: {0}")]
pub struct Unreadable(pub String);

fn text(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn time_of(value: &Value, field: &str) -> Result<OffsetDateTime, Unreadable> {
    value
        .as_str()
        .and_then(parse_rfc3339)
        .ok_or_else(|| Unreadable(format!("{field} is not an RFC 3339 time")))
}

/// Reads an SQS message body: an SNS envelope around a Marketplace notification, or an
/// EventBridge event.
pub fn parse(body: &str) -> Result<SubscriptionEvent, Unreadable> {
    let message: Value =
        serde_json::from_str(body).map_err(|e| Unreadable(format!("not JSON: {e}")))?;
    if message["Type"] == "Notification" {
        parse_sns(&message)
    } else if message["source"].is_string() && message["detail-type"].is_string() {
        parse_eventbridge(&message)
    } else {
        Err(Unreadable(
            "neither an SNS notification nor an EventBridge event".into(),
        ))
    }
}

fn parse_sns(envelope: &Value) -> Result<SubscriptionEvent, Unreadable> {
    let inner = envelope["Message"]
        .as_str()
        .ok_or_else(|| Unreadable("the SNS Message is not a string".into()))?;
    let notification: Value = serde_json::from_str(inner)
        .map_err(|e| Unreadable(format!("the SNS Message is not JSON: {e}")))?;
    let field =
        |kebab: &str, pascal: &str| text(&notification[kebab]).or(text(&notification[pascal]));
    let action = field("action", "Action").ok_or_else(|| Unreadable("no action".into()))?;
    let change = match action.as_str() {
        "subscribe-success" => SubscriptionChange::Subscribed,
        "subscribe-fail" => SubscriptionChange::SubscribeFailed,
        "unsubscribe-pending" => SubscriptionChange::UnsubscribePending,
        "unsubscribe-success" => SubscriptionChange::Unsubscribed,
        "entitlement-updated" => SubscriptionChange::EntitlementsUpdated,
        other => return Err(Unreadable(format!("unknown action {other:?}"))),
    };
    let product_code =
        field("product-code", "ProductCode").ok_or_else(|| Unreadable("no product-code".into()))?;
    let customer_identifier = field("customer-identifier", "CustomerIdentifier");
    let aws_account_id = field("customer-aws-account-id", "CustomerAWSAccountId");
    if customer_identifier.is_none() && aws_account_id.is_none() {
        return Err(Unreadable("the notification names no customer".into()));
    }
    Ok(SubscriptionEvent {
        change,
        at: time_of(&envelope["Timestamp"], "Timestamp")?,
        product_code: Some(product_code),
        customer_identifier,
        aws_account_id,
        license_arn: field("license-arn", "LicenseArn"),
        agreement_id: None,
        event_id: text(&envelope["MessageId"]).unwrap_or_default(),
    })
}

fn parse_eventbridge(event: &Value) -> Result<SubscriptionEvent, Unreadable> {
    if event["source"] != AGREEMENT_SOURCE {
        return Err(Unreadable(format!("unexpected source {}", event["source"])));
    }
    let detail_type = event["detail-type"].as_str().unwrap_or_default();
    let kind = detail_type
        .strip_suffix(" - Manufacturer")
        .or_else(|| detail_type.strip_suffix(" - Proposer"))
        .unwrap_or(detail_type);
    let change = match kind {
        "Purchase Agreement Created" | "Purchase Agreement Amended" | "License Updated" => {
            SubscriptionChange::Subscribed
        }
        "Purchase Agreement Ended" => SubscriptionChange::UnsubscribePending,
        "License Deprovisioned" => SubscriptionChange::Unsubscribed,
        _ => {
            return Err(Unreadable(format!(
                "unsupported detail-type {detail_type:?}"
            )))
        }
    };
    let detail = &event["detail"];
    let aws_account_id = text(&detail["acceptor"]["accountId"])
        .ok_or_else(|| Unreadable("no detail.acceptor.accountId".into()))?;
    Ok(SubscriptionEvent {
        change,
        at: time_of(&event["time"], "time")?,
        product_code: text(&detail["product"]["code"]),
        customer_identifier: None,
        aws_account_id: Some(aws_account_id),
        license_arn: text(&detail["license"]["arn"]),
        agreement_id: text(&detail["agreement"]["id"]),
        event_id: text(&event["id"]).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sns(message: &str) -> String {
        serde_json::json!({
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-abc",
            "Message": message,
            "Timestamp": "2026-11-22T10:00:00.123Z"
        })
        .to_string()
    }

    #[test]
    fn an_sns_notification_is_read_with_its_values_trimmed() {
        let event = parse(&sns(r#"{"action":"subscribe-success","customer-identifier":" X01EXAMPLEX","product-code":"abc","offer-identifier":"offer-1","isFreeTrialTermPresent":"true"}"#)).unwrap();
        assert_eq!(event.change, SubscriptionChange::Subscribed);
        assert_eq!(event.customer_identifier.as_deref(), Some("X01EXAMPLEX"));
        assert_eq!(event.product_code.as_deref(), Some("abc"));
        assert_eq!(event.event_id, "m-1");
    }

    #[test]
    fn unknown_actions_and_foreign_messages_are_unreadable() {
        assert!(parse(&sns(
            r#"{"action":"subscribe-maybe","customer-identifier":"X","product-code":"abc"}"#
        ))
        .is_err());
        assert!(parse(&sns(
            r#"{"action":"subscribe-success","product-code":"abc"}"#
        ))
        .is_err());
        assert!(parse(&sns("not json")).is_err());
        assert!(parse(r#"{"hello":"world"}"#).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn agreement_events_of_either_party_are_read() {
        let event = serde_json::json!({
            "version": "0", "id": "e-1", "source": "aws.agreement-marketplace",
            "detail-type": "Purchase Agreement Ended - Proposer", "time": "2026-11-22T10:00:00Z",
            "detail": {"agreement": {"id": "agmt-1", "status": "CANCELLED"},
                       "acceptor": {"accountId": "111122223333"}}
        });
        let event = parse(&event.to_string()).unwrap();
        assert_eq!(event.change, SubscriptionChange::UnsubscribePending);
        assert_eq!(event.aws_account_id.as_deref(), Some("111122223333"));
        assert_eq!(event.agreement_id.as_deref(), Some("agmt-1"));
        assert_eq!(event.product_code, None);
    }
}
