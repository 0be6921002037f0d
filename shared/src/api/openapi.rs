//! The API's OpenAPI 3.1 document, generated from the code rather than written beside it: the
//! route table gives the paths, methods, access, query parameters and idempotency; schemars
//! gives the request bodies (the very types the handlers decode) and the typed responses; the
//! error envelope, the security scheme and the domain events (as `webhooks`) come from the
//! modules that define them. Every route must say here what it takes and answers: the match in
//! [`operation`] is exhaustive, so a new route does not compile until it does.
//!
//! Served without credentials at [`PATH`]; `docs/openapi.json` keeps a copy a test holds equal.

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::agentcore::chat::{Exchange, MessageRequest};
use crate::app::api_keys::IssuedKey;
use crate::app::audit::AuditEntry;
use crate::app::budgets::BudgetView;
use crate::app::members::MemberView;
use crate::app::usage::UsageReport;
use crate::app::webhooks::Delivery;
use crate::domain::agent::AgentDraft;
use crate::domain::budget::BudgetRequest;
use crate::domain::conversation::{ChatMessage, ConversationDraft};
use crate::domain::events::{self, event_types};
use crate::domain::execution::{ApprovalRequest, ExecutionRequest};
use crate::domain::resources::{CompanyDraft, PartnerDraft, ProductDraft};
use crate::domain::team::{ApiKey, ApiKeyRequest, Invitation, MemberChange, TeamDraft};
use crate::domain::webhook::WebhookDraft;

use super::request::BODY_LIMIT;
use super::response::ApiResponse;
use super::routes::{ParamValues, QueryParam, Route, RouteId, ROUTES};

/// Where the document is served, to anyone.
pub const PATH: &str = "/v1/openapi.json";

/// The document's own version: the API's major version and the crate's release.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The answer to `GET /v1/openapi.json`: the document, rendered once per process.
pub fn served() -> ApiResponse {
    static RENDERED: OnceLock<String> = OnceLock::new();
    let body = RENDERED.get_or_init(|| document().to_string());
    ApiResponse {
        status: 200,
        body: Some(body.clone()),
        headers: vec![("cache-control", "public, max-age=300".to_owned())],
    }
}

