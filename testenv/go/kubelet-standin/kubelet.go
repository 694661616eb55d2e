package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func logf(format string, args ...any) { log.Printf(format, args...) }

// The kubelet's volume retry backoff (nestedpendingoperations).
const (
	initialRetry = 500 * time.Millisecond
	maxRetry     = 2*time.Minute + 2*time.Second
)

type kubelet struct {
	api     *kubeClient
	cfg     Config
	drivers *driverCache
	tokens  *tokenCache

	mu         sync.Mutex
	volumes    map[string]*volume            // by podUID/volumeName
	byPod      map[string]map[string]*volume // by podUID, then volume name
	podNode    map[string]string             // podUID → node, for pods we track
	registered map[string]bool               // node → its drivers answered the handshake
	synced     map[string]bool               // node → its first pod list was handled
	stopping   bool
}

type volume struct {
	key        string
	node       string
	socket     string
	driver     string
	name       string
	targetPath string
	volumeID   string

	// op serializes the CSI calls of one volume, as the kubelet's
	// nestedpendingoperations does.
	op sync.Mutex

	// The fields below are guarded by kubelet.mu.
	pod         Pod
	src         CSISource
	removed     bool
	held        bool // periodic republish held back (a lagging pod worker)
	published   bool
	publishes   int
	failures    int
	lastError   string
	lastPublish time.Time
	lastTook    time.Duration // of the last NodePublishVolume that succeeded
	backoff     time.Duration
	timer       *time.Timer
}

// volumeStatus is what the control API reports; it carries no token and no
// secret, only what happened.
type volumeStatus struct {
	Namespace   string `json:"namespace"`
	Pod         string `json:"pod"`
	UID         string `json:"uid"`
	Volume      string `json:"volume"`
	Node        string `json:"node"`
	Driver      string `json:"driver"`
	TargetPath  string `json:"targetPath"`
	Published   bool   `json:"published"`
	Removed     bool   `json:"removed"`
	Held        bool   `json:"held"`
	Publishes   int    `json:"publishes"`
	Failures    int    `json:"failures"`
	LastError   string `json:"lastError,omitempty"`
	LastPublish string `json:"lastPublish,omitempty"`
	// LastPublishMs is how long the last successful publish took (token, CSI calls, the driver's fetch and write).
	LastPublishMs float64 `json:"lastPublishMs,omitempty"`
}

func newKubelet(api *kubeClient, cfg Config) *kubelet {
	return &kubelet{
		api:        api,
		cfg:        cfg,
		drivers:    &driverCache{api: api, ttl: 2 * time.Second, m: map[string]cachedDriver{}},
		tokens:     &tokenCache{api: api, m: map[string]cachedToken{}},
		volumes:    map[string]*volume{},
		byPod:      map[string]map[string]*volume{},
		podNode:    map[string]string{},
		registered: map[string]bool{},
		synced:     map[string]bool{},
	}
}

func (k *kubelet) run(ctx context.Context) {
	for _, n := range k.cfg.Nodes {
		go func(n NodeConfig) {
			k.register(ctx, n)
			k.api.watchPods(ctx, n.Name, func(pods []Pod) { k.onList(n, pods) }, func(kind string, p Pod) { k.onEvent(n, kind, p) })
		}(n)
	}
}

