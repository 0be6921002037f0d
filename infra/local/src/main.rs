//! `vellocity-local`: run the Vellocity API on this machine, with no AWS account and no
//! network, or administer teams locally or in a deployed table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use vellocity::app::{credits, teams, App};
use vellocity::aws::bedrock::Bedrock;
use vellocity::aws::dynamodb::DynamoDbTable;
use vellocity::aws::emf::EmfWriter;
use vellocity::aws::marketplace::AwsMarketplace;
use vellocity::domain::ids::TeamId;
use vellocity::domain::plans::Plans;
use vellocity::lambda::marketplace as lambda;
use vellocity::local::marketplace::LocalMarketplace;
use vellocity::local::offline::OfflineModel;
use vellocity::local::openai::OpenAiCompatible;
use vellocity::marketplace::metering;
use vellocity::ports::SystemClock;
use vellocity_local::{explain, offline, samples, server, Stack};

#[derive(Parser)]
#[command(
    name = "vellocity-local",
    version,
    about = "The Vellocity stack in one process"
)]
struct Cli {
    /// Where the embedded table keeps its data (default `.vellocity`; for `demo`, a fresh
    /// directory).
    #[arg(long, global = true, env = "VELLOCITY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every API route on a local address.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Let webhooks go to `http://` receivers on loopback (127.0.0.1, ::1), for trying
        /// them out on this machine; without it loopback is refused, as in AWS.
        #[arg(long)]
        allow_local_webhooks: bool,
        /// Make the offline model take this many milliseconds per call, so progress (and the
        /// console) can be watched as it happens.
        #[arg(long, value_name = "MS", default_value_t = 0)]
        model_latency: u64,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Create a team with an owner and an owner API key; prints {"team_id","api_key"}.
    CreateTeam {
        /// The team's name.
        #[arg(long)]
        name: String,
        /// The owner's email address.
        #[arg(long, default_value = "owner@example.com")]
        owner_email: String,
        /// Create it in this deployed DynamoDB table instead of the local data directory
        /// (uses the usual AWS credentials, region and AWS_ENDPOINT_URL).
        #[arg(long)]
        table: Option<String>,
    },
    /// Create a DynamoDB table with the shape `template.yaml` deploys (keys, GSI1, TTL), e.g. in
    /// DynamoDB Local for `cargo lambda` (uses the usual AWS variables and
    /// AWS_ENDPOINT_URL_DYNAMODB); nothing happens if it exists.
    CreateTable {
        /// The table's name.
        #[arg(long)]
        table: String,
    },
    /// Write the records the sample events in `events/` name into a DynamoDB table, so that
    /// `cargo lambda invoke --data-file events/…` finds them.
    SeedEvents {
        /// The table's name.
        #[arg(long)]
        table: String,
    },
    /// Run the main job end to end: a team, a brand, a product, partners and an agent; one
    /// AgentCore execution through the state machine; its results and credits.
    Demo {
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Grant credits to a team (a negative amount revokes them); prints {"team_id","balance"}.
    GrantCredits {
        /// The team.
        #[arg(long)]
        team: String,
        /// Credits to add (negative: to take away).
        #[arg(long, allow_hyphen_values = true)]
        amount: i64,
        /// Why, for the ledger.
        #[arg(long)]
        reason: String,
        /// Change it in this deployed DynamoDB table instead of the local data directory.
        #[arg(long)]
        table: Option<String>,
    },
    /// Run the hourly Marketplace metering job once; prints what it sent.
    Meter {
        /// Send to this Marketplace Metering endpoint (e.g. a local one speaking its wire
        /// format) instead of the built-in local stand-in.
        #[arg(long)]
        marketplace_endpoint: Option<String>,
    },
    /// Print a registration token the local Marketplace stand-in resolves, to try the
    /// fulfillment page (`POST /marketplace/fulfillment`).
    MarketplaceToken {
        /// The product code.
        #[arg(long)]
        product_code: String,
        /// The buyer's AWS account id.
        #[arg(long, default_value = "111122223333")]
        account_id: String,
    },
    /// The Amazon States Language interpreter on its own.
    Asl {
        #[command(subcommand)]
        command: AslCommand,
    },
    /// Apply Marketplace subscription events from a file holding an SQS batch (such as
    /// `events/marketplace-events.json`); prints the ids of the messages that failed.
    MarketplaceEvents {
        /// The SQS batch.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AslCommand {
    /// Run a state machine file with canned task answers; prints the output or the error,
    /// the state history and what each task was sent (JSON).
    Run {
        /// The definition (`.asl.json`).
        file: PathBuf,
        /// The execution's input (JSON).
        #[arg(long, default_value = "{}")]
        input: String,
        /// What the task invoking NAME (a function name or ARN) answers: the JSON in FILE;
        /// `{"Error": …, "Cause": …}` fails it. Repeat for each task.
        #[arg(long = "task", value_name = "NAME=RESPONSE_FILE")]
        tasks: Vec<String>,
        /// Wait out Wait states and Retry delays in real time (by default they pass at once).
        #[arg(long)]
        real_time: bool,
    },
}

/// Which model the stack calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ModelChoice {
    /// The deterministic offline model: no account, no network, every text labelled.
    Offline,
    /// Amazon Bedrock, with the usual AWS credentials and region (as deployed).
    Bedrock,
    /// An OpenAI-compatible chat endpoint (Ollama, llama.cpp's server, vLLM): --model-url.
    Openai,
}

#[derive(clap::Args)]
struct ModelArgs {
    /// The model that plans, writes and replies.
    #[arg(long = "model", value_enum, default_value = "offline")]
    choice: ModelChoice,
    /// The OpenAI-compatible endpoint's base URL, e.g. http://127.0.0.1:11434/v1 (Ollama).
    #[arg(long, value_name = "URL", required_if_eq("choice", "openai"))]
    model_url: Option<String>,
    /// The endpoint's text model (default: the first it lists).
    #[arg(long, value_name = "NAME", requires = "model_url")]
    model_name: Option<String>,
    /// The endpoint's image model (default: the offline placeholders draw the images).
    #[arg(long, value_name = "NAME", requires = "model_url")]
    image_model_name: Option<String>,
}

impl ModelArgs {
    /// The models chosen; `None` for the offline model.
    async fn models(&self) -> Result<Option<vellocity_local::Models>, String> {
        match self.choice {
            ModelChoice::Offline => Ok(None),
            ModelChoice::Bedrock => {
                let client =
                    aws_sdk_bedrockruntime::Client::new(&vellocity::aws::sdk_config().await);
                let bedrock = Arc::new(Bedrock::new(client));
                tracing::info!("models: Amazon Bedrock");
                Ok(Some(vellocity_local::Models {
                    llm: bedrock.clone(),
                    images: bedrock,
                }))
            }
            ModelChoice::Openai => {
                let url = self.model_url.as_deref().unwrap_or_default();
                let endpoint = Arc::new(
                    OpenAiCompatible::connect(
                        url,
                        self.model_name.clone(),
                        self.image_model_name.clone(),
                    )
                    .await?,
                );
                tracing::info!(
                    url,
                    text_model = endpoint.text_model(),
                    images = self
                        .image_model_name
                        .as_deref()
                        .unwrap_or("offline placeholders"),
                    "models: an OpenAI-compatible endpoint"
                );
                let images: Arc<dyn vellocity::ports::ai::ImageGen> = match self.image_model_name {
                    Some(_) => endpoint.clone(),
                    None => Arc::new(OfflineModel),
                };
                Ok(Some(vellocity_local::Models {
                    llm: endpoint,
                    images,
                }))
            }
        }
    }
}

/// A deployed DynamoDB table (or DynamoDB Local), through the usual AWS variables.
async fn dynamodb_table(table: String) -> DynamoDbTable {
    let client = aws_sdk_dynamodb::Client::new(&vellocity::aws::sdk_config().await);
    DynamoDbTable::new(client, table)
}

/// The app of a deployed table.
async fn deployed_app(table: String) -> Result<App, String> {
    Ok(App {
        plans: Arc::new(Plans::from_env()?),
        metrics: Arc::new(EmfWriter::DebugLog),
        ..App::new(Arc::new(dynamodb_table(table).await), Arc::new(SystemClock))
    })
}

/// The app an admin command works on: the local data directory, or a deployed table.
async fn admin_app(table: Option<String>, data_dir: &std::path::Path) -> Result<App, String> {
    match table {
        Some(table) => deployed_app(table).await,
        None => Ok(Stack::open(data_dir)?.app),
    }
}

/// Makes this process the one server of `data_dir` for as long as the file it returns is
/// open: admin commands may share the directory, a second server may not (both would resume
/// the same runs).
fn claim(data_dir: &std::path::Path) -> Result<std::fs::File, String> {
    let path = data_dir.join("serve.lock");
    let file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another `vellocity-local serve` is using {}; stop it or choose another --data-dir",
            data_dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// Prints one line of output. A reader that stopped reading (`| head`) ends the output, not
/// the command: what it did is done, and there is no one left to tell.
fn print_line(line: impl std::fmt::Display) -> Result<(), String> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot print the output: {e}"))
        }
        _ => Ok(()),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    vellocity::telemetry::init_local();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vellocity-local: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".vellocity"));
    match cli.command {
        Command::Serve {
            addr,
            allow_local_webhooks,
            model_latency,
            model,
        } => {
            let options = vellocity_local::Options {
                allow_local_webhooks,
                model_latency: Some(std::time::Duration::from_millis(model_latency)),
                models: model.models().await?,
            };
            let stack = Stack::open_with(&data_dir, &options)?;
            let _only_server = claim(&data_dir)?;
            let (runs, messages) = stack.resume().await?;
            if runs + messages > 0 {
                tracing::info!(
                    runs,
                    messages,
                    "resumed the work left when the server stopped"
                );
            }
            let listener = server::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            tracing::info!(%addr, data_dir = %data_dir.display(), "Vellocity API listening");
            tokio::select! {
                served = server::serve(stack, listener) => served.map_err(|e| e.to_string()),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        Command::CreateTeam {
            name,
            owner_email,
            table,
        } => {
            let app = admin_app(table, &data_dir).await?;
            let created = teams::create_team(&app, &name, &owner_email)
                .await
                .map_err(|e| explain(&e))?;
            let out =
                serde_json::json!({ "team_id": created.team.id, "api_key": created.key.secret });
            print_line(out)?;
            Ok(())
        }
        Command::CreateTable { table } => {
            let created = dynamodb_table(table.clone())
                .await
                .create()
                .await
                .map_err(|e| format!("creating table {table}: {e}"))?;
            let out = serde_json::json!({ "table": table, "created": created });
            print_line(out)?;
            Ok(())
        }
        Command::SeedEvents { table } => {
            let stack = Stack::new(offline(deployed_app(table.clone()).await?), 0.0)?;
            samples::seed(&stack).await.map_err(|e| explain(&e))?;
            let out = serde_json::json!({ "table": table, "team_id": samples::TEAM });
            print_line(out)?;
            Ok(())
        }
        Command::Demo { model } => {
            let dir = cli.data_dir.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("vellocity-demo-{}", std::process::id()))
            });
            let options = vellocity_local::Options {
                models: model.models().await?,
                ..Default::default()
            };
            let stack = Stack::open_with(&dir, &options)?;
            let finished = vellocity_local::demo::run(&stack, &mut std::io::stdout()).await?;
            print_line(format!(
                "Data kept in {}: `vellocity-local --data-dir {} serve` serves it.",
                dir.display(),
                dir.display()
            ))?;
            if finished.status == vellocity::domain::execution::ExecutionStatus::Succeeded {
                Ok(())
            } else {
                Err(format!("the execution ended {}", finished.status.as_str()))
            }
        }
        Command::Meter {
            marketplace_endpoint,
        } => {
            let mut stack = Stack::open(&data_dir)?;
            if let Some(endpoint) = marketplace_endpoint {
                let sdk = vellocity::aws::sdk_config()
                    .await
                    .into_builder()
                    .endpoint_url(endpoint)
                    .build();
                stack.app.marketplace = Arc::new(AwsMarketplace::new(&sdk));
            }
            let report = metering::run(&stack.app, &stack.marketplace, metering::Scope::All)
                .await
                .map_err(|e| explain(&e))?;
            print_line(serde_json::to_string(&report).map_err(|e| e.to_string())?)?;
            Ok(())
        }
        Command::MarketplaceToken {
            product_code,
            account_id,
        } => {
            print_line(LocalMarketplace::token(&product_code, &account_id))?;
            Ok(())
        }
        Command::Asl {
            command:
                AslCommand::Run {
                    file,
                    input,
                    tasks,
                    real_time,
                },
        } => {
            let input =
                serde_json::from_str(&input).map_err(|e| format!("--input is not JSON: {e}"))?;
            let answers = vellocity_local::asl::canned::answers(&tasks)?;
            let scale = if real_time { 1.0 } else { 0.0 };
            let report =
                vellocity_local::asl::canned::run_file(&file, input, answers, scale).await?;
            print_line(serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?)?;
            match report["status"] == "SUCCEEDED" {
                true => Ok(()),
                false => Err(format!("the execution failed: {}", report["error"])),
            }
        }
        Command::MarketplaceEvents { file } => {
            let stack = Stack::open(&data_dir)?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let batch = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not an SQS batch: {e}", file.display()))?;
            let response = lambda::apply_batch(&stack.app, &stack.marketplace, batch).await;
            print_line(serde_json::to_string(&response).map_err(|e| e.to_string())?)?;
            Ok(())
        }
        Command::GrantCredits {
            team,
            amount,
            reason,
            table,
        } => {
            let team_id = TeamId::parse(&team).map_err(|m| format!("--team {m}"))?;
            let app = admin_app(table, &data_dir).await?;
            let team = credits::adjust(&app, &team_id, amount, &reason)
                .await
                .map_err(|e| explain(&e))?;
            print_line(serde_json::json!({ "team_id": team.id, "balance": team.credits.balance }))?;
            Ok(())
        }
    }
}
