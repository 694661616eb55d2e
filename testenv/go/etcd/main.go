// Command etcd is etcd's own server main, built from its published module so
// that the local environment gets a current etcd without a binary download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