// register waits for each driver of the node to answer the handshake.
func (k *kubelet) register(ctx context.Context, n NodeConfig) {
	for driver, socket := range n.Drivers {
		last := time.Time{}
		for ctx.Err() == nil {
			err := pluginInfo(ctx, socket, driver, n.Name)
			if err == nil {
				logf("node %s: driver %s registered at %s", n.Name, driver, socket)
				break
			}
			if time.Since(last) > 5*time.Second {
				logf("node %s: waiting for driver %s at %s: %v", n.Name, driver, socket, err)
				last = time.Now()
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
	k.mu.Lock()
	k.registered[n.Name] = true
	k.mu.Unlock()
}

func (k *kubelet) ready() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range k.cfg.Nodes {
		if !k.registered[n.Name] || !k.synced[n.Name] {
			return false
		}
	}
	return true
}

func (k *kubelet) onList(n NodeConfig, pods []Pod) {
	live := map[string]bool{}
	for _, p := range pods {
		live[p.Metadata.UID] = true
		k.podChanged(n, p)
	}
	k.mu.Lock()
	var gone []string
	for uid, node := range k.podNode {
		if node == n.Name && !live[uid] {
			gone = append(gone, uid)
		}
	}
	k.synced[n.Name] = true
	k.mu.Unlock()
	for _, uid := range gone {
		k.podGone(uid)
	}
}

func (k *kubelet) onEvent(n NodeConfig, kind string, p Pod) {
	if kind == "DELETED" {
		k.podGone(p.Metadata.UID)
		return
	}
	k.podChanged(n, p)
}

// A pod that is being deleted or has finished gets its volumes torn down; a
// pod bound to the node gets its CSI volumes of registered drivers published.
func (k *kubelet) podChanged(n NodeConfig, p Pod) {
	if p.Metadata.DeletionTimestamp != nil || p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
		k.podGone(p.Metadata.UID)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopping {
		return
	}
	uid := p.Metadata.UID
	for _, vol := range p.Spec.Volumes {
		if vol.CSI == nil {
			continue
		}
		socket, ok := n.Drivers[vol.CSI.Driver]
		if !ok {
			continue
		}
		if v := k.byPod[uid][vol.Name]; v != nil {
			v.pod = p
			continue
		}
		v := &volume{
			key:        uid + "/" + vol.Name,
			node:       n.Name,
			socket:     socket,
			driver:     vol.CSI.Driver,
			name:       vol.Name,
			targetPath: filepath.Join(k.cfg.PodsDir, uid, "volumes", "kubernetes.io~csi", vol.Name, "mount"),
			volumeID:   fmt.Sprintf("csi-%x", sha256.Sum256([]byte(uid+vol.Name))),
			pod:        p,
			src:        *vol.CSI,
		}
		if k.byPod[uid] == nil {
			k.byPod[uid] = map[string]*volume{}
		}
		k.byPod[uid][vol.Name] = v
		k.volumes[v.key] = v
		k.podNode[uid] = n.Name
		k.scheduleLocked(v, 0)
	}
}

func (k *kubelet) podGone(uid string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, v := range k.byPod[uid] {
		if !v.removed {
			v.removed = true
			v.backoff = 0
			k.scheduleLocked(v, 0)
		}
	}
}

func (k *kubelet) scheduleLocked(v *volume, after time.Duration) {
	if v.timer != nil {
		v.timer.Stop()
	}
	v.timer = time.AfterFunc(after, func() { k.sync(context.Background(), v) })
}

// sync performs what the volume needs now: a publish (first or periodic) or,
// once its pod is gone, an unpublish.
func (k *kubelet) sync(ctx context.Context, v *volume) {
	v.op.Lock()
	defer v.op.Unlock()
	k.mu.Lock()
	removed, stopping := v.removed, k.stopping
	k.mu.Unlock()
	if removed {
		k.teardown(ctx, v)
		return
	}
	if stopping {
		return
	}
	k.mu.Lock()
	held := v.held && v.published
	if held {
		k.scheduleLocked(v, k.resyncPeriod())
	}
	k.mu.Unlock()
	if held {
		return
	}
	k.setUp(ctx, v)
}

// hold holds (or releases) the periodic republish of one pod's mounted
// volumes: the kubelet's pod workers run independently, and one that lags
// leaves its pod reporting what it last mounted.
func (k *kubelet) hold(uid string, on bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	vols := k.byPod[uid]
	for _, v := range vols {
		v.held = on
	}
	return len(vols) > 0
}

func (k *kubelet) setUp(ctx context.Context, v *volume) error {
	k.mu.Lock()
	pod, src, wasPublished := v.pod, v.src, v.published
	k.mu.Unlock()
	began := time.Now()
	republish, err := k.publish(ctx, v, pod, src)
	took := time.Since(began)
	k.mu.Lock()
	defer k.mu.Unlock()
	if v.removed || k.stopping {
		return err
	}
	if err != nil {
		v.failures++
		v.lastError = err.Error()
		v.backoff = nextBackoff(v.backoff)
		what := "mount"
		if wasPublished {
			what = "republish"
		}
		logf("%s of %s/%s volume %s failed (retry in %s): %v", what, pod.Metadata.Namespace, pod.Metadata.Name, v.name, v.backoff, err)
		k.scheduleLocked(v, v.backoff)
		return err
	}
	v.published = true
	v.publishes++
	v.lastError = ""
	v.lastPublish = time.Now()
	v.lastTook = took
	v.backoff = 0
	if !wasPublished {
		logf("mounted %s/%s volume %s at %s", pod.Metadata.Namespace, pod.Metadata.Name, v.name, v.targetPath)
	}
	if republish {
		k.scheduleLocked(v, k.resyncPeriod())
	}
	return nil
}

// resyncPeriod is the kubelet's pod-worker resync: period plus jitter.
func (k *kubelet) resyncPeriod() time.Duration {
	base := time.Duration(k.cfg.Republish.PeriodMs) * time.Millisecond
	return base + time.Duration(rand.Float64()*k.cfg.Republish.Jitter*float64(base))
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return initialRetry
	}
	if d*2 > maxRetry {
		return maxRetry
	}
	return d * 2
}

// publish is csi_mounter.go's SetUpAt for an inline ephemeral volume. It
// returns whether the driver wants its volumes republished.
func (k *kubelet) publish(ctx context.Context, v *volume, pod Pod, src CSISource) (bool, error) {
	drv, err := k.drivers.get(ctx, v.driver)
	if err != nil {
		return false, err
	}
	modes := []string{"Persistent"}
	if drv != nil && len(drv.Spec.VolumeLifecycleModes) > 0 {
		modes = drv.Spec.VolumeLifecycleModes
	}
	if !contains(modes, "Ephemeral") {
		return false, fmt.Errorf("volume mode \"Ephemeral\" not supported by driver %s (only supports %v)", v.driver, modes)
	}
	parent := filepath.Dir(v.targetPath)
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return false, err
	}
	secrets := map[string]string{}
	if src.NodePublishSecretRef != nil {
		if secrets, err = k.api.secretData(ctx, pod.Metadata.Namespace, src.NodePublishSecretRef.Name); err != nil {
			return false, err
		}
	}
	attrs := map[string]string{}
	for key, val := range src.VolumeAttributes {
		attrs[key] = val
	}
	if drv != nil && drv.Spec.PodInfoOnMount != nil && *drv.Spec.PodInfoOnMount {
		attrs["csi.storage.k8s.io/pod.name"] = pod.Metadata.Name
		attrs["csi.storage.k8s.io/pod.namespace"] = pod.Metadata.Namespace
		attrs["csi.storage.k8s.io/pod.uid"] = pod.Metadata.UID
		attrs["csi.storage.k8s.io/serviceAccount.name"] = pod.Spec.ServiceAccountName
		attrs["csi.storage.k8s.io/ephemeral"] = "true"
	}
	if drv != nil && len(drv.Spec.TokenRequests) > 0 {
		tokens := map[string]TokenRequestStatus{}
		for _, tr := range drv.Spec.TokenRequests {
			t, err := k.tokens.get(ctx, &pod, tr)
			if err != nil {
				return false, err
			}
			tokens[tr.Audience] = t
		}
		encoded, _ := json.Marshal(tokens)
		attrs["csi.storage.k8s.io/serviceAccount.tokens"] = string(encoded)
	}
	volData := map[string]string{
		"specVolID":           v.name,
		"volumeHandle":        v.volumeID,
		"driverName":          v.driver,
		"nodeName":            v.node,
		"volumeLifecycleMode": "Ephemeral",
		"attachmentID":        fmt.Sprintf("csi-%x", sha256.Sum256([]byte(v.volumeID+v.driver+v.node))),
	}
	if err := writeJSON(filepath.Join(parent, "vol_data.json"), volData); err != nil {
		return false, err
	}
	readOnly := src.ReadOnly != nil && *src.ReadOnly
	fsType := ""
	if src.FSType != nil {
		fsType = *src.FSType
	}
	err = nodePublish(ctx, v.socket, publishRequest{volumeID: v.volumeID, targetPath: v.targetPath, readOnly: readOnly, fsType: fsType, volumeContext: attrs, secrets: secrets})
	if err != nil {
		if isFinalError(err) {
			removeMountDir(v.targetPath)
		}
		return false, err
	}
	return drv != nil && drv.Spec.RequiresRepublish != nil && *drv.Spec.RequiresRepublish, nil
}

