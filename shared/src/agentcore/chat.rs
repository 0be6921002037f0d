//! A chat reply: the person's message with as much recent history as fits, answered by the
//! conversation's model in the brand voice of its company and with the facts of its product
//! (the context the writers get), paid from a hold taken before the call.

use schemars::JsonSchema;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::context::facts;
use super::prompts;
use crate::app::resources;
use crate::app::{budgets, conversations, memory};
use crate::app::{App, Caller};
use crate::domain::catalog::{self, DEFAULT_CHAT};
use crate::domain::conversation::{
    check_content, estimate_tokens, fit_history, ChatMessage, ConversationDraft, Role,
    HISTORY_TOKENS, REPLY_CREDITS,
};
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::resources::{CompanyDraft, ProductDraft};
use crate::domain::usage::{Line, CHAT};
use crate::error::Error;
use crate::ports::ai::{AiError, ChatBrief, Message, ModelTask, Speaker, TextRequest, TextSink};
use crate::ports::metrics::{MetricEvent, Unit};
use crate::ports::rfc3339;

/// `POST /v1/conversations/{id}/messages`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// What the person says.
    #[schemars(length(min = 1))]
    pub content: String,
}

/// The stored message and the reply to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Exchange {
    /// The person's message as stored.
    pub message: ChatMessage,
    /// The model's reply, with what it used and cost.
    pub reply: ChatMessage,
}

/// How many of the latest messages are considered for the history (the token budget decides
/// how many go).
const HISTORY_MESSAGES: u32 = 50;

