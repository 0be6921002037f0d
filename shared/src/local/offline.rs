//! The offline model: what the local stack uses when no Bedrock endpoint is configured.
//! Deterministic (the same request gives the same answer), marked as offline in every output,
//! and good enough to drive a whole workflow: it answers planner prompts with valid plans
//! built from the capability list in the prompt, writes labelled text, and draws small PNGs.

use async_trait::async_trait;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::agentcore::capabilities::capability;
use crate::agentcore::plan::{CAPABILITIES_CLOSE, CAPABILITIES_OPEN};
use crate::domain::catalog::{OFFLINE_IMAGE, OFFLINE_TEXT};
use crate::ports::ai::{
    AiError, ImageGen, ImageRequest, ImageResponse, Llm, Speaker, TextRequest, TextResponse,
};

/// Every offline text starts with this label.
pub const LABEL: &str = "[offline model]";

/// The offline text and image model.
#[derive(Clone, Copy, Debug, Default)]
pub struct OfflineModel;

/// Roughly four characters per token, as for English text.
fn tokens(text: &str) -> i64 {
    (text.chars().count() as i64 + 3) / 4
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Which capabilities a request asks for, in the order they are first mentioned; `topic` is
/// what the copy is about.
fn wanted(request: &str, topic: &str) -> Vec<(&'static str, Value)> {
    let lower = request.to_lowercase();
    let topic = truncate(topic.trim(), 500);
    let format = if lower.contains("landing page") {
        "landing_page"
    } else if lower.contains("case study") {
        "case_study"
    } else if lower.contains("press release") {
        "press_release"
    } else {
        "blog_post"
    };
    let rules: [(&[&str], &'static str, Value); 10] = [
        (
            &[
                "blog",
                "article",
                "landing page",
                "case study",
                "press release",
                "long-form",
            ],
            "generate_text",
            json!({"format": format, "topic": topic}),
        ),
        (
            &["linkedin", "social", "tweet", "post on x"],
            "social_posts",
            json!({"topic": topic, "platforms": ["linkedin", "x"]}),
        ),
        (&["email"], "email_campaign", json!({"goal": topic})),
        (
            &["image", "visual", "banner", "picture"],
            "generate_image",
            json!({"prompt": truncate(request.trim(), 1_000)}),
        ),
        (
            &["seo", "meta description"],
            "seo_optimize",
            json!({"topic": topic}),
        ),
        (
            &["co-sell", "cosell", "partner match", "which partner"],
            "cosell_match",
            json!({}),
        ),
        (
            &["gtm plan", "go-to-market plan", "joint plan"],
            "joint_gtm_plan",
            json!({}),
        ),
        (&["listing"], "marketplace_listing", json!({})),
        (
            &["summar"],
            "summarize",
            json!({"text": truncate(request.trim(), 50_000)}),
        ),
        (
            &["analy", "readability", "brand check"],
            "analyze_content",
            json!({"text": truncate(request.trim(), 50_000)}),
        ),
    ];
    let mut found: Vec<(usize, &'static str, Value)> = rules
        .into_iter()
        .filter_map(|(words, id, input)| {
            words
                .iter()
                .filter_map(|w| lower.find(w))
                .min()
                .map(|at| (at, id, input))
        })
        .collect();
    found.sort_by_key(|(at, _, _)| *at);
    found
        .into_iter()
        .map(|(_, id, input)| (id, input))
        .collect()
}

/// The default input of a capability, for a request that names none of the allowed ones.
fn default_input(id: &str, request: &str) -> Value {
    let topic = truncate(request.trim(), 500);
    match id {
        "generate_text" => json!({"format": "blog_post", "topic": topic}),
        "social_posts" => json!({"topic": topic, "platforms": ["linkedin", "x"]}),
        "email_campaign" => json!({"goal": topic}),
        "generate_image" => json!({"prompt": topic}),
        "seo_optimize" => json!({"topic": topic}),
        "summarize" | "analyze_content" => json!({"text": topic}),
        _ => json!({}),
    }
}

/// Answers a planner prompt with a plan over the allowed capabilities.
fn plan(system: &str, request: &str) -> Option<String> {
    let start = system.find(CAPABILITIES_OPEN)? + CAPABILITIES_OPEN.len();
    let end = system[start..].find(CAPABILITIES_CLOSE)? + start;
    let listed: Vec<Value> = serde_json::from_str(&system[start..end]).ok()?;
    let allowed: Vec<&str> = listed.iter().filter_map(|c| c["id"].as_str()).collect();
    let max_steps = system
        .split("at most ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(5);
    // The subject: the product the context names, as a model would pick it, else the request.
    let topic = between(system, "Product: ", "\n")
        .or_else(|| between(system, "Product: ", "</context>"))
        .map(|p| format!("Introducing {}", p.split(" — ").next().unwrap_or(p).trim()))
        .unwrap_or_else(|| request.to_owned());
    let mut steps: Vec<(&str, Value)> = wanted(request, &topic)
        .into_iter()
        .filter(|(id, _)| allowed.contains(id))
        .collect();
    if steps.is_empty() {
        let first = allowed.first()?;
        steps.push((first, default_input(first, request)));
    }
    steps.truncate(max_steps.max(1));
    let steps: Vec<Value> = steps
        .into_iter()
        .map(|(id, input)| {
            let title = capability(id)
                .map(|c| {
                    c.description
                        .split(['(', ',', '.'])
                        .next()
                        .unwrap_or(id)
                        .trim()
                        .to_owned()
                })
                .unwrap_or_else(|| id.to_owned());
            json!({"capability": id, "title": truncate(&title, 120), "input": input})
        })
        .collect();
    Some(json!({ "steps": steps }).to_string())
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

/// Writes labelled copy shaped like the capability asks, within its limits.
fn write(system: &str, user: &str) -> String {
    let capability = between(system, "<capability>", "</capability>").unwrap_or_default();
    let input: Value = between(user, "<input>", "</input>")
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or(Value::Null);
    let brand = system
        .lines()
        .find_map(|l| l.strip_prefix("You write for "))
        .map(|b| b.trim_end_matches('.'))
        .unwrap_or("our company");
    let promise = system
        .lines()
        .find_map(|l| l.strip_prefix("Value propositions: "))
        .and_then(|v| v.trim_end_matches('.').split("; ").next())
        .unwrap_or("Ship with confidence");
    let request = user
        .lines()
        .find_map(|l| l.strip_prefix("Request: "))
        .unwrap_or(user);
    let topic = ["topic", "goal", "prompt"]
        .iter()
        .find_map(|k| input[*k].as_str())
        .unwrap_or(request);
    let topic = truncate(topic.trim(), 120);
    let body = match capability {
        "generate_text" => format!(
            "# {topic}\n\n{brand} helps teams move faster without new risk. {promise}: that is the promise behind this launch.\n\n\
             ## What changes for you\nEvery release gets the same checks, so the team spends its time on the product, not on the rollout.\n\n\
             ## Get started\nFind {brand} on AWS Marketplace and start today."
        ),
        "social_posts" => {
            let x = truncate(&format!("{promise}. {topic} — now on AWS Marketplace."), 280);
            format!("LinkedIn: {brand} is launching: {topic}. {promise}. Read the story and try it on AWS Marketplace.\nX: {x}")
        }
        "email_campaign" => format!(
            "Subject lines:\n1. {}\n2. {}\nPreview: {}\nBody: Hi {{first_name}}, {promise}. {topic}. Start on AWS Marketplace today.",
            truncate(promise, 60),
            truncate(&format!("New from {brand}"), 60),
            truncate(&topic, 90)
        ),
        "seo_optimize" => format!(
            "Title: {}\nMeta description: {}\nKeywords: {}",
            truncate(&format!("{topic} | {brand}"), 60),
            truncate(&format!("{promise}. {topic}."), 155),
            input["target_keywords"].as_array().map(|k| k.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_else(|| brand.to_lowercase())
        ),
        "joint_gtm_plan" => format!(
            "Goals: a joint pipeline for {brand} and the partner.\nMotions: co-branded webinar, AWS Marketplace private offers, joint account planning.\n\
             Timeline: weeks 1-2 enablement; weeks 3-6 campaigns; weeks 7-12 co-selling.\nResponsibilities: {brand} owns content and demos; the partner owns outreach."
        ),
        "marketplace_listing" => format!(
            "Product title: {}\nShort description: {}\nLong description: {brand} on AWS Marketplace. {promise}.\nHighlights:\n- {promise}\n- Deploys in minutes\n- Billed through your AWS account",
            truncate(brand, 255),
            truncate(&format!("{promise}. {topic}."), 1_000)
        ),
        "summarize" => {
            let max = input["max_words"].as_u64().unwrap_or(150) as usize;
            input["text"].as_str().unwrap_or(request).split_whitespace().take(max).collect::<Vec<_>>().join(" ")
        }
        _ => format!("{topic}. {promise}."),
    };
    format!("{LABEL} {body}")
}

#[async_trait]
impl Llm for OfflineModel {
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
        let first_user = request
            .messages
            .iter()
            .find(|m| m.speaker == Speaker::User)
            .map(|m| m.text.as_str())
            .unwrap_or_default();
        let last_user = request
            .messages
            .iter()
            .rev()
            .find(|m| m.speaker == Speaker::User)
            .map(|m| m.text.as_str())
            .unwrap_or_default();
        let text = match plan(&request.system, first_user) {
            Some(plan) => plan,
            None => write(&request.system, last_user),
        };
        let input_tokens = tokens(&request.system)
            + request
                .messages
                .iter()
                .map(|m| tokens(&m.text))
                .sum::<i64>();
        let output_tokens = tokens(&text).min(i64::from(request.max_tokens.max(1)));
        Ok(TextResponse {
            text,
            model: OFFLINE_TEXT.into(),
            input_tokens,
            output_tokens,
            stop_reason: "end_turn".into(),
        })
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// A small PNG in one colour derived from the prompt, with an offline label in a tEXt chunk.
pub fn placeholder_png(prompt: &str, size: u32) -> Vec<u8> {
    let digest = Sha256::digest(prompt.as_bytes());
    // Each row: filter byte 0, then the colour for every pixel.
    let mut row = vec![0u8];
    row.extend(digest[..3].repeat(size as usize));
    let raw = row.repeat(size as usize);
    // zlib with stored (uncompressed) blocks: header, blocks of at most 65535 bytes, Adler-32.
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i == blocks.len() - 1));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&size.to_be_bytes());
    header.extend_from_slice(&size.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &header);
    chunk(
        &mut png,
        b"tEXt",
        b"Comment\0Vellocity offline model placeholder image",
    );
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

#[async_trait]
impl ImageGen for OfflineModel {
    async fn generate(&self, request: ImageRequest) -> Result<ImageResponse, AiError> {
        Ok(ImageResponse {
            model: OFFLINE_IMAGE.into(),
            png: placeholder_png(&format!("{}#{}", request.prompt, request.seed), 64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agentcore::plan::{self as planning, PlanningBrief};

    fn brief<'a>(allowed: &'a [String], request: &'a str) -> PlanningBrief<'a> {
        PlanningBrief {
            model: OFFLINE_TEXT,
            instructions: None,
            allowed,
            max_steps: 4,
            request,
            context: "Brand: Acme",
        }
    }

    #[tokio::test]
    async fn the_offline_planner_makes_valid_plans_from_the_allowed_capabilities() {
        let allowed: Vec<String> = [
            "generate_text",
            "social_posts",
            "generate_image",
            "summarize",
        ]
        .map(String::from)
        .to_vec();
        let request =
            "Write a launch blog post for Deploy Guard, then LinkedIn posts and a banner image";
        let (plan, responses) = planning::plan(&OfflineModel, &brief(&allowed, request))
            .await
            .unwrap();
        let ids: Vec<&str> = plan.steps.iter().map(|s| s.capability.as_str()).collect();
        assert_eq!(ids, ["generate_text", "social_posts", "generate_image"]);
        assert_eq!(responses.len(), 1, "valid at the first attempt");
        assert!(responses[0].input_tokens > 0 && responses[0].output_tokens > 0);
        let again = planning::plan(&OfflineModel, &brief(&allowed, request))
            .await
            .unwrap()
            .0;
        assert_eq!(again, plan, "deterministic");
    }

    #[tokio::test]
    async fn a_request_for_nothing_allowed_still_gets_a_valid_plan() {
        let allowed = vec!["cosell_match".to_owned()];
        let (plan, _) = planning::plan(&OfflineModel, &brief(&allowed, "Write a blog post"))
            .await
            .unwrap();
        assert_eq!(plan.steps[0].capability, "cosell_match");
    }

    #[test]
    fn offline_copy_follows_the_capability_and_its_limits() {
        let system = crate::agentcore::prompts::writer_system(
            "social_posts",
            "You write for Acme.\nValue propositions: Ship safely.",
            "",
        );
        let user = crate::agentcore::prompts::writer_user(
            "Announce Deploy Guard",
            "Posts",
            &serde_json::json!({"topic": "Deploy Guard is live", "platforms": ["x"]}),
        );
        let text = write(&system, &user);
        assert!(text.starts_with(LABEL));
        let x = text.lines().find_map(|l| l.strip_prefix("X: ")).unwrap();
        assert!(x.chars().count() <= 280 && x.contains("Deploy Guard is live"));
        let seo = write(
            &crate::agentcore::prompts::writer_system("seo_optimize", "You write for Acme.", ""),
            &user,
        );
        let title = seo
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{LABEL} Title: ")))
            .unwrap();
        assert!(title.chars().count() <= 60);
    }

    #[tokio::test]
    async fn offline_text_is_labelled() {
        let request = TextRequest {
            model: OFFLINE_TEXT.into(),
            system: "Write.".into(),
            messages: vec![crate::ports::ai::Message {
                speaker: Speaker::User,
                text: "A tagline".into(),
            }],
            max_tokens: 100,
            temperature: 0.5,
        };
        assert!(OfflineModel
            .converse(request)
            .await
            .unwrap()
            .text
            .starts_with(LABEL));
    }

    #[test]
    fn the_placeholder_is_a_well_formed_png() {
        let png = placeholder_png("rocket", 64);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 64);
        assert!(
            png.ends_with(&[0xAE, 0x42, 0x60, 0x82]),
            "IEND with its fixed CRC"
        );
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_ne!(placeholder_png("rocket", 8), placeholder_png("tree", 8));
    }
}
