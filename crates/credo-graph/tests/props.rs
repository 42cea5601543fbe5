//! The fast paths against the naive loops of `credo_graph::reference`.

use credo_graph::{Csr, Layout, Params, Relations, propagate, reference};
use proptest::prelude::*;

fn graph() -> impl Strategy<Value = (usize, Vec<[u32; 2]>, Vec<f64>, Vec<u32>)> {
    (1usize..60).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec([0..n as u32, 0..n as u32], 0..200),
            prop::collection::vec(0.0f64..1.0, n),
            prop::collection::vec(0u32..4, n),
        )
    })
}

const P: Params = Params {
    damping: 0.6,
    tolerance: 1e-13,
    max_iterations: 10_000,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn propagation_agrees_with_the_naive_loop((n, edges, own, keys) in graph(), threads in 1usize..4, by_key: bool) {
        let layout = if by_key { Layout::ByKey(&keys) } else { Layout::Given };
        let g = Csr::build(n, &edges, layout, threads).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let r = propagate(&g, &own, &P, threads, &mut |_| {}).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(r.converged);
        let adj = reference::adjacency(n, &edges);
        let (x, mean) = reference::propagate(&adj, &own, P.damping, P.tolerance);
        for i in 0..n {
            prop_assert!((r.values[i] - x[i]).abs() <= 1e-9, "node {i}: {} vs {}", r.values[i], x[i]);
            match (r.contacts_mean(i as u32), mean[i]) {
                (Some(a), Some(b)) => prop_assert!((a - b).abs() <= 1e-9),
                (None, None) => {}
                (a, b) => prop_assert!(false, "node {i}: mean {a:?} vs {b:?}"),
            }
            prop_assert_eq!(g.degree(i as u32), adj[i].len());
        }
    }

    #[test]
    fn circles_agree_with_breadth_first_search((n, edges, own, keys) in graph(), start in 0u32..60, k in 0u8..4) {
        let start = start % n as u32;
        let g = Csr::build(n, &edges, Layout::ByKey(&keys), 2).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (rel, _) = Relations::full(g, &own, P, 1e-6, 1, &mut |_| {}).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got = rel.within_hops(start, k);
        let want = reference::within_hops(&reference::adjacency(n, &edges), start, k);
        // Nearest first, each once, with the right hop count.
        prop_assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
        let mut sorted = got.clone();
        sorted.sort();
        let mut all = want.clone();
        all.sort();
        prop_assert_eq!(sorted, all);
    }

    #[test]
    fn settled_terms_stay_within_the_bound_of_a_fresh_job(
        (n, edges, own, keys) in graph(),
        changes in prop::collection::vec((0u8..3, 0u32..70, 0u32..70, 0.0f64..1.0), 0..40),
    ) {
        let p = Params { tolerance: 1e-10, ..P };
        let g = Csr::build(n, &edges, Layout::ByKey(&keys), 2).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (mut rel, _) = Relations::full(g, &own, p, 1e-6, 2, &mut |_| {}).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // The truth, kept naively: a node beyond n joins with standing 0 until set.
        let mut own = own;
        let mut adj = reference::adjacency(n, &edges);
        for (op, a, b, v) in changes {
            let need = a.max(b) as usize + 1;
            if op != 2 && adj.len() < need {
                adj.resize(need, Default::default());
                own.resize(need, 0.0);
            }
            match op {
                0 => {
                    rel.set_own(a, v).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    if adj.len() <= a as usize { adj.resize(a as usize + 1, Default::default()); own.resize(a as usize + 1, 0.0); }
                    own[a as usize] = v;
                }
                1 => {
                    rel.add_edge(a, b);
                    if a != b { adj[a as usize].insert(b); adj[b as usize].insert(a); }
                }
                _ => {
                    rel.remove_edge(a, b);
                    if (a as usize) < adj.len() && (b as usize) < adj.len() {
                        adj[a as usize].remove(&b);
                        adj[b as usize].remove(&a);
                    }
                }
            }
            rel.settle();
        }
        let (x, mean) = reference::propagate(&adj, &own, p.damping, 1e-13);
        let bound = rel.error_bound() + 1e-12;
        for i in 0..adj.len() {
            let t = rel.term(i as u32).unwrap_or(own[i]);
            prop_assert!((t - x[i]).abs() <= bound, "node {i}: {t} vs {} (bound {bound})", x[i]);
            match (rel.contacts_mean(i as u32), mean[i]) {
                (Some(a), Some(b)) => prop_assert!((a - b).abs() <= bound),
                (None, None) => {}
                (a, b) => prop_assert!(false, "node {i}: mean {a:?} vs {b:?}"),
            }
        }
        // And circles walk the graph as it now stands (rows, overlay and removals).
        for i in 0..adj.len() as u32 {
            let mut got = rel.within_hops(i, 2);
            got.sort();
            let mut want = reference::within_hops(&adj, i, 2);
            want.sort();
            prop_assert_eq!(got, want, "node {}", i);
        }
    }
}

