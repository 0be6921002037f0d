//! `vellocity-local demo`: the main job end to end on this machine. Creates a team with a
//! company (brand voice), a product, two partners and an agent, starts an execution (queued,
//! dispatched, and run by `statemachines/agentcore.asl.json` in the local workflow engine with
//! the offline model), shows each step as it finishes, and prints the results and the credits
//! used; then asks a question in a conversation about the product and prints this month's
//! usage.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vellocity::agentcore::chat::{self, MessageRequest};
use vellocity::app::usage::{self, UsageQuery};
use vellocity::app::{conversations, executions, resources, teams, App, Caller};
use vellocity::domain::agent::AgentDraft;
use vellocity::domain::execution::{Execution, ExecutionRequest};
use vellocity::domain::resources::{CompanyDraft, PartnerDraft, ProductDraft};
use vellocity::domain::step::StepStatus;
use vellocity::error::Error;

use crate::{explain, Stack};

/// The demo's request.
pub const REQUEST: &str = "Write a launch blog post for Deploy Guard in our brand voice, LinkedIn and X posts to announce it, a banner image, and find the best co-sell partners for it.";

fn draft<D: serde::de::DeserializeOwned>(value: Value) -> Result<D, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

async fn create<D: resources::Resource>(
    app: &App,
    caller: &Caller,
    value: Value,
) -> Result<String, String> {
    let record = resources::create::<D>(app, caller, draft(value)?)
        .await
        .map_err(|e: Error| explain(&e))?;
    Ok(record.id)
}

fn say(out: &mut impl Write, line: impl AsRef<str>) {
    let _ = writeln!(out, "{}", line.as_ref());
}

