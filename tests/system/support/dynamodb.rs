//! A fresh table in DynamoDB Local for each test, created as `vellocity-local create-table`
//! creates one (the shape `template.yaml` deploys). The endpoint comes from `VELLOCITY_TEST_DYNAMODB_ENDPOINT`, which
//! `scripts/test.sh` sets after starting DynamoDB Local.

use vellocity::aws::dynamodb::DynamoDbTable;

/// A client for DynamoDB Local.
pub async fn client() -> aws_sdk_dynamodb::Client {
    let endpoint = std::env::var("VELLOCITY_TEST_DYNAMODB_ENDPOINT").expect(
        "VELLOCITY_TEST_DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh, which starts DynamoDB Local",
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(vellocity::aws::https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// Creates a new, empty table (as `vellocity-local create-table` does) and returns the
/// adapter over it.
pub async fn fresh_table() -> DynamoDbTable {
    let table = DynamoDbTable::new(
        client().await,
        format!("vellocity-test-{}", ulid::Ulid::new()),
    );
    assert!(
        table
            .create()
            .await
            .expect("DynamoDB Local creates the table"),
        "a new table"
    );
    table
}