// teardown is csi_mounter.go's TearDownAt, retried with backoff until it works.
func (k *kubelet) teardown(ctx context.Context, v *volume) {
	if _, err := os.Stat(v.targetPath); err == nil || isMountPoint(v.targetPath) {
		if err := nodeUnpublish(ctx, v.socket, v.volumeID, v.targetPath); err != nil {
			k.mu.Lock()
			v.lastError = err.Error()
			v.backoff = nextBackoff(v.backoff)
			logf("unmount of volume %s of pod %s failed (retry in %s): %v", v.name, v.key, v.backoff, err)
			k.scheduleLocked(v, v.backoff)
			k.mu.Unlock()
			return
		}
	}
	removeMountDir(v.targetPath)
	k.mu.Lock()
	defer k.mu.Unlock()
	uid := v.pod.Metadata.UID
	delete(k.volumes, v.key)
	delete(k.byPod[uid], v.name)
	if len(k.byPod[uid]) == 0 {
		delete(k.byPod, uid)
		delete(k.podNode, uid)
		// The kubelet removes the pod's folder once its volumes are gone.
		podDir := filepath.Join(k.cfg.PodsDir, uid)
		if !anyMountUnder(podDir) {
			_ = os.RemoveAll(podDir)
		}
	}
	if v.published {
		logf("unmounted %s/%s volume %s", v.pod.Metadata.Namespace, v.pod.Metadata.Name, v.name)
	}
}