mod audience_props {
    use super::*;
    use credo_graph::audience::{Attrs, Criteria, GroupMatch, distance_m, select};
    use std::collections::BTreeSet;

    fn related(a: u8, b: u8) -> bool {
        a / 4 == b / 4
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        #[test]
        fn the_audience_is_the_union_of_the_naive_criteria(
            (n, edges, _own, keys) in graph(),
            pts in prop::collection::vec((0.0f32..0.05, 0.0f32..0.05), 60),
            groups in prop::collection::vec(0u8..8, 60),
            centre in 0u32..60, radius in 0.0f64..4000.0, hops in 0u8..3,
            same_area: bool, gm in 0u8..3, cap in 0usize..70, odd_only: bool,
        ) {
            let centre = centre % n as u32;
            let pos: Vec<[f32; 2]> = pts[..n].iter().map(|&(a, b)| [30.0 + a, 120.0 + b]).collect();
            let area: Vec<u32> = keys.iter().map(|k| k + 1).collect();
            let group = &groups[..n];
            let eligible = move |i: u32| !odd_only || i % 2 == 1;
            let attrs = Attrs { pos: &pos, area: &area, group, eligible: &eligible };
            let g = Csr::build(n, &edges, Layout::ByKey(&keys), 2).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let own = vec![0.5; n];
            let (rel, _) = Relations::full(g, &own, P, 1e-6, 1, &mut |_| {}).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let group_match = match gm { 0 => GroupMatch::Off, 1 => GroupMatch::Same, _ => GroupMatch::Related(related) };
            let c = Criteria { radius_m: radius, same_area, group: group_match, hops, cap };
            let a = select(&attrs, Some(&rel), centre, &c).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Naively, criterion by criterion.
            let ci = centre as usize;
            let ok = |i: usize| i != ci && eligible(i as u32);
            let by_radius: BTreeSet<u32> = (0..n).filter(|&i| ok(i) && radius > 0.0 && distance_m(pos[i], pos[ci]) <= radius).map(|i| i as u32).collect();
            let by_area: BTreeSet<u32> = (0..n).filter(|&i| ok(i) && same_area && area[i] == area[ci]).map(|i| i as u32).collect();
            let by_group: BTreeSet<u32> = (0..n).filter(|&i| ok(i) && group[ci] != 0 && group[i] != 0 && match gm { 0 => false, 1 => group[i] == group[ci], _ => group[i] == group[ci] || related(group[ci], group[i]) }).map(|i| i as u32).collect();
            let circle: BTreeSet<u32> = reference::within_hops(&reference::adjacency(n, &edges), centre, hops).into_iter().map(|p| p.0).filter(|&i| ok(i as usize)).collect();
            prop_assert_eq!(a.by_radius, by_radius.len());
            prop_assert_eq!(a.by_area, by_area.len());
            prop_assert_eq!(a.by_group, by_group.len());
            prop_assert_eq!(a.by_hops, circle.len());
            let union: BTreeSet<u32> = by_radius.iter().chain(&by_area).chain(&by_group).chain(&circle).copied().collect();
            let members: BTreeSet<u32> = a.members.iter().copied().collect();
            prop_assert_eq!(members.len(), a.members.len(), "no repeats");
            prop_assert!(members.is_subset(&union));
            if union.len() <= cap {
                prop_assert!(!a.capped);
                prop_assert_eq!(members, union);
            } else {
                prop_assert!(a.capped);
                prop_assert_eq!(a.members.len(), cap);
                // The circle comes first.
                let first: BTreeSet<u32> = a.members.iter().take(circle.len().min(cap)).copied().collect();
                prop_assert!(first.is_subset(&circle));
            }
        }
    }
}
