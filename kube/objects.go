//lint:file-ignore SA1019 get endpoints shows v1 Endpoints, as kubectl get endpoints still does (with its deprecation warning).

package kube

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The store's objects as the API server shows them (kubectl get -o
// json|yaml): the k8s.io/api types, so that a learner's kubectl and jq
// habits carry over (.spec.clusterIP, .status.podIP,
// .subsets[].addresses[].ip). What only netlab knows rides in annotations
// under AnnotationPrefix.

// AnnotationPrefix starts the annotations netlab adds: the pod's network
// namespace, say.
const AnnotationPrefix = "netlab.dev/"

// NetnsAnnotation is a pod's network namespace (ip netns exec NAME ...).
const NetnsAnnotation = AnnotationPrefix + "netns"

func meta(ns, name string, labels map[string]string, created metav1.Time) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, CreationTimestamp: created}
}

func containers(t PodTemplate) []corev1.Container {
	var out []corev1.Container
	for _, c := range t.Containers {
		ct := corev1.Container{Name: c.Name, Image: "netlab/web:" + c.Tag}
		for _, p := range c.Ports {
			proto := corev1.ProtocolTCP
			if p.Protocol == "UDP" {
				proto = corev1.ProtocolUDP
			}
			ct.Ports = append(ct.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: int32(p.Port), Protocol: proto})
		}
		if r := c.Readiness; r != nil {
			pr := &corev1.Probe{InitialDelaySeconds: int32(r.InitialDelay), PeriodSeconds: int32(r.Period), TimeoutSeconds: int32(max(r.Timeout, 1))}
			if r.TCP {
				pr.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(r.Port))}
			} else {
				pr.HTTPGet = &corev1.HTTPGetAction{Path: r.Path, Port: intstr.FromInt32(int32(r.Port))}
			}
			ct.ReadinessProbe = pr
		}
		out = append(out, ct)
	}
	return out
}

// PodObject is pod p as the API shows it, on a node at hostIP.
func PodObject(p Pod, hostIP string) corev1.Pod {
	o := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: meta(p.Namespace, p.Name, p.Template.Labels, metav1.NewTime(p.Created)),
		Spec:       corev1.PodSpec{NodeName: p.Node, Containers: containers(p.Template)}}
	o.Annotations = map[string]string{NetnsAnnotation: string(p.NS)}
	if p.System == "dns" {
		o.Spec.Containers = []corev1.Container{{Name: "coredns", Image: "netlab/dns (CoreDNS's answers)",
			Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP}}}}
	}
	if p.Owner != "" && len(p.Template.Labels["pod-template-hash"]) > 0 {
		_, dep, _ := strings.Cut(p.Owner, "/")
		o.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: dep + "-" + p.Template.Labels["pod-template-hash"]}}
	}
	ready := corev1.ConditionFalse
	if p.Ready {
		ready = corev1.ConditionTrue
	}
	ips := []corev1.PodIP{{IP: p.IP.String()}}
	if p.IP6.IsValid() {
		ips = append(ips, corev1.PodIP{IP: p.IP6.String()}) // dual-stack: IPv4, the cluster's first family, first
	}
	o.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: hostIP, PodIP: p.IP.String(), PodIPs: ips,
		StartTime: &o.CreationTimestamp,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
			{Type: corev1.ContainersReady, Status: ready},
			{Type: corev1.PodReady, Status: ready},
		}}
	for _, c := range o.Spec.Containers {
		st := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: p.Ready, RestartCount: int32(p.Restarts), Started: ptr(p.DeadSince.IsZero())}
		if p.DeadSince.IsZero() {
			st.State.Running = &corev1.ContainerStateRunning{StartedAt: o.CreationTimestamp}
		} else {
			st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
		}
		o.Status.ContainerStatuses = append(o.Status.ContainerStatuses, st)
	}
	return o
}

func ptr[T any](v T) *T { return &v }

