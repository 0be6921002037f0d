//! The local stack's execution engine: an in-process queue in place of SQS, the production
//! dispatcher behind it, and Step Functions replaced by the ASL interpreter running
//! `statemachines/agentcore.asl.json`, one tokio task per run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::task::JoinHandle;
use vellocity::agentcore::dispatch::{dispatch, DispatchError};
use vellocity::app::App;
use vellocity::ports::queue::{Queue, QueueError};
use vellocity::ports::workflows::{WorkflowError, Workflows};

use crate::asl::definition::Machine;
use crate::asl::run::{Interpreter, Outcome};
use crate::workflow;

/// Runs of the AgentCore machine, named like Step Functions executions.
pub struct LocalWorkflows {
    interpreter: Arc<Interpreter>,
    machine: Machine,
    started: Mutex<HashSet<String>>,
    running: Mutex<HashMap<String, JoinHandle<Outcome>>>,
}

impl LocalWorkflows {
    /// Runs whose tasks use `app`; `time_scale` multiplies Wait and Retry delays (1.0 = real).
    pub fn new(app: &App, time_scale: f64) -> Result<Self, String> {
        let mut interpreter = workflow::interpreter(app);
        interpreter.time_scale = time_scale;
        Ok(LocalWorkflows {
            interpreter: Arc::new(interpreter),
            machine: workflow::machine().map_err(|e| e.to_string())?,
            started: Mutex::default(),
            running: Mutex::default(),
        })
    }

    /// Waits for the run `name` to end and returns its history; `None` if it was never
    /// started, was stopped, has been waited for already, or ended before another run started.
    pub async fn wait(&self, name: &str) -> Option<Outcome> {
        let handle = lock(&self.running).remove(name)?;
        handle.await.ok()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl Workflows for LocalWorkflows {
    async fn start(&self, name: &str, input: &Value) -> Result<(), WorkflowError> {
        if !lock(&self.started).insert(name.to_owned()) {
            return Ok(());
        }
        let (interpreter, machine) = (self.interpreter.clone(), self.machine.clone());
        let (run_name, input) = (name.to_owned(), input.clone());
        let handle = tokio::spawn(async move { interpreter.run(&machine, &run_name, input).await });
        lock(&self.running).insert(name.to_owned(), handle);
        Ok(())
    }

    async fn stop(&self, name: &str, _cause: &str) -> Result<(), WorkflowError> {
        if let Some(handle) = lock(&self.running).remove(name) {
            handle.abort();
        }
        Ok(())
    }

    async fn succeed_task(&self, token: &str, output: &Value) -> Result<(), WorkflowError> {
        self.interpreter
            .tokens
            .success(token, output.clone())
            .map_err(|e| WorkflowError::InvalidToken(e.to_string()))
    }

    async fn fail_task(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.interpreter
            .tokens
            .failure(token, error, cause)
            .map_err(|e| WorkflowError::InvalidToken(e.to_string()))
    }
}

/// How often a message whose dispatch failed is retried before it is dead-lettered, as the
/// deployed queue's `maxReceiveCount`.
const MAX_RECEIVES: u32 = 5;

/// The executions queue in-process: each message is delivered to the dispatcher on its own
/// task, retried with backoff, and dead-lettered when it cannot be dispatched.
pub struct LocalQueue {
    workflows: Arc<dyn Workflows>,
    dead_letters: Arc<Mutex<Vec<String>>>,
}

impl LocalQueue {
    /// A queue delivering to the dispatcher of `workflows`.
    pub fn new(workflows: Arc<dyn Workflows>) -> Self {
        LocalQueue {
            workflows,
            dead_letters: Arc::default(),
        }
    }

    /// Messages that could not be dispatched.
    pub fn dead_letters(&self) -> Vec<String> {
        lock(&self.dead_letters).clone()
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        let (workflows, dead_letters) = (self.workflows.clone(), self.dead_letters.clone());
        let body = body.to_owned();
        tokio::spawn(async move {
            for receive in 1..=MAX_RECEIVES {
                match dispatch(workflows.as_ref(), &body).await {
                    Ok(_) => return,
                    Err(DispatchError::Poison(reason)) => {
                        tracing::error!(%reason, "poison message moved to the dead-letter list");
                        break;
                    }
                    Err(error) if receive < MAX_RECEIVES => {
                        tracing::warn!(%error, receive, "dispatch failed; the message will be received again");
                        tokio::time::sleep(Duration::from_millis(100 << receive)).await;
                    }
                    Err(error) => tracing::error!(%error, "dispatch kept failing; dead-lettered"),
                }
            }
            lock(&dead_letters).push(body);
        });
        Ok(())
    }
}
