//! State machine definitions: parsed into typed states and checked before anything runs, so
//! a definition this interpreter cannot run fully is refused with the feature named.

use std::collections::BTreeMap;

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::{jsonata, paths, variables, AslError};

/// The query language of a state: JSONPath (paths, payload templates, intrinsics) or JSONata
/// (`{% … %}` expressions, `Arguments` and `Output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// The default.
    JsonPath,
    /// `"QueryLanguage": "JSONata"`.
    Jsonata,
}

fn root() -> Option<String> {
    Some("$".into())
}

/// Paths and templates every state kind may have (those a kind does not allow are refused
/// when the definition is checked).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Io {
    /// Selects the state's effective input; `null` means `{}`.
    #[serde(default = "root")]
    pub input_path: Option<String>,
    /// Selects the state's output; `null` means `{}`.
    #[serde(default = "root")]
    pub output_path: Option<String>,
    /// Where the result goes in the input; `null` discards it.
    #[serde(default = "root")]
    pub result_path: Option<String>,
    /// Payload template for the task / pass / map items (`ItemSelector` on Map).
    #[serde(default)]
    pub parameters: Option<Value>,
    /// Template applied to the raw result.
    #[serde(default)]
    pub result_selector: Option<Value>,
}

/// A retry policy of a Task or Map state.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Retrier {
    /// Errors it applies to.
    pub error_equals: Vec<String>,
    /// Seconds before the first retry (default 1).
    #[serde(default = "one")]
    pub interval_seconds: u64,
    /// Retries at most (default 3).
    #[serde(default = "three")]
    pub max_attempts: u32,
    /// Multiplier of the interval per retry (default 2.0).
    #[serde(default = "two")]
    pub backoff_rate: f64,
    /// Upper bound of one interval.
    #[serde(default)]
    pub max_delay_seconds: Option<u64>,
    /// Accepted and ignored locally (delays are deterministic).
    #[serde(default)]
    pub jitter_strategy: Option<String>,
}

fn one() -> u64 {
    1
}
fn three() -> u32 {
    3
}
fn two() -> f64 {
    2.0
}

/// A catcher of a Task or Map state.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Catcher {
    /// Errors it catches.
    pub error_equals: Vec<String>,
    /// Where to go.
    pub next: String,
    /// Where `{Error, Cause}` goes in the input (default `$`).
    #[serde(default = "root")]
    pub result_path: Option<String>,
    /// Variables to assign when it catches (`$` is the error output), instead of the state's.
    #[serde(default)]
    pub assign: Option<Value>,
    /// JSONata: the state's output when it catches (`$states.errorOutput` is the error output).
    #[serde(default)]
    pub output: Option<Value>,
}

/// A Choice rule, as written.
pub type ChoiceRule = Value;

/// One state.
#[derive(Clone, Debug)]
pub enum StateKind {
    /// Passes its input (or `Result`) on.
    Pass {
        /// A fixed result.
        result: Option<Value>,
    },
    /// Runs a task.
    Task {
        /// The resource (function ARN or `arn:aws:states:::lambda:invoke[.waitForTaskToken]`).
        resource: String,
        /// Retry policies.
        retry: Vec<Retrier>,
        /// Catchers.
        catch: Vec<Catcher>,
        /// Fails with `States.Timeout` after this long.
        timeout_seconds: Option<u64>,
        /// Fails with `States.HeartbeatTimeout` without a heartbeat this often.
        heartbeat_seconds: Option<u64>,
        /// `TimeoutSeconds` read from the input.
        timeout_seconds_path: Option<String>,
        /// `HeartbeatSeconds` read from the input.
        heartbeat_seconds_path: Option<String>,
    },
    /// Picks the next state.
    Choice {
        /// Rules, in order.
        choices: Vec<ChoiceRule>,
        /// Where to go when none matches.
        default: Option<String>,
    },
    /// Waits.
    Wait {
        /// Fixed seconds.
        seconds: Option<u64>,
        /// Seconds from the input.
        seconds_path: Option<String>,
        /// Until this time (RFC 3339).
        timestamp: Option<String>,
        /// Until the time at this path.
        timestamp_path: Option<String>,
    },
    /// Ends the execution successfully.
    Succeed,
    /// Ends the execution with an error.
    Fail {
        /// Error name.
        error: Option<String>,
        /// Cause.
        cause: Option<String>,
        /// The error name from a path or an intrinsic function.
        error_path: Option<String>,
        /// The cause from a path or an intrinsic function.
        cause_path: Option<String>,
    },
    /// Runs each branch on the input; its result is the list of their outputs, in order.
    /// Branches run one after another here (Step Functions runs them at once): the results,
    /// the errors and what each task sees are the same.
    Parallel {
        /// The branches.
        branches: Vec<Machine>,
        /// Retry policies.
        retry: Vec<Retrier>,
        /// Catchers.
        catch: Vec<Catcher>,
    },
    /// Runs a sub-machine per item, one at a time.
    Map {
        /// The items (default `$`).
        items_path: String,
        /// JSONata: the items, an array or an expression (instead of `items_path`).
        items: Option<Value>,
        /// The sub-machine.
        processor: Box<Machine>,
        /// Where the input says how many items may run at once.
        max_concurrency_path: Option<String>,
        /// Set for a distributed Map (`ProcessorConfig.Mode` `DISTRIBUTED`).
        distributed: Option<Distributed>,
        /// Retry policies.
        retry: Vec<Retrier>,
        /// Catchers.
        catch: Vec<Catcher>,
    },
}

/// What a distributed Map adds to an inline one. Its items run as child workflows (here one
/// after another, in the same process) that see none of the variables around the Map; items
/// may be batched, and some may fail without failing the Map. Items come from the effective
/// input: reading them from S3 (`ItemReader`) and writing results there (`ResultWriter`) are
/// refused at load.
#[derive(Clone, Debug, Default)]
pub struct Distributed {
    /// How selected items are grouped into the child workflows' inputs, if they are.
    pub batcher: Option<Batcher>,
    /// How many items may fail (`ToleratedFailureCount[Path]`).
    pub tolerated_count: Option<Limit>,
    /// What percentage of the items may fail (`ToleratedFailurePercentage[Path]`).
    pub tolerated_percentage: Option<Limit>,
}

/// A distributed Map's `ItemBatcher`: each child workflow gets `{"Items": [...]}` (with
/// `"BatchInput"` when configured) instead of one item.
#[derive(Clone, Debug)]
pub struct Batcher {
    /// The most items per batch.
    pub max_items: Option<Limit>,
    /// The most bytes of items per batch (at most, and by default, 256 KiB).
    pub max_bytes: Option<Limit>,
    /// A payload template (on the effective input) sent with every batch.
    pub batch_input: Option<Value>,
}

