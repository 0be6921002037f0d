//! Running a machine: input/output processing in the specification's order (JSONPath or
//! JSONata), Choice rules, variables, Retry with backoff, Catch, Parallel branches and Map
//! items one at a time, and task tokens.
//!
//! A run is durable when the interpreter has a [`History`]: every task's result (with its
//! state), every task token it hands out, every Wait it finishes, every Choice's rule and
//! every `Assign`'s values (they may read the time or a random number) are appended there as
//! they happen. Given no other input than those, a machine's path is fixed, so a run
//! interrupted by a restart
//! resumes by running again from the start with its history: recorded entries are replayed
//! instead of invoking, issuing or sleeping again, and the run goes on live from the first
//! entry it had not recorded. A task that had not recorded its result runs again, as Step
//! Functions retries a Lambda invocation: tasks are idempotent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::definition::{
    batch_bytes, catchers, non_negative_integer, percentage, positive_integer, Batcher,
    Distributed, Language, Limit, Machine, Retrier, State, StateKind, MOST_BATCH_BYTES,
    MOST_SECONDS,
};
use super::jsonata;
use super::paths::{assign, evaluate, exists, read, template, timestamp, Sources};
use super::variables::Variables;
use super::AslError;

/// Why a task failed: the error name Retry and Catch match, and a cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Error name, e.g. `Throttled` or `States.Timeout`.
    pub error: String,
    /// What happened.
    pub cause: String,
}

impl Failure {
    /// A failure with a name and a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Failure {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

impl From<AslError> for Failure {
    fn from(error: AslError) -> Self {
        match error {
            AslError::Runtime(name, cause) => Failure::new(name, cause),
            AslError::Definition(cause) => Failure::new("States.Runtime", cause),
        }
    }
}

/// Runs the function behind a Task state's resource.
#[async_trait]
pub trait TaskRunner: Send + Sync {
    /// Invokes `function` with `payload`; the result is the function's output.
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, Failure>;
}

/// One entry of a run's history, in the order the run produced them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// The run started at this time (RFC 3339): `$$.Execution.StartTime`, the same after a
    /// restart. A history from before start times were kept has none.
    Started {
        /// When.
        at: String,
    },
    /// A task token was handed out (milliseconds since the Unix epoch), before its task ran.
    Token {
        /// The token.
        token: String,
        /// When, so that a resumed wait keeps its original deadline.
        issued_ms: u64,
    },
    /// A task (or the wait for its token) of the state `state` ended with this result. A
    /// replay that reaches it in another state (the definition changed under the run) stops
    /// rather than hand one task's result to another.
    Ran {
        /// The Task state.
        state: String,
        /// What the task gave.
        result: Result<Value, Failure>,
    },
    /// A task's result as histories kept it before they named the state: replayed as it is.
    Result(Result<Value, Failure>),
    /// A Wait state's time has passed.
    Waited,
    /// A Choice state took this rule (`None`: its Default). Its conditions may read the time
    /// or a random number, so a replay takes the recorded rule instead of deciding again.
    Chose(Option<usize>),
    /// A state's `Assign` stored these values (they may hold the time, a UUID or a random
    /// number): a replay stores them again as they were.
    Assigned(serde_json::Map<String, Value>),
}

/// Where runs keep their history. Appending must be durable before it returns: what a run
/// appended is what it resumes from.
pub trait History: Send + Sync {
    /// Appends entry number `seq` (from 0) of the run named `run`.
    fn append(&self, run: &str, seq: usize, record: &Record) -> Result<(), String>;
}

/// Keeps nothing: runs that end with the process.
pub struct Forgetful;

impl History for Forgetful {
    fn append(&self, _run: &str, _seq: usize, _record: &Record) -> Result<(), String> {
        Ok(())
    }
}

/// What happened during an execution, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A state was entered.
    Entered(String),
    /// A task failed and will be retried after this many milliseconds.
    Retrying {
        state: String,
        error: String,
        delay_ms: u64,
    },
    /// A Catch took over.
    Caught {
        state: String,
        error: String,
        next: String,
    },
}

enum TokenMessage {
    Heartbeat,
    Done(Result<Value, Failure>),
}

/// Outstanding task tokens: `SendTaskSuccess`, `SendTaskFailure` and `SendTaskHeartbeat`.
#[derive(Default)]
pub struct TaskTokens(Mutex<HashMap<String, mpsc::UnboundedSender<TokenMessage>>>);

impl TaskTokens {
    fn open(&self, token: &str) -> mpsc::UnboundedReceiver<TokenMessage> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned(), sender);
        receiver
    }

    fn close(&self, token: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    fn send(&self, token: &str, message: TokenMessage) -> Result<(), AslError> {
        let tokens = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let sender = tokens.get(token).ok_or_else(|| {
            AslError::Runtime(
                "TaskTimedOut".into(),
                "the task token is unknown or no longer waiting".into(),
            )
        })?;
        sender.send(message).map_err(|_| {
            AslError::Runtime(
                "TaskTimedOut".into(),
                "the task is no longer waiting".into(),
            )
        })
    }

    /// Completes the waiting task with an output.
    pub fn success(&self, token: &str, output: Value) -> Result<(), AslError> {
        self.send(token, TokenMessage::Done(Ok(output)))
    }

    /// Fails the waiting task.
    pub fn failure(&self, token: &str, error: &str, cause: &str) -> Result<(), AslError> {
        self.send(token, TokenMessage::Done(Err(Failure::new(error, cause))))
    }

    /// Forgets every token of the run `run` (stopped): sending to them fails from now on.
    pub fn forget_run(&self, run: &str) {
        let prefix = token_of(run);
        let prefix = &prefix[..prefix.len() - ulid::ULID_LEN];
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|token, _| !token.starts_with(prefix));
    }

    /// Keeps the waiting task alive past its `HeartbeatSeconds`.
    pub fn heartbeat(&self, token: &str) -> Result<(), AslError> {
        self.send(token, TokenMessage::Heartbeat)
    }
}

/// The Lambda service integrations the interpreter understands besides a plain function ARN.
const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
const WAIT_FOR_TOKEN: &str = ".waitForTaskToken";

