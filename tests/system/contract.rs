//! The published contract: the OpenAPI document the code generates is the one served and the
//! one kept in `docs/openapi.json`, and it describes every route of the table. (The test
//! command also runs schemathesis against the local stack with it: see `scripts/test.sh`.)

use std::collections::BTreeSet;

use serde_json::Value;
use vellocity::api::openapi;
use vellocity::api::routes::ROUTES;

use crate::helpers::TestApp;

fn published_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json")
}

#[test]
fn the_published_openapi_document_is_the_one_the_code_makes() {
    let made = serde_json::to_string_pretty(&openapi::document()).unwrap() + "\n";
    if std::env::var_os("VELLOCITY_WRITE_DOCS").is_some() {
        std::fs::write(published_path(), &made).unwrap();
    }
    let published = std::fs::read_to_string(published_path()).unwrap_or_default();
    assert!(
        published == made,
        "docs/openapi.json is out of date: VELLOCITY_WRITE_DOCS=1 cargo test --test system the_published_openapi"
    );
}

#[test]
fn every_route_of_the_table_is_in_the_published_document_with_its_query_parameters() {
    let published: Value =
        serde_json::from_str(&std::fs::read_to_string(published_path()).unwrap()).unwrap();
    assert_eq!(published["openapi"], "3.1.0");
    for route in ROUTES {
        let operation = &published["paths"][route.path][route.method.to_ascii_lowercase()];
        assert_eq!(
            operation["operationId"],
            format!("{:?}", route.id),
            "{} {} is in docs/openapi.json",
            route.method,
            route.path
        );
        let query: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let table: BTreeSet<&str> = route.query.iter().map(|q| q.name).collect();
        assert_eq!(query, table, "{:?}'s query parameters", route.id);
        let idempotency = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key");
        assert_eq!(idempotency, route.idempotent, "{:?}", route.id);
        assert!(
            operation["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"]
                == "#/components/schemas/Error",
            "{:?} answers its errors in the envelope",
            route.id
        );
    }
    let operations: usize = published["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        operations,
        ROUTES.len() + 1,
        "the routes and the document itself"
    );
}

#[test]
fn every_event_type_is_a_webhook_of_the_document() {
    let document = openapi::document();
    let webhooks: BTreeSet<&str> = document["webhooks"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let types = vellocity::domain::events::event_types();
    assert_eq!(webhooks, types.iter().map(String::as_str).collect());
}

#[tokio::test]
async fn the_document_is_served_without_credentials() {
    let app = TestApp::new();
    let response = app.send("GET", openapi::PATH, &[], Vec::new()).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, openapi::document());
}

#[tokio::test]
async fn every_creating_route_links_its_answer_to_the_routes_of_what_it_created() {
    let document = openapi::document();
    let links = |path: &str, method: &str, status: &str| -> BTreeSet<String> {
        document["paths"][path][method]["responses"][status]["links"]
            .as_object()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        links("/v1/companies", "post", "201"),
        BTreeSet::from(["GetCompany", "UpdateCompany", "DeleteCompany"].map(String::from))
    );
    assert!(links("/v1/agents/{id}/executions", "post", "202").contains("CancelExecution"));
    assert!(links("/v1/conversations", "post", "201").contains("SendMessage"));
}
