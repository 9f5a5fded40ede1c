package main

// kvtool -mode authsetup: turns auth on the way the auth bench rows need it
// (user root with role root; user bench with READWRITE on the "key" prefix
// the kv loads use), then exits. kvtool -mode kv -user bench -password
// benchpw runs a load as that user (clientv3 authenticates each connection
// once and sends the token with every request); -op auth measures
// Authenticate itself, every request a fresh one.

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/clientv3"
)

const (
	benchUser     = "bench"
	benchPassword = "benchpw"
	rootPassword  = "rootpw"
)

func authSetup(ctx context.Context, endpoint string) (map[string]interface{}, error) {
	c, err := clientv3.New(clientConfig(endpoint, clientv3.Config{}))
	if err != nil {
		return nil, fmt.Errorf("dial: %v", err)
	}
	defer c.Close()
	steps := []func() error{
		func() error { _, err := c.UserAdd(ctx, "root", rootPassword); return err },
		func() error { _, err := c.RoleAdd(ctx, "root"); return err },
		func() error { _, err := c.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := c.UserAdd(ctx, benchUser, benchPassword); return err },
		func() error { _, err := c.RoleAdd(ctx, benchUser); return err },
		func() error {
			_, err := c.RoleGrantPermission(ctx, benchUser, "key", clientv3.GetPrefixRangeEnd("key"),
				clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := c.UserGrantRole(ctx, benchUser, benchUser); return err },
		func() error { _, err := c.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("auth setup step %d: %v", i+1, err)
		}
	}
	return map[string]interface{}{"auth": "enabled", "user": benchUser}, nil
}
