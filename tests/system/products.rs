use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_product_belongs_to_one_of_the_teams_companies() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let company = app.post_company(&team.key, "Acme").await;
    let body = json!({
        "company_id": company, "name": "Acme Analytics", "description": "Dashboards.",
        "marketplace": {"product_code": "abc123def456", "sku": "ACME-ANL-1"},
        "categories": ["Analytics"], "use_cases": ["Revenue dashboards"]
    });
    let created = app.post(&team.key, "/v1/products", body).await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        app.get(&team.key, &format!("/v1/products/{id}")).await.body["marketplace"]["sku"],
        "ACME-ANL-1"
    );

    let elsewhere = app.create_team("Other").await;
    let foreign = app.post_company(&elsewhere.key, "Other Co").await;
    let refused = app
        .post(
            &team.key,
            "/v1/products",
            json!({"company_id": foreign, "name": "X"}),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.fields(), ["company_id"]);
    assert_eq!(
        app.get(&team.key, "/v1/products").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing half-written"
    );
}

#[tokio::test]
async fn a_company_with_products_cannot_be_deleted_until_they_move() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let first = app.post_company(&team.key, "First").await;
    let second = app.post_company(&team.key, "Second").await;
    let product = app
        .post(
            &team.key,
            "/v1/products",
            json!({"company_id": first, "name": "Widget"}),
        )
        .await;
    let product_id = product.body["id"].as_str().unwrap();

    let refused = app
        .delete(&team.key, &format!("/v1/companies/{first}"))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "company_has_products")
    );

    let moved = app
        .patch(
            &team.key,
            &format!("/v1/products/{product_id}"),
            json!({"company_id": second}),
        )
        .await;
    assert_eq!(moved.status, 200);
    assert_eq!(
        app.delete(&team.key, &format!("/v1/companies/{first}"))
            .await
            .status,
        204
    );
    assert_eq!(
        app.delete(&team.key, &format!("/v1/companies/{second}"))
            .await
            .status,
        409
    );
    assert_eq!(
        app.delete(&team.key, &format!("/v1/products/{product_id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        app.delete(&team.key, &format!("/v1/companies/{second}"))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn a_products_effective_privacy_inherits_from_its_company() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let company = app
        .post(
            &team.key,
            "/v1/companies",
            json!({"name": "A", "privacy": {"kb_cross_brand_sharing": true}}),
        )
        .await;
    let company_id = company.body["id"].as_str().unwrap();
    let product = app
        .post(&team.key, "/v1/products", json!({"company_id": company_id, "name": "P", "privacy": {"data_isolation_enabled": false}}))
        .await;
    assert_eq!(
        product.body["effective_privacy"]["kb_cross_brand_sharing"],
        true
    );
    assert_eq!(
        product.body["effective_privacy"]["data_isolation_enabled"],
        false
    );
    assert_eq!(
        product.body["privacy"]["kb_cross_brand_sharing"],
        serde_json::Value::Null,
        "own settings stay unset"
    );
}

#[tokio::test]
async fn marketplace_codes_and_list_limits_are_validated() {
    let app = TestApp::new();
    let team = app.create_team("Acme").await;
    let company = app.post_company(&team.key, "A").await;
    let categories: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
    let body = json!({"company_id": company, "name": "P", "marketplace": {"product_code": "has spaces"}, "categories": categories});
    let refused = app.post(&team.key, "/v1/products", body).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.fields(), ["marketplace.product_code", "categories"]);
}
