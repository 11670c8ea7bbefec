package kube

// The Deployment controller's arithmetic, pure: the API server's defaults
// for a rollout (maxSurge 25% up, maxUnavailable 25% down) and the counts
// each step of a rollout is decided by.

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
)

// strategy reads a Deployment's rollout settings as the API server
// defaults and validates them: maxSurge 25% rounded up, maxUnavailable 25%
// rounded down, not both zero.
func strategy(d *appsv1.Deployment, replicas int) (Deployment, error) {
	out := Deployment{Strategy: "RollingUpdate", ProgressDeadline: 600, MinReadySeconds: int(d.Spec.MinReadySeconds), Paused: d.Spec.Paused}
	if d.Spec.ProgressDeadlineSeconds != nil {
		out.ProgressDeadline = int(*d.Spec.ProgressDeadlineSeconds)
	}
	if out.ProgressDeadline < 1 || out.MinReadySeconds < 0 || out.MinReadySeconds >= out.ProgressDeadline {
		return out, fmt.Errorf("spec.progressDeadlineSeconds: must be more than minReadySeconds, and at least 1")
	}
	surge, unavailable := intstr25(), intstr25()
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		out.Strategy = "Recreate"
		if d.Spec.Strategy.RollingUpdate != nil {
			return out, fmt.Errorf("spec.strategy.rollingUpdate: may not be specified when strategy type is 'Recreate'")
		}
		return out, nil
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surge = ru.MaxSurge.String()
		}
		if ru.MaxUnavailable != nil {
			unavailable = ru.MaxUnavailable.String()
		}
	}
	if _, err := scaled(surge, replicas, true); err != nil {
		return out, fmt.Errorf("spec.strategy.rollingUpdate.maxSurge: %v", err)
	}
	if _, err := scaled(unavailable, replicas, false); err != nil {
		return out, fmt.Errorf("spec.strategy.rollingUpdate.maxUnavailable: %v", err)
	}
	if strings.TrimSuffix(surge, "%") == "0" && strings.TrimSuffix(unavailable, "%") == "0" {
		return out, fmt.Errorf("spec.strategy.rollingUpdate.maxUnavailable: may not be 0 when maxSurge is 0")
	}
	out.MaxSurge, out.MaxUnavailable = surge, unavailable
	return out, nil
}

// limits are a rollout's maxSurge and maxUnavailable in pods, for
// replicas: percentages rounded up and down; both 0 after rounding makes
// maxUnavailable 1, as the deployment controller does.
func (d Deployment) limits() (surge, unavailable int) {
	surge, _ = scaled(d.MaxSurge, d.Replicas, true)
	unavailable, _ = scaled(d.MaxUnavailable, d.Replicas, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

func intstr25() string { return "25%" }

// scaled is a count or a percentage of replicas, rounded up (surge) or
// down (unavailable), as Kubernetes rounds them.
func scaled(v string, replicas int, up bool) (int, error) {
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		var n int
		if _, err := fmt.Sscan(pct, &n); err != nil || n < 0 || n > 100 {
			return 0, fmt.Errorf("%q is not a percentage from 0%% to 100%%", v)
		}
		x := n * replicas
		if up {
			return (x + 99) / 100, nil
		}
		return x / 100, nil
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count of pods or a percentage", v)
	}
	return n, nil
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func countReady(ps []Pod) int {
	n := 0
	for _, p := range ps {
		if p.Ready {
			n++
		}
	}
	return n
}

// ownerOf is the namespace and name of a pod's Deployment ("", "" for none).
func ownerOf(p Pod) (string, string) {
	ns, name, _ := strings.Cut(p.Owner, "/")
	return ns, name
}

func copyLabels(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// oldGoing picks the old pods a rollout's step removes: while at least
// minAvailable pods stay available (readyNew new ones, all Ready, and the
// old ones still Ready), unready ones first, as they serve nobody.
func oldGoing(olds []Pod, readyNew, minAvailable int) []Pod {
	olds = append([]Pod(nil), olds...)
	sort.SliceStable(olds, func(a, b int) bool { return !olds[a].Ready && olds[b].Ready })
	readyOld := countReady(olds)
	var going []Pod
	for _, p := range olds {
		if p.Ready && readyNew+readyOld-1 < minAvailable {
			break
		}
		going = append(going, p)
		if p.Ready {
			readyOld--
		}
	}
	return going
}
