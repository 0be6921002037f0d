//! Conversations and their messages. A conversation is a resource (its draft, ownership and
//! changes are those of every resource); on its item the server keeps what its replies used.
//! A reply is paid like an execution: a hold reserves its most before the model is called,
//! and one transaction stores the exchange (the person's message and the reply), charges what
//! the reply used, refunds the rest, adds to the conversation's figures and the usage
//! aggregates, and ends the hold — so it happens once. A failed call releases the hold.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use time::{Duration, OffsetDateTime};

use super::credits::{self, Spent, Work};
use super::items::{from_item, to_item};
use super::records::{commit, query_all, Guarded, Listing, PageRequest, Record};
use super::resources::{self, Resource};
use super::{keys, teams, usage, App, Caller};
use crate::domain::budget::Commitment;
use crate::domain::conversation::{ChatMessage, ConversationDraft};
use crate::domain::ids::{ConversationId, MessageId, TeamId, UserId};
use crate::domain::privacy::PrivacySettings;
use crate::domain::team::Guardrail;
use crate::domain::usage::{Attribution, Line, CHAT};
use crate::error::{Conflict, Error};
use crate::ports::table::{
    Condition, Index, Item, Key, Query, SortKey, Update, UpdateAction, WriteOp,
};
use crate::ports::{parse_rfc3339, rfc3339};

/// The figures a conversation's item keeps, added to by every reply.
const MESSAGE_COUNT: &str = "message_count";
const INPUT_TOKENS: &str = "input_tokens";
const OUTPUT_TOKENS: &str = "output_tokens";
const COST: &str = "cost_micro_usd";
const CREDITS_USED: &str = "credits_used";
const LAST_MESSAGE_AT: &str = "last_message_at";

/// Sort key prefix of messages: `MSG#<conversation>#<exchange>#<1 question | 2 reply>`. Not
/// under `CONV#`, so listing conversations never reads messages.
const MESSAGE_PREFIX: &str = "MSG#";
/// Sort key prefix of reply holds: `CHATHOLD#<question id>`.
const HOLD_PREFIX: &str = "CHATHOLD#";
/// How long a hold may wait for its reply before anyone may release it: far beyond the
/// message function's timeout, so a reply still being written is never released.
pub const HOLD_LIFETIME: Duration = Duration::minutes(5);

fn messages_prefix(conversation: &ConversationId) -> String {
    format!("{MESSAGE_PREFIX}{conversation}#")
}

fn message_key(
    team: &TeamId,
    conversation: &ConversationId,
    exchange: &MessageId,
    turn: u8,
) -> Key {
    Key::new(
        keys::team_partition(team),
        format!("{}{exchange}#{turn}", messages_prefix(conversation)),
    )
}

fn hold_key(team: &TeamId, question: &MessageId) -> Key {
    Key::new(
        keys::team_partition(team),
        format!("{HOLD_PREFIX}{question}"),
    )
}

fn conversation_key(team: &TeamId, id: &ConversationId) -> Key {
    resources::record_key::<ConversationDraft>(team, id.as_str())
}

/// A conversation as clients see it: the record with the figures of its replies.
fn render(item: &Item) -> Result<Json, Error> {
    let record: Record<ConversationDraft> = from_item(item)?;
    let figure = |name: &str| item.get(name).and_then(|v| v.as_i64()).unwrap_or(0);
    let mut json = record.to_json()?;
    if let Json::Object(map) = &mut json {
        map.insert(MESSAGE_COUNT.into(), figure(MESSAGE_COUNT).into());
        map.insert(
            "tokens".into(),
            json!({"input": figure(INPUT_TOKENS), "output": figure(OUTPUT_TOKENS)}),
        );
        map.insert(COST.into(), figure(COST).into());
        map.insert(CREDITS_USED.into(), figure(CREDITS_USED).into());
        let last = item.get(LAST_MESSAGE_AT).and_then(|v| v.as_str());
        map.insert(LAST_MESSAGE_AT.into(), last.map_or(Json::Null, Json::from));
    }
    Ok(json)
}

fn parse_id(id: &str) -> Result<ConversationId, Error> {
    ConversationId::parse(id).map_err(|_| Error::not_found(ConversationDraft::KIND))
}

async fn read(app: &App, team: &TeamId, id: &ConversationId) -> Result<Item, Error> {
    app.table
        .get(&conversation_key(team, id))
        .await?
        .ok_or_else(|| Error::not_found(ConversationDraft::KIND))
}

/// One conversation of the caller's team, with its figures.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<Json, Error> {
    render(&read(app, &caller.team_id, &parse_id(id)?).await?)
}