/// A number given in the definition, or read at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum Limit {
    /// As written.
    Fixed(f64),
    /// Read at run time: a path on the effective input, or a JSONata expression (`{% … %}`).
    Path(String),
}

/// The most seconds any timeout, heartbeat, wait or retry interval may be (the service's
/// limit: a little over three years).
pub const MOST_SECONDS: u64 = 99_999_999;

/// The most bytes a batch of items may hold.
pub const MOST_BATCH_BYTES: f64 = 262_144.0;

/// Reads `field` or `field` + `Path` of `object` (not both): a number that `valid` accepts,
/// a path, or (in JSONata) an expression.
fn limit(
    state: &str,
    object: &serde_json::Map<String, Value>,
    field: &str,
    language: Language,
    (valid, what): (fn(f64) -> bool, &str),
) -> Result<Option<Limit>, AslError> {
    let path_field = format!("{field}Path");
    let bad = |why: String| AslError::Definition(format!("state {state}: {why}"));
    match (object.get(field), object.get(&path_field)) {
        (Some(_), Some(_)) => Err(bad(format!(
            "{field} and {path_field} cannot both be given"
        ))),
        (Some(Value::String(text)), None)
            if language == Language::Jsonata && jsonata::expression(text).is_some() =>
        {
            Ok(Some(Limit::Path(text.clone())))
        }
        (Some(value), None) => match value.as_f64().filter(|n| valid(*n)) {
            Some(number) => Ok(Some(Limit::Fixed(number))),
            None => Err(bad(format!("field {field} must be {what}"))),
        },
        (None, Some(Value::String(path))) => Ok(Some(Limit::Path(path.clone()))),
        (None, Some(_)) => Err(bad(format!("field {path_field} must be a path"))),
        (None, None) => Ok(None),
    }
}

/// Whole numbers of at least 1, and of at least 0.
pub fn positive_integer(n: f64) -> bool {
    n >= 1.0 && n.fract() == 0.0
}
/// See [`positive_integer`].
pub fn non_negative_integer(n: f64) -> bool {
    n >= 0.0 && n.fract() == 0.0
}
/// A percentage, 0 to 100.
pub fn percentage(n: f64) -> bool {
    (0.0..=100.0).contains(&n)
}
/// A batch size in bytes: 1 to 256 KiB.
pub fn batch_bytes(n: f64) -> bool {
    positive_integer(n) && n <= MOST_BATCH_BYTES
}

/// The fields only a distributed Map has (besides the S3 ones, refused by name).
const DISTRIBUTED_MAP_FIELDS: &[&str] = &[
    "ItemBatcher",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "Label",
];

/// Characters a distributed Map's `Label` cannot hold (besides white space and controls).
const LABEL_FORBIDDEN: &str = "?*<>{}[]:;,\\|^~$#%&`\"";

/// Parses what a distributed Map adds, refusing it on an inline Map.
fn parse_distributed(
    state: &str,
    object: &serde_json::Map<String, Value>,
    processor: &Value,
    language: Language,
) -> Result<Option<Distributed>, AslError> {
    let bad = |why: String| AslError::Definition(format!("state {state}: {why}"));
    let config = processor.get("ProcessorConfig");
    if config.is_some_and(|c| !c.is_object())
        || config
            .and_then(|c| c.get("Mode"))
            .is_some_and(|m| !m.is_string())
    {
        return Err(bad(
            "field ItemProcessor.ProcessorConfig must be an object whose Mode is INLINE or DISTRIBUTED"
                .into(),
        ));
    }
    if let Some(unknown) = config.and_then(Value::as_object).and_then(|c| {
        c.keys()
            .find(|k| !matches!(k.as_str(), "Mode" | "ExecutionType"))
    }) {
        return Err(bad(format!(
            "field ItemProcessor.ProcessorConfig.{unknown} is not a field of ProcessorConfig"
        )));
    }
    let mode = config.and_then(|c| c.get("Mode")).and_then(Value::as_str);
    match mode {
        None | Some("INLINE") => {
            return match DISTRIBUTED_MAP_FIELDS
                .iter()
                .find(|f| object.contains_key(**f))
            {
                Some(field) => Err(bad(format!(
                    "field {field} belongs to a distributed Map (ProcessorConfig.Mode DISTRIBUTED)"
                ))),
                None => Ok(None),
            };
        }
        Some("DISTRIBUTED") => {}
        Some(other) => {
            return Err(bad(format!(
                "Map mode {other} is not a mode (INLINE or DISTRIBUTED)"
            )))
        }
    }
    match config
        .and_then(|c| c.get("ExecutionType"))
        .and_then(Value::as_str)
    {
        Some("STANDARD" | "EXPRESS") => {}
        _ => {
            return Err(bad(
                "a distributed Map needs ProcessorConfig.ExecutionType STANDARD or EXPRESS".into(),
            ))
        }
    }
    if let Some(label) = object.get("Label") {
        let label = label.as_str().unwrap_or_default();
        let forbidden =
            |c: char| c.is_whitespace() || c.is_control() || LABEL_FORBIDDEN.contains(c);
        if label.is_empty() || label.chars().count() > 40 || label.contains(forbidden) {
            return Err(bad(format!(
                "field Label {label:?} must be 1 to 40 characters, without white space, controls or any of {LABEL_FORBIDDEN}"
            )));
        }
    }
    let batcher = match object.get("ItemBatcher") {
        None => None,
        Some(Value::Object(batcher)) => {
            if let Some(unknown) = batcher.keys().find(|k| {
                !matches!(
                    k.as_str(),
                    "MaxItemsPerBatch"
                        | "MaxItemsPerBatchPath"
                        | "MaxInputBytesPerBatch"
                        | "MaxInputBytesPerBatchPath"
                        | "BatchInput"
                )
            }) {
                return Err(bad(format!(
                    "field ItemBatcher.{unknown} is not a field of ItemBatcher"
                )));
            }
            if language == Language::Jsonata {
                if let Some(path) = batcher.keys().find(|k| k.ends_with("Path")) {
                    return Err(bad(format!(
                        "field ItemBatcher.{path} belongs to JSONPath; this state's query language is JSONata"
                    )));
                }
            }
            let max_items = limit(
                state,
                batcher,
                "MaxItemsPerBatch",
                language,
                (positive_integer, "a positive integer"),
            )?;
            let max_bytes = limit(
                state,
                batcher,
                "MaxInputBytesPerBatch",
                language,
                (batch_bytes, "a positive integer of at most 262144"),
            )?;
            if max_items.is_none() && max_bytes.is_none() {
                return Err(bad(
                    "field ItemBatcher needs MaxItemsPerBatch[Path] or MaxInputBytesPerBatch[Path]"
                        .into(),
                ));
            }
            Some(Batcher {
                max_items,
                max_bytes,
                batch_input: batcher.get("BatchInput").cloned(),
            })
        }
        Some(_) => return Err(bad("field ItemBatcher must be an object".into())),
    };
    Ok(Some(Distributed {
        batcher,
        tolerated_count: limit(
            state,
            object,
            "ToleratedFailureCount",
            language,
            (non_negative_integer, "a non-negative integer"),
        )?,
        tolerated_percentage: limit(
            state,
            object,
            "ToleratedFailurePercentage",
            language,
            (percentage, "a number from 0 to 100"),
        )?,
    }))
}

