//! A notice's audience: the nodes near a centre, sharing its area key, in its group (or a
//! related one), or within k hops of it on the graph; counted per criterion, then merged
//! without repeats up to a cap, nearest circle first.
//!
//! The caller gives the nodes' meaning: positions, an area key and a group byte per node,
//! and which nodes may be reached at all.

use crate::{GraphError, Relations};
use rayon::prelude::*;

/// Per-node attributes, indexed by the caller's ids.
pub struct Attrs<'a> {
    /// Latitude and longitude in degrees; NaN where unknown.
    pub pos: &'a [[f32; 2]],
    /// An area key (0: none).
    pub area: &'a [u32],
    /// A group byte (0: none).
    pub group: &'a [u8],
    /// Whether the node may be in an audience at all.
    pub eligible: &'a (dyn Fn(u32) -> bool + Sync),
}

#[derive(Debug, Clone, Copy)]
pub struct Criteria {
    /// Nodes within this many metres of the centre's position (0: off).
    pub radius_m: f64,
    /// Nodes with the centre's area key.
    pub same_area: bool,
    /// Nodes whose group is the centre's, or related to it by `related`.
    pub group: GroupMatch,
    /// Nodes within this many hops on the graph (0: off).
    pub hops: u8,
    /// The most nodes in the merged audience.
    pub cap: usize,
}

#[derive(Debug, Clone, Copy)]
pub enum GroupMatch {
    Off,
    Same,
    /// The same group or one the relation says is related.
    Related(fn(u8, u8) -> bool),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audience {
    /// The merged audience: the circle first (nearest hops first), then those within the
    /// radius, in the area, in the group (each in node order); no repeats, at most `cap`.
    pub members: Vec<u32>,
    /// Whether the cap cut it.
    pub capped: bool,
    /// How many nodes each criterion selects on its own (before merging and the cap).
    pub by_radius: usize,
    pub by_area: usize,
    pub by_group: usize,
    pub by_hops: usize,
}

/// Great-circle distance in metres, by the map's haversine (`credo_geo::lattice`), so a
/// notice's radius and the debtor map's agree.
pub fn distance_m(a: [f32; 2], b: [f32; 2]) -> f64 {
    credo_geo::lattice::distance_m(
        f64::from(a[0]),
        f64::from(a[1]),
        f64::from(b[0]),
        f64::from(b[1]),
    )
}

/// The attributes an audience is selected around: the debtor's, whether or not it is
/// one of the nodes at hand (in a cluster partition it may live in another).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Centre {
    pub pos: [f32; 2],
    pub area: u32,
    pub group: u8,
}

impl Centre {
    /// Node `i`'s attributes.
    pub fn of(attrs: &Attrs<'_>, i: u32) -> Option<Centre> {
        let i = i as usize;
        Some(Centre {
            pos: *attrs.pos.get(i)?,
            area: *attrs.area.get(i)?,
            group: *attrs.group.get(i)?,
        })
    }
}

/// Which of the three attribute criteria a node meets, as bits (radius 1, area 2, group 4).
struct Matcher {
    centre: Centre,
    /// The centre itself, if it is one of the nodes: never in its own audience.
    exclude: Option<usize>,
    radius_m: f64,
    radius: bool,
    dlat: f32,
    dlon: f32,
    wants_area: bool,
    wants_group: bool,
    group_table: [bool; 256],
}

impl Matcher {
    fn new(centre: Centre, exclude: Option<u32>, c: &Criteria) -> Matcher {
        let cpos = centre.pos;
        let group_hit = |g: u8| {
            g != 0
                && match c.group {
                    GroupMatch::Off => false,
                    GroupMatch::Same => g == centre.group,
                    GroupMatch::Related(rel) => g == centre.group || rel(centre.group, g),
                }
        };
        // A box around the centre that holds the circle: a cheap test before the distance.
        let coslat = f64::from(cpos[0]).to_radians().cos().max(0.01);
        Matcher {
            centre,
            exclude: exclude.map(|x| x as usize),
            radius_m: c.radius_m,
            radius: c.radius_m > 0.0 && !cpos[0].is_nan(),
            dlat: (c.radius_m / 111_000.0) as f32,
            dlon: (c.radius_m / (111_000.0 * coslat)) as f32,
            wants_area: c.same_area && centre.area != 0,
            wants_group: centre.group != 0 && !matches!(c.group, GroupMatch::Off),
            // One lookup per node instead of the relation's test.
            group_table: std::array::from_fn(|g| group_hit(g as u8)),
        }
    }

    fn hit(&self, attrs: &Attrs<'_>, i: usize) -> u8 {
        if Some(i) == self.exclude {
            return 0;
        }
        let cpos = self.centre.pos;
        let mut f = 0u8;
        if self.radius {
            let p = attrs.pos[i];
            if (p[0] - cpos[0]).abs() <= self.dlat
                && (p[1] - cpos[1]).abs() <= self.dlon
                && distance_m(p, cpos) <= self.radius_m
            {
                f |= 1;
            }
        }
        if self.wants_area && attrs.area[i] == self.centre.area {
            f |= 2;
        }
        if self.wants_group && self.group_table[usize::from(attrs.group[i])] {
            f |= 4;
        }
        f
    }
}

