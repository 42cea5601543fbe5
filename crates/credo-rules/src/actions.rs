//! The catalogue of actions the court's restrictions and the authorities' bans cover.
//! Each item of the consumption-restriction list is one action a seller asks about.

/// What stops an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocks {
    /// A listing or a consumption-restriction order in force.
    pub restriction: bool,
    /// A temporary ban off trains (scope `rail` or `travel`).
    pub rail_ban: bool,
    /// A temporary ban off flights (scope `flight` or `travel`).
    pub flight_ban: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSpec {
    pub id: &'static str,
    pub label: &'static str,
    pub blocks: Blocks,
}

const fn action(id: &'static str, label: &'static str, rail: bool, flight: bool) -> ActionSpec {
    ActionSpec {
        id,
        label,
        blocks: Blocks {
            restriction: true,
            rail_ban: rail,
            flight_ban: flight,
        },
    }
}

/// Every catalogued action, in the order of the restriction list.
pub const ACTIONS: &[ActionSpec] = &[
    action("flight", "a seat on a flight", false, true),
    action(
        "rail_g",
        "any seat on a G-series high-speed train",
        true,
        false,
    ),
    action(
        "rail_first_class",
        "first class on other bullet trains",
        true,
        false,
    ),
    action("soft_sleeper", "a soft sleeper on a train", true, false),
    // Any train ticket: only a rail ban stops it (the restriction list leaves ordinary seats).
    ActionSpec {
        id: "rail",
        label: "an ordinary train ticket",
        blocks: Blocks {
            restriction: false,
            rail_ban: true,
            flight_ban: false,
        },
    },
    action(
        "ship_second_class",
        "second class or better on a ship",
        false,
        false,
    ),
    action("star_hotel", "a room in a star-rated hotel", false, false),
    action("nightclub", "a nightclub", false, false),
    action("golf", "a round of golf", false, false),
    action("property_purchase", "buying property", false, false),
    action("property_renovation", "renovating property", false, false),
    action("office_rent", "renting a high-grade office", false, false),
    action("car_purchase", "buying a non-essential car", false, false),
    action("tour", "a holiday or tour", false, false),
    action(
        "outbound_group_tour",
        "an outbound group tour",
        false,
        false,
    ),
    action(
        "private_school",
        "a high-fee private school for a child",
        false,
        false,
    ),
    action(
        "high_premium_insurance",
        "a high-premium insurance policy",
        false,
        false,
    ),
    action(
        "executive_role",
        "serving as a company director, supervisor or senior manager",
        false,
        false,
    ),
];

pub fn find(id: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.id == id)
}
