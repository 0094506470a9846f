//! Trend statistics over one group's series of counts: robust against the noise of real services.
//!
//! A leak grows, steadily or in steps, with small dips, and does not come back down. A burst that
//! drains, a plateau that fluctuates, or a single jump are not that. The figures here are the
//! evidence; [`super::rank`] turns them into a verdict.

/// The evidence about one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// Theil–Sen slope: the median of all pairwise slopes, in goroutines per minute.
    pub slope_per_minute: f64,
    /// Kendall's tau of value against time, in [-1, 1]: how consistently later means larger.
    pub tau: f64,
    /// Share of steps that did not go down.
    pub nondecreasing_share: f64,
    /// Number of steps that went up.
    pub rising_steps: usize,
    /// Largest single step up as a share of the total increase (1 when one jump did it all).
    pub jump_share: f64,
    /// How far the last value fell back from the maximum, as a share of the rise to that maximum.
    pub drawdown: f64,
    /// Last minus first.
    pub increase: i64,
    /// Robust spread of the step-to-step changes (1.4826 × their MAD; at least 0.5).
    pub step_noise: f64,
    /// Mann–Kendall test of a monotone trend: S (concordant minus discordant pairs) over its
    /// standard deviation under "no trend", corrected for ties and for continuity. About 2 means
    /// a rise this consistent happens by chance in 1 series of 40, 3 in 1 of 700.
    pub mann_kendall_z: f64,
    /// Robust spread of the values around the Theil–Sen line (1.4826 × MAD of the residuals; at
    /// least 0.5): how far the level itself jitters.
    pub level_noise: f64,
    /// Theil–Sen slope × the span of the series: the rise the trend line explains.
    pub fitted_rise: f64,
    /// Median of the last third of the values minus the median of the middle third: whether the
    /// stack still grows at the end of the window (a warm-up that has settled has 0 here).
    pub late_rise: f64,
    /// Median of the middle third minus the median of the first third.
    pub early_rise: f64,
    /// Highest value of the last third minus the value just before it: whether the stack rose at
    /// all in the last third (a step that then stays flat has 0 here, whatever the medians say).
    pub end_rise: i64,
}

/// `times` in minutes, same length as `values`, increasing.
pub fn trend(times: &[f64], values: &[i64]) -> Trend {
    let n = values.len();
    assert_eq!(n, times.len(), "one time per value");
    if n < 2 {
        return Trend {
            slope_per_minute: 0.0,
            tau: 0.0,
            nondecreasing_share: 0.0,
            rising_steps: 0,
            jump_share: 1.0,
            drawdown: 0.0,
            increase: 0,
            step_noise: LEVEL_NOISE_FLOOR,
            mann_kendall_z: 0.0,
            level_noise: LEVEL_NOISE_FLOOR,
            fitted_rise: 0.0,
            late_rise: 0.0,
            early_rise: 0.0,
            end_rise: 0,
        };
    }
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    let (mut concordant, mut discordant) = (0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dv = values[j] as f64 - values[i] as f64;
            let dt = times[j] - times[i];
            if dt > 0.0 {
                slopes.push(dv / dt);
            }
            match values[j].cmp(&values[i]) {
                std::cmp::Ordering::Greater => concordant += 1,
                std::cmp::Ordering::Less => discordant += 1,
                std::cmp::Ordering::Equal => {}
            }
        }
    }
    let pairs = (n * (n - 1) / 2) as f64;
    // Saturating: counts are checked at decoding, but a step or a sum of steps must not wrap anyway.
    let steps: Vec<i64> = values.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    let nondecreasing = steps.iter().filter(|&&d| d >= 0).count();
    let rising_steps = steps.iter().filter(|&&d| d > 0).count();
    let increase = values[n - 1].saturating_sub(values[0]);
    let biggest = steps.iter().copied().max().unwrap_or(0).max(0);
    let total_rise: i64 = steps.iter().filter(|&&d| d > 0).fold(0i64, |t, &d| t.saturating_add(d));
    let max = *values.iter().max().expect("n >= 2");
    let rise_to_max = max.saturating_sub(values[0]).max(1) as f64;
    let abs_steps: Vec<f64> = steps.iter().map(|&d| d as f64).collect();
    let med = median(&abs_steps);
    let deviations: Vec<f64> = abs_steps.iter().map(|d| (d - med).abs()).collect();
    let slope = median(&slopes);
    let residuals: Vec<f64> = times.iter().zip(values).map(|(&t, &v)| v as f64 - slope * t).collect();
    let centre = median(&residuals);
    let residual_deviations: Vec<f64> = residuals.iter().map(|r| (r - centre).abs()).collect();
    let (first, middle, last) = thirds(values);
    Trend {
        slope_per_minute: slope,
        tau: (concordant - discordant) as f64 / pairs,
        nondecreasing_share: nondecreasing as f64 / steps.len() as f64,
        rising_steps,
        jump_share: if total_rise > 0 { biggest as f64 / total_rise as f64 } else { 1.0 },
        drawdown: (max.saturating_sub(values[n - 1]) as f64 / rise_to_max).clamp(0.0, 1.0),
        increase,
        step_noise: (1.4826 * median(&deviations)).max(LEVEL_NOISE_FLOOR),
        mann_kendall_z: mann_kendall_z(concordant - discordant, values),
        level_noise: (1.4826 * median(&residual_deviations)).max(LEVEL_NOISE_FLOOR),
        fitted_rise: slope * (times[n - 1] - times[0]),
        late_rise: last - middle,
        early_rise: middle - first,
        end_rise: {
            let b = (n - n / 3).clamp(1, n - 1);
            values[b..].iter().max().map_or(0, |m| m.saturating_sub(values[b - 1]))
        },
    }
}