/// Runs machines against a task runner.
pub struct Interpreter {
    tasks: Arc<dyn TaskRunner>,
    /// Outstanding task tokens.
    pub tokens: Arc<TaskTokens>,
    /// Where runs record what they did (nowhere by default).
    pub history: Arc<dyn History>,
    /// Multiplies every Wait and Retry delay (1.0 = real time; tests use a small factor).
    pub time_scale: f64,
}

/// One execution's result and history.
#[derive(Debug)]
pub struct Outcome {
    /// The output, or the failure that ended the execution.
    pub result: Result<Value, Failure>,
    /// What happened, in order.
    pub events: Vec<Event>,
}

impl Outcome {
    /// How many states were entered (Step Functions' state transitions).
    pub fn transitions(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Entered(_)))
            .count()
    }
}

struct Run<'a> {
    interpreter: &'a Interpreter,
    name: String,
    execution: Value,
    events: Vec<Event>,
    /// What the run recorded before it was interrupted.
    past: Vec<Record>,
    /// Told once the run has replayed all of `past` (its task tokens are open again).
    caught_up: Option<tokio::sync::oneshot::Sender<()>>,
    /// The number of the next history entry.
    seq: usize,
    /// When the current state was entered (RFC 3339), for `$$.State.EnteredTime`.
    entered_at: String,
    /// How many times the current state's work has been retried, for `$$.State.RetryCount`.
    retry_count: u32,
    /// The variables of the scope running now (a Parallel branch or Map iteration has its own).
    variables: Variables,
}

/// The account and region the local runs pretend to be in, for the ARNs of the context object.
const LOCAL_ARN_PREFIX: &str = "arn:aws:states:us-east-1:123456789012";

/// Now, as the context object's times are written: RFC 3339 with milliseconds.
fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let millis = now.millisecond();
    let whole = now.replace_nanosecond(0).unwrap_or(now);
    let text = whole
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!("{}.{millis:03}Z", text.trim_end_matches('Z'))
}

fn matches(names: &[String], error: &str) -> bool {
    // States.ALL matches everything but States.Runtime, which nothing can retry or catch, and
    // the terminal States.DataLimitExceeded (only naming it catches it).
    error != "States.Runtime"
        && names.iter().any(|n| {
            n == error
                || (n == "States.ALL" && error != "States.DataLimitExceeded")
                || (n == "States.TaskFailed"
                    && error != "States.Timeout"
                    && error != "States.HeartbeatTimeout")
        })
}

/// The delay before retry number `attempt` (1-based), at most the longest any wait may be.
pub fn backoff(retrier: &Retrier, attempt: u32) -> Duration {
    let seconds = retrier.interval_seconds as f64 * retrier.backoff_rate.powi(attempt as i32 - 1);
    let capped = retrier
        .max_delay_seconds
        .map_or(seconds, |max| seconds.min(max as f64));
    Duration::from_secs_f64(capped.min(MOST_SECONDS as f64))
}

/// Seconds a Wait may wait: 0 to [`MOST_SECONDS`].
fn seconds_to_wait(n: f64) -> bool {
    non_negative_integer(n) && n <= MOST_SECONDS as f64
}

/// Seconds a task may take or go without a heartbeat: 1 to [`MOST_SECONDS`].
fn seconds_to_time_out(n: f64) -> bool {
    positive_integer(n) && n <= MOST_SECONDS as f64
}

/// A value of the wrong type where `expression` was read: a JSONata expression's is
/// `States.QueryEvaluationError` (catchable), a path's `States.Runtime`.
fn wrong_type(expression: &str, why: String) -> Failure {
    match jsonata::expression(expression) {
        Some(_) => Failure::new("States.QueryEvaluationError", why),
        None => Failure::new("States.Runtime", why),
    }
}

impl Interpreter {
    /// An interpreter over `tasks`.
    pub fn new(tasks: Arc<dyn TaskRunner>) -> Self {
        Interpreter {
            tasks,
            tokens: Arc::new(TaskTokens::default()),
            history: Arc::new(Forgetful),
            time_scale: 1.0,
        }
    }

    /// Runs `machine` to the end.
    pub async fn run(&self, machine: &Machine, execution_name: &str, input: Value) -> Outcome {
        self.resume(machine, execution_name, input, Vec::new(), None)
            .await
    }

    /// Runs `machine` to the end from the history `past` of an interrupted run: replays it,
    /// then goes on live. `caught_up` is told when the replay is over (or the run has ended),
    /// so that a waiting task's token is open again before anyone sends to it.
    pub async fn resume(
        &self,
        machine: &Machine,
        execution_name: &str,
        input: Value,
        past: Vec<Record>,
        caught_up: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Outcome {
        let execution = json!({
            "Execution": {
                "Id": format!("{LOCAL_ARN_PREFIX}:execution:local:{execution_name}"),
                "Name": execution_name,
                "Input": input.clone(),
                "RoleArn": "arn:aws:iam::123456789012:role/local",
                // Local runs resume after a restart; they are never redriven.
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": format!("{LOCAL_ARN_PREFIX}:stateMachine:local"), "Name": "local"},
        });
        let mut run = Run {
            interpreter: self,
            name: execution_name.to_owned(),
            execution,
            events: Vec::new(),
            past,
            caught_up,
            seq: 0,
            entered_at: String::new(),
            retry_count: 0,
            variables: Variables::default(),
        };
        let started = match run.past.first() {
            Some(Record::Started { at }) => {
                run.seq = 1;
                Ok(at.clone())
            }
            Some(_) => Ok(now_rfc3339()),
            None => {
                let at = now_rfc3339();
                run.record(Record::Started { at: at.clone() }).map(|()| at)
            }
        };
        let started = match started {
            Ok(at) => at,
            Err(failure) => {
                return Outcome {
                    result: Err(failure),
                    events: Vec::new(),
                }
            }
        };
        run.execution["Execution"]["StartTime"] = Value::String(started);
        // The machine's TimeoutSeconds, in the interpreter's time (scaled as its Waits are;
        // with no time passing, it never runs out).
        let limit = machine
            .timeout_seconds
            .filter(|_| self.time_scale > 0.0)
            .map(|s| Duration::from_secs(s).mul_f64(self.time_scale));
        let running = Box::pin(run.machine(machine, input, None));
        let result = match limit {
            Some(limit) => tokio::time::timeout(limit, running)
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::new(
                        "States.Timeout",
                        format!(
                            "the execution ran longer than its TimeoutSeconds ({} s)",
                            machine.timeout_seconds.unwrap_or_default()
                        ),
                    ))
                }),
            None => running.await,
        };
        Outcome {
            result,
            events: run.events,
        }
    }

    async fn sleep(&self, duration: Duration) {
        let scaled = duration.mul_f64(self.time_scale.max(0.0));
        if !scaled.is_zero() {
            tokio::time::sleep(scaled).await;
        }
    }
}

