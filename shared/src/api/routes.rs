//! The route table: the single source for the local router, the Lambda functions (one binary
//! per route) and `template.yaml` (one function per route). `tests/routes_agree.rs` proves the
//! three agree.

use crate::domain::access::Access;

/// Every API route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum RouteId {
    GetTeam,
    UpdateTeam,
    ListMembers,
    InviteMember,
    UpdateMember,
    RemoveMember,
    ListCompanies,
    CreateCompany,
    GetCompany,
    UpdateCompany,
    DeleteCompany,
    ListProducts,
    CreateProduct,
    GetProduct,
    UpdateProduct,
    DeleteProduct,
    ListPartners,
    CreatePartner,
    GetPartner,
    UpdatePartner,
    DeletePartner,
    ListApiKeys,
    CreateApiKey,
    RevokeApiKey,
    ListAgents,
    CreateAgent,
    GetAgent,
    UpdateAgent,
    DeleteAgent,
    AgentActivity,
    ListCapabilities,
    ListModels,
    GetUsage,
    GetBudget,
    PutBudget,
    ListConversations,
    CreateConversation,
    GetConversation,
    UpdateConversation,
    DeleteConversation,
    SendMessage,
    ListMessages,
    ListWebhooks,
    CreateWebhook,
    GetWebhook,
    UpdateWebhook,
    DeleteWebhook,
    RotateWebhookSecret,
    TestWebhook,
    ListWebhookDeliveries,
    ReplayWebhookDelivery,
    ListAudit,
    StartExecution,
    ListExecutions,
    GetExecution,
    ListExecutionEvents,
    CancelExecution,
    DecideApproval,
}

/// One route: where it listens, what it requires, and what deploys it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Which route.
    pub id: RouteId,
    /// HTTP method.
    pub method: &'static str,
    /// API Gateway path template, e.g. `/v1/companies/{id}`.
    pub path: &'static str,
    /// The binary in `functions/` (and its `BuildProperties.Binary` in the template).
    pub binary: &'static str,
    /// The function's logical id in `template.yaml`.
    pub function: &'static str,
    /// Role and scope the caller needs.
    pub access: Access,
    /// Whether the route honours `Idempotency-Key`.
    pub idempotent: bool,
    /// The query parameters it accepts; any other is refused before the handler runs.
    pub query: &'static [QueryParam],
}

/// A query parameter of a route: what it is called, what values it takes, what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryParam {
    /// Its name.
    pub name: &'static str,
    /// The values it takes.
    pub values: ParamValues,
    /// What it does, for the API's reader.
    pub description: &'static str,
}

/// The values a query parameter takes (what the handler's parsing accepts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamValues {
    /// Any text.
    Text,
    /// A whole number in this range.
    Integer {
        /// Smallest accepted.
        min: u32,
        /// Largest accepted.
        max: u32,
    },
    /// A calendar day, `YYYY-MM-DD`.
    Day,
    /// An id with this prefix, e.g. `agt`.
    Id(&'static str),
    /// One of these words.
    OneOf(&'static [&'static str]),
}

/// Page size when `?limit=` is absent.
pub const DEFAULT_PAGE: u32 = 20;
/// The largest `?limit=`.
pub const MAX_PAGE: u32 = 100;

/// `?limit=`: page size.
pub const LIMIT: QueryParam = QueryParam {
    name: "limit",
    values: ParamValues::Integer {
        min: 1,
        max: MAX_PAGE,
    },
    description: "How many items to return (default 20).",
};
/// `?cursor=`: where the next page starts.
pub const CURSOR: QueryParam = QueryParam {
    name: "cursor",
    values: ParamValues::Text,
    description: "The `next_cursor` of the previous page.",
};
const PAGE: &[QueryParam] = &[LIMIT, CURSOR];
const EXECUTION_FILTERS: &[QueryParam] = &[
    LIMIT,
    CURSOR,
    QueryParam {
        name: "agent_id",
        values: ParamValues::Id("agt"),
        description: "Only this agent's executions.",
    },
    QueryParam {
        name: "status",
        values: ParamValues::OneOf(&[
            "queued",
            "running",
            "awaiting_approval",
            "succeeded",
            "failed",
            "cancelled",
        ]),
        description: "Only executions in this status.",
    },
];
const EVENTS_AFTER: &[QueryParam] = &[
    LIMIT,
    QueryParam {
        name: "after",
        values: ParamValues::Id("evt"),
        description: "The id of the last event you have; the page starts after it.",
    },
];
const USAGE_PERIOD: &[QueryParam] = &[
    QueryParam {
        name: "from",
        values: ParamValues::Day,
        description: "First day (UTC) of the period; default the first of this month.",
    },
    QueryParam {
        name: "to",
        values: ParamValues::Day,
        description: "Last day (UTC) of the period, at most 366 days after `from`; default today.",
    },
    QueryParam {
        name: "group_by",
        values: ParamValues::OneOf(&["day", "model", "agent", "member", "capability", "source"]),
        description: "How the rows are grouped (default `day`).",
    },
];
const AUDIT_FILTERS: &[QueryParam] = &[
    LIMIT,
    CURSOR,
    QueryParam {
        name: "actor",
        values: ParamValues::Text,
        description: "Only entries by this member (`usr_…`).",
    },
    QueryParam {
        name: "action",
        values: ParamValues::Text,
        description:
            "Only this action (`company.updated`), or a family ending in a dot (`company.`).",
    },
    QueryParam {
        name: "from",
        values: ParamValues::Day,
        description: "First day (UTC).",
    },
    QueryParam {
        name: "to",
        values: ParamValues::Day,
        description: "Last day (UTC).",
    },
];

