//! `vellocity-local`: run the Vellocity API on this machine, with no AWS account and no
//! network, or administer teams locally or in a deployed table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use vellocity::app::{teams, App};
use vellocity::aws::dynamodb::DynamoDbTable;
use vellocity::ports::SystemClock;
use vellocity_local::{server, Stack};

#[derive(Parser)]
#[command(
    name = "vellocity-local",
    version,
    about = "The Vellocity stack in one process"
)]
struct Cli {
    /// Where the embedded table keeps its data.
    #[arg(
        long,
        global = true,
        env = "VELLOCITY_DATA_DIR",
        default_value = ".vellocity"
    )]
    data_dir: PathBuf,
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
    match cli.command {
        Command::Serve { addr } => {
            let stack = Stack::open(&cli.data_dir)?;
            let listener = server::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            tracing::info!(%addr, data_dir = %cli.data_dir.display(), "Vellocity API listening");
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
            let app = match table {
                Some(table) => {
                    let client = aws_sdk_dynamodb::Client::new(&vellocity::aws::sdk_config().await);
                    App {
                        table: Arc::new(DynamoDbTable::new(client, table)),
                        clock: Arc::new(SystemClock),
                        jwt: None,
                    }
                }
                None => Stack::open(&cli.data_dir)?.app,
            };
            let created = teams::create_team(&app, &name, &owner_email)
                .await
                .map_err(|e| {
                    let details = e
                        .details
                        .iter()
                        .flatten()
                        .map(|d| format!(" {}: {}.", d.field, d.message))
                        .collect::<String>();
                    format!("{}{details}", e.message)
                })?;
            let out =
                serde_json::json!({ "team_id": created.team.id, "api_key": created.key.secret });
            println!("{out}");
            Ok(())
        }
    }
}
