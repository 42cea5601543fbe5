//! Roles and capabilities. Every route of the API needs exactly one [`Capability`]; which
//! role holds which is the one table in [`allowed`]. Resource checks (a subject's key covers
//! only that subject, a furnisher writes only under its own source) come on top, in the
//! edge that knows the resource.

use crate::AccessError;
use credo_model::SubjectId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Runs the registry: keys, policies, audit verification, aggregates.
    Admin,
    /// Banks, lenders, landlords, rental services, utilities: send financial events.
    Furnisher,
    /// Courts: judgments, listings, extensions, removals, restriction orders; read tip-offs.
    Court,
    /// Railways, airlines, hotels, bike rentals, landlords, banks: ask for decisions.
    RelyingParty,
    /// Telephone companies: call screening (issue 6) and the public list.
    Telco,
    /// A person or company, about themselves only.
    Subject,
    /// No key.
    Public,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Furnisher,
        Role::Court,
        Role::RelyingParty,
        Role::Telco,
        Role::Subject,
        Role::Public,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Furnisher => "furnisher",
            Role::Court => "court",
            Role::RelyingParty => "relying_party",
            Role::Telco => "telco",
            Role::Subject => "subject",
            Role::Public => "public",
        }
    }

    /// Parses a role that a key can carry (every role but `public`).
    pub fn parse(s: &str) -> Result<Role, AccessError> {
        Role::ALL
            .into_iter()
            .find(|r| *r != Role::Public && r.name() == s)
            .ok_or_else(|| AccessError::UnknownRole(s.to_string()))
    }
}

/// What a route does, as far as permission goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Health, the OpenAPI document, metrics, web pages, aggregate statistics.
    PublicInfo,
    /// Search the published court list (masked IDs).
    ListSearch,
    /// The debtor map: listed debtors near a point or in a box, live sessions.
    MapView,
    /// List the actions and offers decisions can be asked for.
    PolicyList,
    /// Send an asset lead about a listed debtor to the court.
    TipoffFile,
    /// Ingest events under the party's own source: a furnisher its financial events,
    /// subject records and contacts, a court its court events ([`may_send`]).
    Ingest,
    /// Ask for a decision: a catalogued action (public law, no grant needed) or an offer
    /// (needs the subject's grant when it uses the score).
    Decide,
    /// Read a subject's score and reasons (a third party needs a grant).
    ReadScore,
    /// A subject's full self-access report.
    Report,
    /// Grant, revoke and list consents.
    Consent,
    /// File a dispute about an entry.
    DisputeFile,
    /// Read disputes (a subject its own, a furnisher or court those about its entries).
    DisputeRead,
    /// Uphold, correct or delete a disputed entry.
    DisputeResolve,
    /// Read the tip-off inbox.
    TipoffRead,
    /// Install relying-party policies.
    PolicyInstall,
    /// Create, list and revoke keys.
    Keys,
    /// Verify the audit chain, read the audit log.
    Audit,
    /// Ask, per call, whether to warn the caller of a listed debtor's number.
    CallScreen,
    /// Plan a court notice's audience for a listed debtor (area, region, industry, circle).
    NoticePlan,
    /// Run the relationships propagation now.
    GraphRun,
}

impl Capability {
    pub const ALL: [Capability; 20] = [
        Capability::PublicInfo,
        Capability::ListSearch,
        Capability::MapView,
        Capability::PolicyList,
        Capability::TipoffFile,
        Capability::Ingest,
        Capability::Decide,
        Capability::ReadScore,
        Capability::Report,
        Capability::Consent,
        Capability::DisputeFile,
        Capability::DisputeRead,
        Capability::DisputeResolve,
        Capability::TipoffRead,
        Capability::PolicyInstall,
        Capability::Keys,
        Capability::Audit,
        Capability::CallScreen,
        Capability::NoticePlan,
        Capability::GraphRun,
    ];
}

