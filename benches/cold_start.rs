//! Cold start and warm invoke of a route function against the hello-world baseline, with
//! DynamoDB reached over plain HTTP and over HTTPS (as it is in AWS: here a TLS terminator on
//! loopback in front of DynamoDB Local).
//!
//! Each function process runs under a fake Lambda Runtime API on loopback, the protocol
//! `lambda_runtime` speaks (`GET /2018-06-01/runtime/invocation/next`, `POST …/response`),
//! which times:
//! - **init**: process spawn to its first `GET …/next` (what Lambda reports as Init Duration);
//! - **first invoke** and **warm invoke**: event handed over to its response received.
//!
//! Runs of the three kinds are interleaved, so their ratios hold on a shared, noisy machine.
//!
//! Then the AWS cost of a four-step execution, from counts measured on the local stack over
//! DynamoDB Local (the same code and state machine files as deployed): express runs and their
//! duration, standard state transitions, task invocations, capacity units as DynamoDB bills
//! them (`ReturnConsumedCapacity`; a transaction's items billed one by one from their sizes,
//! which DynamoDB Local misreports), queue messages and objects, priced at the published prices in [`Prices`], with the assumptions
//! the counts cannot make stated beside them.
//! `scripts/bench.sh` builds the release binaries (`get-team` and the `hello-world` example)
//! and starts DynamoDB Local (`VELLOCITY_TEST_DYNAMODB_ENDPOINT`) before running it:
//! `cargo bench --bench cold_start`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use common::{demo_agent, request, run_execution};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Mutex};
use vellocity::agentcore::dispatch::{deliver, Delivery};
use vellocity::app::{credits, teams, App};
use vellocity::aws::dynamodb::{ConsumedCapacity, DynamoDbTable};
use vellocity::domain::plans::Plans;
use vellocity::ports::objects::{ObjectError, ObjectStore};
use vellocity::ports::queue::{Queue, QueueError};
use vellocity::ports::table::{Key, Table};
use vellocity::ports::SystemClock;
use vellocity_local::asl::run::Event;
use vellocity_local::engine::EndedRun;
use vellocity_local::{offline, samples, Stack};

mod common;

/// Processes started per kind of run.
const RUNS: usize = 15;
/// Invokes per process after the first.
const WARM_INVOKES: usize = 20;
/// Limits no run reaches: every invoke is a request of the sample team.
const PLANS: &str = r#"{"marketplace": 10000, "trial": {"credits": 1000, "requests_per_second": 100000, "burst": 100000, "requests_per_day": 100000000}}"#;

/// One event handed to the function: the request id and the body of `GET …/next`.
type Invocation = (String, Vec<u8>);

/// A fake Lambda Runtime API for one function process.
struct RuntimeApi {
    address: String,
    /// Each `GET …/next` as it arrives, waiting for the event to answer it with.
    next: mpsc::UnboundedReceiver<oneshot::Sender<Invocation>>,
    /// Each `POST …/response` (or `…/error`): request id, whether it is an error, body.
    responses: mpsc::UnboundedReceiver<(String, bool, Bytes)>,
}

impl RuntimeApi {
    async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (next_tx, next) = mpsc::unbounded_channel();
        let (response_tx, responses) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (next_tx, response_tx) = (next_tx.clone(), response_tx.clone());
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (next_tx, response_tx) = (next_tx.clone(), response_tx.clone());
                    async move {
                        Ok::<_, Infallible>(runtime_answer(request, next_tx, response_tx).await)
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        RuntimeApi {
            address,
            next,
            responses,
        }
    }
}

/// The runtime API's answer to one request of the function.
async fn runtime_answer(
    request: Request<hyper::body::Incoming>,
    next: mpsc::UnboundedSender<oneshot::Sender<Invocation>>,
    responses: mpsc::UnboundedSender<(String, bool, Bytes)>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        let (hand, event) = oneshot::channel();
        let _ = next.send(hand);
        let Ok((request_id, body)) = event.await else {
            return Response::builder()
                .status(500)
                .body(Full::default())
                .unwrap();
        };
        let deadline =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
        return Response::builder()
            .header("lambda-runtime-aws-request-id", request_id)
            .header(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            )
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(body)))
            .unwrap();
    }
    let error = path.ends_with("/error");
    let request_id = path
        .trim_start_matches("/2018-06-01/runtime/invocation/")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let _ = responses.send((request_id, error, body));
    Response::builder()
        .status(202)
        .body(Full::default())
        .unwrap()
}

