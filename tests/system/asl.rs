//! The local Amazon States Language interpreter on specification cases.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use vellocity_local::asl::definition::{parse_definition, parse_machine, Machine};
use vellocity_local::asl::run::{
    Event, Failure, History, Interpreter, Outcome, Record, TaskRunner,
};

/// Task functions for the tests: each call is recorded; `flaky` fails a set number of times.
#[derive(Default)]
struct Functions {
    calls: Mutex<Vec<(String, Value)>>,
    failures_left: Mutex<BTreeMap<String, (u32, String)>>,
}

impl Functions {
    fn failing(function: &str, times: u32, error: &str) -> Arc<Self> {
        let functions = Functions::default();
        functions
            .failures_left
            .lock()
            .unwrap()
            .insert(function.into(), (times, error.into()));
        Arc::new(functions)
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl TaskRunner for Functions {
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, Failure> {
        self.calls
            .lock()
            .unwrap()
            .push((function.into(), payload.clone()));
        if let Some((left, error)) = self.failures_left.lock().unwrap().get_mut(function) {
            if *left > 0 {
                *left -= 1;
                return Err(Failure::new(error.clone(), "planned failure"));
            }
        }
        Ok(match function {
            "double" => {
                json!({"value": payload["value"].as_i64().unwrap_or_default() * 2, "noise": "dropped"})
            }
            "approve" => json!({"stored_token": payload["token"]}),
            _ => payload,
        })
    }
}

/// The output of a run of `machine` on `input` that succeeds, with tasks echoing their input.
async fn output_of(machine: &Machine, input: Value) -> Value {
    interpreter(Arc::new(Functions::default()))
        .run(machine, "exec-1", input)
        .await
        .result
        .unwrap()
}

/// The failure of a run of `machine` on `input` that fails, with tasks echoing their input.
async fn failure_of(machine: &Machine, input: Value) -> Failure {
    interpreter(Arc::new(Functions::default()))
        .run(machine, "exec-1", input)
        .await
        .result
        .unwrap_err()
}

fn interpreter(functions: Arc<Functions>) -> Interpreter {
    let mut interpreter = Interpreter::new(functions);
    interpreter.time_scale = 0.0;
    interpreter
}

#[tokio::test]
async fn input_path_parameters_result_selector_result_path_and_output_path_apply_in_order() {
    let machine = parse_machine(&json!({
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Task", "Resource": "double",
                "InputPath": "$.job",
                "Parameters": {"value.$": "$.n", "execution.$": "$$.Execution.Id"},
                "ResultSelector": {"doubled.$": "$.value"},
                "ResultPath": "$.job.result",
                "OutputPath": "$.job",
                "End": true
            }
        }
    }))
    .unwrap();
    let functions = Arc::new(Functions::default());
    let outcome = interpreter(functions.clone())
        .run(&machine, "exec-1", json!({"job": {"n": 21}, "other": true}))
        .await;
    assert_eq!(
        outcome.result.unwrap(),
        json!({"n": 21, "result": {"doubled": 42}})
    );
    assert_eq!(
        functions.calls(),
        [(
            "double".to_owned(),
            json!({"value": 21, "execution": "arn:aws:states:us-east-1:123456789012:execution:local:exec-1"})
        )]
    );
}

#[tokio::test]
async fn a_null_result_path_keeps_the_input_and_pass_states_inject_results() {
    let machine = parse_machine(&json!({
        "StartAt": "Inject",
        "States": {
            "Inject": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.injected", "Next": "Discard"},
            "Discard": {"Type": "Task", "Resource": "double", "Parameters": {"value": 2}, "ResultPath": null, "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    }))
    .unwrap();
    let outcome = interpreter(Arc::new(Functions::default()))
        .run(&machine, "e", json!({"a": 1}))
        .await;
    assert_eq!(outcome.transitions(), 3);
    assert_eq!(
        outcome.result.unwrap(),
        json!({"a": 1, "injected": {"x": 1}})
    );
}

#[tokio::test]
async fn choice_rules_pick_the_first_match_with_and_or_not_and_paths() {
    let machine = parse_machine(&json!({
        "StartAt": "Route",
        "States": {
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"And": [{"Variable": "$.status", "StringEquals": "awaiting"}, {"Variable": "$.approved", "BooleanEquals": true}], "Next": "Approved"},
                    {"Not": {"Variable": "$.credits", "NumericGreaterThanEquals": 10}, "Next": "TooPoor"},
                    {"Variable": "$.used", "NumericGreaterThanPath": "$.credits", "Next": "Over"},
                    {"Or": [{"Variable": "$.name", "StringMatches": "launch-*"}, {"Variable": "$.missing", "IsPresent": true}], "Next": "Launch"}
                ],
                "Default": "Other"
            },
            "Approved": {"Type": "Pass", "Result": "approved", "End": true},
            "TooPoor": {"Type": "Pass", "Result": "too poor", "End": true},
            "Over": {"Type": "Pass", "Result": "over", "End": true},
            "Launch": {"Type": "Pass", "Result": "launch", "End": true},
            "Other": {"Type": "Pass", "Result": "other", "End": true}
        }
    }))
    .unwrap();
    let run = |input: Value| {
        let machine = machine.clone();
        async move {
            interpreter(Arc::new(Functions::default()))
                .run(&machine, "e", input)
                .await
                .result
                .unwrap()
        }
    };
    assert_eq!(
        run(json!({"status": "awaiting", "approved": true, "credits": 0})).await,
        json!("approved")
    );
    assert_eq!(
        run(json!({"status": "awaiting", "approved": false, "credits": 5})).await,
        json!("too poor")
    );
    assert_eq!(
        run(json!({"status": "new", "credits": 20, "used": 30})).await,
        json!("over")
    );
    assert_eq!(
        run(json!({"status": "new", "credits": 20, "used": 3, "name": "launch-x"})).await,
        json!("launch")
    );
    assert_eq!(
        run(json!({"status": "new", "credits": 20, "used": 3, "name": "other"})).await,
        json!("other")
    );
    // As in Step Functions, comparing a variable the input lacks fails the execution.
    let missing = interpreter(Arc::new(Functions::default()))
        .run(&machine, "e", json!({"credits": 20}))
        .await;
    assert_eq!(missing.result.unwrap_err().error, "States.Runtime");
}

#[tokio::test]
async fn map_runs_each_item_in_order_with_the_item_context() {
    let machine = parse_machine(&json!({
        "StartAt": "Steps",
        "States": {
            "Steps": {
                "Type": "Map",
                "ItemsPath": "$.steps",
                "MaxConcurrency": 1,
                "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "execution.$": "$.execution_id"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Run",
                    "States": {"Run": {"Type": "Task", "Resource": "double", "ResultSelector": {"v.$": "$.value"}, "End": true}}
                },
                "ResultPath": "$.results",
                "End": true
            }
        }
    }))
    .unwrap();
    let functions = Arc::new(Functions::default());
    let outcome = interpreter(functions.clone())
        .run(
            &machine,
            "e",
            json!({"steps": [1, 2, 3], "execution_id": "x"}),
        )
        .await;
    assert_eq!(
        outcome.result.unwrap()["results"],
        json!([{"v": 2}, {"v": 4}, {"v": 6}])
    );
    let indexes: Vec<Value> = functions
        .calls()
        .into_iter()
        .map(|(_, p)| p["index"].clone())
        .collect();
    assert_eq!(indexes, [json!(0), json!(1), json!(2)]);
}

fn retrying_machine() -> Value {
    json!({
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task", "Resource": "double", "Parameters": {"value": 1},
                "Retry": [
                    {"ErrorEquals": ["Throttled"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxAttempts": 3, "MaxDelaySeconds": 10},
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"}],
                "End": true
            },
            "Recover": {"Type": "Pass", "End": true}
        }
    })
}

#[tokio::test]
async fn retries_back_off_exponentially_up_to_the_cap_then_succeed() {
    let machine = parse_machine(&retrying_machine()).unwrap();
    let functions = Functions::failing("double", 3, "Throttled");
    let outcome = interpreter(functions.clone())
        .run(&machine, "e", json!({}))
        .await;
    assert_eq!(
        outcome.result.unwrap(),
        json!({"value": 2, "noise": "dropped"})
    );
    let delays: Vec<u64> = outcome
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Retrying { delay_ms, .. } => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert_eq!(
        delays,
        [2_000, 6_000, 10_000],
        "2 s, 6 s, then capped at 10 s"
    );
    assert_eq!(functions.calls().len(), 4);
}

#[tokio::test]
async fn exhausted_retries_are_caught_with_the_error_in_the_result_path() {
    let machine = parse_machine(&retrying_machine()).unwrap();
    let functions = Functions::failing("double", 9, "Throttled");
    let outcome = interpreter(functions.clone())
        .run(&machine, "e", json!({"keep": 1}))
        .await;
    assert_eq!(
        outcome.result.unwrap(),
        json!({"keep": 1, "error": {"Error": "Throttled", "Cause": "planned failure"}})
    );
    assert_eq!(functions.calls().len(), 4, "one call and three retries");
    assert!(outcome
        .events
        .iter()
        .any(|e| matches!(e, Event::Caught { next, .. } if next == "Recover")));

    let other = Functions::failing("double", 1, "InvalidPlan");
    let outcome = interpreter(other.clone())
        .run(&machine, "e", json!({}))
        .await;
    assert_eq!(outcome.result.unwrap()["error"]["Error"], "InvalidPlan");
    assert_eq!(other.calls().len(), 1, "MaxAttempts 0 means no retry");
}

#[tokio::test]
async fn an_uncaught_failure_or_a_fail_state_ends_the_execution_with_its_error() {
    let machine = parse_machine(&json!({
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Task", "Resource": "double", "Next": "Stop"},
            "Stop": {"Type": "Fail", "Error": "Refused", "Cause": "plan rejected"}
        }
    }))
    .unwrap();
    let failing = Functions::failing("double", 1, "Boom");
    assert_eq!(
        interpreter(failing)
            .run(&machine, "e", json!({}))
            .await
            .result
            .unwrap_err()
            .error,
        "Boom"
    );
    let outcome = interpreter(Arc::new(Functions::default()))
        .run(&machine, "e", json!({}))
        .await;
    assert_eq!(
        outcome.result.unwrap_err(),
        Failure::new("Refused", "plan rejected")
    );
}

fn approval_machine() -> Value {
    json!({
        "StartAt": "Wait for approval",
        "States": {
            "Wait for approval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "approve", "Payload": {"token.$": "$$.Task.Token"}},
                "HeartbeatSeconds": 3600,
                "TimeoutSeconds": 86400,
                "ResultPath": "$.approval",
                "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.rejection", "Next": "Rejected"}],
                "End": true
            },
            "Rejected": {"Type": "Pass", "End": true}
        }
    })
}

