//! The public pages a Marketplace buyer sees: the fulfillment URL (Marketplace posts the
//! buyer's browser here), the registration form, and the page that shows the new API key once.
//! Plain server-rendered HTML: no script, every value escaped, never cached.

use super::fulfillment::{self, FulfillmentError};
use super::registration::{self, RegistrationError, RegistrationForm};
use super::Settings;
use crate::app::App;

/// A public page route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageId {
    /// `POST /marketplace/fulfillment`.
    Fulfillment,
    /// `GET /marketplace/register`.
    RegistrationForm,
    /// `POST /marketplace/register`.
    Register,
}

/// Where a page listens and what deploys it (as [`crate::api::routes::Route`] for the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Which page.
    pub id: PageId,
    /// HTTP method.
    pub method: &'static str,
    /// Path.
    pub path: &'static str,
    /// The binary in `functions/`.
    pub binary: &'static str,
    /// The function's logical id in `template.yaml`.
    pub function: &'static str,
}

/// The public pages: no authorizer in front of them.
pub const PAGES: &[Page] = &[
    Page {
        id: PageId::Fulfillment,
        method: "POST",
        path: "/marketplace/fulfillment",
        binary: "marketplace-fulfillment",
        function: "MarketplaceFulfillmentFunction",
    },
    Page {
        id: PageId::RegistrationForm,
        method: "GET",
        path: "/marketplace/register",
        binary: "registration-form",
        function: "RegistrationFormFunction",
    },
    Page {
        id: PageId::Register,
        method: "POST",
        path: "/marketplace/register",
        binary: "register",
        function: "RegisterFunction",
    },
];

/// Finds the page of a method and path.
pub fn find(method: &str, path: &str) -> Option<&'static Page> {
    let path = path.trim_end_matches('/');
    PAGES
        .iter()
        .find(|p| p.path == path && p.method.eq_ignore_ascii_case(method))
}

/// A request to a page.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// The query string's parameters.
    pub query: Vec<(String, String)>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A page's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageResponse {
    /// HTTP status.
    pub status: u16,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// HTML.
    pub html: String,
}

impl PageResponse {
    fn html(status: u16, html: String) -> Self {
        PageResponse {
            status,
            location: None,
            html,
        }
    }

    /// The HTTP response, with headers that keep the page out of caches and frames.
    pub fn into_http(self) -> http::Response<String> {
        let mut headers = vec![
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
        ];
        if let Some(location) = &self.location {
            headers.push(("location", location.as_str()));
        }
        crate::api::response::http_response(self.status, &headers, self.html)
    }
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Vellocity</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}}\
         label{{display:block;margin-top:1rem;font-weight:600}}\
         input{{width:100%;padding:.5rem;margin-top:.25rem;box-sizing:border-box}}\
         button{{margin-top:1.5rem;padding:.6rem 1.2rem}}\
         .error{{color:#b42318}} code{{background:#f2f4f7;padding:.2rem .4rem;word-break:break-all}}\
         </style></head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    )
}

fn message_page(status: u16, title: &str, message: &str) -> PageResponse {
    PageResponse::html(
        status,
        layout(title, &format!("<p id=\"message\">{}</p>", escape(message))),
    )
}

fn already_registered() -> PageResponse {
    message_page(
        200,
        "Already registered",
        "This AWS Marketplace subscription has a Vellocity team already. Sign in with the \
         API key shown at registration, or ask the team's owner for a new one.",
    )
}

fn bad_link() -> PageResponse {
    message_page(
        400,
        "This link does not work",
        "This registration link is not valid or has expired. Open Vellocity in AWS Marketplace \
         and choose \u{201c}Set up your account\u{201d} to get a new one.",
    )
}

fn form_page(
    status: u16,
    reference: &str,
    form: &RegistrationForm,
    errors: &[(String, String)],
) -> PageResponse {
    let error_of = |field: &str| {
        errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| {
                format!(
                    "<div class=\"error\" id=\"{field}-error\">{}</div>",
                    escape(m)
                )
            })
            .unwrap_or_default()
    };
    let input = |name: &str, label: &str, kind: &str, value: &str| {
        format!(
            "<label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" type=\"{kind}\" \
             value=\"{}\" required maxlength=\"200\">{}",
            escape(value),
            error_of(name)
        )
    };
    let body = format!(
        "<p>Welcome from AWS Marketplace. Tell us who you are and we create your team.</p>\
         <form method=\"post\" action=\"register\">\
         <input type=\"hidden\" name=\"ref\" value=\"{}\">{}{}{}\
         <button type=\"submit\" id=\"submit\">Create my team</button></form>",
        escape(reference),
        input("company", "Company", "text", &form.company),
        input("contact_name", "Your name", "text", &form.contact_name),
        input("email", "Work email", "email", &form.email),
    );
    PageResponse::html(status, layout("Set up your Vellocity team", &body))
}

