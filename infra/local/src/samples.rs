//! The records the sample events in `events/` name (`team_01JV8X2M7Q…0001` and its owner,
//! company, product, partner, agent, API key and two executions waiting for approval), written
//! into any table: `vellocity-local seed-events --table NAME` seeds a DynamoDB table for
//! `cargo lambda invoke --data-file events/…`, and the tests run every sample against them.

use serde_json::json;
use vellocity::app::api_keys::{secret_hash, KeyLookup};
use vellocity::app::items::to_item;
use vellocity::app::records::Record;
use vellocity::app::resources::{self, Resource};
use vellocity::app::webhooks::{Delivery, DeliveryStatus};
use vellocity::app::{executions, keys, members, App, Caller};
use vellocity::domain::access::{Role, Scope};
use vellocity::domain::agent::AgentDraft;
use vellocity::domain::conversation::ConversationDraft;
use vellocity::domain::execution::{Execution, ExecutionCredits, ExecutionStatus};
use vellocity::domain::ids::{AgentId, ApiKeyId, ExecutionId, TeamId, UserId};
use vellocity::domain::resources::{CompanyDraft, PartnerDraft, ProductDraft};
use vellocity::domain::team::{
    ApiKey, Credits, Member, MemberStatus, Team, CREDITS_BALANCE, CREDITS_RESERVED,
};
use vellocity::domain::validation::Email;
use vellocity::domain::webhook::WebhookDraft;
use vellocity::error::Error;
use vellocity::ports::table::{Item, Key, Update, UpdateAction, Value};

use crate::Stack;

/// The samples' team.
pub const TEAM: &str = "team_01JV8X2M7Q0000000000000001";
/// Its company (with one product).
pub const COMPANY: &str = "cmp_01JV8X2M7Q0000000000000002";
/// Its product.
pub const PRODUCT: &str = "prd_01JV8X2M7Q0000000000000003";
/// Its co-sell partner.
pub const PARTNER: &str = "ptn_01JV8X2M7Q0000000000000004";
/// Its owner's API key.
pub const API_KEY: &str = "key_01JV8X2M7Q0000000000000005";
/// A company with no products, which the delete sample removes.
pub const SPARE_COMPANY: &str = "cmp_01JV8X2M7Q0000000000000006";
/// Its agent, which needs approval.
pub const AGENT: &str = "agt_01JV8X2M7Q0000000000000007";
/// The execution the read and approval samples name.
pub const EXECUTION: &str = "exe_01JV8X2M7Q0000000000000008";
/// The execution the cancel sample names.
pub const EXECUTION_TO_CANCEL: &str = "exe_01JV8X2M7Q0000000000000009";
/// The conversation the chat samples name (about the sample product, in Acme's voice).
pub const CONVERSATION: &str = "cnv_01JV8X2M7Q0000000000000009";
/// The webhook endpoint the webhook samples name.
pub const WEBHOOK: &str = "whk_01JV8X2M7Q000000000000000B";
/// The event (and delivery) the webhook samples name.
pub const EVENT: &str = "evt_01JV8X2M7Q000000000000000C";
/// The sample endpoint's signing secret.
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The secret of the owner's key (`Authorization: Bearer …` in the samples).
pub const SAMPLE_SECRET: &str = "vk_sample_owner_key_for_events_0000000000000000";

/// The samples' owner.
pub fn owner() -> UserId {
    UserId::for_email(&Email::parse("owner@example.com").expect("a valid address"))
}

/// The stored item of a resource of the samples' team, as creating it would have written it.
fn resource_item<R: Resource>(
    team: &TeamId,
    id: &str,
    data: serde_json::Value,
    owner: &UserId,
) -> Result<Item, Error> {
    let data: R = serde_json::from_value(data).map_err(Error::internal)?;
    let key = resources::record_key::<R>(team, id);
    to_item(&record(id, data, owner), &key, R::KIND)
}

fn record<D>(id: &str, data: D, owner: &UserId) -> Record<D> {
    let at = "2026-11-21T12:00:00Z".to_owned();
    Record {
        id: id.into(),
        data,
        created_by: owner.clone(),
        created_at: at.clone(),
        updated_at: at,
        version: 1,
    }
}