async fn token_of(functions: &Functions) -> String {
    for _ in 0..200 {
        if let Some((_, payload)) = functions.calls().first() {
            return payload["token"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the task was never invoked");
}

/// Starts `machine` on `input` until its task has handed out a token: the interpreter, the
/// running execution, the token and the task functions.
async fn running_until_token(
    machine: &Machine,
    input: Value,
) -> (
    Arc<Interpreter>,
    tokio::task::JoinHandle<Outcome>,
    String,
    Arc<Functions>,
) {
    let functions = Arc::new(Functions::default());
    let interpreter = Arc::new(interpreter(functions.clone()));
    let running = {
        let (interpreter, machine) = (interpreter.clone(), machine.clone());
        tokio::spawn(async move { interpreter.run(&machine, "e", input).await })
    };
    let token = token_of(&functions).await;
    (interpreter, running, token, functions)
}

#[tokio::test]
async fn a_task_token_resumes_the_execution_with_the_sent_output_or_error() {
    let machine = parse_machine(&approval_machine()).unwrap();
    let (interpreter, running, token, _) = running_until_token(&machine, json!({"id": 1})).await;
    interpreter.tokens.heartbeat(&token).unwrap();
    interpreter
        .tokens
        .success(&token, json!({"approved": true}))
        .unwrap();
    assert_eq!(
        running.await.unwrap().result.unwrap(),
        json!({"id": 1, "approval": {"approved": true}})
    );
    assert!(
        interpreter.tokens.success(&token, json!({})).is_err(),
        "a used token is refused"
    );

    let (interpreter, running, token, _) = running_until_token(&machine, json!({})).await;
    interpreter
        .tokens
        .failure(&token, "Rejected", "not on brand")
        .unwrap();
    let output = running.await.unwrap().result.unwrap();
    assert_eq!(
        output["rejection"],
        json!({"Error": "Rejected", "Cause": "not on brand"})
    );
}

#[tokio::test]
async fn a_task_token_without_an_answer_times_out() {
    // Without a heartbeat the wait ends at its timeout; with one, at the first missed beat.
    for (timeout, heartbeat, expected) in [
        (json!(1), Value::Null, "States.Timeout"),
        (json!(20), json!(1), "States.HeartbeatTimeout"),
    ] {
        let mut definition = approval_machine();
        definition["States"]["Wait for approval"]["TimeoutSeconds"] = timeout;
        definition["States"]["Wait for approval"]["HeartbeatSeconds"] = heartbeat;
        let machine = parse_machine(&definition).unwrap();
        let mut interpreter = Interpreter::new(Arc::new(Functions::default()));
        interpreter.time_scale = 0.01;
        let outcome = interpreter.run(&machine, "e", json!({})).await;
        assert_eq!(outcome.result.unwrap_err().error, expected);
    }
}

#[test]
fn unsupported_features_and_broken_transitions_are_named() {
    let parallel =
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": true}}});
    assert!(parse_machine(&parallel)
        .unwrap_err()
        .to_string()
        .contains("non-empty Branches"));
    let distributed = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "X", "States": {"X": {"Type": "Succeed"}}}, "End": true}}});
    assert!(parse_machine(&distributed)
        .unwrap_err()
        .to_string()
        .contains("needs ProcessorConfig.ExecutionType"));
    let field = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "x", "Arguments": {}, "End": true}}});
    assert!(parse_machine(&field)
        .unwrap_err()
        .to_string()
        .contains("field Arguments"));
    let reader = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemReader": {}, "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}, "End": true}}});
    assert!(parse_machine(&reader)
        .unwrap_err()
        .to_string()
        .contains("field ItemReader"));
    let dangling = json!({"StartAt": "T", "States": {"T": {"Type": "Pass", "Next": "Nowhere"}}});
    assert!(parse_machine(&dangling)
        .unwrap_err()
        .to_string()
        .contains("Nowhere"));
    let misspelt = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThanEquals Path": "$.m", "Next": "D"}]},
        "D": {"Type": "Succeed"}
    }});
    assert!(parse_machine(&misspelt)
        .unwrap_err()
        .to_string()
        .contains("NumericLessThanEquals Path is not supported"));
    let inner_language = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
        "Branches": [{"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}]}}});
    assert!(parse_machine(&inner_language)
        .unwrap_err()
        .to_string()
        .contains("QueryLanguage belongs to the top-level machine"));
}

#[test]
fn definition_substitutions_fill_every_placeholder_or_fail() {
    let text = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${PlanFunctionArn}", "End": true}}}"#;
    let subs = BTreeMap::from([("PlanFunctionArn".to_owned(), "plan".to_owned())]);
    assert!(parse_definition(text, &subs).is_ok());
    assert!(parse_definition(text, &BTreeMap::new())
        .unwrap_err()
        .to_string()
        .contains("${PlanFunctionArn}"));
}

/// A history kept in memory, as the engine keeps it in the data directory.
#[derive(Default)]
struct Kept(Mutex<Vec<Record>>);

impl History for Kept {
    fn append(&self, _run: &str, seq: usize, record: &Record) -> Result<(), String> {
        let mut kept = self.0.lock().unwrap();
        assert_eq!(seq, kept.len(), "entries are appended in order");
        kept.push(record.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_resumed_run_replays_its_history_without_running_its_tasks_again() {
    let machine = parse_machine(&json!({
        "StartAt": "Flaky",
        "States": {
            "Flaky": {
                "Type": "Task", "Resource": "flaky", "ResultPath": "$.flaky",
                "Retry": [{"ErrorEquals": ["Throttled"], "IntervalSeconds": 1, "MaxAttempts": 3}],
                "Next": "Pause"
            },
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Each"},
            "Each": {
                "Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.doubled",
                "ItemProcessor": {"StartAt": "Double", "States": {
                    "Double": {"Type": "Task", "Resource": "double",
                               "Parameters": {"value.$": "$"}, "End": true}
                }},
                "End": true
            }
        }
    }))
    .unwrap();
    let input = json!({"items": [1, 2]});
    let first = Functions::failing("flaky", 1, "Throttled");
    let kept = Arc::new(Kept::default());
    let mut running = interpreter(first.clone());
    running.history = kept.clone();
    let done = running.run(&machine, "e", input.clone()).await;
    let history = kept.0.lock().unwrap().clone();
    // The start, a failure, its retry, the wait and two Map items.
    assert_eq!(history.len(), 6, "{history:?}");
    assert_eq!(first.calls().len(), 4);

    // Interrupted after any entry, the run resumed from it invokes only what was not recorded.
    for cut in 0..=history.len() {
        // The planned failure happens again only if its result was not recorded.
        let again = Functions::failing("flaky", u32::from(cut <= 1), "Throttled");
        let resumed = interpreter(again.clone())
            .resume(&machine, "e", input.clone(), history[..cut].to_vec(), None)
            .await;
        assert_eq!(resumed.result, done.result, "resumed after {cut} entries");
        let invoked = again.calls().len();
        let recorded_calls = history[..cut]
            .iter()
            .filter(|r| matches!(r, Record::Ran { .. }))
            .count();
        assert_eq!(invoked, 4 - recorded_calls, "resumed after {cut} entries");
    }

    // A task entry of another state (the definition changed under the run) stops the run
    // rather than hand that result to this task.
    let mut changed = history.clone();
    if let Some(Record::Ran { state, .. }) =
        changed.iter_mut().find(|r| matches!(r, Record::Ran { .. }))
    {
        *state = "Renamed".into();
    }
    let stopped = interpreter(Arc::new(Functions::default()))
        .resume(&machine, "e", input.clone(), changed, None)
        .await;
    let failure = stopped.result.unwrap_err();
    assert_eq!(failure.error, "States.Runtime");
    assert!(
        failure.cause.contains("does not fit the state machine"),
        "{failure:?}"
    );
}

#[tokio::test]
async fn a_resumed_wait_for_a_task_token_keeps_its_deadline_from_when_the_token_was_issued() {
    let machine = parse_machine(&json!({
        "StartAt": "Wait for approval",
        "States": {
            "Wait for approval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "approve", "Payload": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 60,
                "End": true
            }
        }
    }))
    .unwrap();
    let issued_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 61_000;
    // Before the restart the token went out 61 s ago and the task ran; the wait had begun.
    let past = vec![
        Record::Token {
            token: "local-token-e-1".into(),
            issued_ms,
        },
        Record::Result(Ok(json!({"stored_token": "local-token-e-1"}))),
    ];
    let mut resumed = interpreter(Arc::new(Functions::default()));
    resumed.time_scale = 1.0;
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        resumed.resume(&machine, "e", json!({}), past, None),
    )
    .await
    .expect("the wait ends at its original deadline, not 60 s after the restart");
    assert_eq!(outcome.result.unwrap_err().error, "States.Timeout");
}

/// Runs a one-state Pass machine whose `Parameters` are `parameters` on `input`; its output.
async fn pass(parameters: Value, input: Value) -> Result<Value, Failure> {
    let machine = parse_machine(&json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": parameters, "End": true}}}))
        .unwrap();
    interpreter(Arc::new(Functions::default()))
        .run(&machine, "exec-1", input)
        .await
        .result
}

/// The developer guide's examples of the intrinsic functions, each with its documented
/// result: "States.ArrayPartition … returns [[1,2,3,4],[5,6,7,8],[9]]", "States.ArrayContains
/// … returns true", "States.ArrayRange(1, 9, 2) … returns [1,3,5,7,9]", "States.ArrayUnique …
/// returns [1,2,3,4]", "States.Base64Encode … 'RGF0YSB0byBlbmNvZGU='", "States.Hash … SHA-1 …",
/// "States.JsonMerge … shallow merge", "States.StringSplit('This.is+a,test=string', '.+,=') …
/// ['This','is','a','test','string']".
#[tokio::test]
async fn every_intrinsic_function_gives_the_result_the_developer_guide_documents() {
    let input = json!({
        "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "chunkSize": 4, "lookingFor": 5,
        "dupes": [1, 2, 2, 3, 3, 3, 4], "data": "Data to encode", "encoded": "RGF0YSB0byBlbmNvZGU=",
        "json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3},
        "inputString": "This.is+a,test=string", "splitter": ".+,="
    });
    let output = pass(
        json!({
            "partition.$": "States.ArrayPartition($.inputArray, $.chunkSize)",
            "contains.$": "States.ArrayContains($.inputArray, $.lookingFor)",
            "range.$": "States.ArrayRange(1, 9, 2)",
            "unique.$": "States.ArrayUnique($.dupes)",
            "encoded.$": "States.Base64Encode($.data)",
            "decoded.$": "States.Base64Decode($.encoded)",
            "sha1.$": "States.Hash($.data, 'SHA-1')",
            "sha256.$": "States.Hash('abc', 'SHA-256')",
            "md5.$": "States.Hash('abc', 'MD5')",
            "merged.$": "States.JsonMerge($.json1, $.json2, false)",
            "split.$": "States.StringSplit($.inputString, $.splitter)",
            "seeded.$": "States.MathRandom(1, 999, 1234)",
            "same.$": "States.MathRandom(1, 999, 1234)",
            "sum.$": "States.MathAdd(111, -1)",
            "item.$": "States.ArrayGetItem($.inputArray, 5)",
            "length.$": "States.ArrayLength($.inputArray)"
        }),
        input,
    )
    .await
    .unwrap();
    assert_eq!(
        output["partition"],
        json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
    );
    assert_eq!(output["contains"], true);
    assert_eq!(output["range"], json!([1, 3, 5, 7, 9]));
    assert_eq!(output["unique"], json!([1, 2, 3, 4]));
    assert_eq!(output["encoded"], "RGF0YSB0byBlbmNvZGU=");
    assert_eq!(output["decoded"], "Data to encode");
    // The digests as Python's hashlib gives them (hashlib.sha1(b"Data to encode").hexdigest()).
    assert_eq!(output["sha1"], "72a42d0f8593b8ce67954a60e19afdaa929600e5");
    assert_eq!(
        output["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(output["md5"], "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(
        output["merged"],
        json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})
    );
    assert_eq!(
        output["split"],
        json!(["This", "is", "a", "test", "string"])
    );
    let seeded = output["seeded"].as_i64().unwrap();
    assert!(
        (1..999).contains(&seeded) && output["same"] == output["seeded"],
        "{output}"
    );
    assert_eq!(
        (
            output["sum"].clone(),
            output["item"].clone(),
            output["length"].clone()
        ),
        (json!(110), json!(6), json!(9))
    );

    let deep = pass(
        json!({"m.$": "States.JsonMerge($.a, $.b, true)"}),
        json!({"a": {}, "b": {}}),
    )
    .await;
    assert_eq!(
        deep.unwrap_err().error,
        "States.IntrinsicFailure",
        "only shallow merges"
    );
    let overflow = pass(json!({"n.$": "States.MathAdd(2147483647, 1)"}), json!({})).await;
    assert_eq!(overflow.unwrap_err().error, "States.IntrinsicFailure");
}

/// "the characters ' { } \ are reserved … use a backslash (\) to escape them": an escaped
/// brace is a literal brace in `States.Format`, not a placeholder. `States.UUID` "returns a
/// version 4 universally unique identifier (v4 UUID)".
#[tokio::test]
async fn format_keeps_escaped_braces_and_uuid_is_version_4() {
    let output = pass(
        json!({"text.$": "States.Format('\\{literal\\} {} it\\'s', $.name)", "id.$": "States.UUID()"}),
        json!({"name": "Acme"}),
    )
    .await
    .unwrap();
    assert_eq!(output["text"], "{literal} Acme it's");
    let id = output["id"].as_str().unwrap();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{id}"
    );
    assert!(parts[2].starts_with('4'), "version 4: {id}");
    assert!(
        matches!(&parts[3][..1], "8" | "9" | "a" | "b"),
        "RFC 4122 variant: {id}"
    );
}

/// "Interpreters MUST reject a state machine … with … an intrinsic function … not defined" —
/// here checked when the definition loads, with the state and the field named.
#[test]
fn an_unknown_intrinsic_or_a_malformed_path_is_refused_at_load_naming_state_and_field() {
    let machine = |state: Value| json!({"StartAt": "S", "States": {"S": state}});
    for (state, named) in [
        (
            json!({"Type": "Pass", "Parameters": {"deep": {"x.$": "States.Hashh($.a, 'MD5')"}}, "End": true}),
            "field Parameters.deep.x.$",
        ),
        (
            json!({"Type": "Pass", "Parameters": {"x.$": "States.ArrayRange(1, 2)"}, "End": true}),
            "takes 3 arguments",
        ),
        (
            json!({"Type": "Pass", "InputPath": "$.a[", "End": true}),
            "field InputPath",
        ),
        (
            json!({"Type": "Pass", "ResultPath": "$$.Execution", "End": true}),
            "field ResultPath",
        ),
        (
            json!({"Type": "Fail", "ErrorPath": "States.Format('{}')", "Error": "X"}),
            "Error and ErrorPath",
        ),
        (
            json!({"Type": "Wait", "Timestamp": "2026-12-02 10:00:00", "End": true}),
            "field Timestamp",
        ),
    ] {
        let refused = parse_machine(&machine(state)).unwrap_err().to_string();
        assert!(
            refused.contains("state S") && refused.contains(named),
            "{refused}"
        );
    }
}

/// "If … ResultPath … does not match … the state fails with States.ResultPathMatchFailure"; a
/// Catch of the state handles the errors of its whole processing.
#[tokio::test]
async fn a_catch_sees_a_result_path_failure() {
    let machine = parse_machine(&json!({
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": "echo", "ResultPath": "$.list.inner", "End": true,
                  "Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "Next": "Caught", "ResultPath": "$.error"}]},
            "Caught": {"Type": "Pass", "End": true}
        }
    }))
    .unwrap();
    let outcome = interpreter(Arc::new(Functions::default()))
        .run(&machine, "exec-1", json!({"list": [1]}))
        .await;
    let output = outcome.result.unwrap();
    assert_eq!(
        output["error"]["Error"], "States.ResultPathMatchFailure",
        "{output}"
    );
}

/// The context object: "Execution.Id … the execution ARN", "Execution.StartTime", "State.
/// EnteredTime", "State.RetryCount".
#[tokio::test]
async fn the_context_object_has_the_execution_arn_and_times_and_the_retry_count() {
    let functions = Functions::failing("echo", 1, "Flaky");
    let machine = parse_machine(&json!({
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "echo", "End": true,
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1}],
            "Parameters": {"id.$": "$$.Execution.Id", "started.$": "$$.Execution.StartTime",
                           "entered.$": "$$.State.EnteredTime", "retries.$": "$$.State.RetryCount",
                           "redrives.$": "$$.Execution.RedriveCount"}}}
    }))
    .unwrap();
    let output = interpreter(functions.clone())
        .run(&machine, "exec-7", json!({}))
        .await
        .result
        .unwrap();
    assert!(output["id"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:states:"));
    assert!(output["id"]
        .as_str()
        .unwrap()
        .ends_with(":execution:local:exec-7"));
    for time in ["started", "entered"] {
        let text = output[time].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{time}: {text}"
        );
    }
    assert_eq!(
        output["retries"], 1,
        "the second attempt is the first retry"
    );
    assert_eq!(functions.calls()[0].1["retries"], 0);
    assert_eq!(output["redrives"], 0);
}

