//! The SQS, Step Functions, S3 and API Gateway (usage plans) adapters' real SDK calls against
//! moto, which the test command installs and starts (`VELLOCITY_TEST_MOTO_ENDPOINT`).

use aws_config::SdkConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vellocity::aws::apigateway::ApiGatewayUsageKeys;
use vellocity::aws::s3::{S3Links, S3Objects};
use vellocity::aws::sfn::StepFunctions;
use vellocity::aws::sqs::SqsQueue;
use vellocity::domain::ids::TeamId;
use vellocity::ports::objects::ObjectStore;
use vellocity::ports::queue::Queue;
use vellocity::ports::usage_keys::UsageKeys;
use vellocity::ports::workflows::{WorkflowError, Workflows};

pub async fn moto() -> SdkConfig {
    let endpoint = std::env::var("VELLOCITY_TEST_MOTO_ENDPOINT")
        .expect("VELLOCITY_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(vellocity::aws::https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

#[tokio::test]
async fn a_queued_message_arrives_unchanged() {
    let client = aws_sdk_sqs::Client::new(&moto().await);
    let url = client
        .create_queue()
        .queue_name(unique("executions"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let body = json!({"team_id": "team_x", "execution_id": "exe_y"}).to_string();
    SqsQueue::new(client.clone(), &url)
        .send(&body)
        .await
        .unwrap();
    let received = client
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body(), Some(body.as_str()));
}

/// A state machine of `kind` on moto that succeeds at once; its ARN.
/// The runs a state machine has had.
async fn runs_of(
    client: &aws_sdk_sfn::Client,
    machine: &str,
) -> Vec<aws_sdk_sfn::types::ExecutionListItem> {
    client
        .list_executions()
        .state_machine_arn(machine)
        .send()
        .await
        .unwrap()
        .executions
}

async fn machine(
    client: &aws_sdk_sfn::Client,
    kind: aws_sdk_sfn::types::StateMachineType,
) -> String {
    let definition =
        json!({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}).to_string();
    client
        .create_state_machine()
        .name(unique("agentcore"))
        .r#type(kind)
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/agentcore-test")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned()
}

#[tokio::test]
async fn a_second_durable_start_counts_as_started_and_runs_once() {
    use aws_sdk_sfn::types::StateMachineType;
    let client = aws_sdk_sfn::Client::new(&moto().await);
    let standard = machine(&client, StateMachineType::Standard).await;
    let workflows = StepFunctions::new(client.clone(), &standard);
    let input = json!({"team_id": "team_x", "execution_id": "exe_01"});
    workflows.continue_durably("exe_01", &input).await.unwrap();
    workflows.continue_durably("exe_01", &input).await.unwrap();
    workflows
        .stop("exe_01", "cancelled by a person")
        .await
        .unwrap();
    workflows
        .continue_durably("exe_01", &input)
        .await
        .expect("a start after the run ended counts as done, not as an error");
    let runs = runs_of(&client, &standard).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].execution_arn(), workflows.execution_arn("exe_01"));
    workflows
        .stop("exe_unknown", "nothing to stop")
        .await
        .unwrap();
}

#[tokio::test]
async fn express_runs_start_on_the_express_machine_and_only_where_it_is_configured() {
    use aws_sdk_sfn::types::StateMachineType;
    let client = aws_sdk_sfn::Client::new(&moto().await);
    let standard = machine(&client, StateMachineType::Standard).await;
    let express = machine(&client, StateMachineType::Express).await;
    let input = json!({"team_id": "team_x", "execution_id": "exe_02"});

    let unwired = StepFunctions::new(client.clone(), &standard)
        .start("exe_02", &input)
        .await;
    assert!(
        matches!(&unwired, Err(WorkflowError::Failed(m)) if m.contains("EXPRESS_STATE_MACHINE_ARN")),
        "{unwired:?}"
    );
    let workflows = StepFunctions::new(client.clone(), &standard).with_express(&express);
    workflows.start("exe_02", &input).await.unwrap();
    let started = runs_of(&client, &express).await;
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].name(), "exe_02");
    let standard_runs = runs_of(&client, &standard).await;
    assert!(standard_runs.is_empty(), "nothing on the standard machine");
}