/// A state with its transitions and I/O processing.
#[derive(Clone, Debug)]
pub struct State {
    /// What it does.
    pub kind: StateKind,
    /// Input/output processing.
    pub io: Io,
    /// The next state, unless it ends the machine.
    pub next: Option<String>,
    /// Variables it assigns when it succeeds: a payload template whose `$` is the result
    /// (Task, Map, Parallel, Pass) or the effective input (Choice, Wait).
    pub assign: Option<Value>,
    /// Its query language.
    pub language: Language,
    /// JSONata: what replaces its output (`$states.input`, `$states.result`).
    pub output: Option<Value>,
    /// The variables its fields read, with the field, for the load-time scope check.
    reads: Vec<(String, String)>,
}

impl State {
    /// The states it may go to: `Next`, its Choice rules' and `Default`, its Catchers'.
    fn targets(&self) -> Vec<&str> {
        let mut targets: Vec<&str> = self.next.iter().map(String::as_str).collect();
        targets.extend(catchers(&self.kind).iter().map(|c| c.next.as_str()));
        if let StateKind::Choice { choices, default } = &self.kind {
            targets.extend(choices.iter().filter_map(|r| r["Next"].as_str()));
            targets.extend(default.iter().map(String::as_str));
        }
        targets
    }

    /// The names every `Assign` of the state (its own, its Choice rules', its Catchers') sets.
    fn assigned(&self) -> impl Iterator<Item = &str> {
        let rules: Vec<&Value> = match &self.kind {
            StateKind::Choice { choices, .. } => {
                choices.iter().filter_map(|r| r.get("Assign")).collect()
            }
            _ => Vec::new(),
        };
        let catchers: Vec<&Value> = catchers(&self.kind)
            .iter()
            .filter_map(|c| c.assign.as_ref())
            .collect();
        self.assign
            .iter()
            .chain(rules)
            .chain(catchers)
            .filter_map(Value::as_object)
            .flat_map(|template| template.keys())
            .map(|key| key.strip_suffix(".$").unwrap_or(key))
    }
}

/// The catchers of a Task, Map or Parallel state (none for the others).
pub fn catchers(kind: &StateKind) -> &[Catcher] {
    match kind {
        StateKind::Task { catch, .. }
        | StateKind::Map { catch, .. }
        | StateKind::Parallel { catch, .. } => catch,
        _ => &[],
    }
}

/// A machine (or a Map's sub-machine).
#[derive(Clone, Debug)]
pub struct Machine {
    /// The first state.
    pub start_at: String,
    /// The most seconds an execution may run (`States.Timeout` after), top-level only.
    pub timeout_seconds: Option<u64>,
    /// The states by name.
    pub states: BTreeMap<String, State>,
}

const IO_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "ResultPath",
    "Parameters",
    "ResultSelector",
];

fn allowed(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pass" => &[
            "Type",
            "Comment",
            "Next",
            "End",
            "Assign",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "Result",
        ],
        "Task" => &[
            "Type",
            "Comment",
            "Next",
            "End",
            "Assign",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Resource",
            "Retry",
            "Catch",
            "TimeoutSeconds",
            "HeartbeatSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSecondsPath",
            // A cross-account role: nothing to assume locally, so accepted as it is.
            "Credentials",
        ],
        "Choice" => &[
            "Type",
            "Comment",
            "Choices",
            "Default",
            "Assign",
            "InputPath",
            "OutputPath",
        ],
        "Wait" => &[
            "Type",
            "Comment",
            "Next",
            "End",
            "Assign",
            "InputPath",
            "OutputPath",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
        ],
        "Succeed" => &["Type", "Comment", "InputPath", "OutputPath"],
        "Fail" => &[
            "Type",
            "Comment",
            "Error",
            "Cause",
            "ErrorPath",
            "CausePath",
        ],
        "Parallel" => &[
            "Type",
            "Comment",
            "Next",
            "End",
            "Assign",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Branches",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "Type",
            "Comment",
            "Next",
            "End",
            "Assign",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "ResultSelector",
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "Retry",
            "Catch",
        ],
        _ => return None,
    })
}

fn field<T: for<'de> Deserialize<'de>>(
    state: &str,
    raw: &Value,
    name: &str,
) -> Result<Option<T>, AslError> {
    match raw.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| AslError::Definition(format!("state {state}: field {name}: {e}"))),
    }
}

