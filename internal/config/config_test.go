package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func validConfig() *Config {
	c := Default()
	c.Keys = map[string]string{"key1": "a-secret-that-is-long-enough-0123456789"}
	return c
}

func TestDefaultNeedsKeys(t *testing.T) {
	err := Default().Validate()
	if err == nil || !strings.Contains(err.Error(), "no API keys") {
		t.Fatalf("Default().Validate() = %v, want a no-keys error", err)
	}
}

func TestDefaultValidatesAfterApplyDev(t *testing.T) {
	c := Default()
	c.ApplyDev()
	if err := c.Validate(); err != nil {
		t.Fatalf("dev config invalid: %v", err)
	}
	if !c.Development || c.BindAddress != "127.0.0.1" || c.RTC.BindAddress != "127.0.0.1" || !c.RTC.IncludeLoopback {
		t.Errorf("dev defaults not applied: %+v", c)
	}
	if !reflect.DeepEqual(c.Keys, map[string]string{DevAPIKey: DevAPISecret}) {
		t.Errorf("dev keys = %v", c.Keys)
	}
	// Dev mode with TURN but no relay address is fine (it relays on loopback).
	c.TURN.Enabled = true
	if err := c.Validate(); err != nil {
		t.Errorf("dev config with TURN: %v", err)
	}
}

func TestApplyDevKeepsExplicitSettings(t *testing.T) {
	c := Default()
	c.Keys = map[string]string{"mine": "s"}
	c.RTC.BindAddress = "10.0.0.5"
	c.ApplyDev()
	if !reflect.DeepEqual(c.Keys, map[string]string{"mine": "s"}) {
		t.Errorf("ApplyDev replaced configured keys: %v", c.Keys)
	}
	if c.RTC.BindAddress != "10.0.0.5" {
		t.Errorf("ApplyDev replaced rtc.bind_address: %q", c.RTC.BindAddress)
	}
	// Kept, but refused: dev mode signs its tokens with the public dev key only.
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "dev key") {
		t.Errorf("dev config with other keys: %v, want refused", err)
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Keys["x"] = "y"
	if len(Default().Keys) != 0 {
		t.Fatal("Default shares its keys map between calls")
	}
}

func TestLoadYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "empty file keeps defaults",
			yaml: "",
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c, Default()) {
					t.Errorf("empty YAML changed the config: %+v", c)
				}
			},
		},
		{
			name: "comments only",
			yaml: "# nothing here\n\n",
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c, Default()) {
					t.Errorf("comment-only YAML changed the config")
				}
			},
		},
		{
			name: "merges over defaults",
			yaml: "port: 9000\nrtc:\n  udp_port: 50000\n  node_ip: 203.0.113.7\nkeys:\n  k1: secret-number-one-secret-number-one\n",
			check: func(t *testing.T, c *Config) {
				d := Default()
				if c.Port != 9000 || c.RTC.UDPPort != 50000 || c.RTC.NodeIP != "203.0.113.7" {
					t.Errorf("values not read: %+v", c)
				}
				// Untouched fields keep their defaults, including siblings in a nested section.
				if c.RTC.TCPPort != d.RTC.TCPPort || c.RTC.PLIThrottle != d.RTC.PLIThrottle ||
					c.BindAddress != d.BindAddress || c.LogLevel != d.LogLevel || c.Room != d.Room ||
					c.Limits != d.Limits || c.Signal != d.Signal {
					t.Errorf("defaults lost: %+v", c)
				}
				if c.Keys["k1"] != "secret-number-one-secret-number-one" || len(c.Keys) != 1 {
					t.Errorf("keys = %v", c.Keys)
				}
			},
		},
		{
			name: "durations and booleans",
			yaml: "rtc:\n  pli_throttle: 250ms\nroom:\n  empty_timeout: 2m\n  auto_create: false\n  max_participants: 12\nsignal:\n  single_peer_connection: false\n",
			check: func(t *testing.T, c *Config) {
				if c.RTC.PLIThrottle != 250*time.Millisecond || c.Room.EmptyTimeout != 2*time.Minute {
					t.Errorf("durations: %v %v", c.RTC.PLIThrottle, c.Room.EmptyTimeout)
				}
				if c.Room.AutoCreate || c.Signal.SinglePeerConnection || c.Room.MaxParticipants != 12 {
					t.Errorf("booleans/ints: %+v %+v", c.Room, c.Signal)
				}
				if c.Room.DepartureTimeout != Default().Room.DepartureTimeout {
					t.Errorf("departure_timeout default lost")
				}
			},
		},
		{
			name: "turn servers",
			yaml: "rtc:\n  turn_servers:\n    - urls: [\"turn:t.example.com:3478\"]\n      username: u\n      credential: c\n",
			check: func(t *testing.T, c *Config) {
				if len(c.RTC.TURNServers) != 1 || c.RTC.TURNServers[0].Credential != "c" || c.RTC.TURNServers[0].URLs[0] != "turn:t.example.com:3478" {
					t.Errorf("turn servers: %+v", c.RTC.TURNServers)
				}
			},
		},
		{
			name: "http timeouts",
			yaml: "http:\n  idle_timeout: 90s\n  read_timeout: 5s\n",
			check: func(t *testing.T, c *Config) {
				d := Default().HTTP
				if c.HTTP.IdleTimeout != 90*time.Second || c.HTTP.ReadTimeout != 5*time.Second {
					t.Errorf("http timeouts not read: %+v", c.HTTP)
				}
				if c.HTTP.WriteTimeout != d.WriteTimeout || c.HTTP.ReadHeaderTimeout != d.ReadHeaderTimeout {
					t.Errorf("http defaults lost: %+v", c.HTTP)
				}
			},
		},
		{name: "unknown top-level key", yaml: "prot: 9000\n", wantErr: "prot"},
		{name: "unknown nested key", yaml: "rtc:\n  udp_prot: 1\n", wantErr: "udp_prot"},
		{name: "wrong type", yaml: "port: lots\n", wantErr: "parse config"},
		{name: "bad duration", yaml: "rtc:\n  pli_throttle: soon\n", wantErr: "parse config"},
		{name: "not a mapping", yaml: "- a\n- b\n", wantErr: "parse config"},
		{name: "syntax error", yaml: "port: [1,\n", wantErr: "parse config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			err := c.LoadYAML([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadYAML: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hop.yaml")
	if err := os.WriteFile(p, []byte("log_level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" {
		t.Errorf("log_level = %q", c.LogLevel)
	}
	err := c.LoadFile(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{in: "", want: map[string]string{}},
		{in: "k1: s1", want: map[string]string{"k1": "s1"}},
		{in: "k1: s1, k2: s2", want: map[string]string{"k1": "s1", "k2": "s2"}},
		{in: "k1:s1,k2:s2", want: map[string]string{"k1": "s1", "k2": "s2"}},
		{in: "k1: s1\nk2: s2\n", want: map[string]string{"k1": "s1", "k2": "s2"}},
		{in: "k1: s1\r\nk2: s2\r\n", want: map[string]string{"k1": "s1", "k2": "s2"}},
		{in: "  k1 :  s1  ,\n\n, k2: s2,", want: map[string]string{"k1": "s1", "k2": "s2"}},
		{in: "k1: a:b:c", want: map[string]string{"k1": "a:b:c"}},
		{in: "k1: s1, k1: s2", want: map[string]string{"k1": "s2"}},
		{in: "k1 s1", wantErr: true},
		{in: "k1:", wantErr: true},
		{in: ": s1", wantErr: true},
		{in: "k1: s1, k2", wantErr: true},
		{in: "k1: s1, ,k2: s2", wantErr: true},
		{in: "k1:   \n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseKeys(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseKeys(%q) = %v, want an error", tt.in, got)
			} else if !strings.Contains(err.Error(), "key: secret") {
				t.Errorf("ParseKeys(%q) error %q does not explain the format", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKeys(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseKeys(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{name: "valid", mod: func(*Config) {}},
		{name: "port 0 is allowed", mod: func(c *Config) { c.Port, c.RTC.TCPPort = 0, 0 }},
		{name: "port 65535", mod: func(c *Config) { c.Port = 65535 }},
		{name: "no keys", mod: func(c *Config) { c.Keys = nil }, wantErr: "no API keys"},
		{name: "empty keys", mod: func(c *Config) { c.Keys = map[string]string{} }, wantErr: "no API keys"},
		{name: "short secret", mod: func(c *Config) { c.Keys["short"] = "abc" }, wantErr: `"short"`},
		{name: "negative port", mod: func(c *Config) { c.Port = -1 }, wantErr: "ports"},
		{name: "port too large", mod: func(c *Config) { c.Port = 65536 }, wantErr: "ports"},
		{name: "udp port too large", mod: func(c *Config) { c.RTC.UDPPort = 70000 }, wantErr: "ports"},
		{name: "negative udp port", mod: func(c *Config) { c.RTC.UDPPort = -5 }, wantErr: "ports"},
		{name: "tcp port too large", mod: func(c *Config) { c.RTC.TCPPort = 1 << 16 }, wantErr: "ports"},
		{name: "turn udp port too large", mod: func(c *Config) {
			c.TURN.Enabled, c.TURN.RelayIP, c.TURN.UDPPort = true, "198.51.100.1", 65536
		}, wantErr: "ports"},
		{name: "negative turn udp port", mod: func(c *Config) {
			c.TURN.Enabled, c.TURN.RelayIP, c.TURN.UDPPort = true, "198.51.100.1", -1
		}, wantErr: "ports"},
		{name: "node ip v4", mod: func(c *Config) { c.RTC.NodeIP = "203.0.113.9" }},
		{name: "node ip v6", mod: func(c *Config) { c.RTC.NodeIP = "2001:db8::1" }},
		{name: "node ip hostname", mod: func(c *Config) { c.RTC.NodeIP = "example.com" }, wantErr: "rtc.node_ip"},
		{name: "node ip with port", mod: func(c *Config) { c.RTC.NodeIP = "203.0.113.9:7882" }, wantErr: "rtc.node_ip"},
		{name: "node ip out of range", mod: func(c *Config) { c.RTC.NodeIP = "300.1.1.1" }, wantErr: "rtc.node_ip"},
		{name: "turn without relay address", mod: func(c *Config) { c.TURN.Enabled = true }, wantErr: "relay_ip"},
		{name: "turn with node ip", mod: func(c *Config) { c.TURN.Enabled, c.RTC.NodeIP = true, "203.0.113.9" }},
		{name: "turn with bad relay ip", mod: func(c *Config) { c.TURN.Enabled, c.TURN.RelayIP = true, "relay.example" }, wantErr: "turn.relay_ip"},
		{name: "bad relay ip ignored when turn is off", mod: func(c *Config) { c.TURN.RelayIP = "relay.example" }},
		{name: "negative max participants", mod: func(c *Config) { c.Room.MaxParticipants = -1 }, wantErr: "max_participants"},
		{name: "webhook", mod: func(c *Config) { c.Webhook.URLs = []string{"https://ops.example.vn/hop"} }},
		{name: "webhook not http", mod: func(c *Config) { c.Webhook.URLs = []string{"ftp://ops.example.vn/hop"} }, wantErr: "webhook.urls"},
		{name: "webhook without host", mod: func(c *Config) { c.Webhook.URLs = []string{"https:///hop"} }, wantErr: "webhook.urls"},
		{name: "webhook unknown key", mod: func(c *Config) {
			c.Webhook.URLs, c.Webhook.APIKey = []string{"https://ops.example.vn/hop"}, "nobody"
		}, wantErr: "webhook.api_key"},
		{name: "zero max participants", mod: func(c *Config) { c.Room.MaxParticipants = 0 }},
		{name: "log level upper case", mod: func(c *Config) { c.LogLevel = "DEBUG" }},
		{name: "log level warn", mod: func(c *Config) { c.LogLevel = "warn" }},
		{name: "log level error", mod: func(c *Config) { c.LogLevel = "error" }},
		{name: "bad log level", mod: func(c *Config) { c.LogLevel = "verbose" }, wantErr: "log_level"},
		{name: "empty log level", mod: func(c *Config) { c.LogLevel = "" }, wantErr: "log_level"},
		{name: "procs fixed", mod: func(c *Config) { c.Procs = "fixed" }},
		{name: "zero idle timeout", mod: func(c *Config) { c.HTTP.IdleTimeout = 0 }, wantErr: "idle_timeout"},
		{name: "negative read timeout", mod: func(c *Config) { c.HTTP.ReadTimeout = -time.Second }, wantErr: "read_timeout"},
		{name: "bad procs", mod: func(c *Config) { c.Procs = "4" }, wantErr: "procs"},
		{name: "tls files", mod: func(c *Config) { c.TLS.Cert, c.TLS.Key, c.TLS.HTTPRedirectPort = "s.crt", "s.key", 80 }},
		{name: "tls cert without key", mod: func(c *Config) { c.TLS.Cert = "s.crt" }, wantErr: "cert and key"},
		{name: "tls key without cert", mod: func(c *Config) { c.TLS.Key = "s.key" }, wantErr: "cert and key"},
		{name: "tls files and acme", mod: func(c *Config) {
			c.TLS.Cert, c.TLS.Key, c.TLS.ACME.Domains = "s.crt", "s.key", []string{"meet.example.vn"}
		}, wantErr: "not both"},
		{name: "acme", mod: func(c *Config) {
			c.TLS.ACME = ACMEConfig{Domains: []string{"meet.example.vn"}, Email: "ops@example.vn", Staging: true, RenewBefore: 48 * time.Hour}
		}},
		{name: "acme ip", mod: func(c *Config) { c.TLS.ACME.Domains = []string{"203.0.113.9"} }, wantErr: "host name"},
		{name: "acme empty name", mod: func(c *Config) { c.TLS.ACME.Domains = []string{""} }, wantErr: "host name"},
		{name: "acme staging and dir url", mod: func(c *Config) {
			c.TLS.ACME = ACMEConfig{Domains: []string{"meet.example.vn"}, Staging: true, DirURL: "https://ca.example/dir"}
		}, wantErr: "staging"},
		{name: "acme negative renewal margin", mod: func(c *Config) {
			c.TLS.ACME = ACMEConfig{Domains: []string{"meet.example.vn"}, RenewBefore: -time.Hour}
		}, wantErr: "renew_before"},
		{name: "acme settings without domains", mod: func(c *Config) { c.TLS.ACME.Email = "ops@example.vn" }, wantErr: "needs domains"},
		{name: "redirect without tls", mod: func(c *Config) { c.TLS.HTTPRedirectPort = 80 }, wantErr: "needs a certificate"},
		{name: "redirect on the https port", mod: func(c *Config) {
			c.TLS.Cert, c.TLS.Key, c.TLS.HTTPRedirectPort = "s.crt", "s.key", c.Port
		}, wantErr: "differ"},
		{name: "redirect port too large", mod: func(c *Config) {
			c.TLS.Cert, c.TLS.Key, c.TLS.HTTPRedirectPort = "s.crt", "s.key", 65536
		}, wantErr: "ports"},
		{name: "turn tcp and relay range", mod: func(c *Config) {
			c.TURN = TURNConfig{Enabled: true, RelayIP: "198.51.100.1", UDPPort: 3478, TCPPort: 3478, TLS: true, RelayPortMin: 50000, RelayPortMax: 50999}
		}},
		{name: "turn tcp port too large", mod: func(c *Config) {
			c.TURN.Enabled, c.TURN.RelayIP, c.TURN.TCPPort = true, "198.51.100.1", 65536
		}, wantErr: "ports"},
		{name: "turn relay range half set", mod: func(c *Config) {
			c.TURN.Enabled, c.TURN.RelayIP, c.TURN.RelayPortMin = true, "198.51.100.1", 50000
		}, wantErr: "relay_port_min"},
		{name: "turn relay range reversed", mod: func(c *Config) {
			c.TURN.Enabled, c.TURN.RelayIP, c.TURN.RelayPortMin, c.TURN.RelayPortMax = true, "198.51.100.1", 50999, 50000
		}, wantErr: "relay_port_min"},
		{name: "admin off", mod: func(c *Config) { c.AdminAddress = "off" }},
		{name: "admin without port", mod: func(c *Config) { c.AdminAddress = "127.0.0.1" }, wantErr: "admin_address"},
		{name: "rate limit off", mod: func(c *Config) { c.HTTP.RateLimit = RateLimits{} }},
		{name: "rate limit without period", mod: func(c *Config) { c.HTTP.RateLimit.API.Every = 0 }, wantErr: "rate_limit"},
		{name: "negative rate limit burst", mod: func(c *Config) { c.HTTP.RateLimit.Joins.Burst = -1 }, wantErr: "rate_limit"},
		{name: "trusted proxy", mod: func(c *Config) { c.HTTP.TrustedProxies = []string{"127.0.0.1/32", "10.0.0.0/8"} }},
		{name: "trusted proxy not a cidr", mod: func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.1"} }, wantErr: "trusted_proxies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mod(c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	c := validConfig()
	c.Keys = map[string]string{
		"prodkey": "Zq8-very-secret-value-9f2c",
		"backup":  "Yx1-another-hidden-value-7d4e",
	}
	c.RTC.TURNServers = []TURNServer{
		{URLs: []string{"turn:turn.example.com:3478"}, Username: "turnuser", Credential: "Tc5-turn-credential-3a"},
		{URLs: []string{"turns:t2.example.com:5349"}, Username: "u2", Credential: "Tc6-second-credential-8b"},
	}
	c.Recorder.S3 = RecorderS3Config{Endpoint: "s3.example.vn:443", AccessKey: "reckey", Secret: "S3s-recorder-secret-5e", Bucket: "rec"}
	before := *c
	beforeKeys := map[string]string{}
	for k, v := range c.Keys {
		beforeKeys[k] = v
	}
	out := c.Redacted()
	for _, secret := range []string{"Zq8-very-secret-value-9f2c", "Yx1-another-hidden-value-7d4e", "Tc5-turn-credential-3a", "Tc6-second-credential-8b", "S3s-recorder-secret-5e"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted output contains the secret %q:\n%s", secret, out)
		}
		// Nor any sizeable piece of it.
		if strings.Contains(out, secret[:8]) {
			t.Errorf("Redacted output contains part of the secret %q", secret)
		}
	}
	for _, visible := range []string{"prodkey", "backup", "turn.example.com", "turnuser", "port: 7880"} {
		if !strings.Contains(out, visible) {
			t.Errorf("Redacted output lacks %q:\n%s", visible, out)
		}
	}
	// The output is YAML that reads back into a config with the same non-secret settings.
	back := Default()
	if err := back.LoadYAML([]byte(out)); err != nil {
		t.Fatalf("Redacted output does not load: %v\n%s", err, out)
	}
	if back.Port != c.Port || back.RTC.UDPPort != c.RTC.UDPPort || len(back.Keys) != 2 || back.Keys["prodkey"] == c.Keys["prodkey"] {
		t.Errorf("round trip: %+v", back)
	}
	// Redacted must not touch the config itself.
	if !reflect.DeepEqual(c.Keys, beforeKeys) {
		t.Errorf("Redacted changed the keys: %v", c.Keys)
	}
	if c.RTC.TURNServers[0].Credential != "Tc5-turn-credential-3a" || c.RTC.TURNServers[1].Credential != "Tc6-second-credential-8b" {
		t.Errorf("Redacted changed the TURN credentials: %+v", c.RTC.TURNServers)
	}
	if c.Port != before.Port || c.LogLevel != before.LogLevel || c.Recorder.S3.Secret != "S3s-recorder-secret-5e" {
		t.Errorf("Redacted changed the config")
	}
}

func TestRedactedNoKeysNoTURN(t *testing.T) {
	c := Default()
	out := c.Redacted()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, out)
	}
	if strings.Contains(out, "<redacted>") {
		t.Errorf("nothing to redact, yet: %s", out)
	}
}

// Dev mode serves /api/dev-token, which mints tokens for any room and identity to whoever asks:
// it must stay on this machine and sign only with the public dev key.
func TestDevModeStaysOnThisMachine(t *testing.T) {
	dev := func(mod func(c *Config)) *Config {
		c := Default()
		c.ApplyDev()
		mod(c)
		return c
	}
	tests := []struct {
		name    string
		c       *Config
		wantErr string
	}{
		{name: "loopback v4", c: dev(func(c *Config) { c.BindAddress = "127.0.0.1" })},
		{name: "loopback v6", c: dev(func(c *Config) { c.BindAddress = "::1" })},
		{name: "localhost", c: dev(func(c *Config) { c.BindAddress = "localhost" })},
		{name: "all interfaces", c: dev(func(c *Config) { c.BindAddress = "0.0.0.0" }), wantErr: "loopback"},
		{name: "all interfaces v6", c: dev(func(c *Config) { c.BindAddress = "::" }), wantErr: "loopback"},
		{name: "empty bind is all interfaces", c: dev(func(c *Config) { c.BindAddress = "" }), wantErr: "loopback"},
		{name: "a LAN address", c: dev(func(c *Config) { c.BindAddress = "192.168.1.10" }), wantErr: "loopback"},
		{name: "a host name", c: dev(func(c *Config) { c.BindAddress = "meet.example.vn" }), wantErr: "loopback"},
		{name: "production keys", c: dev(func(c *Config) {
			c.Keys = map[string]string{"prodkey": "a-production-secret-of-forty-characters!"}
		}), wantErr: "dev key"},
		{name: "dev key and another", c: dev(func(c *Config) {
			c.Keys["prodkey"] = "a-production-secret-of-forty-characters!"
		}), wantErr: "dev key"},
		{name: "dev key name with another secret", c: dev(func(c *Config) {
			c.Keys[DevAPIKey] = "a-production-secret-of-forty-characters!"
		}), wantErr: "dev key"},
		{name: "all interfaces with the override", c: dev(func(c *Config) { c.BindAddress, c.DevUnsafeBind = "0.0.0.0", true })},
		{name: "the override does not allow other keys", c: dev(func(c *Config) {
			c.BindAddress, c.DevUnsafeBind = "0.0.0.0", true
			c.Keys = map[string]string{"prodkey": "a-production-secret-of-forty-characters!"}
		}), wantErr: "dev key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// Outside dev mode a secret must be long, and never one of the public development settings.
func TestProductionSecrets(t *testing.T) {
	tests := []struct {
		name    string
		keys    map[string]string
		wantErr string
	}{
		{name: "32 characters", keys: map[string]string{"k": strings.Repeat("x", 32)}},
		{name: "31 characters", keys: map[string]string{"k": strings.Repeat("x", 31)}, wantErr: "at least 32"},
		{name: "six characters", keys: map[string]string{"k": "abcdef"}, wantErr: "at least 32"},
		{name: "the dev secret", keys: map[string]string{"prodkey": DevAPISecret}, wantErr: "development secret"},
		{name: "the dev key pair", keys: map[string]string{DevAPIKey: DevAPISecret}, wantErr: "development secret"},
		{name: "one weak among good", keys: map[string]string{
			"a": strings.Repeat("y", 40), "b": "short-one",
		}, wantErr: `"b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Keys = tt.keys
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadYAMLTLS(t *testing.T) {
	c := Default()
	err := c.LoadYAML([]byte("tls:\n  http_redirect_port: 80\n  acme:\n    domains: [meet.example.vn]\n    email: ops@example.vn\n    staging: true\n    cache_dir: /var/lib/hop/acme\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := c.TLS.ACME
	if !c.TLS.Enabled() || c.TLS.HTTPRedirectPort != 80 || a.Email != "ops@example.vn" || a.CacheDir != "/var/lib/hop/acme" || len(a.Domains) != 1 {
		t.Fatalf("tls = %+v", c.TLS)
	}
	if a.DirectoryURL() != LetsEncryptStaging {
		t.Errorf("staging directory = %q", a.DirectoryURL())
	}
	if Default().TLS.Enabled() {
		t.Error("TLS is on by default")
	}
}
