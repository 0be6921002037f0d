//! Who may do what: member roles and API key scopes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A member's role in a team, from most to least powerful.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read only.
    Viewer,
    /// Creates resources and edits its own; reads everything.
    Member,
    /// Manages members, API keys and every resource.
    Admin,
    /// Everything, including ownership transfer and deleting the team.
    Owner,
}

impl Role {
    /// The role's name as used in the API and the authorizer context.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses a role name.
    pub fn parse(text: &str) -> Option<Role> {
        [Role::Viewer, Role::Member, Role::Admin, Role::Owner]
            .into_iter()
            .find(|r| r.as_str() == text)
    }

    /// Whether this role may edit or delete any resource, not only its own.
    pub fn edits_all_resources(self) -> bool {
        self >= Role::Admin
    }
}

/// What an API key may be used for. A credential with `admin` also has `write` and `read`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read requests.
    Read,
    /// Creating, changing and deleting resources.
    Write,
    /// Managing members, API keys and team settings.
    Admin,
}

impl Scope {
    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Parses a scope name.
    pub fn parse(text: &str) -> Option<Scope> {
        [Scope::Read, Scope::Write, Scope::Admin]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// What a route requires of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// The credential must carry this scope (or a higher one).
    pub scope: Scope,
    /// The member must hold at least this role.
    pub role: Role,
}

impl Access {
    /// Reading: any member, `read` scope.
    pub const READ: Access = Access {
        scope: Scope::Read,
        role: Role::Viewer,
    };
    /// Writing resources: members and up, `write` scope.
    pub const WRITE: Access = Access {
        scope: Scope::Write,
        role: Role::Member,
    };
    /// Reading administrative data (API keys): admins, `read` scope.
    pub const ADMIN_READ: Access = Access {
        scope: Scope::Read,
        role: Role::Admin,
    };
    /// Administration: admins and owners, `admin` scope.
    pub const ADMIN: Access = Access {
        scope: Scope::Admin,
        role: Role::Admin,
    };

    /// Whether a caller with `role` and `scopes` meets this requirement.
    pub fn allows(self, role: Role, scopes: &[Scope]) -> bool {
        role >= self.role && scopes.iter().any(|s| *s >= self.scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_reads_but_does_not_write() {
        let all = [Scope::Admin];
        assert!(Access::READ.allows(Role::Viewer, &all));
        assert!(!Access::WRITE.allows(Role::Viewer, &all));
        assert!(Access::WRITE.allows(Role::Member, &all));
        assert!(!Access::ADMIN.allows(Role::Member, &all));
    }

    #[test]
    fn a_read_scoped_key_cannot_write_even_for_an_owner() {
        assert!(!Access::WRITE.allows(Role::Owner, &[Scope::Read]));
        assert!(Access::WRITE.allows(Role::Owner, &[Scope::Read, Scope::Write]));
        assert!(Access::READ.allows(Role::Owner, &[Scope::Write]));
    }

    #[test]
    fn roles_and_scopes_round_trip_through_their_names() {
        for role in [Role::Viewer, Role::Member, Role::Admin, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for scope in [Scope::Read, Scope::Write, Scope::Admin] {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