// republishNow runs the periodic republish of every mounted volume at once
// (the ones of one pod when uid is set) and reports each one's outcome.
func (k *kubelet) republishNow(ctx context.Context, uid string) []volumeStatus {
	k.mu.Lock()
	var targets []*volume
	for _, v := range k.volumes {
		if v.published && !v.removed && !v.held && (uid == "" || v.pod.Metadata.UID == uid) {
			targets = append(targets, v)
		}
	}
	k.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range targets {
		wg.Add(1)
		go func(v *volume) {
			defer wg.Done()
			v.op.Lock()
			defer v.op.Unlock()
			k.mu.Lock()
			skip := v.removed || k.stopping
			k.mu.Unlock()
			if !skip {
				_ = k.setUp(ctx, v)
			}
		}(v)
	}
	wg.Wait()
	out := make([]volumeStatus, 0, len(targets))
	for _, v := range targets {
		out = append(out, k.status(v))
	}
	return out
}

func (k *kubelet) statuses() []volumeStatus {
	k.mu.Lock()
	list := make([]*volume, 0, len(k.volumes))
	for _, v := range k.volumes {
		list = append(list, v)
	}
	k.mu.Unlock()
	out := make([]volumeStatus, 0, len(list))
	for _, v := range list {
		out = append(out, k.status(v))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		if out[i].Pod != out[j].Pod {
			return out[i].Pod < out[j].Pod
		}
		return out[i].Volume < out[j].Volume
	})
	return out
}

func (k *kubelet) status(v *volume) volumeStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := volumeStatus{
		Namespace: v.pod.Metadata.Namespace, Pod: v.pod.Metadata.Name, UID: v.pod.Metadata.UID, Volume: v.name,
		Node: v.node, Driver: v.driver, TargetPath: v.targetPath,
		Published: v.published, Removed: v.removed, Held: v.held, Publishes: v.publishes, Failures: v.failures, LastError: v.lastError,
	}
	if !v.lastPublish.IsZero() {
		s.LastPublish = v.lastPublish.UTC().Format(time.RFC3339Nano)
		s.LastPublishMs = float64(v.lastTook.Microseconds()) / 1000
	}
	return s
}

func (k *kubelet) volumeOf(uid, name string) *volume {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.byPod[uid][name]
}

// unpublishAll tears every volume down, as a node drained before shutdown.
func (k *kubelet) unpublishAll(ctx context.Context) {
	k.mu.Lock()
	k.stopping = true
	list := make([]*volume, 0, len(k.volumes))
	for _, v := range k.volumes {
		if v.timer != nil {
			v.timer.Stop()
		}
		v.removed = true
		list = append(list, v)
	}
	k.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range list {
		wg.Add(1)
		go func(v *volume) {
			defer wg.Done()
			v.op.Lock()
			defer v.op.Unlock()
			if err := nodeUnpublish(ctx, v.socket, v.volumeID, v.targetPath); err != nil {
				logf("unmount of %s at shutdown: %v", v.key, err)
			}
			removeMountDir(v.targetPath)
		}(v)
	}
	wg.Wait()
}

