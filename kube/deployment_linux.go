package kube

// The Deployment (and ReplicaSet) controller: a Deployment's pods follow
// its template and its count, a rolling update at a time (step: as many
// new pods as maxSurge allows, old ones removed only while
// replicas-maxUnavailable stay available), or all at once (Recreate);
// revisions are kept for rollout undo. Each step is decided by counts
// alone, so every VM of a real cluster, running the same commands, takes
// the same steps. Pods are named as a ReplicaSet names them:
// NAME-HASH-xxxxx.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"netlab/internal/lab"
)

func (c *Cluster) applyDeployment(ctx context.Context, d *appsv1.Deployment) (string, error) {
	t, _, err := template("", "", "", d.Spec.Template.Labels, d.Spec.Template.Spec)
	if err != nil {
		return "", err
	}
	replicas := 1
	if d.Spec.Replicas != nil {
		replicas = int(*d.Spec.Replicas)
	}
	dep, err := strategy(d, replicas)
	if err != nil {
		return "", &ManifestError{Doc: "Deployment " + d.Name, Reason: err.Error()}
	}
	dep.Namespace, dep.Name, dep.Replicas, dep.Selector, dep.Created = d.Namespace, d.Name, replicas, d.Spec.Selector.MatchLabels, time.Now().UTC()
	dep.Template = t
	verb := "created"
	if i := c.findDeployment(dep.Namespace, dep.Name); i >= 0 {
		old := c.Store.Deployments[i]
		dep.Created, dep.Revisions = old.Created, old.Revisions
		verb = "configured"
		if TemplateHash(old.Template) == TemplateHash(t) && old.Replicas == replicas && old.Paused == dep.Paused {
			verb = "unchanged"
			dep.Rolling, dep.Stalled, dep.Hash, dep.Deadline = old.Rolling, old.Stalled, old.Hash, old.Deadline
		}
		c.Store.Deployments[i] = dep
		if d := &c.Store.Deployments[i]; verb == "unchanged" && !d.Rolling && len(c.owned(d, true)) == replicas && len(c.owned(d, false)) == 0 {
			return "deployment.apps/" + dep.Name + " unchanged", nil // nothing to wait for
		}
	} else {
		c.Store.Deployments = append(c.Store.Deployments, dep)
	}
	if err := c.Rollout(ctx, dep.Namespace, dep.Name); err != nil {
		return "deployment.apps/" + dep.Name + " " + verb, err
	}
	return "deployment.apps/" + dep.Name + " " + verb, nil
}

