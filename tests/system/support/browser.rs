//! Debian's headless Chromium, driven through ChromeDriver's WebDriver API, for the tests of
//! the pages the local server serves. The test command installs `chromium` and
//! `chromium-driver`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::http_client::http;

/// ChromeDriver, stopped when dropped.
pub struct Driver {
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
    pub async fn start() -> Driver {
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

    pub async fn try_call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
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

    pub async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, value) = self.try_call(method, path, body).await;
        assert_eq!(status, 200, "WebDriver {method} {path}: {value}");
        value["value"].clone()
    }
}

pub struct Browser<'a> {
    driver: &'a Driver,
    session: String,
    profile: std::path::PathBuf,
}

impl Browser<'_> {
    pub async fn open(driver: &Driver) -> Browser<'_> {
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

    pub async fn go(&self, url: &str) {
        self.driver
            .call(
                "POST",
                &format!("/session/{}/url", self.session),
                json!({"url": url}),
            )
            .await;
    }

    /// The element `css` selects, waiting up to five seconds for a submitted form's page.
    pub async fn element(&self, css: &str) -> String {
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

    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.driver
            .call(
                "POST",
                &format!("/session/{}/element/{element}/value", self.session),
                json!({"text": text}),
            )
            .await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.driver
            .call(
                "POST",
                &format!("/session/{}/element/{element}/click", self.session),
                json!({}),
            )
            .await;
    }

    pub async fn text(&self, css: &str) -> String {
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

    pub async fn close(self) {
        self.driver
            .call("DELETE", &format!("/session/{}", self.session), Value::Null)
            .await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser<'_> {
    /// Empties an input.
    pub async fn clear(&self, css: &str) {
        let element = self.element(css).await;
        self.driver
            .call(
                "POST",
                &format!("/session/{}/element/{element}/clear", self.session),
                json!({}),
            )
            .await;
    }

    /// Runs a script in the page and returns its value.
    pub async fn script(&self, script: &str) -> Value {
        self.driver
            .call(
                "POST",
                &format!("/session/{}/execute/sync", self.session),
                json!({"script": script, "args": []}),
            )
            .await
    }

    /// Waits (up to ten seconds) until the element `css` selects shows `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        let mut seen = String::new();
        for _ in 0..100 {
            seen = self.text(css).await;
            if seen.contains(text) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {text:?}; it shows {seen:?}");
    }
}
