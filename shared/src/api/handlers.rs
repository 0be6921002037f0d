//! Route handlers: parse, call one use case, map the result. No business rule lives here.

use crate::agentcore::chat;
use crate::app::audit::{self, AuditFilter};
use crate::app::executions::{self, ExecutionFilter};
use crate::app::resources::{self, Resource};
use crate::app::usage::{self, UsageQuery};
use crate::app::{api_keys, execution_view, members, teams, App};
use crate::app::{budgets, conversations, webhooks};
use crate::domain::agent::AgentDraft;
use crate::domain::capabilities::CAPABILITIES;
use crate::domain::catalog;
use crate::domain::execution::ExecutionStatus;
use crate::domain::ids::{AgentId, EventId};
use crate::domain::resources::{CompanyDraft, PartnerDraft, ProductDraft};
use crate::error::{BadRequest, Error};

use super::request::ApiRequest;
use super::response::ApiResponse;
use super::routes::RouteId;

use std::future::Future;
use std::pin::Pin;

/// A route's handler: parses the request, calls one use case, maps the result.
pub type Handler =
    for<'a> fn(
        &'a App,
        &'a ApiRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ApiResponse, Error>> + Send + 'a>>;

/// A route and its handler: what the route's Lambda function serves. A function names its one
/// endpoint ([`endpoints`]), so its binary links that handler's code and no other; the local
/// stack finds each route's with [`endpoint`].
#[derive(Clone, Copy)]
pub struct Endpoint {
    /// The route: its path, method, access and query parameters.
    pub route: RouteId,
    /// What answers it.
    pub handler: Handler,
}

/// Declares each route's endpoint (in [`endpoints`], named as its [`RouteId`]) and
/// [`endpoint`], which must name every route.
macro_rules! endpoints {
    ($app:ident, $req:ident, $caller:ident; $($route:ident => $body:expr,)*) => {
        /// Each route's endpoint, named as its [`RouteId`].
        #[allow(non_upper_case_globals)]
        pub mod endpoints {
            use super::*;
            $(
                #[doc = concat!("The endpoint of [`RouteId::", stringify!($route), "`].")]
                pub const $route: Endpoint = Endpoint {
                    route: RouteId::$route,
                    handler: |$app, $req| {
                        Box::pin(async move {
                            let _ = $app; // not every handler reads the table
                            #[allow(unused_variables)]
                            let $caller = &$req.caller;
                            $body
                        })
                    },
                };
            )*
        }

        /// The endpoint of `route`.
        pub fn endpoint(route: RouteId) -> Endpoint {
            match route {
                $(RouteId::$route => endpoints::$route,)*
            }
        }
    };
}