// Rollout brings a Deployment's pods to its template and count, as the
// deployment controller does: a Recreate removes the old pods first; a
// RollingUpdate keeps at most replicas+maxSurge pods and at least
// replicas-maxUnavailable available ones, adding new pods and removing
// old ones only as new ones turn Ready (and stay so for minReadySeconds).
// A rollout whose new pods do not turn Ready within its progress deadline
// stops there, stalled, with both versions serving as they are.
func (c *Cluster) Rollout(ctx context.Context, ns, name string) error {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return invalidf("deployments.apps %q not found", name)
	}
	dep := &c.Store.Deployments[i]
	hash := TemplateHash(dep.Template)
	if n := len(dep.Revisions); n == 0 || dep.Revisions[n-1].Hash != hash {
		// A template seen before keeps its ReplicaSet's pods and takes the
		// next number, as Kubernetes reuses it.
		var kept []Revision
		for _, r := range dep.Revisions {
			if r.Hash != hash {
				kept = append(kept, r)
			}
		}
		next := 1
		if n > 0 {
			next = dep.Revisions[n-1].Number + 1
		}
		dep.Revisions = append(kept, Revision{Number: next, Hash: hash, Template: dep.Template})
	}
	dep.Hash, dep.Stalled = hash, ""
	if dep.Paused {
		return c.save()
	}
	if dep.Strategy == "Recreate" {
		for _, p := range c.owned(dep, false) {
			if err := c.removePods(ctx, p); err != nil {
				return err
			}
		}
	}
	dep.Deadline = time.Now().Add(time.Duration(dep.ProgressDeadline) * time.Second).UTC()
	dep.Rolling = true
	// Recorded before the first pod: interrupted, the rollout is the
	// controller's to go on with, as the count asked is (kubectl scale
	// writes it, then the controller acts).
	if err := c.save(); err != nil {
		return err
	}
	told := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := c.step(ctx, dep)
		if err != nil || st.done {
			return err
		}
		if st.waiting > 0 && sumCounts(st.remote) == st.waiting && !c.Dry() {
			// Only another machine's new pods hold the rollout: this
			// machine's controller goes on with it as they turn Ready (as
			// Kubernetes' controller does; kubectl returns at once too).
			if c.Log != nil {
				for _, n := range c.S.Topology.Nodes {
					if k := st.remote[n.Name]; k > 0 {
						fmt.Fprintf(c.Log, "The rollout of deployment %s waits for %d new pod(s) on %s, which that machine builds when the same command runs there (netlab has no control plane); it goes on by itself then (netlab rollout status deployment/%s).\n",
							dep.Name, k, n.Name, dep.Name)
					}
				}
			}
			return c.save()
		}
		if !told && c.Log != nil && len(st.remote) > 0 {
			for _, n := range c.S.Topology.Nodes {
				if k := st.remote[n.Name]; k > 0 {
					fmt.Fprintf(c.Log, "Waiting for %d pod(s) of deployment %s on %s: that machine builds them when the same command runs there (netlab has no control plane).\n", k, dep.Name, n.Name)
				}
			}
			told = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// owned are a Deployment's pods of its current template (current) or of
// the others.
func (c *Cluster) owned(dep *Deployment, current bool) []Pod {
	owner := dep.Namespace + "/" + dep.Name
	var out []Pod
	for _, p := range c.Store.Pods {
		if p.Owner == owner && (p.Template.Labels["pod-template-hash"] == dep.Hash) == current {
			out = append(out, p)
		}
	}
	return out
}

// stepState is where one step of a rollout left it.
type stepState struct {
	done bool
	// waiting new pods not available yet, and how many of them are on
	// each other machine.
	waiting int
	remote  map[string]int
}

// step takes a rollout as far as it goes without waiting: surplus new pods
// go; new pods come, as many as maxSurge allows; once every new pod is
// available (Ready for minReadySeconds), old ones go while enough stay
// available, and again. Each step thus depends on the arithmetic only,
// never on the moment a pod turned Ready, so that the nodes of a real
// cluster, each running the rollout, take the same steps. The last step
// (no old pod left) waits only for this machine's pods: the others' join
// their Services as their own machines build them. Past the progress
// deadline, a rollout still waiting stalls, both versions serving as they
// are.
func (c *Cluster) step(ctx context.Context, dep *Deployment) (stepState, error) {
	hash := dep.Hash
	tmpl := dep.Template
	tmpl.Labels = copyLabels(dep.Template.Labels)
	tmpl.Labels["pod-template-hash"] = hash
	owner := dep.Namespace + "/" + dep.Name
	replicas := dep.Replicas
	maxSurge, maxUnavailable := dep.limits()
	for {
		olds, news := c.owned(dep, false), c.owned(dep, true)
		// Surplus new pods (scaled down) go first, the newest first.
		for len(news) > replicas {
			if err := c.removePods(ctx, news[len(news)-1]); err != nil {
				return stepState{}, err
			}
			news = news[:len(news)-1]
		}
		// Scale up: as many new pods as the surge allows.
		room := replicas + maxSurge - len(olds) - len(news)
		for k := 0; k < room && len(news)+k < replicas; k++ {
			p := Pod{Namespace: dep.Namespace, Name: c.podName(*dep), Template: tmpl, Owner: owner}
			if err := c.startPod(ctx, p); err != nil {
				return stepState{}, err
			}
		}
		news = c.owned(dep, true)
		if c.refreshReady(news) {
			if err := c.Sync(ctx); err != nil {
				return stepState{}, err
			}
		}
		st := stepState{remote: map[string]int{}}
		for _, p := range c.owned(dep, true) {
			if !p.Ready && !c.Dry() {
				st.waiting++
				if !c.local(p.Node) {
					st.remote[p.Node]++
				}
			}
		}
		last := len(c.owned(dep, false)) == 0 && len(news) == replicas
		if st.waiting > 0 && last && sumCounts(st.remote) == st.waiting {
			if c.Log != nil {
				for _, n := range c.S.Topology.Nodes {
					if k := st.remote[n.Name]; k > 0 {
						fmt.Fprintf(c.Log, "%d pod(s) of deployment %s are %s's: they come up when the same command runs there (netlab has no control plane), and join their Services as they turn Ready.\n", k, dep.Name, n.Name)
					}
				}
			}
			st.waiting, st.remote = 0, map[string]int{}
		}
		if st.waiting > 0 {
			if time.Now().After(dep.Deadline) {
				dep.Stalled = fmt.Sprintf("deployment %q exceeded its progress deadline: %d of %d new pods are ready", dep.Name, len(news)-st.waiting, replicas)
				dep.Rolling = false
				_ = c.save()
				return st, errors.New(dep.Stalled)
			}
			return st, c.save()
		}
		olds = c.owned(dep, false)
		c.refreshReady(olds)
		olds = c.owned(dep, false)
		if len(olds) == 0 && len(news) == replicas {
			dep.Rolling = false
			if err := c.Sync(ctx); err != nil {
				return st, err
			}
			st.done = true
			return st, c.save()
		}
		going := oldGoing(olds, len(news), replicas-maxUnavailable)
		if len(going) > 0 {
			if err := c.removePods(ctx, going...); err != nil {
				return st, err
			}
		}
		if err := c.Sync(ctx); err != nil {
			return st, err
		}
		if err := c.save(); err != nil {
			return st, err
		}
		if len(going) == 0 && room <= 0 {
			// Not reached by the arithmetic (maxSurge+maxUnavailable ≥ 1
			// always frees a place); a guard against spinning.
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// Continue goes on with the rollouts that wait for another machine's pods,
// as far as each goes now: what the lab's controller does every period.
func (c *Cluster) Continue(ctx context.Context) error {
	for i := range c.Store.Deployments {
		dep := &c.Store.Deployments[i]
		if !dep.Rolling || dep.Paused || dep.Stalled != "" {
			continue
		}
		if _, err := c.step(ctx, dep); err != nil {
			return err
		}
	}
	return nil
}

// podName names a Deployment's pod as Kubernetes does: the Deployment's
// name, its template's hash, and five characters of Kubernetes' alphabet.
// Kubernetes draws them at random; netlab derives them from the pods made
// so far, so that the nodes of a real cluster, with no control plane,
// name every pod alike.
func (c *Cluster) podName(d Deployment) string {
	for {
		c.Store.Seq++
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%s/%d", d.Namespace, d.Name, d.Hash, c.Store.Seq)))
		b := make([]byte, 5)
		for i := range b {
			b[i] = "bcdfghjklmnpqrstvwxz2456789"[int(sum[i])%27]
		}
		name := d.Name + "-" + d.Hash + "-" + string(b)
		taken := false
		for _, p := range c.Store.Pods {
			taken = taken || p.Name == name
		}
		if !taken {
			return name
		}
	}
}

// Undo rolls a Deployment back to a revision (the one before the current
// one when to is 0), as kubectl rollout undo does.
func (c *Cluster) Undo(ctx context.Context, ns, name string, to int) (string, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", invalidf("deployments.apps %q not found", name)
	}
	revs := c.Store.Deployments[i].Revisions
	var target *Revision
	for k := range revs {
		if (to == 0 && k == len(revs)-2) || (to != 0 && revs[k].Number == to) {
			target = &revs[k]
		}
	}
	if target == nil {
		if to == 0 {
			return "", invalidf("no rollout history found for deployment %q", name)
		}
		return "", invalidf("unable to find specified revision %d in history", to)
	}
	c.Store.Deployments[i].Template = target.Template
	return "deployment.apps/" + name + " rolled back", c.Rollout(ctx, ns, name)
}

// History is a Deployment's revisions, oldest first.
func (c *Cluster) History(ns, name string) ([]Revision, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return nil, invalidf("deployments.apps %q not found", name)
	}
	return c.Store.Deployments[i].Revisions, nil
}

// Scale sets a Deployment's replicas.
func (c *Cluster) Scale(ctx context.Context, ns, name string, n int) (string, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", invalidf("deployments.apps %q not found", name)
	}
	if n < 0 || n > 256 {
		return "", invalidf("--replicas %d: from 0 to 256 in this lab", n)
	}
	d := &c.Store.Deployments[i]
	if d.Replicas == n && len(c.owned(d, true)) == n && len(c.owned(d, false)) == 0 {
		// Nothing to roll out: kubectl scale to the same count returns
		// at once, and so does this (a pod that is not Ready yet is the
		// kubelet's to mend, not a reason to wait out the deadline).
		return "deployment.apps/" + name + " scaled", nil
	}
	if more := n - len(c.owned(d, true)); more > 0 && !c.Dry() {
		if err := lab.CheckNeigh(more); err != nil {
			return "", err
		}
	}
	d.Replicas = n
	return "deployment.apps/" + name + " scaled", c.Rollout(ctx, ns, name)
}

// SetImage changes a container's image, which rolls the Deployment out.
func (c *Cluster) SetImage(ctx context.Context, ns, name, container, img string) (string, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", invalidf("deployments.apps %q not found", name)
	}
	m := image.FindStringSubmatch(img)
	if m == nil {
		return "", invalidf("%q: netlab runs netlab/web:TAG", img)
	}
	t := c.Store.Deployments[i].Template
	t.Containers = append([]Container{}, t.Containers...)
	found := false
	for k := range t.Containers {
		if t.Containers[k].Name == container {
			t.Containers[k].Tag, found = m[1], true
		}
	}
	if !found {
		return "", invalidf("unable to find container named %q", container)
	}
	c.Store.Deployments[i].Template = t
	return "deployment.apps/" + name + " image updated", c.Rollout(ctx, ns, name)
}

