//! Who may see and change a credential: the contract's tenancy rules in one place.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub user_name: String,
    pub org_id: String,
    pub org_slug: String,
    pub role: Role,
}

/// What a caller may do with one credential. Anything in another org is `Invisible`
/// so IDs cannot be probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub visible: bool,
    /// Sign calls with it: the owner, or anyone in the org when shared. Not admins as such.
    pub usable: bool,
    /// Rename and remove.
    pub manage: bool,
    /// Replace secret material, reconnect.
    pub replace_secret: bool,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn access(&self, org_id: &str, owner_id: &str, shared: bool) -> Access {
        let same_org = self.org_id == org_id;
        let owner = same_org && self.user_id == owner_id;
        let admin = same_org && self.is_admin();
        Access {
            visible: owner || admin || (same_org && shared),
            usable: owner || (same_org && shared),
            manage: owner || admin,
            replace_secret: owner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user: &str, org: &str, role: Role) -> Caller {
        Caller {
            user_id: user.into(),
            user_name: user.into(),
            org_id: org.into(),
            org_slug: org.into(),
            role,
        }
    }

    #[test]
    fn tenancy_table() {
        let owner = caller("u1", "o1", Role::Member);
        let member = caller("u2", "o1", Role::Member);
        let admin = caller("u3", "o1", Role::Admin);
        let stranger_admin = caller("u4", "o2", Role::Admin);
        let all = Access {
            visible: true,
            usable: true,
            manage: true,
            replace_secret: true,
        };
        let none = Access {
            visible: false,
            usable: false,
            manage: false,
            replace_secret: false,
        };
        assert_eq!(owner.access("o1", "u1", false), all);
        assert_eq!(member.access("o1", "u1", false), none);
        assert_eq!(
            member.access("o1", "u1", true),
            Access {
                visible: true,
                usable: true,
                manage: false,
                replace_secret: false
            }
        );
        assert_eq!(
            admin.access("o1", "u1", false),
            Access {
                visible: true,
                usable: false,
                manage: true,
                replace_secret: false
            }
        );
        assert!(
            admin.access("o1", "u1", true).usable,
            "a shared credential is usable by everyone in the org"
        );
        assert_eq!(stranger_admin.access("o1", "u1", true), none);
    }
}