/// String comparisons order as the service's Java strings do (by UTF-16 code unit: "😀"
/// U+1F600 sorts before "ｆ" U+FF46, the reverse of UTF-8 byte order); the Timestamp
/// comparisons compare times, not text; `StringMatches` reads `\*` as a literal star.
#[tokio::test]
async fn strings_compare_as_java_strings_timestamps_as_times_and_escaped_stars_literally() {
    let machine = parse_machine(&json!({
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [
                {"And": [
                    {"Variable": "$.emoji", "StringLessThan": "\u{ff46}"},
                    {"Variable": "$.a", "StringLessThanEquals": "a"},
                    {"Variable": "$.b", "StringGreaterThanEquals": "a"},
                    {"Variable": "$.late", "TimestampGreaterThan": "2026-12-02T10:00:00+02:00"},
                    {"Variable": "$.late", "TimestampLessThanEqualsPath": "$.late"},
                    {"Variable": "$.late", "IsTimestamp": true},
                    {"Variable": "$.a", "IsTimestamp": false},
                    {"Variable": "$.star", "StringMatches": "a\\*b*"},
                    {"Not": {"Variable": "$.nostar", "StringMatches": "a\\*b*"}}
                ], "Next": "Yes"}
            ], "Default": "No"},
            "Yes": {"Type": "Succeed"},
            "No": {"Type": "Fail", "Error": "NoMatch"}
        }
    }))
    .unwrap();
    let input = json!({"emoji": "\u{1f600}", "a": "a", "b": "b", "late": "2026-12-02T09:00:00Z",
                       "star": "a*bc", "nostar": "axbc"});
    let outcome = interpreter(Arc::new(Functions::default()))
        .run(&machine, "exec-1", input)
        .await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}

/// "ErrorPath … CausePath: a reference path or an intrinsic function that … evaluates to a
/// string"; a Wait with `TimestampPath` "waits until the time" (one already past, at once).
#[tokio::test]
async fn a_fail_state_takes_error_and_cause_from_paths_and_a_wait_reads_its_timestamp() {
    let machine = parse_machine(&json!({
        "StartAt": "W",
        "States": {
            "W": {"Type": "Wait", "TimestampPath": "$.until", "Next": "F"},
            "F": {"Type": "Fail", "ErrorPath": "$.code", "CausePath": "States.Format('{} failed', $.what)"}
        }
    }))
    .unwrap();
    let outcome = interpreter(Arc::new(Functions::default()))
        .run(
            &machine,
            "exec-1",
            json!({"until": "2020-01-01T00:00:00Z", "code": "Custom.Error", "what": "the job"}),
        )
        .await;
    let failure = outcome.result.unwrap_err();
    assert_eq!(
        (failure.error.as_str(), failure.cause.as_str()),
        ("Custom.Error", "the job failed")
    );
}