/// Checks every path, payload template and intrinsic function of a state before anything runs,
/// naming the state and the field of what is malformed or not supported. Gives the variables
/// the state reads, each with the field that reads it.
fn check_expressions(
    name: &str,
    object: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, String)>, AslError> {
    let bad = |field: &str, why: String| {
        AslError::Definition(format!("state {name}: field {field}: {why}"))
    };
    let mut reads = Vec::new();
    // Reference paths only: ResultPath (and a Catch's) writes, so it cannot be an expression
    // nor name a variable.
    let check_result_path = |field: &str, path: &str| {
        if !path.starts_with('$') || path.starts_with("$$") {
            return Err(bad(field, format!("{path} is not a reference path")));
        }
        if variables::split_reference(path).is_some() {
            return Err(bad(
                field,
                format!("{path}: ResultPath cannot name a variable"),
            ));
        }
        paths::check_reference_path(path).map_err(|why| bad(field, why))
    };
    if let Some(Value::String(path)) = object.get("ResultPath") {
        check_result_path("ResultPath", path)?;
    }
    for field in [
        "InputPath",
        "OutputPath",
        "ItemsPath",
        "SecondsPath",
        "TimestampPath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
        "MaxConcurrencyPath",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentagePath",
    ] {
        if let Some(Value::String(path)) = object.get(field) {
            if !path.starts_with('$') {
                return Err(bad(field, format!("{path} is not a path")));
            }
            let read = paths::check_expression(path).map_err(|why| bad(field, why))?;
            reads.extend(read.into_iter().map(|v| (field.to_owned(), v)));
        }
    }
    for field in ["ErrorPath", "CausePath"] {
        if let Some(value) = object.get(field) {
            let expression = value
                .as_str()
                .ok_or_else(|| bad(field, "must be a path or an intrinsic function".into()))?;
            let read = paths::check_expression(expression).map_err(|why| bad(field, why))?;
            reads.extend(read.into_iter().map(|v| (field.to_owned(), v)));
        }
    }
    for field in ["Parameters", "ResultSelector", "ItemSelector"] {
        if let Some(template) = object.get(field) {
            check_template(template, field, &mut reads).map_err(|(at, why)| bad(&at, why))?;
        }
    }
    if let Some(assign) = object.get("Assign") {
        check_assign(assign, "Assign", Language::JsonPath, &mut reads)
            .map_err(|(at, why)| bad(&at, why))?;
    }
    if let Some(Value::Object(batcher)) = object.get("ItemBatcher") {
        for field in ["MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"] {
            if let Some(Value::String(path)) = batcher.get(field) {
                let field = format!("ItemBatcher.{field}");
                let read = paths::check_expression(path).map_err(|why| bad(&field, why))?;
                reads.extend(read.into_iter().map(|v| (field.clone(), v)));
            }
        }
        if let Some(template) = batcher.get("BatchInput") {
            check_template(template, "ItemBatcher.BatchInput", &mut reads)
                .map_err(|(at, why)| bad(&at, why))?;
        }
    }
    if let Some(Value::Array(catchers)) = object.get("Catch") {
        for (i, catcher) in catchers.iter().enumerate() {
            if let Some(Value::String(path)) = catcher.get("ResultPath") {
                check_result_path(&format!("Catch[{i}].ResultPath"), path)?;
            }
            if catcher.get("Output").is_some() {
                return Err(bad(
                    &format!("Catch[{i}].Output"),
                    "belongs to JSONata; a JSONPath Catcher places the error output with ResultPath"
                        .into(),
                ));
            }
            if let Some(assign) = catcher.get("Assign") {
                check_assign(
                    assign,
                    &format!("Catch[{i}].Assign"),
                    Language::JsonPath,
                    &mut reads,
                )
                .map_err(|(at, why)| bad(&at, why))?;
            }
        }
    }
    Ok(reads)
}

/// Checks an `Assign` field: an object whose keys (without a `.$` suffix in JSONPath) are
/// variable names, each once, and whose values are payload template values (JSONPath) or may
/// hold JSONata expressions.
fn check_assign(
    assign: &Value,
    at: &str,
    language: Language,
    reads: &mut Vec<(String, String)>,
) -> Result<(), (String, String)> {
    let fields = assign
        .as_object()
        .ok_or_else(|| (at.to_owned(), "must be an object".to_owned()))?;
    let mut names = BTreeSet::new();
    for key in fields.keys() {
        let name = match language {
            Language::JsonPath => key.strip_suffix(".$").unwrap_or(key),
            Language::Jsonata => key,
        };
        variables::check_name(name).map_err(|why| (format!("{at}.{key}"), why))?;
        if !names.insert(name) {
            return Err((at.to_owned(), format!("assigns {name} twice")));
        }
    }
    match language {
        Language::JsonPath => check_template(assign, at, reads),
        Language::Jsonata => jsonata::check(assign, at),
    }
}

/// Checks a payload template's `.$` fields at any depth, noting the variables they read; on
/// error, the field's dotted name.
fn check_template(
    template: &Value,
    at: &str,
    reads: &mut Vec<(String, String)>,
) -> Result<(), (String, String)> {
    match template {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{at}.{key}");
                match key.ends_with(".$") {
                    true => {
                        let expression = value.as_str().ok_or_else(|| {
                            (
                                here.clone(),
                                "must be a path or an intrinsic function".to_owned(),
                            )
                        })?;
                        let read = paths::check_expression(expression)
                            .map_err(|why| (here.clone(), why))?;
                        reads.extend(read.into_iter().map(|v| (here.clone(), v)));
                    }
                    false => check_template(value, &here, reads)?,
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_template(item, &format!("{at}[{i}]"), reads)),
        _ => Ok(()),
    }
}

/// Reads a `QueryLanguage` field; `None` when absent.
fn language_of(raw: &Value, at: &str) -> Result<Option<Language>, AslError> {
    match raw.get("QueryLanguage") {
        None => Ok(None),
        Some(language) if language == "JSONPath" => Ok(Some(Language::JsonPath)),
        Some(language) if language == "JSONata" => Ok(Some(Language::Jsonata)),
        Some(other) => Err(AslError::Definition(format!(
            "{at}QueryLanguage {other} is not a query language (JSONPath or JSONata)"
        ))),
    }
}

/// Fields of the JSONPath language only.
const JSONPATH_FIELDS: &[&str] = &[
    "InputPath",
    "OutputPath",
    "ResultPath",
    "Parameters",
    "ResultSelector",
    "Result",
    "ItemsPath",
    "Iterator",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
    "ErrorPath",
    "CausePath",
];

/// Whether a JSONata state of `kind` has the JSONata-only field `field`.
fn jsonata_field(kind: &str, field: &str) -> bool {
    match field {
        "Output" => kind != "Fail",
        "Arguments" => matches!(kind, "Task" | "Parallel"),
        "Items" => kind == "Map",
        _ => false,
    }
}

/// A JSONata state written as its JSONPath twin, so the two share one parser: an expression
/// where a number or a timestamp goes moves to the field's `…Path` twin (the run evaluates a
/// `{% … %}` there as JSONata), `Arguments` becomes `Parameters`. `Output` and `Items` stay.
fn as_jsonpath_shape(object: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    let mut shaped = serde_json::Map::new();
    for (key, value) in object {
        let is_expression = value.as_str().and_then(jsonata::expression).is_some();
        let key = match key.as_str() {
            "Arguments" => "Parameters".to_owned(),
            "TimeoutSeconds"
            | "HeartbeatSeconds"
            | "Seconds"
            | "Timestamp"
            | "MaxConcurrency"
            | "ToleratedFailureCount"
            | "ToleratedFailurePercentage"
                if is_expression =>
            {
                format!("{key}Path")
            }
            "Error" if is_expression => "ErrorPath".to_owned(),
            "Cause" if is_expression => "CausePath".to_owned(),
            _ => key.clone(),
        };
        shaped.insert(key, value.clone());
    }
    shaped
}