/// Writes the records the sample events name into the stack's table, then runs the two
/// executions through the stack's workflow engine until they wait for approval.
pub async fn seed(stack: &Stack) -> Result<(), Error> {
    let table = stack.app.table.as_ref();
    let team_id = TeamId::parse(TEAM).map_err(Error::internal)?;
    let at = "2026-11-21T12:00:00Z".to_owned();
    let team = Team {
        id: team_id.clone(),
        name: "Acme GTM".into(),
        plan: "trial".into(),
        credits: Credits {
            balance: 500,
            reserved: 0,
        },
        privacy_defaults: Default::default(),
        owner_count: 1,
        budget: None,
        guardrail: None,
        marketplace: None,
        created_at: at.clone(),
        updated_at: at.clone(),
    };
    table
        .put(to_item(&team, &keys::team(&team_id), "team")?, None)
        .await?;
    let member = |email: &str, role| {
        let email = Email::parse(email).expect("a valid sample address");
        Member {
            user_id: UserId::for_email(&email),
            email,
            role,
            status: MemberStatus::Active,
            privacy: Default::default(),
            monthly_credit_limit: None,
            created_at: at.clone(),
            updated_at: at.clone(),
        }
    };
    let owner = member("owner@example.com", Role::Owner);
    for m in [&owner, &member("member@example.com", Role::Member)] {
        table.put(members::member_item(&team_id, m)?, None).await?;
    }
    let owner_id = &owner.user_id;
    let mut acme =
        resource_item::<CompanyDraft>(&team_id, COMPANY, json!({"name": "Acme"}), owner_id)?;
    // As the product's creation would have counted it.
    acme.insert("product_count".into(), Value::N(1));
    let items = [
        acme,
        resource_item::<CompanyDraft>(&team_id, SPARE_COMPANY, json!({"name": "Spare"}), owner_id)?,
        resource_item::<ProductDraft>(
            &team_id,
            PRODUCT,
            json!({"company_id": COMPANY, "name": "Deploy Guard"}),
            owner_id,
        )?,
        resource_item::<PartnerDraft>(&team_id, PARTNER, json!({"name": "Globex"}), owner_id)?,
        resource_item::<AgentDraft>(
            &team_id,
            AGENT,
            json!({"name": "Launch writer", "allowed_capabilities": ["generate_text", "social_posts"], "requires_approval": true}),
            owner_id,
        )?,
        resource_item::<ConversationDraft>(
            &team_id,
            CONVERSATION,
            json!({"title": "Launch ideas", "company_id": COMPANY, "product_id": PRODUCT}),
            owner_id,
        )?,
    ];
    for item in items {
        table.put(item, None).await?;
    }
    seed_webhook(table, &team_id, owner_id).await?;

    let key_id = ApiKeyId::parse(API_KEY).map_err(Error::internal)?;
    let scopes = vec![Scope::Read, Scope::Write, Scope::Admin];
    let listing = ApiKey {
        id: key_id.clone(),
        team_id: team_id.clone(),
        name: "Sample".into(),
        scopes: scopes.clone(),
        prefix: SAMPLE_SECRET[..10].into(),
        created_by: owner.user_id.clone(),
        created_at: at.clone(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        revoked_reason: None,
    };
    let hash = secret_hash(SAMPLE_SECRET);
    let mut listing_item = to_item(
        &listing,
        &keys::api_key_listing(&team_id, &key_id),
        "api_key",
    )?;
    listing_item.insert("secret_sha256".into(), Value::S(hash.clone()));
    table.put(listing_item, None).await?;
    let lookup = KeyLookup {
        key_id,
        team_id,
        scopes,
        created_by: owner.user_id.clone(),
        expires_at: None,
        last_used_at: None,
    };
    table
        .put(
            to_item(&lookup, &keys::api_key_lookup(&hash), "api_key_lookup")?,
            None,
        )
        .await?;
    seed_waiting_executions(stack, &owner.user_id).await
}

/// The sample endpoint (at a public address, so the samples need no name resolution) and one
/// delivery to it of a test event, as registering it and testing it would have left them.
async fn seed_webhook(
    table: &dyn vellocity::ports::table::Table,
    team_id: &TeamId,
    owner: &UserId,
) -> Result<(), Error> {
    let endpoint = json!({"url": "https://93.184.215.14/webhooks/vellocity", "events": ["*"]});
    let mut item = resource_item::<WebhookDraft>(team_id, WEBHOOK, endpoint, owner)?;
    let secrets = json!([{ "secret": WEBHOOK_SECRET }]);
    item.insert(
        "secrets".into(),
        vellocity::app::items::value_from_json(secrets).map_err(Error::internal)?,
    );
    table.put(item, None).await?;
    let at = "2026-11-21T12:00:00Z".to_owned();
    let event = json!({
        "id": EVENT, "type": "webhook.test", "team_id": TEAM, "occurred_at": at,
        "actor": owner, "data": {"webhook_id": WEBHOOK},
    });
    let delivery = Delivery {
        id: EVENT.into(),
        webhook_id: WEBHOOK.into(),
        event_type: "webhook.test".into(),
        status: DeliveryStatus::Failed,
        attempts: Vec::new(),
        next_attempt_at: None,
        payload: event.to_string(),
        created_at: at,
    };
    let key = Key::new(
        keys::team_partition(team_id),
        format!("WHDELIVERY#{WEBHOOK}#{EVENT}"),
    );
    let mut item = to_item(&delivery, &key, "webhook_delivery")?;
    item.insert("payload".into(), Value::S(event.to_string()));
    table.put(item, None).await.map_err(Error::from)
}

/// Writes an execution of the sample agent in `status` with its credits reserved, as a POST
/// would have.
pub async fn seed_execution(
    app: &App,
    owner: &UserId,
    id: &str,
    status: ExecutionStatus,
) -> Result<(), Error> {
    let team_id = TeamId::parse(TEAM).map_err(Error::internal)?;
    let caller = Caller {
        team_id: team_id.clone(),
        user_id: owner.clone(),
        role: Role::Owner,
        scopes: vec![Scope::Read],
        credential: "seed".into(),
        request_id: None,
    };
    let agent = vellocity::app::resources::get::<AgentDraft>(app, &caller, AGENT).await?;
    let reserved = executions::reservation(&agent.data);
    let id = ExecutionId::parse(id).map_err(Error::internal)?;
    let execution = Execution {
        id: id.clone(),
        agent_id: AgentId::parse(AGENT).map_err(Error::internal)?,
        request: "Announce Deploy Guard on LinkedIn and X.".into(),
        company_id: None,
        product_id: None,
        partner_id: None,
        inputs: Default::default(),
        status,
        credits: ExecutionCredits {
            reserved,
            used: 0,
            refunded: 0,
        },
        steps: Vec::new(),
        tokens: Default::default(),
        error: None,
        created_by: owner.clone(),
        created_at: "2026-11-21T12:00:00Z".into(),
        finished_at: None,
        approval_token: None,
        budget: None,
        run: None,
        holds_slot: false,
        guardrail: None,
        approval: None,
        outputs_apart: true,
    };
    let key = keys::execution(&team_id, &id);
    app.table
        .put(to_item(&execution, &key, "execution")?, None)
        .await?;
    app.table
        .update(Update {
            key: keys::team(&team_id),
            actions: vec![
                UpdateAction::Add(CREDITS_BALANCE.into(), -reserved),
                UpdateAction::Add(CREDITS_RESERVED.into(), reserved),
            ],
            condition: None,
        })
        .await?;
    Ok(())
}

/// Waits (up to ten seconds) until the workflow has moved an execution of the samples' team
/// out of `from`.
pub async fn wait_while(
    app: &App,
    id: &str,
    from: ExecutionStatus,
) -> Result<ExecutionStatus, Error> {
    let team_id = TeamId::parse(TEAM).map_err(Error::internal)?;
    let id = ExecutionId::parse(id).map_err(Error::internal)?;
    for _ in 0..2_000 {
        let current = executions::find(app, &team_id, &id)
            .await?
            .ok_or_else(|| Error::not_found("execution"))?;
        if current.status != from {
            return Ok(current.status);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Err(Error::internal(format!(
        "execution {id} stayed {}",
        from.as_str()
    )))
}

/// The executions the samples read, approve and cancel: queued, then run by the local
/// workflow engine until they wait for approval.
async fn seed_waiting_executions(stack: &Stack, owner: &UserId) -> Result<(), Error> {
    let app = &stack.app;
    for id in [EXECUTION, EXECUTION_TO_CANCEL] {
        seed_execution(app, owner, id, ExecutionStatus::Queued).await?;
        let input = serde_json::json!({"team_id": TEAM, "execution_id": id});
        app.workflows
            .start(id, &input)
            .await
            .map_err(|e| Error::unavailable(e.to_string()))?;
        let mut status = ExecutionStatus::Queued;
        while status != ExecutionStatus::AwaitingApproval {
            if status.is_final() {
                return Err(Error::internal(format!(
                    "sample execution {id} ended {}",
                    status.as_str()
                )));
            }
            status = wait_while(app, id, status).await?;
        }
    }
    Ok(())
}