/// `vellocity-local asl run` runs any definition (placeholders standing for their names) with
/// canned task answers and prints the status, the output or error, the history and the tasks.
#[test]
fn asl_run_prints_a_definitions_outcome_history_and_tasks_with_canned_answers() {
    let dir = crate::local_stack::fresh_dir("asl-run");
    std::fs::create_dir_all(&dir).unwrap();
    let definition = dir.join("machine.asl.json");
    std::fs::write(
        &definition,
        json!({
            "StartAt": "Double",
            "States": {
                "Double": {"Type": "Task", "Resource": "${DoubleFunctionArn}", "Next": "Done",
                           "Retry": [{"ErrorEquals": ["Throttled"], "IntervalSeconds": 60}]},
                "Done": {"Type": "Pass", "Parameters": {"answer.$": "$.value"}, "End": true}
            }
        })
        .to_string(),
    )
    .unwrap();
    let answer = dir.join("double.json");
    std::fs::write(&answer, json!({"value": 42}).to_string()).unwrap();
    let output = std::process::Command::new(crate::local_stack::local_binary())
        .args(["asl", "run"])
        .arg(&definition)
        .args(["--input", "{\"n\": 21}", "--task"])
        .arg(format!("DoubleFunctionArn={}", answer.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "SUCCEEDED");
    assert_eq!(report["output"], json!({"answer": 42}));
    assert_eq!(
        report["history"],
        json!([{"entered": "Double"}, {"entered": "Done"}])
    );
    assert_eq!(
        report["tasks"],
        json!([{"function": "DoubleFunctionArn", "payload": {"n": 21}}])
    );

    let failing = dir.join("fail.json");
    std::fs::write(
        &failing,
        json!({"Error": "Boom", "Cause": "canned"}).to_string(),
    )
    .unwrap();
    let failed = std::process::Command::new(crate::local_stack::local_binary())
        .args(["asl", "run"])
        .arg(&definition)
        .arg("--task")
        .arg(format!("DoubleFunctionArn={}", failing.display()))
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let report: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(
        (report["status"].as_str(), report["error"].as_str()),
        (Some("FAILED"), Some("Boom"))
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// "The Parallel state … causes … branches … to execute … The output is an array with one
/// element for each branch"; "If any branch fails … the entire Parallel state fails", which
/// its Catch handles.
#[tokio::test]
async fn a_parallel_state_gives_each_branchs_output_in_order_and_fails_with_any_branch() {
    // State names are unique in the whole machine, branches included.
    let branch = |state: &str, resource: &str| json!({"StartAt": state, "States": {state: {"Type": "Task", "Resource": resource, "End": true}}});
    let machine = parse_machine(&json!({
        "StartAt": "Both",
        "States": {
            "Both": {"Type": "Parallel", "Branches": [branch("D", "double"), branch("E", "echo")],
                     "ResultPath": "$.results", "Next": "Again"},
            "Again": {"Type": "Parallel", "Branches": [branch("E2", "echo"), branch("F", "flaky")],
                      "ResultPath": null, "End": true,
                      "Catch": [{"ErrorEquals": ["Broken"], "ResultPath": "$.error", "Next": "Caught"}]},
            "Caught": {"Type": "Pass", "End": true}
        }
    }))
    .unwrap();
    let functions = Functions::failing("flaky", 1, "Broken");
    let output = interpreter(functions)
        .run(&machine, "exec-1", json!({"value": 4}))
        .await
        .result
        .unwrap();
    assert_eq!(
        output["results"],
        json!([{"value": 8, "noise": "dropped"}, {"value": 4}])
    );
    assert_eq!(output["error"]["Error"], "Broken", "{output}");
}

/// "TimeoutSeconds (top level): the maximum number of seconds an execution … can run. If it
/// runs longer … the execution fails with a States.Timeout error"; `TimeoutSecondsPath` takes
/// a task's timeout from the input.
#[tokio::test]
async fn a_machine_that_runs_past_its_timeout_fails_with_states_timeout() {
    let machine = parse_machine(&json!({
        "StartAt": "W", "TimeoutSeconds": 5,
        "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}
    }))
    .unwrap();
    let mut slow = Interpreter::new(Arc::new(Functions::default()));
    slow.time_scale = 0.001;
    let failure = slow
        .run(&machine, "exec-1", json!({}))
        .await
        .result
        .unwrap_err();
    assert_eq!(failure.error, "States.Timeout");

    let bad = parse_machine(&json!({
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "echo", "TimeoutSecondsPath": "$.timeout", "End": true}}
    }))
    .unwrap();
    let failure = failure_of(&bad, json!({"timeout": "soon"})).await;
    assert_eq!(failure.error, "States.Runtime", "{failure:?}");
}

/// "InputPath, OutputPath, ItemsPath and Parameters fields … may use any JsonPath … an
/// indefinite path (with a filter, a wildcard, recursive descent or a slice) produces a
/// list": here in a payload, an InputPath and a Map's ItemsPath.
#[tokio::test]
async fn full_jsonpath_filters_wildcards_recursive_descent_and_slices_where_paths_are_read() {
    let input = json!({"orders": [
        {"id": "a", "total": 5, "lines": [{"sku": "x"}]},
        {"id": "b", "total": 50, "lines": [{"sku": "y"}, {"sku": "z"}]},
        {"id": "c", "total": 500, "lines": []}
    ]});
    let output = pass(
        json!({
            "big.$": "$.orders[?@.total > 10].id",
            "ids.$": "$.orders[*].id",
            "skus.$": "$..sku",
            "firstTwo.$": "$.orders[0:2].id",
            "last.$": "$.orders[-1].id"
        }),
        input.clone(),
    )
    .await
    .unwrap();
    assert_eq!(output["big"], json!(["b", "c"]));
    assert_eq!(output["ids"], json!(["a", "b", "c"]));
    assert_eq!(output["skus"], json!(["x", "y", "z"]));
    assert_eq!(output["firstTwo"], json!(["a", "b"]));
    assert_eq!(output["last"], "c", "a definite path gives its one match");

    let machine = parse_machine(&json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map", "InputPath": "$.orders[?@.total >= 50]", "ItemsPath": "$[*].id",
            "ItemProcessor": {"StartAt": "Echo", "States": {"Echo": {"Type": "Task", "Resource": "echo", "End": true}}},
            "End": true
        }}
    }))
    .unwrap();
    let functions = Arc::new(Functions::default());
    let outcome = interpreter(functions.clone())
        .run(&machine, "exec-1", input)
        .await;
    assert_eq!(outcome.result.unwrap(), json!(["b", "c"]));
    assert!(parse_machine(&json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.orders[?@.total >>]", "End": true}}}))
        .unwrap_err()
        .to_string()
        .contains("field InputPath"));
}

/// "If … a field whose name ends in .$ … the path … fails, the interpreter raises
/// States.ParameterPathFailure" — an error a Catch handles, unlike States.Runtime.
#[tokio::test]
async fn a_payload_path_that_names_nothing_is_a_catchable_parameter_path_failure() {
    let machine = parse_machine(&json!({
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": "echo", "Parameters": {"x.$": "$.missing"}, "End": true,
                  "Credentials": {"RoleArn": "arn:aws:iam::111122223333:role/other"},
                  "Catch": [{"ErrorEquals": ["States.ParameterPathFailure"], "Next": "Caught"}]},
            "Caught": {"Type": "Pass", "End": true}
        }
    }))
    .unwrap();
    let output = output_of(&machine, json!({})).await;
    assert_eq!(output["Error"], "States.ParameterPathFailure");
}

/// `$$.Execution.StartTime` is "the date and time the execution started": a run resumed after
/// a restart reports the time it first started, not the time it resumed.
#[tokio::test]
async fn a_resumed_run_keeps_the_time_it_first_started() {
    let machine = parse_machine(&json!({
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Report"},
            "Report": {"Type": "Pass", "Parameters": {"started.$": "$$.Execution.StartTime"}, "End": true}
        }
    }))
    .unwrap();
    let kept = Arc::new(Kept::default());
    let mut running = interpreter(Arc::new(Functions::default()));
    running.history = kept.clone();
    let first = running.run(&machine, "e", json!({})).await.result.unwrap();
    let history = kept.0.lock().unwrap().clone();
    assert!(matches!(history[0], Record::Started { .. }), "{history:?}");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let resumed = interpreter(Arc::new(Functions::default()))
        .resume(&machine, "e", json!({}), history[..1].to_vec(), None)
        .await
        .result
        .unwrap();
    assert_eq!(resumed["started"], first["started"]);
}

/// "TimeoutSeconds: … the top-level … state machine" only — a branch or an item processor with
/// one is refused; "MaxConcurrencyPath … a reference path to … a non-negative integer".
#[tokio::test]
async fn inner_machines_have_no_timeout_and_max_concurrency_path_must_name_a_count() {
    let inner = json!({"StartAt": "S", "TimeoutSeconds": 5, "States": {"S": {"Type": "Succeed"}}});
    let parallel = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [inner], "End": true}}});
    let refused = parse_machine(&parallel).unwrap_err().to_string();
    assert!(
        refused.contains("state P: field Branches: TimeoutSeconds"),
        "{refused}"
    );

    let machine = parse_machine(&json!({
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrencyPath": "$.limit",
            "ItemProcessor": {"StartAt": "E", "States": {"E": {"Type": "Pass", "End": true}}}, "End": true}}
    }))
    .unwrap();
    let run = |limit: Value| {
        let machine = machine.clone();
        async move {
            interpreter(Arc::new(Functions::default()))
                .run(&machine, "exec-1", json!({"items": [1, 2], "limit": limit}))
                .await
                .result
        }
    };
    assert_eq!(run(json!(1)).await.unwrap(), json!([1, 2]));
    assert_eq!(run(json!("two")).await.unwrap_err().error, "States.Runtime");
}

/// "Any state except Succeed and Fail MAY assign a value to one or more state machine
/// variables, and any state MAY reference the value of any variable that has a value on state
/// entry." (specification, State Machine Variables); "You can reference a variable in any field
/// that accepts a JSONPath expression … In JSONPath fields that accept intrinsic functions,
/// variables can be used in the arguments" (developer guide, Using variables in JSONPath states).
#[tokio::test]
async fn variables_assigned_by_one_state_are_read_by_later_states_in_paths_templates_and_intrinsics(
) {
    let machine = parse_machine(&json!({
        "StartAt": "Store",
        "States": {
            "Store": {"Type": "Pass", "Next": "Use",
                      "Assign": {"greeting": "Hello", "customer.$": "$.customer",
                                 "details": {"status": "SUCCESS", "started.$": "$$.Execution.StartTime"}}},
            "Use": {"Type": "Task", "Resource": "echo", "InputPath": "$.unrelated",
                    "Parameters": {"message.$": "States.Format('{} {}', $greeting, $customer.name)",
                                   "id.$": "$customer.id", "status.$": "$details.status"},
                    "Next": "Tier"},
            "Tier": {"Type": "Choice", "Default": "Other",
                     "Choices": [{"Variable": "$customer.tier", "StringEqualsPath": "$customer.expected", "Next": "Gold"}]},
            "Gold": {"Type": "Pass", "OutputPath": "$customer.name", "End": true},
            "Other": {"Type": "Fail", "Error": "Wrong"}
        }
    }))
    .unwrap();
    let functions = Arc::new(Functions::default());
    let input = json!({"customer": {"name": "Ana", "id": 7, "tier": "gold", "expected": "gold"}, "unrelated": {}});
    let output = interpreter(functions.clone())
        .run(&machine, "exec-1", input)
        .await
        .result
        .unwrap();
    assert_eq!(output, json!("Ana"));
    assert_eq!(
        functions.calls(),
        vec![(
            "echo".to_owned(),
            json!({"message": "Hello Ana", "id": 7, "status": "SUCCESS"})
        )]
    );
}

/// "Any variable referenced in an \"Assign\" field sees its current value as it was when the
/// state was entered, and each variable's new value only takes effect in the next state. … If
/// variable x had the value 5 on state entry, the interpreter will assign 42 to x, and 5 to
/// newOrOld." (specification, Assigning State Machine Variables)
#[tokio::test]
async fn assign_evaluates_every_value_with_the_variables_as_they_were_on_state_entry() {
    let machine = parse_machine(&json!({
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Assign": {"x": 5, "y": 6}, "Next": "Swap"},
            "Swap": {"Type": "Pass", "Assign": {"x": 42, "newOrOld.$": "$x", "y.$": "$x"},
                     "Parameters": {"seenX.$": "$x"}, "Next": "Report"},
            "Report": {"Type": "Pass", "End": true,
                       "Parameters": {"x.$": "$x", "y.$": "$y", "newOrOld.$": "$newOrOld", "seenX.$": "$.seenX"}}
        }
    }))
    .unwrap();
    let output = output_of(&machine, json!({})).await;
    assert_eq!(output, json!({"x": 42, "y": 5, "newOrOld": 5, "seenX": 5}));
}