const fn route(
    id: RouteId,
    method: &'static str,
    path: &'static str,
    binary: &'static str,
    function: &'static str,
    access: Access,
) -> Route {
    Route {
        id,
        method,
        path,
        binary,
        function,
        access,
        idempotent: false,
        query: &[],
    }
}

/// A route that lists: `?limit=` and `?cursor=`.
const fn paged(r: Route) -> Route {
    with_query(r, PAGE)
}

const fn with_query(r: Route, query: &'static [QueryParam]) -> Route {
    Route { query, ..r }
}

const fn creating(r: Route) -> Route {
    Route {
        idempotent: true,
        ..r
    }
}

use RouteId::*;

/// The table.
pub const ROUTES: &[Route] = &[
    route(
        GetTeam,
        "GET",
        "/v1/team",
        "get-team",
        "GetTeamFunction",
        Access::READ,
    ),
    route(
        UpdateTeam,
        "PATCH",
        "/v1/team",
        "update-team",
        "UpdateTeamFunction",
        Access::ADMIN,
    ),
    paged(route(
        ListMembers,
        "GET",
        "/v1/members",
        "list-members",
        "ListMembersFunction",
        Access::READ,
    )),
    creating(route(
        InviteMember,
        "POST",
        "/v1/members",
        "invite-member",
        "InviteMemberFunction",
        Access::ADMIN,
    )),
    route(
        UpdateMember,
        "PATCH",
        "/v1/members/{user_id}",
        "update-member",
        "UpdateMemberFunction",
        Access::ADMIN,
    ),
    route(
        RemoveMember,
        "DELETE",
        "/v1/members/{user_id}",
        "remove-member",
        "RemoveMemberFunction",
        Access::ADMIN,
    ),
    paged(route(
        ListCompanies,
        "GET",
        "/v1/companies",
        "list-companies",
        "ListCompaniesFunction",
        Access::READ,
    )),
    creating(route(
        CreateCompany,
        "POST",
        "/v1/companies",
        "create-company",
        "CreateCompanyFunction",
        Access::WRITE,
    )),
    route(
        GetCompany,
        "GET",
        "/v1/companies/{id}",
        "get-company",
        "GetCompanyFunction",
        Access::READ,
    ),
    route(
        UpdateCompany,
        "PATCH",
        "/v1/companies/{id}",
        "update-company",
        "UpdateCompanyFunction",
        Access::WRITE,
    ),
    route(
        DeleteCompany,
        "DELETE",
        "/v1/companies/{id}",
        "delete-company",
        "DeleteCompanyFunction",
        Access::WRITE,
    ),
    paged(route(
        ListProducts,
        "GET",
        "/v1/products",
        "list-products",
        "ListProductsFunction",
        Access::READ,
    )),
    creating(route(
        CreateProduct,
        "POST",
        "/v1/products",
        "create-product",
        "CreateProductFunction",
        Access::WRITE,
    )),
    route(
        GetProduct,
        "GET",
        "/v1/products/{id}",
        "get-product",
        "GetProductFunction",
        Access::READ,
    ),
    route(
        UpdateProduct,
        "PATCH",
        "/v1/products/{id}",
        "update-product",
        "UpdateProductFunction",
        Access::WRITE,
    ),
    route(
        DeleteProduct,
        "DELETE",
        "/v1/products/{id}",
        "delete-product",
        "DeleteProductFunction",
        Access::WRITE,
    ),
    paged(route(
        ListPartners,
        "GET",
        "/v1/partners",
        "list-partners",
        "ListPartnersFunction",
        Access::READ,
    )),
    creating(route(
        CreatePartner,
        "POST",
        "/v1/partners",
        "create-partner",
        "CreatePartnerFunction",
        Access::WRITE,
    )),
    route(
        GetPartner,
        "GET",
        "/v1/partners/{id}",
        "get-partner",
        "GetPartnerFunction",
        Access::READ,
    ),
    route(
        UpdatePartner,
        "PATCH",
        "/v1/partners/{id}",
        "update-partner",
        "UpdatePartnerFunction",
        Access::WRITE,
    ),
    route(
        DeletePartner,
        "DELETE",
        "/v1/partners/{id}",
        "delete-partner",
        "DeletePartnerFunction",
        Access::WRITE,
    ),
    paged(route(
        ListApiKeys,
        "GET",
        "/v1/api-keys",
        "list-api-keys",
        "ListApiKeysFunction",
        Access::ADMIN_READ,
    )),
    // Not idempotent on purpose: replaying the response would mean storing the secret.
    route(
        CreateApiKey,
        "POST",
        "/v1/api-keys",
        "create-api-key",
        "CreateApiKeyFunction",
        Access::ADMIN,
    ),
    route(
        RevokeApiKey,
        "DELETE",
        "/v1/api-keys/{id}",
        "revoke-api-key",
        "RevokeApiKeyFunction",
        Access::ADMIN,
    ),
    paged(route(
        ListAgents,
        "GET",
        "/v1/agents",
        "list-agents",
        "ListAgentsFunction",
        Access::READ,
    )),
    creating(route(
        CreateAgent,
        "POST",
        "/v1/agents",
        "create-agent",
        "CreateAgentFunction",
        Access::WRITE,
    )),
    route(
        GetAgent,
        "GET",
        "/v1/agents/{id}",
        "get-agent",
        "GetAgentFunction",
        Access::READ,
    ),
    route(
        UpdateAgent,
        "PATCH",
        "/v1/agents/{id}",
        "update-agent",
        "UpdateAgentFunction",
        Access::WRITE,
    ),
    route(
        DeleteAgent,
        "DELETE",
        "/v1/agents/{id}",
        "delete-agent",
        "DeleteAgentFunction",
        Access::WRITE,
    ),
    paged(route(
        AgentActivity,
        "GET",
        "/v1/agents/{id}/activity",
        "agent-activity",
        "AgentActivityFunction",
        Access::READ,
    )),
    route(
        ListCapabilities,
        "GET",
        "/v1/capabilities",
        "list-capabilities",
        "ListCapabilitiesFunction",
        Access::READ,
    ),
    route(
        ListModels,
        "GET",
        "/v1/models",
        "list-models",
        "ListModelsFunction",
        Access::READ,
    ),
    with_query(
        route(
            GetUsage,
            "GET",
            "/v1/usage",
            "get-usage",
            "GetUsageFunction",
            Access::READ,
        ),
        USAGE_PERIOD,
    ),
    route(
        GetBudget,
        "GET",
        "/v1/budget",
        "get-budget",
        "GetBudgetFunction",
        Access::READ,
    ),
    route(
        PutBudget,
        "PUT",
        "/v1/budget",
        "put-budget",
        "PutBudgetFunction",
        Access::ADMIN,
    ),
    paged(route(
        ListConversations,
        "GET",
        "/v1/conversations",
        "list-conversations",
        "ListConversationsFunction",
        Access::READ,
    )),
    creating(route(
        CreateConversation,
        "POST",
        "/v1/conversations",
        "create-conversation",
        "CreateConversationFunction",
        Access::WRITE,
    )),
    route(
        GetConversation,
        "GET",
        "/v1/conversations/{id}",
        "get-conversation",
        "GetConversationFunction",
        Access::READ,
    ),
    route(
        UpdateConversation,
        "PATCH",
        "/v1/conversations/{id}",
        "update-conversation",
        "UpdateConversationFunction",
        Access::WRITE,
    ),
    route(
        DeleteConversation,
        "DELETE",
        "/v1/conversations/{id}",
        "delete-conversation",
        "DeleteConversationFunction",
        Access::WRITE,
    ),
    creating(route(
        SendMessage,
        "POST",
        "/v1/conversations/{id}/messages",
        "send-message",
        "SendMessageFunction",
        Access::WRITE,
    )),
    paged(route(
        ListMessages,
        "GET",
        "/v1/conversations/{id}/messages",
        "list-messages",
        "ListMessagesFunction",
        Access::READ,
    )),
    paged(route(
        ListWebhooks,
        "GET",
        "/v1/webhooks",
        "list-webhooks",
        "ListWebhooksFunction",
        Access::ADMIN_READ,
    )),
    route(
        CreateWebhook,
        "POST",
        "/v1/webhooks",
        "create-webhook",
        "CreateWebhookFunction",
        Access::ADMIN,
    ),
    route(
        GetWebhook,
        "GET",
        "/v1/webhooks/{id}",
        "get-webhook",
        "GetWebhookFunction",
        Access::ADMIN_READ,
    ),
    route(
        UpdateWebhook,
        "PATCH",
        "/v1/webhooks/{id}",
        "update-webhook",
        "UpdateWebhookFunction",
        Access::ADMIN,
    ),
    route(
        DeleteWebhook,
        "DELETE",
        "/v1/webhooks/{id}",
        "delete-webhook",
        "DeleteWebhookFunction",
        Access::ADMIN,
    ),
    route(
        RotateWebhookSecret,
        "POST",
        "/v1/webhooks/{id}/rotate-secret",
        "rotate-webhook-secret",
        "RotateWebhookSecretFunction",
        Access::ADMIN,
    ),
    route(
        TestWebhook,
        "POST",
        "/v1/webhooks/{id}/test",
        "test-webhook",
        "TestWebhookFunction",
        Access::ADMIN,
    ),
    paged(route(
        ListWebhookDeliveries,
        "GET",
        "/v1/webhooks/{id}/deliveries",
        "list-webhook-deliveries",
        "ListWebhookDeliveriesFunction",
        Access::ADMIN_READ,
    )),
    route(
        ReplayWebhookDelivery,
        "POST",
        "/v1/webhooks/{id}/deliveries/{delivery_id}/replay",
        "replay-webhook-delivery",
        "ReplayWebhookDeliveryFunction",
        Access::ADMIN,
    ),
    with_query(
        route(
            ListAudit,
            "GET",
            "/v1/audit",
            "list-audit",
            "ListAuditFunction",
            Access::ADMIN_READ,
        ),
        AUDIT_FILTERS,
    ),
    creating(route(
        StartExecution,
        "POST",
        "/v1/agents/{id}/executions",
        "start-execution",
        "StartExecutionFunction",
        Access::WRITE,
    )),
    with_query(
        route(
            ListExecutions,
            "GET",
            "/v1/executions",
            "list-executions",
            "ListExecutionsFunction",
            Access::READ,
        ),
        EXECUTION_FILTERS,
    ),
    route(
        GetExecution,
        "GET",
        "/v1/executions/{id}",
        "get-execution",
        "GetExecutionFunction",
        Access::READ,
    ),
    with_query(
        route(
            ListExecutionEvents,
            "GET",
            "/v1/executions/{id}/events",
            "list-execution-events",
            "ListExecutionEventsFunction",
            Access::READ,
        ),
        EVENTS_AFTER,
    ),
    route(
        CancelExecution,
        "POST",
        "/v1/executions/{id}/cancel",
        "cancel-execution",
        "CancelExecutionFunction",
        Access::WRITE,
    ),
    route(
        DecideApproval,
        "POST",
        "/v1/executions/{id}/approval",
        "decide-approval",
        "DecideApprovalFunction",
        Access::WRITE,
    ),
];