/// The team's conversations, newest first.
pub async fn list(app: &App, caller: &Caller, page: PageRequest) -> Result<Listing<Json>, Error> {
    let mut query = Query::prefix(
        Index::Table,
        keys::team_partition(&caller.team_id),
        ConversationDraft::SK_PREFIX,
    );
    query.descending = true;
    query.limit = page.limit;
    query.cursor = page.cursor;
    let page = app.table.query(query).await?;
    Ok(Listing {
        items: page.items.iter().map(render).collect::<Result<_, _>>()?,
        next_cursor: page.cursor.map(|c| c.encode()),
    })
}

/// Starts a conversation.
pub async fn create(app: &App, caller: &Caller, draft: ConversationDraft) -> Result<Json, Error> {
    let record = resources::create(app, caller, draft).await?;
    get(app, caller, &record.id).await
}

/// Changes a conversation's title, company, product or model (its owner or an admin).
pub async fn update(app: &App, caller: &Caller, id: &str, patch: Json) -> Result<Json, Error> {
    let record = resources::update::<ConversationDraft>(app, caller, id, patch).await?;
    get(app, caller, &record.id).await
}

/// Deletes a conversation (its owner or an admin), then its messages. Once the conversation
/// is gone no reply can be stored in it (a reply's transaction needs it), so the messages
/// left behind by an interrupted delete are unreachable, and a repeated delete answers 404.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<(), Error> {
    let id = parse_id(id)?;
    resources::delete::<ConversationDraft>(app, caller, id.as_str()).await?;
    let messages = Query::prefix(
        Index::Table,
        keys::team_partition(&caller.team_id),
        messages_prefix(&id),
    );
    for key in query_all(app.table.as_ref(), messages)
        .await?
        .iter()
        .filter_map(Key::of)
    {
        app.table.delete(&key, None).await?;
    }
    Ok(())
}

/// A page of a conversation's messages, oldest first.
pub async fn messages(
    app: &App,
    caller: &Caller,
    id: &str,
    page: PageRequest,
) -> Result<Listing<ChatMessage>, Error> {
    let id = parse_id(id)?;
    read(app, &caller.team_id, &id).await?;
    let mut query = Query::prefix(
        Index::Table,
        keys::team_partition(&caller.team_id),
        messages_prefix(&id),
    );
    query.limit = page.limit;
    query.cursor = page.cursor;
    super::records::listing(app.table.query(query).await?)
}

/// The conversation's latest `limit` (1–100) messages, newest first.
pub async fn recent(
    app: &App,
    team: &TeamId,
    id: &ConversationId,
    limit: u32,
) -> Result<Vec<ChatMessage>, Error> {
    let mut query = Query::prefix(
        Index::Table,
        keys::team_partition(team),
        messages_prefix(id),
    );
    query.descending = true;
    query.limit = limit;
    let page = app.table.query(query).await?;
    page.items.iter().map(from_item).collect()
}

/// Credits held for one reply until it is stored or abandoned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The person's message the reply answers.
    pub question_id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Credits held.
    pub reserved: i64,
    /// Who asked.
    pub member: UserId,
    /// When anyone may release it (RFC 3339).
    pub expires_at: String,
    /// What it committed against the month's budget and the member's limit.
    pub commitment: Commitment,
    /// The team's Bedrock guardrail, which the reply is held to (read with the team).
    #[serde(skip)]
    pub guardrail: Option<Guardrail>,
    /// The team's privacy defaults, which the reply's memory is kept under (read with the
    /// team).
    #[serde(skip)]
    pub privacy_defaults: PrivacySettings,
}

/// Holds a reply's most (`reserved` credits, `most_micro_usd`) for the caller's message in a
/// conversation: 402 (and nothing written) when the team, its budget or the member's limit
/// cannot cover it, 403 when its Marketplace subscription is not active.
pub async fn hold(
    app: &App,
    caller: &Caller,
    conversation: &ConversationId,
    reserved: i64,
    most_micro_usd: i64,
) -> Result<Hold, Error> {
    let team = teams::get_team(app, caller).await?;
    let question_id = MessageId::generate();
    let (commitment, reservation) = credits::reserve(
        app,
        &team,
        &caller.user_id,
        reserved,
        most_micro_usd,
        &Work::Message(question_id.to_string()),
        format!("A reply reserves up to {reserved} credits and your team has fewer available; ask an admin for more credits."),
    )
    .await?;
    let hold = Hold {
        question_id,
        conversation_id: conversation.clone(),
        reserved,
        member: caller.user_id.clone(),
        expires_at: rfc3339(app.clock.now() + HOLD_LIFETIME),
        commitment,
        guardrail: team.guardrail.clone(),
        privacy_defaults: team.privacy_defaults,
    };
    let key = hold_key(&caller.team_id, &hold.question_id);
    let mut writes = Vec::new();
    writes.extend(credits::subscription_check(&team));
    writes.push(Guarded::new(
        WriteOp::Put {
            item: to_item(&hold, &key, "chat_hold")?,
            condition: Some(Condition::item_absent()),
        },
        Error::conflict(Conflict::Changed, "Message ids collided; retry."),
    ));
    writes.extend(reservation);
    writes.push(Guarded::new(
        WriteOp::Check {
            key: conversation_key(&caller.team_id, conversation),
            condition: Condition::item_exists(),
        },
        Error::not_found(ConversationDraft::KIND),
    ));
    commit(app.table.as_ref(), writes).await?;
    Ok(hold)
}

