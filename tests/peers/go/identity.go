// The AWS SDK for Go v2 (Debian's golang-github-aws-aws-sdk-go-v2-dev, 1.17.1) as a client of
// credvend. os.Args[1] picks the credential provider:
//
//	imds       ec2rolecreds with the IMDS client (AWS_EC2_METADATA_SERVICE_ENDPOINT)
//	container  endpointcreds (AWS_CONTAINER_CREDENTIALS_FULL_URI, inline
//	           AWS_CONTAINER_AUTHORIZATION_TOKEN), as config's own container provider builds it
//	chain      config.LoadDefaultConfig: the SDK's default chain, from whatever the
//	           environment and ~/.aws point at
//
// Then it calls STS GetCallerIdentity with the SDK's own STS client and prints one JSON line:
// the access key id it got, the SDK's name for the provider that gave it, and the ARN STS
// reports. This SDK version does not read AWS_ENDPOINT_URL_STS, so the STS endpoint comes from
// CREDVEND_TEST_STS_URL through an endpoint resolver; without that variable the SDK resolves
// the real STS endpoint (which the tests' dead proxy turns into an immediate failure).
//
// Network guard: every HTTP client here refuses DNS lookups and connections to anything but a
// loopback address, whatever the environment says. A gap in the SDK then fails the test instead
// of sending a packet off the machine.
//
// Built offline by scripts/test in GOPATH mode against /usr/share/gocode.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const region = "us-east-1"

// guardedClient is the SDK's own buildable HTTP client (its timeouts, proxy handling and
// per-service tuning stay as they are) with a dialer that resolves no names and connects only
// to loopback addresses. Both are dialer fields, which the IMDS client keeps when it shortens
// the dialer's timeout.
func guardedClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
		d.Resolver = &net.Resolver{
			PreferGo: true,
			Dial: func(_ context.Context, _, address string) (net.Conn, error) {
				return nil, fmt.Errorf("network guard: no DNS lookups in tests (resolver %s)", address)
			},
		}
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("network guard: refusing to connect to %s", address)
			}
			return nil
		}
	})
}

// stsResolver sends STS to CREDVEND_TEST_STS_URL when set; everything else (and STS without
// it) resolves as the SDK would.
func stsResolver() aws.EndpointResolverWithOptions {
	url := os.Getenv("CREDVEND_TEST_STS_URL")
	return aws.EndpointResolverWithOptionsFunc(
		func(service, region string, _ ...interface{}) (aws.Endpoint, error) {
			if service == sts.ServiceID && url != "" {
				return aws.Endpoint{URL: url, SigningRegion: region, HostnameImmutable: true}, nil
			}
			return aws.Endpoint{}, &aws.EndpointNotFoundError{}
		})
}

func mustEnv(name string) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s is not set: refusing to let the SDK pick a default address", name)
}

// configFor builds the aws.Config of one mode: the credential provider and the clients around it.
func configFor(ctx context.Context, mode string, client *awshttp.BuildableClient) (aws.Config, error) {
	explicit := func(provider aws.CredentialsProvider) aws.Config {
		return aws.Config{
			Region:                      region,
			Credentials:                 aws.NewCredentialsCache(provider),
			HTTPClient:                  client,
			EndpointResolverWithOptions: stsResolver(),
		}
	}
	switch mode {
	case "imds":
		endpoint, err := mustEnv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
		if err != nil {
			return aws.Config{}, err
		}
		metadata := imds.New(imds.Options{Endpoint: endpoint, HTTPClient: client})
		return explicit(ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = metadata })), nil
	case "container":
		endpoint, err := mustEnv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
		if err != nil {
			return aws.Config{}, err
		}
		return explicit(endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
			o.HTTPClient = client
			o.AuthorizationToken = os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
		})), nil
	case "chain":
		if os.Getenv("AWS_EC2_METADATA_DISABLED") != "true" {
			if _, err := mustEnv("AWS_EC2_METADATA_SERVICE_ENDPOINT"); err != nil {
				return aws.Config{}, err
			}
		}
		return config.LoadDefaultConfig(ctx,
			config.WithHTTPClient(client),
			config.WithEndpointResolverWithOptions(stsResolver()),
			// config's container provider does not take the config's HTTP client.
			config.WithEndpointCredentialOptions(func(o *endpointcreds.Options) { o.HTTPClient = client }),
		)
	default:
		return aws.Config{}, fmt.Errorf("unknown mode %q (imds, container, chain)", mode)
	}
}

func run(mode string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := configFor(ctx, mode, guardedClient())
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	if cfg.Credentials == nil {
		return nil, errors.New("the SDK resolved no credential provider")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieve credentials: %w", err)
	}
	identity, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("GetCallerIdentity: %w", err)
	}
	return map[string]string{
		"arn":           aws.ToString(identity.Arn),
		"access_key_id": creds.AccessKeyID,
		"source":        creds.Source,
	}, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: identity imds|container|chain")
		os.Exit(2)
	}
	answer, err := run(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
	line, err := json.Marshal(answer)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}
