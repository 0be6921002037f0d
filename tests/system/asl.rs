//! The local Amazon States Language interpreter on specification cases.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use vellocity_local::asl::definition::{parse_definition, parse_machine};
use vellocity_local::asl::run::{Event, Failure, History, Interpreter, Record, TaskRunner};

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
            json!({"value": 21, "execution": "exec-1"})
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

#[tokio::test]
async fn a_task_token_resumes_the_execution_with_the_sent_output_or_error() {
    let machine = parse_machine(&approval_machine()).unwrap();
    let functions = Arc::new(Functions::default());
    let interpreter = Arc::new(interpreter(functions.clone()));
    let running = {
        let (interpreter, machine) = (interpreter.clone(), machine.clone());
        tokio::spawn(async move { interpreter.run(&machine, "e", json!({"id": 1})).await })
    };
    let token = token_of(&functions).await;
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

    let functions = Arc::new(Functions::default());
    let interpreter = Arc::new(self::interpreter(functions.clone()));
    let running = {
        let (interpreter, machine) = (interpreter.clone(), machine.clone());
        tokio::spawn(async move { interpreter.run(&machine, "e", json!({})).await })
    };
    let token = token_of(&functions).await;
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
    let mut definition = approval_machine();
    definition["States"]["Wait for approval"]["TimeoutSeconds"] = json!(1);
    definition["States"]["Wait for approval"]["HeartbeatSeconds"] = json!(1);
    let machine = parse_machine(&definition).unwrap();
    let mut interpreter = Interpreter::new(Arc::new(Functions::default()));
    interpreter.time_scale = 0.01;
    let outcome = interpreter.run(&machine, "e", json!({})).await;
    let error = outcome.result.unwrap_err().error;
    assert!(
        error == "States.Timeout" || error == "States.HeartbeatTimeout",
        "{error}"
    );
}

#[test]
fn unsupported_features_and_broken_transitions_are_named() {
    let parallel =
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": true}}});
    assert!(parse_machine(&parallel)
        .unwrap_err()
        .to_string()
        .contains("Type \"Parallel\" is not supported"));
    let distributed = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "X", "States": {"X": {"Type": "Succeed"}}}, "End": true}}});
    assert!(parse_machine(&distributed)
        .unwrap_err()
        .to_string()
        .contains("DISTRIBUTED"));
    let field = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "x", "Credentials": {}, "End": true}}});
    assert!(parse_machine(&field)
        .unwrap_err()
        .to_string()
        .contains("field Credentials"));
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
    let jsonata =
        json!({"QueryLanguage": "JSONata", "StartAt": "T", "States": {"T": {"Type": "Succeed"}}});
    assert!(parse_machine(&jsonata).is_err());
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
    // A failure, its retry, the wait and two Map items.
    assert_eq!(history.len(), 5, "{history:?}");
    assert_eq!(first.calls().len(), 4);

    // Interrupted after any entry, the run resumed from it invokes only what was not recorded.
    for cut in 0..=history.len() {
        // The planned failure happens again only if its result was not recorded.
        let again = Functions::failing("flaky", u32::from(cut == 0), "Throttled");
        let resumed = interpreter(again.clone())
            .resume(&machine, "e", input.clone(), history[..cut].to_vec(), None)
            .await;
        assert_eq!(resumed.result, done.result, "resumed after {cut} entries");
        let invoked = again.calls().len();
        let recorded_calls = history[..cut]
            .iter()
            .filter(|r| matches!(r, Record::Result(_)))
            .count();
        assert_eq!(invoked, 4 - recorded_calls, "resumed after {cut} entries");
    }
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