impl RouteId {
    /// The route's entry in the table.
    pub fn route(self) -> &'static Route {
        ROUTES
            .iter()
            .find(|r| r.id == self)
            .expect("every RouteId has an entry in ROUTES")
    }
}

/// What matching a request path against the table found.
#[derive(Debug, PartialEq, Eq)]
pub enum Match {
    /// A route, with its path parameters.
    Found(&'static Route, Vec<(String, String)>),
    /// The path exists with other methods.
    WrongMethod(Vec<&'static str>),
    /// No route has this path.
    NoRoute,
}

/// Matches a path template against a concrete path; returns the parameters.
fn match_path(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let template: Vec<&str> = template.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .collect();
    if template.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (t, p) in template.iter().zip(&path) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) if !p.is_empty() => params.push((name.to_owned(), (*p).to_owned())),
            Some(_) => return None,
            None if t == p => {}
            None => return None,
        }
    }
    Some(params)
}

/// Finds the route for a method and path, as API Gateway would.
pub fn find(method: &str, path: &str) -> Match {
    let mut methods = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method.eq_ignore_ascii_case(method) {
                return Match::Found(route, params);
            }
            methods.push(route.method);
        }
    }
    if methods.is_empty() {
        Match::NoRoute
    } else {
        Match::WrongMethod(methods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_templates_with_their_parameters() {
        match find("GET", "/v1/companies/cmp_1") {
            Match::Found(route, params) => {
                assert_eq!(route.id, RouteId::GetCompany);
                assert_eq!(params, vec![("id".to_owned(), "cmp_1".to_owned())]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            find("PUT", "/v1/companies/x"),
            Match::WrongMethod(vec!["GET", "PATCH", "DELETE"])
        );
        assert_eq!(find("GET", "/v1/nothing"), Match::NoRoute);
        assert_eq!(
            find("GET", "/v1/companies//"),
            Match::Found(RouteId::ListCompanies.route(), vec![])
        );
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(a.id != b.id && a.binary != b.binary && a.function != b.function);
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
