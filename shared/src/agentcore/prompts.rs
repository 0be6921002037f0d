//! Prompts of the text capabilities: the brand voice in the system prompt, the capability's
//! rules (its module's, with the platform and AWS field limits), and the step's input.

use serde_json::Value;

use crate::domain::resources::{BrandVoice, CompanyDraft};

/// Marks the capability in a writer's system prompt.
const CAPABILITY_TAG: &str = "capability";

/// The brand voice as prompt text.
pub fn brand_voice(company: Option<&CompanyDraft>) -> String {
    let Some(company) = company else {
        return "No brand voice is set: write in a clear, professional voice.".into();
    };
    let BrandVoice {
        tone,
        audience,
        value_propositions,
        guidelines,
        banned_phrases,
        sample_copy,
    } = &company.brand_voice;
    let mut lines = vec![format!("You write for {}.", company.name)];
    if let Some(tone) = tone {
        lines.push(format!("Tone: {tone}."));
    }
    if let Some(audience) = audience {
        lines.push(format!("Audience: {audience}."));
    }
    if !value_propositions.is_empty() {
        lines.push(format!(
            "Value propositions: {}.",
            value_propositions.join("; ")
        ));
    }
    if let Some(guidelines) = guidelines {
        lines.push(format!("Guidelines: {guidelines}"));
    }
    if !banned_phrases.is_empty() {
        lines.push(format!(
            "Never use these phrases: {}.",
            banned_phrases.join(", ")
        ));
    }
    if let Some(sample) = sample_copy {
        lines.push(format!("Sample of the voice: {sample}"));
    }
    lines.join("\n")
}

/// A system prompt and how much of its start stays the same from one request to the next.
pub struct SystemPrompt {
    /// The whole prompt.
    pub text: String,
    /// The length of its stable start (see `TextRequest::stable_system_len`).
    pub stable_len: usize,
}

impl SystemPrompt {
    /// `stable`, then what varies (its own section, when there is any).
    pub fn new(stable: String, varying: &str) -> SystemPrompt {
        let stable_len = stable.len();
        let mut text = stable;
        if !varying.is_empty() {
            text.push_str(&format!("\n<this_request>\n{varying}\n</this_request>"));
        }
        SystemPrompt { text, stable_len }
    }
}

/// The system prompt of a text step: the voice, the capability and its rules, the facts (the
/// same for every execution of this brand and capability), then this execution's context.
pub fn writer_system(
    capability: &str,
    rules: &str,
    voice: &str,
    facts: &str,
    this_run: &str,
) -> SystemPrompt {
    SystemPrompt::new(
        format!("{voice}\n<{CAPABILITY_TAG}>{capability}</{CAPABILITY_TAG}>\n{rules}\n<context>\n{facts}\n</context>"),
        this_run,
    )
}

/// The user turn of a text step: the request and the step's input.
pub fn writer_user(request: &str, title: &str, input: &Value) -> String {
    format!("Request: {request}\nStep: {title}\n<input>{input}</input>")
}

/// The system prompt of a chat reply: the voice, what the assistant is for, the facts.
pub fn chat_system(voice: &str, facts: &[String]) -> String {
    format!(
        "{voice}\nYou are the team's go-to-market assistant: answer questions and draft copy about the brand and its products, in the voice above, briefly.\n<context>\n{}\n</context>",
        facts.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brand_voice_names_the_banned_phrases_and_the_capability_its_limits() {
        let company: CompanyDraft = serde_json::from_value(serde_json::json!({
            "name": "Acme", "brand_voice": {"tone": "warm", "banned_phrases": ["synergy"]}
        }))
        .unwrap();
        let voice = brand_voice(Some(&company));
        assert!(
            voice.contains("You write for Acme.")
                && voice.contains("Never use these phrases: synergy.")
        );
        let crate::domain::capabilities::Runner::Writer { rules, .. } =
            crate::domain::capabilities::social_posts::CAPABILITY.runner
        else {
            panic!("social posts are written");
        };
        let system = writer_system(
            "social_posts",
            rules,
            &voice,
            "Product: Deploy Guard",
            "Inputs: {}",
        );
        let (stable, varying) = system.text.split_at(system.stable_len);
        assert!(
            stable.contains("<capability>social_posts</capability>")
                && stable.contains("280 characters")
                && stable.contains("Product: Deploy Guard")
        );
        assert!(varying.contains("Inputs: {}") && !stable.contains("Inputs"));
        assert!(brand_voice(None).contains("No brand voice"));
    }
}
