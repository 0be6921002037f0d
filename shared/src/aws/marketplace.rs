//! The AWS Marketplace adapter: the Metering service (`ResolveCustomer`, `BatchMeterUsage`) and
//! the Entitlement service (`GetEntitlements`, which lives in us-east-1 only).

use async_trait::async_trait;
use aws_sdk_marketplaceentitlement::types::{
    EntitlementValue, GetEntitlementFilterName as FilterName,
};
use aws_sdk_marketplacemetering::config::http::HttpRequest;
use aws_sdk_marketplacemetering::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_marketplacemetering::operation::resolve_customer::ResolveCustomerError;
use aws_sdk_marketplacemetering::primitives::DateTime;
use aws_sdk_marketplacemetering::types::{
    UsageRecord as SdkRecord, UsageRecordResult, UsageRecordResultStatus,
};

use crate::ports::marketplace::{
    BatchOutcome, Entitlement, EntitlementFilter, Marketplace, MarketplaceError, MeteredCustomer,
    RecordOutcome, ResolvedCustomer, UsageRecord, MAX_BATCH_RECORDS,
};
use crate::ports::rfc3339;

/// Marketplace through the AWS SDK; both clients built once per cold start.
#[derive(Clone)]
pub struct AwsMarketplace {
    metering: aws_sdk_marketplacemetering::Client,
    entitlement: aws_sdk_marketplaceentitlement::Client,
}

impl AwsMarketplace {
    /// Clients from the shared configuration. The Entitlement service answers only in
    /// us-east-1, so its client is pinned there whatever the function's region.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let entitlement = aws_sdk_marketplaceentitlement::config::Builder::from(sdk)
            .region(aws_config::Region::new("us-east-1"))
            .build();
        AwsMarketplace {
            metering: aws_sdk_marketplacemetering::Client::new(sdk),
            entitlement: aws_sdk_marketplaceentitlement::Client::from_conf(entitlement),
        }
    }
}

/// Maps an error by its AWS code: throttling and service faults are worth retrying, the rest
/// is a refusal.
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: &aws_sdk_marketplacemetering::error::SdkError<E, R>,
) -> MarketplaceError {
    let text = DisplayErrorContext(error).to_string();
    match error.code() {
        Some("ThrottlingException" | "InternalServiceErrorException") | None => {
            MarketplaceError::Unavailable(text)
        }
        Some(_) => MarketplaceError::Refused(text),
    }
}

/// The SDK serialises a record's `CustomerIdentifier` even when it is unset (as `""`), but AWS
/// takes either `CustomerIdentifier` or `CustomerAWSAccountId`, never both: drop the empty one
/// before the request is signed.
fn drop_empty_customer_identifiers(request: &mut HttpRequest) {
    let Some(mut body) = request
        .body()
        .bytes()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
    else {
        return;
    };
    if let Some(records) = body["UsageRecords"].as_array_mut() {
        for record in records.iter_mut().filter_map(|r| r.as_object_mut()) {
            if record.get("CustomerIdentifier").and_then(|v| v.as_str()) == Some("") {
                record.remove("CustomerIdentifier");
            }
        }
    }
    let bytes = body.to_string().into_bytes();
    request
        .headers_mut()
        .insert("content-length", bytes.len().to_string());
    *request.body_mut() = bytes.into();
}

fn sdk_record(record: &UsageRecord) -> Result<SdkRecord, MarketplaceError> {
    let builder = SdkRecord::builder()
        .timestamp(DateTime::from_secs(record.timestamp.unix_timestamp()))
        .dimension(&record.dimension)
        .quantity(record.quantity);
    let builder = match &record.customer {
        MeteredCustomer::Account {
            aws_account_id,
            license_arn,
        } => builder
            .customer_aws_account_id(aws_account_id)
            .set_license_arn(license_arn.clone()),
        MeteredCustomer::Legacy(identifier) => builder.customer_identifier(identifier),
    };
    builder
        .build()
        .map_err(|e| MarketplaceError::Refused(e.to_string()))
}