/// Checks a JSONata state: every expression parses (Branches and ItemProcessor are machines
/// of their own); Choice rules have a `Condition`; Catchers have no `ResultPath`.
fn check_jsonata_state(
    name: &str,
    object: &serde_json::Map<String, Value>,
) -> Result<(), AslError> {
    let bad = |field: &str, why: String| {
        AslError::Definition(format!("state {name}: field {field}: {why}"))
    };
    // Comments are text, not expressions, wherever they are.
    let without_comment = |value: &Value| match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(key, _)| key.as_str() != "Comment")
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    for (key, value) in object {
        match key.as_str() {
            "Branches" | "ItemProcessor" | "Comment" => {}
            "Catch" | "Retry" | "Choices" => {
                for (i, element) in value.as_array().into_iter().flatten().enumerate() {
                    jsonata::check(&without_comment(element), &format!("{key}[{i}]"))
                        .map_err(|(at, why)| bad(&at, why))?;
                }
            }
            _ => jsonata::check(value, key).map_err(|(at, why)| bad(&at, why))?,
        }
    }
    let mut reads = Vec::new();
    if let Some(assign) = object.get("Assign") {
        check_assign(assign, "Assign", Language::Jsonata, &mut reads)
            .map_err(|(at, why)| bad(&at, why))?;
    }
    for (i, catcher) in object
        .get("Catch")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if catcher.get("ResultPath").is_some() {
            return Err(bad(
                &format!("Catch[{i}].ResultPath"),
                "a JSONata Catcher gives its output with Output".into(),
            ));
        }
        if let Some(assign) = catcher.get("Assign") {
            check_assign(
                assign,
                &format!("Catch[{i}].Assign"),
                Language::Jsonata,
                &mut reads,
            )
            .map_err(|(at, why)| bad(&at, why))?;
        }
    }
    for (i, rule) in object
        .get("Choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("Choices[{i}]");
        let rule = rule
            .as_object()
            .ok_or_else(|| bad(&at, "a choice rule must be an object".into()))?;
        if let Some(unknown) = rule.keys().find(|k| {
            !matches!(
                k.as_str(),
                "Condition" | "Next" | "Assign" | "Output" | "Comment"
            )
        }) {
            return Err(bad(&at, format!("{unknown} is not a field of a JSONata choice rule (Condition, Next, Assign, Output)")));
        }
        match rule.get("Condition") {
            Some(Value::Bool(_)) => {}
            Some(Value::String(text)) if jsonata::expression(text).is_some() => {}
            _ => {
                return Err(bad(
                    &at,
                    "a JSONata choice rule needs a Condition: true, false or a {% … %} expression"
                        .into(),
                ))
            }
        }
        if let Some(assign) = rule.get("Assign") {
            check_assign(
                assign,
                &format!("{at}.Assign"),
                Language::Jsonata,
                &mut reads,
            )
            .map_err(|(at, why)| bad(&at, why))?;
        }
    }
    Ok(())
}

