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
    /// Robust spread of the step-to-step changes (1.4826 × their MAD; at least 1).
    pub step_noise: f64,
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
            step_noise: 1.0,
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
    Trend {
        slope_per_minute: median(&slopes),
        tau: (concordant - discordant) as f64 / pairs,
        nondecreasing_share: nondecreasing as f64 / steps.len() as f64,
        rising_steps,
        jump_share: if total_rise > 0 { biggest as f64 / total_rise as f64 } else { 1.0 },
        drawdown: (max.saturating_sub(values[n - 1]) as f64 / rise_to_max).clamp(0.0, 1.0),
        increase,
        step_noise: (1.4826 * median(&deviations)).max(1.0),
    }
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
    fn plateau_noise() {
        let v = [48, 52, 47, 55, 50, 49, 53, 46, 51, 50, 54, 49];
        let t = trend(&minutes(12), &v);
        assert!(t.tau.abs() < 0.3, "{t:?}");
        assert!(t.step_noise > 3.0);
    }
}