/// What one process measured.
struct Run {
    init: Duration,
    first_invoke: Duration,
    warm_invokes: Vec<Duration>,
}

/// A function to start: its binary, its environment and the event it answers.
struct Function {
    label: &'static str,
    binary: PathBuf,
    env: HashMap<String, String>,
    event: Vec<u8>,
    /// Checks a response: the run measures answers, not failures.
    check: fn(&[u8]),
}

impl Function {
    async fn run(&self) -> Run {
        let mut runtime = RuntimeApi::start().await;
        let started = Instant::now();
        let mut child = Command::new(&self.binary)
            .env_clear()
            .envs(&self.env)
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.binary.display()));
        let mut hand = self.next(&mut runtime, &mut child).await;
        let init = started.elapsed();
        let mut invokes = Vec::with_capacity(WARM_INVOKES + 1);
        for n in 0..=WARM_INVOKES {
            let request_id = format!("bench-{n}");
            let sent = Instant::now();
            hand.send((request_id.clone(), self.event.clone())).unwrap();
            let (answered, error, body) = runtime.responses.recv().await.unwrap();
            invokes.push(sent.elapsed());
            assert!(!error, "{}: the invoke failed: {body:?}", self.label);
            assert_eq!(answered, request_id);
            (self.check)(&body);
            hand = self.next(&mut runtime, &mut child).await;
        }
        child.kill().await.unwrap();
        Run {
            init,
            first_invoke: invokes[0],
            warm_invokes: invokes.split_off(1),
        }
    }

    /// Waits for the function's next `GET …/next`, or reports how it died.
    async fn next(
        &self,
        runtime: &mut RuntimeApi,
        child: &mut Child,
    ) -> oneshot::Sender<Invocation> {
        tokio::select! {
            hand = runtime.next.recv() => hand.unwrap(),
            status = child.wait() => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = pipe.read_to_string(&mut stderr).await;
                }
                panic!("{} exited ({status:?}) before asking for an event: {stderr}", self.label)
            }
        }
    }
}

/// An API Gateway answer with status 200.
fn answered_200(body: &[u8]) {
    let answer: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
}