fn parse_state(name: &str, raw: &Value, machine_language: Language) -> Result<State, AslError> {
    let object = raw
        .as_object()
        .ok_or_else(|| AslError::Definition(format!("state {name} is not an object")))?;
    let kind = object
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let fields = allowed(kind).ok_or_else(|| {
        AslError::Definition(format!("state {name}: Type {kind:?} is not supported by the local interpreter (Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map)"))
    })?;
    let language = match (
        language_of(raw, &format!("state {name}: "))?,
        machine_language,
    ) {
        (Some(Language::JsonPath), Language::Jsonata) => {
            return Err(AslError::Definition(format!(
                "state {name}: a JSONata state machine cannot hold JSONPath states"
            )))
        }
        (Some(language), _) => language,
        (None, language) => language,
    };
    let allowed_here = |key: &str| {
        let in_language = match language {
            Language::JsonPath => fields.contains(&key),
            Language::Jsonata => {
                (fields.contains(&key) && !JSONPATH_FIELDS.contains(&key))
                    || jsonata_field(kind, key)
            }
        };
        let distributed = kind == "Map"
            && DISTRIBUTED_MAP_FIELDS.contains(&key)
            && (language == Language::JsonPath || !JSONPATH_FIELDS.contains(&key));
        key == "QueryLanguage" || in_language || distributed
    };
    if let Some(unknown) = object.keys().find(|k| !allowed_here(k)) {
        if kind == "Map" && matches!(unknown.as_str(), "ItemReader" | "ResultWriter") {
            return Err(AslError::Definition(format!("state {name}: field {unknown} is not supported locally: a distributed Map here reads its items from its input and gives its results as its output (S3 item readers and result writers need AWS)")));
        }
        if language == Language::Jsonata && JSONPATH_FIELDS.contains(&unknown.as_str()) {
            return Err(AslError::Definition(format!("state {name}: field {unknown} belongs to JSONPath; this state's query language is JSONata (Arguments, Output, Assign and {{% … %}} expressions instead)")));
        }
        if language == Language::JsonPath && jsonata_field(kind, unknown) {
            return Err(AslError::Definition(format!("state {name}: field {unknown} belongs to JSONata; this state's query language is JSONPath")));
        }
        return Err(AslError::Definition(format!("state {name}: field {unknown} is not supported on a {kind} state by the local interpreter")));
    }
    let shaped;
    let (object, raw, mut reads) = match language {
        Language::JsonPath => (object, raw, check_expressions(name, object)?),
        Language::Jsonata => {
            check_jsonata_state(name, object)?;
            shaped = Value::Object(as_jsonpath_shape(object));
            (shaped.as_object().expect("an object"), &shaped, Vec::new())
        }
    };
    let mut io_raw = serde_json::Map::new();
    for key in IO_FIELDS {
        if let Some(v) = object.get(*key) {
            io_raw.insert((*key).into(), v.clone());
        }
    }
    if kind == "Map" {
        if let Some(selector) = object.get("ItemSelector") {
            io_raw.insert("Parameters".into(), selector.clone());
        }
    }
    let io: Io = serde_json::from_value(Value::Object(io_raw))
        .map_err(|e| AslError::Definition(format!("state {name}: {e}")))?;
    let end = field::<bool>(name, raw, "End")?.unwrap_or(false);
    let next = field::<String>(name, raw, "Next")?;
    let terminal = matches!(kind, "Choice" | "Succeed" | "Fail");
    if !terminal && next.is_some() == end {
        return Err(AslError::Definition(format!(
            "state {name} needs exactly one of Next and End"
        )));
    }
    let kind = match kind {
        "Pass" => StateKind::Pass {
            result: object.get("Result").cloned(),
        },
        "Task" => {
            let bad = |why: String| AslError::Definition(format!("state {name}: {why}"));
            for fixed in ["TimeoutSeconds", "HeartbeatSeconds"] {
                if object.contains_key(fixed) && object.contains_key(&format!("{fixed}Path")) {
                    return Err(bad(format!("{fixed} and {fixed}Path cannot both be given")));
                }
            }
            let timeout_seconds: Option<u64> = field(name, raw, "TimeoutSeconds")?;
            let heartbeat_seconds: Option<u64> = field(name, raw, "HeartbeatSeconds")?;
            let in_range = |s: Option<u64>| s.is_none_or(|s| (1..=MOST_SECONDS).contains(&s));
            if !in_range(timeout_seconds) || !in_range(heartbeat_seconds) {
                return Err(bad(format!(
                    "TimeoutSeconds and HeartbeatSeconds must be from 1 to {MOST_SECONDS}"
                )));
            }
            if let (Some(timeout), Some(heartbeat)) = (timeout_seconds, heartbeat_seconds) {
                if heartbeat >= timeout {
                    return Err(bad(format!(
                        "HeartbeatSeconds ({heartbeat}) must be smaller than TimeoutSeconds ({timeout})"
                    )));
                }
            }
            StateKind::Task {
                resource: field(name, raw, "Resource")?
                    .ok_or_else(|| bad("a Task needs a Resource".into()))?,
                retry: field(name, raw, "Retry")?.unwrap_or_default(),
                catch: field(name, raw, "Catch")?.unwrap_or_default(),
                timeout_seconds,
                heartbeat_seconds,
                timeout_seconds_path: field(name, raw, "TimeoutSecondsPath")?,
                heartbeat_seconds_path: field(name, raw, "HeartbeatSecondsPath")?,
            }
        }
        "Choice" => {
            let choices: Vec<ChoiceRule> = field(name, raw, "Choices")?
                .filter(|c: &Vec<ChoiceRule>| !c.is_empty())
                .ok_or_else(|| {
                    AslError::Definition(format!("state {name} needs a non-empty Choices list"))
                })?;
            for (i, rule) in choices.iter().enumerate() {
                if rule.get("Next").and_then(Value::as_str).is_none() {
                    return Err(AslError::Definition(format!(
                        "state {name}: every choice rule needs Next"
                    )));
                }
                if language == Language::Jsonata {
                    continue;
                }
                check_rule(name, rule, true, &mut reads)?;
                if let Some(assign) = rule.get("Assign") {
                    check_assign(
                        assign,
                        &format!("Choices[{i}].Assign"),
                        Language::JsonPath,
                        &mut reads,
                    )
                    .map_err(|(at, why)| {
                        AslError::Definition(format!("state {name}: field {at}: {why}"))
                    })?;
                }
            }
            StateKind::Choice {
                choices,
                default: field(name, raw, "Default")?,
            }
        }
        "Wait" => {
            let timestamp: Option<String> = field(name, raw, "Timestamp")?;
            let given = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
                .iter()
                .filter(|f| object.contains_key(**f))
                .count();
            if given != 1 {
                return Err(AslError::Definition(format!(
                    "state {name}: a Wait state needs exactly one of Seconds, SecondsPath, Timestamp and TimestampPath"
                )));
            }
            if let Some(at) = &timestamp {
                if paths::timestamp(at).is_none() {
                    return Err(AslError::Definition(format!(
                        "state {name}: field Timestamp: {at:?} is not an RFC 3339 timestamp (uppercase T and Z)"
                    )));
                }
            }
            let seconds: Option<u64> = field(name, raw, "Seconds")?;
            if seconds.is_some_and(|s| s > MOST_SECONDS) {
                return Err(AslError::Definition(format!(
                    "state {name}: field Seconds must be at most {MOST_SECONDS}"
                )));
            }
            StateKind::Wait {
                seconds,
                seconds_path: field(name, raw, "SecondsPath")?,
                timestamp,
                timestamp_path: field(name, raw, "TimestampPath")?,
            }
        }
        "Succeed" => StateKind::Succeed,
        "Fail" => {
            for (fixed, path) in [("Error", "ErrorPath"), ("Cause", "CausePath")] {
                if object.contains_key(fixed) && object.contains_key(path) {
                    return Err(AslError::Definition(format!(
                        "state {name}: {fixed} and {path} cannot both be given"
                    )));
                }
            }
            StateKind::Fail {
                error: field(name, raw, "Error")?,
                cause: field(name, raw, "Cause")?,
                error_path: field(name, raw, "ErrorPath")?,
                cause_path: field(name, raw, "CausePath")?,
            }
        }
        "Parallel" => {
            let branches = object
                .get("Branches")
                .and_then(Value::as_array)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| {
                    AslError::Definition(format!("state {name} needs a non-empty Branches list"))
                })?;
            StateKind::Parallel {
                branches: branches
                    .iter()
                    .map(|branch| parse_inner_machine(name, "Branches", branch, machine_language))
                    .collect::<Result<_, _>>()?,
                retry: field(name, raw, "Retry")?.unwrap_or_default(),
                catch: field(name, raw, "Catch")?.unwrap_or_default(),
            }
        }
        "Map" => {
            let processor = object
                .get("ItemProcessor")
                .or_else(|| object.get("Iterator"))
                .ok_or_else(|| {
                    AslError::Definition(format!("state {name} has no ItemProcessor"))
                })?;
            if object.contains_key("MaxConcurrency") && object.contains_key("MaxConcurrencyPath") {
                return Err(AslError::Definition(format!(
                    "state {name}: MaxConcurrency and MaxConcurrencyPath cannot both be given"
                )));
            }
            // Items run one after another here, within any limit; it must still be one.
            if field::<u64>(name, raw, "MaxConcurrency").is_err() {
                return Err(AslError::Definition(format!(
                    "state {name}: field MaxConcurrency must be a non-negative integer"
                )));
            }
            StateKind::Map {
                items_path: field(name, raw, "ItemsPath")?.unwrap_or_else(|| "$".into()),
                distributed: parse_distributed(name, object, processor, language)?,
                processor: Box::new(parse_inner_machine(
                    name,
                    "ItemProcessor",
                    processor,
                    machine_language,
                )?),
                items: object.get("Items").cloned(),
                max_concurrency_path: field(name, raw, "MaxConcurrencyPath")?,
                retry: field(name, raw, "Retry")?.unwrap_or_default(),
                catch: field(name, raw, "Catch")?.unwrap_or_default(),
            }
        }
        _ => unreachable!("checked by allowed()"),
    };
    if let StateKind::Task { retry, catch, .. }
    | StateKind::Map { retry, catch, .. }
    | StateKind::Parallel { retry, catch, .. } = &kind
    {
        check_error_handling(name, retry, catch)?;
    }
    Ok(State {
        kind,
        io,
        next,
        assign: object.get("Assign").cloned(),
        language,
        output: object.get("Output").cloned(),
        reads,
    })
}

