//! A contact graph on its own, at benchmark scale (millions of people, hundreds of
//! millions of contacts), built the same way as the population's: a discrete Pareto
//! degree (alpha 2.3) and partners drawn 45 % from the same city and industry, 40 % from
//! the same city, 15 % from anywhere. Cities and industries are drawn with the
//! population's weights, independently of the node number, so node order says nothing of
//! community: any locality has to come from the graph's own layout.

use rand::Rng;
use rayon::prelude::*;

use crate::{CITIES, INDUSTRIES, cumulate, normal, pick_weighted, rng_for, sigmoid};

pub struct GraphConfig {
    pub nodes: usize,
    /// About this many undirected edges (to within a few per cent).
    pub edges: u64,
    pub seed: u64,
}

pub struct SynthGraph {
    /// Undirected, each once, `a < b`, sorted.
    pub edges: Vec<[u32; 2]>,
    /// `city × 16 + industry` per node: the community key.
    pub community: Vec<u32>,
    /// Own standing in [0, 1], homophilous like the population's reliability.
    pub own: Vec<f64>,
}

pub fn contact_graph(cfg: &GraphConfig) -> SynthGraph {
    let n = cfg.nodes.max(2);
    let city_w = cumulate(CITIES.iter().map(|c| c.millions));
    let ind_w = cumulate(INDUSTRIES.iter().map(|i| f64::from(i.1)));
    let mut fx = rng_for(cfg.seed, 10, 0);
    let city_fx: Vec<f64> = CITIES.iter().map(|_| normal(&mut fx) * 0.25).collect();
    let ind_fx: Vec<f64> = INDUSTRIES.iter().map(|_| normal(&mut fx) * 0.25).collect();
    const BLOCK: usize = 1 << 16;
    let people: Vec<(u32, f64)> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .flat_map_iter(|b| {
            let mut r = rng_for(cfg.seed, 11, b as u64);
            let (lo, hi) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
            (lo..hi)
                .map(|_| {
                    let c = pick_weighted(&mut r, &city_w);
                    let i = pick_weighted(&mut r, &ind_w);
                    let own = sigmoid(0.8 + normal(&mut r) + city_fx[c] + ind_fx[i]);
                    ((c * INDUSTRIES.len() + i) as u32, own)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let community: Vec<u32> = people.iter().map(|p| p.0).collect();
    let own: Vec<f64> = people.iter().map(|p| p.1).collect();
    drop(people);
    let ninds = INDUSTRIES.len();
    let mut by_comm: Vec<Vec<u32>> = vec![Vec::new(); CITIES.len() * ninds];
    for (k, &c) in community.iter().enumerate() {
        by_comm[c as usize].push(k as u32);
    }
    let by_city: Vec<Vec<u32>> = (0..CITIES.len())
        .map(|c| {
            let mut v: Vec<u32> = by_comm[c * ninds..(c + 1) * ninds].concat();
            v.sort_unstable();
            v
        })
        .collect();
    // Pareto with minimum m has mean m·α'/(α'−1), α' = 1.3; a node asks for half its
    // degree, so m is set for the wanted edges per node.
    // Repeats are dropped, so rounds top up the shortfall until the count is reached
    // (it ends within a few per cent).
    let mut keys: Vec<u64> = Vec::new();
    let mut ask = cfg.edges as f64;
    for round in 0..8u64 {
        let per_node = ask / n as f64;
        let min_degree = (2.0 * per_node * 0.3 / 1.3).max(0.5);
        let before = keys.len();
        keys.par_extend((0..n.div_ceil(BLOCK)).into_par_iter().flat_map_iter(|b| {
            let mut r = rng_for(cfg.seed, 12 + round, b as u64);
            let (lo, hi) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
            let mut out = Vec::new();
            for (k, &c) in community.iter().enumerate().take(hi).skip(lo) {
                let c = c as usize;
                let u: f64 = r.random::<f64>().max(1e-12);
                let degree = ((min_degree * u.powf(-1.0 / 1.3)) as usize).min(5000);
                for _ in 0..degree.div_ceil(2) {
                    let x: f64 = r.random();
                    let pool: &[u32] = if x < 0.45 {
                        &by_comm[c]
                    } else if x < 0.85 {
                        &by_city[c / ninds]
                    } else {
                        &[]
                    };
                    let other = if pool.len() > 1 {
                        pool[r.random_range(0..pool.len())]
                    } else {
                        r.random_range(0..n) as u32
                    };
                    let k = k as u32;
                    if other != k {
                        out.push((u64::from(k.min(other)) << 32) | u64::from(k.max(other)));
                    }
                }
            }
            out
        }));
        let asked = (keys.len() - before) as f64;
        keys.par_sort_unstable();
        keys.dedup();
        let short = cfg.edges as f64 - keys.len() as f64;
        if short <= cfg.edges as f64 * 0.002 || asked == 0.0 {
            break;
        }
        // The new rounds' yield is lower than the first's: more of them repeat.
        let kept = (keys.len() - before) as f64 / asked;
        ask = short / kept.clamp(0.05, 1.0);
    }
    let edges = keys
        .into_par_iter()
        .map(|k| [(k >> 32) as u32, k as u32])
        .collect();
    SynthGraph {
        edges,
        community,
        own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_is_deterministic_heavy_tailed_and_homophilous() {
        let cfg = GraphConfig {
            nodes: 50_000,
            edges: 1_000_000,
            seed: 7,
        };
        let g = contact_graph(&cfg);
        let again = contact_graph(&cfg);
        assert_eq!(g.edges, again.edges);
        assert!(g.edges.windows(2).all(|w| w[0] < w[1]));
        assert!(
            g.edges
                .iter()
                .all(|[a, b]| a < b && (*b as usize) < cfg.nodes)
        );
        let m = g.edges.len() as f64;
        assert!((0.99e6..1.03e6).contains(&m), "{m} edges");
        let mut degree = vec![0u32; cfg.nodes];
        for &[a, b] in &g.edges {
            degree[a as usize] += 1;
            degree[b as usize] += 1;
        }
        let mean = 2.0 * m / cfg.nodes as f64;
        let max = *degree.iter().max().unwrap_or(&0) as f64;
        assert!(max > 10.0 * mean, "a long tail: max {max}, mean {mean}");
        let same_city = g
            .edges
            .iter()
            .filter(|[a, b]| g.community[*a as usize] / 16 == g.community[*b as usize] / 16)
            .count() as f64;
        assert!(same_city / m > 0.8, "{}", same_city / m);
        assert!(g.own.iter().all(|s| (0.0..=1.0).contains(s)));
    }
}