/// DynamoDB answered at once on loopback: each operation's request goes to DynamoDB Local the
/// first time, and its answer is replayed for that operation (`X-Amz-Target`) ever after. Runs
/// against it measure the function's own time; DynamoDB Local on the JVM takes milliseconds a
/// call here, which DynamoDB does not.
async fn replaying(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let answers: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (answers, upstream) = (answers.clone(), upstream.clone());
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let (answers, upstream) = (answers.clone(), upstream.clone());
                async move {
                    let target = request.headers()["x-amz-target"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await.unwrap().to_bytes();
                    // A read is answered for its key; a write (whose values change each time,
                    // as the limiter's do) for its operation.
                    let replayed = match target.ends_with("GetItem") {
                        true => format!("{target} {}", String::from_utf8_lossy(&body)),
                        false => target,
                    };
                    let known = answers.lock().await.get(&replayed).cloned();
                    let (status, content_type, body) = match known {
                        Some(answer) => answer,
                        None => {
                            let request = Request::from_parts(parts, Full::new(body));
                            let answer = forward(&upstream, request).await;
                            answers.lock().await.insert(replayed, answer.clone());
                            answer
                        }
                    };
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(status)
                            .header("content-type", content_type)
                            .body(Full::new(body))
                            .unwrap(),
                    )
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    address
}

/// An HTTP answer: status, content type and body.
type Answer = (u16, String, Bytes);

/// Sends `request` on to `upstream`; its answer.
async fn forward(upstream: &str, request: Request<Full<Bytes>>) -> Answer {
    let stream = TcpStream::connect(upstream).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (
        status,
        content_type,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// A TLS terminator on loopback in front of `upstream`: HTTPS to DynamoDB Local, with a
/// certificate for `localhost` made for this run. Returns its port and the PEM of its
/// certificate.
async fn tls_terminator(upstream: String, dir: &Path) -> u16 {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl makes the terminator's certificate");
    assert!(made.success());
    let certs = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// This machine's root certificates and the terminator's, in one file for `SSL_CERT_FILE`:
/// every function run reads the same roots (a bundle file, as on Amazon Linux 2023).
fn roots_bundle(dir: &Path) -> PathBuf {
    let system = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .iter()
    .find_map(|path| std::fs::read_to_string(path).ok())
    .expect("a system root bundle");
    let ours = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
    let bundle = dir.join("roots.pem");
    std::fs::write(&bundle, system + &ours).unwrap();
    bundle
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// `cargo bench --bench cold_start -- cost` runs the cost model alone (it needs no release
/// binaries).
fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if !std::env::args().any(|arg| arg == "cost") {
        runtime.block_on(cold_starts());
    }
    runtime.block_on(cost_per_execution());
}

async fn cold_starts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binaries = std::env::var_os("VELLOCITY_BENCH_BINARIES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release"));
    let endpoint = std::env::var("VELLOCITY_TEST_DYNAMODB_ENDPOINT").expect(
        "VELLOCITY_TEST_DYNAMODB_ENDPOINT names DynamoDB Local (scripts/bench.sh starts it)",
    );

    // The sample records in a table of their own, as `seed-events` makes them.
    let table_name = format!("vellocity-cold-start-{}", ulid::Ulid::new());
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(vellocity::aws::https_client())
        .endpoint_url(&endpoint)
        .load()
        .await;
    let table = DynamoDbTable::new(aws_sdk_dynamodb::Client::new(&sdk), table_name.clone());
    table.create().await.unwrap();
    // DynamoDB Local runs on the JVM: its first few thousand requests are slower while the JIT
    // compiles, which would weigh on whichever runs came first.
    for _ in 0..3_000 {
        table.get(&Key::new("WARMUP", "WARMUP")).await.unwrap();
    }
    let stack = Stack::new(
        offline(App::new(Arc::new(table), Arc::new(SystemClock))),
        0.0,
    )
    .unwrap();
    samples::seed(&stack).await.unwrap();

    let dir = std::env::temp_dir().join(format!("vellocity-cold-start-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let upstream = endpoint.trim_start_matches("http://").to_owned();
    let tls_port = tls_terminator(upstream.clone(), &dir).await;
    let roots = roots_bundle(&dir);

    let lambda_env = |function: &str| -> HashMap<String, String> {
        [
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_SESSION_TOKEN", "test"),
            ("SSL_CERT_FILE", roots.to_str().unwrap()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    };
    let get_team = |label: &'static str, dynamodb: String| {
        let mut env = lambda_env("get-team");
        env.insert("TABLE_NAME".into(), table_name.clone());
        env.insert("VELLOCITY_PLANS".into(), PLANS.into());
        env.insert("AWS_ENDPOINT_URL_DYNAMODB".into(), dynamodb);
        Function {
            label,
            binary: binaries.join("get-team"),
            env,
            event: std::fs::read(root.join("events/get-team.json")).unwrap(),
            check: answered_200,
        }
    };
    let functions = [
        Function {
            label: "hello world",
            binary: binaries.join("examples/hello-world"),
            env: lambda_env("hello-world"),
            event: std::fs::read(root.join("events/get-team.json")).unwrap(),
            check: |_| {},
        },
        get_team("get-team, DynamoDB over HTTP", endpoint.clone()),
        get_team(
            "get-team, DynamoDB over HTTPS",
            format!("https://localhost:{tls_port}"),
        ),
        get_team("get-team, DynamoDB replayed", replaying(upstream).await),
    ];

    let mut runs: Vec<Vec<Run>> = functions.iter().map(|_| Vec::new()).collect();
    for _ in 0..RUNS {
        for (function, runs) in functions.iter().zip(&mut runs) {
            runs.push(function.run().await);
        }
    }
    println!("== cold start: {RUNS} processes each, interleaved; {WARM_INVOKES} warm invokes per process");
    let mut medians = Vec::new();
    for (function, runs) in functions.iter().zip(runs) {
        let init = median(runs.iter().map(|r| r.init).collect());
        let first = median(runs.iter().map(|r| r.first_invoke).collect());
        let warm = median(
            runs.iter()
                .flat_map(|r| r.warm_invokes.iter().copied())
                .collect(),
        );
        println!(
            "{:<32} init {:>9}  first invoke {:>9}  warm invoke {:>9}",
            function.label,
            ms(init),
            ms(first),
            ms(warm)
        );
        medians.push((init, warm));
    }
    let [(hello_init, hello_warm), (http_init, _), (https_init, _), (own_init, own_warm)] =
        medians[..]
    else {
        unreachable!()
    };
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "init, get-team (HTTP) / hello world: {:.2}x; with DynamoDB replayed: {:.2}x (goal <= 2x)",
        ratio(http_init, hello_init),
        ratio(own_init, hello_init)
    );
    println!(
        "init, get-team HTTPS - HTTP: {:+.2} ms (goal <= +3 ms)",
        (https_init.as_secs_f64() - http_init.as_secs_f64()) * 1e3
    );
    println!(
        "warm invoke, get-team with DynamoDB replayed / hello world: {:.2}x (goal <= 2x)",
        ratio(own_warm, hello_warm)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Published on-demand prices, us-east-1 (checked December 2026), in US dollars.
struct Prices;

impl Prices {
    /// Step Functions Standard, per state transition ($0.025 per 1,000).
    const TRANSITION: f64 = 0.025 / 1_000.0;
    /// Step Functions Express, per run ($1.00 per million).
    const EXPRESS_RUN: f64 = 1.00 / 1e6;
    /// Step Functions Express, per GB-second ($0.06 per GB-hour, the first 1,000 GB-hours of
    /// a month; less after).
    const EXPRESS_GB_SECOND: f64 = 0.06 / 3_600.0;
    /// Lambda, per request ($0.20 per million).
    const INVOCATION: f64 = 0.20 / 1e6;
    /// Lambda arm64, per GB-second.
    const GB_SECOND: f64 = 0.000_013_333_4;
    /// DynamoDB on-demand, per write request unit ($0.625 per million).
    const WRITE_UNIT: f64 = 0.625 / 1e6;
    /// DynamoDB on-demand, per read request unit ($0.125 per million).
    const READ_UNIT: f64 = 0.125 / 1e6;
    /// SQS standard, per request ($0.40 per million); a message is a send, a receive and a
    /// delete.
    const QUEUE_REQUEST: f64 = 0.40 / 1e6;
    /// S3 Standard, per PUT ($0.005 per 1,000).
    const OBJECT_PUT: f64 = 0.005 / 1_000.0;
    /// API Gateway REST, per request ($3.50 per million).
    const API_REQUEST: f64 = 3.50 / 1e6;
}

/// Assumed billed duration of an invocation, model time aside (the local offline model
/// answers at once): the figure is printed separately as a rate per second of model time.
const BILLED_MS: f64 = 20.0;
/// The functions' memory (template Globals).
const MEMORY_GB: f64 = 0.25;
/// An express run's billed memory: one 64 MB chunk (about 50 MB plus the definition and the
/// ids the state carries).
const EXPRESS_MEMORY_GB: f64 = 64.0 / 1_024.0;
/// Requests a client makes per execution: the POST and one GET of the result (progress comes
/// by the events stream or a webhook, not by polling).
const API_REQUESTS: f64 = 2.0;
/// Executions run first, so the measured ones have a history to recall.
const HISTORY: usize = 20;
/// Executions measured.
const MEASURED: usize = 5;

/// Counts the messages sent to a queue.
struct CountingQueue(Arc<dyn Queue>, AtomicUsize);

#[async_trait]
impl Queue for CountingQueue {
    async fn send(&self, body: &str) -> Result<(), QueueError> {
        self.1.fetch_add(1, Relaxed);
        self.0.send(body).await
    }

    async fn send_after(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.1.fetch_add(1, Relaxed);
        self.0.send_after(body, delay).await
    }
}

/// Counts the objects written.
struct CountingObjects(Arc<dyn ObjectStore>, AtomicUsize);

#[async_trait]
impl ObjectStore for CountingObjects {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        self.1.fetch_add(1, Relaxed);
        self.0.put(key, bytes, content_type).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        self.0.get(key).await
    }

    async fn link(&self, key: &str, seconds: u64) -> Result<String, ObjectError> {
        self.0.link(key, seconds).await
    }
}

/// The names of the deployed state machines' Task states that invoke a function (the express
/// machine's `states:startExecution` task is a call Step Functions makes itself).
fn task_states(root: &Path) -> Vec<String> {
    fn walk(states: &serde_json::Map<String, serde_json::Value>, tasks: &mut Vec<String>) {
        for (name, state) in states {
            let resource = state["Resource"].as_str().unwrap_or_default();
            if state["Type"] == "Task"
                && (resource.ends_with("FunctionArn}") || resource.contains(":lambda:invoke"))
            {
                tasks.push(name.clone());
            }
            for nested in ["Iterator", "ItemProcessor"] {
                if let Some(states) = state[nested]["States"].as_object() {
                    walk(states, tasks);
                }
            }
        }
    }
    let mut tasks = Vec::new();
    for file in ["agentcore.asl.json", "agentcore-express.asl.json"] {
        let text = std::fs::read_to_string(root.join("statemachines").join(file)).unwrap();
        let definition: serde_json::Value = serde_json::from_str(&text).unwrap();
        walk(definition["States"].as_object().unwrap(), &mut tasks);
    }
    tasks.sort();
    tasks.dedup();
    tasks
}

/// What one execution used.
#[derive(Default)]
struct Used {
    express_runs: f64,
    /// Each express run's duration, rounded up to the 100 ms it is billed by.
    express_seconds: f64,
    standard_transitions: f64,
    invocations: f64,
    read_units: f64,
    write_units: f64,
    messages: f64,
    objects: f64,
    model_calls: f64,
}

async fn cost_per_execution() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let endpoint = std::env::var("VELLOCITY_TEST_DYNAMODB_ENDPOINT").unwrap();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(vellocity::aws::https_client())
        .endpoint_url(&endpoint)
        .load()
        .await;
    let capacity = Arc::new(ConsumedCapacity::default());
    let table = DynamoDbTable::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        format!("vellocity-cost-{}", ulid::Ulid::new()),
    );
    table.create().await.unwrap();
    let table = Arc::new(table.metered(capacity.clone()));
    let objects = Arc::new(CountingObjects(
        offline(App::new(table.clone(), Arc::new(SystemClock))).objects,
        Default::default(),
    ));
    let app = App {
        plans: Arc::new(Plans::parse(PLANS).unwrap()),
        objects: objects.clone(),
        ..offline(App::new(table.clone(), Arc::new(SystemClock)))
    };
    let mut stack = Stack::new(app, 0.0).unwrap();
    let queue = Arc::new(CountingQueue(stack.app.queue.clone(), Default::default()));
    stack.app.queue = queue.clone();

    let created = teams::create_team(&stack.app, "Cost", "cost@example.com")
        .await
        .unwrap();
    credits::adjust(&stack.app, &created.team.id, 1_000_000, "bench")
        .await
        .unwrap();
    let key = created.key.secret.clone();
    let (path, body) = demo_agent(&stack, &key).await;
    let tasks = task_states(root);

    let mut measured = Vec::new();
    let mut writes = Default::default();
    for n in 0..HISTORY + MEASURED {
        capacity.take_writes();
        let before = (capacity.read_units(), capacity.write_units());
        let sent = queue.1.load(Relaxed);
        // The dispatcher's check after each express run is sent by the engine's own queue and
        // waits out its delay in the store: counted as it stays pending.
        let pending = stack.queue.pending().unwrap();
        let stored = objects.1.load(Relaxed);
        let (id, outcome) = run_execution(&stack, &path, &key, &body).await;
        let read = stack
            .handle(request(
                "GET",
                &format!("/v1/executions/{id}"),
                "",
                &key,
                None,
            ))
            .await;
        assert_eq!(read.status, 200);
        // The dispatcher's check after the express run, delivered now instead of in 11
        // minutes: it reads the settled execution and does nothing more.
        let check =
            serde_json::json!({"team_id": created.team.id, "execution_id": id, "check_at": 0});
        let checked = deliver(&stack.app, &check.to_string(), 1).await;
        assert!(matches!(checked, Delivery::Checked(_)), "{checked:?}");
        let result: serde_json::Value =
            serde_json::from_str(read.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            result["plan"].as_array().map(Vec::len),
            Some(4),
            "a four-step plan"
        );
        let entered = |state: &dyn Fn(&str) -> bool| {
            outcome
                .0
                .iter()
                .flat_map(|run| &run.outcome.events)
                .filter(|e| matches!(e, Event::Entered(name) if state(name)))
                .count()
        };
        let task_invocations = entered(&|name| tasks.iter().any(|t| t == name));
        let model_calls = entered(&|name| name == "Plan" || name == "Run step");
        let express: Vec<&EndedRun> = outcome.0.iter().filter(|run| !run.durable).collect();
        let messages = queue.1.load(Relaxed) - sent + stack.queue.pending().unwrap() - pending;
        let used = Used {
            express_runs: express.len() as f64,
            express_seconds: express
                .iter()
                .map(|run| (run.took.as_secs_f64() * 10.0).ceil() / 10.0)
                .sum(),
            standard_transitions: outcome.transitions(true) as f64,
            // The tasks, the dispatcher once per queue message (the check's included), the two
            // API requests.
            invocations: (task_invocations + messages) as f64 + API_REQUESTS,
            read_units: capacity.read_units() - before.0,
            write_units: capacity.write_units() - before.1,
            messages: messages as f64,
            objects: (objects.1.load(Relaxed) - stored) as f64,
            model_calls: model_calls as f64,
        };
        if n == 0 || n >= HISTORY {
            measured.push((n, used));
        }
        writes = capacity.take_writes();
    }
    println!();
    println!("== cost of a four-step execution (POST, run, GET), capacity as DynamoDB bills it");
    for (n, used) in &measured {
        println!(
            "execution {:>2} (after {n:>2} others): {} express run(s) ({:.1} s billed), {:>2} standard transitions, {:>2} invocations, {:>5.1} RCU, {:>5.1} WCU, {} messages, {} objects",
            n + 1, used.express_runs, used.express_seconds, used.standard_transitions, used.invocations, used.read_units, used.write_units, used.messages, used.objects
        );
    }
    println!("where the last one's writes go (calls: the items each wrote, by sort key prefix):");
    let mut writes: Vec<_> = writes.into_iter().collect();
    writes.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for (items, (calls, units)) in writes {
        println!("  {units:>5.1} WCU  {calls:>2} x  {items}");
    }
    let steady = &measured.last().unwrap().1;
    let lines = [
        (
            "Step Functions Express runs",
            steady.express_runs * Prices::EXPRESS_RUN,
        ),
        (
            "Step Functions Express duration (64 MB)",
            steady.express_seconds * EXPRESS_MEMORY_GB * Prices::EXPRESS_GB_SECOND,
        ),
        (
            "Step Functions Standard transitions",
            steady.standard_transitions * Prices::TRANSITION,
        ),
        ("Lambda requests", steady.invocations * Prices::INVOCATION),
        (
            "Lambda duration (assumed 20 ms each)",
            steady.invocations * BILLED_MS / 1_000.0 * MEMORY_GB * Prices::GB_SECOND,
        ),
        ("DynamoDB writes", steady.write_units * Prices::WRITE_UNIT),
        ("DynamoDB reads", steady.read_units * Prices::READ_UNIT),
        (
            "SQS (send, receive, delete)",
            steady.messages * 3.0 * Prices::QUEUE_REQUEST,
        ),
        ("S3 PUTs", steady.objects * Prices::OBJECT_PUT),
        (
            "API Gateway REST requests",
            API_REQUESTS * Prices::API_REQUEST,
        ),
    ];
    let total: f64 = lines.iter().map(|(_, cost)| cost).sum();
    for (what, cost) in lines {
        println!(
            "  {what:<40} ${:>7.4} per 1,000 ({:>4.1} %)",
            cost * 1_000.0,
            cost / total * 100.0
        );
    }
    println!(
        "AWS cost per 1,000 four-step executions: ${:.3} (goal <= $0.10)",
        total * 1_000.0
    );
    println!(
        "  plus ${:.4} per 1,000 for each second a model call takes ({} calls, each waited on by a task function and its express run)",
        1_000.0
            * steady.model_calls
            * (MEMORY_GB * Prices::GB_SECOND + EXPRESS_MEMORY_GB * Prices::EXPRESS_GB_SECOND),
        steady.model_calls
    );
}
