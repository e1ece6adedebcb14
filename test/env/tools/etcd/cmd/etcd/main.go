// Command etcd is the stock etcd server (go.etcd.io/etcd/server/v3/etcdmain),
// built from the pinned module version in this directory's go.mod. It is the
// same entry point as etcd's own main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
