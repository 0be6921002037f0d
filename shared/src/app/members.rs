//! Members and roles. Owners are counted on the team item so that removing or demoting the
//! last owner fails inside the same transaction that would do it.

use schemars::JsonSchema;
use serde_json::json;

use super::items::{from_item, to_item};
use super::records::{commit, listing, Guarded, Listing, PageRequest};
use super::{api_keys, budgets, events, keys, App, Caller};
use crate::domain::access::Role;
use crate::domain::budget::LIMIT_MAX;
use crate::domain::events::{MEMBER_CHANGED, MEMBER_INVITED, MEMBER_REMOVED};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::privacy::PrivacySettings;
use crate::domain::team::{Invitation, Member, MemberChange, MemberStatus};
use crate::error::{Conflict, Error};
use crate::ports::rfc3339;
use crate::ports::table::{
    CompareOp, Condition, Index, Item, Query, Update, UpdateAction, Value, WriteOp, GSI1PK, GSI1SK,
    MAX_TRANSACTION_WRITES,
};

const MONTHLY_CREDIT_LIMIT: &str = "monthly_credit_limit";

/// The stored item of a member, indexed on GSI1 by user so a person's teams can be listed.
pub fn member_item(team: &TeamId, member: &Member) -> Result<Item, Error> {
    let mut item = to_item(member, &keys::member(team, &member.user_id), "member")?;
    item.insert(
        GSI1PK.into(),
        Value::S(keys::user_teams_partition(&member.user_id)),
    );
    item.insert(GSI1SK.into(), Value::S(keys::team_partition(team)));
    Ok(item)
}

/// A member of a team, if they are one.
pub async fn find(app: &App, team: &TeamId, user: &UserId) -> Result<Option<Member>, Error> {
    app.table
        .get(&keys::member(team, user))
        .await?
        .as_ref()
        .map(from_item)
        .transpose()
}

/// A member's own privacy settings, read eventually consistently (for their earlier work);
/// a member since removed has none.
pub async fn privacy_eventually(
    app: &App,
    team: &TeamId,
    user: &UserId,
) -> Result<PrivacySettings, Error> {
    Ok(
        match app.table.get_eventually(&keys::member(team, user)).await? {
            Some(item) => from_item::<Member>(&item)?.privacy,
            None => PrivacySettings::default(),
        },
    )
}

async fn get(app: &App, caller: &Caller, user_id: &str) -> Result<Member, Error> {
    let user = UserId::parse(user_id).map_err(|_| Error::not_found("member"))?;
    find(app, &caller.team_id, &user)
        .await?
        .ok_or_else(|| Error::not_found("member"))
}

/// A member as clients see it: with the credits their work used this month.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, JsonSchema)]
pub struct MemberView {
    /// The member.
    #[serde(flatten)]
    pub member: Member,
    /// Credits their executions and chat replies used this month.
    pub credits_used_this_month: i64,
}

/// Lists the team's members.
pub async fn list(
    app: &App,
    caller: &Caller,
    page: PageRequest,
) -> Result<Listing<MemberView>, Error> {
    let mut query = Query::prefix(
        Index::Table,
        keys::team_partition(&caller.team_id),
        keys::MEMBER_PREFIX,
    );
    query.limit = page.limit;
    query.cursor = page.cursor;
    let members: Listing<Member> = listing(app.table.query(query).await?)?;
    let used = budgets::members_used(app, &caller.team_id).await?;
    Ok(members.map(|member| MemberView {
        credits_used_this_month: used.get(member.user_id.as_str()).copied().unwrap_or(0),
        member,
    }))
}

/// Only owners hand out or take away ownership.
fn ensure_may_touch_owner(caller: &Caller) -> Result<(), Error> {
    if caller.role == Role::Owner {
        Ok(())
    } else {
        Err(Error::forbidden(
            "Only an owner can grant, change or remove the owner role.",
        ))
    }
}

