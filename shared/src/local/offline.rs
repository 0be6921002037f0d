//! The offline model: what the local stack uses when no Bedrock endpoint is configured.
//! Deterministic (the same request gives the same answer), marked as offline in every output,
//! and good enough to drive a whole workflow. It reads what a request asks for as data
//! ([`ModelTask`]), never the prompt's prose, so rewording a prompt changes nothing here: a
//! plan comes from the capabilities' offline cues, copy from the capability's own offline
//! writer; images are small PNGs.

use async_trait::async_trait;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::capabilities::{
    capability, truncate, PlanningSubject, PlanningTask, Runner, WritingBrief, CAPABILITIES,
};
use crate::domain::catalog::{OFFLINE_IMAGE, OFFLINE_TEXT};
use crate::ports::ai::{
    pieces, AiError, ChatBrief, ImageGen, ImageRequest, ImageResponse, Llm, ModelTask, TextRequest,
    TextResponse, TextSink,
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

/// A plan over the allowed capabilities: those whose cues the request names, in the order it
/// first names them (one per place), else the first allowed one.
fn plan(task: &PlanningTask) -> String {
    let subject = PlanningSubject {
        request: task.request.clone(),
        topic: match &task.product {
            Some(product) => format!("Introducing {product}"),
            None => task.request.clone(),
        },
    };
    let request = task.request.to_lowercase();
    let allowed: Vec<_> = CAPABILITIES
        .iter()
        .filter(|c| task.allowed.iter().any(|id| id == c.id))
        .collect();
    let mut found: Vec<(usize, &str, Value)> = Vec::new();
    for capability in &allowed {
        let cue = capability.offline_cue;
        let first = cue.words.iter().filter_map(|w| request.find(w)).min();
        if let Some(at) = first {
            if !found.iter().any(|(other, _, _)| *other == at) {
                found.push((at, capability.id, (cue.input)(&subject)));
            }
        }
    }
    found.sort_by_key(|(at, _, _)| *at);
    if found.is_empty() {
        if let Some(first) = allowed.first() {
            found.push((0, first.id, (first.offline_cue.input)(&subject)));
        }
    }
    found.truncate(task.max_steps.max(1));
    let steps: Vec<Value> = found
        .into_iter()
        .map(|(_, id, input)| {
            let title = capability(id)
                .map(|c| {
                    c.description
                        .split(['(', ',', '.', ':'])
                        .next()
                        .unwrap_or(id)
                })
                .unwrap_or(id)
                .trim();
            json!({"capability": id, "title": truncate(title, 120), "input": input})
        })
        .collect();
    json!({ "steps": steps }).to_string()
}

/// Copy for a step: the capability's own offline writer, labelled.
fn write(brief: &WritingBrief) -> String {
    let body = match capability(&brief.capability).map(|c| c.runner) {
        Some(Runner::Writer { offline, .. }) => offline(brief),
        _ => format!("{}. {}.", brief.topic(), brief.promise()),
    };
    format!("{LABEL} {body}")
}

/// A chat reply: names the voice, the product and the history it was given, so what reached
/// the model can be seen.
fn chat(brief: &ChatBrief) -> String {
    let voice = brief
        .brand
        .as_deref()
        .map(|b| format!("In {b}'s voice"))
        .unwrap_or_else(|| "In a clear, professional voice".into());
    let product = brief
        .product
        .as_deref()
        .map(|p| format!(", about {p}"))
        .unwrap_or_default();
    format!(
        "{LABEL} {voice}{product}, with {} earlier messages in mind: a reply to \"{}\".",
        brief.earlier_messages,
        truncate(brief.question.trim(), 200)
    )
}

/// Words per piece of a streamed offline answer.
pub const STREAM_WORDS: usize = 4;

#[async_trait]
impl Llm for OfflineModel {
    async fn converse(&self, request: TextRequest) -> Result<TextResponse, AiError> {
        let text = match &request.task {
            Some(ModelTask::Plan(task)) => plan(task),
            Some(ModelTask::Write(brief)) => write(brief),
            Some(ModelTask::Chat(brief)) => chat(brief),
            None => format!(
                "{LABEL} {}",
                request
                    .messages
                    .last()
                    .map(|m| truncate(m.text.trim(), 200))
                    .unwrap_or_default()
            ),
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
            ..TextResponse::default()
        })
    }

    /// The answer in pieces of a few words, as a streaming model sends it.
    async fn converse_stream(
        &self,
        request: TextRequest,
        sink: &TextSink,
    ) -> Result<TextResponse, AiError> {
        let response = self.converse(request).await?;
        for piece in pieces(&response.text, STREAM_WORDS) {
            let _ = sink.send(piece);
        }
        Ok(response)
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
            facts: "Brand: Acme",
            this_run: "",
            product: None,
            guardrail: None,
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

    #[tokio::test]
    async fn a_landing_page_is_planned_with_its_own_capability_where_the_agent_has_it() {
        let both = ["landing_page", "generate_text"].map(String::from).to_vec();
        let request = "A landing page for Deploy Guard";
        let (plan, _) = planning::plan(&OfflineModel, &brief(&both, request))
            .await
            .unwrap();
        let ids: Vec<&str> = plan.steps.iter().map(|s| s.capability.as_str()).collect();
        assert_eq!(ids, ["landing_page"]);
        let only_text = vec!["generate_text".to_owned()];
        let (plan, _) = planning::plan(&OfflineModel, &brief(&only_text, request))
            .await
            .unwrap();
        assert_eq!(plan.steps[0].input["format"], "landing_page");
    }

    fn writing(capability: &str, input: Value) -> WritingBrief {
        WritingBrief {
            capability: capability.into(),
            input,
            request: "Announce Deploy Guard".into(),
            brand: Some("Acme".into()),
            promise: Some("Ship safely".into()),
        }
    }

    #[test]
    fn offline_copy_follows_the_capability_and_its_limits() {
        let input = json!({"topic": "Deploy Guard is live", "platforms": ["x"]});
        let text = write(&writing("social_posts", input.clone()));
        assert!(text.starts_with(LABEL));
        let x = text.lines().find_map(|l| l.strip_prefix("X: ")).unwrap();
        assert!(x.chars().count() <= 280 && x.contains("Deploy Guard is live"));
        let seo = write(&writing("seo_optimize", input));
        let title = seo
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{LABEL} Title: ")))
            .unwrap();
        assert!(title.chars().count() <= 60);
    }

    #[tokio::test]
    async fn offline_copy_does_not_depend_on_the_prompt_wording() {
        let request = |system: &str| TextRequest {
            model: OFFLINE_TEXT.into(),
            system: system.into(),
            messages: vec![crate::ports::ai::Message {
                speaker: crate::ports::ai::Speaker::User,
                text: "Request: whatever the prompt says".into(),
            }],
            max_tokens: 1_000,
            temperature: 0.5,
            task: Some(ModelTask::Write(writing(
                "generate_text",
                json!({"format": "blog_post", "topic": "Deploy Guard"}),
            ))),
            ..TextRequest::default()
        };
        let one = OfflineModel
            .converse(request("You write for Acme."))
            .await
            .unwrap();
        let other = OfflineModel
            .converse(request(
                "Completely reworded instructions, no markers at all.",
            ))
            .await
            .unwrap();
        assert_eq!(one.text, other.text);
        assert!(one.text.starts_with(&format!("{LABEL} # Deploy Guard")));
    }

    #[tokio::test]
    async fn offline_text_is_labelled() {
        let request = TextRequest {
            model: OFFLINE_TEXT.into(),
            system: "Write.".into(),
            messages: vec![crate::ports::ai::Message {
                speaker: crate::ports::ai::Speaker::User,
                text: "A tagline".into(),
            }],
            max_tokens: 100,
            temperature: 0.5,
            ..TextRequest::default()
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
