//! The Marketplace registration page as a buyer uses it: Debian's headless Chromium, driven
//! through ChromeDriver's WebDriver API, against the local server on loopback. The test
//! command installs `chromium` and `chromium-driver`.

use std::sync::Arc;

use vellocity::local::marketplace::LocalMarketplace;

use crate::browser::{Browser, Driver};
use crate::helpers::TestApp;
use crate::http_client::http;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_fills_the_registration_form_in_chromium_and_sees_the_api_key_once() {
    let app = TestApp::with_marketplace(Arc::new(LocalMarketplace::default()));
    let addr = app.serve().await;

    // Marketplace posts the buyer's browser to the fulfillment URL.
    let token = LocalMarketplace::token("prod-vellocity", "111122223333");
    let form = format!("x-amzn-marketplace-token={token}");
    let (status, head, _) = http(
        addr,
        "POST",
        "/marketplace/fulfillment",
        "application/x-www-form-urlencoded",
        &form,
        None,
    )
    .await;
    assert_eq!(status, 303, "{head}");
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("a Location header")
        .to_owned();

    let driver = Driver::start().await;
    let browser = Browser::open(&driver).await;
    browser
        .go(&format!("http://{addr}/marketplace/{location}"))
        .await;
    browser.fill("#company", "Globex").await;
    browser.fill("#contact_name", "Hank Scorpio").await;
    // Passes the browser's own check of type="email", not the server's.
    browser.fill("#email", "hank@globex").await;
    browser.click("#submit").await;
    assert!(
        !browser.text("#email-error").await.is_empty(),
        "an invalid email is explained"
    );
    browser.clear("#email").await;
    browser.fill("#email", "hank@globex.example").await;
    browser.click("#submit").await;
    let key = browser.text("#api-key").await;
    assert!(key.starts_with("vk_"), "the page shows the key: {key:?}");

    // The key works, and the page does not show it again.
    let (status, _, team) = http(addr, "GET", "/v1/team", "application/json", "", Some(&key)).await;
    assert_eq!(status, 200, "{team}");
    assert!(team.contains("\"name\":\"Globex\""), "{team}");
    browser
        .go(&format!("http://{addr}/marketplace/{location}"))
        .await;
    assert!(browser.text("h1").await.contains("Already registered"));
    browser.close().await;
}
