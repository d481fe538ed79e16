// Package detect judges indicator series: whether a period's count or rate
// is anomalous against a baseline that compares like with like. It holds
// the detectors as pure functions of a series, so that each is tested on
// fixed series (testdata/*.yaml); the queries package runs them on the
// indicator cells and records what they flag as anomalies.
//
// The detectors:
//   - Poisson (counts): the exact chance of at least n against the mean of
//     the trailing like periods, as a normal score (TailScore), with their
//     own dispersion φ ≥ 1 allowed for (quasi-Poisson): working days with working days (make-up
//     working days count as working days), days off with days off, and a
//     day of the Spring Festival holiday with the same day of last year's.
//   - Robust (counts): (n − median)/(1.4826 × MAD) over the same like
//     periods, which one earlier outlier does not move.
//   - Funnel (rates): the Wilson interval of a cell at z against the mean
//     of its peers (the same level under the same parent), with a minimum
//     denominator (DOMAIN.md §9), allowing for the spread between places
//     beyond chance (overdispersion).
//   - Drop (rates): more than N points below the mean of the three periods
//     before.
//   - Rising (backlogs): up in each of the last N periods.
//   - ZScore: the peer that data-observability tools ship (the trailing 14
//     points' mean and standard deviation, |z| > 3, no calendar), for
//     benchmarks.
//
// Gates against noise: a minimum count, a minimum absolute change, a
// minimum history of the area's own before its own baseline is used (a
// cold start takes its peers' baseline instead), and periods people marked
// false positives or known incidents are left out of every baseline.
package detect

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Point is one period of a series.
type Point struct {
	Start time.Time
	// Num and Den are the cell's numerator and denominator; a count has
	// its count in Num.
	Num, Den float64
	// Class is the kind of period, for comparing like with like (see
	// DayClass); periods of different classes never share a baseline.
	Class string
	// Excluded periods (false positives, known incidents) are left out of
	// baselines.
	Excluded bool
}

// Finding is a detector's judgement of one point.
type Finding struct {
	Flag     bool
	Observed float64
	Expected float64 // the baseline
	Score    float64 // z or its robust kin; for Funnel, the Wilson bound's distance
	// Baseline says what the point was compared with, in words.
	Baseline string
}

// Params are a detector's parameters.
type Params struct {
	Z         float64 // the score past which a point is flagged (default 3)
	Window    int     // like periods in the baseline (default 28 for days, 3 for Drop, 14 for ZScore)
	MinCount  float64 // the least observed count to flag (default 5)
	MinChange float64 // the least absolute change from the baseline to flag
	// MinHistory is how many like periods of its own an area needs before
	// its own baseline is used; fewer, and the peers' is (cold start).
	MinHistory int
	MinDen     float64 // Funnel: the least denominator (default 20)
	Points     float64 // Drop: percentage points (default 10)
	Periods    int     // Rising: periods in a row (default 3)
	// Days is how many periods up to the judged one Poisson and Robust
	// judge together (default 1): a spike of a few days stands out in
	// their sum where one day of it may not, and an ordinary one-off bad
	// day does not (EARS C3 sums its last three days the same way). The
	// judged period itself must still pass MinCount and MinChange, so a
	// day back to normal is not flagged for the one before it.
	Days int
	// Higher is true when a higher rate is better (Funnel and Drop flag
	// the low side then; otherwise the high side).
	Higher bool
}

