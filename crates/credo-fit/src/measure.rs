//! How good a score is, and how much a population moved: AUC (with ties), KS and the
//! population stability index.

/// The area under the ROC curve: the chance that a random bad has a lower score than a
/// random good (ties count half). Higher scores mean better risk.
pub fn auc(scores: &[f64], bad: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann–Whitney: sum of the goods' ranks (average ranks for ties).
    let (mut rank_sum, mut goods, mut bads) = (0.0, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if bad[k] {
                bads += 1.0;
            } else {
                goods += 1.0;
                rank_sum += avg;
            }
        }
        i = j + 1;
    }
    if goods == 0.0 || bads == 0.0 {
        return f64::NAN;
    }
    (rank_sum - goods * (goods + 1.0) / 2.0) / (goods * bads)
}

/// The largest gap between the cumulative shares of bads and goods by score.
pub fn ks(scores: &[f64], bad: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let b_total = bad.iter().filter(|&&b| b).count() as f64;
    let g_total = bad.len() as f64 - b_total;
    let (mut cb, mut cg, mut best) = (0.0, 0.0, 0.0f64);
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if bad[idx[i]] {
                cb += 1.0;
            } else {
                cg += 1.0;
            }
            i += 1;
        }
        best = best.max((cb / b_total.max(1.0) - cg / g_total.max(1.0)).abs());
    }
    best
}

/// PSI between two distributions over the same bins (counts): Σ (a − e)·ln(a / e) over
/// shares, each share floored at 1e-4.
pub fn psi(expected: &[u64], actual: &[u64]) -> f64 {
    let te: u64 = expected.iter().sum();
    let ta: u64 = actual.iter().sum();
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let e = (e as f64 / te.max(1) as f64).max(1e-4);
            let a = (a as f64 / ta.max(1) as f64).max(1e-4);
            (a - e) * (a / e).ln()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_ks_on_small_cases() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(auc(&s, &[true, true, false, false]), 1.0);
        assert_eq!(auc(&s, &[false, false, true, true]), 0.0);
        assert_eq!(auc(&[1.0, 1.0], &[true, false]), 0.5);
        assert_eq!(ks(&s, &[true, true, false, false]), 1.0);
        assert!(psi(&[10, 20, 30], &[10, 20, 30]).abs() < 1e-12);
        assert!(psi(&[10, 20, 30], &[30, 20, 10]) > 0.25);
    }
}