/// Choice comparisons the interpreter evaluates (each also with a `Path` suffix, except the
/// `Is…` tests and `StringMatches`).
pub const COMPARISONS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
    "BooleanEquals",
    "NumericEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
];
const TESTS: &[&str] = &[
    "IsNull",
    "IsString",
    "IsNumeric",
    "IsBoolean",
    "IsPresent",
    "IsTimestamp",
    "StringMatches",
];

/// Checks a Choice rule: `And`/`Or`/`Not`, or a `Variable` with one supported comparison;
/// only a `top` rule (an element of `Choices`) may have `Next` and `Assign`. Notes the
/// variables it reads.
fn check_rule(
    state: &str,
    rule: &Value,
    top: bool,
    reads: &mut Vec<(String, String)>,
) -> Result<(), AslError> {
    let bad = |why: String| AslError::Definition(format!("state {state}: {why}"));
    let object = rule
        .as_object()
        .ok_or_else(|| bad("a choice rule must be an object".into()))?;
    if !top {
        if let Some(field) = ["Next", "Assign"].iter().find(|f| object.contains_key(**f)) {
            return Err(bad(format!(
                "a rule inside And, Or or Not cannot have {field}"
            )));
        }
    }
    for combinator in ["And", "Or"] {
        if let Some(rules) = object.get(combinator) {
            let rules = rules
                .as_array()
                .filter(|r| !r.is_empty())
                .ok_or_else(|| bad(format!("{combinator} must be a non-empty list of rules")))?;
            return rules
                .iter()
                .try_for_each(|r| check_rule(state, r, false, reads));
        }
    }
    if let Some(inner) = object.get("Not") {
        return check_rule(state, inner, false, reads);
    }
    let Some(variable) = object.get("Variable").and_then(Value::as_str) else {
        return Err(bad(
            "a choice rule needs a Variable (or And, Or, Not)".into()
        ));
    };
    let read = paths::check_expression(variable).map_err(|why| bad(format!("Variable: {why}")))?;
    reads.extend(read.into_iter().map(|v| ("Choices.Variable".to_owned(), v)));
    let operators: Vec<&String> = object
        .keys()
        .filter(|k| !matches!(k.as_str(), "Variable" | "Next" | "Comment" | "Assign"))
        .collect();
    match operators.as_slice() {
        [op] if TESTS.contains(&op.as_str()) || COMPARISONS.contains(&op.as_str()) => Ok(()),
        [op] if op
            .strip_suffix("Path")
            .is_some_and(|base| COMPARISONS.contains(&base)) =>
        {
            let path = object[op.as_str()]
                .as_str()
                .ok_or_else(|| bad(format!("{op} needs a path")))?;
            let read = paths::check_expression(path).map_err(|why| bad(format!("{op}: {why}")))?;
            reads.extend(read.into_iter().map(|v| (format!("Choices.{op}"), v)));
            Ok(())
        }
        [op] => Err(bad(format!(
            "the choice comparison {op} is not supported by the local interpreter"
        ))),
        _ => Err(bad("a choice rule needs exactly one comparison".into())),
    }
}

/// A Parallel branch or a Map's processor: a machine without a `TimeoutSeconds` of its own
/// (the specification gives it only to the top-level machine).
/// Its states' query language is the state machine's, unless they say otherwise.
fn parse_inner_machine(
    state: &str,
    field: &str,
    raw: &Value,
    language: Language,
) -> Result<Machine, AslError> {
    for top_level_only in ["TimeoutSeconds", "QueryLanguage"] {
        if raw.get(top_level_only).is_some() {
            return Err(AslError::Definition(format!(
                "state {state}: field {field}: {top_level_only} belongs to the top-level machine (or to a state) only"
            )));
        }
    }
    if field != "ItemProcessor" && raw.get("ProcessorConfig").is_some() {
        return Err(AslError::Definition(format!(
            "state {state}: field {field}: ProcessorConfig belongs to a Map's ItemProcessor only"
        )));
    }
    parse_states(raw, language)
}

/// Parses and checks a state machine: every transition names a state of the same machine, and
/// every variable is read where a state of its scope (or of one around it) assigns it, and
/// assigned in one scope only.
pub fn parse_machine(raw: &Value) -> Result<Machine, AslError> {
    if raw.get("ProcessorConfig").is_some() {
        return Err(AslError::Definition(
            "ProcessorConfig belongs to a Map's ItemProcessor only".into(),
        ));
    }
    let language = language_of(raw, "")?.unwrap_or(Language::JsonPath);
    let machine = parse_states(raw, language)?;
    let mut names = BTreeSet::new();
    check_names(&machine, &mut names)?;
    check_scopes(&machine, &BTreeSet::new(), &BTreeSet::new())?;
    Ok(machine)
}

/// "The state name MUST be unique within the scope of the entire state machine, and its
/// length MUST BE less than or equal to 80 Unicode characters": branches and processors
/// included.
fn check_names<'m>(machine: &'m Machine, seen: &mut BTreeSet<&'m str>) -> Result<(), AslError> {
    for (name, state) in &machine.states {
        if name.chars().count() > 80 {
            return Err(AslError::Definition(format!(
                "state {name}: a state name is at most 80 characters"
            )));
        }
        if !seen.insert(name) {
            return Err(AslError::Definition(format!(
                "state {name}: a state name must be unique in the whole state machine, branches and Map processors included"
            )));
        }
        match &state.kind {
            StateKind::Parallel { branches, .. } => {
                for branch in branches {
                    check_names(branch, seen)?;
                }
            }
            StateKind::Map { processor, .. } => check_names(processor, seen)?,
            _ => {}
        }
    }
    Ok(())
}