/// "The value of \"$\" in \"Assign\" depends on the state type. In Task, Map, and Parallel
/// States, \"$\" refers to the result in a state's top-level \"Assign\", and to the Error
/// Output in a Catcher's \"Assign\". In Choice and Wait States, \"$\" refers to the effective
/// input … If a Choice Rule is chosen, the interpreter evaluates the Choice Rule's \"Assign\"
/// field, if any, and does not evaluate the state's top-level \"Assign\" field. … If a state
/// reports an error, the interpreter evaluates the matching Catcher's \"Assign\" field, if any,
/// and does not evaluate the state's top-level \"Assign\" field." (specification)
#[tokio::test]
async fn dollar_in_assign_is_the_raw_result_the_effective_input_or_the_error_output() {
    let machine = parse_machine(&json!({
        "StartAt": "Double",
        "States": {
            "Double": {"Type": "Task", "Resource": "double", "InputPath": "$.job",
                       "ResultSelector": {"only.$": "$.value"}, "Assign": {"raw.$": "$.noise"},
                       "Next": "Check"},
            "Check": {"Type": "Choice", "InputPath": "$.only", "Default": "Wrong",
                      "Assign": {"fromDefault": true},
                      "Choices": [{"Variable": "$", "NumericEquals": 8, "Assign": {"fromRule.$": "$"}, "Next": "Pause"}]},
            "Pause": {"Type": "Wait", "Seconds": 0, "Assign": {"waited.$": "$"}, "Next": "Flaky"},
            "Flaky": {"Type": "Task", "Resource": "flaky", "Assign": {"notOnError": true},
                      "Catch": [{"ErrorEquals": ["Broken"], "Assign": {"error.$": "$.Error"},
                                 "Next": "Unassigned"}],
                      "Next": "Wrong"},
            "Unassigned": {"Type": "Choice", "Default": "Report",
                           "Choices": [{"Or": [{"Variable": "$fromDefault", "IsPresent": true},
                                               {"Variable": "$notOnError", "IsPresent": true}],
                                        "Next": "Wrong"}]},
            "Report": {"Type": "Pass", "End": true,
                       "Parameters": {"raw.$": "$raw", "fromRule.$": "$fromRule", "waited.$": "$waited", "error.$": "$error"}},
            "Wrong": {"Type": "Fail", "Error": "Wrong"}
        }
    }))
    .unwrap();
    let output = interpreter(Functions::failing("flaky", 1, "Broken"))
        .run(&machine, "exec-1", json!({"job": {"value": 4}}))
        .await
        .result
        .unwrap();
    assert_eq!(
        output,
        json!({"raw": "dropped", "fromRule": 8, "waited": 8, "error": "Broken"})
    );
}

/// "States inside Parallel or Map states can refer to outer scope variables, but they create
/// and maintain their own separate workflow-local variables and values. Parallel branches and
/// Map iterations … do not have access to variable values from other concurrent branches or
/// iterations. … When a Parallel or Map state completes, all of their variables will go out of
/// scope" (developer guide, Variable scope); the specification's example: state "End" outputs
/// `hello`, state "Goodbye" outputs `2`.
#[tokio::test]
async fn branches_and_iterations_read_outer_variables_and_keep_their_own_to_themselves() {
    let machine = parse_machine(&json!({
        "StartAt": "Get Greeting",
        "States": {
            "Get Greeting": {"Type": "Pass", "Assign": {"outer": "hello"}, "Next": "Greet Everyone"},
            "Greet Everyone": {"Type": "Map", "ItemsPath": "$.people", "ResultPath": "$.greetings",
                "ItemProcessor": {"StartAt": "Fresh", "States": {
                    "Fresh": {"Type": "Choice", "Default": "Begin",
                              "Choices": [{"Variable": "$inner", "IsPresent": true, "Next": "Leaked"}]},
                    "Leaked": {"Type": "Fail", "Error": "Leaked"},
                    "Begin": {"Type": "Pass", "Assign": {"inner.$": "$", "hi.$": "$outer"}, "Next": "End"},
                    "End": {"Type": "Pass", "End": true, "Parameters": {"hi.$": "$hi", "who.$": "$inner"}}
                }},
                "Assign": {"outer": 2},
                "Next": "Both"},
            "Both": {"Type": "Parallel", "ResultPath": "$.branches", "Next": "Goodbye",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"mine": "a"}, "Next": "A2"},
                                                "A2": {"Type": "Pass", "Parameters": {"outer.$": "$outer", "mine.$": "$mine"}, "End": true}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"outer.$": "$outer"}, "End": true}}}
                ]},
            "Goodbye": {"Type": "Pass", "Parameters": {"greetings.$": "$.greetings", "branches.$": "$.branches", "outer.$": "$outer"}, "End": true}
        }
    }))
    .unwrap();
    let output = output_of(&machine, json!({"people": ["Ana", "Bo"]})).await;
    assert_eq!(
        output,
        json!({
            "greetings": [{"hi": "hello", "who": "Ana"}, {"hi": "hello", "who": "Bo"}],
            "branches": [{"outer": 2, "mine": "a"}, {"outer": 2}],
            "outer": 2
        })
    );
}

/// "Each variable name … MUST follow the rules for Unicode Identifiers … A state MUST NOT
/// assign a value to \"states\". In a JSONPath state, the \"ResultPath\" field MUST NOT
/// reference a variable. … states in inner scopes MUST NOT assign to a variable with the same
/// name as a variable in an outer scope. … In a Parallel state, a state in one branch MUST NOT
/// reference any variable assigned in another branch." (specification); "You cannot assign a
/// value to a part of a variable" (developer guide). Each is refused at load, naming where.
#[test]
fn variables_are_checked_at_load_names_scopes_and_result_paths() {
    let refused = |definition: Value, expected: &str| {
        let error = parse_machine(&definition).unwrap_err().to_string();
        assert!(error.contains(expected), "{error} does not say {expected}");
    };
    let pass = |assign: Value| json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Assign": assign, "End": true}}});
    refused(
        pass(json!({"1st": 1})),
        "field Assign.1st: \"1st\" is not a variable name",
    );
    refused(pass(json!({"x.y": 1})), "\"x.y\" is not a variable name");
    refused(
        pass(json!({"states": 1})),
        "the variable states is reserved",
    );
    refused(pass(json!({"x": 1, "x.$": "$"})), "assigns x twice");
    refused(pass(json!({"x.$": "$.a[?("})), "field Assign.x.$");
    refused(pass(json!([1])), "field Assign: must be an object");
    refused(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"a.$": "$nowhere.b"}, "End": true}}}),
        "state P: field Parameters.a.$: no state in scope assigns the variable $nowhere",
    );
    refused(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Assign": {"x": 1}, "ResultPath": "$x", "End": true}}}),
        "ResultPath cannot name a variable",
    );
    refused(
        json!({"StartAt": "S", "States": {"S": {"Type": "Succeed", "Assign": {"x": 1}}}}),
        "field Assign is not supported on a Succeed state",
    );
    let inner = |processor_assign: Value| {
        json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Assign": {"outer": 1}, "Next": "M"},
        "M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "I", "States": {
            "I": {"Type": "Pass", "Assign": processor_assign, "End": true}}}}}})
    };
    refused(
        inner(json!({"outer": 2})),
        "the variable outer is assigned both inside",
    );
    assert!(parse_machine(&inner(json!({"own.$": "$outer"}))).is_ok());
    refused(
        json!({"StartAt": "B", "States": {"B": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"a": 1}, "End": true}}},
            {"StartAt": "R", "States": {"R": {"Type": "Choice", "Default": "D",
                "Choices": [{"Variable": "$a", "IsPresent": true, "Next": "D"}]}, "D": {"Type": "Succeed"}}}
        ]}}}),
        "state R: field Choices.Variable: no state in scope assigns the variable $a",
    );
    refused(
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "D", "Choices": [
            {"Not": {"Variable": "$.a", "IsPresent": true, "Assign": {"x": 1}}, "Next": "D"}]}, "D": {"Type": "Succeed"}}}),
        "a rule inside And, Or or Not cannot have Assign",
    );
}

/// "The maximum size of a single variable is 256Kib … The total size of all stored variables
/// cannot exceed 10MiB per execution" (developer guide, Limits); "States.DataLimitExceeded: A
/// terminal error which cannot be caught by the States.ALL error type" (developer guide, Error
/// names); "If $x had not been previously assigned, the example would fail because $x would
/// be undefined" (developer guide, Evaluation order).
#[tokio::test]
async fn an_oversized_variable_or_one_read_before_it_has_a_value_fails_the_execution() {
    let machine = parse_machine(&json!({
        "StartAt": "Keep",
        "States": {
            "Keep": {"Type": "Task", "Resource": "echo", "Assign": {"big.$": "$.blob"}, "End": true,
                     "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
            "Caught": {"Type": "Succeed"}
        }
    }))
    .unwrap();
    let blob = "x".repeat(300 * 1024);
    let failure = failure_of(&machine, json!({"blob": blob})).await;
    assert_eq!(failure.error, "States.DataLimitExceeded", "{failure:?}");
    assert!(failure.cause.contains("the variable big"), "{failure:?}");

    let early = parse_machine(&json!({
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Choice", "Default": "Later",
                      "Choices": [{"Variable": "$later", "NumericEquals": 1, "Next": "Later"}]},
            "Later": {"Type": "Pass", "Assign": {"later": 1}, "End": true}
        }
    }))
    .unwrap();
    let failure = failure_of(&early, json!({})).await;
    assert_eq!(
        failure,
        Failure::new("States.Runtime", "the variable $later has no value")
    );
}

/// A distributed Map over `items` whose processor fails an item marked `fail`, with `extra`
/// fields on the Map state.
fn distributed_map(extra: Value) -> Value {
    let mut map = json!({
        "Type": "Map", "ItemsPath": "$.items", "End": true,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "Check",
            "States": {
                "Check": {"Type": "Choice", "Default": "Done",
                          "Choices": [{"Variable": "$.fail", "IsPresent": true, "Next": "Broken"}]},
                "Broken": {"Type": "Fail", "Error": "ItemBroken", "Cause": "marked to fail"},
                "Done": {"Type": "Succeed"}
            }
        },
        "Catch": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "Next": "Exceeded"}]
    });
    map.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"StartAt": "Each", "States": {"Each": map, "Exceeded": {"Type": "Pass", "End": true}}})
}

async fn run_distributed(extra: Value, input: Value) -> Value {
    output_of(&parse_machine(&distributed_map(extra)).unwrap(), input).await
}

