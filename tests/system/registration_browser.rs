//! The Marketplace registration page as a buyer uses it: Debian's headless Chromium, driven
//! through ChromeDriver's WebDriver API, against the local server on loopback. The test
//! command installs `chromium` and `chromium-driver`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use vellocity::local::marketplace::LocalMarketplace;

use crate::helpers::TestApp;
use crate::http_client::http;

/// ChromeDriver, stopped when dropped.
struct Driver {
    process: Child,
    addr: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is installed (scripts/test.sh installs Debian's chromium-driver)",
            );
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { process, addr }
    }

    async fn try_call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, _, text) =
            http(self.addr, method, path, "application/json", &body, None).await;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, value)
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, value) = self.try_call(method, path, body).await;
        assert_eq!(status, 200, "WebDriver {method} {path}: {value}");
        value["value"].clone()
    }
}

struct Browser<'a> {
    driver: &'a Driver,
    session: String,
    profile: std::path::PathBuf,
}

impl Browser<'_> {
    async fn open(driver: &Driver) -> Browser<'_> {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ];
        let profile =
            std::env::temp_dir().join(format!("vellocity-chromium-{}", ulid::Ulid::new()));
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let session = driver.call("POST", "/session", capabilities).await;
        Browser {
            driver,
            session: session["sessionId"].as_str().unwrap().to_owned(),
            profile,
        }
    }

    async fn go(&self, url: &str) {
        self.driver
            .call(
                "POST",
                &format!("/session/{}/url", self.session),
                json!({"url": url}),
            )
            .await;
    }

    /// The element `css` selects, waiting up to five seconds for a submitted form's page.
    async fn element(&self, css: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        let query = json!({"using": "css selector", "value": css});
        for _ in 0..50 {
            let (status, found) = self.driver.try_call("POST", &path, query.clone()).await;
            if status == 200 {
                let id = found["value"].as_object().and_then(|o| o.values().next());
                return id.and_then(|v| v.as_str()).unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element {css} on the page");
    }

    async fn fill(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.driver
            .call(
                "POST",
                &format!("/session/{}/element/{element}/value", self.session),
                json!({"text": text}),
            )
            .await;
    }

    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.driver
            .call(
                "POST",
                &format!("/session/{}/element/{element}/click", self.session),
                json!({}),
            )
            .await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.element(css).await;
        self.driver
            .call(
                "GET",
                &format!("/session/{}/element/{element}/text", self.session),
                Value::Null,
            )
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn close(self) {
        self.driver
            .call("DELETE", &format!("/session/{}", self.session), Value::Null)
            .await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

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
    let email = browser.element("#email").await;
    driver
        .call(
            "POST",
            &format!("/session/{}/element/{email}/clear", browser.session),
            json!({}),
        )
        .await;
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