/// The document, as served and as kept in `docs/openapi.json`.
pub fn document() -> Value {
    let mut schemas = Schemas::new();
    let mut paths = Map::new();
    for route in ROUTES {
        let operation = operation(route, &mut schemas);
        let path = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        path[route.method.to_ascii_lowercase()] = operation;
    }
    paths.insert(
        PATH.to_owned(),
        json!({"get": {
            "operationId": "GetOpenApi",
            "summary": "This document.",
            "tags": ["contract"],
            "security": [],
            "responses": {"200": {
                "description": "The OpenAPI 3.1 document of this API.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }},
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Vellocity API",
            "version": VERSION,
            "description": "AI go-to-market work for AWS ISV partners: brands, products, partners, agents and their AgentCore executions, chat, usage, budgets, webhooks and the audit log. Every error answers in one envelope (`Error`); lists page with `limit` and `cursor` (`next_cursor` is null on the last page); creating routes honour `Idempotency-Key`.",
        },
        "servers": [{"url": "/", "description": "The API's stage URL (or the local `serve`)."}],
        "security": [{"bearer": []}],
        "tags": tags(),
        "paths": paths,
        "webhooks": webhooks(),
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (`vk_…`, scoped read / write / admin) or a JWT of the team's identity provider. A person in several teams signing in with a JWT chooses one with the `X-Team-Id` header.",
            }},
            "schemas": schemas.finish(),
            "headers": {
                "X-Request-Id": {
                    "description": "This request's id; quote it to support.",
                    "schema": {"type": "string"},
                },
                "RateLimit-Policy": {
                    "description": "The team's plan limits (IETF draft-ietf-httpapi-ratelimit-headers-11): `\"burst\";q=<requests>;w=<seconds>, \"daily\";q=<requests>;w=86400`.",
                    "schema": {"type": "string"},
                },
                "RateLimit": {
                    "description": "Where the team stands (draft-11): `\"burst\";r=<left>;t=<seconds to full>, \"daily\";r=<left>;t=<seconds to UTC midnight>`.",
                    "schema": {"type": "string"},
                },
                "Retry-After": {
                    "description": "With 429 (and some 503): seconds to wait before retrying.",
                    "schema": {"type": "integer", "minimum": 1},
                },
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`.",
                    "schema": {"type": "string", "enum": ["true"]},
                },
            },
        },
    })
}

/// What one operation takes and answers.
struct Shape {
    summary: &'static str,
    body: Option<Value>,
    status: u16,
    answer: Option<Value>,
}

fn shape(summary: &'static str, body: Option<Value>, status: u16, answer: Option<Value>) -> Shape {
    Shape {
        summary,
        body,
        status,
        answer,
    }
}

/// The operation object of a route.
fn operation(route: &Route, schemas: &mut Schemas) -> Value {
    use RouteId::*;
    let s = schemas;
    let ok = |summary, answer: Value| shape(summary, None, 200, Some(answer));
    let shape = match route.id {
        GetTeam => ok("The team, its plan and credits.", s.named("Team")),
        UpdateTeam => shape(
            "Change the team's name or privacy defaults (JSON merge patch).",
            Some(s.patch::<TeamDraft>()),
            200,
            Some(s.named("Team")),
        ),
        ListMembers => ok("The team's members.", list(s.named("Member"))),
        InviteMember => shape(
            "Invite a person by email with a role.",
            Some(s.request::<Invitation>()),
            201,
            Some(s.named("Member")),
        ),
        UpdateMember => shape(
            "Change a member's role or monthly credit limit.",
            Some(s.request::<MemberChange>()),
            200,
            Some(s.named("Member")),
        ),
        RemoveMember => shape("Remove a member.", None, 204, None),
        ListCompanies => ok("The team's companies (brands).", list(s.named("Company"))),
        CreateCompany => s.create::<CompanyDraft>("Create a company with its brand voice.", "Company"),
        GetCompany => ok("One company.", s.named("Company")),
        UpdateCompany => s.update::<CompanyDraft>("Change a company (JSON merge patch).", "Company"),
        DeleteCompany => shape("Delete a company without products.", None, 204, None),
        ListProducts => ok("The team's products.", list(s.named("Product"))),
        CreateProduct => s.create::<ProductDraft>("Create a product of a company.", "Product"),
        GetProduct => ok("One product.", s.named("Product")),
        UpdateProduct => s.update::<ProductDraft>("Change a product (JSON merge patch).", "Product"),
        DeleteProduct => shape("Delete a product.", None, 204, None),
        ListPartners => ok("The team's co-sell partners.", list(s.named("Partner"))),
        CreatePartner => s.create::<PartnerDraft>("Create a co-sell partner.", "Partner"),
        GetPartner => ok("One partner.", s.named("Partner")),
        UpdatePartner => s.update::<PartnerDraft>("Change a partner (JSON merge patch).", "Partner"),
        DeletePartner => shape("Delete a partner.", None, 204, None),
        ListApiKeys => ok("The team's API keys, without secrets.", list(s.named("ApiKey"))),
        CreateApiKey => shape(
            "Create an API key; its secret is in this answer only.",
            Some(s.request::<ApiKeyRequest>()),
            201,
            Some(s.named("IssuedApiKey")),
        ),
        RevokeApiKey => shape("Revoke an API key.", None, 204, None),
        ListAgents => ok("The team's agents.", list(s.named("Agent"))),
        CreateAgent => s.create::<AgentDraft>("Create an agent: capabilities, models, approval.", "Agent"),
        GetAgent => ok("One agent.", s.named("Agent")),
        UpdateAgent => s.update::<AgentDraft>("Change an agent (JSON merge patch).", "Agent"),
        DeleteAgent => shape("Delete an agent.", None, 204, None),
        AgentActivity => ok("An agent's executions, newest first, step by step.", list(s.named("ActivityEntry"))),
        ListCapabilities => ok("What an agent's steps can do, with their input schemas and credits.", list(s.named("Capability"))),
        ListModels => ok("The models agents may choose, with their prices.", list(s.named("Model"))),
        GetUsage => ok("Tokens, cost and credits over a period, grouped.", s.named("UsageReport")),
        GetBudget => ok("This month's budget and spending.", s.named("Budget")),
        PutBudget => shape(
            "Set the monthly budget.",
            Some(s.request::<BudgetRequest>()),
            200,
            Some(s.named("Budget")),
        ),
        ListConversations => ok("The team's conversations, newest first.", list(s.named("Conversation"))),
        CreateConversation => s.create::<ConversationDraft>("Start a conversation.", "Conversation"),
        GetConversation => ok("One conversation with its figures.", s.named("Conversation")),
        UpdateConversation => s.update::<ConversationDraft>("Change a conversation (JSON merge patch).", "Conversation"),
        DeleteConversation => shape("Delete a conversation and its messages.", None, 204, None),
        SendMessage => shape(
            "Ask in a conversation; the reply is written in the brand voice.",
            Some(s.request::<MessageRequest>()),
            201,
            Some(s.named("Exchange")),
        ),
        ListMessages => ok("A conversation's messages, oldest first.", list(s.named("Message"))),
        ListWebhooks => ok("The team's webhook endpoints.", list(s.named("Webhook"))),
        CreateWebhook => shape(
            "Register a webhook endpoint; its signing secret is in this answer only.",
            Some(s.request::<WebhookDraft>()),
            201,
            Some(s.named("WebhookWithSecret")),
        ),
        GetWebhook => ok("One webhook endpoint.", s.named("Webhook")),
        UpdateWebhook => shape(
            "Change a webhook endpoint (JSON merge patch).",
            Some(s.patch::<WebhookDraft>()),
            200,
            Some(s.named("Webhook")),
        ),
        DeleteWebhook => shape("Delete a webhook endpoint.", None, 204, None),
        RotateWebhookSecret => ok(
            "A new signing secret; the old one keeps signing for a day.",
            s.named("WebhookWithSecret"),
        ),
        TestWebhook => shape("Send a `webhook.test` event to the endpoint.", None, 202, Some(s.named("Event"))),
        ListWebhookDeliveries => ok("An endpoint's deliveries, newest first.", list(s.named("WebhookDelivery"))),
        ReplayWebhookDelivery => shape("Deliver an event again now.", None, 202, Some(s.named("WebhookDelivery"))),
        ListAudit => ok("Who changed what, newest first.", list(s.named("AuditEntry"))),
        StartExecution => shape(
            "Start an execution of the agent: planned, run step by step, settled in credits.",
            Some(s.request::<ExecutionRequest>()),
            202,
            Some(s.named("Execution")),
        ),
        ListExecutions => ok("The team's executions, newest first.", list(s.named("ExecutionSummary"))),
        GetExecution => ok("One execution with every step's input and output.", s.named("Execution")),
        ListExecutionEvents => ok(
            "An execution's events in order; with `Accept: text/event-stream`, a live Server-Sent Events stream that ends after the terminal event (`Last-Event-ID` resumes).",
            json!({
                "type": "object",
                "required": ["items"],
                "properties": {"items": {"type": "array", "items": s.named("Event")}},
            }),
        ),
        CancelExecution => ok("Cancel a queued, running or waiting execution.", s.named("Execution")),
        DecideApproval => shape(
            "Approve or reject the plan of an execution waiting for approval.",
            Some(s.request::<ApprovalRequest>()),
            200,
            Some(s.named("Execution")),
        ),
    };
    build(route, shape)
}

/// The operation object from its shape and the route's entry.
fn build(route: &Route, shape: Shape) -> Value {
    let mut parameters: Vec<Value> = path_names(route.path)
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}})
        })
        .collect();
    parameters.extend(route.query.iter().map(query_parameter));
    if route.idempotent {
        parameters.push(json!({
            "name": "Idempotency-Key",
            "in": "header",
            "description": "A key of your choosing (1–255 visible ASCII characters); the same request with the same key within 24 hours gets the first answer again instead of being repeated.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7E]+$"},
        }));
    }
    let mut headers = standing_headers();
    if route.idempotent {
        headers["Idempotent-Replayed"] =
            json!({"$ref": "#/components/headers/Idempotent-Replayed"});
    }
    let mut success = json!({"description": shape.summary, "headers": headers});
    if let Some(answer) = shape.answer {
        success["content"] = json!({"application/json": {"schema": answer}});
    }
    if route.id == RouteId::ListExecutionEvents {
        success["content"]["text/event-stream"] = json!({
            "schema": {"type": "string", "description": "`id:`, `event:` (the event type) and `data:` (the event as JSON) per event; `: heartbeat` comments while idle."},
        });
    }
    let mut responses = Map::new();
    if route.id == RouteId::SendMessage {
        responses.insert(
            "200".into(),
            json!({
                "description": "With `Accept: text/event-stream` (and no `Idempotency-Key`): the reply as the model writes it.",
                "headers": standing_headers(),
                "content": {"text/event-stream": {"schema": {"type": "string", "description": "`event: delta` frames (`{\"text\"}`, the next piece of the reply), then `event: reply` (the stored `Exchange`, with tokens, cost and credits), or `event: error` (the error envelope) if the model fails after the stream began."}}},
            }),
        );
    }
    responses.insert(shape.status.to_string(), success);
    let error = |description: &str| {
        let mut headers = standing_headers();
        headers["Retry-After"] = json!({"$ref": "#/components/headers/Retry-After"});
        json!({
            "description": description,
            "headers": headers,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        })
    };
    responses.insert(
        "4XX".into(),
        error("The request was refused; `error.code` says why (see `Error`)."),
    );
    responses.insert(
        "503".into(),
        error("A service this request needs is unavailable; retry later."),
    );
    let mut operation = json!({
        "operationId": format!("{:?}", route.id),
        "summary": shape.summary,
        "description": format!(
            "Needs the `{}` role (or higher) and a credential with the `{}` scope.",
            route.access.role.as_str(),
            route.access.scope.as_str()
        ),
        "tags": [tag_of(route.path)],
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(body) = shape.body {
        operation["requestBody"] = json!({
            "required": true,
            "description": format!("JSON, at most {} KB.", BODY_LIMIT / 1024),
            "content": {"application/json": {"schema": body}},
        });
    }
    let links = links(route);
    if !links.is_empty() {
        operation["responses"][shape.status.to_string()]["links"] = Value::Object(links);
    }
    operation
}

/// The headers of every answer: its request id and the team's standing against its limits.
fn standing_headers() -> Value {
    json!({
        "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
        "RateLimit": {"$ref": "#/components/headers/RateLimit"},
        "RateLimit-Policy": {"$ref": "#/components/headers/RateLimit-Policy"},
    })
}

fn path_names(path: &'static str) -> impl Iterator<Item = &'static str> {
    path.split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
}

fn query_parameter(param: &QueryParam) -> Value {
    let schema = match param.values {
        ParamValues::Text => json!({"type": "string"}),
        ParamValues::Integer { min, max } => {
            json!({"type": "integer", "minimum": min, "maximum": max})
        }
        ParamValues::Day => {
            json!({"type": "string", "format": "date", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"})
        }
        ParamValues::Id(prefix) => {
            json!({"type": "string", "pattern": format!("^{prefix}_[0-9A-Z]{{26}}$")})
        }
        ParamValues::OneOf(words) => json!({"type": "string", "enum": words}),
    };
    json!({"name": param.name, "in": "query", "required": false, "description": param.description, "schema": schema})
}

/// The first path segment after the version names the operation's group.
fn tag_of(path: &str) -> &str {
    path.split('/').nth(2).unwrap_or_default()
}

fn tags() -> Value {
    let mut names: Vec<&str> = ROUTES.iter().map(|r| tag_of(r.path)).collect();
    names.dedup();
    names.sort_unstable();
    names.dedup();
    names.push("contract");
    Value::Array(
        names
            .into_iter()
            .map(|name| json!({"name": name}))
            .collect(),
    )
}

/// OpenAPI links from what a creating route answers to the routes of the thing it created, so
/// a client (and the stateful contract test) can follow the id: the routes below the created
/// item's path, which name it by the answer's field of the same name (`id`, `user_id`).
fn links(route: &Route) -> Map<String, Value> {
    let collection = match route.id {
        RouteId::StartExecution => "/v1/executions",
        _ if route.method == "POST" && !route.path.ends_with('}') => route.path,
        _ => return Map::new(),
    };
    let mut links = Map::new();
    for target in ROUTES.iter().filter(|t| t.id != route.id) {
        let Some(below) = target.path.strip_prefix(collection) else {
            continue;
        };
        let mut names = path_names(target.path);
        let (Some(name), None) = (names.next(), names.next()) else {
            continue;
        };
        if below.starts_with(&format!("/{{{name}}}")) {
            links.insert(
                format!("{:?}", target.id),
                json!({"operationId": format!("{:?}", target.id), "parameters": {name: format!("$response.body#/{name}")}}),
            );
        }
    }
    links
}

/// Lets every property an object schema does not require be `null` (a merge patch's
/// removal), in the object and in the objects within it.
fn removable_when_optional(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    let required: Vec<String> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            removable_when_optional(property);
            if !required.contains(name) && !accepts_null(property) {
                *property = json!({"anyOf": [property.take(), {"type": "null"}]});
            }
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(options)) = map.get_mut(key) {
            options.iter_mut().for_each(removable_when_optional);
        }
    }
}

fn accepts_null(schema: &Value) -> bool {
    let null = |t: &Value| t == "null";
    schema
        .get("type")
        .is_some_and(|t| null(t) || t.as_array().is_some_and(|a| a.iter().any(null)))
        || ["anyOf", "oneOf"].iter().any(|key| {
            schema
                .get(*key)
                .and_then(Value::as_array)
                .is_some_and(|options| options.iter().any(accepts_null))
        })
}

/// `{"items": [...], "next_cursor": ...}`: one page of a list.
fn list(item: Value) -> Value {
    json!({
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last."},
        },
    })
}

/// The named schemas of the document's components, gathered as operations use them.
struct Schemas {
    /// Request bodies, exactly as the handlers decode them (unknown fields refused).
    requests: SchemaGenerator,
    named: Map<String, Value>,
}

impl Schemas {
    fn new() -> Schemas {
        let requests = SchemaSettings::draft2020_12()
            .for_deserialize()
            .with(|s| {
                s.definitions_path = "/components/schemas/".into();
                s.meta_schema = None;
            })
            .into_generator();
        Schemas {
            requests,
            named: Map::new(),
        }
    }

    /// A request body type, as a reference to its component.
    fn request<T: JsonSchema>(&mut self) -> Value {
        self.requests.subschema_for::<T>().to_value()
    }

    /// A JSON merge patch (RFC 7396) of a draft: any of its fields, none required; `null`
    /// removes a field the draft does not require, at any depth (it takes its default). The
    /// result is validated as the draft again.
    fn patch<T: JsonSchema>(&mut self) -> Value {
        let mut schema = SchemaSettings::draft2020_12()
            .for_deserialize()
            .with(|s| {
                s.inline_subschemas = true;
                s.meta_schema = None;
            })
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value();
        removable_when_optional(&mut schema);
        if let Value::Object(map) = &mut schema {
            map.remove("required");
            map.remove("title");
        }
        schema
    }

    fn create<T: JsonSchema>(&mut self, summary: &'static str, record: &str) -> Shape {
        shape(
            summary,
            Some(self.request::<T>()),
            201,
            Some(self.named(record)),
        )
    }

    fn update<T: JsonSchema>(&mut self, summary: &'static str, record: &str) -> Shape {
        shape(
            summary,
            Some(self.patch::<T>()),
            200,
            Some(self.named(record)),
        )
    }

    /// A reference to a named response schema, defining it on first use.
    fn named(&mut self, name: &str) -> Value {
        if !self.named.contains_key(name) {
            let schema = response_schema(name);
            self.named.insert(name.to_owned(), schema);
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    fn finish(mut self) -> Value {
        let mut all = self.requests.take_definitions(true);
        all.insert("Error".into(), error_schema());
        all.extend(self.named);
        let mut sorted: Vec<(String, Value)> = all.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        Value::Object(sorted.into_iter().collect())
    }
}

/// A response type's schema as it is serialised, every subschema inline.
fn serialized<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// A stored record as answered: its draft's fields, its id and bookkeeping, and for kinds
/// with privacy settings the effective settings resolved for the caller.
fn record<T: JsonSchema>(id_prefix: &str, privacy: bool) -> Value {
    let mut schema = serialized::<T>();
    let Value::Object(map) = &mut schema else {
        return schema;
    };
    map.remove("additionalProperties");
    map.remove("title");
    let properties = map
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("a struct's schema has properties");
    properties.insert("id".into(), prefixed(id_prefix));
    properties.insert("created_at".into(), timestamp());
    properties.insert("updated_at".into(), timestamp());
    properties.insert("created_by".into(), prefixed("usr"));
    if privacy {
        properties.insert("effective_privacy".into(), effective_privacy());
    }
    let required = map
        .entry("required")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("required is a list");
    required.extend(["id", "created_at", "updated_at", "created_by"].map(Value::from));
    schema
}

fn prefixed(prefix: &str) -> Value {
    json!({"type": "string", "pattern": format!("^{prefix}_[0-9A-Z]{{26}}$")})
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn nullable(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

fn integer() -> Value {
    json!({"type": "integer"})
}

fn effective_privacy() -> Value {
    let flag = json!({"type": "boolean"});
    json!({
        "type": "object",
        "description": "The privacy settings in force for the caller: member, team, company and product settings resolved in that order.",
        "required": ["training_data_opt_out", "analytics_opt_in", "data_isolation_enabled", "kb_cross_brand_sharing"],
        "properties": {
            "training_data_opt_out": flag, "analytics_opt_in": flag,
            "data_isolation_enabled": flag, "kb_cross_brand_sharing": flag,
        },
    })
}

/// Tokens of a model call: read at the full price, written, and (when not zero) read from or
/// written to the model's prompt cache.
fn tokens() -> Value {
    json!({"type": "object", "required": ["input", "output"],
           "properties": {"input": integer(), "output": integer(), "cache_read": integer(), "cache_write": integer()}})
}

/// The error envelope every failure answers in.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string", "description": "Stable; branch on it (e.g. `not_found`, `validation_failed`, `insufficient_credits`, `too_many_requests`)."},
                "message": {"type": "string", "description": "What happened and what to do, for a person."},
                "request_id": {"type": "string"},
                "details": {
                    "type": "array",
                    "description": "The fields at fault, for `validation_failed` and `invalid_body`.",
                    "items": {"type": "object", "required": ["field", "message"], "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
                },
            },
        }},
    })
}

