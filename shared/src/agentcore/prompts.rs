//! Prompts of the text capabilities: the brand voice in the system prompt, the capability's
//! rules (with the platform and AWS field limits), and the step's input.

use serde_json::Value;

use crate::domain::resources::{BrandVoice, CompanyDraft};

/// Marks the capability in a writer's system prompt.
pub const CAPABILITY_TAG: &str = "capability";

/// What one capability must produce.
fn rules(capability: &str) -> &'static str {
    match capability {
        "generate_text" => "Write the requested long-form piece with a headline, short sections and a call to action. Stay near target_words when given.",
        "social_posts" => "Write post variants for each requested platform. Each X post must be at most 280 characters; each LinkedIn post at most 3000 characters. Label each variant with its platform.",
        "email_campaign" => "Write the requested number of subject lines (at most 60 characters each), one preview text (at most 90 characters) and the email body.",
        "seo_optimize" => "Give an SEO title of at most 60 characters, a meta description of at most 155 characters, and up to 10 keywords.",
        "joint_gtm_plan" => "Write a joint go-to-market plan with the partner: goals, sales and marketing motions, a week-by-week timeline, and who is responsible for what.",
        "marketplace_listing" => "Write AWS Marketplace listing copy: a product title of at most 255 characters, a short description of at most 1000, a long description of at most 5000, and exactly three highlights of at most 250 characters each.",
        "summarize" => "Summarise the text within max_words words (default 150).",
        _ => "Do what the input asks.",
    }
}

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

/// The system prompt of a text step.
pub fn writer_system(capability: &str, voice: &str, context: &str) -> String {
    format!("{voice}\n<{CAPABILITY_TAG}>{capability}</{CAPABILITY_TAG}>\n{}\n<context>\n{context}\n</context>", rules(capability))
}

/// The user turn of a text step: the request and the step's input.
pub fn writer_user(request: &str, title: &str, input: &Value) -> String {
    format!("Request: {request}\nStep: {title}\n<input>{input}</input>")
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
        let system = writer_system("social_posts", &voice, "Product: Deploy Guard");
        assert!(
            system.contains("<capability>social_posts</capability>")
                && system.contains("280 characters")
        );
        assert!(brand_voice(None).contains("No brand voice"));
    }
}