/// "A Map State MAY have a \"ToleratedFailurePercentage\" field … Its default value is zero,
/// which means the Map State will fail if any (i.e. more than 0%) of its items fail. … A Map
/// State MAY have a non-negative integer \"ToleratedFailureCount\" field … If a
/// \"ToleratedFailurePercentage\" field and a \"ToleratedFailureCount\" field are both
/// specified, the Map State will fail if either threshold is breached." (specification);
/// "Step Functions returns a States.ExceedToleratedFailureThreshold error" (developer guide).
#[tokio::test]
async fn a_distributed_map_tolerates_failed_items_up_to_its_count_or_percentage() {
    let items = json!({"items": [{"n": 1}, {"n": 2, "fail": true}, {"n": 3}, {"n": 4}], "pct": 25});
    let failed = json!({"Error": "ItemBroken", "Cause": "marked to fail"});
    assert_eq!(
        run_distributed(json!({"ToleratedFailureCount": 1}), items.clone()).await,
        json!([{"n": 1}, failed, {"n": 3}, {"n": 4}])
    );
    let within_share = run_distributed(
        json!({"ToleratedFailurePercentagePath": "$.pct"}),
        items.clone(),
    )
    .await;
    assert_eq!(within_share[1], failed);
    for beyond in [
        json!({}),
        json!({"ToleratedFailureCount": 0}),
        json!({"ToleratedFailureCount": 5, "ToleratedFailurePercentage": 20}),
    ] {
        let output = run_distributed(beyond.clone(), items.clone()).await;
        assert_eq!(
            output["Error"], "States.ExceedToleratedFailureThreshold",
            "{beyond}: {output}"
        );
        assert!(output["Cause"]
            .as_str()
            .unwrap()
            .contains("1 of 4 items failed, the last with ItemBroken"));
    }
}

/// "The ItemBatcher Configuration causes the interpreter to batch selected items into
/// sub-arrays before passing them to each invocation. The interpreter will limit each
/// sub-array to the maximum number of items specified by the \"MaxItemsPerBatch\" field, and
/// to the maximum size in bytes specified by the \"MaxInputBytesPerBatch\" field. … the
/// interpreter uses the \"ItemSelector\" field to override each single element … then uses the
/// \"ItemBatcher\" field … to batch the selected items" (specification); each child gets
/// `{"BatchInput": …, "Items": […]}` (developer guide, ItemBatcher).
#[tokio::test]
async fn a_distributed_map_batches_selected_items_by_count_and_bytes_with_the_batch_input() {
    let input = json!({"items": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}], "run": "r1", "most": 3});
    let by_count = run_distributed(
        json!({"ItemSelector": {"value.$": "$$.Map.Item.Value.n"},
               "ItemBatcher": {"MaxItemsPerBatchPath": "$.most", "BatchInput": {"run.$": "$.run"}}}),
        input.clone(),
    )
    .await;
    assert_eq!(
        by_count,
        json!([
            {"Items": [{"value": 1}, {"value": 2}, {"value": 3}], "BatchInput": {"run": "r1"}},
            {"Items": [{"value": 4}], "BatchInput": {"run": "r1"}}
        ])
    );
    // `[{"n":1},{"n":2}]` is 17 bytes: two items fit in 17, one in 16.
    let two = run_distributed(
        json!({"ItemBatcher": {"MaxInputBytesPerBatch": 17}}),
        input.clone(),
    )
    .await;
    assert_eq!(
        two,
        json!([{"Items": [{"n": 1}, {"n": 2}]}, {"Items": [{"n": 3}, {"n": 4}]}])
    );
    let one = run_distributed(
        json!({"ItemBatcher": {"MaxInputBytesPerBatch": 16}}),
        input.clone(),
    )
    .await;
    assert_eq!(one.as_array().unwrap().len(), 4, "{one}");
    // An item larger than a batch may be fails the Map (nothing can batch it): `[{"n":1}]`
    // fits in 9 bytes, `[{"n":22}]` does not.
    let machine = parse_machine(&distributed_map(
        json!({"ItemBatcher": {"MaxInputBytesPerBatch": 9}}),
    ))
    .unwrap();
    let failure = failure_of(&machine, json!({"items": [{"n": 1}, {"n": 22}]})).await;
    assert_eq!(failure.error, "States.DataLimitExceeded", "{failure:?}");
    assert!(
        failure.cause.contains("item 1 holds 8 bytes"),
        "{failure:?}"
    );
}

/// "Exception: Distributed Map states cannot currently reference variables in outer scopes"
/// (developer guide, Variable scope); the distributed Map's fields belong to it alone, its
/// `ExecutionType` is required, its `Label` "can't exceed 40 characters … and can't contain"
/// white space or `? * < > { } [ ] : ; , \\ | ^ ~ $ # % & ` "`; item readers and result
/// writers (S3) are refused by name.
#[test]
fn a_distributed_maps_fields_are_checked_at_load() {
    let refused = |definition: Value, expected: &str| {
        let error = parse_machine(&definition).unwrap_err().to_string();
        assert!(error.contains(expected), "{error} does not say {expected}");
    };
    let mut outer = distributed_map(json!({}));
    outer["StartAt"] = json!("Remember");
    outer["States"]["Remember"] = json!({"Type": "Pass", "Assign": {"outer": 1}, "Next": "Each"});
    outer["States"]["Each"]["ItemProcessor"]["States"]["Done"] =
        json!({"Type": "Pass", "Parameters": {"o.$": "$outer"}, "End": true});
    refused(
        outer,
        "state Done: field Parameters.o.$: no state in scope assigns the variable $outer",
    );
    let mut inline = distributed_map(json!({"ItemBatcher": {"MaxItemsPerBatch": 2}}));
    inline["States"]["Each"]["ItemProcessor"]["ProcessorConfig"] = json!({"Mode": "INLINE"});
    refused(inline, "field ItemBatcher belongs to a distributed Map");
    refused(
        distributed_map(json!({"Label": "two words"})),
        "field Label \"two words\" must be 1 to 40 characters",
    );
    refused(
        distributed_map(json!({"Label": "x".repeat(41)})),
        "must be 1 to 40 characters",
    );
    assert!(parse_machine(&distributed_map(json!({"Label": "Each-item_1"}))).is_ok());
    refused(
        distributed_map(json!({"ItemBatcher": {}})),
        "needs MaxItemsPerBatch[Path] or MaxInputBytesPerBatch[Path]",
    );
    refused(
        distributed_map(json!({"ItemBatcher": {"MaxInputBytesPerBatch": 262_145}})),
        "at most 262144",
    );
    refused(
        distributed_map(json!({"ToleratedFailurePercentage": 150})),
        "must be a number from 0 to 100",
    );
    refused(
        distributed_map(json!({"ToleratedFailureCount": 1, "ToleratedFailureCountPath": "$.n"})),
        "ToleratedFailureCount and ToleratedFailureCountPath cannot both be given",
    );
    refused(
        distributed_map(json!({"ItemReader": {"Resource": "arn:aws:states:::s3:getObject"}})),
        "field ItemReader is not supported locally",
    );
    refused(
        distributed_map(json!({"ResultWriter": {"Resource": "arn:aws:states:::s3:putObject"}})),
        "field ResultWriter is not supported locally",
    );
}

/// "A Task State MUST NOT include both \"TimeoutSeconds\" and \"TimeoutSecondsPath\" … the
/// \"HeartbeatSeconds\" interval MUST be smaller than the \"TimeoutSeconds\" value"; "The
/// reserved name \"States.ALL\" … MUST appear alone in the \"ErrorEquals\" array and MUST appear
/// in the last Retrier"; "The value of BackoffRate MUST be greater than or equal to 1.0"; "The
/// state name MUST be unique within the scope of the entire state machine, and its length MUST
/// BE less than or equal to 80 Unicode characters" (specification); the service also refuses
/// a state no transition reaches, and a JitterStrategy other than FULL or NONE.
#[test]
fn states_retriers_and_catchers_are_checked_as_the_specification_constrains_them() {
    let refused = |definition: Value, expected: &str| {
        let error = parse_machine(&definition).unwrap_err().to_string();
        assert!(error.contains(expected), "{error} does not say {expected}");
    };
    let task = |extra: Value| {
        let mut task = json!({"Type": "Task", "Resource": "echo", "End": true});
        task.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"StartAt": "T", "States": {"T": task, "After": {"Type": "Succeed"}}})
    };
    refused(
        json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "Orphan": {"Type": "Succeed"}}}),
        "state Orphan is not reachable from StartAt A",
    );
    refused(
        json!({"StartAt": "A", "States": {"A": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}]}}}),
        "state A: a state name must be unique in the whole state machine",
    );
    let long = "n".repeat(81);
    refused(
        json!({"StartAt": long, "States": {long.clone(): {"Type": "Succeed"}}}),
        "a state name is at most 80 characters",
    );
    let retry_then_catch = |retry: Value| {
        task(json!({"Retry": retry, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "After"}]}))
    };
    refused(
        retry_then_catch(json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["Late"]}])),
        "field Retry[0].ErrorEquals: States.ALL must appear alone, in the last",
    );
    refused(
        retry_then_catch(json!([{"ErrorEquals": ["States.ALL", "Other"]}])),
        "States.ALL must appear alone",
    );
    refused(
        retry_then_catch(json!([{"ErrorEquals": []}])),
        "field Retry[0].ErrorEquals must not be empty",
    );
    refused(
        retry_then_catch(json!([{"ErrorEquals": ["E"], "BackoffRate": 0.5}])),
        "BackoffRate must be at least 1.0",
    );
    refused(
        retry_then_catch(json!([{"ErrorEquals": ["E"], "JitterStrategy": "SOME"}])),
        "JitterStrategy must be FULL or NONE",
    );
    assert!(parse_machine(&retry_then_catch(
        json!([{"ErrorEquals": ["E"], "JitterStrategy": "FULL", "MaxDelaySeconds": 5}])
    ))
    .is_ok());
    refused(
        task(
            json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 10, "Catch": [{"ErrorEquals": ["E"], "Next": "After"}]}),
        ),
        "HeartbeatSeconds (10) must be smaller than TimeoutSeconds (10)",
    );
    refused(
        task(
            json!({"TimeoutSeconds": 10, "TimeoutSecondsPath": "$.t", "Catch": [{"ErrorEquals": ["E"], "Next": "After"}]}),
        ),
        "TimeoutSeconds and TimeoutSecondsPath cannot both be given",
    );
    refused(
        retry_then_catch(
            json!([{"ErrorEquals": ["E"], "IntervalSeconds": 18_446_744_073_709_551_615_u64}]),
        ),
        "IntervalSeconds must be from 1 to 99999999",
    );
    refused(
        task(
            json!({"TimeoutSeconds": 100_000_000, "Catch": [{"ErrorEquals": ["E"], "Next": "After"}]}),
        ),
        "TimeoutSeconds and HeartbeatSeconds must be from 1 to 99999999",
    );
    refused(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100_000_000, "End": true}}}),
        "field Seconds must be at most 99999999",
    );
    refused(
        json!({"StartAt": "S", "ProcessorConfig": {"Mode": "INLINE"}, "States": {"S": {"Type": "Succeed"}}}),
        "ProcessorConfig belongs to a Map's ItemProcessor only",
    );
    refused(
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"ProcessorConfig": {}, "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}]}}}),
        "field Branches: ProcessorConfig belongs to a Map's ItemProcessor only",
    );
    refused(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
            "ItemProcessor": {"ProcessorConfig": "DISTRIBUTED", "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}),
        "ProcessorConfig must be an object",
    );
    refused(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": -1, "End": true,
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}),
        "field MaxConcurrency must be a non-negative integer",
    );
    refused(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "QueryLanguage": "XPath", "End": true}}}),
        "state P: QueryLanguage \"XPath\" is not a query language",
    );
    assert!(parse_machine(
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}})
    )
    .is_ok());
}

