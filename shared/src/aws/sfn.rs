//! The Step Functions adapter: the express state machine for first runs, the standard one for
//! the runs that continue durably. Runs are named after the AgentCore execution id, so the
//! standard service recognises a second start of the same id instead of running it twice.

use async_trait::async_trait;
use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_sdk_sfn::Client;
use serde_json::Value;

use crate::ports::workflows::{WorkflowError, Workflows};

/// The AgentCore state machines.
#[derive(Clone)]
pub struct StepFunctions {
    client: Client,
    state_machine_arn: String,
    express_state_machine_arn: Option<String>,
}

impl StepFunctions {
    /// Wraps a client (built once per cold start) and the standard state machine's ARN.
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        StepFunctions {
            client,
            state_machine_arn: state_machine_arn.into(),
            express_state_machine_arn: None,
        }
    }

    /// The express state machine too, for the function that starts runs.
    pub fn with_express(mut self, arn: impl Into<String>) -> Self {
        self.express_state_machine_arn = Some(arn.into());
        self
    }

    /// The ARN of the run named `name`: `…:stateMachine:M` becomes `…:execution:M:name`.
    pub fn execution_arn(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }
}

impl StepFunctions {
    async fn start_run(
        &self,
        arn: &str,
        name: &str,
        input: &Value,
    ) -> Result<StartExecutionOutput, SdkError<StartExecutionError, HttpResponse>> {
        self.client
            .start_execution()
            .state_machine_arn(arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
    }
}

fn map_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> WorkflowError {
    let code = error.code().unwrap_or_default().to_owned();
    let message = format!("{code}: {}", error.message().unwrap_or_default());
    match code.as_str() {
        "ThrottlingException" | "TooManyRequestsException" => WorkflowError::Throttled(message),
        "TaskDoesNotExist" | "InvalidToken" | "TaskTimedOut" => {
            WorkflowError::InvalidToken(message)
        }
        "" => WorkflowError::Failed(aws_sdk_sfn::error::DisplayErrorContext(&error).to_string()),
        _ => WorkflowError::Failed(message),
    }
}

#[async_trait]
impl Workflows for StepFunctions {
    async fn start(&self, name: &str, input: &Value) -> Result<(), WorkflowError> {
        let arn = self.express_state_machine_arn.as_deref().ok_or_else(|| {
            WorkflowError::Failed("EXPRESS_STATE_MACHINE_ARN must be set to start runs".into())
        })?;
        self.start_run(arn, name, input).await.map_err(map_error)?;
        Ok(())
    }

    async fn continue_durably(&self, name: &str, input: &Value) -> Result<(), WorkflowError> {
        match self.start_run(&self.state_machine_arn, name, input).await {
            // Step Functions answers a duplicate start of a running execution with success,
            // and ExecutionAlreadyExists once it has ended or its input differs.
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("ExecutionAlreadyExists") => Ok(()),
            Err(error) => Err(map_error(error)),
        }
    }

    async fn stop(&self, name: &str, cause: &str) -> Result<(), WorkflowError> {
        let result = self
            .client
            .stop_execution()
            .execution_arn(self.execution_arn(name))
            .cause(cause)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A run that already ended (or never started) is as stopped as it can be.
            Err(error) if error.code() == Some("ExecutionDoesNotExist") => Ok(()),
            Err(error) => Err(map_error(error)),
        }
    }

    async fn succeed_task(&self, token: &str, output: &Value) -> Result<(), WorkflowError> {
        self.client
            .send_task_success()
            .task_token(token)
            .output(output.to_string())
            .send()
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn fail_task(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.client
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map_err(map_error)?;
        Ok(())
    }
}
