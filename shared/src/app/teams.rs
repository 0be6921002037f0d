//! Teams: creation (with the first owner and an owner API key), reading, and settings.

use serde_json::Value as Json;

use super::api_keys::{self, IssuedKey};
use super::credits::{self, LedgerKind};
use super::items::{from_item, to_item, value_of};
use super::records::{commit, patched, Guarded};
use super::{keys, App, Caller};
use crate::domain::access::{Role, Scope};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::plans::TRIAL;
use crate::domain::privacy::PrivacySettings;
use crate::domain::resources::Draft;
use crate::domain::team::{
    Credits, MarketplaceLink, Member, MemberStatus, NewApiKey, Team, TeamDraft,
};
use crate::domain::validation::{Email, FieldErrors};
use crate::error::{Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{Condition, Update, UpdateAction, WriteOp};

/// A freshly created team with its owner and the owner's first API key.
#[derive(Debug)]
pub struct CreatedTeam {
    /// The team.
    pub team: Team,
    /// Its first owner.
    pub owner: Member,
    /// The owner's API key, secret included (shown once).
    pub key: IssuedKey,
}

impl CreatedTeam {
    /// The owner as a caller with every scope: how admin commands and the demo act for them.
    pub fn owner_caller(&self, credential: &str) -> Caller {
        Caller {
            team_id: self.team.id.clone(),
            user_id: self.owner.user_id.clone(),
            role: self.owner.role,
            scopes: vec![Scope::Read, Scope::Write, Scope::Admin],
            credential: credential.to_owned(),
            request_id: None,
        }
    }
}

/// Creates a team on the trial plan, its owner and an owner API key with every scope, all in
/// one transaction.
pub async fn create_team(app: &App, name: &str, owner_email: &str) -> Result<CreatedTeam, Error> {
    let (created, writes) = new_team(app, name, owner_email, TRIAL, None)?;
    commit(app.table.as_ref(), writes).await?;
    Ok(created)
}

/// A new team on `plan` (with its plan's credits), its owner and owner key, and the writes
/// that create them; callers add their own writes to the same transaction.
pub fn new_team(
    app: &App,
    name: &str,
    owner_email: &str,
    plan: &str,
    marketplace: Option<MarketplaceLink>,
) -> Result<(CreatedTeam, Vec<Guarded>), Error> {
    let mut errors = FieldErrors::default();
    let name = errors.text("name", name, 1, crate::domain::resources::NAME_MAX);
    let email = Email::parse(owner_email)
        .map_err(|m| errors.add("owner_email", m))
        .ok();
    let email = errors
        .finish(email)?
        .ok_or_else(|| Error::internal("email missing after validation"))?;
    let plan_credits = app
        .plans
        .monthly_credits(plan)
        .ok_or_else(|| Error::internal(format!("plan {plan} is not in the catalog")))?;
    let now = app.clock.now();
    let stamp = rfc3339(now);
    let team = Team {
        id: TeamId::generate(),
        name,
        plan: plan.into(),
        credits: Credits {
            balance: plan_credits,
            reserved: 0,
        },
        privacy_defaults: PrivacySettings::default(),
        owner_count: 1,
        budget: None,
        guardrail: None,
        marketplace,
        created_at: stamp.clone(),
        updated_at: stamp.clone(),
    };
    let owner = Member {
        user_id: UserId::for_email(&email),
        email,
        role: Role::Owner,
        status: MemberStatus::Active,
        privacy: PrivacySettings::default(),
        monthly_credit_limit: None,
        created_at: stamp.clone(),
        updated_at: stamp,
    };
    let caller = Caller {
        team_id: team.id.clone(),
        user_id: owner.user_id.clone(),
        role: Role::Owner,
        scopes: vec![Scope::Read, Scope::Write, Scope::Admin],
        credential: "admin-command".into(),
        request_id: None,
    };
    let request = NewApiKey {
        name: "Owner key".into(),
        scopes: caller.scopes.clone(),
        expires_at: None,
    };
    let (key, key_writes) = api_keys::issue(&caller, request, now)?;
    let exists = || {
        Error::conflict(
            Conflict::Changed,
            "A team with this id exists already; retry.",
        )
    };
    let mut writes = vec![
        Guarded::new(
            WriteOp::Put {
                item: to_item(&team, &keys::team(&team.id), "team")?,
                condition: Some(Condition::item_absent()),
            },
            exists(),
        ),
        Guarded::new(
            WriteOp::Put {
                item: super::members::member_item(&team.id, &owner)?,
                condition: Some(Condition::item_absent()),
            },
            exists(),
        ),
    ];
    writes.extend(key_writes);
    if plan_credits > 0 {
        let (_, grant) = credits::entry(
            app,
            &team.id,
            LedgerKind::PlanGrant,
            plan_credits,
            &format!("{plan} plan credits"),
            None,
        )?;
        writes.push(grant);
    }
    Ok((CreatedTeam { team, owner, key }, writes))
}

/// Reads the caller's team.
pub async fn get_team(app: &App, caller: &Caller) -> Result<Team, Error> {
    match app.table.get(&keys::team(&caller.team_id)).await? {
        Some(item) => from_item(&item),
        None => Err(Error::not_found("team")),
    }
}

/// Changes the team's name, privacy defaults and guardrail (a JSON merge patch). Credits and plan are
/// not the client's to change and are refused as unknown fields.
pub async fn update_team(app: &App, caller: &Caller, patch: Json) -> Result<Team, Error> {
    let team = get_team(app, caller).await?;
    let current = TeamDraft {
        name: team.name.clone(),
        privacy_defaults: team.privacy_defaults,
        guardrail: team.guardrail.clone(),
    };
    let draft = patched(&current, patch)?.validate()?;
    let guardrail = match &draft.guardrail {
        Some(guardrail) => UpdateAction::Set("guardrail".into(), value_of(guardrail)?),
        None => UpdateAction::Remove("guardrail".into()),
    };
    // An update of named attributes only, so concurrent credit operations are never lost.
    let updated = app
        .table
        .update(Update {
            key: keys::team(&caller.team_id),
            actions: vec![
                UpdateAction::Set("name".into(), draft.name.into()),
                UpdateAction::Set(
                    "privacy_defaults".into(),
                    value_of(&draft.privacy_defaults)?,
                ),
                guardrail,
                UpdateAction::Set("updated_at".into(), rfc3339(app.clock.now()).into()),
            ],
            condition: Some(Condition::item_exists()),
        })
        .await?;
    from_item(&updated)
}

/// The first two levels of the privacy cascade for the caller: their own settings, then the
/// team's defaults.
pub async fn privacy_base(app: &App, caller: &Caller) -> Result<Vec<PrivacySettings>, Error> {
    let team = get_team(app, caller).await?;
    let member = super::members::find(app, &caller.team_id, &caller.user_id).await?;
    Ok(vec![
        member.map(|m| m.privacy).unwrap_or_default(),
        team.privacy_defaults,
    ])
}

/// [`privacy_base`] for a member's earlier work, read eventually consistently (half the
/// cost; a setting changed a moment ago may not count yet): theirs, then the team's defaults.
pub async fn privacy_levels_eventually(
    app: &App,
    team: &TeamId,
    user: &UserId,
) -> Result<Vec<PrivacySettings>, Error> {
    let member = super::members::privacy_eventually(app, team, user).await?;
    let team = match app.table.get_eventually(&keys::team(team)).await? {
        Some(item) => from_item::<Team>(&item)?,
        None => return Err(Error::not_found("team")),
    };
    Ok(vec![member, team.privacy_defaults])
}