/// A new task token of the run `run`.
fn token_of(run: &str) -> String {
    format!("local-token-{run}-{}", ulid::Ulid::new())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Run<'_> {
    /// Whether the run is still replaying its history.
    fn replaying(&self) -> bool {
        self.seq < self.past.len()
    }

    /// The next recorded entry, while replaying; `None` once the run is live.
    fn replay(&mut self) -> Option<Record> {
        let Some(record) = self.past.get(self.seq).cloned() else {
            self.tell_caught_up();
            return None;
        };
        self.seq += 1;
        Some(record)
    }

    /// Tells whoever resumed the run that its replay is over (once).
    fn tell_caught_up(&mut self) {
        if let Some(caught_up) = self.caught_up.take() {
            let _ = caught_up.send(());
        }
    }

    /// Appends the next entry of the history.
    fn record(&mut self, record: Record) -> Result<(), Failure> {
        self.interpreter
            .history
            .append(&self.name, self.seq, &record)
            .map_err(|e| Failure::new("States.Runtime", format!("recording the run: {e}")))?;
        self.seq += 1;
        Ok(())
    }

    /// A history that does not fit the machine (the definition changed under a run).
    fn diverged(&self, found: &Record) -> Failure {
        Failure::new(
            "States.Runtime",
            format!(
                "entry {} of the run's history ({found:?}) does not fit the state machine",
                self.seq
            ),
        )
    }

    /// The result of the task of `state` (or of a wait for its token): replayed, or produced
    /// by `live` and recorded.
    async fn journaled(
        &mut self,
        state: &str,
        live: impl std::future::Future<Output = Result<Value, Failure>>,
    ) -> Result<Value, Failure> {
        match self.replay() {
            Some(Record::Ran {
                state: recorded,
                result,
            }) if recorded == state => result,
            Some(Record::Result(result)) => result,
            Some(other) => Err(self.diverged(&other)),
            None => {
                let result = live.await;
                self.record(Record::Ran {
                    state: state.to_owned(),
                    result: result.clone(),
                })?;
                result
            }
        }
    }

    /// The token of a `.waitForTaskToken` task and when it was issued: replayed, or new.
    fn token(&mut self) -> Result<(String, u64), Failure> {
        match self.replay() {
            Some(Record::Token { token, issued_ms }) => Ok((token, issued_ms)),
            Some(other) => Err(self.diverged(&other)),
            None => {
                let (token, issued_ms) = (token_of(&self.name), now_ms());
                self.record(Record::Token {
                    token: token.clone(),
                    issued_ms,
                })?;
                Ok((token, issued_ms))
            }
        }
    }

    /// Stores what an `Assign` evaluated to: recorded while live, the recorded values while
    /// replaying. A history without them (the run failed storing them) stores them again.
    fn store_assigned(&mut self, assigned: serde_json::Map<String, Value>) -> Result<(), Failure> {
        if assigned.is_empty() {
            return Ok(());
        }
        match self.past.get(self.seq) {
            Some(Record::Assigned(recorded)) => {
                let recorded = recorded.clone();
                self.seq += 1;
                Ok(self.variables.store(recorded)?)
            }
            Some(_) => Ok(self.variables.store(assigned)?),
            None => {
                self.tell_caught_up();
                self.variables.store(assigned.clone())?;
                self.record(Record::Assigned(assigned))
            }
        }
    }

    /// The rule a Choice state takes (`None`: its Default): decided and recorded while live,
    /// the recorded one while replaying (a history from before choices were kept decides
    /// again).
    fn choose(
        &mut self,
        decide: impl FnOnce(&Self) -> Result<Option<usize>, Failure>,
    ) -> Result<Option<usize>, Failure> {
        match self.past.get(self.seq) {
            Some(Record::Chose(rule)) => {
                let rule = *rule;
                self.seq += 1;
                Ok(rule)
            }
            Some(_) => decide(self),
            None => {
                self.tell_caught_up();
                let rule = decide(self)?;
                self.record(Record::Chose(rule))?;
                Ok(rule)
            }
        }
    }

    fn context(&self, state: &str, token: Option<&str>, item: Option<(usize, &Value)>) -> Value {
        let mut context = self.execution.clone();
        context["State"] =
            json!({"Name": state, "EnteredTime": self.entered_at, "RetryCount": self.retry_count});
        if let Some(token) = token {
            context["Task"] = json!({"Token": token});
        }
        if let Some((index, value)) = item {
            context["Map"] = json!({"Item": {"Index": index, "Value": value}});
        }
        context
    }

    /// What paths read in the current state: `input` as `$`, `context` as `$$`, the variables.
    fn sources<'s>(&'s self, input: &'s Value, context: &'s Value) -> Sources<'s> {
        Sources::new(input, context, &self.variables)
    }

    /// A path or intrinsic (JSONPath), or a `{% … %}` expression (JSONata), evaluated.
    fn query(&self, expression: &str, sources: &Sources) -> Result<Value, Failure> {
        Ok(match jsonata::expression(expression) {
            Some(expression) => jsonata::evaluate(expression, sources)?,
            None => evaluate(expression, sources)?,
        })
    }

    /// A payload template (JSONPath) or a field that may hold JSONata expressions, evaluated in
    /// the state's query language.
    fn template_for(
        &self,
        state: &State,
        fields: &Value,
        sources: &Sources,
    ) -> Result<Value, Failure> {
        Ok(match state.language {
            Language::JsonPath => template(fields, sources)?,
            Language::Jsonata => jsonata::template(fields, sources)?,
        })
    }

    /// Evaluates an `Assign` field of `state` on `sources` with the variables as they were
    /// when the state was entered (the caller stores the values once the state is done).
    fn evaluate_assign(
        &self,
        state: &State,
        assign: Option<&Value>,
        sources: &Sources,
    ) -> Result<serde_json::Map<String, Value>, Failure> {
        let Some(assign) = assign else {
            return Ok(serde_json::Map::new());
        };
        // An `Assign` is an object (checked at load), and so is what it evaluates to.
        let values = self.template_for(state, assign, sources)?;
        Ok(values.as_object().cloned().unwrap_or_default())
    }

    /// Runs a Parallel branch or Map iteration in its own variable scope, `scope`; the scope
    /// around it is back when it ends.
    async fn inner_machine(
        &mut self,
        machine: &Machine,
        input: Value,
        item: Option<(usize, &Value)>,
        scope: Variables,
    ) -> Result<Value, Failure> {
        let around = std::mem::replace(&mut self.variables, scope);
        let result = Box::pin(self.machine(machine, input, item)).await;
        self.variables = around;
        result
    }

    async fn machine(
        &mut self,
        machine: &Machine,
        mut input: Value,
        item: Option<(usize, &Value)>,
    ) -> Result<Value, Failure> {
        let mut name = machine.start_at.clone();
        loop {
            let state = &machine.states[&name];
            self.events.push(Event::Entered(name.clone()));
            self.entered_at = now_rfc3339();
            self.retry_count = 0;
            let (output, next) = self.state(&name, state, input, item).await?;
            match next {
                Some(next) => {
                    name = next;
                    input = output;
                }
                None => return Ok(output),
            }
        }
    }

    /// Runs one state; returns its output and the next state (None: the machine ends).
    async fn state(
        &mut self,
        name: &str,
        state: &State,
        raw_input: Value,
        item: Option<(usize, &Value)>,
    ) -> Result<(Value, Option<String>), Failure> {
        let context = self.context(name, None, item);
        let effective = match &state.io.input_path {
            Some(path) => read(path, &self.sources(&raw_input, &context))?,
            None => json!({}),
        };
        let outcome: Result<Value, Failure> = match &state.kind {
            StateKind::Pass { result } => match result {
                Some(result) => Ok(result.clone()),
                None => match &state.io.parameters {
                    Some(parameters) => {
                        Ok(template(parameters, &self.sources(&effective, &context))?)
                    }
                    None => Ok(effective.clone()),
                },
            },
            StateKind::Succeed => return Ok((self.output(state, effective, &context)?, None)),
            StateKind::Fail {
                error,
                cause,
                error_path,
                cause_path,
            } => {
                // ErrorPath and CausePath (a path or an intrinsic) must give strings.
                let text = |expression: &str| -> Result<String, Failure> {
                    match self.query(expression, &self.sources(&effective, &context))? {
                        Value::String(text) => Ok(text),
                        other => Err(wrong_type(
                            expression,
                            format!("{expression} gives {other}, not a string"),
                        )),
                    }
                };
                let error = match error_path {
                    Some(path) => text(path)?,
                    None => error.clone().unwrap_or_else(|| "States.Fail".into()),
                };
                let cause = match cause_path {
                    Some(path) => text(path)?,
                    None => cause.clone().unwrap_or_default(),
                };
                return Err(Failure::new(error, cause));
            }
            StateKind::Choice { choices, default } => {
                let chosen = self.choose(|run| {
                    let sources = run.sources(&effective, &context);
                    for (index, rule) in choices.iter().enumerate() {
                        let matched = match state.language {
                            Language::JsonPath => evaluate_rule(rule, &sources)?,
                            Language::Jsonata => condition(rule, &sources)?,
                        };
                        if matched {
                            return Ok(Some(index));
                        }
                    }
                    Ok(None)
                })?;
                let chosen = chosen.and_then(|index| choices.get(index));
                // The chosen rule's Assign (and JSONata Output), or the state's when it goes
                // to its Default.
                let (next, assignment, output) = match (chosen, default) {
                    (Some(rule), _) => (
                        rule["Next"].as_str().unwrap_or_default().to_owned(),
                        rule.get("Assign"),
                        rule.get("Output"),
                    ),
                    (None, Some(default)) => (
                        default.clone(),
                        state.assign.as_ref(),
                        state.output.as_ref(),
                    ),
                    (None, None) => {
                        return Err(Failure::new(
                            "States.NoChoiceMatched",
                            format!("no choice rule of {name} matched and it has no Default"),
                        ))
                    }
                };
                let sources = self.sources(&effective, &context);
                let assigned = self.evaluate_assign(state, assignment, &sources)?;
                let output = match (state.language, output) {
                    (Language::Jsonata, Some(output)) => jsonata::template(output, &sources)?,
                    (Language::Jsonata, None) => effective.clone(),
                    (Language::JsonPath, _) => self.output(state, effective.clone(), &context)?,
                };
                self.store_assigned(assigned)?;
                return Ok((output, Some(next)));
            }
            StateKind::Wait {
                seconds,
                seconds_path,
                timestamp: until,
                timestamp_path,
            } => {
                let until = match (until, timestamp_path) {
                    (Some(at), _) => timestamp(at),
                    (None, Some(path)) => {
                        let at = self.query(path, &self.sources(&effective, &context))?;
                        let read = at.as_str().and_then(timestamp).ok_or_else(|| {
                            wrong_type(
                                path,
                                format!("{path} gives {at}, not an RFC 3339 timestamp"),
                            )
                        })?;
                        Some(read)
                    }
                    (None, None) => None,
                };
                let seconds = match (seconds, seconds_path, until) {
                    (Some(s), _, _) => *s,
                    (None, Some(path), _) => self.read_number(
                        path,
                        &self.sources(&effective, &context),
                        (seconds_to_wait, "a number of seconds from 0 to 99999999"),
                    )? as u64,
                    (None, None, Some(at)) => {
                        let left = at - time::OffsetDateTime::now_utc();
                        left.whole_seconds().max(0) as u64
                    }
                    (None, None, None) => 0,
                };
                let assigned = self.evaluate_assign(
                    state,
                    state.assign.as_ref(),
                    &self.sources(&effective, &context),
                )?;
                match self.replay() {
                    Some(Record::Waited) => {}
                    Some(other) => return Err(self.diverged(&other)),
                    None => {
                        self.interpreter.sleep(Duration::from_secs(seconds)).await;
                        self.record(Record::Waited)?;
                    }
                }
                let output = self.output(state, effective, &context)?;
                self.store_assigned(assigned)?;
                return Ok((output, state.next.clone()));
            }
            StateKind::Task { retry, .. }
            | StateKind::Map { retry, .. }
            | StateKind::Parallel { retry, .. } => {
                let mut attempts: Vec<u32> = vec![0; retry.len()];
                loop {
                    match self.attempt(name, state, &effective, &context).await {
                        Ok(value) => break Ok(value),
                        Err(failure) if self.retry(name, retry, &mut attempts, &failure).await => {
                            continue
                        }
                        Err(failure) => break Err(failure),
                    }
                }
            }
        };
        // Errors applying ResultSelector, ResultPath and OutputPath are the state's errors too:
        // its Retry does not see them (the work succeeded), its Catch does.
        // Assign reads the raw result (the result of a Pass), as ResultSelector does.
        // In JSONata, `$states.result` is the result and `Output` (if any) replaces it.
        let processed = outcome.and_then(|result| match state.language {
            Language::JsonPath => {
                let assigned = self.evaluate_assign(
                    state,
                    state.assign.as_ref(),
                    &self.sources(&result, &context),
                )?;
                let result = match &state.io.result_selector {
                    Some(selector) => template(selector, &self.sources(&result, &context))?,
                    None => result,
                };
                let combined = assign(&raw_input, state.io.result_path.as_deref(), result)?;
                Ok((self.output(state, combined, &context)?, assigned))
            }
            Language::Jsonata => {
                // `$states.result` is a Task's, Map's or Parallel's (a Pass has none).
                let after = match state.kind {
                    StateKind::Pass { .. } => self.sources(&raw_input, &context),
                    _ => self.sources(&raw_input, &context).with_result(&result),
                };
                let assigned = self.evaluate_assign(state, state.assign.as_ref(), &after)?;
                let output = match &state.output {
                    Some(output) => jsonata::template(output, &after)?,
                    None => result.clone(),
                };
                Ok((output, assigned))
            }
        });
        // Storing the variables can fail too (past their limits); only naming
        // States.DataLimitExceeded catches that.
        let processed = match processed {
            Ok((output, assigned)) => self.store_assigned(assigned).map(|()| output),
            Err(failure) => Err(failure),
        };
        match processed {
            Ok(output) => Ok((output, state.next.clone())),
            Err(failure) => {
                let Some(catcher) = catchers(&state.kind)
                    .iter()
                    .find(|c| matches(&c.error_equals, &failure.error))
                else {
                    return Err(failure);
                };
                self.events.push(Event::Caught {
                    state: name.to_owned(),
                    error: failure.error.clone(),
                    next: catcher.next.clone(),
                });
                let error = json!({"Error": failure.error, "Cause": failure.cause});
                // The catcher's Assign (`$` or `$states.errorOutput` is the error output)
                // instead of the state's; its output is the error output where it goes.
                let (assigned, output) = match state.language {
                    Language::JsonPath => (
                        self.evaluate_assign(
                            state,
                            catcher.assign.as_ref(),
                            &self.sources(&error, &context),
                        )?,
                        assign(&raw_input, catcher.result_path.as_deref(), error)?,
                    ),
                    Language::Jsonata => {
                        let at = self.sources(&raw_input, &context).with_error_output(&error);
                        let assigned = self.evaluate_assign(state, catcher.assign.as_ref(), &at)?;
                        let output = match &catcher.output {
                            Some(output) => jsonata::template(output, &at)?,
                            None => error.clone(),
                        };
                        (assigned, output)
                    }
                };
                self.store_assigned(assigned)?;
                Ok((output, Some(catcher.next.clone())))
            }
        }
    }

    /// A state's output from `value`: its OutputPath applied (JSONPath: `value` is what
    /// ResultPath gave, or the effective input of a state without a result), or, for a JSONata
    /// state without a result (Choice, Wait, Succeed), its `Output` on its input.
    fn output(&self, state: &State, value: Value, context: &Value) -> Result<Value, Failure> {
        let sources = self.sources(&value, context);
        Ok(
            match (state.language, &state.output, &state.io.output_path) {
                (Language::Jsonata, Some(output), _) => jsonata::template(output, &sources)?,
                (Language::Jsonata, None, _) => value.clone(),
                (Language::JsonPath, _, Some(path)) => read(path, &sources)?,
                (Language::JsonPath, _, None) => json!({}),
            },
        )
    }

    /// Runs a Task or Map state's work once (before Retry and Catch).
    async fn attempt(
        &mut self,
        name: &str,
        state: &State,
        effective: &Value,
        context: &Value,
    ) -> Result<Value, Failure> {
        match &state.kind {
            StateKind::Task {
                resource,
                timeout_seconds,
                heartbeat_seconds,
                timeout_seconds_path,
                heartbeat_seconds_path,
                ..
            } => {
                let seconds = |fixed: &Option<u64>, path: &Option<String>| match path {
                    Some(path) => self
                        .read_number(
                            path,
                            &self.sources(effective, context),
                            (
                                seconds_to_time_out,
                                "a number of seconds from 1 to 99999999",
                            ),
                        )
                        .map(|s| Some(s as u64)),
                    None => Ok(*fixed),
                };
                let timeout = seconds(timeout_seconds, timeout_seconds_path)?;
                let heartbeat = seconds(heartbeat_seconds, heartbeat_seconds_path)?;
                self.task(name, state, resource, effective, timeout, heartbeat)
                    .await
            }
            StateKind::Map {
                items_path,
                items,
                processor,
                max_concurrency_path,
                distributed,
                ..
            } => {
                if let Some(path) = max_concurrency_path {
                    // Items run one after another here, within any limit; it must be one.
                    self.read_number(
                        path,
                        &self.sources(effective, context),
                        (non_negative_integer, "a non-negative integer"),
                    )?;
                }
                let items =
                    self.selected_items(state, items_path, items.as_ref(), effective, context)?;
                match distributed {
                    None => self.map(processor, items).await,
                    Some(distributed) => {
                        self.distributed_map(
                            state,
                            processor,
                            distributed,
                            items,
                            effective,
                            context,
                        )
                        .await
                    }
                }
            }
            StateKind::Parallel { branches, .. } => {
                let input = match &state.io.parameters {
                    Some(parameters) => {
                        self.template_for(state, parameters, &self.sources(effective, context))?
                    }
                    None => effective.clone(),
                };
                let scope = self.variables.inner();
                let mut outputs = Vec::with_capacity(branches.len());
                for branch in branches {
                    outputs.push(
                        self.inner_machine(branch, input.clone(), None, scope.clone())
                            .await?,
                    );
                }
                Ok(Value::Array(outputs))
            }
            _ => Err(Failure::new(
                "States.Runtime",
                format!("{name} is neither a Task, a Parallel nor a Map state"),
            )),
        }
    }

    /// Applies the first matching retrier; true if the state should run again.
    async fn retry(
        &mut self,
        name: &str,
        retry: &[Retrier],
        attempts: &mut [u32],
        failure: &Failure,
    ) -> bool {
        let Some(index) = retry
            .iter()
            .position(|r| matches(&r.error_equals, &failure.error))
        else {
            return false;
        };
        if attempts[index] >= retry[index].max_attempts {
            return false;
        }
        attempts[index] += 1;
        self.retry_count += 1;
        let delay = backoff(&retry[index], attempts[index]);
        self.events.push(Event::Retrying {
            state: name.to_owned(),
            error: failure.error.clone(),
            delay_ms: delay.as_millis() as u64,
        });
        if !self.replaying() {
            // Live from here: a resumed run waiting out a retry holds up no one.
            self.tell_caught_up();
            self.interpreter.sleep(delay).await;
        }
        true
    }

    async fn task(
        &mut self,
        name: &str,
        state: &State,
        resource: &str,
        effective: &Value,
        timeout: Option<u64>,
        heartbeat: Option<u64>,
    ) -> Result<Value, Failure> {
        let waits = resource.ends_with(WAIT_FOR_TOKEN);
        let issued = if waits { Some(self.token()?) } else { None };
        let token = issued.as_ref().map(|(token, _)| token.as_str());
        let context = self.context(name, token, None);
        let payload = match &state.io.parameters {
            Some(parameters) => {
                self.template_for(state, parameters, &self.sources(effective, &context))?
            }
            None => effective.clone(),
        };
        // A plain function ARN (or any other resource) gets the payload; the lambda:invoke
        // integration names the function in its parameters and wraps the result in `Payload`.
        let (function, payload, wrap) = if resource.starts_with(LAMBDA_INVOKE) {
            let function = payload["FunctionName"]
                .as_str()
                .ok_or_else(|| {
                    Failure::new(
                        "States.Runtime",
                        format!("{name}: lambda:invoke needs FunctionName"),
                    )
                })?
                .to_owned();
            (
                function,
                payload.get("Payload").cloned().unwrap_or(Value::Null),
                !waits,
            )
        } else {
            // Any other integration is its resource's work, done by the task runner; with
            // `.waitForTaskToken` the state then waits for the token as a Lambda one does.
            (
                resource.trim_end_matches(WAIT_FOR_TOKEN).to_owned(),
                payload,
                false,
            )
        };
        let mut receiver = token.map(|t| self.interpreter.tokens.open(t));
        let tasks = self.interpreter.tasks.clone();
        let scale = self.interpreter.time_scale.max(0.001);
        let invoked = async {
            let call = tasks.invoke(&function, payload);
            let Some(seconds) = timeout else {
                return call.await;
            };
            match tokio::time::timeout(Duration::from_secs(seconds).mul_f64(scale), call).await {
                Ok(result) => result,
                Err(_) => Err(Failure::new(
                    "States.Timeout",
                    format!("{name} ran longer than {seconds} s"),
                )),
            }
        };
        let result = self.journaled(name, invoked).await;
        let result = match (result, receiver.as_mut(), issued) {
            (Err(failure), _, Some((token, _))) => {
                self.interpreter.tokens.close(&token);
                Err(failure)
            }
            (Ok(_), Some(receiver), Some((token, issued_ms))) => {
                let elapsed = Duration::from_millis(now_ms().saturating_sub(issued_ms));
                let waiting = wait_for_token(receiver, timeout, heartbeat, elapsed, scale, name);
                let waited = self.journaled(name, waiting).await;
                self.interpreter.tokens.close(&token);
                waited
            }
            (result, _, _) => result,
        };
        result.map(|value| {
            if wrap {
                json!({"Payload": value, "StatusCode": 200})
            } else {
                value
            }
        })
    }

    /// A Map's items with their `ItemSelector` (or `Parameters`) applied: (index, item, what
    /// the iteration gets).
    fn selected_items(
        &self,
        state: &State,
        items_path: &str,
        jsonata_items: Option<&Value>,
        effective: &Value,
        context: &Value,
    ) -> Result<Vec<(usize, Value, Value)>, Failure> {
        let items = match jsonata_items {
            Some(items) => jsonata::template(items, &self.sources(effective, context))?,
            None => read(items_path, &self.sources(effective, context))?,
        };
        let Value::Array(items) = items else {
            return Err(match jsonata_items {
                Some(_) => Failure::new(
                    "States.QueryEvaluationError",
                    format!("Items gives {items}, not an array"),
                ),
                None => Failure::new(
                    "States.Runtime",
                    format!("ItemsPath {items_path} gives {items}, not an array"),
                ),
            });
        };
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let item_context = self.context("Map", None, Some((index, &item)));
                let selected = match &state.io.parameters {
                    Some(selector) => {
                        self.template_for(state, selector, &self.sources(effective, &item_context))?
                    }
                    None => item.clone(),
                };
                Ok((index, item, selected))
            })
            .collect()
    }

    /// An inline Map: each item in a scope that reads the variables around it; any failure
    /// fails the Map.
    async fn map(
        &mut self,
        processor: &Machine,
        items: Vec<(usize, Value, Value)>,
    ) -> Result<Value, Failure> {
        let scope = self.variables.inner();
        let mut outputs = Vec::with_capacity(items.len());
        for (index, item, input) in items {
            outputs.push(
                self.inner_machine(processor, input, Some((index, &item)), scope.clone())
                    .await?,
            );
        }
        Ok(Value::Array(outputs))
    }

    /// A distributed Map: each item (or batch) is a child workflow with no variables from
    /// around it; failed items are tolerated within `ToleratedFailureCount` and
    /// `ToleratedFailurePercentage` (neither given: none), each giving its error output in the
    /// result. Past the threshold the Map fails with `States.ExceedToleratedFailureThreshold`.
    /// A `States.Runtime` error is not an item's failure: it ends the execution, as anywhere.
    async fn distributed_map(
        &mut self,
        state: &State,
        processor: &Machine,
        distributed: &Distributed,
        items: Vec<(usize, Value, Value)>,
        effective: &Value,
        context: &Value,
    ) -> Result<Value, Failure> {
        let total = items.len();
        let selected = items.into_iter().map(|(_, _, selected)| selected);
        let children: Vec<(Value, usize)> = match &distributed.batcher {
            Some(batcher) => {
                self.batches(state, batcher, selected.collect(), effective, context)?
            }
            None => selected.map(|input| (input, 1)).collect(),
        };
        let resolve = |limit: &Option<Limit>, valid: fn(f64) -> bool, field: &str| {
            limit
                .as_ref()
                .map(|limit| self.limit(limit, valid, field, effective, context))
                .transpose()
        };
        let count = resolve(
            &distributed.tolerated_count,
            non_negative_integer,
            "ToleratedFailureCount",
        )?;
        let share = resolve(
            &distributed.tolerated_percentage,
            percentage,
            "ToleratedFailurePercentage",
        )?;
        let mut failed = 0;
        let mut outputs = Vec::with_capacity(children.len());
        for (input, size) in children {
            match self
                .inner_machine(processor, input, None, Variables::default())
                .await
            {
                Ok(output) => outputs.push(output),
                Err(failure) if failure.error == "States.Runtime" => return Err(failure),
                Err(failure) => {
                    failed += size;
                    let failed_share = failed as f64 * 100.0 / total.max(1) as f64;
                    let exceeded = (count.is_none() && share.is_none())
                        || count.is_some_and(|count| failed as f64 > count)
                        || share.is_some_and(|share| failed_share > share);
                    if exceeded {
                        return Err(Failure::new(
                            "States.ExceedToleratedFailureThreshold",
                            format!(
                                "The specified tolerated failure threshold was exceeded: {failed} of {total} items failed, the last with {}: {}",
                                failure.error, failure.cause
                            ),
                        ));
                    }
                    outputs.push(json!({"Error": failure.error, "Cause": failure.cause}));
                }
            }
        }
        Ok(Value::Array(outputs))
    }

    /// A number of the definition, or read at run time where it names a path or expression.
    fn limit(
        &self,
        limit: &Limit,
        valid: fn(f64) -> bool,
        field: &str,
        effective: &Value,
        context: &Value,
    ) -> Result<f64, Failure> {
        match limit {
            Limit::Fixed(number) => Ok(*number),
            Limit::Path(path) => self.read_number(
                path,
                &self.sources(effective, context),
                (valid, &format!("a valid {field}")),
            ),
        }
    }

    /// The number a path or JSONata expression gives at run time, which `valid` must accept
    /// (`what` says what it must be).
    fn read_number(
        &self,
        expression: &str,
        sources: &Sources,
        (valid, what): (fn(f64) -> bool, &str),
    ) -> Result<f64, Failure> {
        let given = self.query(expression, sources)?;
        given.as_f64().filter(|n| valid(*n)).ok_or_else(|| {
            wrong_type(
                expression,
                format!("{expression} gives {given}, not {what}"),
            )
        })
    }

    /// Groups selected items into batches of at most `MaxItemsPerBatch` items and
    /// `MaxInputBytesPerBatch` bytes of items (256 KiB unless less is given): each child gets
    /// `{"Items": [...]}`, with `"BatchInput"` when configured. Gives each batch and how many
    /// items it holds; an item larger than a batch may be fails the Map.
    fn batches(
        &self,
        state: &State,
        batcher: &Batcher,
        selected: Vec<Value>,
        effective: &Value,
        context: &Value,
    ) -> Result<Vec<(Value, usize)>, Failure> {
        let max_items = match &batcher.max_items {
            Some(limit) => Some(self.limit(
                limit,
                positive_integer,
                "MaxItemsPerBatch",
                effective,
                context,
            )? as usize),
            None => None,
        };
        let max_bytes = match &batcher.max_bytes {
            Some(limit) => self.limit(
                limit,
                batch_bytes,
                "MaxInputBytesPerBatch",
                effective,
                context,
            )?,
            None => MOST_BATCH_BYTES,
        } as usize;
        let batch_input = match &batcher.batch_input {
            Some(batch_input) => {
                Some(self.template_for(state, batch_input, &self.sources(effective, context))?)
            }
            None => None,
        };
        let mut batches: Vec<Vec<Value>> = Vec::new();
        // The bytes of the current batch's items as a JSON array: `[`, `]` and the commas.
        let mut bytes = 0;
        for (index, item) in selected.into_iter().enumerate() {
            let size = item.to_string().len();
            if size + 2 > max_bytes {
                return Err(Failure::new(
                    "States.DataLimitExceeded",
                    format!("item {index} holds {size} bytes, more than a batch may ({max_bytes})"),
                ));
            }
            let full = batches.last().is_some_and(|batch| {
                max_items.is_some_and(|most| batch.len() >= most) || bytes + 1 + size > max_bytes
            });
            match batches.last_mut() {
                Some(batch) if !full => {
                    bytes += 1 + size;
                    batch.push(item);
                }
                _ => {
                    bytes = 2 + size;
                    batches.push(vec![item]);
                }
            }
        }
        Ok(batches
            .into_iter()
            .map(|items| {
                let size = items.len();
                let mut input = json!({"Items": items});
                if let Some(batch_input) = &batch_input {
                    input["BatchInput"] = batch_input.clone();
                }
                (input, size)
            })
            .collect())
    }
}