/// A domain event: the body of a webhook delivery and an entry of an execution's events.
fn event_schema() -> Value {
    let mut schema = events::json_schema();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
    }
    schema
}

/// The schema of a named response.
fn response_schema(name: &str) -> Value {
    let money = integer();
    match name {
        "Team" => json!({
            "type": "object",
            "required": ["id", "name", "plan", "credits", "privacy_defaults", "owner_count", "created_at", "updated_at"],
            "properties": {
                "id": prefixed("team"),
                "name": {"type": "string"},
                "plan": {"type": "string"},
                "credits": {"type": "object", "required": ["balance", "reserved"], "properties": {"balance": integer(), "reserved": integer()}},
                "privacy_defaults": serialized::<crate::domain::privacy::PrivacySettings>(),
                "guardrail": serialized::<crate::domain::team::Guardrail>(),
                "owner_count": integer(),
                "marketplace": {"type": "object"},
                "subscription": {"type": "object"},
                "created_at": timestamp(),
                "updated_at": timestamp(),
            },
        }),
        "Member" => serialized::<MemberView>(),
        "ApiKey" => serialized::<ApiKey>(),
        "IssuedApiKey" => serialized::<IssuedKey>(),
        "Company" => record::<CompanyDraft>("cmp", true),
        "Product" => record::<ProductDraft>("prd", true),
        "Partner" => record::<PartnerDraft>("ptn", false),
        "Agent" => record::<AgentDraft>("agt", false),
        "Conversation" => {
            let mut schema = record::<ConversationDraft>("cnv", false);
            let properties = &mut schema["properties"];
            properties["message_count"] = integer();
            properties["tokens"] = tokens();
            properties["cost_micro_usd"] = money.clone();
            properties["credits_used"] = integer();
            properties["last_message_at"] = nullable(timestamp());
            schema
        }
        "Webhook" | "WebhookWithSecret" => {
            let mut schema = record::<WebhookDraft>("whk", false);
            let properties = &mut schema["properties"];
            properties["failing_since"] = nullable(timestamp());
            properties["disabled_reason"] = json!({"type": ["string", "null"]});
            if name == "WebhookWithSecret" {
                properties["secret"] = json!({"type": "string", "pattern": "^whsec_", "description": "The signing secret (Standard Webhooks); shown only now."});
                properties["previous_secret_expires_at"] = timestamp();
                schema["required"]
                    .as_array_mut()
                    .expect("required is a list")
                    .push("secret".into());
            }
            schema
        }
        "Event" => event_schema(),
        "WebhookDelivery" => serialized::<Delivery>(),
        "AuditEntry" => serialized::<AuditEntry>(),
        "UsageReport" => serialized::<UsageReport>(),
        "Budget" => serialized::<BudgetView>(),
        "Message" => serialized::<ChatMessage>(),
        "Exchange" => serialized::<Exchange>(),
        "Capability" => json!({
            "type": "object",
            "required": ["id", "description", "kind", "input_schema", "credits", "max_credits"],
            "properties": {
                "id": {"type": "string"},
                "description": {"type": "string"},
                "kind": {"type": "string"},
                "input_schema": {"type": "object", "description": "The JSON Schema of the step's input."},
                "credits": {"type": "object", "required": ["rule"], "properties": {"rule": {"type": "string"}}},
                "max_credits": integer(),
            },
        }),
        "Model" => json!({
            "type": "object",
            "required": ["id", "kind", "purpose", "prices_micro_usd", "prompt_caching", "structured_output", "default_for"],
            "properties": {
                "id": {"type": "string", "description": "The id Bedrock is called with (a cross-region inference profile where Bedrock requires one)."},
                "kind": {"type": "string", "enum": ["text", "image"]},
                "purpose": {"type": "string"},
                "prices_micro_usd": {
                    "type": "object",
                    "required": ["per_million_input_tokens", "per_million_output_tokens", "per_million_cache_read_tokens", "per_million_cache_write_tokens", "per_image"],
                    "properties": {"per_million_input_tokens": money, "per_million_output_tokens": money, "per_million_cache_read_tokens": money, "per_million_cache_write_tokens": money, "per_image": money},
                },
                "prompt_caching": {"type": "boolean", "description": "Whether the stable start of a prompt (instructions, brand voice, product facts) is cached and later read at the cache price."},
                "structured_output": {"type": "string", "enum": ["structured_output", "tool_use", "prompt"], "description": "How plans are held to their JSON Schema: Converse structured output, a tool the model must call, or the prompt alone (then validated and repaired)."},
                "default_for": {"type": "array", "items": {"type": "string"}},
                "replaces": {"type": "array", "items": {"type": "string"}, "description": "Retired model ids that now run on this model."},
            },
        }),
        "ExecutionSummary" | "Execution" => execution_schema(name == "Execution"),
        "ActivityEntry" => json!({
            "type": "object",
            "required": ["execution_id", "request", "status", "created_by", "started_at", "finished_at", "credits_used", "cost_micro_usd", "error", "steps"],
            "properties": {
                "execution_id": prefixed("exe"),
                "request": {"type": "string"},
                "status": execution_status(),
                "created_by": prefixed("usr"),
                "started_at": timestamp(),
                "finished_at": nullable(timestamp()),
                "credits_used": integer(),
                "cost_micro_usd": money,
                "error": nullable(execution_error()),
                "steps": {"type": "array", "items": {
                    "type": "object",
                    "required": ["index", "capability", "title", "status", "credits"],
                    "properties": {
                        "index": integer(), "capability": {"type": "string"}, "title": {"type": "string"},
                        "status": step_status(), "credits": {"type": ["integer", "null"]},
                        "model": {"type": ["string", "null"]},
                    },
                }},
            },
        }),
        other => unreachable!("no response schema is named {other}"),
    }
}