/// "Task token: … Pass a task token to … a service integration … and then wait until that
/// token is returned" (developer guide, Wait for a Callback with Task Token): any integration,
/// not only Lambda's, may end in `.waitForTaskToken`.
#[tokio::test]
async fn a_task_token_works_with_any_integration_not_only_lambda() {
    let machine = parse_machine(&json!({
        "StartAt": "Ask",
        "States": {"Ask": {
            "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": "q", "token.$": "$$.Task.Token"}, "End": true}}
    }))
    .unwrap();
    let (interpreter, running, token, functions) = running_until_token(&machine, json!({})).await;
    interpreter
        .tokens
        .success(&token, json!({"answer": "yes"}))
        .unwrap();
    assert_eq!(
        running.await.unwrap().result.unwrap(),
        json!({"answer": "yes"})
    );
    assert_eq!(functions.calls()[0].0, "arn:aws:states:::sqs:sendMessage");
}

/// The specification's JSONata evaluation example: "The interpreter will first evaluate the
/// JSONata expressions inside the \"Arguments\" object including field values and array
/// items, and send the resulting object to the DoTheTask function … After DoTheTask returns,
/// the interpreter will evaluate the \"Output\" field and return this JSON object: { \"avg\":
/// 76.25, \"num\": 4 }" (specification, JSONata Evaluation).
#[tokio::test]
async fn jsonata_arguments_and_output_evaluate_every_expression_at_any_depth() {
    let machine = parse_machine(&json!({
        "QueryLanguage": "JSONata",
        "StartAt": "GetSampleData",
        "States": {
            "GetSampleData": {"Type": "Pass", "Next": "A Task", "Assign": {
                "student": {"name": "Scotland", "course": [{"grade": 34}, {"grade": 99}, {"grade": 76}, {"grade": 96}]},
                "class": {"teacher": "Bert"},
                "two": "the number 2"}},
            "A Task": {"Type": "Task", "Resource": "DoTheTask", "End": true,
                "Arguments": {"student": "{% $student.name %}", "classInfo": {"teacher": "{% $class.teacher %}"},
                              "values": [1, "{% $two %}", "three"]},
                "Output": "{% { 'avg': $average($student.course.grade), 'num': $count($student.course) } %}"}
        }
    }))
    .unwrap();
    let functions = Arc::new(Functions::default());
    let output = interpreter(functions.clone())
        .run(&machine, "exec-1", json!({}))
        .await
        .result
        .unwrap();
    assert_eq!(output, json!({"avg": 76.25, "num": 4}));
    assert_eq!(
        functions.calls()[0].1,
        json!({"student": "Scotland", "classInfo": {"teacher": "Bert"}, "values": [1, "the number 2", "three"]})
    );
}

/// The specification's JSONata Choice example: "If $states.input.type = \"Private\", and $value
/// is 23, then the second Choice Rule matches, the range variable will be assigned the string
/// \"twenties\" … If the third Choice Rule matches, then the state output will be assigned a
/// JSON object with its \"excess\" field … If no Choice Rules match, the range variable will be
/// assigned the string \"default\"" (specification, JSONata Choice Rules).
#[tokio::test]
async fn jsonata_choice_rules_pick_by_condition_with_their_assign_and_output() {
    let definition = |value: i64| {
        json!({
            "QueryLanguage": "JSONata",
            "StartAt": "Set",
            "States": {
                "Set": {"Type": "Pass", "Assign": {"value": value}, "Next": "DispatchEvent"},
                "DispatchEvent": {"Type": "Choice", "Default": "RecordEvent", "Assign": {"range": "default"},
                    "Choices": [
                        {"Condition": "{% $states.input.type != 'Private' %}", "Next": "Public"},
                        {"Condition": "{% $exists($value) and $value>=20 and $value<30 %}",
                         "Assign": {"range": "twenties"}, "Next": "ValueInTwenties"},
                        {"Condition": "{% $states.input.rating >= $states.input.auditThreshold %}",
                         "Output": {"excess": "{% $states.input.rating - $states.input.auditThreshold %}"},
                         "Next": "StartAudit"}
                    ]},
                "Public": {"Type": "Fail", "Error": "Public"},
                "ValueInTwenties": {"Type": "Pass", "Output": {"range": "{% $range %}", "input": "{% $states.input %}"}, "End": true},
                "StartAudit": {"Type": "Succeed"},
                "RecordEvent": {"Type": "Succeed", "Output": "{% $range %}"}
            }
        })
    };
    let input = json!({"type": "Private", "rating": 9, "auditThreshold": 5});
    let twenties = output_of(&parse_machine(&definition(23)).unwrap(), input.clone()).await;
    assert_eq!(twenties, json!({"range": "twenties", "input": input}));
    let audit = output_of(&parse_machine(&definition(40)).unwrap(), input.clone()).await;
    assert_eq!(audit, json!({"excess": 4}));
    let quiet = json!({"type": "Private", "rating": 1, "auditThreshold": 5});
    let recorded = output_of(&parse_machine(&definition(40)).unwrap(), quiet).await;
    assert_eq!(recorded, json!("default"));
}

/// "If the first Catcher matches the Error Name, the input to \"RecoveryState\" will be the
/// original state input, with the Error Output as the value of the top-level \"error-info\"
/// field. For any other error, the variable isCritical will be assigned the value of a JSONata
/// expression, and the input to \"EndMachine\" will just be the Error Output." (specification,
/// JSONata Catchers)
#[tokio::test]
async fn a_jsonata_catcher_gives_its_output_and_assigns_from_the_error_output() {
    let definition = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Work",
        "States": {
            "Work": {"Type": "Task", "Resource": "flaky", "End": true,
                "Catch": [
                    {"ErrorEquals": ["java.lang.Exception"],
                     "Output": "{% $merge([ $states.input, {'error-info': $states.errorOutput} ]) %}",
                     "Next": "RecoveryState"},
                    {"ErrorEquals": ["States.ALL"],
                     "Assign": {"isCritical": "{% $contains($lowercase($states.errorOutput.Error), 'fatal') %}"},
                     "Next": "EndMachine"}
                ]},
            "RecoveryState": {"Type": "Succeed"},
            "EndMachine": {"Type": "Pass", "Output": {"error": "{% $states.input %}", "critical": "{% $isCritical %}"}, "End": true}
        }
    });
    let machine = parse_machine(&definition).unwrap();
    let recovered = interpreter(Functions::failing("flaky", 1, "java.lang.Exception"))
        .run(&machine, "exec-1", json!({"order": 7}))
        .await
        .result
        .unwrap();
    assert_eq!(
        recovered,
        json!({"order": 7, "error-info": {"Error": "java.lang.Exception", "Cause": "planned failure"}})
    );
    let ended = interpreter(Functions::failing("flaky", 1, "FatalDiskError"))
        .run(&machine, "exec-2", json!({"order": 7}))
        .await
        .result
        .unwrap();
    assert_eq!(
        ended,
        json!({"error": {"Error": "FatalDiskError", "Cause": "planned failure"}, "critical": true})
    );
}

/// The functions Step Functions adds to JSONata ("$partition … $range … $hash … $random …
/// $uuid … $parse", developer guide, Transforming data with JSONata), JSONata expressions in the
/// fields that take numbers and timestamps ("A JSONata Task State MAY specify JSONata strings
/// for the \"TimeoutSeconds\" and \"HeartbeatSeconds\" fields", "A JSONata Wait State MAY specify
/// a JSONata string for the \"Seconds\" field", "A JSONata Fail State MAY specify JSONata
/// strings for the \"Error\" and \"Cause\" fields"), and a Map's `Items` and `ItemSelector`.
#[tokio::test]
async fn jsonata_functions_of_step_functions_and_expressions_in_every_kind_of_field() {
    let machine = parse_machine(&json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Functions",
        "States": {
            "Functions": {"Type": "Pass", "Next": "Pause", "Output": {
                "partition": "{% $partition([1,2,3,4], 3) %}",
                "range": "{% $range(0, 10, 5) %}",
                "hash": "{% $hash('input data', 'SHA-1') %}",
                "parsed": "{% $parse('{\"n\": 1}') %}",
                "uuid": "{% $length($uuid()) %}",
                "random": "{% $random() >= 0 and $random() < 1 %}"}},
            "Pause": {"Type": "Wait", "Seconds": "{% $count($states.input.range) - 3 %}", "Next": "Each"},
            "Each": {"Type": "Map", "Items": "{% $states.input.partition %}", "Next": "Call",
                "ItemSelector": {"index": "{% $states.context.Map.Item.Index %}", "size": "{% $count($states.context.Map.Item.Value) %}"},
                "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": true}}}},
            "Call": {"Type": "Task", "Resource": "echo", "TimeoutSeconds": "{% 30 %}",
                     "Arguments": {"sizes": "{% $states.input.size %}"}, "Next": "Stop"},
            "Stop": {"Type": "Fail", "Error": "{% 'Sizes' & $string($sum($states.input.sizes)) %}", "Cause": "{% $join(['a', 'b'], '+') %}"}
        }
    }))
    .unwrap();
    let functions = Arc::new(Functions::default());
    let failure = interpreter(functions.clone())
        .run(&machine, "exec-1", json!({}))
        .await
        .result
        .unwrap_err();
    assert_eq!(failure, Failure::new("Sizes4", "a+b"));
    assert_eq!(functions.calls()[0].1, json!({"sizes": [3, 1]}));

    let functions_only = parse_machine(&json!({
        "QueryLanguage": "JSONata",
        "StartAt": "F",
        "States": {"F": {"Type": "Pass", "End": true, "Output": {
            "partition": "{% $partition([1,2,3,4], 3) %}", "range": "{% $range(0, 10, 5) %}",
            "hash": "{% $hash('input data', 'SHA-1') %}", "parsed": "{% $parse('{\"n\": 1}') %}",
            "uuid": "{% $length($uuid()) %}", "random": "{% $random() >= 0 and $random() < 1 %}",
            "states": "{% $count($keys($states)) %}"}}}
    }))
    .unwrap();
    assert_eq!(
        output_of(&functions_only, json!({})).await,
        json!({"partition": [[1, 2, 3], [4]], "range": [0, 5, 10],
               "hash": "aaff4a450a104cd177d28d18d74485e8cae074b7",
               "parsed": {"n": 1}, "uuid": 36, "random": true, "states": 2})
    );
}

/// "A JSONata expression may fail to return a result, for example \"{% $data.thisFieldDoesNot
/// Exist %}\", which is an error because JSON cannot represent an undefined value. In each
/// case, the interpreter will throw \"States.QueryEvaluationError\". Task, Map, and Parallel
/// states MAY use a Retrier to retry on the error, and a Catcher to catch the error."
/// (specification, JSONata Runtime Errors). A variable also hides the JSONata function of the
/// same name, as in the reference JSONata.
#[tokio::test]
async fn a_jsonata_expression_without_a_value_is_a_catchable_query_evaluation_error() {
    let machine = parse_machine(&json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Count",
        "States": {
            "Count": {"Type": "Pass", "Assign": {"count": 42}, "Next": "Call"},
            "Call": {"Type": "Task", "Resource": "echo", "End": true,
                "Arguments": {"missing": "{% $states.input.thisFieldDoesNotExist %}"},
                "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Caught",
                           "Output": {"error": "{% $states.errorOutput.Error %}", "count": "{% $count %}"}}]},
            "Caught": {"Type": "Succeed"}
        }
    }))
    .unwrap();
    assert_eq!(
        output_of(&machine, json!({})).await,
        json!({"error": "States.QueryEvaluationError", "count": 42})
    );
}

