package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"time"
)

// The control API the local environment and its tests use, on a unix socket
// only root can open (it serves mounted files, which hold secret values).
//
//	GET  /healthz                 200 once every daemon serves and every node is registered and listed
//	GET  /volumes                 every tracked volume and what happened to it
//	GET  /files?uid=U&volume=V    the files mounted for one volume (base64), as the driver's sync reads them
//	POST /republish[?uid=U]       the periodic republish, now, for every mounted volume (or one pod's)
//	POST|DELETE /hold?uid=U       hold (or release) the periodic republish of one pod's volumes
//	POST /daemons/restart?name=N  restart one daemon and wait until it serves again
func serveControl(socket string, k *kubelet, d *daemons) (*http.Server, error) {
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ds := d.status()
		ok := k.ready()
		for _, s := range ds {
			ok = ok && s.Serving
		}
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		reply(w, code, map[string]any{"ready": ok, "kubelet": k.ready(), "daemons": ds})
	})
	mux.HandleFunc("GET /volumes", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, k.statuses())
	})
	mux.HandleFunc("GET /files", func(w http.ResponseWriter, r *http.Request) {
		v := k.volumeOf(r.URL.Query().Get("uid"), r.URL.Query().Get("volume"))
		if v == nil {
			reply(w, http.StatusNotFound, map[string]string{"error": "no such volume on this node"})
			return
		}
		st := k.status(v)
		if !st.Published {
			reply(w, http.StatusConflict, map[string]any{"error": "volume not mounted", "status": st})
			return
		}
		files, err := mountedFiles(v.targetPath)
		if err != nil {
			reply(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]any{"files": files, "status": st})
	})
	mux.HandleFunc("POST /republish", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, k.republishNow(r.Context(), r.URL.Query().Get("uid")))
	})
	hold := func(on bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !k.hold(r.URL.Query().Get("uid"), on) {
				reply(w, http.StatusNotFound, map[string]string{"error": "no volume of that pod on this node"})
				return
			}
			reply(w, http.StatusOK, map[string]bool{"held": on})
		}
	}
	mux.HandleFunc("POST /hold", hold(true))
	mux.HandleFunc("DELETE /hold", hold(false))
	mux.HandleFunc("POST /daemons/restart", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if err := d.restart(name); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			for _, s := range d.status() {
				if s.Name == name && s.Serving {
					reply(w, http.StatusOK, s)
					return
				}
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
		reply(w, http.StatusGatewayTimeout, map[string]string{"error": "daemon " + name + " did not serve again within 30s"})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

func reply(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
