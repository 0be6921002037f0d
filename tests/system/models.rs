//! Real models through their wire formats: an OpenAI-compatible chat endpoint (as Ollama,
//! llama.cpp's server and vLLM speak it) behind the same ports as Bedrock, and whole executions
//! against a Bedrock endpoint that caches prompt prefixes at their cache points and holds
//! answers to the structured-output schema, as Bedrock does.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};
use vellocity::domain::catalog::DEFAULT_TEXT;
use vellocity::local::openai::OpenAiCompatible;
use vellocity::ports::ai::{AiError, AnswerSchema, ImageGen, ImageRequest, Llm, TextRequest};

use crate::bedrock::{bedrock, text_request};
use crate::helpers::TestApp;
use crate::http_endpoint;
use crate::local_stack::{fresh_dir, local_binary};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

/// A plan every test agent may run: one blog post.
fn blog_plan() -> Value {
    json!({"steps": [{"capability": "generate_text", "title": "Launch post",
                      "input": {"format": "blog_post", "topic": "Deploy Guard"}}]})
}

/// Tokens of a text, as the fakes count them: one per four bytes.
fn tokens_of(text: &str) -> i64 {
    (text.len() as i64 + 3) / 4
}

/// What a fake endpoint was asked: (path, JSON body).
type Asked = Arc<Mutex<Vec<(String, Value)>>>;

fn json_reply(status: u16, body: Value) -> http_endpoint::Reply {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// An OpenAI-compatible endpoint: lists `tiny-local`; plans when asked for the `plan` schema
/// (the scripted answers first, then a valid plan); otherwise echoes the question. It caches
/// prompt prefixes as vLLM and llama.cpp do on their own: a prompt starting with an earlier
/// one's system message reports those tokens as `cached_tokens`. Models named `throttled`,
/// `overloaded` and `missing` answer 429, 503 and 404; `no-usage` streams without its usage;
/// `painter` draws.
struct OpenAiEndpoint {
    addr: SocketAddr,
    asked: Asked,
}

impl OpenAiEndpoint {
    async fn start(scripted_plans: Vec<String>) -> OpenAiEndpoint {
        let asked: Asked = Arc::default();
        let log = asked.clone();
        let plans = Mutex::new(scripted_plans);
        let systems: Mutex<HashSet<String>> = Mutex::default();
        let addr = http_endpoint::serve(move |parts, bytes| {
            let path = parts.uri.path().to_owned();
            let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
            log.lock().unwrap().push((path.clone(), body.clone()));
            match (parts.method.as_str(), path.as_str()) {
                ("GET", "/v1/models") => json_reply(
                    200,
                    json!({"object": "list", "data": [{"id": "tiny-local", "object": "model"}]}),
                ),
                ("POST", "/v1/images/generations") if body["model"] == "painter" => json_reply(
                    200,
                    json!({"created": 1, "data": [{"b64_json": base64::engine::general_purpose::STANDARD.encode(PNG)}]}),
                ),
                ("POST", "/v1/chat/completions") => {
                    match body["model"].as_str().unwrap_or_default() {
                        "throttled" => {
                            return json_reply(
                                429,
                                json!({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}),
                            )
                        }
                        "overloaded" => {
                            return json_reply(503, json!({"error": {"message": "server busy"}}))
                        }
                        "missing" => {
                            return json_reply(
                                404,
                                json!({"error": {"message": "model \"missing\" not found, try pulling it first"}}),
                            )
                        }
                        _ => {}
                    }
                    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
                    let last = body["messages"]
                        .as_array()
                        .and_then(|m| m.last())
                        .and_then(|m| m["content"].as_str())
                        .unwrap_or_default();
                    let text = if body["response_format"]["json_schema"]["name"] == "plan" {
                        let mut plans = plans.lock().unwrap();
                        match plans.is_empty() {
                            true => blog_plan().to_string(),
                            false => plans.remove(0),
                        }
                    } else {
                        format!("Local model copy about {}", &last[..last.len().min(40)])
                    };
                    let prompt: i64 = body["messages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| tokens_of(m["content"].as_str().unwrap_or_default()))
                        .sum();
                    let cached = match systems.lock().unwrap().insert(system.to_owned()) {
                        true => 0,
                        false => tokens_of(system),
                    };
                    let usage = json!({"prompt_tokens": prompt, "completion_tokens": tokens_of(&text),
                                       "total_tokens": prompt + tokens_of(&text),
                                       "prompt_tokens_details": {"cached_tokens": cached}});
                    if body["stream"] == true {
                        let usage = match body["model"] == "no-usage" {
                            true => Value::Null,
                            false => usage,
                        };
                        return stream_reply(&text, &usage);
                    }
                    json_reply(
                        200,
                        json!({"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                            "finish_reason": "stop"}],
                               "usage": usage}),
                    )
                }
                _ => json_reply(404, json!({"error": {"message": "404 page not found"}})),
            }
        })
        .await;
        OpenAiEndpoint { addr, asked }
    }

    fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn chat_requests(&self) -> Vec<Value> {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _)| path == "/v1/chat/completions")
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// A streamed completion as server-sent events: the text in pieces, the finish, the usage
/// (none when `usage` is null, as from an endpoint that ignores `include_usage`).
fn stream_reply(text: &str, usage: &Value) -> http_endpoint::Reply {
    let mut events = String::new();
    let chunk = |choices: Value, usage: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": choices, "usage": usage})
        )
    };
    events.push_str(&chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        Value::Null,
    ));
    for piece in text.split_inclusive(' ') {
        events.push_str(&chunk(
            json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]),
            Value::Null,
        ));
    }
    events.push_str(&chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        Value::Null,
    ));
    if !usage.is_null() {
        events.push_str(&chunk(json!([]), usage.clone()));
    }
    events.push_str("data: [DONE]\n\n");
    hyper::Response::builder()
        .header("content-type", "text/event-stream")
        .body(Full::new(Bytes::from(events)))
        .unwrap()
}

