//! Organisations, roles, principals and the access rules between them.
//!
//! invariant: what a role may do is decided here, by pure functions over a
//! [`Principal`]; the data layer applies [`Principal::scope`] to every query on
//! organisation-owned data, so a handler cannot forget it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of organisation: a client of the service, or the service provider itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Client,
    Provider,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Client => "client",
            OrgKind::Provider => "provider",
        }
    }
    pub fn parse(s: &str) -> Option<OrgKind> {
        match s {
            "client" => Some(OrgKind::Client),
            "provider" => Some(OrgKind::Provider),
            _ => None,
        }
    }
}

/// A user's role. Client roles live in client organisations; the others in the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    ClientAdmin,
    ClientMember,
    Pm,
    QaReviewer,
    Tasker,
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::ClientAdmin,
        Role::ClientMember,
        Role::Pm,
        Role::QaReviewer,
        Role::Tasker,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ClientAdmin => "client_admin",
            Role::ClientMember => "client_member",
            Role::Pm => "pm",
            Role::QaReviewer => "qa_reviewer",
            Role::Tasker => "tasker",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The kind of organisation a user with this role belongs to.
    pub fn org_kind(self) -> OrgKind {
        match self {
            Role::ClientAdmin | Role::ClientMember => OrgKind::Client,
            Role::Pm | Role::QaReviewer | Role::Tasker | Role::Admin => OrgKind::Provider,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is acting: the signed-in user (or the owner of an API token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub org_id: String,
    pub role: Role,
}

/// Which organisations' data a principal may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every organisation (service-provider administrators).
    All,
    /// Only this organisation.
    Org(String),
}

impl Scope {
    pub fn allows(&self, org_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Org(own) => own == org_id,
        }
    }
}

/// An action on the foundation's resources, checked by [`Principal::may`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List and read organisations beyond one's own.
    ManageOrganisations,
    /// List and manage user accounts (scoped: client admins, their own organisation).
    ManageUsers,
    /// Read the audit trail and its verification.
    ReadAudit,
    /// Create and change specialist tracks.
    ManageTracks,
    /// Grant, suspend, reinstate certifications and change their expiry.
    ManageCertifications,
    /// See every tasker's certifications (taskers always see their own).
    ReadAllCertifications,
}

impl Principal {
    /// The organisations whose data this principal can see in user and
    /// organisation administration.
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Admin => Scope::All,
            _ => Scope::Org(self.org_id.clone()),
        }
    }

    pub fn may(&self, action: Action) -> bool {
        match action {
            Action::ManageOrganisations => self.role == Role::Admin,
            Action::ManageUsers => matches!(self.role, Role::Admin | Role::ClientAdmin),
            Action::ReadAudit => self.role == Role::Admin,
            Action::ManageTracks | Action::ManageCertifications => self.role == Role::Admin,
            Action::ReadAllCertifications => matches!(self.role, Role::Admin | Role::Pm | Role::QaReviewer),
        }
    }

    /// May this principal give `role` to a user of an organisation of `kind`?
    pub fn may_assign(&self, role: Role, org_id: &str, kind: OrgKind) -> bool {
        if role.org_kind() != kind {
            return false;
        }
        match self.role {
            Role::Admin => true,
            Role::ClientAdmin => kind == OrgKind::Client && org_id == self.org_id,
            _ => false,
        }
    }
}

/// The password policy: 12 to 256 characters (NIST SP 800-63B: length, not composition).
pub fn password_acceptable(password: &str) -> bool {
    let n = password.chars().count();
    (12..=256).contains(&n)
}

/// Normalises an e-mail address for lookup and uniqueness: trimmed, lower-case.
/// Returns `None` when it does not look like an address.
pub fn normalise_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') || e.len() > 254 || e.chars().any(char::is_whitespace) {
        return None;
    }
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role, org: &str) -> Principal {
        Principal { user_id: "u".into(), org_id: org.into(), role }
    }

    #[test]
    fn roles_round_trip_and_belong_to_one_org_kind() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.as_str()));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::Tasker.org_kind(), OrgKind::Provider);
        assert_eq!(Role::ClientMember.org_kind(), OrgKind::Client);
    }

    #[test]
    fn client_admin_assigns_client_roles_in_own_org_only() {
        let ca = p(Role::ClientAdmin, "a");
        assert!(ca.may_assign(Role::ClientMember, "a", OrgKind::Client));
        assert!(!ca.may_assign(Role::ClientMember, "b", OrgKind::Client));
        assert!(!ca.may_assign(Role::Tasker, "a", OrgKind::Client));
        assert!(!ca.may_assign(Role::Admin, "a", OrgKind::Client));
        let admin = p(Role::Admin, "prov");
        assert!(admin.may_assign(Role::Tasker, "prov", OrgKind::Provider));
        assert!(!admin.may_assign(Role::Tasker, "a", OrgKind::Client));
        assert!(!p(Role::Pm, "prov").may_assign(Role::Tasker, "prov", OrgKind::Provider));
    }

    #[test]
    fn scope_is_everything_only_for_admins() {
        assert_eq!(p(Role::Admin, "x").scope(), Scope::All);
        for r in [Role::ClientAdmin, Role::ClientMember, Role::Pm, Role::QaReviewer, Role::Tasker] {
            assert_eq!(p(r, "x").scope(), Scope::Org("x".into()));
            assert!(!p(r, "x").scope().allows("y"));
        }
    }

    #[test]
    fn password_policy_counts_characters_not_bytes() {
        assert!(!password_acceptable("short"));
        assert!(password_acceptable("correct horse"));
        assert!(password_acceptable("ééééééééééé1")); // 12 chars, 23 bytes
        assert!(!password_acceptable(&"x".repeat(257)));
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(normalise_email("  Ana@Example.ORG "), Some("ana@example.org".into()));
        assert_eq!(normalise_email("no-at-sign"), None);
        assert_eq!(normalise_email("a@b@c"), None);
        assert_eq!(normalise_email("a b@c"), None);
    }
}