/// Changes the team's owner count by `by`; taking one away requires another owner to remain.
fn count_owners(team: &TeamId, by: i64) -> Guarded {
    let condition = if by < 0 {
        another_owner_remains()
    } else {
        Condition::item_exists()
    };
    Guarded::new(
        WriteOp::Update(Update {
            key: keys::team(team),
            actions: vec![UpdateAction::Add("owner_count".into(), by)],
            condition: Some(condition),
        }),
        last_owner(),
    )
}

/// The team has an owner besides the one leaving.
fn another_owner_remains() -> Condition {
    Condition::compare("owner_count", CompareOp::Gt, 1)
}

fn last_owner() -> Error {
    Error::conflict(
        Conflict::LastOwner,
        "A team needs at least one owner; make someone else an owner first.",
    )
}

/// Invites a person by email with a role.
pub async fn invite(app: &App, caller: &Caller, invitation: Invitation) -> Result<Member, Error> {
    let (email, role) = invitation.validate()?;
    if role == Role::Owner {
        ensure_may_touch_owner(caller)?;
    }
    let now = rfc3339(app.clock.now());
    let member = Member {
        user_id: UserId::for_email(&email),
        email,
        role,
        status: MemberStatus::Invited,
        privacy: PrivacySettings::default(),
        monthly_credit_limit: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let mut writes = vec![Guarded::new(
        WriteOp::Put {
            item: member_item(&caller.team_id, &member)?,
            condition: Some(Condition::item_absent()),
        },
        Error::conflict(
            Conflict::AlreadyMember,
            "This person is already a member of your team.",
        ),
    )];
    if role == Role::Owner {
        writes.push(count_owners(&caller.team_id, 1));
    }
    writes.push(member_event(app, caller, MEMBER_INVITED, &member, None)?);
    commit(app.table.as_ref(), writes).await?;
    Ok(member)
}

/// The event telling of a change to `member` (ids, role and limit; never the email address,
/// which events do not carry), by the caller.
fn member_event(
    app: &App,
    caller: &Caller,
    kind: &str,
    member: &Member,
    previous_role: Option<Role>,
) -> Result<Guarded, Error> {
    let mut data = json!({
        "user_id": member.user_id,
        "role": member.role,
        "monthly_credit_limit": member.monthly_credit_limit,
    });
    if let Some(previous) = previous_role {
        data["previous_role"] = json!(previous);
    }
    let (_, write) = events::record(
        &caller.team_id,
        kind,
        Some(caller.actor()),
        data,
        app.clock.now(),
    )?;
    Ok(write)
}

/// Changes a member's role (the last owner cannot be demoted) or monthly credit limit (null
/// removes it; the next reservation is held to the new one).
pub async fn change(
    app: &App,
    caller: &Caller,
    user_id: &str,
    change: MemberChange,
) -> Result<MemberView, Error> {
    if change.role.is_none() && change.monthly_credit_limit.is_none() {
        return Err(Error::invalid_body(
            None,
            "give `role` or `monthly_credit_limit` to change",
        ));
    }
    if let Some(Some(limit)) = change.monthly_credit_limit {
        if !(0..=LIMIT_MAX).contains(&limit) {
            return Err(Error::invalid_field(
                "monthly_credit_limit",
                format!("must be between 0 and {LIMIT_MAX}, or null for no limit"),
            ));
        }
    }
    let member = get(app, caller, user_id).await?;
    let role = change.role.unwrap_or(member.role);
    let limit = change
        .monthly_credit_limit
        .unwrap_or(member.monthly_credit_limit);
    if role == member.role && limit == member.monthly_credit_limit {
        return view(app, &caller.team_id, member).await;
    }
    if role != member.role && (member.role == Role::Owner || role == Role::Owner) {
        ensure_may_touch_owner(caller)?;
    }
    let updated_at = rfc3339(app.clock.now());
    let mut actions = vec![
        UpdateAction::Set("role".into(), role.as_str().into()),
        UpdateAction::Set("updated_at".into(), updated_at.clone().into()),
    ];
    actions.push(match limit {
        Some(limit) => UpdateAction::Set(MONTHLY_CREDIT_LIMIT.into(), limit.into()),
        None => UpdateAction::Remove(MONTHLY_CREDIT_LIMIT.into()),
    });
    let mut writes = vec![Guarded::new(
        WriteOp::Update(Update {
            key: keys::member(&caller.team_id, &member.user_id),
            actions,
            condition: Some(Condition::eq("role", member.role.as_str())),
        }),
        Error::conflict(
            Conflict::Changed,
            "This member changed while the request ran; retry.",
        ),
    )];
    if role != member.role && member.role == Role::Owner {
        writes.push(count_owners(&caller.team_id, -1));
    } else if role != member.role && role == Role::Owner {
        writes.push(count_owners(&caller.team_id, 1));
    }
    let previous_role = member.role;
    let member = Member {
        role,
        monthly_credit_limit: limit,
        updated_at,
        ..member
    };
    writes.push(member_event(
        app,
        caller,
        MEMBER_CHANGED,
        &member,
        Some(previous_role),
    )?);
    commit(app.table.as_ref(), writes).await?;
    view(app, &caller.team_id, member).await
}

async fn view(app: &App, team: &TeamId, member: Member) -> Result<MemberView, Error> {
    Ok(MemberView {
        credits_used_this_month: budgets::member_used(app, team, &member.user_id).await?,
        member,
    })
}

/// Removes a member; the last owner cannot be removed. Every API key they created is revoked
/// (the listing says when and why), so inviting the same person again brings no old key back.
pub async fn remove(app: &App, caller: &Caller, user_id: &str) -> Result<(), Error> {
    let member = get(app, caller, user_id).await?;
    if member.role == Role::Owner {
        ensure_may_touch_owner(caller)?;
    }
    let mut writes = vec![Guarded::new(
        WriteOp::Delete {
            key: keys::member(&caller.team_id, &member.user_id),
            condition: Some(Condition::eq("role", member.role.as_str())),
        },
        Error::conflict(
            Conflict::Changed,
            "This member changed while the request ran; retry.",
        ),
    )];
    if member.role == Role::Owner {
        writes.push(count_owners(&caller.team_id, -1));
    }
    writes.push(member_event(app, caller, MEMBER_REMOVED, &member, None)?);
    let revoked = api_keys::Revoked {
        reason: api_keys::REVOKED_WITH_MEMBER,
        by: caller.actor(),
        at: app.clock.now(),
    };
    let mut revocations =
        api_keys::revocations_by_creator(app, &caller.team_id, &member.user_id, &revoked).await?;
    // Keys beyond what one transaction holds are revoked first (three writes a key, so a
    // batch never splits one), each batch only while the
    // removal can still happen (the member unchanged; for an owner, not the last one); the
    // rest go with the member.
    while writes.len() + revocations.len() > MAX_TRANSACTION_WRITES {
        let mut batch: Vec<Guarded> = revocations.drain(..MAX_TRANSACTION_WRITES - 13).collect();
        batch.push(Guarded::new(
            WriteOp::Check {
                key: keys::member(&caller.team_id, &member.user_id),
                condition: Condition::eq("role", member.role.as_str()),
            },
            Error::conflict(
                Conflict::Changed,
                "This member changed while the request ran; retry.",
            ),
        ));
        if member.role == Role::Owner {
            batch.push(Guarded::new(
                WriteOp::Check {
                    key: keys::team(&caller.team_id),
                    condition: another_owner_remains(),
                },
                last_owner(),
            ));
        }
        commit(app.table.as_ref(), batch).await?;
    }
    writes.extend(revocations);
    commit(app.table.as_ref(), writes).await
}