// The driver's view of a mount: every file under the target path, following
// the atomic writer's ..data symlink, as its secret sync reads them.
func mountedFiles(target string) (map[string][]byte, error) {
	out := map[string][]byte{}
	entries, err := os.ReadDir(target)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		root := filepath.Join(target, e.Name())
		if e.Type()&os.ModeSymlink != 0 {
			link, err := os.Readlink(root)
			if err != nil {
				return nil, err
			}
			root = filepath.Join(target, link)
		}
		base := e.Name()
		err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out[filepath.Join(base, rel)] = data
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// removeMountDir is the kubelet's: the target, vol_data.json and the volume
// folder go, unless something is still mounted there.
func removeMountDir(target string) {
	if isMountPoint(target) {
		return
	}
	_ = os.Remove(target)
	parent := filepath.Dir(target)
	_ = os.Remove(filepath.Join(parent, "vol_data.json"))
	_ = os.Remove(parent)
}

func isMountPoint(path string) bool {
	found := false
	eachMount(func(target string) bool {
		if target == filepath.Clean(path) {
			found = true
			return false
		}
		return true
	})
	return found
}

func anyMountUnder(dir string) bool {
	prefix := filepath.Clean(dir) + "/"
	found := false
	eachMount(func(target string) bool {
		if strings.HasPrefix(target, prefix) {
			found = true
			return false
		}
		return true
	})
	return found
}

func eachMount(visit func(target string) bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && !visit(unescapeMountPath(fields[4])) {
			return
		}
	}
}

func writeJSON(file string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(data, '\n'), 0o600)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// driverCache plays the kubelet's CSIDriver informer: a recent read is reused.
type driverCache struct {
	api *kubeClient
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedDriver
}

type cachedDriver struct {
	at  time.Time
	drv *CSIDriver
}

// get returns nil (no error) when the CSIDriver object does not exist: the
// kubelet then mounts with the defaults (no pod info, no tokens).
func (c *driverCache) get(ctx context.Context, name string) (*CSIDriver, error) {
	c.mu.Lock()
	hit, ok := c.m[name]
	c.mu.Unlock()
	if ok && time.Since(hit.at) < c.ttl {
		return hit.drv, nil
	}
	drv, err := c.api.csiDriver(ctx, name)
	var apiErr *apiError
	if errors.As(err, &apiErr) && apiErr.Status == 404 {
		drv, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.m[name] = cachedDriver{at: time.Now(), drv: drv}
	c.mu.Unlock()
	return drv, nil
}

// tokenCache is the kubelet's token manager: a pod's token is reused until 80%
// of its lifetime has passed.
type tokenCache struct {
	api *kubeClient
	mu  sync.Mutex
	m   map[string]cachedToken
}

type cachedToken struct {
	status  TokenRequestStatus
	refresh time.Time
}

func (c *tokenCache) get(ctx context.Context, pod *Pod, tr TokenRequest) (TokenRequestStatus, error) {
	exp := ""
	if tr.ExpirationSeconds != nil {
		exp = strconv.FormatInt(*tr.ExpirationSeconds, 10)
	}
	key := strings.Join([]string{pod.Metadata.Namespace, pod.Spec.ServiceAccountName, tr.Audience, exp, pod.Metadata.UID}, "/")
	c.mu.Lock()
	hit, ok := c.m[key]
	c.mu.Unlock()
	if ok && time.Now().Before(hit.refresh) {
		return hit.status, nil
	}
	obtained := time.Now()
	st, err := c.api.requestToken(ctx, pod, pod.Spec.ServiceAccountName, tr)
	if err != nil {
		return TokenRequestStatus{}, err
	}
	refresh := obtained
	if expires, err := time.Parse(time.RFC3339, st.ExpirationTimestamp); err == nil {
		refresh = obtained.Add(time.Duration(0.8 * float64(expires.Sub(obtained))))
	}
	c.mu.Lock()
	c.m[key] = cachedToken{status: st, refresh: refresh}
	c.mu.Unlock()
	return st, nil
}