/// GETs an `http://` URL with a plain HTTP/1.1 request, as a browser following a presigned
/// link would; returns the status and the body.
async fn fetch(url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("a local http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, response[split + 4..].to_vec())
}

#[tokio::test]
async fn a_stored_object_reads_back_directly_and_through_its_presigned_link() {
    let config = aws_sdk_s3::config::Builder::from(&moto().await)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let bucket = unique("results");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let objects = S3Objects::new(client, S3Links::new(&moto().await, &bucket));
    let key = "teams/team_x/executions/exe_y/step-0.png";
    let png = b"\x89PNG\r\n\x1a\nnot really an image".to_vec();
    objects.put(key, png.clone(), "image/png").await.unwrap();

    assert_eq!(objects.get(key).await.unwrap(), Some(png.clone()));
    assert_eq!(objects.get("teams/team_x/missing.png").await.unwrap(), None);

    let link = objects.link(key, 300).await.unwrap();
    assert!(link.contains("X-Amz-Signature=") && link.contains("X-Amz-Expires=300"));
    assert_eq!(fetch(&link).await, (200, png));
}

#[tokio::test]
async fn a_link_signed_without_the_s3_client_is_the_link_the_s3_client_presigns() {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(vellocity::aws::https_client())
        .region("eu-west-1")
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session/token+with=symbols".into()),
            None,
            "test",
        ))
        .load()
        .await;
    let key = "teams/team_x/executions/exe_y/step 0 (final).png";
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
    let presigning = aws_sdk_s3::presigning::PresigningConfig::builder()
        .start_time(at)
        .expires_in(std::time::Duration::from_secs(300))
        .build()
        .unwrap();
    let presigned = aws_sdk_s3::Client::new(&sdk)
        .get_object()
        .bucket("vellocity-results")
        .key(key)
        .presigned(presigning)
        .await
        .unwrap();
    let ours = S3Links::new(&sdk, "vellocity-results")
        .signed(key, 300, at)
        .await
        .unwrap();
    assert_eq!(ours, presigned.uri());
}

/// Two usage plans in moto; returns them by plan.
pub async fn usage_plans(
    client: &aws_sdk_apigateway::Client,
) -> std::collections::BTreeMap<String, String> {
    let mut plans = std::collections::BTreeMap::new();
    for plan in ["trial", "enterprise"] {
        let created = client
            .create_usage_plan()
            .name(unique(plan))
            .send()
            .await
            .unwrap();
        plans.insert(plan.to_owned(), created.id().unwrap().to_owned());
    }
    plans
}

/// The ids of the keys in a usage plan.
pub async fn keys_in(client: &aws_sdk_apigateway::Client, usage_plan: &str) -> Vec<String> {
    let keys = client
        .get_usage_plan_keys()
        .usage_plan_id(usage_plan)
        .send()
        .await
        .unwrap();
    keys.items()
        .iter()
        .filter_map(|k| k.id().map(str::to_owned))
        .collect()
}

/// The usage-key adapter over moto with two usage plans ([`usage_plans`]), enterprise the
/// plan of unknown plans, `shared-key` the fallback: with its client and the plans.
pub async fn usage_keys_on_moto() -> (
    aws_sdk_apigateway::Client,
    std::collections::BTreeMap<String, String>,
    ApiGatewayUsageKeys,
) {
    let client = aws_sdk_apigateway::Client::new(&moto().await);
    let plans = usage_plans(&client).await;
    let keys = ApiGatewayUsageKeys::new(
        client.clone(),
        plans.clone(),
        "enterprise",
        "shared-key".into(),
    )
    .unwrap();
    (client, plans, keys)
}

#[tokio::test]
async fn a_teams_usage_key_is_created_once_in_its_plans_usage_plan_and_moves_with_its_plan() {
    let (client, plans, keys) = usage_keys_on_moto().await;
    let team = TeamId::generate();
    let placed = keys.place(&team, "trial", None).await.unwrap();
    assert_eq!(
        (placed.value.as_str(), placed.plan.as_str()),
        (team.as_str(), "trial")
    );
    assert_eq!(
        keys_in(&client, &plans["trial"]).await,
        std::slice::from_ref(&placed.id)
    );
    let again = keys.place(&team, "trial", None).await.unwrap();
    assert_eq!(
        again.id, placed.id,
        "a retried placement finds the key it made"
    );
    let moved = keys.place(&team, "growth", Some(&placed)).await.unwrap();
    assert_eq!(moved.plan, "growth");
    assert!(keys_in(&client, &plans["trial"]).await.is_empty());
    assert_eq!(
        keys_in(&client, &plans["enterprise"]).await,
        [placed.id],
        "a plan without a usage plan of its own uses the enterprise one"
    );
}
