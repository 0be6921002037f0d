//! The SQS and Step Functions adapters' real SDK calls against moto, which the test command
//! installs and starts (`VELLOCITY_TEST_MOTO_ENDPOINT`).

use aws_config::SdkConfig;
use serde_json::json;
use vellocity::aws::sfn::StepFunctions;
use vellocity::aws::sqs::SqsQueue;
use vellocity::ports::queue::Queue;
use vellocity::ports::workflows::Workflows;

async fn moto() -> SdkConfig {
    let endpoint = std::env::var("VELLOCITY_TEST_MOTO_ENDPOINT")
        .expect("VELLOCITY_TEST_MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
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

#[tokio::test]
async fn a_duplicate_start_counts_as_started_and_runs_once() {
    let client = aws_sdk_sfn::Client::new(&moto().await);
    let definition =
        json!({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}).to_string();
    let machine = client
        .create_state_machine()
        .name(unique("agentcore"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/agentcore-test")
        .send()
        .await
        .unwrap();
    let workflows = StepFunctions::new(client.clone(), machine.state_machine_arn());
    let input = json!({"team_id": "team_x", "execution_id": "exe_01"});
    workflows.start("exe_01", &input).await.unwrap();
    workflows.start("exe_01", &input).await.unwrap();
    workflows
        .stop("exe_01", "cancelled by a person")
        .await
        .unwrap();
    workflows
        .start("exe_01", &input)
        .await
        .expect("a start after the run ended counts as done, not as an error");
    let runs = client
        .list_executions()
        .state_machine_arn(machine.state_machine_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(runs.executions().len(), 1);
    assert_eq!(
        runs.executions()[0].execution_arn(),
        workflows.execution_arn("exe_01")
    );
    workflows
        .stop("exe_unknown", "nothing to stop")
        .await
        .unwrap();
}