/// Checks Retry and Catch as the specification constrains them: each `ErrorEquals` non-empty,
/// `States.ALL` alone and in the last retrier (catcher); intervals, backoff and jitter valid.
fn check_error_handling(state: &str, retry: &[Retrier], catch: &[Catcher]) -> Result<(), AslError> {
    let bad = |why: String| AslError::Definition(format!("state {state}: {why}"));
    let lists: [(&str, Vec<&Vec<String>>); 2] = [
        ("Retry", retry.iter().map(|r| &r.error_equals).collect()),
        ("Catch", catch.iter().map(|c| &c.error_equals).collect()),
    ];
    for (field, lists) in lists {
        for (i, errors) in lists.iter().enumerate() {
            if errors.is_empty() {
                return Err(bad(format!(
                    "field {field}[{i}].ErrorEquals must not be empty"
                )));
            }
            if errors.iter().any(|e| e == "States.ALL") && (errors.len() > 1 || i + 1 < lists.len())
            {
                return Err(bad(format!(
                    "field {field}[{i}].ErrorEquals: States.ALL must appear alone, in the last of the {field} list"
                )));
            }
        }
    }
    for (i, retrier) in retry.iter().enumerate() {
        let too_long = |s: u64| s > MOST_SECONDS;
        let invalid = if retrier.interval_seconds == 0 || too_long(retrier.interval_seconds) {
            Some("IntervalSeconds must be from 1 to 99999999")
        } else if retrier.backoff_rate < 1.0 {
            Some("BackoffRate must be at least 1.0")
        } else if retrier
            .max_delay_seconds
            .is_some_and(|s| s == 0 || too_long(s))
        {
            Some("MaxDelaySeconds must be from 1 to 99999999")
        } else if !matches!(
            retrier.jitter_strategy.as_deref(),
            None | Some("FULL" | "NONE")
        ) {
            Some("JitterStrategy must be FULL or NONE")
        } else {
            None
        };
        if let Some(why) = invalid {
            return Err(bad(format!("field Retry[{i}]: {why}")));
        }
    }
    Ok(())
}

/// Checks the variables of `machine`, whose surrounding scopes assign `around`, of which it may
/// read `readable` (all of them, or none inside a distributed Map).
fn check_scopes(
    machine: &Machine,
    around: &BTreeSet<&str>,
    readable: &BTreeSet<&str>,
) -> Result<(), AslError> {
    let own: BTreeSet<&str> = machine.states.values().flat_map(State::assigned).collect();
    if let Some(name) = own.intersection(around).next() {
        return Err(AslError::Definition(format!(
            "the variable {name} is assigned both inside a Parallel branch or Map and around it (names must be unique across scopes)"
        )));
    }
    let visible: BTreeSet<&str> = readable.union(&own).copied().collect();
    for (name, state) in &machine.states {
        if let Some((field, variable)) = state
            .reads
            .iter()
            .find(|(_, v)| !visible.contains(v.as_str()))
        {
            return Err(AslError::Definition(format!(
                "state {name}: field {field}: no state in scope assigns the variable ${variable}"
            )));
        }
        let inner: Vec<(&Machine, bool)> = match &state.kind {
            StateKind::Parallel { branches, .. } => branches.iter().map(|b| (b, false)).collect(),
            StateKind::Map {
                processor,
                distributed,
                ..
            } => vec![(processor.as_ref(), distributed.is_some())],
            _ => Vec::new(),
        };
        let around: BTreeSet<&str> = around.union(&own).copied().collect();
        for (machine, isolated) in inner {
            let readable = if isolated {
                BTreeSet::new()
            } else {
                visible.clone()
            };
            check_scopes(machine, &around, &readable)?;
        }
    }
    Ok(())
}

/// Parses a machine's states (in `language` unless a state says otherwise) and checks its
/// transitions.
fn parse_states(raw: &Value, language: Language) -> Result<Machine, AslError> {
    let start_at: String = raw
        .get("StartAt")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| AslError::Definition("no StartAt".into()))?;
    let raw_states = raw
        .get("States")
        .and_then(Value::as_object)
        .ok_or_else(|| AslError::Definition("no States".into()))?;
    let mut states = BTreeMap::new();
    for (name, state) in raw_states {
        states.insert(name.clone(), parse_state(name, state, language)?);
    }
    let missing = |target: &str| !states.contains_key(target);
    if missing(&start_at) {
        return Err(AslError::Definition(format!(
            "StartAt names {start_at}, which is not a state"
        )));
    }
    for (name, state) in &states {
        if let Some(target) = state.targets().into_iter().find(|t| missing(t)) {
            return Err(AslError::Definition(format!(
                "state {name} goes to {target}, which is not a state"
            )));
        }
    }
    // The service refuses a state no transition leads to.
    let mut reached = BTreeSet::from([start_at.as_str()]);
    let mut to_visit = vec![start_at.as_str()];
    while let Some(name) = to_visit.pop() {
        for target in states[name].targets() {
            if reached.insert(target) {
                to_visit.push(target);
            }
        }
    }
    if let Some(unreached) = states.keys().find(|name| !reached.contains(name.as_str())) {
        return Err(AslError::Definition(format!(
            "state {unreached} is not reachable from StartAt {start_at}"
        )));
    }
    let timeout_seconds = match raw.get("TimeoutSeconds") {
        None => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|s| (1..=MOST_SECONDS).contains(s))
                .ok_or_else(|| {
                    AslError::Definition(format!(
                        "TimeoutSeconds must be an integer from 1 to {MOST_SECONDS}"
                    ))
                })?,
        ),
    };
    if let Some(unknown) = raw.as_object().and_then(|o| {
        o.keys().find(|k| {
            !matches!(
                k.as_str(),
                "Comment"
                    | "StartAt"
                    | "States"
                    | "TimeoutSeconds"
                    | "Version"
                    | "QueryLanguage"
                    | "ProcessorConfig"
            )
        })
    }) {
        return Err(AslError::Definition(format!(
            "field {unknown} is not a field of a state machine"
        )));
    }
    Ok(Machine {
        start_at,
        timeout_seconds,
        states,
    })
}

/// Parses a definition file's text after replacing `${Name}` placeholders, as CloudFormation's
/// `DefinitionSubstitutions` does; a placeholder without a value is an error.
pub fn parse_definition(
    text: &str,
    substitutions: &BTreeMap<String, String>,
) -> Result<Machine, AslError> {
    let mut resolved = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        resolved.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| AslError::Definition("unterminated ${ placeholder".into()))?
            + start;
        let name = &rest[start + 2..end];
        let value = substitutions
            .get(name)
            .ok_or_else(|| AslError::Definition(format!("no substitution for ${{{name}}}")))?;
        resolved.push_str(value);
        rest = &rest[end + 1..];
    }
    resolved.push_str(rest);
    let raw: Value = serde_json::from_str(&resolved)
        .map_err(|e| AslError::Definition(format!("not JSON: {e}")))?;
    parse_machine(&raw)
}