endpoints! { app, req, caller;
    GetTeam => ApiResponse::ok(&teams::get_team(app, caller).await?.to_json()),
    UpdateTeam => ApiResponse::ok(
        &teams::update_team(app, caller, req.json_value()?)
            .await?
            .to_json(),
    ),
    ListMembers => ApiResponse::ok(&members::list(app, caller, req.page()?).await?),
    InviteMember => ApiResponse::created(&members::invite(app, caller, req.json()?).await?),
    UpdateMember => {
        ApiResponse::ok(&members::change(app, caller, req.path("user_id"), req.json()?).await?)
    },
    RemoveMember => {
        members::remove(app, caller, req.path("user_id")).await?;
        Ok(ApiResponse::no_content())
    },
    ListCompanies => list::<CompanyDraft>(app, req).await,
    CreateCompany => create::<CompanyDraft>(app, req).await,
    GetCompany => get::<CompanyDraft>(app, req).await,
    UpdateCompany => update::<CompanyDraft>(app, req).await,
    DeleteCompany => delete::<CompanyDraft>(app, req).await,
    ListProducts => list::<ProductDraft>(app, req).await,
    CreateProduct => create::<ProductDraft>(app, req).await,
    GetProduct => get::<ProductDraft>(app, req).await,
    UpdateProduct => update::<ProductDraft>(app, req).await,
    DeleteProduct => delete::<ProductDraft>(app, req).await,
    ListPartners => list::<PartnerDraft>(app, req).await,
    CreatePartner => create::<PartnerDraft>(app, req).await,
    GetPartner => get::<PartnerDraft>(app, req).await,
    UpdatePartner => update::<PartnerDraft>(app, req).await,
    DeletePartner => delete::<PartnerDraft>(app, req).await,
    ListApiKeys => ApiResponse::ok(&api_keys::list(app, caller, req.page()?).await?),
    CreateApiKey => ApiResponse::created(&api_keys::create(app, caller, req.json()?).await?),
    RevokeApiKey => {
        api_keys::revoke(app, caller, req.path("id")).await?;
        Ok(ApiResponse::no_content())
    },
    ListAgents => list::<AgentDraft>(app, req).await,
    CreateAgent => create::<AgentDraft>(app, req).await,
    GetAgent => get::<AgentDraft>(app, req).await,
    UpdateAgent => update::<AgentDraft>(app, req).await,
    DeleteAgent => delete::<AgentDraft>(app, req).await,
    ListCapabilities => {
        let items: Vec<_> = CAPABILITIES
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id,
                    "description": c.description,
                    "kind": c.kind(),
                    "input_schema": c.input_schema(),
                    "credits": c.credits,
                    "max_credits": c.credits.reserve(),
                })
            })
            .collect();
        ApiResponse::ok(&serde_json::json!({ "items": items, "next_cursor": null }))
    },
    ListModels => {
        let items: Vec<_> = catalog::MODELS
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id,
                    "kind": m.kind,
                    "purpose": m.purpose,
                    "prices_micro_usd": {
                        "per_million_input_tokens": m.input_per_million,
                        "per_million_output_tokens": m.output_per_million,
                        "per_million_cache_read_tokens": m.cache_read_per_million,
                        "per_million_cache_write_tokens": m.cache_write_per_million,
                        "per_image": m.per_image,
                    },
                    "prompt_caching": m.caches_prompts,
                    "structured_output": m.schema_answers,
                    "replaces": catalog::RETIRED.iter().filter(|(_, new)| *new == m.id).map(|(old, _)| *old).collect::<Vec<_>>(),
                    "default_for": catalog::defaults_of(m.id),
                })
            })
            .collect();
        ApiResponse::ok(&serde_json::json!({ "items": items, "next_cursor": null }))
    },
    GetUsage => {
        let query = UsageQuery::parse(
            req.query_value("from")?,
            req.query_value("to")?,
            req.query_value("group_by")?,
            app.clock.now().date(),
        )?;
        ApiResponse::ok(&usage::report(app, &caller.team_id, &query).await?)
    },
    GetBudget => ApiResponse::ok(&budgets::get(app, caller).await?),
    PutBudget => ApiResponse::ok(&budgets::put(app, caller, req.json()?).await?),
    ListConversations => ApiResponse::ok(&conversations::list(app, caller, req.page()?).await?),
    CreateConversation => {
        ApiResponse::created(&conversations::create(app, caller, req.json()?).await?)
    },
    GetConversation => ApiResponse::ok(&conversations::get(app, caller, req.path("id")).await?),
    UpdateConversation => ApiResponse::ok(
        &conversations::update(app, caller, req.path("id"), req.json_value()?).await?,
    ),
    DeleteConversation => {
        conversations::delete(app, caller, req.path("id")).await?;
        Ok(ApiResponse::no_content())
    },
    SendMessage => {
        ApiResponse::created(&chat::send(app, caller, req.path("id"), req.json()?, None).await?)
    },
    ListMessages => ApiResponse::ok(
        &conversations::messages(app, caller, req.path("id"), req.page()?).await?,
    ),
    ListWebhooks => ApiResponse::ok(&webhooks::list(app, caller, req.page()?).await?),
    CreateWebhook => ApiResponse::created(&webhooks::create(app, caller, req.json()?).await?),
    GetWebhook => ApiResponse::ok(&webhooks::get(app, caller, req.path("id")).await?),
    UpdateWebhook => ApiResponse::ok(
        &webhooks::update(app, caller, req.path("id"), req.json_value()?).await?,
    ),
    DeleteWebhook => {
        webhooks::delete(app, caller, req.path("id")).await?;
        Ok(ApiResponse::no_content())
    },
    RotateWebhookSecret => {
        ApiResponse::ok(&webhooks::rotate_secret(app, caller, req.path("id")).await?)
    },
    TestWebhook => ApiResponse::json(
        202,
        &webhooks::send_test(app, caller, req.path("id")).await?,
    ),
    ListWebhookDeliveries => {
        ApiResponse::ok(&webhooks::deliveries(app, caller, req.path("id"), req.page()?).await?)
    },
    ReplayWebhookDelivery => ApiResponse::json(
        202,
        &webhooks::replay(app, caller, req.path("id"), req.path("delivery_id")).await?,
    ),
    ListAudit => {
        let page = req.page()?;
        let filter = AuditFilter::parse(
            req.query_value("actor")?,
            req.query_value("action")?,
            req.query_value("from")?,
            req.query_value("to")?,
        )?;
        ApiResponse::ok(&audit::list(app, caller, &filter, page).await?)
    },
    AgentActivity => {
        let page = req.page()?;
        let agent = resources::get::<AgentDraft>(app, caller, req.path("id")).await?;
        let filter = ExecutionFilter {
            agent_id: Some(AgentId::parse(&agent.id).map_err(Error::internal)?),
            status: None,
        };
        let listing = executions::list(app, caller, &filter, page).await?;
        ApiResponse::ok(&listing.map(|e| execution_view::activity(&e)))
    },
    ListExecutionEvents => {
        let page = req.page()?;
        let execution = executions::get(app, caller, req.path("id")).await?;
        let after = req
            .query_value("after")?
            .map(|id| {
                EventId::parse(id).map_err(|e| {
                    Error::bad_request(BadRequest::InvalidQuery, format!("`after` {e}."))
                })
            })
            .transpose()?;
        let after = after.as_ref().map(|id| id.as_str());
        let items =
            executions::events_after(app, &caller.team_id, &execution.id, after, page.limit)
                .await?;
        ApiResponse::ok(&serde_json::json!({ "items": items }))
    },
    StartExecution => {
        let execution = executions::start(app, caller, req.path("id"), req.json()?).await?;
        ApiResponse::json(202, &execution_view::detail(app, &caller.team_id, execution).await?)
    },
    ListExecutions => {
        let page = req.page()?;
        let filter = execution_filter(req)?;
        let listing = executions::list(app, caller, &filter, page).await?;
        ApiResponse::ok(&listing.map(|e| execution_view::summary(&e)))
    },
    GetExecution => {
        let execution = executions::get(app, caller, req.path("id")).await?;
        ApiResponse::ok(&execution_view::detail(app, &caller.team_id, execution).await?)
    },
    CancelExecution => {
        let execution = executions::cancel(app, caller, req.path("id")).await?;
        ApiResponse::ok(&execution_view::detail(app, &caller.team_id, execution).await?)
    },
    DecideApproval => {
        let execution = executions::decide(app, caller, req.path("id"), req.json()?).await?;
        ApiResponse::ok(&execution_view::detail(app, &caller.team_id, execution).await?)
    },
}

