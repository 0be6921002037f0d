//! A local endpoint speaking the AWS Marketplace Metering wire format (JSON 1.1, `X-Amz-Target`)
//! and the Entitlement one (Smithy RPC v2 CBOR, timestamps as tag 1), so tests drive the real SDK calls: `ResolveCustomer` for the tokens it was
//! given, `BatchMeterUsage` as the service answers it (`Success`, `DuplicateRecord` for another
//! quantity of a metered customer, dimension and hour, `CustomerNotSubscribed`, unprocessed
//! records on request, throttling, whole-batch refusals), and `GetEntitlements` one entitlement
//! per page.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;

use crate::http_endpoint;
use serde_json::{json, Value};

/// What the fake knows and what it was asked.
#[derive(Default)]
pub struct FakeState {
    /// Token → the `ResolveCustomer` answer; the token `expired` is expired, others invalid.
    pub tokens: HashMap<String, Value>,
    /// Every request: (operation, JSON body).
    pub requests: Vec<(String, Value)>,
    /// Accounts whose records answer `CustomerNotSubscribed`.
    pub not_subscribed: HashSet<String>,
    /// How many of the next records to leave unprocessed.
    pub unprocess_next: usize,
    /// Whether the next call is throttled.
    pub throttle_next: bool,
    /// An error (`__type`) the next call is refused with, as a whole.
    pub refuse_next: Option<&'static str>,
    /// Account → entitlements (`Entitlement` JSON).
    pub entitlements: HashMap<String, Vec<Value>>,
    metered: HashMap<String, i64>,
}

pub type Fake = Arc<Mutex<FakeState>>;

impl FakeState {
    /// The bodies of every `BatchMeterUsage` call.
    pub fn meter_calls(&self) -> Vec<Value> {
        self.requests
            .iter()
            .filter(|(op, _)| op == "AWSMPMeteringService.BatchMeterUsage")
            .map(|(_, body)| body.clone())
            .collect()
    }
}

fn error(kind: &str) -> (u16, Value) {
    (
        400,
        json!({"__type": kind, "message": format!("{kind} from the test endpoint")}),
    )
}

fn answer(state: &mut FakeState, target: &str, body: &Value) -> (u16, Value) {
    if std::mem::take(&mut state.throttle_next) {
        return error("ThrottlingException");
    }
    if let Some(kind) = state.refuse_next.take() {
        return error(kind);
    }
    match target {
        "AWSMPMeteringService.ResolveCustomer" => {
            let token = body["RegistrationToken"].as_str().unwrap_or_default();
            match state.tokens.get(token) {
                Some(customer) => (200, customer.clone()),
                None if token == "expired" => error("ExpiredTokenException"),
                None => error("InvalidTokenException"),
            }
        }
        "AWSMPMeteringService.BatchMeterUsage" => {
            let mut results = Vec::new();
            let mut unprocessed = Vec::new();
            for record in body["UsageRecords"].as_array().cloned().unwrap_or_default() {
                if state.unprocess_next > 0 {
                    state.unprocess_next -= 1;
                    unprocessed.push(record);
                    continue;
                }
                let customer = record["CustomerAWSAccountId"]
                    .as_str()
                    .or(record["CustomerIdentifier"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                let key = format!("{customer}/{}/{}", record["Dimension"], record["Timestamp"]);
                let quantity = record["Quantity"].as_i64().unwrap_or(0);
                let status = if state.not_subscribed.contains(&customer) {
                    "CustomerNotSubscribed"
                } else {
                    match state.metered.get(&key) {
                        Some(q) if *q != quantity => "DuplicateRecord",
                        _ => {
                            state.metered.insert(key.clone(), quantity);
                            "Success"
                        }
                    }
                };
                results.push(json!({"UsageRecord": record, "MeteringRecordId": format!("mr-{key}"), "Status": status}));
            }
            (
                200,
                json!({"Results": results, "UnprocessedRecords": unprocessed}),
            )
        }
        "AWSMPEntitlementService.GetEntitlements" => {
            let account = body["Filter"]["CUSTOMER_AWS_ACCOUNT_ID"][0]
                .as_str()
                .unwrap_or_default();
            let all = state.entitlements.get(account).cloned().unwrap_or_default();
            let start: usize = body["NextToken"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let page: Vec<Value> = all.iter().skip(start).take(1).cloned().collect();
            let mut reply = json!({"Entitlements": page});
            if start + 1 < all.len() {
                reply["NextToken"] = json!((start + 1).to_string());
            }
            (200, reply)
        }
        _ => error("UnknownOperationException"),
    }
}

/// CBOR carries timestamps as tag 1 (epoch seconds): `ExpirationDate` numbers become those.
fn with_timestamps(value: ciborium::Value) -> ciborium::Value {
    use ciborium::Value as Cbor;
    match value {
        Cbor::Map(entries) => Cbor::Map(
            entries
                .into_iter()
                .map(|(key, value)| match (&key, value) {
                    (Cbor::Text(name), v @ Cbor::Integer(_)) if name == "ExpirationDate" => {
                        (key, Cbor::Tag(1, Box::new(v)))
                    }
                    (_, value) => (key, with_timestamps(value)),
                })
                .collect(),
        ),
        Cbor::Array(items) => Cbor::Array(items.into_iter().map(with_timestamps).collect()),
        other => other,
    }
}

/// Starts the endpoint on a free loopback port.
pub async fn start() -> (SocketAddr, Fake) {
    let fake: Fake = Arc::default();
    let shared = fake.clone();
    let addr = http_endpoint::serve(move |parts, bytes| {
        // Metering speaks JSON 1.1 (`X-Amz-Target`); Entitlement speaks Smithy RPC v2 CBOR
        // (`/service/<service>/operation/<operation>`).
        let path = parts.uri.path();
        let cbor = path.starts_with("/service/");
        let target = match path.strip_prefix("/service/") {
            Some(rest) => rest.replace("/operation/", "."),
            None => parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        };
        let body: Value = if cbor {
            ciborium::from_reader(bytes.as_ref()).unwrap_or(Value::Null)
        } else {
            serde_json::from_slice(bytes).unwrap_or(Value::Null)
        };
        let (status, reply) = {
            let mut state = shared.lock().unwrap();
            state.requests.push((target.clone(), body.clone()));
            answer(&mut state, &target, &body)
        };
        let response = hyper::Response::builder().status(status);
        let response = if cbor {
            let mut out = Vec::new();
            let reply = with_timestamps(ciborium::Value::serialized(&reply).unwrap());
            ciborium::into_writer(&reply, &mut out).unwrap();
            response
                .header("content-type", "application/cbor")
                .header("smithy-protocol", "rpc-v2-cbor")
                .body(Full::new(Bytes::from(out)))
        } else {
            response
                .header("content-type", "application/x-amz-json-1.1")
                .body(Full::new(Bytes::from(reply.to_string())))
        };
        response.unwrap()
    })
    .await;
    (addr, fake)
}

/// The SDK configuration that sends every Marketplace call to the endpoint, without retries.
pub async fn sdk_config(addr: SocketAddr) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(vellocity::aws::https_client())
        .endpoint_url(format!("http://{addr}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}