// Pause and Resume stop and restart a Deployment's rollouts.
func (c *Cluster) Pause(ctx context.Context, ns, name string, paused bool) (string, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", invalidf("deployments.apps %q not found", name)
	}
	c.Store.Deployments[i].Paused = paused
	if paused {
		return "deployment.apps/" + name + " paused", c.save()
	}
	return "deployment.apps/" + name + " resumed", c.Rollout(ctx, ns, name)
}

// Status says where a Deployment's rollout is, as kubectl rollout status
// does, and whether it is complete.
func (c *Cluster) Status(ns, name string) (string, bool, error) {
	i := c.findDeployment(ns, name)
	if i < 0 {
		return "", false, invalidf("deployments.apps %q not found", name)
	}
	d := c.Store.Deployments[i]
	owner := ns + "/" + name
	updated, ready, total := 0, 0, 0
	for _, p := range c.Store.Pods {
		if p.Owner != owner {
			continue
		}
		total++
		if p.Template.Labels["pod-template-hash"] == d.Hash {
			updated++
			if p.Ready {
				ready++
			}
		}
	}
	switch {
	case d.Paused:
		return fmt.Sprintf("deployment %q is paused: %d of %d updated replicas are available", name, ready, d.Replicas), false, nil
	case d.Stalled != "":
		return d.Stalled, false, nil
	case updated < d.Replicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", name, updated, d.Replicas), false, nil
	case total > updated:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", name, total-updated), false, nil
	case ready < d.Replicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", name, ready, d.Replicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", name), true, nil
}
