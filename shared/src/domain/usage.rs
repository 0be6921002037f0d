//! Usage: the measures every ended execution records (which Marketplace dimensions bill), and
//! what each piece of work used, by model, capability and the rest of the report's
//! dimensions.

use schemars::JsonSchema;
use std::collections::BTreeMap;

use super::execution::Execution;
use super::step::StepStatus;
use super::tokens::TokenUsage;

/// Executions that succeeded.
pub const EXECUTIONS: &str = "executions";
/// Credits charged.
pub const CREDITS: &str = "credits";
/// Words written by text steps.
pub const WORDS: &str = "words";
/// Images generated.
pub const IMAGES: &str = "images";
/// Every usage measure, in the order reports show them.
pub const MEASURES: [&str; 4] = [EXECUTIONS, CREDITS, WORDS, IMAGES];

/// What the usage report groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// The day (UTC) the work was settled.
    Day,
    /// The model called (`none` for work that called none).
    Model,
    /// The agent that ran (`none` for chat).
    Agent,
    /// The member who started the work.
    Member,
    /// The capability of a step; `planning` for an execution's plan, `chat` for a reply.
    Capability,
    /// `execution` or `chat`.
    Source,
}

impl Dimension {
    /// Every dimension: each settlement adds to one aggregate per dimension and key.
    pub const ALL: [Dimension; 6] = [
        Dimension::Day,
        Dimension::Model,
        Dimension::Agent,
        Dimension::Member,
        Dimension::Capability,
        Dimension::Source,
    ];

    /// The dimension's name, as in `group_by` and the aggregates' keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Day => "day",
            Dimension::Model => "model",
            Dimension::Agent => "agent",
            Dimension::Member => "member",
            Dimension::Capability => "capability",
            Dimension::Source => "source",
        }
    }

    /// Parses a dimension's name.
    pub fn parse(text: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// The key of work that has no value in a dimension (no model, no agent).
pub const NONE: &str = "none";
/// The capability key of an execution's planning.
pub const PLANNING: &str = "planning";
/// The capability key (and source) of a chat reply.
pub const CHAT: &str = "chat";
/// The source key of an execution's work.
pub const EXECUTION: &str = "execution";

/// What a piece of work used: one model call, one step, one reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// The model called, if any.
    pub model: Option<String>,
    /// The capability (or [`PLANNING`], [`CHAT`]).
    pub capability: String,
    /// Tokens read, written and cached.
    pub tokens: TokenUsage,
    /// Images generated.
    pub images: i64,
    /// Credits charged.
    pub credits: i64,
}

impl Line {
    /// What the line cost at the catalog's prices, in micro-dollars (0 for an unknown model).
    pub fn cost_micro_usd(&self) -> i64 {
        self.model
            .as_deref()
            .and_then(super::catalog::model)
            .map_or(0, |m| m.cost(&self.tokens, self.images))
    }
}

/// Usage figures: of one row of a report, or of its totals.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, JsonSchema,
)]
pub struct Figures {
    /// Pieces of work charged: planning calls, steps, chat replies.
    pub requests: i64,
    /// Tokens read at the full price.
    pub input_tokens: i64,
    /// Tokens written.
    pub output_tokens: i64,
    /// Prompt tokens read from the models' prompt caches (at their lower price).
    #[serde(default)]
    pub cache_read_tokens: i64,
    /// Prompt tokens written to the models' prompt caches.
    #[serde(default)]
    pub cache_write_tokens: i64,
    /// Cost at the catalog's prices.
    pub cost_micro_usd: i64,
    /// Credits charged.
    pub credits: i64,
}

impl Figures {
    /// The figures of one line.
    pub fn of(line: &Line) -> Figures {
        Figures {
            requests: 1,
            input_tokens: line.tokens.input,
            output_tokens: line.tokens.output,
            cache_read_tokens: line.tokens.cache_read,
            cache_write_tokens: line.tokens.cache_write,
            cost_micro_usd: line.cost_micro_usd(),
            credits: line.credits,
        }
    }

    /// Adds another's figures to these.
    pub fn add(&mut self, other: &Figures) {
        self.requests += other.requests;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cost_micro_usd += other.cost_micro_usd;
        self.credits += other.credits;
    }
}

/// Whose work the lines were, for the dimensions that are the same for all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribution {
    /// The day it was settled (`YYYY-MM-DD`, UTC).
    pub day: String,
    /// The agent, for an execution.
    pub agent: Option<String>,
    /// The member who started it.
    pub member: String,
    /// [`EXECUTION`] or [`CHAT`].
    pub source: &'static str,
}

/// The lines' figures added up per dimension and key: what one settlement adds to the
/// aggregates. Every dimension's keys add up to the same totals.
pub fn aggregate(who: &Attribution, lines: &[Line]) -> BTreeMap<(Dimension, String), Figures> {
    let mut sums: BTreeMap<(Dimension, String), Figures> = BTreeMap::new();
    for line in lines {
        let figures = Figures::of(line);
        for dimension in Dimension::ALL {
            let key = match dimension {
                Dimension::Day => who.day.clone(),
                Dimension::Model => line.model.clone().unwrap_or_else(|| NONE.into()),
                Dimension::Agent => who.agent.clone().unwrap_or_else(|| NONE.into()),
                Dimension::Member => who.member.clone(),
                Dimension::Capability => line.capability.clone(),
                Dimension::Source => who.source.into(),
            };
            sums.entry((dimension, key)).or_default().add(&figures);
        }
    }
    sums
}

