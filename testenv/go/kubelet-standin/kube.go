package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// The few API calls a kubelet makes for CSI volumes, over plain HTTPS: a
// client-go dependency would cost minutes of build for five requests.
type kubeClient struct {
	base  string
	token string
	http  *http.Client
}

type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message) }

func newKubeClient(server, caFile, tokenFile string) (*kubeClient, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("reading the stand-in's token: %w", err)
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 8}
	return &kubeClient{base: strings.TrimRight(server, "/"), token: strings.TrimSpace(string(token)), http: &http.Client{Transport: transport}}, nil
}

func (k *kubeClient) do(ctx context.Context, method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, k.base+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+k.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := k.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		var status struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &status)
		return &apiError{Status: res.StatusCode, Message: status.Message}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Pods as far as CSI volumes need them.
type Pod struct {
	Metadata struct {
		Name              string  `json:"name"`
		Namespace         string  `json:"namespace"`
		UID               string  `json:"uid"`
		ResourceVersion   string  `json:"resourceVersion"`
		DeletionTimestamp *string `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		NodeName           string   `json:"nodeName"`
		ServiceAccountName string   `json:"serviceAccountName"`
		Volumes            []Volume `json:"volumes"`
	} `json:"spec"`
	Status struct {
		Phase string `json:"phase"`
	} `json:"status"`
}

type Volume struct {
	Name string     `json:"name"`
	CSI  *CSISource `json:"csi"`
}

type CSISource struct {
	Driver               string            `json:"driver"`
	ReadOnly             *bool             `json:"readOnly"`
	FSType               *string           `json:"fsType"`
	VolumeAttributes     map[string]string `json:"volumeAttributes"`
	NodePublishSecretRef *struct {
		Name string `json:"name"`
	} `json:"nodePublishSecretRef"`
}

type podList struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Items []Pod `json:"items"`
}

type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// watchPods lists and watches the pods bound to a node, as the kubelet's pod
// source does, calling sync with the full set after every list and with each
// change after that, until ctx ends.
func (k *kubeClient) watchPods(ctx context.Context, node string, onList func([]Pod), onEvent func(kind string, p Pod)) {
	selector := url.QueryEscape("spec.nodeName=" + node)
	for ctx.Err() == nil {
		var list podList
		if err := k.do(ctx, http.MethodGet, "/api/v1/pods?fieldSelector="+selector, nil, &list); err != nil {
			logf("listing pods of %s: %v", node, err)
			sleepCtx(ctx, time.Second)
			continue
		}
		onList(list.Items)
		rv := list.Metadata.ResourceVersion
		for ctx.Err() == nil {
			next, relist := k.watchOnce(ctx, "/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&fieldSelector="+selector+"&resourceVersion="+url.QueryEscape(rv), onEvent)
			if relist {
				break
			}
			if next != "" {
				rv = next
			}
		}
	}
}

// watchOnce follows one watch stream; it returns the last resourceVersion
// seen, and whether the stream asked for a fresh list (410 Gone).
func (k *kubeClient) watchOnce(ctx context.Context, path string, onEvent func(kind string, p Pod)) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.base+path, nil)
	if err != nil {
		return "", true
	}
	req.Header.Set("Authorization", "Bearer "+k.token)
	res, err := k.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			logf("watching pods: %v", err)
			sleepCtx(ctx, time.Second)
		}
		return "", false
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusGone {
		return "", true
	}
	if res.StatusCode != http.StatusOK {
		logf("watching pods: HTTP %d", res.StatusCode)
		sleepCtx(ctx, time.Second)
		return "", true
	}
	rv := ""
	decoder := json.NewDecoder(bufio.NewReader(res.Body))
	for {
		var ev watchEvent
		if err := decoder.Decode(&ev); err != nil {
			return rv, false
		}
		switch ev.Type {
		case "ERROR":
			var status struct {
				Code int `json:"code"`
			}
			_ = json.Unmarshal(ev.Object, &status)
			return rv, true
		case "BOOKMARK", "ADDED", "MODIFIED", "DELETED":
			var p Pod
			if err := json.Unmarshal(ev.Object, &p); err != nil {
				continue
			}
			rv = p.Metadata.ResourceVersion
			if ev.Type != "BOOKMARK" {
				onEvent(ev.Type, p)
			}
		}
	}
}

// The CSIDriver object as the kubelet reads it for a mount.
type CSIDriver struct {
	Spec struct {
		PodInfoOnMount       *bool          `json:"podInfoOnMount"`
		RequiresRepublish    *bool          `json:"requiresRepublish"`
		VolumeLifecycleModes []string       `json:"volumeLifecycleModes"`
		TokenRequests        []TokenRequest `json:"tokenRequests"`
	} `json:"spec"`
}

type TokenRequest struct {
	Audience          string `json:"audience"`
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
}

func (k *kubeClient) csiDriver(ctx context.Context, name string) (*CSIDriver, error) {
	var d CSIDriver
	if err := k.do(ctx, http.MethodGet, "/apis/storage.k8s.io/v1/csidrivers/"+url.PathEscape(name), nil, &d); err != nil {
		return nil, fmt.Errorf("reading CSIDriver %s: %w", name, err)
	}
	return &d, nil
}

// TokenRequestStatus is what the kubelet passes on to the driver per audience.
type TokenRequestStatus struct {
	Token               string `json:"token"`
	ExpirationTimestamp string `json:"expirationTimestamp"`
}

func (k *kubeClient) requestToken(ctx context.Context, pod *Pod, serviceAccount string, tr TokenRequest) (TokenRequestStatus, error) {
	// As the kubelet: an empty audience asks for the API server's own.
	audiences := []string{tr.Audience}
	if tr.Audience == "" {
		audiences = []string{}
	}
	body := map[string]any{
		"apiVersion": "authentication.k8s.io/v1",
		"kind":       "TokenRequest",
		"spec": map[string]any{
			"audiences":         audiences,
			"expirationSeconds": tr.ExpirationSeconds,
			"boundObjectRef":    map[string]string{"apiVersion": "v1", "kind": "Pod", "name": pod.Metadata.Name, "uid": pod.Metadata.UID},
		},
	}
	var out struct {
		Status TokenRequestStatus `json:"status"`
	}
	path := fmt.Sprintf("/api/v1/namespaces/%s/serviceaccounts/%s/token", url.PathEscape(pod.Metadata.Namespace), url.PathEscape(serviceAccount))
	if err := k.do(ctx, http.MethodPost, path, body, &out); err != nil {
		return TokenRequestStatus{}, fmt.Errorf("requesting a token of %s/%s for audience %s: %w", pod.Metadata.Namespace, serviceAccount, tr.Audience, err)
	}
	return out.Status, nil
}

func (k *kubeClient) secretData(ctx context.Context, namespace, name string) (map[string]string, error) {
	var s struct {
		Data map[string][]byte `json:"data"`
	}
	if err := k.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/namespaces/%s/secrets/%s", url.PathEscape(namespace), url.PathEscape(name)), nil, &s); err != nil {
		return nil, fmt.Errorf("reading nodePublishSecretRef %s/%s: %w", namespace, name, err)
	}
	out := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