// orDefault is v, or def when v is not set (0 or less).
func orDefault[T int | float64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (p Params) z() float64 {
	if p.Z > 0 {
		return p.Z
	}
	return 3
}

// like returns the values of the points before i of i's class, not
// excluded, the latest window of them, oldest first.
func like(s []Point, i, window int) []float64 {
	var out []float64
	for j := i - 1; j >= 0 && len(out) < window; j-- {
		if s[j].Class == s[i].Class && !s[j].Excluded {
			out = append(out, s[j].Num)
		}
	}
	slices.Reverse(out)
	return out
}

// variance is the sample variance of v.
func variance(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	m := mean(v)
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return ss / float64(len(v)-1)
}

func mean(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// Poisson judges the count of point i against the mean of its like
// periods; with fewer than MinHistory of them, against peer (the peers'
// mean count in the same period, scaled to the area: the caller's), and
// not at all when peer is NaN too.
func Poisson(s []Point, i int, p Params, peer float64) Finding {
	window := orDefault(p.Window, 28)
	n := s[i].Num
	f := Finding{Observed: n}
	base := like(s, i, window)
	minCount := orDefault(p.MinCount, 5)
	own := len(base) >= max(p.MinHistory, 1)
	switch {
	case own:
		f.Expected = mean(base)
		f.Baseline = fmt.Sprintf("the mean of its %d previous %s periods", len(base), className(s[i].Class))
	case !math.IsNaN(peer):
		f.Expected = peer
		f.Baseline = fmt.Sprintf("its peers' mean (it has %d %s periods of its own; cold start)", len(base), className(s[i].Class))
	default:
		f.Baseline = "no baseline yet"
		return f
	}
	b := math.Max(f.Expected, 0.5) // a rare count's base is at least half an event
	// Quasi-Poisson (as the Farrington outbreak detector): counts that
	// vary more than a Poisson's between like periods are judged by their
	// own variance, φ·base, as a negative binomial. Their variance is taken
	// robustly, (1.4826 × MAD)²: one earlier spike left in the baseline
	// (not yet marked an incident) must not make the next look ordinary.
	phi := 1.0
	if len(base) >= 7 {
		_, sd := medianMAD(base)
		phi = max(1, sd*sd/b)
		f.Baseline += fmt.Sprintf(", dispersion %.2g", phi)
	}
	sum, sumBase := n, b
	if days := orDefault(p.Days, 1); days > 1 && own {
		for j := i - 1; j > i-days && j >= 0; j-- {
			prev := like(s, j, window)
			if len(prev) < max(p.MinHistory, 1) {
				break
			}
			sum += s[j].Num
			sumBase += math.Max(mean(prev), 0.5)
		}
		f.Baseline += fmt.Sprintf("; %g in the %d days to it against %.1f", sum, days, sumBase)
	}
	f.Score = TailScore(sum, sumBase, phi)
	f.Flag = f.Score > p.z() && n >= minCount && n-f.Expected >= p.MinChange
	return f
}

// TailScore is the chance of a count of at least n where mean counts are
// expected, with variance phi × mean (phi 1: Poisson; above: negative
// binomial), as a normal score: 4 is as rare as a normal variable 4
// standard deviations above its mean (p ≈ 3e-5). The exact tail, not the
// normal approximation (n − mean)/√mean, which calls a small count's
// ordinary bad day (5 where 0.7 are usual: p ≈ 8e-4, the approximation
// says 5.1) as rare as a real spike. Below the mean the score is the
// plain z.
func TailScore(n, mean, phi float64) float64 {
	if n <= mean {
		return (n - mean) / math.Sqrt(phi*mean)
	}
	k := math.Ceil(n)
	// log pmf at k, then the upper tail summed from k up.
	var logPMF func(k float64) float64
	if phi <= 1+1e-9 {
		logPMF = func(k float64) float64 {
			lg, _ := math.Lgamma(k + 1)
			return k*math.Log(mean) - mean - lg
		}
	} else {
		r := mean / (phi - 1) // NB(r, q): mean r(1−q)/q = mean, variance mean/q = phi·mean
		q := 1 / phi
		lgr, _ := math.Lgamma(r)
		logPMF = func(k float64) float64 {
			a, _ := math.Lgamma(k + r)
			c, _ := math.Lgamma(k + 1)
			return a - lgr - c + r*math.Log(q) + k*math.Log(1-q)
		}
	}
	var tail float64
	for j := k; j < k+10000; j++ {
		t := math.Exp(logPMF(j))
		tail += t
		if t < tail*1e-12 {
			break
		}
	}
	if tail <= 0 {
		return 40 // beyond float64's reach: as rare as it gets
	}
	if tail >= 0.5 {
		return 0
	}
	return math.Sqrt2 * math.Erfcinv(2*tail)
}

// Robust judges the count of point i against the median and MAD of its
// like periods.
func Robust(s []Point, i int, p Params) Finding {
	window := orDefault(p.Window, 28)
	n := s[i].Num
	f := Finding{Observed: n}
	base := like(s, i, window)
	if len(base) < max(p.MinHistory, 7) {
		f.Baseline = "too little history of its own"
		return f
	}
	med, mad := medianMAD(base)
	// A series that is mostly flat has a MAD of 0: its spread is then at
	// least a Poisson count's.
	spread := math.Max(mad, math.Sqrt(math.Max(med, 1)))
	f.Expected = med
	f.Baseline = fmt.Sprintf("the median %.1f (MAD %.1f) of its %d previous %s periods", med, mad, len(base), className(s[i].Class))
	// Over Days periods: their mean excess over their own medians, against
	// the spread of a mean of that many.
	excess, k := n-med, 1.0
	if days := orDefault(p.Days, 1); days > 1 {
		for j := i - 1; j > i-days && j >= 0; j-- {
			prev := like(s, j, window)
			if len(prev) < max(p.MinHistory, 7) {
				break
			}
			excess += s[j].Num - median(prev)
			k++
		}
		f.Baseline += fmt.Sprintf("; over the %g days to it, %.1f a day above", k, excess/k)
	}
	f.Score = excess / k / (spread / math.Sqrt(k))
	minCount := orDefault(p.MinCount, 5)
	f.Flag = f.Score > p.z() && n >= minCount && n-med >= p.MinChange
	return f
}

// medianMAD returns the median of v and its median absolute deviation
// scaled to a normal's standard deviation (1.4826 × MAD).
func medianMAD(v []float64) (med, mad float64) {
	med = median(v)
	dev := make([]float64, len(v))
	for j, x := range v {
		dev[j] = math.Abs(x - med)
	}
	return med, 1.4826 * median(dev)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Wilson returns the Wilson score interval of k successes in n at z.
func Wilson(k, n, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	p := k / n
	z2 := z * z
	den := 1 + z2/n
	mid := (p + z2/(2*n)) / den
	half := z * math.Sqrt(p*(1-p)/n+z2/(4*n*n)) / den
	return mid - half, mid + half
}

// Rate is a cell's numerator and denominator.
type Rate struct{ Num, Den float64 }

// Funnel judges a rate num/den against its peers' rates (the same level
// under the same parent, the cell itself not among them): flagged when the
// Wilson interval at Z lies wholly on the worse side of the peers' mean
// rate (below for Higher, above otherwise), den is at least MinDen, and
// the cell stays past Z once the places' own spread is allowed for.
//
// That spread is the funnel plot's overdispersion (Spiegelhalter 2005,
// "Funnel plots for comparing institutional performance", §5.2): places
// differ by more than chance — streets are not alike — and with hundreds
// of cases a month the Wilson interval alone flags every ordinary
// difference. τ², the variance between places beyond chance, is estimated
// from the cell and its peers by the additive random-effects formula, its
// φ from their median |z| (a few places far off do not widen it); the cell is flagged only if (y − θ)/√(s² + τ²)
// is past Z too.
func Funnel(num, den float64, peers []Rate, p Params) Finding {
	minDen := orDefault(p.MinDen, 20)
	f := Finding{Observed: 100 * num / den}
	var peerNum, peerDen float64
	for _, r := range peers {
		peerNum += r.Num
		peerDen += r.Den
	}
	if den < minDen || peerDen <= 0 {
		f.Baseline = "too few cases or no peers"
		return f
	}
	z := p.z()
	theta := peerNum / peerDen
	f.Expected = 100 * theta
	lo, hi := Wilson(num, den, z)
	tau := math.Sqrt(Overdispersion(append(slices.Clone(peers), Rate{num, den}), minDen))
	f.Baseline = fmt.Sprintf("its %d peers' rate %.1f%% (%g of %g), spread between places %.1f points; its %.3g-sigma interval %.1f–%.1f%%",
		len(peers), 100*theta, peerNum, peerDen, 100*tau, z, 100*lo, 100*hi)
	if p.Higher {
		f.Score = 100 * (theta - hi)
		f.Flag = hi < theta
	} else {
		f.Score = 100 * (lo - theta)
		f.Flag = lo > theta
	}
	sd := math.Sqrt(theta*(1-theta)/den + tau*tau)
	worse := (num/den - theta) / sd
	if p.Higher {
		worse = -worse
	}
	f.Flag = f.Flag && worse > z && math.Abs(f.Observed-f.Expected) >= p.MinChange
	return f
}

// Overdispersion returns τ², the variance of the true rates of places
// beyond what chance gives (0 when chance explains their spread), from
// rates (those with at least minDen cases): Spiegelhalter's additive
// random-effects estimate, with φ taken robustly from the median |z|.
func Overdispersion(rates []Rate, minDen float64) float64 {
	var use []Rate
	var ps []float64
	for _, r := range rates {
		if r.Den >= minDen {
			use = append(use, r)
			ps = append(ps, r.Num/r.Den)
		}
	}
	k := len(use)
	if k < 3 {
		return 0
	}
	// The places' typical rate, their median: the pooled rate moves with
	// the outliers whose effect this keeps out.
	theta := median(ps)
	if theta <= 0 || theta >= 1 {
		return 0
	}
	zs := make([]float64, k)
	var sw, sw2 float64
	for i, r := range use {
		s2 := theta * (1 - theta) / r.Den
		zs[i] = (r.Num/r.Den - theta) / math.Sqrt(s2)
		w := 1 / s2
		sw += w
		sw2 += w * w
	}
	// φ, the ratio of the places' spread to chance's, from the median of
	// |z| (0.6745 for a standard normal): with eight streets, two far off
	// (a lagging one, one whose month went wrong) would dominate a mean of
	// z², even winsorised, and hide each other.
	abs := make([]float64, k)
	for i, z := range zs {
		abs[i] = math.Abs(z)
	}
	m := median(abs) / 0.6745
	phi := m * m
	if float64(k)*phi <= float64(k-1) {
		return 0
	}
	return (float64(k)*phi - float64(k-1)) / (sw - sw2/sw)
}

// Drop judges the rate of point i (100 × Num/Den) against the mean rate
// of the Window (default 3) periods before it: flagged when it is more
// than Points worse. Periods without cases or excluded are skipped.
func Drop(s []Point, i int, p Params) Finding {
	window := orDefault(p.Window, 3)
	points := orDefault(p.Points, 10)
	minDen := orDefault(p.MinDen, 20)
	f := Finding{}
	if s[i].Den < minDen {
		f.Baseline = "too few cases"
		return f
	}
	f.Observed = 100 * s[i].Num / s[i].Den
	var prev []float64
	for j := i - 1; j >= 0 && len(prev) < window; j-- {
		if s[j].Den >= minDen && !s[j].Excluded {
			prev = append(prev, 100*s[j].Num/s[j].Den)
		}
	}
	if len(prev) < window {
		f.Baseline = fmt.Sprintf("%d of the %d periods before it have enough cases", len(prev), window)
		return f
	}
	f.Expected = mean(prev)
	f.Baseline = fmt.Sprintf("the mean of the %d periods before it", window)
	change := f.Observed - f.Expected
	if p.Higher {
		change = -change
	}
	f.Score = change
	f.Flag = change > points
	return f
}

// Rising judges whether the count of point i rose in each of the Periods
// (default 3) periods up to it.
func Rising(s []Point, i int, p Params) Finding {
	n := orDefault(p.Periods, 3)
	f := Finding{Observed: s[i].Num}
	if i < n {
		f.Baseline = "too little history"
		return f
	}
	f.Expected = s[i-n].Num
	f.Baseline = fmt.Sprintf("%g %d periods before, rising since", s[i-n].Num, n)
	up := 0
	for j := i - n + 1; j <= i; j++ {
		if s[j].Num > s[j-1].Num {
			up++
		}
	}
	f.Score = float64(up)
	f.Flag = up == n && s[i].Num-s[i-n].Num >= p.MinChange
	return f
}

// ZScore is the peer detector data-observability tools ship: point i
// against the mean and standard deviation of the 14 points before it,
// whatever their class, flagged when |z| > 3.
func ZScore(s []Point, i int) Finding {
	f := Finding{Observed: s[i].Num}
	if i < 14 {
		f.Baseline = "fewer than 14 points"
		return f
	}
	var v []float64
	for j := i - 14; j < i; j++ {
		v = append(v, s[j].Num)
	}
	m, sd := mean(v), math.Sqrt(variance(v))
	f.Expected = m
	f.Baseline = "the mean of the 14 points before"
	if sd == 0 {
		f.Flag = s[i].Num != m
		f.Score = math.Inf(1)
		return f
	}
	f.Score = (s[i].Num - m) / sd
	f.Flag = math.Abs(f.Score) > 3
	return f
}

func className(c string) string {
	switch {
	case c == ClassWorkday:
		return "working"
	case c == ClassDayOff:
		return "days-off"
	case len(c) > len(classFestival) && c[:len(classFestival)] == classFestival:
		return "same Spring Festival day"
	case c == "":
		return "like"
	}
	return c
}