/// What an ended execution used, line by line: each step that called a model or charged
/// credits, and its planning (the tokens not spent by steps, and the credits not charged by
/// them), so the lines add up to the execution's tokens and used credits exactly.
pub fn execution_lines(execution: &Execution) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut planning_tokens = execution.tokens.clone();
    let mut step_credits = 0;
    for step in &execution.steps {
        let credits = if step.status == StepStatus::Succeeded {
            step.credits
        } else {
            0
        };
        step_credits += credits;
        if let Some(model) = &step.model {
            if let Some(tokens) = planning_tokens.get_mut(model) {
                tokens.subtract(&step.tokens());
            }
        }
        let line = Line {
            model: step.model.clone(),
            capability: step.capability.clone(),
            tokens: step.tokens(),
            images: step.images,
            credits,
        };
        if line
            != (Line {
                capability: line.capability.clone(),
                ..Line::default()
            })
        {
            lines.push(line);
        }
    }
    let mut planning_credits = execution.credits.used - step_credits;
    for (model, tokens) in planning_tokens {
        if tokens == TokenUsage::default() {
            continue;
        }
        lines.push(Line {
            model: Some(model),
            capability: PLANNING.into(),
            tokens,
            images: 0,
            credits: std::mem::take(&mut planning_credits),
        });
    }
    if planning_credits != 0 {
        lines.push(Line {
            capability: PLANNING.into(),
            credits: planning_credits,
            ..Line::default()
        });
    }
    lines
}

/// What the lines cost together, in micro-dollars.
pub fn cost_micro_usd(lines: &[Line]) -> i64 {
    lines.iter().map(Line::cost_micro_usd).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::step::Step;

    fn attribution() -> Attribution {
        Attribution {
            day: "2026-12-02".into(),
            agent: Some("agt_1".into()),
            member: "usr_1".into(),
            source: EXECUTION,
        }
    }

    #[test]
    fn every_dimension_adds_up_to_the_same_totals() {
        let lines = vec![
            Line {
                model: Some(super::super::catalog::DEFAULT_TEXT.into()),
                capability: PLANNING.into(),
                tokens: TokenUsage {
                    input: 1_000,
                    output: 200,
                    ..TokenUsage::default()
                },
                images: 0,
                credits: 2,
            },
            Line {
                model: None,
                capability: "analyze_content".into(),
                credits: 1,
                ..Line::default()
            },
        ];
        let sums = aggregate(&attribution(), &lines);
        for dimension in Dimension::ALL {
            let mut total = Figures::default();
            for ((d, _), figures) in &sums {
                if *d == dimension {
                    total.add(figures);
                }
            }
            assert_eq!(total.credits, 3, "{dimension:?}");
            assert_eq!(total.requests, 2, "{dimension:?}");
            assert_eq!(total.cost_micro_usd, 3_000 + 3_000, "{dimension:?}");
        }
        assert_eq!(sums[&(Dimension::Model, NONE.into())].credits, 1);
    }

    #[test]
    fn planning_gets_the_tokens_and_credits_the_steps_did_not_use() {
        let model = super::super::catalog::DEFAULT_TEXT.to_string();
        let mut writer = Step::planned("blog_post".into(), "Post".into(), serde_json::json!({}));
        writer.status = StepStatus::Succeeded;
        writer.credits = 5;
        writer.model = Some(model.clone());
        writer.input_tokens = 300;
        writer.output_tokens = 900;
        let mut failed = Step::planned(
            "analyze_content".into(),
            "Check".into(),
            serde_json::json!({}),
        );
        failed.status = StepStatus::Failed;
        let execution: Execution = serde_json::from_value(serde_json::json!({
            "id": "exe_01JV8X2M7Q0000000000000008", "agent_id": "agt_01JV8X2M7Q0000000000000007",
            "request": "r", "status": "failed",
            "credits": {"reserved": 20, "used": 7, "refunded": 13},
            "steps": serde_json::to_string(&vec![writer, failed]).unwrap(),
            "tokens": {model.clone(): {"input": 1_300, "output": 1_100}},
            "created_by": "usr_68SMY689SG3TQPCSDWSB6PBQDP", "created_at": "2026-12-02T00:00:00Z"
        }))
        .unwrap();
        let lines = execution_lines(&execution);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let planning = lines.iter().find(|l| l.capability == PLANNING).unwrap();
        assert_eq!(
            (
                planning.tokens.input,
                planning.tokens.output,
                planning.credits
            ),
            (1_000, 200, 2)
        );
        assert_eq!(lines.iter().map(|l| l.credits).sum::<i64>(), 7);
    }
}