/// Runs the demo on `stack`, writing a readable account to `out`; returns the finished
/// execution.
pub async fn run(stack: &Stack, out: &mut impl Write) -> Result<Execution, String> {
    let app = &stack.app;
    let started = Instant::now();
    let created = teams::create_team(app, "Acme GTM", "owner@acme.example")
        .await
        .map_err(|e| explain(&e))?;
    let caller = created.owner_caller("demo");
    say(
        out,
        format!(
            "Team {} created with {} trial credits; owner API key {}",
            created.team.id, created.team.credits.balance, created.key.secret
        ),
    );

    let company = create::<CompanyDraft>(app, &caller, json!({
        "name": "Acme Cloud", "website": "https://acme.example",
        "description": "Deployment safety for platform teams on AWS.",
        "brand_voice": {
            "tone": "confident, warm, no jargon", "audience": "platform engineering leaders",
            "value_propositions": ["Ship infrastructure changes without fear", "Policy checks in every pipeline"],
            "banned_phrases": ["synergy", "game-changer"]
        }
    }))
    .await?;
    let product = create::<ProductDraft>(app, &caller, json!({
        "company_id": company, "name": "Deploy Guard", "description": "Policy checks and automatic rollbacks for every deployment.",
        "marketplace": {"product_code": "deployguard01", "sku": "DG-PRO"}, "categories": ["DevOps"], "use_cases": ["Safe deployments"]
    }))
    .await?;
    for partner in [
        json!({"name": "Globex Consulting", "industries": ["Financial Services"], "regions": ["EMEA"], "solution_areas": ["DevOps", "Safe deployments"], "tier": "advanced"}),
        json!({"name": "Initech Analytics", "industries": ["Retail"], "regions": ["NA"], "solution_areas": ["Analytics"], "tier": "select"}),
    ] {
        create::<PartnerDraft>(app, &caller, partner).await?;
    }
    let agent = create::<AgentDraft>(app, &caller, json!({
        "name": "Launch crew", "instructions": "Launch content for our products, in the brand voice.",
        "allowed_capabilities": ["generate_text", "social_posts", "generate_image", "cosell_match", "analyze_content"],
        "default_company_id": company, "default_product_id": product
    }))
    .await?;
    say(
        out,
        format!("Company {company}, product {product}, 2 partners and agent {agent} created"),
    );

    let request: ExecutionRequest = draft(json!({ "request": REQUEST }))?;
    let execution = executions::start(app, &caller, &agent, request)
        .await
        .map_err(|e| explain(&e))?;
    say(
        out,
        format!(
            "\nExecution {} queued, {} credits reserved\nRequest: {REQUEST}\n",
            execution.id, execution.credits.reserved
        ),
    );

    let mut shown = 0;
    let mut planned = false;
    let finished = loop {
        let current = executions::find(app, &caller.team_id, &execution.id)
            .await
            .map_err(|e| explain(&e))?
            .ok_or("the execution vanished")?;
        if !planned && !current.steps.is_empty() {
            planned = true;
            say(out, format!("Plan ({} steps):", current.steps.len()));
            for (i, step) in current.steps.iter().enumerate() {
                say(
                    out,
                    format!("  {}. {} — {}", i + 1, step.capability, step.title),
                );
            }
            say(out, "");
        }
        while shown < current.steps.len() && current.steps[shown].status != StepStatus::Pending {
            let step = &current.steps[shown];
            say(
                out,
                format!(
                    "[{}/{}] {} {:?} ({} credits)",
                    shown + 1,
                    current.steps.len(),
                    step.capability,
                    step.status,
                    step.credits
                ),
            );
            shown += 1;
        }
        if current.status.is_final() {
            break current;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let runs = stack.workflows.wait(execution.id.as_str()).await;
    let transitions = runs.as_ref().map_or((0, 0), |runs| {
        (runs.transitions(false), runs.transitions(true))
    });

    say(
        out,
        format!("\nExecution {}: {}", finished.id, finished.status.as_str()),
    );
    for (i, step) in finished.steps.iter().enumerate() {
        say(
            out,
            format!(
                "\n--- Step {}: {} ({}) ---",
                i + 1,
                step.title,
                step.capability
            ),
        );
        match &step.output {
            Some(output) if output.get("text").is_some() => {
                say(out, output["text"].as_str().unwrap_or_default());
                say(
                    out,
                    format!("Brand-voice compliance: {}", output["compliance"]),
                );
            }
            Some(output) if output.get("image_key").is_some() => {
                let link = app
                    .objects
                    .link(output["image_key"].as_str().unwrap_or_default(), 3_600)
                    .await
                    .map_err(|e| e.to_string())?;
                say(out, format!("Image: {link}"));
            }
            Some(output) => say(
                out,
                serde_json::to_string_pretty(output).unwrap_or_default(),
            ),
            None => say(
                out,
                step.error.clone().unwrap_or_else(|| "(not run)".into()),
            ),
        }
    }
    if let Some(error) = &finished.error {
        say(out, format!("\nError: {} — {}", error.code, error.message));
    }
    let team = teams::get_team(app, &caller)
        .await
        .map_err(|e| explain(&e))?;
    say(
        out,
        format!(
            "\nCredits: reserved {}, used {}, refunded {}; team balance now {}",
            finished.credits.reserved,
            finished.credits.used,
            finished.credits.refunded,
            team.credits.balance
        ),
    );
    let tokens: Vec<String> = finished
        .tokens
        .iter()
        .map(|(model, t)| {
            let cached = match (t.cache_read, t.cache_write) {
                (0, 0) => String::new(),
                (read, written) => {
                    format!(" ({read} read from the prompt cache, {written} written to it)")
                }
            };
            format!("{model}: {} in / {} out{cached}", t.input, t.output)
        })
        .collect();
    say(out, format!("Tokens: {}", tokens.join("; ")));
    say(
        out,
        format!(
            "{} state transitions on the express machine, {} on the standard one, {:.0} ms end to end",
            transitions.0,
            transitions.1,
            started.elapsed().as_secs_f64() * 1_000.0
        ),
    );
    chat_and_usage(app, &caller, &company, &product, out).await?;
    Ok(finished)
}

/// A question about the product in a conversation (answered in the brand voice), and this
/// month's usage by capability, executions and chat together.
async fn chat_and_usage(
    app: &App,
    caller: &Caller,
    company: &str,
    product: &str,
    out: &mut impl Write,
) -> Result<(), String> {
    let conversation =
        json!({"title": "Launch follow-ups", "company_id": company, "product_id": product});
    let conversation = conversations::create(app, caller, draft(conversation)?)
        .await
        .map_err(|e| explain(&e))?;
    let question = MessageRequest {
        content: "Suggest three subject lines for the launch email.".into(),
    };
    let id = conversation["id"].as_str().unwrap_or_default();
    let exchange = chat::send(app, caller, id, question, None)
        .await
        .map_err(|e| explain(&e))?;
    say(
        out,
        format!("\n--- Chat ---\n> {}", exchange.message.content),
    );
    say(
        out,
        format!(
            "{}\n({} credits)",
            exchange.reply.content,
            exchange.reply.credits.unwrap_or_default()
        ),
    );
    let query = UsageQuery::parse(None, None, Some("capability"), app.clock.now().date())
        .map_err(|e| explain(&e))?;
    let report = usage::report(app, &caller.team_id, &query)
        .await
        .map_err(|e| explain(&e))?;
    say(
        out,
        format!("\nUsage {} to {} by capability:", report.from, report.to),
    );
    for row in &report.rows {
        let f = &row.figures;
        say(
            out,
            format!(
                "  {:<22} {:>3} requests {:>7} tokens in {:>6} out {:>4} credits",
                row.key, f.requests, f.input_tokens, f.output_tokens, f.credits
            ),
        );
    }
    Ok(())
}
