package main

import (
	"context"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// As kubelet 1.34 does: a connection per operation, two minutes per call.
const csiTimeout = 2 * time.Minute

func dialCSI(socket string) (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// pluginInfo is the registration handshake (node-driver-registrar's part):
// the socket must serve the driver it is registered for, on the node it is.
func pluginInfo(ctx context.Context, socket, wantDriver, wantNode string) error {
	conn, err := dialCSI(socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil {
		return err
	}
	if info.GetName() != wantDriver {
		return fmt.Errorf("socket %s serves driver %q, not %q", socket, info.GetName(), wantDriver)
	}
	node, err := csi.NewNodeClient(conn).NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil {
		return err
	}
	if node.GetNodeId() != wantNode {
		return fmt.Errorf("driver on %s reports node %q, not %q", socket, node.GetNodeId(), wantNode)
	}
	return nil
}

type publishRequest struct {
	volumeID      string
	targetPath    string
	readOnly      bool
	fsType        string
	volumeContext map[string]string
	secrets       map[string]string
}

func nodePublish(ctx context.Context, socket string, r publishRequest) error {
	conn, err := dialCSI(socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, csiTimeout)
	defer cancel()
	node := csi.NewNodeClient(conn)
	// The kubelet asks for the node capabilities before each publish (the
	// access-mode mapping and the VOLUME_MOUNT_GROUP check).
	caps, err := node.NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{})
	if err != nil {
		return err
	}
	mode := csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	for _, c := range caps.GetCapabilities() {
		if c.GetRpc().GetType() == csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER {
			mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER
		}
	}
	_, err = node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId:      r.volumeID,
		TargetPath:    r.targetPath,
		Readonly:      r.readOnly,
		VolumeContext: r.volumeContext,
		Secrets:       r.secrets,
		VolumeCapability: &csi.VolumeCapability{
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: r.fsType}},
		},
	})
	return err
}

func nodeUnpublish(ctx context.Context, socket, volumeID, targetPath string) error {
	conn, err := dialCSI(socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, csiTimeout)
	defer cancel()
	_, err = csi.NewNodeClient(conn).NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: volumeID, TargetPath: targetPath})
	return err
}

// isFinalError is the kubelet's: an operation that surely did not leave
// anything in progress, so that its target directory may be removed.
func isFinalError(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Unavailable, codes.ResourceExhausted, codes.Aborted:
		return false
	}
	return true
}
