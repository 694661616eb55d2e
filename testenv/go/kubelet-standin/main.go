// Command kubelet-standin plays the node of the local environment for CSI
// volumes. There is no kubelet here (KWOK fakes the pods), so this program does
// the two things a kubelet does for the Secrets Store CSI driver: it runs the
// node's CSI daemons (the driver and its providers, as the kubelet runs their
// DaemonSet pods), and it calls the driver's CSI socket for the inline volumes
// of the pods bound to the node, with the requests kubelet 1.34's csi_mounter
// sends (publish, periodic republish, unpublish, pod-bound service-account
// tokens, retries with backoff).
//
// It must run in a private mount namespace of its own (unshare -m
// --propagation private): the driver mounts a tmpfs at every target path, and
// a namespace that dies with its processes takes every such mount with it,
// however the run ends. Its daemons die with it (PR_SET_PDEATHSIG), and it
// dies with the process that started it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Config is written by the local environment (src/localenv/addon.ts).
type Config struct {
	APIServer string `json:"apiServer"`
	CAFile    string `json:"caFile"`
	// TokenFile holds the bearer token of the stand-in's own service account.
	TokenFile string `json:"tokenFile"`
	// PodsDir plays /var/lib/kubelet/pods: target paths are
	// <PodsDir>/<uid>/volumes/kubernetes.io~csi/<volume>/mount, the layout the
	// driver parses back out of SecretProviderClassPodStatus.status.targetPath.
	PodsDir       string       `json:"podsDir"`
	ControlSocket string       `json:"controlSocket"`
	PidsFile      string       `json:"pidsFile"`
	Republish     Republish    `json:"republish"`
	Nodes         []NodeConfig `json:"nodes"`
	Daemons       []DaemonSpec `json:"daemons"`
}

// Republish is the kubelet's pod resync: every PeriodMs plus up to
// Jitter×PeriodMs (the kubelet's 1 min with factor 0.5 gives 60–90 s).
type Republish struct {
	PeriodMs int     `json:"periodMs"`
	Jitter   float64 `json:"jitter"`
}

type NodeConfig struct {
	Name string `json:"name"`
	// Drivers maps a CSI driver name to the unix socket of its node plugin on this node.
	Drivers map[string]string `json:"drivers"`
}

type DaemonSpec struct {
	Name    string   `json:"name"`
	Command string   `json:"command"`
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	LogFile string   `json:"logFile"`
	// HostsFile, when set, is bind-mounted over /etc/hosts in a mount namespace
	// of this daemon's own, so that it alone resolves names through it.
	HostsFile string `json:"hostsFile,omitempty"`
	// Socket is the unix socket the daemon serves; it is up when this accepts.
	Socket string `json:"socket,omitempty"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "exec-with-hosts" {
		execWithHosts(os.Args[2:])
		return
	}
	configFile := flag.String("config", "", "JSON configuration written by the local environment")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	if err := run(*configFile); err != nil {
		log.Printf("fatal: %v", err)
		os.Exit(1)
	}
}

func run(configFile string) error {
	// Die with the process that started us; our daemons die with us.
	if err := setParentDeathSignal(); err != nil {
		return err
	}
	if err := requirePrivateMountNamespace(); err != nil {
		return err
	}
	raw, err := os.ReadFile(configFile)
	if err != nil {
		return fmt.Errorf("reading --config: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("parsing --config %s: %w", configFile, err)
	}
	if cfg.Republish.PeriodMs <= 0 {
		cfg.Republish = Republish{PeriodMs: 60_000, Jitter: 0.5}
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	api, err := newKubeClient(cfg.APIServer, cfg.CAFile, cfg.TokenFile)
	if err != nil {
		return err
	}
	daemons := newDaemons(cfg.Daemons, cfg.PidsFile)
	if err := daemons.startAll(); err != nil {
		daemons.stopAll()
		return err
	}
	kubelet := newKubelet(api, cfg)
	control, err := serveControl(cfg.ControlSocket, kubelet, daemons)
	if err != nil {
		daemons.stopAll()
		return err
	}
	kubelet.run(ctx)

	<-ctx.Done()
	log.Printf("stopping: unpublishing every volume, then the daemons")
	shutdown, done := context.WithTimeout(context.Background(), 60*time.Second)
	defer done()
	kubelet.unpublishAll(shutdown)
	control.Close()
	daemons.stopAll()
	unmountLeftovers(cfg.PodsDir)
	return nil
}