/// Whether AWS's echo of a record is the record we sent: same customer, dimension and time.
fn same_record(sent: &SdkRecord, echoed: Option<&SdkRecord>) -> bool {
    echoed.is_some_and(|echoed| {
        echoed.dimension() == sent.dimension()
            && echoed.timestamp().secs() == sent.timestamp().secs()
            && echoed.customer_aws_account_id().filter(|a| !a.is_empty())
                == sent.customer_aws_account_id()
            && echoed.customer_identifier() == sent.customer_identifier()
    })
}

fn outcome(result: &UsageRecordResult) -> RecordOutcome {
    match result.status() {
        Some(UsageRecordResultStatus::Success) => {
            RecordOutcome::Success(result.metering_record_id().map(str::to_owned))
        }
        Some(UsageRecordResultStatus::DuplicateRecord) => RecordOutcome::DuplicateRecord,
        Some(UsageRecordResultStatus::CustomerNotSubscribed) => {
            RecordOutcome::CustomerNotSubscribed
        }
        // A status this SDK does not know, or none: not known to be metered, so send it again.
        _ => RecordOutcome::Unprocessed,
    }
}

fn entitlement_value(value: Option<&EntitlementValue>) -> Option<String> {
    let value = value?;
    value
        .integer_value()
        .map(|v| v.to_string())
        .or_else(|| value.double_value().map(|v| v.to_string()))
        .or_else(|| value.boolean_value().map(|v| v.to_string()))
        .or_else(|| value.string_value().map(str::to_owned))
}

#[async_trait]
impl Marketplace for AwsMarketplace {
    async fn resolve_customer(&self, token: &str) -> Result<ResolvedCustomer, MarketplaceError> {
        let output = self
            .metering
            .resolve_customer()
            .registration_token(token)
            .send()
            .await
            .map_err(|error| match error.as_service_error() {
                Some(ResolveCustomerError::InvalidTokenException(_)) => {
                    MarketplaceError::InvalidToken
                }
                Some(ResolveCustomerError::ExpiredTokenException(_)) => {
                    MarketplaceError::ExpiredToken
                }
                _ => classify(&error),
            })?;
        let product_code = output
            .product_code()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| MarketplaceError::Refused("ResolveCustomer named no product".into()))?;
        let present = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(ResolvedCustomer {
            product_code: product_code.to_owned(),
            aws_account_id: present(output.customer_aws_account_id()),
            license_arn: present(output.license_arn()),
            customer_identifier: present(output.customer_identifier()),
        })
    }

    async fn batch_meter_usage(
        &self,
        product_code: &str,
        records: &[UsageRecord],
    ) -> Result<BatchOutcome, MarketplaceError> {
        if records.len() > MAX_BATCH_RECORDS {
            return Err(MarketplaceError::Refused(format!(
                "a batch holds at most {MAX_BATCH_RECORDS} records, not {}",
                records.len()
            )));
        }
        let sent = records
            .iter()
            .map(sdk_record)
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .metering
            .batch_meter_usage()
            .product_code(product_code)
            .set_usage_records(Some(sent.clone()))
            .customize()
            .mutate_request(drop_empty_customer_identifiers)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(sent
            .iter()
            .map(|record| {
                output
                    .results()
                    .iter()
                    .find(|r| same_record(record, r.usage_record()))
                    .map(outcome)
                    .unwrap_or(RecordOutcome::Unprocessed)
            })
            .collect())
    }

    async fn get_entitlements(
        &self,
        product_code: &str,
        customer: &EntitlementFilter,
    ) -> Result<Vec<Entitlement>, MarketplaceError> {
        let (name, value) = match customer {
            EntitlementFilter::Account(account) => (FilterName::CustomerAwsAccountId, account),
            EntitlementFilter::Legacy(identifier) => (FilterName::CustomerIdentifier, identifier),
        };
        let mut entitlements = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .entitlement
                .get_entitlements()
                .product_code(product_code)
                .filter(name.clone(), vec![value.clone()])
                .max_results(25)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| classify(&e))?;
            entitlements.extend(page.entitlements().iter().map(|e| Entitlement {
                dimension: e.dimension().unwrap_or_default().to_owned(),
                value: entitlement_value(e.value()),
                expires_at: e.expiration_date().and_then(|d| {
                    time::OffsetDateTime::from_unix_timestamp(d.secs())
                        .ok()
                        .map(rfc3339)
                }),
            }));
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(entitlements),
            }
        }
    }
}