/// Gives a hold's credits back in full (the model failed, or the reply could not be stored).
/// `Ok(false)` when the hold had ended already: released or settled once, never twice.
pub async fn release(app: &App, team: &TeamId, hold: &Hold) -> Result<bool, Error> {
    let work = Work::Message(hold.question_id.to_string());
    let mut writes = vec![end_hold(team, hold)];
    let spent = Spent {
        micro_usd: 0,
        commitment: Some(&hold.commitment),
    };
    writes.extend(credits::settle(app, team, hold.reserved, 0, spent, &work)?);
    match commit(app.table.as_ref(), writes).await {
        Ok(()) => Ok(true),
        Err(Error::Conflict {
            kind: Conflict::ReplyExpired,
            ..
        }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// The write that ends a hold, once.
fn end_hold(team: &TeamId, hold: &Hold) -> Guarded {
    Guarded::new(
        WriteOp::Delete {
            key: hold_key(team, &hold.question_id),
            condition: Some(Condition::item_exists()),
        },
        Error::conflict(
            Conflict::ReplyExpired,
            "This reply took too long and its credits were released; send the message again.",
        ),
    )
}

/// Stores a question and its reply, charging the reply's `line` against the hold, adding to
/// the conversation's figures and the usage aggregates: all or nothing, once.
pub async fn record_exchange(
    app: &App,
    team: &TeamId,
    hold: &Hold,
    question: &ChatMessage,
    reply: &ChatMessage,
    line: &Line,
) -> Result<(), Error> {
    let conversation = &hold.conversation_id;
    let mut writes = vec![end_hold(team, hold)];
    let spent = Spent {
        micro_usd: line.cost_micro_usd(),
        commitment: Some(&hold.commitment),
    };
    writes.extend(credits::settle(
        app,
        team,
        hold.reserved,
        line.credits,
        spent,
        &Work::Message(hold.question_id.to_string()),
    )?);
    for (message, turn) in [(question, 1), (reply, 2)] {
        let key = message_key(team, conversation, &hold.question_id, turn);
        writes.push(Guarded::new(
            WriteOp::Put {
                item: to_item(message, &key, "message")?,
                condition: Some(Condition::item_absent()),
            },
            Error::conflict(Conflict::Changed, "This message is stored already."),
        ));
    }
    writes.push(Guarded::new(
        WriteOp::Update(Update {
            key: conversation_key(team, conversation),
            actions: vec![
                UpdateAction::Add(MESSAGE_COUNT.into(), 2),
                UpdateAction::Add(INPUT_TOKENS.into(), line.tokens.input),
                UpdateAction::Add(OUTPUT_TOKENS.into(), line.tokens.output),
                UpdateAction::Add(COST.into(), line.cost_micro_usd()),
                UpdateAction::Add(CREDITS_USED.into(), line.credits),
                UpdateAction::Set(LAST_MESSAGE_AT.into(), reply.created_at.clone().into()),
            ],
            condition: Some(Condition::item_exists()),
        }),
        Error::not_found(ConversationDraft::KIND),
    ));
    let now = parse_rfc3339(&reply.created_at).unwrap_or_else(|| app.clock.now());
    let who = Attribution {
        day: usage::day(now),
        agent: None,
        member: question.created_by.to_string(),
        source: CHAT,
    };
    writes.extend(usage::aggregate_writes(
        team,
        &who,
        std::slice::from_ref(line),
    ));
    commit(app.table.as_ref(), writes).await
}

/// Releases the team's holds that outlived [`HOLD_LIFETIME`] (a reply whose function was
/// stopped before it stored or released it), so no credits stay reserved for nothing. Each
/// release is conditional on the hold: a hold settled meanwhile is left alone.
pub async fn release_expired_holds(app: &App, team: &TeamId) -> Result<usize, Error> {
    let now: OffsetDateTime = app.clock.now();
    let query = Query {
        index: Index::Table,
        partition: keys::team_partition(team),
        sort_key: SortKey::BeginsWith(HOLD_PREFIX.into()),
        descending: false,
        limit: 100,
        cursor: None,
    };
    let mut released = 0;
    for item in app.table.query(query).await?.items {
        let hold: Hold = from_item(&item)?;
        let expired = parse_rfc3339(&hold.expires_at).is_some_and(|at| at < now);
        if expired && release(app, team, &hold).await? {
            tracing::warn!(question_id = %hold.question_id, "released the credits of a reply that never finished");
            released += 1;
        }
    }
    Ok(released)
}