/// Where a series that held a level and then began to grow changed its slope: the index of the
/// first value of the growth, by a segmented fit (a flat level before the change, a straight line
/// after it) of least squares, in O(n) with running sums. `None` when the series is too short to
/// have a suffix of `min_suffix` values after a prefix of at least two, or fits no better split
/// than a flat prefix of the whole.
pub fn change_point(times: &[f64], values: &[i64], min_suffix: usize) -> Option<usize> {
    let n = values.len();
    assert_eq!(n, times.len(), "one time per value");
    if min_suffix < 2 || n < min_suffix + 2 {
        return None;
    }
    // Prefix sums of v and v² (for the flat prefix), and suffix sums of t, v, t², tv, v² (for the
    // line after). Times are shifted by the first so that their squares stay small.
    let t0 = times[0];
    let mut pre = vec![(0.0f64, 0.0f64); n + 1];
    for i in 0..n {
        let v = values[i] as f64;
        pre[i + 1] = (pre[i].0 + v, pre[i].1 + v * v);
    }
    let mut suf = vec![[0.0f64; 5]; n + 1];
    for i in (0..n).rev() {
        let (t, v) = (times[i] - t0, values[i] as f64);
        let s = suf[i + 1];
        suf[i] = [s[0] + t, s[1] + v, s[2] + t * t, s[3] + t * v, s[4] + v * v];
    }
    let mut best: Option<(f64, usize)> = None;
    for c in 2..=n - min_suffix {
        let (sv, svv) = pre[c];
        let flat = svv - sv * sv / c as f64;
        let m = (n - c) as f64;
        let [st, sv2, stt, stv, svv2] = suf[c];
        let sxx = stt - st * st / m;
        let sxy = stv - st * sv2 / m;
        let syy = svv2 - sv2 * sv2 / m;
        let line = if sxx > 0.0 { syy - sxy * sxy / sxx } else { syy };
        // Rising after the change, or it is no change this is about.
        if sxy <= 0.0 {
            continue;
        }
        let sse = flat.max(0.0) + line.max(0.0);
        if best.is_none_or(|(b, _)| sse < b) {
            best = Some((sse, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Counts are whole goroutines: a level that flickers by one is noise of about this much.
const LEVEL_NOISE_FLOOR: f64 = 0.5;

/// The z score of the Mann–Kendall S statistic, with the variance corrected for tied values
/// (a staircase of a slow leak is mostly ties) and a continuity correction of 1.
fn mann_kendall_z(s: i64, values: &[i64]) -> f64 {
    let n = values.len() as f64;
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let ties: f64 = sorted
        .chunk_by(|a, b| a == b)
        .map(|run| {
            let t = run.len() as f64;
            t * (t - 1.0) * (2.0 * t + 5.0)
        })
        .sum();
    let variance = (n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0;
    if variance <= 0.0 || s == 0 {
        return 0.0;
    }
    let corrected = if s > 0 { s - 1 } else { s + 1 } as f64;
    corrected / variance.sqrt()
}

/// Medians of the first, middle and last thirds of `values` (by position).
fn thirds(values: &[i64]) -> (f64, f64, f64) {
    let med = |xs: &[i64]| {
        let f: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
        median(&f)
    };
    let n = values.len();
    if n < 3 {
        let first = med(&values[..n.min(1)]);
        return (first, first, med(&values[n.saturating_sub(1)..]));
    }
    let (a, b) = (n / 3, n - n / 3);
    (med(&values[..a]), med(&values[a..b]), med(&values[b..]))
}

pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 / 6.0).collect() // every 10 s
    }

    #[test]
    fn steady_leak() {
        let v: Vec<i64> = (0..12).map(|i| 10 + 5 * i).collect();
        let t = trend(&minutes(12), &v);
        assert!((t.slope_per_minute - 30.0).abs() < 1e-9);
        assert_eq!(t.tau, 1.0);
        assert_eq!(t.drawdown, 0.0);
        assert_eq!(t.increase, 55);
        assert!(t.jump_share < 0.2);
    }

    #[test]
    fn burst_that_drains() {
        let v = [0, 0, 180, 200, 40, 0, 0, 0, 0, 0, 0, 0];
        let t = trend(&minutes(12), &v);
        assert_eq!(t.increase, 0);
        assert_eq!(t.drawdown, 1.0);
        assert_eq!(t.slope_per_minute, 0.0);
    }

    #[test]
    fn single_jump_at_the_end() {
        let v = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200];
        let t = trend(&minutes(12), &v);
        assert_eq!(t.slope_per_minute, 0.0);
        assert_eq!(t.jump_share, 1.0);
    }

    #[test]
    fn mann_kendall_with_ties() {
        // A slow leak's staircase, 0 -> 5 over 31 snapshots: S = 465 - 5 × 15 tied pairs = 390,
        // Var(S) = (31·30·67 - 5·6·5·17) / 18 = 3320, z = 389 / √3320.
        let v: Vec<i64> = (0..31).map(|k| k / 6).collect();
        let t = trend(&minutes(31), &v);
        assert!((t.mann_kendall_z - 389.0 / 3320f64.sqrt()).abs() < 1e-9, "{t:?}");
        assert!(t.late_rise > 0.0 && t.early_rise > 0.0);
        // No trend at all: z is 0, whatever the ties.
        assert_eq!(trend(&minutes(12), &[7; 12]).mann_kendall_z, 0.0);
    }

    #[test]
    fn change_point_of_a_late_leak() {
        // etcd's writeQuota.get over 50 snapshots: 0 for 41, then rising.
        let mut v = vec![0i64; 41];
        v.extend([2, 3, 5, 6, 8, 10, 12, 13, 15]);
        assert_eq!(change_point(&minutes(50), &v, 6), Some(41));
        // Too short for a prefix and a suffix.
        assert_eq!(change_point(&minutes(7), &[0, 0, 0, 1, 2, 3, 4], 6), None);
    }

    #[test]
    fn plateau_noise() {
        let v = [48, 52, 47, 55, 50, 49, 53, 46, 51, 50, 54, 49];
        let t = trend(&minutes(12), &v);
        assert!(t.tau.abs() < 0.3, "{t:?}");
        assert!(t.step_noise > 3.0);
    }
}
