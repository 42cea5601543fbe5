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

/// Selects the audience around node `centre`.
pub fn select(
    attrs: &Attrs<'_>,
    graph: Option<&Relations>,
    centre: u32,
    c: &Criteria,
) -> Result<Audience, GraphError> {
    let n = attrs.pos.len();
    if attrs.area.len() != n || attrs.group.len() != n {
        return Err(GraphError::Length {
            what: "area keys or groups",
            got: attrs.area.len().min(attrs.group.len()),
            n,
        });
    }
    let ci = centre as usize;
    if ci >= n {
        return Err(GraphError::NoNode(centre));
    }
    let (cpos, carea, cgroup) = (attrs.pos[ci], attrs.area[ci], attrs.group[ci]);
    let radius = c.radius_m > 0.0 && !cpos[0].is_nan();
    // A box around the centre that holds the circle: a cheap test before the distance.
    let dlat = (c.radius_m / 111_000.0) as f32;
    let coslat = f64::from(cpos[0]).to_radians().cos().max(0.01);
    let dlon = (c.radius_m / (111_000.0 * coslat)) as f32;
    let group_hit = |g: u8| {
        g != 0
            && match c.group {
                GroupMatch::Off => false,
                GroupMatch::Same => g == cgroup,
                GroupMatch::Related(rel) => g == cgroup || rel(cgroup, g),
            }
    };
    let wants_group = cgroup != 0 && !matches!(c.group, GroupMatch::Off);
    // One lookup per node instead of the relation's test.
    let group_table: [bool; 256] = std::array::from_fn(|g| group_hit(g as u8));
    let wants_area = c.same_area && carea != 0;
    let hit = |i: usize| -> u8 {
        if i == ci {
            return 0;
        }
        let mut f = 0u8;
        if radius {
            let p = attrs.pos[i];
            if (p[0] - cpos[0]).abs() <= dlat
                && (p[1] - cpos[1]).abs() <= dlon
                && distance_m(p, cpos) <= c.radius_m
            {
                f |= 1;
            }
        }
        if wants_area && attrs.area[i] == carea {
            f |= 2;
        }
        if wants_group && group_table[usize::from(attrs.group[i])] {
            f |= 4;
        }
        f
    };
    // One parallel pass: counts per criterion, and per chunk the members of each
    // criterion (at most `cap + 1` of each per chunk: the merge never needs more, and
    // one over the cap tells it that the cap cut the audience).
    const CHUNK: usize = 1 << 16;
    struct Part {
        counts: [usize; 3],
        hits: [Vec<u32>; 3],
    }
    let parts: Vec<Part> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|k| {
            let mut p = Part {
                counts: [0; 3],
                hits: Default::default(),
            };
            for i in k * CHUNK..((k + 1) * CHUNK).min(n) {
                let f = hit(i);
                if f == 0 || !(attrs.eligible)(i as u32) {
                    continue;
                }
                for b in 0..3 {
                    if f >> b & 1 != 0 {
                        p.counts[b] += 1;
                        if p.hits[b].len() <= c.cap {
                            p.hits[b].push(i as u32);
                        }
                    }
                }
            }
            p
        })
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kilometre_of_latitude_is_about_a_kilometre() {
        let d = distance_m([30.0, 120.0], [30.009, 120.0]);
        assert!((d - 1000.8).abs() < 3.0, "{d}");
    }
}