/// `?agent_id=` and `?status=` of `GET /v1/executions`.
fn execution_filter(req: &ApiRequest) -> Result<ExecutionFilter, Error> {
    let agent_id = req
        .query_value("agent_id")?
        .map(|id| {
            AgentId::parse(id).map_err(|e| {
                Error::bad_request(BadRequest::InvalidQuery, format!("`agent_id` {e}."))
            })
        })
        .transpose()?;
    let status = req
        .query_value("status")?
        .map(|text| {
            serde_json::from_value::<ExecutionStatus>(text.into()).map_err(|_| {
                Error::bad_request(
                    BadRequest::InvalidQuery,
                    "`status` must be one of queued, running, awaiting_approval, succeeded, failed, cancelled.",
                )
            })
        })
        .transpose()?;
    Ok(ExecutionFilter { agent_id, status })
}

async fn list<R: Resource>(app: &App, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let listing = resources::list::<R>(app, &req.caller, req.page()?).await?;
    let items = resources::render(app, &req.caller, &listing.items).await?;
    ApiResponse::ok(&serde_json::json!({ "items": items, "next_cursor": listing.next_cursor }))
}

async fn get<R: Resource>(app: &App, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let record = resources::get::<R>(app, &req.caller, req.path("id")).await?;
    ApiResponse::ok(&one(app, req, record).await?)
}

async fn create<R: Resource>(app: &App, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let record = resources::create::<R>(app, &req.caller, req.json()?).await?;
    ApiResponse::created(&one(app, req, record).await?)
}

async fn update<R: Resource>(app: &App, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let record =
        resources::update::<R>(app, &req.caller, req.path("id"), req.json_value()?).await?;
    ApiResponse::ok(&one(app, req, record).await?)
}

async fn delete<R: Resource>(app: &App, req: &ApiRequest) -> Result<ApiResponse, Error> {
    resources::delete::<R>(app, &req.caller, req.path("id")).await?;
    Ok(ApiResponse::no_content())
}

async fn one<R: Resource>(
    app: &App,
    req: &ApiRequest,
    record: crate::app::records::Record<R>,
) -> Result<serde_json::Value, Error> {
    let mut rendered = resources::render(app, &req.caller, std::slice::from_ref(&record)).await?;
    rendered
        .pop()
        .ok_or_else(|| Error::internal("rendering lost the record"))
}
