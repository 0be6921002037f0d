//! Authentication: turns an `Authorization` header into a [`Caller`]. One function serves the
//! Lambda authorizer in production and the local stack's router.
//!
//! - `Bearer vk_…`: an API key, looked up by the SHA-256 of the secret. It acts for the member
//!   who created it, with that member's current role, limited to the key's scopes.
//! - `Bearer <JWT>`: an RS256 token (Cognito-style) verified against the configured JWKS. The
//!   person is the token's verified `email`; the team comes from the configured claim or the
//!   `X-Team-Id` header, and must be one the person is a member of.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::api_keys::{self, KeyLookup};
use super::items::from_item;
use super::{keys, members, App, Caller};
use crate::domain::access::Scope;
use crate::domain::ids::{TeamId, UserId};
use crate::domain::team::MemberStatus;
use crate::domain::validation::Email;
use crate::error::Error;
use crate::ports::table::{Condition, Update, UpdateAction};

/// How this deployment verifies JWTs.
#[derive(Debug)]
pub struct JwtVerifier {
    keys: JwkSet,
    issuer: Option<String>,
    audience: Option<String>,
    team_claim: String,
}

impl JwtVerifier {
    /// A verifier over a JWKS document (`{"keys":[…]}`).
    pub fn new(
        jwks_json: &str,
        issuer: Option<String>,
        audience: Option<String>,
        team_claim: String,
    ) -> Result<Self, String> {
        let keys: JwkSet =
            serde_json::from_str(jwks_json).map_err(|e| format!("JWKS is not valid: {e}"))?;
        Ok(JwtVerifier {
            keys,
            issuer,
            audience,
            team_claim,
        })
    }

    /// Verifies signature, expiry, issuer and audience; returns the claims.
    fn verify(&self, token: &str) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
        let invalid =
            |why: &str| Error::unauthenticated(format!("The bearer token is not valid: {why}."));
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("it is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("only RS256 tokens are accepted"));
        }
        let jwk = match header.kid.as_deref() {
            Some(kid) => self.keys.find(kid),
            None => self.keys.keys.first().filter(|_| self.keys.keys.len() == 1),
        }
        .ok_or_else(|| invalid("it is signed with an unknown key"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("its signing key is unusable"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        // `exp` and `nbf` both hold, with a minute's leeway for clocks that drift.
        validation.validate_nbf = true;
        validation.leeway = JWT_LEEWAY_SECONDS;
        match &self.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => {
                validation.required_spec_claims.remove("iss");
            }
        };
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => invalid("it has expired"),
                ErrorKind::ImmatureSignature => invalid("it is not valid yet"),
                ErrorKind::InvalidIssuer => invalid("it was issued by another identity provider"),
                ErrorKind::InvalidAudience => invalid("it was issued for another audience"),
                ErrorKind::InvalidSignature => invalid("its signature does not verify"),
                _ => invalid("it could not be verified"),
            }
        })?;
        Ok(data.claims)
    }
}

/// How far a token's `exp` and `nbf` may be off: clocks drift, not by more than a minute.
const JWT_LEEWAY_SECONDS: u64 = 60;

/// Resolves the credentials of a request. `team_header` is the `X-Team-Id` header, used only
/// with JWTs that carry no team claim.
pub async fn authenticate(
    app: &App,
    authorization: Option<&str>,
    team_header: Option<&str>,
) -> Result<Caller, Error> {
    let header = authorization
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::unauthenticated(
                "Send credentials as `Authorization: Bearer <API key or token>`.",
            )
        })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::unauthenticated("The Authorization header must be `Bearer <API key or token>`.")
        })?;
    if token.starts_with(api_keys::SECRET_PREFIX) {
        authenticate_key(app, token).await
    } else if token.split('.').count() == 3 {
        authenticate_jwt(app, token, team_header).await
    } else {
        Err(Error::unauthenticated(
            "The bearer token is neither an API key (vk_…) nor a JWT.",
        ))
    }
}

async fn authenticate_key(app: &App, secret: &str) -> Result<Caller, Error> {
    let unknown = || Error::unauthenticated("This API key is unknown or has been revoked.");
    if secret.len() > 100 {
        return Err(unknown());
    }
    let hash = api_keys::secret_hash(secret);
    let item = app
        .table
        .get(&keys::api_key_lookup(&hash))
        .await?
        .ok_or_else(unknown)?;
    let lookup: KeyLookup = from_item(&item)?;
    let now = app.clock.now();
    if let Some(expires_at) = lookup
        .expires_at
        .as_deref()
        .and_then(crate::ports::parse_rfc3339)
    {
        if expires_at <= now {
            return Err(Error::unauthenticated(
                "This API key has expired; create a new one.",
            ));
        }
    }
    let member = members::find(app, &lookup.team_id, &lookup.created_by)
        .await?
        .ok_or_else(|| {
            Error::unauthenticated("This API key's creator is no longer a member of the team.")
        })?;
    api_keys::touch(app, &hash, &lookup, now).await;
    Ok(Caller {
        team_id: lookup.team_id.clone(),
        user_id: member.user_id,
        role: member.role,
        scopes: lookup.scopes.clone(),
        credential: lookup.key_id.to_string(),
        request_id: None,
    })
}

async fn authenticate_jwt(
    app: &App,
    token: &str,
    team_header: Option<&str>,
) -> Result<Caller, Error> {
    let verifier = app.jwt.as_ref().ok_or_else(|| {
        Error::unauthenticated(
            "This deployment accepts API keys only; JWT sign-in is not configured.",
        )
    })?;
    let claims = verifier.verify(token)?;
    if claims
        .get("email_verified")
        .and_then(|v| v.as_bool().or_else(|| v.as_str().map(|s| s == "true")))
        == Some(false)
    {
        return Err(Error::unauthenticated(
            "The token's email address is not verified.",
        ));
    }
    let email = claims
        .get("email")
        .and_then(|v| v.as_str())
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| Error::unauthenticated("The token carries no valid `email` claim."))?;
    let team = claims
        .get(&verifier.team_claim)
        .and_then(|v| v.as_str())
        .or(team_header)
        .ok_or_else(|| {
            Error::unauthenticated(format!(
                "Name the team with the `{}` claim or an X-Team-Id header.",
                verifier.team_claim
            ))
        })?;
    let team_id = TeamId::parse(team.trim())
        .map_err(|m| Error::unauthenticated(format!("The team id {m}.")))?;
    let user_id = UserId::for_email(&email);
    let member = members::find(app, &team_id, &user_id)
        .await?
        .ok_or_else(|| Error::forbidden("You are not a member of this team."))?;
    if member.status == MemberStatus::Invited {
        let accepted = app
            .table
            .update(Update {
                key: keys::member(&team_id, &user_id),
                actions: vec![UpdateAction::Set("status".into(), "active".into())],
                condition: Some(Condition::item_exists()),
            })
            .await;
        if let Err(error) = accepted {
            tracing::warn!(%error, "could not mark the invitation accepted");
        }
    }
    Ok(Caller {
        team_id,
        user_id,
        role: member.role,
        scopes: vec![Scope::Read, Scope::Write, Scope::Admin],
        credential: "jwt".into(),
        request_id: None,
    })
}
