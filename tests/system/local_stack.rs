//! The local stack as people run it, as processes: nothing acknowledged is lost when the
//! server is killed with SIGKILL while the API and admin commands write to its data
//! directory; executions queued, running or waiting for approval when it stopped go on after
//! a restart; the demo runs clean.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use vellocity::app::teams;
use vellocity_local::Stack;

use crate::helpers::{call, roomy_plans_json};
use crate::http_client::exchange;

/// The `vellocity-local` binary: `VELLOCITY_LOCAL_BIN` (the test command builds it), or built
/// here.
pub(crate) fn local_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("VELLOCITY_LOCAL_BIN") {
        return PathBuf::from(path);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "-q", "-p", "vellocity-local"])
        .status()
        .expect("cargo runs");
    assert!(built.success(), "building vellocity-local failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("debug").join("vellocity-local")
}

pub(crate) fn fresh_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vellocity-{name}-{}", ulid::Ulid::new()))
}

/// `vellocity-local serve` on a free loopback port; killed with SIGKILL when dropped.
struct Server {
    process: Child,
    addr: SocketAddr,
}

impl Server {
    async fn start(binary: &Path, dir: &Path) -> Server {
        Server::start_with(binary, dir, &[]).await
    }

    /// `serve` with extra switches.
    async fn start_with(binary: &Path, dir: &Path, switches: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut server = Server {
            process: Command::new(binary)
                .arg("--data-dir")
                .arg(dir)
                .args(["serve", "--addr", &addr.to_string()])
                .args(switches)
                .env("VELLOCITY_PLANS", roomy_plans_json())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("vellocity-local starts"),
            addr,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.process.kill().unwrap();
        panic!("vellocity-local serve did not listen on {addr}");
    }

    /// SIGKILL: no shutdown of any kind.
    fn kill(mut self) {
        self.process.kill().unwrap();
        self.process.wait().unwrap();
    }

    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, _, text) = exchange(
            self.addr,
            method,
            path,
            "application/json",
            &body,
            Some(key),
        )
        .await
        .unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn wait_for(&self, key: &str, execution: &str, status: &str) -> Value {
        for _ in 0..400 {
            let (_, body) = self
                .call("GET", &format!("/v1/executions/{execution}"), key, None)
                .await;
            if body["status"] == status {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("execution {execution} never became {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Runs an admin command on `dir`; its standard output as JSON.
fn admin(binary: &Path, dir: &Path, args: &[&str]) -> Value {
    let output = Command::new(binary)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("vellocity-local runs");
    assert!(
        output.status.success(),
        "vellocity-local {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn create_team(binary: &Path, dir: &Path, name: &str) -> (String, String) {
    let created = admin(binary, dir, &["create-team", "--name", name]);
    let text = |field: &str| created[field].as_str().unwrap().to_owned();
    (text("team_id"), text("api_key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_acknowledged_beside_admin_commands_survives_a_sigkill_of_the_server() {
    let (binary, dir) = (local_binary(), fresh_dir("sigkill"));
    let server = Server::start(&binary, &dir).await;
    // An admin command beside the running server: the server sees its team at once.
    let (team, key) = create_team(&binary, &dir, "Acme");
    let (status, _) = server.call("GET", "/v1/team", &key, None).await;
    assert_eq!(status, 200);

    let addr = server.addr;
    let api_key = key.clone();
    let writer = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for n in 0..400 {
            let body = json!({"name": format!("Company {n}")}).to_string();
            match exchange(
                addr,
                "POST",
                "/v1/companies",
                "application/json",
                &body,
                Some(&api_key),
            )
            .await
            {
                Ok((201, _, text)) => {
                    let created: Value = serde_json::from_str(&text).unwrap();
                    acknowledged.push(created["id"].as_str().unwrap().to_owned());
                }
                Ok((status, _, text)) => panic!("POST /v1/companies answered {status}: {text}"),
                Err(_) => break,
            }
        }
        acknowledged
    });
    let (admin_binary, admin_dir, admin_team) = (binary.clone(), dir.clone(), team.clone());
    let granter = tokio::task::spawn_blocking(move || {
        let mut granted = 0;
        for _ in 0..5 {
            let args = [
                "grant-credits",
                "--team",
                &admin_team,
                "--amount",
                "7",
                "--reason",
                "Pilot",
            ];
            admin(&admin_binary, &admin_dir, &args);
            granted += 7;
        }
        granted
    });
    // Kill the server while the writes are still coming.
    while !writer.is_finished() {
        let (_, body) = server
            .call("GET", "/v1/companies?limit=100", &key, None)
            .await;
        if body["items"]
            .as_array()
            .is_some_and(|items| items.len() >= 60)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    let acknowledged = writer.await.unwrap();
    let granted = granter.await.unwrap();
    assert!(acknowledged.len() >= 60, "writes went on until the kill");

    let restarted = Server::start(&binary, &dir).await;
    for id in &acknowledged {
        let (status, body) = restarted
            .call("GET", &format!("/v1/companies/{id}"), &key, None)
            .await;
        assert_eq!(
            status, 200,
            "company {id} was acknowledged, then lost: {body}"
        );
    }
    let (_, team_now) = restarted.call("GET", "/v1/team", &key, None).await;
    let trial = team_now["credits"]["balance"].as_i64().unwrap() - granted;
    assert_eq!(
        trial, 200,
        "every grant made beside the server is kept: {team_now}"
    );
    drop(restarted);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_waiting_for_approval_can_be_approved_or_cancelled_after_a_restart() {
    let (binary, dir) = (local_binary(), fresh_dir("approval"));
    let server = Server::start(&binary, &dir).await;
    let (_, key) = create_team(&binary, &dir, "Acme");
    let agent = json!({"name": "Careful", "allowed_capabilities": ["generate_text"], "requires_approval": true});
    let (_, agent) = server.call("POST", "/v1/agents", &key, Some(agent)).await;
    let path = format!("/v1/agents/{}/executions", agent["id"].as_str().unwrap());
    let mut waiting = Vec::new();
    for request in ["Write a launch post", "Write a second post"] {
        let (status, execution) = server
            .call("POST", &path, &key, Some(json!({ "request": request })))
            .await;
        assert_eq!(status, 202);
        let id = execution["id"].as_str().unwrap().to_owned();
        server.wait_for(&key, &id, "awaiting_approval").await;
        waiting.push(id);
    }
    server.kill();

    let restarted = Server::start(&binary, &dir).await;
    let (status, _) = restarted
        .call(
            "POST",
            &format!("/v1/executions/{}/approval", waiting[0]),
            &key,
            Some(json!({"approved": true})),
        )
        .await;
    assert_eq!(status, 200);
    let approved = restarted.wait_for(&key, &waiting[0], "succeeded").await;
    let (status, cancelled) = restarted
        .call(
            "POST",
            &format!("/v1/executions/{}/cancel", waiting[1]),
            &key,
            None,
        )
        .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled"))
    );

    for execution in [&approved, &cancelled] {
        let credits = &execution["credits"];
        assert_eq!(
            credits["reserved"].as_i64(),
            Some(credits["used"].as_i64().unwrap() + credits["refunded"].as_i64().unwrap()),
            "settled exactly: {execution}"
        );
    }
    let used = approved["credits"]["used"].as_i64().unwrap()
        + cancelled["credits"]["used"].as_i64().unwrap();
    let (_, team) = restarted.call("GET", "/v1/team", &key, None).await;
    assert_eq!(
        team["credits"]["reserved"], 0,
        "nothing stays reserved: {team}"
    );
    assert_eq!(team["credits"]["balance"].as_i64(), Some(200 - used));
    drop(restarted);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_queued_execution_not_yet_dispatched_runs_after_a_restart() {
    let dir = fresh_dir("queued");
    // The first stack stops (its runtime ends) right after answering: the execution was
    // queued, its message never dispatched.
    let (key, execution) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let stack = Stack::open(&dir).unwrap();
            let team = teams::create_team(&stack.app, "Acme", "owner@example.com")
                .await
                .unwrap();
            let key = team.key.secret;
            let agent = json!({"name": "Quick", "allowed_capabilities": ["generate_text"]});
            let agent = call(&stack, "POST", "/v1/agents", &key, Some(agent)).await;
            let path = format!(
                "/v1/agents/{}/executions",
                agent.body["id"].as_str().unwrap()
            );
            let request = json!({"request": "Write a post"});
            let execution = call(&stack, "POST", &path, &key, Some(request)).await;
            assert_eq!(execution.status, 202);
            (key, execution.body["id"].as_str().unwrap().to_owned())
        });

    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let stack = Stack::open(&dir).unwrap();
            let path = format!("/v1/executions/{execution}");
            let before = call(&stack, "GET", &path, &key, None).await;
            assert_eq!(
                before.body["status"], "queued",
                "the first stack stopped before dispatching"
            );
            assert_eq!(
                stack.resume().await.unwrap(),
                (0, 1),
                "one message waited for delivery"
            );
            let mut status = Value::Null;
            for _ in 0..400 {
                status = call(&stack, "GET", &path, &key, None).await.body["status"].clone();
                if status == "succeeded" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(status, "succeeded");
            assert!(stack.queue.dead_letters().is_empty());
        });
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_demo_runs_an_execution_to_success_and_logs_no_error() {
    let (binary, dir) = (local_binary(), fresh_dir("demo"));
    let output = Command::new(binary)
        .arg("--data-dir")
        .arg(&dir)
        .arg("demo")
        .env("RUST_LOG", "info")
        .output()
        .expect("vellocity-local runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert!(
        !stderr.lines().any(|line| line.contains("ERROR")),
        "a successful run logs no error:\n{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs `vellocity-local` against DynamoDB Local: (success, stdout, stderr).
fn against_dynamodb_local(binary: &Path, args: &[&str]) -> (bool, String, String) {
    let endpoint = std::env::var("VELLOCITY_TEST_DYNAMODB_ENDPOINT")
        .expect("scripts/test.sh starts DynamoDB Local");
    let output = Command::new(binary)
        .args(args)
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("vellocity-local runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn admin_commands_create_and_seed_a_dynamodb_table_and_name_a_missing_one() {
    let binary = local_binary();
    let table = format!("vellocity-cli-{}", ulid::Ulid::new());
    let (ok, _, stderr) = against_dynamodb_local(
        &binary,
        &["create-team", "--name", "Acme", "--table", &table],
    );
    assert!(!ok);
    assert!(
        stderr.contains(&format!("table {table} does not exist"))
            && stderr.contains(&format!("vellocity-local create-table --table {table}")),
        "{stderr}"
    );

    let (ok, stdout, stderr) =
        against_dynamodb_local(&binary, &["create-table", "--table", &table]);
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["created"],
        true
    );
    let (ok, stdout, stderr) = against_dynamodb_local(&binary, &["seed-events", "--table", &table]);
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["team_id"],
        vellocity_local::samples::TEAM
    );
    let (ok, stdout, stderr) = against_dynamodb_local(
        &binary,
        &["create-team", "--name", "Acme", "--table", &table],
    );
    assert!(ok, "{stderr}");
    assert!(serde_json::from_str::<Value>(&stdout).unwrap()["api_key"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let (binary, dir) = (local_binary(), fresh_dir("two-servers"));
    let first = Server::start(&binary, &dir).await;
    let second = Command::new(&binary)
        .arg("--data-dir")
        .arg(&dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .output()
        .expect("vellocity-local runs");
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("another `vellocity-local serve`"), "{said}");
    let (_, key) = create_team(&binary, &dir, "Acme");
    let (status, _) = first.call("GET", "/v1/team", &key, None).await;
    assert_eq!(status, 200, "the first server goes on");
    drop(first);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn with_model_latency_an_execution_can_be_watched_running_and_loopback_webhooks_are_allowed()
{
    let binary = local_binary();
    let dir = fresh_dir("latency");
    let (_, key) = create_team(&binary, &dir, "Acme");
    let switches = ["--model-latency", "400", "--allow-local-webhooks"];
    let server = Server::start_with(&binary, &dir, &switches).await;
    let hook = json!({"url": "http://127.0.0.1:9/hooks", "events": ["*"]});
    let (status, _) = server.call("POST", "/v1/webhooks", &key, Some(hook)).await;
    assert_eq!(
        status, 201,
        "loopback receivers are allowed with the switch"
    );
    let agent = json!({"name": "Writer", "allowed_capabilities": ["summarize"]});
    let (_, agent) = server.call("POST", "/v1/agents", &key, Some(agent)).await;
    let path = format!("/v1/agents/{}/executions", agent["id"].as_str().unwrap());
    let (_, started) = server
        .call("POST", &path, &key, Some(json!({"request": "Summarise"})))
        .await;
    let id = started["id"].as_str().unwrap();
    let (_, now) = server
        .call("GET", &format!("/v1/executions/{id}"), &key, None)
        .await;
    assert!(
        ["queued", "running"].contains(&now["status"].as_str().unwrap()),
        "the model takes its time: {now}"
    );
    let done = server.wait_for(&key, id, "succeeded").await;
    assert_eq!(done["status"], "succeeded");
    server.kill();

    let plain = Server::start(&binary, &dir).await;
    let hook = json!({"url": "http://127.0.0.1:9/other", "events": ["*"]});
    let (status, refused) = plain.call("POST", "/v1/webhooks", &key, Some(hook)).await;
    assert_eq!(
        status, 422,
        "without the switch loopback is refused: {refused}"
    );
    plain.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
