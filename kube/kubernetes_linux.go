package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"time"

	"netlab/internal/lab"
	"netlab/internal/names"
)

// The Service every cluster has: default/kubernetes, the API server's,
// at the service range's first address, its endpoint the control-plane
// node's address on 6443 (kubeadm's). netlab has no API server (its
// commands play that part), so behind the Service listens an honest
// stand-in on the first node: it speaks TLS, as the API server does, and
// answers every request with the Status an unavailable API server would
// give, saying what this lab is.

// KubernetesIP is default/kubernetes's ClusterIP.
var KubernetesIP = netip.MustParseAddr("10.96.0.1")

// APIPort is where the API server listens on the control-plane node.
const APIPort = 6443

// controlPlane is the node that plays the control plane: the first.
func (c *Cluster) controlPlane() string { return c.S.Topology.Nodes[0].Name }

// ensureKubernetes gives the cluster its default/kubernetes Service once,
// and starts the listener behind it on the control-plane node when that
// node is this machine's.
func (c *Cluster) ensureKubernetes() error {
	if c.findService("default", "kubernetes") >= 0 {
		return nil
	}
	cp := c.nodeNamed(c.controlPlane())
	c.Store.Services = append(c.Store.Services, Service{Namespace: "default", Name: "kubernetes", Type: "ClusterIP", System: "apiserver",
		ClusterIP: KubernetesIP, Created: time.Now().UTC(),
		Ports:  []Port{{Name: "https", Protocol: "TCP", Port: 443, TargetPort: APIPort}},
		Static: []Endpoint{{IP: cp.IP, Port: APIPort}}})
	if c.Dry() || !c.local(cp.Name) {
		return nil
	}
	args := []string{names.APIName, "--lab", c.S.Lab, "--host", cp.Name}
	if err := lab.StartProcess(c.S.Lab, cp.NS, c.Exe, args, "", "api.log"); err != nil {
		return fmt.Errorf("the listener behind default/kubernetes: %w", err)
	}
	return nil
}

// APIStatus is what the listener answers: a Status, as the API server
// writes one (kind Status, apiVersion v1).
func APIStatus(lab string) map[string]any {
	return map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "reason": "ServiceUnavailable", "code": http.StatusServiceUnavailable,
		"message": fmt.Sprintf("this is netlab's lab %s, which has no Kubernetes API server: default/kubernetes (%s:443) leads here, "+
			"to a stand-in on the control-plane node's port %d; netlab's own commands (netlab apply, get, delete) play the API server's part", lab, KubernetesIP, APIPort),
	}
}

// ServeAPI answers on APIPort of the namespace it runs in, over TLS with a
// certificate it makes for itself, every request with APIStatus, until ctx
// ends; ready is told once it listens.
func ServeAPI(ctx context.Context, lab string, ready func(error)) error {
	cert, err := selfSigned()
	if err != nil {
		ready(err)
		return err
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", APIPort))
	if err != nil {
		ready(err)
		return err
	}
	body, _ := json.MarshalIndent(APIStatus(lab), "", "  ")
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write(append(body, '\n'))
		})}
	errs := make(chan error, 1)
	go func() { errs <- srv.ServeTLS(ln, "", "") }()
	ready(nil)
	select {
	case <-ctx.Done():
		return srv.Close()
	case err := <-errs:
		return err
	}
}

// selfSigned is a certificate for the names the API server's has
// (kubernetes, kubernetes.default.svc..., its ClusterIP), signed by itself.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-apiserver (netlab's stand-in)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + Domain[:len(Domain)-1]},
		IPAddresses: []net.IP{net.IP(KubernetesIP.AsSlice())}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