/// Sends a message and stores it with the reply. The conversation's owner (or an admin) may;
/// 402 when the team cannot cover the reply's most; a model that throttles or fails answers
/// 429 or 503 and charges nothing; nothing is stored unless both messages are. With a `sink`,
/// the reply's text goes there piece by piece as the model writes it.
pub async fn send(
    app: &App,
    caller: &Caller,
    conversation_id: &str,
    request: MessageRequest,
    sink: Option<&TextSink>,
) -> Result<Exchange, Error> {
    let content = check_content(&request.content).map_err(Error::validation)?;
    let conversation = resources::get::<ConversationDraft>(app, caller, conversation_id).await?;
    resources::ensure_may_change(caller, &conversation)?;
    let id = ConversationId::parse(&conversation.id).map_err(Error::internal)?;
    conversations::release_expired_holds(app, &caller.team_id).await?;
    let company = match &conversation.data.company_id {
        Some(c) => resources::find::<CompanyDraft>(app, &caller.team_id, c.as_str()).await?,
        None => None,
    };
    let product = match &conversation.data.product_id {
        Some(p) => resources::find::<ProductDraft>(app, &caller.team_id, p.as_str()).await?,
        None => None,
    };
    let newest_first = conversations::recent(app, &caller.team_id, &id, HISTORY_MESSAGES).await?;
    let history = fit_history(newest_first, HISTORY_TOKENS);
    let company = company.map(|c| c.data);
    let product = product.map(|p| p.data);
    let mut messages: Vec<Message> = history
        .iter()
        .map(|m| Message {
            speaker: match m.role {
                Role::User => Speaker::User,
                Role::Assistant => Speaker::Assistant,
            },
            text: m.content.clone(),
        })
        .collect();
    messages.push(Message {
        speaker: Speaker::User,
        text: content.clone(),
    });
    // The voice and the facts are the same for every reply about this brand and product.
    let system = prompts::chat_system(
        &prompts::brand_voice(company.as_ref()),
        &facts(company.as_ref(), product.as_ref()),
    );
    let model_request = TextRequest {
        model: catalog::to_call(conversation.data.model.as_deref(), DEFAULT_CHAT),
        stable_system_len: system.len(),
        system,
        messages,
        max_tokens: REPLY_CREDITS.max_output_tokens().unwrap_or(1_000) as i32,
        temperature: 0.7,
        task: Some(ModelTask::Chat(ChatBrief {
            brand: company.as_ref().map(|c| c.name.clone()),
            product: product.as_ref().map(|p| p.name.clone()),
            question: content.clone(),
            earlier_messages: history.len(),
        })),
        answer_schema: None,
        guardrail: None,
    };
    let most_micro_usd = catalog::model(&model_request.model).map_or(0, |m| {
        let input = estimate_tokens(&model_request.system)
            + model_request
                .messages
                .iter()
                .map(|m| estimate_tokens(&m.text))
                .sum::<i64>();
        m.cost_bound(input, i64::from(model_request.max_tokens), 0)
    });
    let hold =
        conversations::hold(app, caller, &id, REPLY_CREDITS.reserve(), most_micro_usd).await?;
    let model_request = TextRequest {
        guardrail: hold.guardrail.clone(),
        ..model_request
    };
    let started = Instant::now();
    let answered = match sink {
        Some(sink) => app.llm.converse_stream(model_request, sink).await,
        None => app.llm.converse(model_request).await,
    };
    let response = match answered {
        Ok(response) => response,
        Err(error) => {
            conversations::release(app, &caller.team_id, &hold).await?;
            return Err(match error {
                AiError::Throttled(_) => Error::Throttled,
                other => Error::unavailable_because(
                    "The model could not answer right now; nothing was charged. Retry shortly.",
                    format!("chat reply in {}: {other}", conversation.id),
                ),
            });
        }
    };
    let latency_ms = started.elapsed().as_millis() as i64;
    let line = Line {
        model: Some(response.model.clone()),
        capability: CHAT.into(),
        tokens: response.tokens(),
        images: 0,
        credits: REPLY_CREDITS.charge(response.output_tokens, 0),
    };
    let now = rfc3339(app.clock.now());
    let question = ChatMessage {
        id: hold.question_id.to_string(),
        role: Role::User,
        content,
        model: None,
        tokens: None,
        guardrail_intervened: false,
        cost_micro_usd: None,
        credits: None,
        latency_ms: None,
        created_by: caller.user_id.clone(),
        created_at: now.clone(),
    };
    let reply = ChatMessage {
        id: MessageId::generate().to_string(),
        role: Role::Assistant,
        guardrail_intervened: response.guardrail_intervened(),
        content: response.text,
        model: Some(response.model.clone()),
        tokens: Some(line.tokens),
        cost_micro_usd: Some(line.cost_micro_usd()),
        credits: Some(line.credits),
        latency_ms: Some(latency_ms),
        created_by: caller.user_id.clone(),
        created_at: now,
    };
    if let Err(error) =
        conversations::record_exchange(app, &caller.team_id, &hold, &question, &reply, &line).await
    {
        conversations::release(app, &caller.team_id, &hold).await?;
        return Err(error);
    }
    // The reply is stored and charged: memory missing it is a smaller loss than failing it.
    let about = memory::ReplyContext {
        conversation: &conversation,
        company: company.as_ref(),
        product: product.as_ref(),
        team_defaults: hold.privacy_defaults,
    };
    if let Err(error) = memory::remember_reply(app, caller, about, &question, &reply).await {
        tracing::warn!(%error, "keeping the reply in memory failed");
    }
    if let Err(error) = budgets::record_crossings(app, &caller.team_id).await {
        tracing::warn!(%error, "recording budget thresholds failed; the next settlement records them");
    }
    app.metrics.emit(
        MetricEvent::new("ChatReplies", 1.0, Unit::Count)
            .and("InputTokens", line.tokens.input as f64, Unit::None)
            .and("OutputTokens", line.tokens.output as f64, Unit::None)
            .and("CacheReadTokens", line.tokens.cache_read as f64, Unit::None)
            .and("CostMicroUsd", line.cost_micro_usd() as f64, Unit::None)
            .and("ReplyLatency", latency_ms as f64, Unit::Milliseconds)
            .by("Model", response.model)
            .with("team_id", caller.team_id.to_string())
            .with("conversation_id", id.to_string()),
    );
    Ok(Exchange {
        message: question,
        reply,
    })
}
