//! A fresh table in DynamoDB Local for each test, with the same keys and index as
//! `template.yaml`. The endpoint comes from `VELLOCITY_TEST_DYNAMODB_ENDPOINT`, which
//! `scripts/test.sh` sets after starting DynamoDB Local.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use vellocity::aws::dynamodb::DynamoDbTable;

/// A client for DynamoDB Local.
pub async fn client() -> aws_sdk_dynamodb::Client {
    let endpoint = std::env::var("VELLOCITY_TEST_DYNAMODB_ENDPOINT").expect(
        "VELLOCITY_TEST_DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh, which starts DynamoDB Local",
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key schema")
}

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute")
}

/// Creates a new, empty table and returns the adapter over it.
pub async fn fresh_table() -> DynamoDbTable {
    let client = client().await;
    let name = format!("vellocity-test-{}", ulid::Ulid::new());
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("PK"))
        .attribute_definitions(attribute("SK"))
        .attribute_definitions(attribute("GSI1PK"))
        .attribute_definitions(attribute("GSI1SK"))
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("GSI1")
                .key_schema(key("GSI1PK", KeyType::Hash))
                .key_schema(key("GSI1SK", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index"),
        )
        .send()
        .await
        .expect("DynamoDB Local creates the table");
    DynamoDbTable::new(client, name)
}