// ServiceObject is Service s as the API shows it.
func ServiceObject(s Service) corev1.Service {
	o := corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(s.Namespace, s.Name, nil, metav1.NewTime(s.Created)),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceType(s.Type), Selector: s.Selector, SessionAffinity: corev1.ServiceAffinityNone,
			IPFamilyPolicy: ptr(corev1.IPFamilyPolicy(orSingle(s.Policy)))}}
	for _, f := range s.IPFamilies() {
		o.Spec.IPFamilies = append(o.Spec.IPFamilies, corev1.IPFamily(f))
	}
	if s.ClusterIP.IsValid() {
		o.Spec.ClusterIP = s.ClusterIP.String()
		for _, ip := range s.ClusterIPs() {
			o.Spec.ClusterIPs = append(o.Spec.ClusterIPs, ip.String())
		}
	} else {
		o.Spec.ClusterIP, o.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
	}
	if s.AffinitySeconds > 0 {
		o.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		o.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(s.AffinitySeconds))}}
	}
	if s.Type == string(corev1.ServiceTypeNodePort) {
		o.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	for _, p := range s.Ports {
		sp := corev1.ServicePort{Name: p.Name, Protocol: corev1.Protocol(p.Protocol), Port: int32(p.Port), NodePort: int32(p.NodePort),
			TargetPort: intstr.FromInt32(int32(p.TargetPort))}
		if p.TargetName != "" {
			sp.TargetPort = intstr.FromString(p.TargetName)
		}
		o.Spec.Ports = append(o.Spec.Ports, sp)
	}
	return o
}

// EndpointsObject is Service s's Endpoints as the API shows them: a
// subset per port (the ready endpoints of that port), each address with
// its pod and node.
func EndpointsObject(s Service, eps map[string][]Endpoint, pods []Pod) corev1.Endpoints {
	o := corev1.Endpoints{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: meta(s.Namespace, s.Name, nil, metav1.NewTime(s.Created))}
	byIP := map[string]Pod{}
	for _, p := range pods {
		if p.Namespace == s.Namespace {
			byIP[p.IP.String()] = p
		}
	}
	for _, p := range s.Ports {
		list := eps[p.Name]
		if len(list) == 0 {
			continue
		}
		sub := corev1.EndpointSubset{}
		port := list[0].Port
		for _, e := range list {
			a := corev1.EndpointAddress{IP: e.IP.String()}
			if pod, ok := byIP[a.IP]; ok {
				a.NodeName = ptr(pod.Node)
				a.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name}
			}
			sub.Addresses = append(sub.Addresses, a)
		}
		sort.Slice(sub.Addresses, func(i, j int) bool { return sub.Addresses[i].IP < sub.Addresses[j].IP })
		sub.Ports = []corev1.EndpointPort{{Name: p.Name, Port: int32(port), Protocol: corev1.Protocol(p.Protocol)}}
		o.Subsets = append(o.Subsets, sub)
	}
	return o
}

// DeploymentObject is Deployment d as the API shows it, with ready of its
// pods ready.
func DeploymentObject(d Deployment, ready int) appsv1.Deployment {
	o := appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(d.Namespace, d.Name, nil, metav1.NewTime(d.Created)),
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(d.Replicas)), Selector: &metav1.LabelSelector{MatchLabels: d.Selector},
			Template:        corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: d.Template.Labels}, Spec: corev1.PodSpec{Containers: containers(d.Template)}},
			Strategy:        appsv1.DeploymentStrategy{Type: appsv1.DeploymentStrategyType(d.Strategy)},
			MinReadySeconds: int32(d.MinReadySeconds), ProgressDeadlineSeconds: ptr(int32(d.ProgressDeadline)), Paused: d.Paused}}
	if d.Strategy == string(appsv1.RollingUpdateDeploymentStrategyType) {
		surge, unavail := intstr.Parse(d.MaxSurge), intstr.Parse(d.MaxUnavailable)
		o.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}
	}
	if n := len(d.Revisions); n > 0 {
		o.Annotations = map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(d.Revisions[n-1].Number)}
	}
	o.Status = appsv1.DeploymentStatus{Replicas: int32(d.Replicas), ReadyReplicas: int32(ready), AvailableReplicas: int32(ready),
		UpdatedReplicas: int32(d.Replicas)}
	return o
}

// ReplicaSetObject is the ReplicaSet of Deployment d's revision r, as the
// API shows it: desired, current and ready pods.
func ReplicaSetObject(d Deployment, r Revision, desired, current, ready int) appsv1.ReplicaSet {
	name := d.Name + "-" + r.Hash
	labels := map[string]string{}
	for k, v := range r.Template.Labels {
		labels[k] = v
	}
	o := appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: meta(d.Namespace, name, labels, metav1.NewTime(d.Created)),
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(desired)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"pod-template-hash": r.Hash}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: r.Template.Labels}, Spec: corev1.PodSpec{Containers: containers(r.Template)}}},
		Status: appsv1.ReplicaSetStatus{Replicas: int32(current), ReadyReplicas: int32(ready), AvailableReplicas: int32(ready)}}
	o.Annotations = map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(r.Number)}
	o.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, Controller: ptr(true)}}
	for k, v := range d.Selector {
		o.Spec.Selector.MatchLabels[k] = v
	}
	return o
}
