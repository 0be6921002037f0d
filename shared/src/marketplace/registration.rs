//! Registration: the buyer's form creates their team on the Marketplace plan, linked to the
//! customer in the same transaction.

use super::customers::{find, StoredCustomer};
use super::Settings;
use crate::app::records::{commit, Guarded};
use crate::app::{keys, teams, App};
use crate::domain::resources::NAME_MAX;
use crate::domain::team::MarketplaceLink;
use crate::domain::validation::{Email, FieldErrors};
use crate::error::{Conflict, Error};
use crate::ports::table::{Condition, Update, UpdateAction, WriteOp};

/// Why a registration reference or form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// The reference is missing, forged, expired, or names no customer.
    #[error("the registration link is not valid")]
    BadReference,
    /// The customer has a team already.
    #[error("already registered")]
    AlreadyRegistered,
    /// The form has invalid fields.
    #[error("the form has invalid fields")]
    Invalid(FieldErrors),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] Error),
}

/// The customer a registration reference names, if it is valid.
pub async fn customer_of_reference(
    app: &App,
    settings: &Settings,
    reference: &str,
) -> Result<StoredCustomer, RegistrationError> {
    let key = settings
        .signing_key
        .verify(reference, app.clock.now())
        .ok()
        .and_then(keys::marketplace_customer_in)
        .ok_or(RegistrationError::BadReference)?;
    let stored = find(app, &key)
        .await?
        .ok_or(RegistrationError::BadReference)?;
    if stored.customer.team_id.is_some() {
        return Err(RegistrationError::AlreadyRegistered);
    }
    Ok(stored)
}

/// The registration form's fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrationForm {
    /// The company: the team's name.
    pub company: String,
    /// Who registers.
    pub contact_name: String,
    /// Their email: the team's owner.
    pub email: String,
}

/// Creates the buyer's team with the contact as owner and links it to the customer, in one
/// transaction: a second registration of the same customer finds it registered.
pub async fn register(
    app: &App,
    settings: &Settings,
    reference: &str,
    form: &RegistrationForm,
) -> Result<teams::CreatedTeam, RegistrationError> {
    let stored = customer_of_reference(app, settings, reference).await?;
    let mut errors = FieldErrors::default();
    let company = errors.text("company", &form.company, 1, NAME_MAX);
    let contact_name = errors.text("contact_name", &form.contact_name, 1, NAME_MAX);
    let email = Email::parse(&form.email)
        .map_err(|m| errors.add("email", m))
        .ok();
    let errors = errors.finish(()).err();
    let (Some(email), None) = (email, errors.clone()) else {
        return Err(RegistrationError::Invalid(errors.unwrap_or_default()));
    };
    let link = MarketplaceLink {
        product_code: stored.customer.product_code.clone(),
        customer_ref: stored.customer_ref.clone(),
    };
    let (created, mut writes) =
        teams::new_team(app, &company, email.as_str(), &settings.plan, Some(link))?;
    writes.push(Guarded::new(
        WriteOp::Update(Update {
            key: stored.key.clone(),
            actions: vec![
                UpdateAction::Set("team_id".into(), created.team.id.to_string().into()),
                UpdateAction::Set("contact_name".into(), contact_name.into()),
            ],
            condition: Some(Condition::And(vec![
                Condition::item_exists(),
                Condition::NotExists("team_id".into()),
            ])),
        }),
        Error::conflict(
            Conflict::AlreadyRegistered,
            "The customer is registered already.",
        ),
    ));
    match commit(app.table.as_ref(), writes).await {
        Ok(()) => Ok(created),
        Err(Error::Conflict {
            kind: Conflict::AlreadyRegistered,
            ..
        }) => Err(RegistrationError::AlreadyRegistered),
        Err(e) => Err(e.into()),
    }
}