fn execution_status() -> Value {
    json!({"type": "string", "enum": ["queued", "running", "awaiting_approval", "succeeded", "failed", "cancelled"]})
}

fn step_status() -> Value {
    json!({"type": "string", "enum": ["pending", "running", "succeeded", "failed", "skipped"]})
}

fn execution_error() -> Value {
    json!({"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}})
}

/// An execution as listed (`full` false: each step's capability, title and status) or in full.
fn execution_schema(full: bool) -> Value {
    let step = if full {
        json!({
            "type": "object",
            "required": ["index", "capability", "title", "status", "input", "credits", "model", "tokens", "cost_micro_usd", "output", "error"],
            "properties": {
                "index": integer(),
                "capability": {"type": "string"},
                "title": {"type": "string"},
                "status": step_status(),
                "input": {"type": "object"},
                "credits": {"type": ["integer", "null"]},
                "model": {"type": ["string", "null"]},
                "tokens": tokens(),
                "cost_micro_usd": integer(),
                "output": {"description": "What the step produced; stored objects come with a temporary `…_url` link beside their key."},
                "error": {"type": ["string", "null"], "description": "Why the step failed."},
                "guardrail_intervened": {"type": "boolean", "description": "The team's guardrail intervened in the step's model call: the output is the guardrail's message."},
            },
        })
    } else {
        json!({
            "type": "object",
            "required": ["capability", "title", "status"],
            "properties": {"capability": {"type": "string"}, "title": {"type": "string"}, "status": step_status()},
        })
    };
    let mut schema = json!({
        "type": "object",
        "required": ["id", "agent_id", "request", "status", "credits", "progress", "plan", "created_by", "created_at", "cost_micro_usd", "tokens"],
        "properties": {
            "id": prefixed("exe"),
            "agent_id": prefixed("agt"),
            "request": {"type": "string"},
            "status": execution_status(),
            "company_id": nullable(prefixed("cmp")),
            "product_id": nullable(prefixed("prd")),
            "partner_id": nullable(prefixed("ptn")),
            "credits": {
                "type": "object",
                "required": ["reserved", "used", "refunded"],
                "properties": {"reserved": integer(), "used": integer(), "refunded": integer()},
            },
            "progress": {"type": "object", "required": ["completed", "total"], "properties": {"completed": integer(), "total": integer()}},
            "plan": {"type": "array", "items": step},
            "approval": {"description": "The approval asked for and its decision, when the agent requires one."},
            "error": nullable(execution_error()),
            "tokens": {
                "type": "object",
                "description": "Tokens and cost by model.",
                "additionalProperties": {
                    "type": "object",
                    "required": ["input", "output"],
                    "properties": {"input": integer(), "output": integer(), "cache_read": integer(), "cache_write": integer(),
                                   "cost_micro_usd": {"type": ["integer", "null"]}},
                },
            },
            "cost_micro_usd": integer(),
            "created_by": prefixed("usr"),
            "created_at": timestamp(),
            "finished_at": nullable(timestamp()),
            "duration_seconds": {"type": ["integer", "null"]},
        },
    });
    if full {
        schema["properties"]["inputs"] = json!({"type": "object", "description": "The records the request named, as the plan saw them."});
        schema["required"]
            .as_array_mut()
            .expect("required is a list")
            .push("inputs".into());
    }
    schema
}

/// The events, as the document's `webhooks`: what a registered endpoint receives, signed as
/// Standard Webhooks prescribe.
fn webhooks() -> Value {
    let header = |name: &str, description: &str| json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    let mut hooks = Map::new();
    for event_type in event_types() {
        hooks.insert(
            event_type.to_string(),
            json!({"post": {
                "operationId": format!("event.{event_type}"),
                "summary": format!("`{event_type}`"),
                "parameters": [
                    header("webhook-id", "The event id: the same on every attempt, so receivers can drop duplicates."),
                    header("webhook-timestamp", "Seconds since the Unix epoch when this attempt was signed."),
                    header("webhook-signature", "`v1,<base64 HMAC-SHA256>` per signing secret, space-separated (Standard Webhooks)."),
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}},
                "responses": {"2XX": {"description": "Received; any other answer is retried with backoff."}},
            }}),
        );
    }
    Value::Object(hooks)
}