/// The role table. Everyone (including the public) holds the public capabilities; the rest
/// are held by the roles listed.
pub fn allowed(role: Role, cap: Capability) -> bool {
    use Capability as C;
    use Role as R;
    match cap {
        C::PublicInfo | C::ListSearch | C::MapView | C::PolicyList | C::TipoffFile => true,
        C::Ingest => matches!(role, R::Furnisher | R::Court),
        C::Decide => matches!(role, R::RelyingParty),
        // A subject reads its own score; a relying party with a grant; the admin for support.
        C::ReadScore => matches!(role, R::RelyingParty | R::Subject | R::Admin),
        C::Report | C::Consent | C::DisputeFile => matches!(role, R::Subject),
        C::DisputeRead => matches!(role, R::Subject | R::Furnisher | R::Court | R::Admin),
        C::DisputeResolve => matches!(role, R::Furnisher | R::Court),
        C::TipoffRead => matches!(role, R::Court),
        C::PolicyInstall | C::Keys | C::Audit | C::GraphRun => matches!(role, R::Admin),
        C::CallScreen => matches!(role, R::Telco),
        C::NoticePlan => matches!(role, R::Court),
    }
}

/// Which events a role that ingests may send: courts send court events (judgments,
/// performance, listings, restrictions, extensions, removals, bans), furnishers everything
/// else.
pub fn may_send(role: Role, court_event: bool) -> bool {
    match role {
        Role::Court => court_event,
        Role::Furnisher => !court_event,
        _ => false,
    }
}

/// Who is asking: the role and party of the key presented, or the public.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    /// The party's name (`public` without a key).
    pub party: String,
    /// The subject a subject's key belongs to.
    pub subject: Option<SubjectId>,
    /// The key's id, for the audit log.
    pub key_id: Option<String>,
}

impl Principal {
    pub fn public() -> Principal {
        Principal {
            role: Role::Public,
            party: "public".into(),
            subject: None,
            key_id: None,
        }
    }

    /// `role:party`, as the audit log names an actor.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.name(), self.party)
    }

    pub fn may(&self, cap: Capability) -> bool {
        allowed(self.role, cap)
    }

    /// True when this principal is the subject itself.
    pub fn is(&self, subject: SubjectId) -> bool {
        self.role == Role::Subject && self.subject == Some(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_every_key_role_and_refuses_public() {
        for r in Role::ALL {
            if r == Role::Public {
                assert!(Role::parse("public").is_err());
            } else {
                assert_eq!(Role::parse(r.name()), Ok(r));
            }
        }
        assert_eq!(Role::parse("root").unwrap_err().code(), "unknown_role");
    }

    #[test]
    fn courts_send_court_events_and_furnishers_the_rest() {
        assert!(may_send(Role::Court, true) && !may_send(Role::Court, false));
        assert!(may_send(Role::Furnisher, false) && !may_send(Role::Furnisher, true));
        for r in [
            Role::Admin,
            Role::RelyingParty,
            Role::Telco,
            Role::Subject,
            Role::Public,
        ] {
            assert!(!may_send(r, true) && !may_send(r, false), "{r:?}");
        }
    }

    #[test]
    fn only_the_admin_holds_admin_capabilities_and_the_public_only_public_ones() {
        for cap in [
            Capability::Keys,
            Capability::Audit,
            Capability::PolicyInstall,
        ] {
            let holders: Vec<Role> = Role::ALL.into_iter().filter(|r| allowed(*r, cap)).collect();
            assert_eq!(holders, vec![Role::Admin], "{cap:?}");
        }
        let public: Vec<Capability> = Capability::ALL
            .into_iter()
            .filter(|c| allowed(Role::Public, *c))
            .collect();
        assert_eq!(
            public,
            vec![
                Capability::PublicInfo,
                Capability::ListSearch,
                Capability::MapView,
                Capability::PolicyList,
                Capability::TipoffFile
            ]
        );
        // Every public capability is held by every role.
        for c in public {
            assert!(Role::ALL.into_iter().all(|r| allowed(r, c)));
        }
    }
}