/// One chunk's pass: counts per criterion, eligible nodes meeting any, and the first
/// `keep` members of each criterion in node order.
struct Chunk {
    counts: [usize; 3],
    any: usize,
    hits: [Vec<u32>; 3],
}

/// One parallel pass over every node.
fn scan(attrs: &Attrs<'_>, m: &Matcher, keep: usize) -> Vec<Chunk> {
    const CHUNK: usize = 1 << 16;
    let n = attrs.pos.len();
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|k| {
            let mut p = Chunk {
                counts: [0; 3],
                any: 0,
                hits: Default::default(),
            };
            for i in k * CHUNK..((k + 1) * CHUNK).min(n) {
                let f = m.hit(attrs, i);
                if f == 0 || !(attrs.eligible)(i as u32) {
                    continue;
                }
                p.any += 1;
                for b in 0..3 {
                    if f >> b & 1 != 0 {
                        p.counts[b] += 1;
                        if p.hits[b].len() < keep {
                            p.hits[b].push(i as u32);
                        }
                    }
                }
            }
            p
        })
        .collect()
}

fn check_lengths(attrs: &Attrs<'_>) -> Result<usize, GraphError> {
    let n = attrs.pos.len();
    if attrs.area.len() != n || attrs.group.len() != n {
        return Err(GraphError::Length {
            what: "area keys or groups",
            got: attrs.area.len().min(attrs.group.len()),
            n,
        });
    }
    Ok(n)
}

/// Selects the audience around node `centre`.
pub fn select(
    attrs: &Attrs<'_>,
    graph: Option<&Relations>,
    centre: u32,
    c: &Criteria,
) -> Result<Audience, GraphError> {
    let n = check_lengths(attrs)?;
    let ci = centre as usize;
    let at = Centre::of(attrs, centre).ok_or(GraphError::NoNode(centre))?;
    let m = Matcher::new(at, Some(centre), c);
    // One parallel pass: counts per criterion, and per chunk the members of each
    // criterion (at most `cap + 1` of each per chunk: the merge never needs more, and
    // one over the cap tells it that the cap cut the audience).
    let parts = scan(attrs, &m, c.cap + 1);
    let mut a = Audience::default();
    for p in &parts {
        a.by_radius += p.counts[0];
        a.by_area += p.counts[1];
        a.by_group += p.counts[2];
    }
    let mut seen = vec![0u64; n.div_ceil(64)];
    let mut take = |a: &mut Audience, i: u32| {
        let (w, b) = (i as usize / 64, 1u64 << (i % 64));
        if seen[w] & b != 0 {
            return true;
        }
        if a.members.len() == c.cap {
            a.capped = true;
            return false;
        }
        seen[w] |= b;
        a.members.push(i);
        true
    };
    debug_assert!(ci < n);
    if c.hops > 0
        && let Some(g) = graph
    {
        let circle = g.within_hops(centre, c.hops);
        for &(i, _) in &circle {
            if (attrs.eligible)(i) {
                a.by_hops += 1;
            }
        }
        for (i, _) in circle {
            if (attrs.eligible)(i) && !take(&mut a, i) {
                break;
            }
        }
    }
    // Then the criteria in turn, in node order, until the cap.
    'bits: for b in 0..3 {
        for p in &parts {
            for &i in &p.hits[b] {
                if !take(&mut a, i) {
                    break 'bits;
                }
            }
        }
    }
    Ok(a)
}

/// What one share of the nodes (a cluster partition's subjects) gives an audience whose
/// centre and circle (the nodes within k hops, found across every share) are known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Share {
    /// Eligible nodes of this share meeting each attribute criterion.
    pub by_radius: usize,
    pub by_area: usize,
    pub by_group: usize,
    /// Eligible nodes meeting any of them.
    pub any: usize,
    /// Of the circle's nodes given, the eligible ones meeting any of them.
    pub circle_any: usize,
    /// The first `keep` nodes meeting each criterion, in node order.
    pub hits: [Vec<u32>; 3],
}

/// [`select`]'s attribute pass over one share of the nodes. The audience's size is then
/// the circle's eligible nodes plus the shares' `any`, less their `circle_any`: the
/// union, counted without moving its members (`credo_engine::notices`).
pub fn share(
    attrs: &Attrs<'_>,
    centre: Centre,
    exclude: Option<u32>,
    circle: &[u32],
    c: &Criteria,
    keep: usize,
) -> Result<Share, GraphError> {
    let n = check_lengths(attrs)?;
    let m = Matcher::new(centre, exclude, c);
    let mut s = Share::default();
    for p in scan(attrs, &m, keep) {
        s.by_radius += p.counts[0];
        s.by_area += p.counts[1];
        s.by_group += p.counts[2];
        s.any += p.any;
        for b in 0..3 {
            let room = keep - s.hits[b].len();
            s.hits[b].extend(p.hits[b].iter().take(room));
        }
    }
    s.circle_any = circle
        .iter()
        .filter(|&&i| (i as usize) < n && (attrs.eligible)(i) && m.hit(attrs, i as usize) != 0)
        .count();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kilometre_of_latitude_is_about_a_kilometre() {
        let d = distance_m([30.0, 120.0], [30.009, 120.0]);
        assert!((d - 1000.8).abs() < 3.0, "{d}");
    }
}