async fn connect(endpoint: &OpenAiEndpoint, model: Option<&str>) -> OpenAiCompatible {
    OpenAiCompatible::connect(&endpoint.url(), model.map(str::to_owned), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_openai_compatible_endpoint_answers_in_its_own_model_with_tokens_and_cached_tokens() {
    let endpoint = OpenAiEndpoint::start(vec![]).await;
    let model = connect(&endpoint, None).await;
    assert_eq!(
        model.text_model(),
        "tiny-local",
        "without a name, the first model the endpoint lists"
    );

    let first = model.converse(text_request(DEFAULT_TEXT)).await.unwrap();
    let again = model.converse(text_request(DEFAULT_TEXT)).await.unwrap();

    assert!(first
        .text
        .starts_with("Local model copy about Write a tagline"));
    assert_eq!(first.model, "tiny-local");
    assert_eq!(first.stop_reason, "end_turn");
    let system = tokens_of("You write in the Acme brand voice.");
    let prompt = system + tokens_of("Write a tagline.");
    assert_eq!((first.input_tokens, first.cache_read_tokens), (prompt, 0));
    assert_eq!(
        (again.input_tokens, again.cache_read_tokens),
        (prompt - system, system),
        "the cached prefix is counted apart from the tokens read at the full price"
    );
    let asked = endpoint.chat_requests();
    assert_eq!(asked[0]["model"], "tiny-local");
    assert_eq!(
        asked[0]["messages"],
        json!([{"role": "system", "content": "You write in the Acme brand voice."},
               {"role": "user", "content": "Write a tagline."}])
    );
    assert_eq!(
        (asked[0]["max_tokens"].clone(), asked[0]["stream"].clone()),
        (json!(256), json!(false))
    );
}

#[tokio::test]
async fn a_streamed_openai_compatible_answer_arrives_in_pieces_and_ends_with_its_usage() {
    let endpoint = OpenAiEndpoint::start(vec![]).await;
    let model = connect(&endpoint, Some("tiny-local")).await;
    let (sink, mut pieces) = tokio::sync::mpsc::unbounded_channel();
    let answer = model
        .converse_stream(text_request(DEFAULT_TEXT), &sink)
        .await
        .unwrap();
    drop(sink);
    let mut received = Vec::new();
    while let Some(piece) = pieces.recv().await {
        received.push(piece);
    }
    assert!(received.len() > 3, "{received:?}");
    assert_eq!(received.concat(), answer.text);
    assert!(answer.output_tokens > 0 && answer.input_tokens > 0);
    let asked = endpoint.chat_requests();
    assert_eq!(asked[0]["stream"], true);
    assert_eq!(asked[0]["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn an_openai_compatible_endpoint_that_throttles_or_fails_gives_retryable_errors_and_refusals_are_not(
) {
    let endpoint = OpenAiEndpoint::start(vec![]).await;
    for (name, check) in [
        (
            "throttled",
            (|e: &AiError| matches!(e, AiError::Throttled(m) if m.contains("Rate limit reached")))
                as fn(&AiError) -> bool,
        ),
        (
            "overloaded",
            |e| matches!(e, AiError::Unavailable(m) if m == "HTTP 503: server busy"),
        ),
        (
            "missing",
            |e| matches!(e, AiError::Rejected(m) if m.contains("not found, try pulling it first")),
        ),
    ] {
        let model = connect(&endpoint, Some(name)).await;
        let error = model
            .converse(text_request(DEFAULT_TEXT))
            .await
            .unwrap_err();
        assert!(check(&error), "{name}: {error:?}");
    }
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nobody = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = OpenAiCompatible::connect(&nobody, Some("x".into()), None)
        .await
        .unwrap();
    assert!(matches!(
        unreachable.converse(text_request(DEFAULT_TEXT)).await,
        Err(AiError::Unavailable(m)) if m.contains("cannot reach")
    ));
}

#[tokio::test]
async fn a_schema_is_sent_as_the_response_format_and_images_come_only_from_an_image_model() {
    let endpoint = OpenAiEndpoint::start(vec![]).await;
    let model = connect(&endpoint, Some("tiny-local")).await;
    let schema = json!({"type": "object", "properties": {"steps": {"type": "array"}}});
    let request = TextRequest {
        answer_schema: Some(AnswerSchema {
            name: "plan",
            description: "The steps.",
            schema: schema.clone(),
        }),
        ..text_request(DEFAULT_TEXT)
    };
    let answer = model.converse(request).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&answer.text).unwrap(),
        blog_plan()
    );
    assert_eq!(
        endpoint.chat_requests()[0]["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "plan", "description": "The steps.", "schema": schema}})
    );

    let image = |model: &'static str| ImageRequest {
        model: model.into(),
        prompt: "a rocket".into(),
        width: 1024,
        height: 1024,
        seed: 1,
    };
    let painter = OpenAiCompatible::connect(
        &endpoint.url(),
        Some("tiny-local".into()),
        Some("painter".into()),
    )
    .await
    .unwrap();
    let drawn = painter
        .generate(image("amazon.nova-canvas-v1:0"))
        .await
        .unwrap();
    assert_eq!(
        (drawn.model.as_str(), drawn.png.as_slice()),
        ("painter", PNG)
    );
    let blind = OpenAiCompatible::connect(
        &endpoint.url(),
        Some("tiny-local".into()),
        Some("sketcher".into()),
    )
    .await
    .unwrap();
    assert!(matches!(
        blind.generate(image("amazon.nova-canvas-v1:0")).await,
        Err(AiError::Rejected(m)) if m.contains("does not draw images")
    ));
    assert!(matches!(
        model.generate(image("amazon.nova-canvas-v1:0")).await,
        Err(AiError::Rejected(m)) if m.contains("--image-model-name")
    ));
}

/// A team with a brand and an agent that writes, on the local stack with `llm`.
async fn team_with_agent(llm: Arc<dyn Llm>) -> (TestApp, String, String) {
    team_with_agent_planning_with(llm, None).await
}

/// [`team_with_agent`], its agent planning with `planner` (the catalog's default if `None`).
async fn team_with_agent_planning_with(
    llm: Arc<dyn Llm>,
    planner: Option<&str>,
) -> (TestApp, String, String) {
    let app = TestApp::with_llm(llm);
    let team = app.create_team("Acme").await;
    let company = json!({"name": "Acme Cloud", "brand_voice": {"tone": "warm", "banned_phrases": ["synergy"]}});
    let company = app.post(&team.key, "/v1/companies", company).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut agent = json!({"name": "Writer", "allowed_capabilities": ["generate_text", "analyze_content"],
                           "default_company_id": company});
    if let Some(planner) = planner {
        agent["models"] = json!({"planner": planner});
    }
    let agent = app.post_agent(&team.key, agent).await;
    (app, team.key, agent)
}

async fn run(app: &TestApp, key: &str, agent: &str, request: &str, status: &str) -> Value {
    let started = app
        .start_execution(key, agent, json!({ "request": request }))
        .await;
    assert_eq!(started.status, 202, "{started:?}");
    let id = started.body["id"].as_str().unwrap();
    app.wait_for(key, id, status).await.body
}

#[tokio::test]
async fn an_execution_runs_on_an_openai_compatible_endpoint_with_a_repaired_plan() {
    let not_allowed = json!({"steps": [{"capability": "generate_image", "title": "Art", "input": {"prompt": "x"}}]});
    let endpoint = OpenAiEndpoint::start(vec![not_allowed.to_string()]).await;
    let model = connect(&endpoint, Some("tiny-local")).await;
    let (app, key, agent) = team_with_agent(Arc::new(model)).await;

    let execution = run(&app, &key, &agent, "Write a launch post", "succeeded").await;

    assert_eq!(execution["plan"][0]["model"], "tiny-local");
    assert!(execution["plan"][0]["output"]["text"]
        .as_str()
        .unwrap()
        .starts_with("Local model copy"));
    let asked = endpoint.chat_requests();
    let plans: Vec<&Value> = asked
        .iter()
        .filter(|body| body["response_format"]["json_schema"]["name"] == "plan")
        .collect();
    assert_eq!(plans.len(), 2, "one plan and one repair");
    let offered: Vec<&Value> = plans[0]["response_format"]["json_schema"]["schema"]["properties"]
        ["steps"]["items"]["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| &step["properties"]["capability"]["const"])
        .collect();
    assert_eq!(
        offered,
        [&json!("generate_text"), &json!("analyze_content")]
    );
    assert!(
        plans[1]["messages"].as_array().unwrap().last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("may not use")
    );
}

#[tokio::test]
async fn a_plan_still_invalid_after_its_repair_fails_the_execution_with_invalid_plan_and_a_refund()
{
    let nonsense = "{\"steps\": []}".to_owned();
    let endpoint = OpenAiEndpoint::start(vec![nonsense.clone(), nonsense]).await;
    let model = connect(&endpoint, Some("tiny-local")).await;
    let (app, key, agent) = team_with_agent(Arc::new(model)).await;

    let execution = run(&app, &key, &agent, "Write a launch post", "failed").await;

    assert_eq!(execution["error"]["code"], "InvalidPlan");
    assert_eq!(
        execution["credits"]["used"], 0,
        "a plan that never ran is not charged"
    );
    assert_eq!(
        execution["credits"]["refunded"], execution["credits"]["reserved"],
        "everything reserved is refunded"
    );
    assert_eq!(app.credits(&key).await, (200, 0));
}

/// The guardrail the Bedrock endpoint knows (version 1).
const GUARDRAIL: &str = "gr1a2b3c";

/// A Bedrock Converse endpoint (restJson1) that caches as Bedrock does: the system text
/// before a `cachePoint` is written to the cache the first time it is seen and read from it
/// afterwards, each counted apart from `inputTokens`. A request with `outputConfig`'s JSON
/// Schema gets a plan (about "forbidden claims" when asked about claims); any other an
/// echo. Under guardrail [`GUARDRAIL`] a last message saying "forbidden" is blocked.
async fn caching_bedrock() -> (SocketAddr, Asked) {
    let asked: Asked = Arc::default();
    let log = asked.clone();
    let cached: Mutex<HashSet<String>> = Mutex::default();
    let addr = http_endpoint::serve(move |parts, bytes| {
        let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        log.lock().unwrap().push((parts.uri.path().to_owned(), body.clone()));
        let blocks = body["system"].as_array().cloned().unwrap_or_default();
        let point = blocks.iter().position(|b| b.get("cachePoint").is_some());
        let text = |blocks: &[Value]| -> String {
            blocks.iter().filter_map(|b| b["text"].as_str()).collect()
        };
        let (prefix, rest) = match point {
            Some(at) => (text(&blocks[..at]), text(&blocks[at + 1..])),
            None => (String::new(), text(&blocks)),
        };
        let (read, written) = match (prefix.is_empty(), cached.lock().unwrap().insert(prefix.clone())) {
            (true, _) => (0, 0),
            (false, true) => (0, tokens_of(&prefix)),
            (false, false) => (tokens_of(&prefix), 0),
        };
        let messages: i64 = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| tokens_of(m["content"][0]["text"].as_str().unwrap_or_default()))
            .sum();
        let last = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"][0]["text"].as_str())
            .unwrap_or_default()
            .to_owned();
        let schema = &body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"];
        let guarded = body["guardrailConfig"]
            == json!({"guardrailIdentifier": GUARDRAIL, "guardrailVersion": "1", "trace": "disabled"});
        let (answer, stop) = match schema.as_str() {
            _ if guarded && last.contains("forbidden") => {
                ("Sorry, I can't help with that.".to_owned(), "guardrail_intervened")
            }
            Some(schema) => {
                serde_json::from_str::<Value>(schema).expect("the schema is JSON text");
                let mut plan = blog_plan();
                if last.contains("claims") {
                    plan["steps"][0]["input"]["topic"] = json!("forbidden claims");
                }
                (plan.to_string(), "end_turn")
            }
            None => ("Bedrock copy for the launch.".to_owned(), "end_turn"),
        };
        // A model made to call the answer's tool answers with the call: its input is the plan.
        let (content, stop) = match &body["toolConfig"]["toolChoice"]["tool"]["name"] {
            Value::String(tool) if stop == "end_turn" => (
                json!([{"toolUse": {"toolUseId": "tooluse_1", "name": tool, "input": blog_plan()}}]),
                "tool_use",
            ),
            _ => (json!([{"text": answer}]), stop),
        };
        json_reply(
            200,
            json!({
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": stop,
                "usage": {"inputTokens": tokens_of(&rest) + messages, "outputTokens": tokens_of(&answer),
                          "totalTokens": 0, "cacheReadInputTokens": read, "cacheWriteInputTokens": written},
                "metrics": {"latencyMs": 12}
            }),
        )
    })
    .await;
    (addr, asked)
}

#[tokio::test]
async fn a_second_execution_for_the_same_brand_reads_its_prompt_prefix_from_the_cache_at_the_lower_price(
) {
    let (addr, asked) = caching_bedrock().await;
    let (app, key, agent) = team_with_agent(Arc::new(bedrock(addr))).await;

    let first = run(&app, &key, &agent, "Write a launch post", "succeeded").await;
    let second = run(&app, &key, &agent, "Write a follow-up post", "succeeded").await;

    let tokens = |execution: &Value| execution["tokens"][DEFAULT_TEXT].clone();
    let (first_tokens, second_tokens) = (tokens(&first), tokens(&second));
    assert!(
        first_tokens["cache_write"].as_i64().unwrap() > 0,
        "{first_tokens}"
    );
    assert_eq!(
        first_tokens["cache_read"],
        Value::Null,
        "nothing to read yet: {first_tokens}"
    );
    assert!(
        second_tokens["cache_read"].as_i64().unwrap() > 0,
        "{second_tokens}"
    );
    assert!(
        second_tokens["cost_micro_usd"].as_i64() < first_tokens["cost_micro_usd"].as_i64(),
        "cached reads cost less than the writes: {first_tokens} {second_tokens}"
    );
    assert!(
        second["plan"][0]["tokens"]["cache_read"].as_i64() > Some(0),
        "the writer's prefix (voice, rules, facts) is cached too: {}",
        second["plan"][0]
    );

    let usage = app.get(&key, "/v1/usage?group_by=model").await;
    let totals = &usage.body["totals"];
    assert_eq!(
        totals["cache_read_tokens"].as_i64(),
        second_tokens["cache_read"].as_i64(),
        "{}",
        usage.body
    );
    assert_eq!(
        totals["cache_write_tokens"].as_i64(),
        first_tokens["cache_write"].as_i64()
    );

    let asked = asked.lock().unwrap();
    let plan = &asked[0].1;
    assert!(
        plan["system"][1]["cachePoint"] == json!({"type": "default"}),
        "{}",
        plan["system"]
    );
    assert_eq!(
        plan["outputConfig"]["textFormat"]["type"], "json_schema",
        "Claude Sonnet 4.5 is held to the plan's schema"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_against_an_openai_compatible_endpoint() {
    let endpoint = OpenAiEndpoint::start(vec![]).await;
    let url = endpoint.url();
    let output = demo(&["--model", "openai", "--model-url", &url], &[]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Local model copy"),
        "the endpoint wrote the results: {stdout}"
    );
    assert!(
        stdout.contains("tiny-local:"),
        "its tokens are shown by model: {stdout}"
    );
    let asked = endpoint.chat_requests();
    assert!(asked.iter().all(|body| body["model"] == "tiny-local"));
    assert!(
        asked
            .iter()
            .any(|body| body["response_format"]["json_schema"]["name"] == "plan"),
        "the plan is asked for with its schema"
    );
}

/// Runs `vellocity-local demo` with `args` and `env` in a fresh data directory; asserts it
/// succeeded and answers its output.
async fn demo(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let (binary, dir) = (local_binary(), fresh_dir("demo-model"));
    let mut command = std::process::Command::new(binary);
    command.arg("--data-dir").arg(&dir).arg("demo").args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output =
        tokio::task::spawn_blocking(move || command.output().expect("vellocity-local runs"))
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("succeeded"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
    output
}

/// `--model bedrock` calls Bedrock with the usual AWS variables (here, an endpoint speaking
/// its wire format): the plan and the copy come from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_against_bedrock_with_the_usual_aws_variables() {
    let (addr, asked) = caching_bedrock().await;
    let env = [
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", format!("http://{addr}")),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ];
    let output = demo(&["--model", "bedrock"], &env).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Bedrock copy for the launch."), "{stdout}");
    assert!(
        asked
            .lock()
            .unwrap()
            .iter()
            .any(|(_, body)| body["outputConfig"]["textFormat"]["type"] == "json_schema"),
        "the plan came from Bedrock"
    );
}

#[tokio::test]
async fn a_teams_guardrail_blocks_a_plan_marks_a_step_and_a_reply_and_an_openai_endpoint_refuses_it(
) {
    let (addr, asked) = caching_bedrock().await;
    let (app, key, agent) = team_with_agent(Arc::new(bedrock(addr))).await;
    let guardrail = json!({"guardrail": {"id": GUARDRAIL, "version": "1"}});
    assert_eq!(app.patch(&key, "/v1/team", guardrail).await.status, 200);

    let blocked = run(&app, &key, &agent, "Write a forbidden post", "failed").await;
    assert_eq!(blocked["error"]["code"], "GuardrailIntervened", "{blocked}");
    assert_eq!(blocked["credits"]["used"], 0, "nothing ran: {blocked}");
    assert_eq!(
        blocked["credits"]["refunded"],
        blocked["credits"]["reserved"]
    );

    let marked = run(&app, &key, &agent, "Write about our claims", "succeeded").await;
    let step = &marked["plan"][0];
    assert_eq!(step["guardrail_intervened"], true, "{step}");
    assert_eq!(step["output"]["text"], "Sorry, I can't help with that.");
    let clean = run(&app, &key, &agent, "Write a launch post", "succeeded").await;
    assert_eq!(clean["plan"][0]["guardrail_intervened"], false);
    assert!(asked
        .lock()
        .unwrap()
        .iter()
        .all(|(_, body)| body["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL));

    let conversation = app.post_conversation(&key, json!({"title": "Q"})).await;
    let path = format!("/v1/conversations/{conversation}/messages");
    let reply = app
        .post(&key, &path, json!({"content": "a forbidden question"}))
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(
        reply.body["reply"]["guardrail_intervened"], true,
        "{:?}",
        reply.body
    );

    let endpoint = OpenAiEndpoint::start(vec![]).await;
    let model = connect(&endpoint, Some("tiny-local")).await;
    let guarded = TextRequest {
        guardrail: Some(vellocity::domain::team::Guardrail {
            id: GUARDRAIL.into(),
            version: "1".into(),
        }),
        ..text_request(DEFAULT_TEXT)
    };
    assert!(matches!(
        model.converse(guarded).await,
        Err(AiError::Rejected(m)) if m.contains("--model bedrock")
    ));
    assert!(
        endpoint.chat_requests().is_empty(),
        "nothing is sent unguarded"
    );
}

#[tokio::test]
async fn a_model_without_structured_output_is_made_to_answer_the_plan_as_a_tool_call() {
    let (addr, asked) = caching_bedrock().await;
    let nova = "us.amazon.nova-pro-v1:0";
    let (app, key, agent) =
        team_with_agent_planning_with(Arc::new(bedrock(addr)), Some(nova)).await;

    let execution = run(&app, &key, &agent, "Write a launch post", "succeeded").await;

    assert_eq!(
        execution["plan"][0]["capability"], "generate_text",
        "{execution}"
    );
    let asked = asked.lock().unwrap();
    let plan = asked
        .iter()
        .find(|(path, _)| path.contains("nova-pro"))
        .map(|(_, body)| body)
        .expect("the planner was Nova");
    assert_eq!(
        plan["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "plan"}})
    );
    let tool = &plan["toolConfig"]["tools"][0]["toolSpec"];
    assert_eq!(tool["name"], "plan");
    assert!(
        tool["inputSchema"]["json"]["properties"]["steps"]["items"]["anyOf"].is_array(),
        "{tool}"
    );
    assert!(
        plan["outputConfig"].is_null(),
        "Nova has no structured output"
    );
}

/// A reply is charged by its tokens: a stream that ends without them is not a reply to store.
#[tokio::test]
async fn a_stream_that_ends_without_its_usage_is_unavailable_not_a_free_reply() {
    let endpoint = OpenAiEndpoint::start(vec![]).await;
    let model = connect(&endpoint, Some("no-usage")).await;
    let (sink, _pieces) = tokio::sync::mpsc::unbounded_channel();
    let answer = model
        .converse_stream(text_request(DEFAULT_TEXT), &sink)
        .await;
    assert!(
        matches!(&answer, Err(AiError::Unavailable(m)) if m.contains("include_usage")),
        "{answer:?}"
    );
}