fn form_fields(request: &PageRequest) -> Result<Vec<(String, String)>, PageResponse> {
    let urlencoded = request
        .content_type
        .as_deref()
        .map(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !urlencoded {
        return Err(message_page(
            415,
            "Unsupported form",
            "This page takes an HTML form (application/x-www-form-urlencoded).",
        ));
    }
    Ok(form_urlencoded::parse(&request.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Answers a page request. Never fails: every outcome is a page. Links between the pages are
/// relative, so they keep API Gateway's stage prefix (`/prod/marketplace/…`).
pub async fn serve(
    app: &App,
    settings: &Settings,
    page: PageId,
    request: PageRequest,
) -> PageResponse {
    match page {
        PageId::Fulfillment => fulfillment(app, settings, &request).await,
        PageId::RegistrationForm => {
            let reference = field(&request.query, "ref").unwrap_or_default();
            match registration::customer_of_reference(app, settings, reference).await {
                Ok(_) => form_page(200, reference, &RegistrationForm::default(), &[]),
                Err(error) => registration_error(error),
            }
        }
        PageId::Register => register(app, settings, &request).await,
    }
}

async fn fulfillment(app: &App, settings: &Settings, request: &PageRequest) -> PageResponse {
    let fields = match form_fields(request) {
        Ok(fields) => fields,
        Err(page) => return page,
    };
    let token = field(&fields, "x-amzn-marketplace-token").unwrap_or_default();
    let offer_type = field(&fields, "x-amzn-marketplace-offer-type");
    match fulfillment::fulfill(app, settings, token, offer_type).await {
        Ok(reference) => {
            let location = format!(
                "register?ref={}",
                form_urlencoded::byte_serialize(reference.as_bytes()).collect::<String>()
            );
            PageResponse {
                status: 303,
                location: Some(location),
                html: layout(
                    "Continue",
                    "<p>Continue to <a href=\"register\">registration</a>.</p>",
                ),
            }
        }
        Err(FulfillmentError::BadToken(message)) => {
            message_page(400, "We could not set up your account", &message)
        }
        Err(FulfillmentError::Unavailable(cause)) => {
            tracing::warn!(%cause, "ResolveCustomer unavailable");
            message_page(
                503,
                "Please try again",
                "AWS Marketplace did not answer. Go back and try again in a minute.",
            )
        }
        Err(FulfillmentError::Store(error)) => {
            tracing::error!(%error, "storing a Marketplace customer failed");
            message_page(
                500,
                "Please try again",
                "Something went wrong on our side. Go back and try again in a minute.",
            )
        }
    }
}

async fn register(app: &App, settings: &Settings, request: &PageRequest) -> PageResponse {
    let fields = match form_fields(request) {
        Ok(fields) => fields,
        Err(page) => return page,
    };
    let reference = field(&fields, "ref").unwrap_or_default();
    let form = RegistrationForm {
        company: field(&fields, "company").unwrap_or_default().to_owned(),
        contact_name: field(&fields, "contact_name")
            .unwrap_or_default()
            .to_owned(),
        email: field(&fields, "email").unwrap_or_default().to_owned(),
    };
    match registration::register(app, settings, reference, &form).await {
        Ok(created) => {
            let body = format!(
                "<p>Your team <strong>{}</strong> is ready. This is your API key; it is shown \
                 <strong>only once</strong>, so keep it somewhere safe:</p>\
                 <p><code id=\"api-key\">{}</code></p><p>Team id: <code id=\"team-id\">{}</code></p>\
                 <p>Use it as <code>Authorization: Bearer &lt;key&gt;</code> with the Vellocity API.</p>",
                escape(&created.team.name),
                escape(&created.key.secret),
                escape(created.team.id.as_str()),
            );
            PageResponse::html(201, layout("Welcome to Vellocity", &body))
        }
        Err(RegistrationError::Invalid(errors)) => {
            let errors: Vec<(String, String)> = errors
                .into_vec()
                .into_iter()
                .map(|e| (e.field, e.message))
                .collect();
            form_page(422, reference, &form, &errors)
        }
        Err(error) => registration_error(error),
    }
}

fn registration_error(error: RegistrationError) -> PageResponse {
    match error {
        RegistrationError::BadReference => bad_link(),
        RegistrationError::AlreadyRegistered => already_registered(),
        RegistrationError::Invalid(_) => bad_link(),
        RegistrationError::Store(error) => {
            tracing::error!(%error, "registration failed");
            message_page(
                500,
                "Please try again",
                "Something went wrong on our side. Try again in a minute.",
            )
        }
    }
}