/// Waits for the token's task to be completed, failed or kept alive. `elapsed` is how long the
/// token has been out already (a resumed run keeps its deadline); `scale` is the time scale.
async fn wait_for_token(
    receiver: &mut mpsc::UnboundedReceiver<TokenMessage>,
    timeout: Option<u64>,
    heartbeat: Option<u64>,
    elapsed: Duration,
    scale: f64,
    name: &str,
) -> Result<Value, Failure> {
    let start = tokio::time::Instant::now();
    let deadline = timeout.map(|s| {
        let total = Duration::from_secs(s).mul_f64(scale);
        start + total.saturating_sub(elapsed)
    });
    loop {
        let beat = heartbeat.map(|s| Duration::from_secs(s).mul_f64(scale));
        let until_deadline =
            deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
        let wait = match (beat, until_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let message = match wait {
            Some(wait) => match tokio::time::timeout(wait, receiver.recv()).await {
                Ok(message) => message,
                Err(_) => {
                    let timed_out = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
                    return Err(if timed_out {
                        Failure::new(
                            "States.Timeout",
                            format!("{name} waited longer than its TimeoutSeconds"),
                        )
                    } else {
                        Failure::new(
                            "States.HeartbeatTimeout",
                            format!("{name} received no heartbeat within its HeartbeatSeconds"),
                        )
                    });
                }
            },
            None => receiver.recv().await,
        };
        match message {
            Some(TokenMessage::Heartbeat) => continue,
            Some(TokenMessage::Done(result)) => return result,
            None => return Err(Failure::new("States.Runtime", "the task token was dropped")),
        }
    }
}

/// A JSONata Choice rule's `Condition`: `true`, `false`, or an expression giving one.
fn condition(rule: &Value, sources: &Sources) -> Result<bool, Failure> {
    let value = jsonata::template(&rule["Condition"], sources)?;
    value.as_bool().ok_or_else(|| {
        Failure::new(
            "States.QueryEvaluationError",
            format!("the choice rule's Condition gave {value}, not true or false"),
        )
    })
}

/// Evaluates one Choice rule (with `And`, `Or`, `Not`).
fn evaluate_rule(rule: &Value, sources: &Sources) -> Result<bool, Failure> {
    let unsupported = |what: &str| {
        Failure::new(
            "States.Runtime",
            format!("choice rule {what} is not supported locally"),
        )
    };
    if let Some(all) = rule.get("And").and_then(Value::as_array) {
        for r in all {
            if !evaluate_rule(r, sources)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = rule.get("Or").and_then(Value::as_array) {
        for r in any {
            if evaluate_rule(r, sources)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(inner) = rule.get("Not") {
        return Ok(!evaluate_rule(inner, sources)?);
    }
    let variable = rule
        .get("Variable")
        .and_then(Value::as_str)
        .ok_or_else(|| unsupported("without Variable"))?;
    let object = rule
        .as_object()
        .ok_or_else(|| unsupported("that is not an object"))?;
    let (operator, operand) = object
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), "Variable" | "Next" | "Comment" | "Assign"))
        .ok_or_else(|| unsupported("without a comparison"))?;
    if operator == "IsPresent" {
        return Ok(exists(variable, sources) == operand.as_bool().unwrap_or(true));
    }
    let value = read(variable, sources)?;
    let (operator, operand) = match operator.strip_suffix("Path") {
        Some(base) if base != "Is" => (base, read(operand.as_str().unwrap_or_default(), sources)?),
        _ => (operator.as_str(), operand.clone()),
    };
    let number = |v: &Value| v.as_f64();
    let strings = || match (value.as_str(), operand.as_str()) {
        (Some(a), Some(b)) => Some(java_order(a, b)),
        _ => None,
    };
    let times = || match (
        value.as_str().and_then(timestamp),
        operand.as_str().and_then(timestamp),
    ) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => None,
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    Ok(match operator {
        "IsNull" => value.is_null() == operand.as_bool().unwrap_or(true),
        "IsString" => value.is_string() == operand.as_bool().unwrap_or(true),
        "IsNumeric" => value.is_number() == operand.as_bool().unwrap_or(true),
        "IsBoolean" => value.is_boolean() == operand.as_bool().unwrap_or(true),
        "IsTimestamp" => {
            value.as_str().and_then(timestamp).is_some() == operand.as_bool().unwrap_or(true)
        }
        "StringEquals" => value.is_string() && value == operand,
        "StringLessThan" => strings() == Some(Less),
        "StringGreaterThan" => strings() == Some(Greater),
        "StringLessThanEquals" => matches!(strings(), Some(Less | Equal)),
        "StringGreaterThanEquals" => matches!(strings(), Some(Greater | Equal)),
        "StringMatches" => {
            matches!((value.as_str(), operand.as_str()), (Some(a), Some(pattern)) if wildcard(&pattern_of(pattern), a))
        }
        "BooleanEquals" => value.is_boolean() && value == operand,
        "NumericEquals" => {
            matches!((number(&value), number(&operand)), (Some(a), Some(b)) if a == b)
        }
        "NumericLessThan" => {
            matches!((number(&value), number(&operand)), (Some(a), Some(b)) if a < b)
        }
        "NumericLessThanEquals" => {
            matches!((number(&value), number(&operand)), (Some(a), Some(b)) if a <= b)
        }
        "NumericGreaterThan" => {
            matches!((number(&value), number(&operand)), (Some(a), Some(b)) if a > b)
        }
        "NumericGreaterThanEquals" => {
            matches!((number(&value), number(&operand)), (Some(a), Some(b)) if a >= b)
        }
        "TimestampEquals" => times() == Some(Equal),
        "TimestampLessThan" => times() == Some(Less),
        "TimestampGreaterThan" => times() == Some(Greater),
        "TimestampLessThanEquals" => matches!(times(), Some(Less | Equal)),
        "TimestampGreaterThanEquals" => matches!(times(), Some(Greater | Equal)),
        other => return Err(unsupported(other)),
    })
}

/// Strings compare as the service compares them, as Java strings do: by UTF-16 code unit
/// (so a character beyond U+FFFF sorts before U+E000–U+FFFF, unlike UTF-8 byte order).
fn java_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// One piece of a `StringMatches` pattern.
#[derive(Debug, PartialEq)]
enum Piece {
    /// Any run of characters (an unescaped `*`).
    Any,
    /// This character (`\*` is a literal star, `\\` a literal backslash).
    Char(char),
}

/// A `StringMatches` pattern as pieces.
fn pattern_of(pattern: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        pieces.push(match c {
            '\\' => Piece::Char(chars.next().unwrap_or('\\')),
            '*' => Piece::Any,
            c => Piece::Char(c),
        });
    }
    pieces
}

/// `StringMatches`: the text matches the pattern's pieces.
fn wildcard(pattern: &[Piece], text: &str) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((Piece::Char(c), rest)) => {
            text.starts_with(*c) && wildcard(rest, &text[c.len_utf8()..])
        }
        Some((Piece::Any, rest)) => text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .any(|i| wildcard(rest, &text[i..])),
    }
}
