package main

// Client TLS for every mode: with -cacert (and -cert/-key for mutual TLS)
// the tool dials over TLS, so the bench can measure etcd and cairn serving
// https client URLs with the same certificates.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"go.etcd.io/etcd/clientv3"
)

// clientTLS is nil for cleartext; set once from the flags before any dial.
var clientTLS *tls.Config

func loadClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// clientConfig is the clientv3 configuration for one endpoint: the https
// scheme and the TLS settings when -cacert was given.
func clientConfig(endpoint string, cfg clientv3.Config) clientv3.Config {
	cfg.Endpoints = []string{endpoint}
	if clientTLS != nil {
		cfg.Endpoints = []string{"https://" + endpoint}
		cfg.TLS = clientTLS.Clone()
	}
	return cfg
}