/// "A JSONata state machine cannot contain JSONPath states (the reverse is allowed)"; a field
/// of the other language, or an expression that does not parse, is refused at load with the
/// state and the field named.
#[test]
fn jsonata_and_jsonpath_fields_stay_in_their_own_language_and_expressions_must_parse() {
    let refused = |definition: Value, expected: &str| {
        let error = parse_machine(&definition).unwrap_err().to_string();
        assert!(error.contains(expected), "{error} does not say {expected}");
    };
    refused(
        json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}}),
        "a JSONata state machine cannot hold JSONPath states",
    );
    refused(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "QueryLanguage": "JSONata", "InputPath": "$.a", "End": true}}}),
        "field InputPath belongs to JSONPath",
    );
    refused(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": {}, "End": true}}}),
        "field Output belongs to JSONata",
    );
    refused(
        json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": {"a": ["{% $states.input.( %}"]}, "End": true}}}),
        "state P: field Output.a[0]",
    );
    refused(
        json!({"QueryLanguage": "JSONata", "StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "D",
            "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "D"}]}, "D": {"Type": "Succeed"}}}),
        "is not a field of a JSONata choice rule (Condition, Next, Assign, Output)",
    );
    refused(
        json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "x", "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "T"}]}}}),
        "a JSONata Catcher gives its output with Output",
    );
    refused(
        json!({"QueryLanguage": "JSONPathish", "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        "is not a query language",
    );
    let distributed_path = json!({"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {
        "Type": "Map", "End": true, "ToleratedFailureCountPath": "$.n",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}});
    refused(
        distributed_path,
        "field ToleratedFailureCountPath belongs to JSONPath",
    );
    let mixed = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Parameters": {"a.$": "$.a"}, "Next": "J"},
        "J": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.a %}", "End": true}}});
    assert!(parse_machine(&mixed).is_ok());
}

/// A JSONata expression that recurses without end fails its state with
/// `States.QueryEvaluationError` instead of exhausting the interpreter.
#[tokio::test]
async fn a_runaway_jsonata_expression_fails_its_state() {
    let machine = parse_machine(&json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Loop",
        "States": {"Loop": {"Type": "Pass", "End": true,
            "Output": "{% ($f := function($n) { $f($n + 1) }; $f(0)) %}"}}
    }))
    .unwrap();
    let failure = failure_of(&machine, json!({})).await;
    assert_eq!(failure.error, "States.QueryEvaluationError", "{failure:?}");
}

/// A run resumed after a restart takes the path it took and keeps the variables it had,
/// though its Choice reads a random number and its `Assign` a UUID and the time: the rule a
/// Choice took and the values an `Assign` stored are in the run's history.
#[tokio::test]
async fn a_resumed_run_takes_the_same_choices_and_keeps_the_same_variables() {
    let machine = parse_machine(&json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Stamp",
        "States": {
            "Stamp": {"Type": "Pass", "Next": "Flip",
                      "Assign": {"id": "{% $uuid() %}", "at": "{% $millis() %}"}},
            "Flip": {"Type": "Choice", "Default": "Tails",
                     "Choices": [{"Condition": "{% $random() < 0.5 %}", "Next": "Heads"}]},
            "Heads": {"Type": "Task", "Resource": "heads", "Arguments": {"id": "{% $id %}", "at": "{% $at %}"}, "End": true},
            "Tails": {"Type": "Task", "Resource": "tails", "Arguments": {"id": "{% $id %}", "at": "{% $at %}"}, "End": true}
        }
    }))
    .unwrap();
    let kept = Arc::new(Kept::default());
    let first = Arc::new(Functions::default());
    let mut running = interpreter(first.clone());
    running.history = kept.clone();
    let done = running.run(&machine, "e", json!({})).await;
    let side = first.calls()[0].0.clone();
    let history = kept.0.lock().unwrap().clone();
    assert!(
        matches!(
            history.as_slice(),
            [
                Record::Started { .. },
                Record::Assigned(_),
                Record::Chose(_),
                Record::Ran { .. }
            ]
        ),
        "{history:?}"
    );
    // Resumed once the Assign is recorded, the task gets the same id and time; once the choice
    // is recorded, the same task runs; once its result is, nothing runs again.
    for cut in 2..=history.len() {
        for _ in 0..8 {
            let again = Arc::new(Functions::default());
            let resumed = interpreter(again.clone())
                .resume(&machine, "e", json!({}), history[..cut].to_vec(), None)
                .await;
            assert_eq!(resumed.result, done.result, "resumed after {cut} entries");
            let invoked: Vec<String> = again.calls().into_iter().map(|(f, _)| f).collect();
            match cut {
                3 => assert_eq!(invoked, vec![side.clone()]),
                4 => assert!(invoked.is_empty()),
                _ => {}
            }
        }
    }
}

/// What the JSONata implementation lacks is refused at load (a reference function it does not
/// have, the parent operator it cannot parse), not met at run time; so is an expression that
/// reads the input document ("a JSONata expression MUST NOT reference \"$\" … at the top
/// level … MUST NOT reference \"$$\"").
#[test]
fn jsonata_the_local_implementation_lacks_is_refused_at_load() {
    for (expression, expected) in [
        (
            "{% $formatNumber(1234.5, '#,###.0') %}",
            "the JSONata function $formatNumber is not available locally",
        ),
        (
            "{% $states.input.a.% %}",
            "the JSONata implementation cannot evaluate this",
        ),
        ("{% $.order.total %}", "reads no input document"),
        ("{% $$.Execution.Id %}", "reads no input document"),
    ] {
        let definition = json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
            "P": {"Type": "Pass", "Output": {"x": expression}, "End": true, "Comment": "{% not (an expression %}"}}});
        let error = parse_machine(&definition).unwrap_err().to_string();
        assert!(
            error.contains("state P: field Output.x") && error.contains(expected),
            "{error} does not say {expected}"
        );
    }
}

/// Review cases: a JSONata value of the wrong type is the catchable
/// `States.QueryEvaluationError` ("A JSONata expression may evaluate to a type the field will
/// not accept … the interpreter will throw States.QueryEvaluationError"); naming
/// `States.DataLimitExceeded` catches an oversized `Assign`; a refused `Assign` stores nothing.
#[tokio::test]
async fn wrong_types_from_jsonata_and_oversized_variables_can_be_caught_by_name() {
    let items = parse_machine(&json!({
        "QueryLanguage": "JSONata", "StartAt": "M",
        "States": {
            "M": {"Type": "Map", "Items": "{% $states.input.l %}", "End": true,
                  "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}},
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C", "Output": "{% $states.errorOutput.Error %}"}]},
            "C": {"Type": "Succeed"}
        }
    }))
    .unwrap();
    assert_eq!(
        output_of(&items, json!({"l": "x"})).await,
        json!("States.QueryEvaluationError")
    );
    let oversized = parse_machine(&json!({
        "StartAt": "Small",
        "States": {
            "Small": {"Type": "Pass", "Assign": {"kept": "small"}, "Next": "Keep"},
            "Keep": {"Type": "Task", "Resource": "echo", "Next": "Done",
                     "Assign": {"kept": "replaced", "big.$": "$.blob"},
                     "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": "$.error", "Next": "Report"}]},
            "Report": {"Type": "Pass", "Parameters": {"kept.$": "$kept", "error.$": "$.error.Error"}, "End": true},
            "Done": {"Type": "Succeed"}
        }
    }))
    .unwrap();
    let blob = "x".repeat(300 * 1024);
    assert_eq!(
        output_of(&oversized, json!({"blob": blob})).await,
        json!({"kept": "small", "error": "States.DataLimitExceeded"})
    );
}

/// `asl run … | head`: a reader that stops reading ends the output, not the command (it
/// panicked on the broken pipe).
#[test]
fn asl_run_into_a_reader_that_stops_early_ends_quietly() {
    let dir = crate::local_stack::fresh_dir("asl-run-pipe");
    std::fs::create_dir_all(&dir).unwrap();
    let definition = dir.join("many.asl.json");
    // A thousand Map items through three states print far more than a pipe holds.
    std::fs::write(
        &definition,
        json!({"StartAt": "Make", "States": {
            "Make": {"Type": "Pass", "Parameters": {"items.$": "States.ArrayRange(1, 1000, 1)"}, "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.items", "End": true,
                     "ItemProcessor": {"StartAt": "One", "States": {
                         "One": {"Type": "Pass", "Next": "Two"},
                         "Two": {"Type": "Pass", "Next": "Three"},
                         "Three": {"Type": "Pass", "End": true}}}}}})
        .to_string(),
    )
    .unwrap();
    let mut child = std::process::Command::new(crate::local_stack::local_binary())
        .args(["asl", "run"])
        .arg(&definition)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A JSONata expression giving a Wait the wrong type of value is
/// `States.QueryEvaluationError` ("A JSONata expression may evaluate to a type the field will
/// not accept"), as for every field that takes a number.
#[tokio::test]
async fn a_jsonata_wait_given_no_number_fails_with_a_query_evaluation_error() {
    let machine = parse_machine(&json!({
        "QueryLanguage": "JSONata", "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": "{% 'soon' %}", "End": true}}
    }))
    .unwrap();
    let failure = failure_of(&machine, json!({})).await;
    assert_eq!(failure.error, "States.QueryEvaluationError");
    assert!(
        failure.cause.contains("not a number of seconds"),
        "{failure:?}"
    );
}

/// A history kept before Choice rules and task states were recorded (no `Chose`, task results
/// as bare `Result`s) still replays: the Choice decides again and the task's result is taken
/// from the history, not from a second invocation.
#[tokio::test]
async fn a_history_from_before_choices_were_recorded_still_replays() {
    let machine = parse_machine(&json!({
        "StartAt": "Route",
        "States": {
            "Route": {"Type": "Choice", "Default": "Call",
                      "Choices": [{"Variable": "$.skip", "IsPresent": true, "Next": "Skipped"}]},
            "Skipped": {"Type": "Succeed"},
            "Call": {"Type": "Task", "Resource": "echo", "End": true}
        }
    }))
    .unwrap();
    let legacy = vec![
        Record::Started {
            at: "2026-12-01T10:00:00.000Z".into(),
        },
        Record::Result(Ok(json!({"from": "history"}))),
    ];
    let functions = Arc::new(Functions::default());
    let resumed = interpreter(functions.clone())
        .resume(&machine, "e", json!({}), legacy, None)
        .await;
    assert_eq!(resumed.result, Ok(json!({"from": "history"})));
    assert!(functions.calls().is_empty(), "{:?}", functions.calls());
}
